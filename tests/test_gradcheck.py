"""The gradient checker itself: it must catch a wrong derivative, not just pass."""

import dataclasses

import numpy as np

from nnfit.engine import activations as acts
from nnfit.engine import losses
from nnfit.engine.gradcheck import check_network
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
    assert checks[0].fd_error > 1e-2 and checks[0].jvp_error > 1e-2
    assert checks[0].tape_error > 1e-2
    assert checks[1].worst < 1e-7  # the output layer's gradient does not use σ'
