"""The training loop: descent, learning, determinism, stopping rules."""

import itertools
import math

import numpy as np
import pytest

from nnfit.engine.loop import TrainSettings, train
from nnfit.engine.network import Network


def sine(n=128, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, 1))
    return X, np.sin(2 * np.pi * X)


def test_full_batch_gd_lowers_the_cost_every_step():
    X, y = sine()
    net = Network.create([1, 10, 1], activation="tanh", rng=np.random.default_rng(0))
    costs = []

    def record(info):
        costs.append(info.train_loss)

    # full-batch: the epoch's train_loss is the cost before that epoch's single step
    train(
        net,
        X,
        y,
        settings=TrainSettings(optimizer="gd", lr=0.05, epochs=200, patience=None),
        callback=record,
    )
    final = net.cost(X, y)
    costs.append(final)
    assert len(costs) == 201
    assert all(b < a for a, b in itertools.pairwise(costs))
    assert final < 0.8 * costs[0]


def test_a_teacher_network_is_learned():
    rng = np.random.default_rng(5)
    teacher = Network.create([2, 6, 1], activation="tanh", rng=rng, init="normal")
    X = rng.uniform(-1, 1, size=(512, 2))
    y = teacher.predict(X)
    student = Network.create([2, 6, 1], activation="tanh", rng=np.random.default_rng(9))
    before = student.cost(X, y)
    res = train(
        student,
        X,
        y,
        settings=TrainSettings(optimizer="adam", lr=0.01, epochs=400, patience=None),
        rng=rng,
    )
    after = student.cost(X, y)
    assert res.status == "ok" and res.epochs == 400
    assert after < 1e-4 * before and after < 1e-4


def test_sine_is_fitted_from_the_python_api():
    X, y = sine(256)
    net = Network.create([1, 32, 1], activation="tanh", rng=np.random.default_rng(0))
    res = train(
        net,
        X,
        y,
        settings=TrainSettings(lr=0.01, epochs=500, patience=None),
        rng=np.random.default_rng(0),
    )
    Xt = np.linspace(0, 1, 1001)[:, None]
    assert np.max(np.abs(net.predict(Xt) - np.sin(2 * np.pi * Xt))) < 0.05
    assert res.steps == 500 * 8


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_same_seed_same_weights(dtype):
    X, y = sine()

    def once():
        net = Network.create(
            [1, 8, 8, 1], activation="relu", rng=np.random.default_rng(3), dtype=dtype
        )
        train(
            net,
            X,
            y,
            settings=TrainSettings(epochs=30, batch_size=16),
            rng=np.random.default_rng(4),
        )
        return net.theta.copy()

    a, b = once(), once()
    assert a.dtype == np.dtype(dtype) and np.array_equal(a, b)
    net = Network.create([1, 8, 8, 1], activation="relu", rng=np.random.default_rng(3), dtype=dtype)
    train(net, X, y, settings=TrainSettings(epochs=30, batch_size=16), rng=np.random.default_rng(5))
    assert not np.array_equal(a, net.theta)


def test_divergence_stops_at_once_and_keeps_finite_weights():
    X, y = sine()
    net = Network.create([1, 16, 1], activation="relu", rng=np.random.default_rng(0))
    seen = []
    res = train(
        net,
        X,
        y,
        settings=TrainSettings(optimizer="sgd", lr=50.0, epochs=1000),
        callback=seen.append,
    )
    assert res.status == "diverged" and res.stop_reason == "diverged"
    assert res.epochs < 5 and len(seen) == res.epochs
    assert np.all(np.isfinite(net.theta))
    assert all(math.isfinite(v) for v in res.history.train_loss)


def test_early_stopping_on_validation_restores_the_best_weights():
    X, y = sine(64)
    Xv, yv = sine(64, seed=1)
    yv = yv + 0.3  # a validation set the model can never fit: its loss soon stops falling
    net = Network.create([1, 16, 1], rng=np.random.default_rng(0))
    res = train(net, X, y, Xv, yv, settings=TrainSettings(lr=0.01, epochs=2000, patience=20))
    assert res.stop_reason == "early_stopping" and res.epochs < 2000
    assert res.epochs - res.best_epoch == 20
    best = min(res.history.val_loss)
    assert net.cost(Xv, yv) == pytest.approx(best, rel=1e-12)


def test_without_validation_training_stops_when_the_cost_stabilises():
    X, y = sine(32)
    net = Network.create([1, 4, 1], rng=np.random.default_rng(0))
    res = train(
        net,
        X,
        y,
        settings=TrainSettings(optimizer="gd", lr=0.1, epochs=100000, patience=10, min_delta=1e-6),
    )
    assert res.stop_reason == "converged" and res.epochs < 100000


def test_zero_epochs_returns_the_initial_network_and_a_history_row():
    X, y = sine()
    net = Network.create([1, 4, 1], rng=np.random.default_rng(0))
    start = net.theta.copy()
    res = train(net, X, y, settings=TrainSettings(epochs=0))
    assert res.epochs == 0 and res.steps == 0 and np.array_equal(net.theta, start)
    assert res.history.epoch == [0]
    assert res.history.train_loss[0] == pytest.approx(net.cost(X, y))


def test_callback_can_stop_and_history_has_per_layer_gradients():
    X, y = sine()
    net = Network.create([1, 5, 5, 1], rng=np.random.default_rng(0))
    res = train(
        net,
        X,
        y,
        settings=TrainSettings(epochs=100, patience=None),
        callback=lambda info: info.epoch == 7,
    )
    assert res.stop_reason == "callback" and res.epochs == 7
    cols = res.history.columns()
    assert list(cols)[:4] == ["epoch", "train_loss", "val_loss", "lr"]
    assert {"grad_norm_0", "grad_norm_1", "grad_norm_2", "wall_s"} <= set(cols)
    assert len(cols["grad_norm_2"]) == 8


def test_clip_norm_bounds_every_step():
    X, y = sine()
    net = Network.create([1, 8, 1], rng=np.random.default_rng(0), init="normal")
    before = net.theta.copy()
    train(
        net,
        X,
        y,
        settings=TrainSettings(optimizer="gd", lr=1.0, epochs=1, clip_norm=1e-3, patience=None),
    )
    assert np.linalg.norm(net.theta - before) == pytest.approx(1e-3, rel=1e-9)


def test_schedule_sets_the_rate_each_epoch():
    X, y = sine()
    net = Network.create([1, 4, 1], rng=np.random.default_rng(0))
    res = train(
        net,
        X,
        y,
        settings=TrainSettings(
            lr=0.1, epochs=4, patience=None, schedule="exponential", schedule_params={"gamma": 0.5}
        ),
    )
    assert res.history.lr[1:] == pytest.approx([0.1, 0.05, 0.025, 0.0125])


@pytest.mark.parametrize(
    "name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]
)
def test_every_optimizer_reduces_the_cost(name):
    X, _ = sine()
    y = X**2 - 0.3
    net = Network.create([1, 16, 1], rng=np.random.default_rng(0))
    start = net.cost(X, y)
    lr = {"adagrad": 0.05, "sgd": 0.05, "momentum": 0.01, "nesterov": 0.01}.get(name, 0.005)
    res = train(net, X, y, settings=TrainSettings(optimizer=name, lr=lr, epochs=100, patience=None))
    assert res.status == "ok" and net.cost(X, y) < 0.05 * start


def test_blocked_full_batch_matches_the_plain_pass_and_any_thread_count():
    from nnfit.engine.rowblocks import BlockedGradient

    rng = np.random.default_rng(0)
    X = rng.uniform(size=(3000, 2))
    y = np.sin(4 * X[:, :1]) + X[:, 1:] ** 2
    net = Network.create(
        [2, 64, 32, 1], activation=["sigmoid", "tanh"], rng=np.random.default_rng(1)
    )
    plain = net.loss_grad(X, y, "huber", 1e-3, 1e-2)
    g = net.grad.copy()
    results = []
    for threads in (1, 2):
        b = BlockedGradient(net, X, y, threads=threads, block_rows=100)
        results.append((b.loss_grad("huber", 1e-3, 1e-2), net.grad.copy()))
        b.close()
        assert len(b.blocks) == 30
    (c1, g1), (c2, g2) = results
    assert c1 == c2 and np.array_equal(g1, g2)  # the lanes, not the threads, fix the sums
    assert c1 == pytest.approx(plain, rel=1e-13)
    np.testing.assert_allclose(g1, g, rtol=1e-11, atol=1e-15 * np.abs(g).max())


def test_large_full_batch_training_uses_blocks_and_stays_close_to_plain():
    import nnfit.engine.rowblocks as blocked

    rng = np.random.default_rng(0)
    X = rng.uniform(size=(2048, 1))
    y = np.sin(2 * np.pi * X)
    s = TrainSettings(optimizer="gd", lr=0.5, epochs=20, patience=None)
    a = Network.create([1, 512, 1], activation="sigmoid", rng=np.random.default_rng(0))
    train(a, X, y, settings=s)
    old = blocked.MIN_ELEMENTS
    blocked.MIN_ELEMENTS = 1 << 40  # force the plain pass
    try:
        b = Network.create([1, 512, 1], activation="sigmoid", rng=np.random.default_rng(0))
        train(b, X, y, settings=s)
    finally:
        blocked.MIN_ELEMENTS = old
    assert blocked.worth_it(a, len(X))
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-12, atol=1e-14)
    assert not np.array_equal(
        a.theta, Network.create([1, 512, 1], rng=np.random.default_rng(0)).theta
    )
