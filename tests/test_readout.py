"""Spread biases put every first-layer unit inside the domain; the output layer by least
squares turns a random network into an accurate random-features model."""

import numpy as np
import pytest
from scipy import stats

from nnfit.engine import readout
from nnfit.engine.initializers import domain, spread_bias
from nnfit.engine.loop import TrainSettings
from nnfit.engine.network import Network
from nnfit.engine.train import train


def test_spread_bias_centres_are_uniform_in_the_unit_interval():
    rng = np.random.default_rng(0)
    W = rng.normal(0, 10, size=(1, 4000))
    b = spread_bias(W, rng)
    centres = -b / W[0]  # where w·x + b = 0
    assert centres.min() >= 0 and centres.max() <= 1
    assert stats.kstest(centres, "uniform").pvalue > 1e-3
    # a Latin hypercube: each of the n intervals [k/n, (k+1)/n) holds exactly one centre
    assert sorted(np.floor(centres * len(centres)).astype(int)) == list(range(len(centres)))


@pytest.mark.parametrize("d", [2, 5])
def test_spread_bias_hyperplanes_cross_the_cube(d):
    W = np.random.default_rng(1).normal(size=(d, 500))
    b = spread_bias(W, np.random.default_rng(2))
    lo = b + np.minimum(W, 0).sum(axis=0)
    hi = b + np.maximum(W, 0).sum(axis=0)
    assert np.all((lo <= 0) & (hi >= 0))  # w_j·x + b_j changes sign on the cube


def random_features(x, y, xt, width, activation, seed, **init):
    net = Network.create(
        [x.shape[1], width, 1],
        activation=activation,
        init={"name": "domain", **init},
        bias="spread",
        rng=np.random.default_rng(seed),
    )
    readout.solve(net, x, y[:, None])
    return net.predict(xt)[0, :, 0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tanh_width_64_random_features_reach_the_goals(seed):
    # one tanh layer of 64, the default domain scale, output by least squares: ≤ 1e-8 test
    # RMSE on sin(2πx) and ≤ 1e-5 on Runge (bench/random_features_scale.py, 10 seeds:
    # worst 1.7e-11 and 2.6e-6)
    x = np.random.default_rng(100 + seed).uniform(size=(1024, 1))
    xt = np.linspace(0, 1, 10_000)[:, None]
    for F, goal in [
        (lambda x: np.sin(2 * np.pi * x[:, 0]), 1e-8),
        (lambda x: 1 / (1 + 25 * (2 * x[:, 0] - 1) ** 2), 1e-5),
    ]:
        g = random_features(x, F(x), xt, 64, "tanh", seed)
        assert np.sqrt(np.mean((g - F(xt)) ** 2)) <= goal


def test_relu_random_features_do_not_depend_on_the_scale():
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(200, 2))
    y = np.sin(3 * x[:, 0]) * x[:, 1]
    g1, g7 = (random_features(x, y, x, 32, "relu", 4, scale=s) for s in (1.0, 7.0))
    np.testing.assert_allclose(g1, g7, atol=1e-10)


def test_domain_scale_keeps_the_slope_per_unit_across_dimensions():
    def std(d, act, width=64):
        W = domain(np.random.default_rng(0), d, width, activation=act)
        W = np.concatenate(
            [W]
            + [
                domain(np.random.default_rng(k), d, width, activation=act)
                for k in range(1, 4000 // width)
            ],
            axis=1,
        )
        return np.std(W)

    assert std(1, "tanh") == pytest.approx(10.0, rel=0.03)
    assert std(4, "tanh") == pytest.approx(2.5, rel=0.03)  # slope ‖w‖ ≈ 10/√4 = 5
    assert std(1, "sigmoid") == pytest.approx(20.0, rel=0.03)
    assert std(1, "tanh", width=256) == pytest.approx(40.0, rel=0.03)
    assert std(1, "tanh", width=8) == pytest.approx(1.25, rel=0.03)
    assert std(1, "tanh", width=2) == pytest.approx(1.0, rel=0.03)
    deeper = domain(np.random.default_rng(0), 64, 64, activation="relu", first=False)
    assert np.std(deeper) == pytest.approx(np.sqrt(2 / 64), rel=0.05)


def test_a_least_squares_output_layer_needs_an_identity_output():
    net = Network.create([1, 4, 1], output="tanh")
    with pytest.raises(ValueError, match="identity"):
        readout.solve(net, np.zeros((5, 1)), np.zeros((5, 1)))


@pytest.mark.parametrize(
    ("activation", "n", "slope"),
    [
        ("tanh", 64, 10.0),
        ("tanh", 4096, 40.0),
        ("sigmoid", 64, 20.0),
        ("sigmoid", 4096, 80.0),
        ("gelu", 64, 20.0),
        ("gelu", 4096, 40.0),
    ],
)
def test_domain_slopes_grow_with_the_width_up_to_a_limit(activation, n, slope):
    # s = s_act·n/64 up to a limit: 1,024 tanh units at s = 160 overlap too little
    W = domain(np.random.default_rng(0), 1, n, activation=activation)
    assert np.std(W) == pytest.approx(slope, rel=0.1)


def test_features_that_overflow_stop_the_run_as_diverged():
    # square units with N(0, 30²) weights overflow float32 within four layers: the solve
    # failed with SciPy's "array must not contain infs or NaNs", and in float64 a zero
    # output layer made a constant that a run with no epochs called ok
    from nnfit.engine import lstsq

    rng = np.random.default_rng(0)
    X = rng.uniform(size=(64, 1))
    y = np.sin(2 * np.pi * X)
    with pytest.raises(lstsq.NotFinite):
        lstsq.solve(np.array([[1.0, np.inf], [1.0, 2.0]]), np.ones(2))
    for optimizer, epochs in (("adam", 5), ("adam", 0), ("lm", 5), ("lbfgs", 5)):
        net = Network.create(
            [1, 8, 8, 8, 8, 1], activation="square", init={"name": "normal", "std": 30},
            rng=np.random.default_rng(0), dtype="float32",
        )  # fmt: skip
        with np.errstate(over="ignore", invalid="ignore"):
            assert not np.isfinite(net.features(X)).all()
        s = TrainSettings(optimizer=optimizer, epochs=epochs, output_layer="lstsq")
        [res] = train(net, X, y, settings=s)
        assert res.status == "diverged" and res.stop_reason == "diverged", (optimizer, epochs)


def _deep_sigmoid(k=1):
    rngs = [np.random.default_rng(s) for s in range(k)]
    return Network.create([1, *[16] * 6, 1], activation="sigmoid", init="glorot", rng=rngs)


def test_a_bounded_solve_grows_the_ridge_until_the_output_weights_are_within_it():
    X = np.random.default_rng(1).uniform(size=(256, 1))
    Y = np.sin(2 * np.pi * X)
    net = _deep_sigmoid(k=2)
    readout.solve(net, X, Y, 1e-8)
    assert np.abs(net.blocks[-1][:, :, :-1]).max() > 1e3  # weights that cancel
    readout.solve(net, X, Y, 1e-8, bound=100.0)
    top = np.abs(net.blocks[-1][:, :, :-1]).max(axis=(1, 2))
    assert (top <= 100.0).all() and (top > 10.0).all()  # the least l2 (×10 steps) within it


def test_sgd_through_a_solved_output_layer_of_a_deep_sigmoid_net_does_not_diverge():
    # output weights of 2e3 at l2 1e-8 made SGD diverge in 7 steps even at lr 1e-6, and
    # the hint said "a smaller lr may help"
    X = np.random.default_rng(1).uniform(size=(256, 1))
    y = np.sin(2 * np.pi * X)
    s = TrainSettings(
        optimizer={"name": "sgd", "lr": 1e-6}, epochs=3, output_layer="lstsq", batch_size=32
    )
    [res] = train(_deep_sigmoid(), X, y, settings=s)
    assert res.status == "ok" and res.epochs == 3
