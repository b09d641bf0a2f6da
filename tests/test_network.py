"""The network: flat block layout, forward passes, whole-network gradients, stacks."""

import numpy as np
import pytest

from nnfit.engine import losses, passes
from nnfit.engine.gradcheck import check_network, finite_difference_grad
from nnfit.engine.initializers import INITIALIZERS
from nnfit.engine.network import Network, pack, unpack

MSE = losses.get("mse")


def data(d=2, n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, d)), rng.normal(size=(n, 1))


def test_blocks_share_the_flat_vector():
    net = Network.create([3, 4, 2, 1], rng=np.random.default_rng(0))
    assert net.n_params == 4 * (3 + 1) + 2 * (4 + 1) + 1 * (2 + 1)
    assert net.n_weights == 3 * 4 + 4 * 2 + 2
    net.theta[0] = np.arange(net.n_params)
    # layer 0's block is [W0ᵀ | b0] (4 × 4): row j holds unit j's weights, then its bias
    assert net.W(0)[0, 0, 1] == 4 and net.b(0)[0, 0] == 3 and net.b(0)[0, 1] == 7
    assert net.W(1)[0, 0, 0] == 16 and net.b(2)[0, 0] == net.n_params - 1
    net.W(2)[...] = -1
    assert np.all(net.theta[0, -3:-1] == -1)
    assert int(net.weight_mask.sum()) == net.n_weights
    assert np.array_equal(pack(net.params()), net.theta[0])
    assert all(
        np.array_equal(a, b) and np.array_equal(c, e)
        for (a, c), (b, e) in zip(unpack(net.theta[0], net.sizes), net.params(), strict=True)
    )


def test_forward_matches_the_formula_and_the_training_path():
    X, _ = data()
    net = Network.create(
        [2, 5, 3, 1], activation=["tanh", "relu"], rng=np.random.default_rng(1), bias=0.1
    )
    (W0, b0), (W1, b1), (W2, b2) = net.params()
    expect = np.maximum(np.tanh(X @ W0 + b0) @ W1 + b1, 0) @ W2 + b2
    np.testing.assert_allclose(net.predict(X)[0], expect, rtol=1e-14)
    data_ = passes.TrainSet(X, np.zeros((len(X), 1)), net.dtype, 1, None)
    grad = np.zeros_like(net.theta)
    p = passes.Pass(net, len(X), MSE, grad)
    np.testing.assert_allclose(p.forward(data_.full_batch()[0]).T, expect, rtol=1e-14)
    # evaluation in blocks (to bound memory on dense test sets) changes nothing
    assert np.array_equal(net.predict(X, block=5), net.predict(X))


CASES = [
    ([1, 8, 1], "tanh", "float64"),
    ([2, 6, 5, 1], ["sigmoid", "relu"], "float64"),
    ([3, 4, 4, 4, 1], ["elu", "gelu", "sin"], "float64"),
    ([2, 7, 3, 1], ["softplus", "leaky_relu"], "float32"),
    ([1, 5, 5, 5, 5, 1], ["silu", "selu", "square", "tanh"], "float64"),
    ([2, 1], [], "float64"),
]


@pytest.mark.parametrize(("sizes", "act", "dtype"), CASES)
@pytest.mark.parametrize("loss", ["mse", "huber", "mae"])
def test_whole_network_gradient_with_l1_and_l2(sizes, act, dtype, loss):
    X, y = data(d=sizes[0])
    net = Network.create(
        sizes, activation=act, rng=np.random.default_rng(3), dtype=dtype, bias=0.05
    )
    checks = check_network(net, X, y, losses.get(loss), l1=1e-3, l2=1e-2)
    tol = 1e-6 if dtype == "float64" else 1e-4
    assert len(checks) == len(sizes) - 1
    for c in checks:
        assert c.fd_error < tol, c
        assert c.jvp_error < tol, c
        assert c.tape_error < tol, c


def test_gradient_with_a_non_identity_output():
    X, y = data()
    y = np.abs(y) / 4
    net = Network.create(
        [2, 6, 1], activation="tanh", output="sigmoid", rng=np.random.default_rng(0)
    )
    assert max(c.worst for c in check_network(net, X, y, MSE)) < 1e-6


def test_penalties_act_on_weights_only():
    X, y = data()
    net = Network.create([2, 3, 1], rng=np.random.default_rng(0), bias=0.5)
    _, plain = passes.gradient(net, X, y, MSE)
    _, with_l2 = passes.gradient(net, X, y, MSE, l2=0.1)
    diff = (with_l2 - plain)[0]
    mask = net.weight_mask > 0
    np.testing.assert_allclose(diff[mask], 0.1 * net.theta[0][mask], rtol=1e-12)
    assert np.all(diff[~mask] == 0)
    np.testing.assert_allclose(
        finite_difference_grad(net, X, y, MSE, l2=0.1), with_l2[0], atol=1e-8
    )


def test_float32_network_computes_in_float32():
    X, y = data()
    net = Network.create([2, 4, 1], rng=np.random.default_rng(0), dtype="float32")
    net64 = Network.create([2, 4, 1], rng=np.random.default_rng(0), dtype="float64")
    assert net.theta.dtype == np.float32 and net.predict(X).dtype == np.float32
    assert np.array_equal(net.theta, net64.theta.astype(np.float32))
    _, grad = passes.gradient(net, X, y, MSE)
    assert grad.dtype == np.float32


def test_initialisers_have_their_scale():
    rng = np.random.default_rng(0)
    assert np.max(np.abs(INITIALIZERS["glorot"](rng, 100, 200))) <= np.sqrt(6 / 300)
    assert np.std(INITIALIZERS["he"](rng, 100, 400)) == pytest.approx(np.sqrt(2 / 100), rel=0.02)
    assert np.std(INITIALIZERS["lecun"](rng, 100, 400)) == pytest.approx(0.1, rel=0.02)
    assert np.std(INITIALIZERS["normal"](rng, 100, 400, std=0.3)) == pytest.approx(0.3, rel=0.02)
    assert np.max(np.abs(INITIALIZERS["uniform"](rng, 100, 400, limit=0.2))) <= 0.2


def test_spread_biases_put_every_first_layer_unit_inside_the_cube():
    net = Network.create([3, 50, 7, 1], rng=np.random.default_rng(0), bias="spread", init="he")
    W, b = net.params()[0]
    # unit j is centred where w_j·x + b_j = 0; along w_j the nearest such point is
    # c = −b_j w_j / ‖w_j‖², and b_j = −w_j·c_j for some c_j in [0,1]³ means
    # the hyperplane crosses the cube: min over corners ≤ 0 ≤ max over corners
    corners = np.array(np.meshgrid([0, 1], [0, 1], [0, 1])).reshape(3, -1).T
    z = corners @ W + b
    assert np.all(z.min(axis=0) <= 0) and np.all(z.max(axis=0) >= 0)
    assert np.all(net.params()[1][1] == 0)  # deeper layers keep zero biases


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="one per hidden layer"):
        Network.create([1, 4, 4, 1], activation=["tanh"])
    with pytest.raises(ValueError, match="positive"):
        Network([1, 0, 1], ["tanh", "identity"])
    with pytest.raises(ValueError, match="allowed"):
        Network.create([1, 2, 1], init="xavier")


def test_meta_round_trip_and_stacks():
    net = Network.create(
        [2, 3, 1], activation={"name": "leaky_relu", "slope": 0.2}, rng=np.random.default_rng(0)
    )
    again = Network.from_arrays(net.meta(), net.params())
    X, _ = data()
    assert np.array_equal(again.predict(X), net.predict(X))
    assert again.meta() == net.meta()
    other = Network.create([2, 3, 1], activation={"name": "leaky_relu", "slope": 0.2})
    stack = Network.stack([net, other])
    assert stack.k == 2 and np.array_equal(stack.predict(X)[1], other.predict(X)[0])
    assert np.array_equal(stack.model(0).theta, net.theta)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dtype": "int64"}, "dtype must be float64 or float32, got 'int64'"),  # weights rounded
        ({"dtype": "floot64"}, "dtype must be float64 or float32"),
        ({"bias": float("nan")}, 'bias must be a finite number or "spread", got nan'),
        ({"bias": "0.5"}, 'bias must be a finite number or "spread"'),
        ({"bias": True}, 'bias must be a finite number or "spread", got True'),
        ({"rng": 42}, "rng must be a numpy Generator"),
        ({"rng": [1, 2]}, "rng must be a numpy Generator"),
        ({"rng": []}, "rng must be a numpy Generator"),
        ({"init": {"scale": 2}}, "init must be a name or a dict with its 'name'"),
        ({"sizes": [1, 2.7, 1]}, r"sizes must be a list of whole numbers.*\[1, 2\.7, 1\]"),
        ({"sizes": "141"}, "sizes must be a list of whole numbers"),  # was [1, 4, 1]
    ],
)
def test_create_refuses_arguments_it_took_and_changed(kwargs, message):
    kwargs = {"sizes": [1, 4, 1], **kwargs}
    with pytest.raises(ValueError, match=message):
        Network.create(kwargs.pop("sizes"), **kwargs)
    with pytest.raises(ValueError, match=r"k must be a whole number ≥ 1, got 2\.5"):
        Network([1, 1], ["identity"], k=2.5)  # was k = 2


def test_arrays_of_the_wrong_count_or_shape_are_refused_not_read_as_zeros():
    """from_arrays with a layer missing predicted 0 from the zero blocks left behind; a
    scalar bias was spread over the whole layer."""
    net = Network.create([1, 4, 1], rng=np.random.default_rng(0))
    layers = net.params()
    with pytest.raises(ValueError, match=r"sizes \[1, 4, 1\] need 2 layers of weights, got 1"):
        Network.from_arrays(net.meta(), layers[:1])
    W = layers[1][0]
    with pytest.raises(
        ValueError, match=r"layer 1: weights of shape \(4, 1\).*got \(4, 1\) and \(\)"
    ):
        Network.from_arrays(net.meta(), [layers[0], (W, 0.5)])
    with pytest.raises(ValueError, match=r"layer 0: .*got \(4,\) and \(4,\)"):
        Network.from_arrays(net.meta(), [(layers[0][0][0], layers[0][1]), layers[1]])


def test_rows_models_and_stacks_out_of_range_are_refused_in_one_line():
    net = Network.create([1, 4, 1], rng=np.random.default_rng(0))
    X = np.linspace(0, 1, 5)[:, None]
    for block in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="block must be a whole number ≥ 1 of rows"):
            net.predict(X, block=block)
    with pytest.raises(ValueError, match="block must be"):
        net.features(X, block=0)
    assert np.array_equal(net.predict(X, block=2), net.predict(X))  # blocks of rows agree
    with pytest.raises(ValueError, match=r"model k must be a whole number in \[0, 1\), got 5"):
        net.model(5)
    assert np.array_equal(net.model(-1).theta, net.theta)
    with pytest.raises(ValueError, match="a stack needs one or more networks, got \\[\\]"):
        Network.stack([])


def test_inputs_beyond_float32_are_named_as_such():
    net = Network.create([1, 4, 1], dtype="float32", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"X has values beyond float32's range \(±3\.4e\+38\)"):
        net.predict([[0.5], [1e39]])
    assert np.isnan(net.predict([[np.nan]])).all()  # NaN in, NaN out, as NumPy does
