"""Each optimizer: two steps computed by hand on a two-parameter vector."""

import math

import numpy as np
import pytest

from nnfit.engine.optimizers import OPTIMIZERS, make

G1 = np.array([0.5, -2.0])
G2 = np.array([-1.0, 4.0])
THETA = np.array([1.0, 2.0])
LR = 0.1


def run(name, **hyper):
    opt = make(name, **hyper)
    opt.setup(2, np.float64, np.ones(2))
    theta = THETA.copy()
    opt.step(theta, G1.copy(), LR)
    first = theta.copy()
    opt.step(theta, G2.copy(), LR)
    return first, theta


def test_gd_and_sgd():
    for name in ("gd", "sgd"):
        first, second = run(name)
        assert np.allclose(first, THETA - LR * G1)
        assert np.allclose(second, THETA - LR * (G1 + G2))


def test_momentum():
    v1 = G1
    v2 = 0.9 * v1 + G2
    first, second = run("momentum")
    assert np.allclose(first, THETA - LR * v1)
    assert np.allclose(second, THETA - LR * v1 - LR * v2)


def test_nesterov():
    v1 = G1
    v2 = 0.5 * v1 + G2
    first, second = run("nesterov", momentum=0.5)
    assert np.allclose(first, THETA - LR * (G1 + 0.5 * v1))
    assert np.allclose(second, first - LR * (G2 + 0.5 * v2))


def test_adagrad():
    s1 = G1**2
    s2 = s1 + G2**2
    first, second = run("adagrad")
    assert np.allclose(first, THETA - LR * G1 / (np.sqrt(s1) + 1e-10))
    assert np.allclose(second, first - LR * G2 / (np.sqrt(s2) + 1e-10))


def test_rmsprop():
    s1 = 0.1 * G1**2
    s2 = 0.9 * s1 + 0.1 * G2**2
    first, second = run("rmsprop")
    assert np.allclose(first, THETA - LR * G1 / (np.sqrt(s1) + 1e-8))
    assert np.allclose(second, first - LR * G2 / (np.sqrt(s2) + 1e-8))


def _adam_by_hand(theta, grads, decay=0.0):
    m = v = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        theta = theta * (1 - LR * decay)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        mhat, vhat = m / (1 - 0.9**t), v / (1 - 0.999**t)
        theta = theta - LR * mhat / (np.sqrt(vhat) + 1e-8)
        out.append(theta)
    return out


def test_adam_first_step_moves_each_parameter_by_lr():
    first, second = run("adam")
    # with bias correction the first step is lr·sign(g) (up to ε)
    assert np.allclose(first, THETA - LR * np.sign(G1), atol=1e-7)
    e1, e2 = _adam_by_hand(THETA, [G1, G2])
    assert np.allclose(first, e1, rtol=1e-14) and np.allclose(second, e2, rtol=1e-14)


def test_adamw_decays_weights_but_not_biases():
    opt = make("adamw", weight_decay=0.5)
    opt.setup(2, np.float64, np.array([1.0, 0.0]))  # a weight, then a bias
    theta = THETA.copy()
    for g in (G1, G2):
        opt.step(theta, g.copy(), LR)
    w = _adam_by_hand(THETA, [G1, G2], decay=0.5)[-1]
    b = _adam_by_hand(THETA, [G1, G2], decay=0.0)[-1]
    assert theta[0] == pytest.approx(w[0], rel=1e-14)
    assert theta[1] == pytest.approx(b[1], rel=1e-14)


def test_state_persists_and_float32_stays_float32():
    opt = make("adam")
    opt.setup(2, np.float32, np.ones(2, np.float32))
    theta = THETA.astype(np.float32)
    opt.step(theta, G1.astype(np.float32), LR)
    assert theta.dtype == np.float32 and opt.m.dtype == np.float32
    assert opt.t == 1 and np.allclose(opt.state()["m"], 0.1 * G1)


def test_unknown_names_and_parameters_are_refused():
    # a ValueError like every other bad value, still a KeyError, its message unquoted
    with pytest.raises(ValueError, match="allowed") as info:
        make("adamm")
    assert isinstance(info.value, KeyError) and str(info.value).startswith("unknown optimizer")
    with pytest.raises(ValueError, match="momentum"):
        make("adam", momentum=0.9)
    assert set(OPTIMIZERS) >= {
        "gd",
        "sgd",
        "momentum",
        "nesterov",
        "adagrad",
        "rmsprop",
        "adam",
        "adamw",
    }
    assert math.isclose(OPTIMIZERS["adam"].default_lr, 1e-3)


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("adam", "beta2", 1.0),
        ("adam", "beta2", float("nan")),
        ("adam", "eps", 0.0),
        ("momentum", "momentum", -0.1),
        ("rmsprop", "rho", float("inf")),
        ("lm", "mu_dec", 1.5),
        # a factor near 1 climbed from μ = 1 to mu_max in 2e8 rejected trials: a hang
        ("lm", "mu_inc", 1.0000001),
        ("lm", "gain_ratio", 0.5),
        ("lm", "gain_ratio", 2),
        ("lbfgs", "m", 2.5),
    ],
)
def test_hyperparameters_are_range_checked(name, key, value):
    with pytest.raises(ValueError, match=key):
        make(name, **{key: value})


def test_every_method_declares_what_it_is():
    for name, cls in OPTIMIZERS.items():
        assert cls.name == name
        assert cls.honours <= {"lr", "schedule", "batch_size", "clip_norm", "l1", "output_every"}
        assert all(p.default is not None for p in cls.params.values())
    assert not OPTIMIZERS["lm"].stackable and OPTIMIZERS["lm"].least_squares
    assert OPTIMIZERS["gd"].full_batch and "batch_size" not in OPTIMIZERS["gd"].honours
