"""The gradient checker itself: it must catch a wrong derivative, not just pass."""

import numpy as np

from nnfit.engine import activations as acts
from nnfit.engine.gradcheck import check_network
from nnfit.engine.network import Network


def test_a_wrong_activation_derivative_is_caught(monkeypatch):
    rng = np.random.default_rng(0)
    X, y = rng.uniform(size=(16, 1)), rng.normal(size=(16, 1))
    good = Network.create([1, 4, 1], activation="tanh", rng=np.random.default_rng(1))
    assert max(c.worst for c in check_network(good, X, y)) < 1e-7
    monkeypatch.setitem(acts.ACTIVATIONS, "tanh", (acts.tanh, lambda z, a: 1.0 - a))
    bad = Network.create([1, 4, 1], activation="tanh", rng=np.random.default_rng(1))
    checks = check_network(bad, X, y)
    assert checks[0].fd_error > 1e-2 and checks[0].jvp_error > 1e-2
    assert checks[1].worst < 1e-7  # the output layer's gradient does not use σ'
