"""The network: flat layout, forward pass, whole-network gradients."""

import numpy as np
import pytest

from nnfit.engine.gradcheck import check_network, finite_difference_grad
from nnfit.engine.network import INITIALIZERS, Network


def data(d=2, n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, d)), rng.normal(size=(n, 1))


def test_views_share_the_flat_vectors():
    net = Network.create([3, 4, 2, 1], rng=np.random.default_rng(0))
    assert net.n_params == 3 * 4 + 4 * 2 + 2 * 1 + 4 + 2 + 1
    assert net.n_weights == 3 * 4 + 4 * 2 + 2
    net.theta[:] = np.arange(net.n_params)
    assert net.W[0][0, 1] == 1 and net.W[1][0, 0] == 12 and net.b[0][0] == net.n_weights
    net.W[2][...] = -1
    assert np.all(net.theta[20:22] == -1)
    assert net.gW[1].base is not None and np.shares_memory(net.gW[1], net.grad)


def test_forward_matches_the_formula_and_the_training_path():
    X, _ = data()
    net = Network.create(
        [2, 5, 3, 1],
        activation=["tanh", "relu"],
        output="identity",
        rng=np.random.default_rng(1),
        bias=0.1,
    )
    W0, W1, W2 = net.W
    b0, b1, b2 = net.b
    expect = np.maximum(np.tanh(X @ W0 + b0) @ W1 + b1, 0) @ W2 + b2
    assert np.allclose(net.predict(X), expect, rtol=1e-15)
    assert np.array_equal(net.forward_train(X), net.predict(X))
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
    checks = check_network(net, X, y, loss=loss, l1=1e-3, l2=1e-2)
    tol = 1e-6 if dtype == "float64" else 1e-4
    assert len(checks) == len(sizes) - 1
    for c in checks:
        assert c.fd_error < tol, c
        assert c.jvp_error < tol, c


def test_gradient_with_a_non_identity_output():
    X, y = data()
    y = np.abs(y) / 4
    net = Network.create(
        [2, 6, 1], activation="tanh", output="sigmoid", rng=np.random.default_rng(0)
    )
    assert max(c.worst for c in check_network(net, X, y)) < 1e-6


def test_penalties_act_on_weights_only():
    X, y = data()
    net = Network.create([2, 3, 1], rng=np.random.default_rng(0), bias=0.5)
    net.loss_grad(X, y)
    plain = net.grad.copy()
    net.loss_grad(X, y, l2=0.1)
    diff = net.grad - plain
    assert np.allclose(diff[: net.n_weights], 0.1 * net.theta[: net.n_weights])
    assert np.all(diff[net.n_weights :] == 0)
    assert np.allclose(finite_difference_grad(net, X, y, l2=0.1), net.grad, atol=1e-8)


def test_float32_network_computes_in_float32():
    X, y = data()
    net = Network.create([2, 4, 1], rng=np.random.default_rng(0), dtype="float32")
    net64 = Network.create([2, 4, 1], rng=np.random.default_rng(0), dtype="float64")
    assert net.theta.dtype == np.float32 and net.predict(X).dtype == np.float32
    assert np.allclose(net.theta, net64.theta.astype(np.float32))
    net.loss_grad(X.astype(np.float32), y.astype(np.float32))
    assert net.grad.dtype == np.float32


def test_initialisers_have_their_scale():
    rng = np.random.default_rng(0)
    assert np.max(np.abs(INITIALIZERS["glorot"](rng, 100, 200))) <= np.sqrt(6 / 300)
    assert np.std(INITIALIZERS["he"](rng, 100, 400)) == pytest.approx(np.sqrt(2 / 100), rel=0.02)
    assert np.std(INITIALIZERS["lecun"](rng, 100, 400)) == pytest.approx(0.1, rel=0.02)
    assert np.std(INITIALIZERS["normal"](rng, 100, 400, std=0.3)) == pytest.approx(0.3, rel=0.02)
    assert np.max(np.abs(INITIALIZERS["uniform"](rng, 100, 400, limit=0.2))) <= 0.2


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="one per hidden layer"):
        Network.create([1, 4, 4, 1], activation=["tanh"])
    with pytest.raises(ValueError, match="positive"):
        Network([1, 0, 1], ["tanh", "identity"])
    with pytest.raises(KeyError, match="allowed"):
        Network.create([1, 2, 1], init="xavier")


def test_meta_round_trip():
    net = Network.create(
        [2, 3, 1], activation={"name": "leaky_relu", "slope": 0.2}, rng=np.random.default_rng(0)
    )
    again = Network.from_arrays(net.meta(), net.params())
    X, _ = data()
    assert np.array_equal(again.predict(X), net.predict(X))
    assert again.meta() == net.meta()
