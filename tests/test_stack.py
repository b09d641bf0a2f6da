"""Stacks of K models: each model ends exactly where it would alone."""

import numpy as np
import pytest

from nnfit.engine import passes
from nnfit.engine.loop import TrainSettings
from nnfit.engine.network import Network
from nnfit.engine.train import train


def data(n=128, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, 2))
    y = np.sin(3 * X[:, :1]) * X[:, 1:]
    Xv = rng.uniform(size=(32, 2))
    return X, y, Xv, np.sin(3 * Xv[:, :1]) * Xv[:, 1:]


def make(k, sizes, act, dtype):
    return Network.create(
        list(sizes), activation=list(act), rng=np.random.default_rng(k), dtype=dtype, bias=0.05
    )


def alone_and_stacked(
    settings,
    sizes=(2, 8, 6, 1),
    act=("tanh", "relu"),
    K=3,
    dtype="float64",
    val=True,
    callbacks=(),
):
    X, y, Xv, yv = data()
    if not val:
        Xv = yv = None
    alone, results = [], []
    for k in range(K):
        net = make(k, sizes, act, dtype)
        [res] = train(
            net,
            X,
            y,
            Xv,
            yv,
            settings=settings,
            rngs=np.random.default_rng(100 + k),
            callbacks=[cb(k) for cb in callbacks],
        )
        results.append(res)
        alone.append(net)
    stack = Network.stack([make(k, sizes, act, dtype) for k in range(K)])
    stacked = train(
        stack,
        X,
        y,
        Xv,
        yv,
        settings=settings,
        rngs=[np.random.default_rng(100 + k) for k in range(K)],
        callbacks=[cb(None) for cb in callbacks],
    )
    return alone, results, stack, stacked


def opt(name, lr=None, **kw):
    return {"name": name, **({"lr": lr} if lr else {}), **kw}


def es(patience, monitor="val"):
    return {"patience": patience, "min_delta": 0.0, "monitor": monitor}


CASES = [
    TrainSettings(epochs=25, optimizer=opt("adam", 0.01), early_stopping=None),
    TrainSettings(epochs=60, optimizer=opt("adam", 0.02), early_stopping=es(4)),  # stop apart
    TrainSettings(epochs=20, optimizer=opt("nesterov", 0.01), batch_size=10, l1=1e-3, l2=1e-2),
    TrainSettings(
        epochs=20, optimizer=opt("rmsprop"), loss={"name": "huber", "delta": 0.2}, schedule="cosine"
    ),
    TrainSettings(epochs=15, optimizer=opt("adagrad", 0.05), loss="mae", batch_size=None),
    TrainSettings(epochs=15, optimizer=opt("gd", 0.5), early_stopping=es(3, "train")),
    TrainSettings(epochs=20, optimizer=opt("adamw", 0.01, weight_decay=0.1)),
    TrainSettings(epochs=10, optimizer=opt("momentum", 0.05), clip_norm=0.05, early_stopping=None),
    TrainSettings(epochs=12, optimizer=opt("adam", 0.01), output_layer="lstsq", output_every=5),
    TrainSettings(epochs=30, optimizer=opt("sgd", 1e4), early_stopping=None),  # diverges
]


def same(r, s):
    assert (r.status, r.stop_reason, r.epochs, r.best_epoch, r.steps) == (
        s.status,
        s.stop_reason,
        s.epochs,
        s.best_epoch,
        s.steps,
    )
    ca, cs = r.history.columns(), s.history.columns()
    assert list(ca) == list(cs)
    for col in ca:
        if col != "wall_s":
            np.testing.assert_array_equal(ca[col], cs[col])


@pytest.mark.parametrize("settings", CASES, ids=lambda s: f"{s.optimizer['name']}")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_each_model_ends_where_it_would_alone(settings, dtype):
    alone, results, stack, stacked = alone_and_stacked(settings, dtype=dtype)
    for k, (a, r, s_res) in enumerate(zip(alone, results, stacked, strict=True)):
        np.testing.assert_array_equal(a.theta[0], stack.theta[k])
        same(r, s_res)


def test_stopping_differs_between_models_in_the_early_stopping_case():
    _, results, _, stacked = alone_and_stacked(CASES[1])
    assert len({r.epochs for r in results}) > 1
    assert [r.epochs for r in stacked] == [r.epochs for r in results]


def test_callbacks_see_every_model_and_can_stop_one():
    """A callback that stops model 1 at epoch 4 (alone: the same model, the same epoch)."""
    seen = []

    def stopper(k):
        def cb(ev):
            seen.append((k, ev.epoch, ev.active.tolist()))
            if k is None:
                return np.arange(ev.net.k) == 1 if ev.epoch == 4 else None
            return ev.epoch == 4 and k == 1

        return cb

    s = TrainSettings(epochs=9, optimizer=opt("adam", 0.01), early_stopping=None)
    alone, results, stack, stacked = alone_and_stacked(s, callbacks=[stopper])
    assert [r.stop_reason for r in stacked] == ["epochs", "callback", "epochs"]
    for k in range(3):
        same(results[k], stacked[k])
        np.testing.assert_array_equal(alone[k].theta[0], stack.theta[k])
    stack_events = [a for k, _, a in seen if k is None]
    assert stack_events[4] == [True, False, True]


def test_ctrl_c_in_a_stack_keeps_every_models_last_epoch():
    X, y, Xv, yv = data()
    stack = Network.stack([make(k, (2, 8, 1), ("tanh",), "float64") for k in range(3)])
    snaps = []

    def interrupt(ev):
        snaps.append(ev.net.theta.copy())
        if ev.epoch == 3:
            raise KeyboardInterrupt

    results = train(
        stack,
        X,
        y,
        Xv,
        yv,
        settings=TrainSettings(epochs=20, optimizer=opt("adam", 0.01)),
        rngs=[np.random.default_rng(k) for k in range(3)],
        callbacks=[interrupt],
    )
    assert [r.status for r in results] == ["interrupted"] * 3
    assert [r.epochs for r in results] == [3, 3, 3]
    np.testing.assert_array_equal(stack.theta, snaps[-1])


def test_the_blocked_full_batch_path_holds_for_stacks(monkeypatch):
    monkeypatch.setattr(passes, "MIN_ELEMENTS", 1)
    monkeypatch.setattr(passes, "BLOCK_BYTES", 16 * 8 * 3 * 8)
    s = TrainSettings(epochs=6, optimizer=opt("gd", 0.3), early_stopping=None)
    alone, results, stack, stacked = alone_and_stacked(s, sizes=(2, 8, 1), act=("sigmoid",))
    for k in range(3):
        # blocks of 16 rows for the stack, 48 alone: sums in another order, so close, not equal
        np.testing.assert_allclose(alone[k].theta[0], stack.theta[k], rtol=1e-12, atol=1e-15)
        assert stacked[k].epochs == results[k].epochs == 6


def test_a_stack_needs_one_shape_and_a_stackable_method():
    with pytest.raises(ValueError, match="one shape"):
        Network.stack([Network.create([1, 3, 1]), Network.create([1, 4, 1])])
    X, y, _, _ = data()
    stack = Network.stack([make(k, (2, 4, 1), ("tanh",), "float64") for k in range(2)])
    with pytest.raises(ValueError, match="one model at a time"):
        train(stack, X, y, settings=TrainSettings(optimizer="lm", epochs=2))


@pytest.mark.parametrize("k", [1, 3])
def test_each_models_batches_follow_its_own_permutation(k):
    # the shuffle is rng.permutation(n) of each model's own stream, epoch after epoch,
    # and a batch holds those rows of x and y in that order
    X = np.arange(10.0).reshape(10, 1)
    y = 100.0 + X
    data = passes.TrainSet(X, y, np.float64, k, 4)
    rngs = [np.random.default_rng(s) for s in range(k)]
    again = [np.random.default_rng(s) for s in range(k)]
    for _ in range(3):
        data.shuffle(rngs)
        orders = [r.permutation(10) for r in again]
        for m, order in enumerate(orders):
            np.testing.assert_array_equal(data.index[m], order)
            x, xT, yb = data.batches[1]
            x, xT, yb = (x, xT, yb) if k == 1 else (x[m], xT[m], yb[m])
            np.testing.assert_array_equal(xT, x.T)
            np.testing.assert_array_equal(x[0], order[4:8])
            np.testing.assert_array_equal(x[1], 1.0)  # the ones row of the folded bias
            np.testing.assert_array_equal(yb[0], 100.0 + order[4:8])
