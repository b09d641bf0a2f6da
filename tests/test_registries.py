"""An entry added to a registry alone works everywhere: one run, a stack, the gradient
checks, second-order training, and the experiment file (names come from the tables)."""

import importlib
from typing import ClassVar

import numpy as np
import pytest

from nnfit.engine import activations, losses, optimizers
from nnfit.engine.gradcheck import check_network
from nnfit.engine.loop import TrainSettings
from nnfit.engine.network import Network
from nnfit.engine.optimizers import FirstOrder
from nnfit.engine.params import Param
from nnfit.engine.train import train
from nnfit.experiment import choices, config, runner


def softsign(z):
    return z / (1.0 + np.abs(z))


def dsoftsign(z, a):
    return 1.0 / (1.0 + np.abs(z)) ** 2


def logcosh(r, scale=1.0):
    return scale * np.log(np.cosh(r / scale))


def dlogcosh(r, scale=1.0):
    return np.tanh(r / scale)


class SignSGD(FirstOrder):
    """θ ← θ − η·sign(g): a rule with no state."""

    name = "signsgd"
    params: ClassVar = {"shrink": Param(1.0, lo=0.0, lo_open=True, hi=1.0)}

    def step(self, theta, grad, lr):
        np.sign(grad, out=self._tmp)
        self._tmp *= lr * self.hyper["shrink"]
        theta -= self._tmp


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(
        activations.ACTIVATIONS, "softsign", activations.Activation(softsign, dsoftsign)
    )
    monkeypatch.setitem(
        losses.LOSSES,
        "logcosh",
        losses.Loss(logcosh, dlogcosh, {"scale": Param(1.0, lo=0.0, lo_open=True)}),
    )
    monkeypatch.setitem(optimizers.OPTIMIZERS, "signsgd", SignSGD)
    importlib.reload(choices)  # the file's allowed names are read from the tables
    importlib.reload(config)
    yield
    monkeypatch.undo()
    importlib.reload(choices)
    importlib.reload(config)


def data():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(64, 2))
    return X, np.sin(3 * X[:, :1]) * X[:, 1:]


def test_new_entries_train_alone_in_a_stack_and_pass_the_gradient_checks(registered):
    X, y = data()
    s = TrainSettings(
        loss={"name": "logcosh", "scale": 0.5},
        optimizer={"name": "signsgd", "lr": 0.01, "shrink": 0.5},
        epochs=15,
        batch_size=16,
        l2=1e-3,
    )

    def net(k):
        return Network.create([2, 6, 1], "softsign", rng=np.random.default_rng(k))

    alone = []
    for k in range(3):
        n = net(k)
        [res] = train(n, X, y, settings=s, rngs=np.random.default_rng(10 + k))
        assert res.status == "ok" and res.history.train_loss[-1] < res.history.train_loss[0]
        alone.append(n.theta[0].copy())
    stack = Network.stack([net(k) for k in range(3)])
    train(stack, X, y, settings=s, rngs=[np.random.default_rng(10 + k) for k in range(3)])
    np.testing.assert_array_equal(stack.theta, np.stack(alone))
    checks = check_network(net(0), X, y, losses.get("logcosh", scale=0.5), l2=1e-3)
    assert max(c.worst for c in checks) < 1e-6


def test_new_entries_train_with_second_order_methods_or_are_refused(registered):
    X, y = data()
    for method, loss in (("lbfgs", "logcosh"), ("lm", "mse")):
        n = Network.create([2, 6, 1], "softsign", rng=np.random.default_rng(0))
        [res] = train(n, X, y, settings=TrainSettings(optimizer=method, loss=loss, epochs=20))
        assert res.status == "ok" and res.history.train_loss[-1] < 0.5 * res.history.train_loss[0]
    with pytest.raises(ValueError, match="needs loss mse"):
        train(
            Network.create([2, 3, 1]), X, y, settings=TrainSettings(optimizer="lm", loss="logcosh")
        )


def test_new_entries_are_names_of_the_experiment_file(registered):
    cfg = {
        "target": {"expr": "x*y", "dim": 2},
        "data": {"n_train": 64, "n_val": 16, "n_test": 100},
        "model": {"hidden": [6], "activation": "softsign"},
        "training": {
            "loss": {"name": "logcosh", "scale": 0.5},
            "optimizer": "signsgd",
            "epochs": 5,
        },
    }
    rec = runner.execute(config.from_dict(cfg), plots=False)
    assert rec.status == "ok" and rec.config["training"]["optimizer"]["shrink"] == 1.0
    with pytest.raises(config.ConfigError, match="shrink"):
        config.from_dict({**cfg, "training": {"optimizer": {"name": "signsgd", "shrink": 2.0}}})
    with pytest.raises(config.ConfigError, match="needs loss mse"):
        config.from_dict({**cfg, "training": {"optimizer": "lm", "loss": "logcosh"}})
