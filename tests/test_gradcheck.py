"""The gradient checker itself: it must catch a wrong derivative, not just pass."""

import dataclasses

import numpy as np

from nnfit.engine import activations as acts
from nnfit.engine import losses
from nnfit.engine.gradcheck import check_jacobian, check_network
from nnfit.engine.network import Network


def test_a_wrong_activation_derivative_is_caught(monkeypatch):
    rng = np.random.default_rng(0)
    X, y = rng.uniform(size=(16, 1)), rng.normal(size=(16, 1))
    mse = losses.get("mse")
    good = Network.create([1, 4, 1], activation="tanh", rng=np.random.default_rng(1))
    assert max(c.worst for c in check_network(good, X, y, mse)) < 1e-7
    wrong = dataclasses.replace(
        acts.ACTIVATIONS["tanh"], df=lambda z, a: 1.0 - a, fast_backward=None
    )
    monkeypatch.setitem(acts.ACTIVATIONS, "tanh", wrong)
    bad = Network.create([1, 4, 1], activation="tanh", rng=np.random.default_rng(1))
    checks = check_network(bad, X, y, mse)
    assert checks[0].fd_beyond > 1e-2 and checks[0].jvp_error > 1e-2
    assert checks[0].tape_error > 1e-2
    assert checks[1].worst < 1e-7  # the output layer's gradient does not use σ'


def test_saturated_units_are_not_failed_for_what_finite_differences_cannot_resolve():
    # bias 10 on every tanh unit of a 5-64-1 network: the first layer's gradient is ~1e-3
    # against a cost of ~50, below what central differences at h = 1e-6 resolve
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(32, 5))
    y = 10.0 * np.prod(np.sin(np.pi * X), axis=1, keepdims=True)
    net = Network.create([5, 64, 1], activation="tanh", bias=10.0, rng=np.random.default_rng(0))
    first, out = check_network(net, X, y, losses.get("mse"))
    assert first.fd_error > 1e-6  # the differences alone would call backprop wrong
    assert first.fd_error <= 2 * first.fd_spread  # … by no more than they disagree
    assert first.jvp_error < 1e-12 and first.tape_error < 1e-12
    assert first.worst < 1e-12 and out.worst < 1e-8


def test_relu_kinks_are_not_failed_and_a_wrong_relu_derivative_still_is(monkeypatch):
    # zero biases after the first layer put ReLU units exactly at z = 0 downstream of a
    # dead unit: central differences there average the two slopes (error 0.92 and 1.0 of
    # layers 1 and 2 of this 1-3-3-3-1 network), while backprop takes the slope 0
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(32, 1))
    y = np.sin(2 * np.pi * X)
    mse = losses.get("mse")

    def net(hidden):
        return Network.create(
            [1, *hidden, 1], activation="relu", init="domain", bias="spread",
            rng=np.random.default_rng(3),
        )  # fmt: skip

    for hidden in ([3, 3, 3], [3] * 10, [8] * 10):
        checks = check_network(net(hidden), X, y, mse)
        assert max(c.worst for c in checks) < 1e-9, (hidden, checks)
    assert check_jacobian(net([3, 3, 3]), X) < 1e-8
    wrong = dataclasses.replace(
        acts.ACTIVATIONS["relu"], df=lambda z, a: 0.5 * (z > 0), fast_backward=None
    )
    monkeypatch.setitem(acts.ACTIVATIONS, "relu", wrong)
    checks = check_network(net([8, 8]), X, y, mse)
    assert checks[0].fd_beyond > 0.1 and checks[0].jvp_error > 0.1
