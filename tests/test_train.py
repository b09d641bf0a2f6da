"""The training loop: descent, learning, determinism, stopping rules, interrupts."""

import itertools
import math

import numpy as np
import pytest

from nnfit.engine import losses, passes
from nnfit.engine.loop import TrainSettings
from nnfit.engine.network import Network
from nnfit.engine.train import train

MSE = losses.get("mse")


def sine(n=128, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, 1))
    return X, np.sin(2 * np.pi * X)


def settings(lr=None, optimizer="adam", patience=100, monitor="val", min_delta=0.0, **kw):
    opt = {"name": optimizer, **({"lr": lr} if lr is not None else {})}
    es = (
        None
        if patience is None
        else {"patience": patience, "min_delta": min_delta, "monitor": monitor}
    )
    return TrainSettings(optimizer=opt, early_stopping=es, **kw)


def cost(net, X, y, **kw):
    return float(net.cost(X, y, MSE, **kw)[0])


def test_full_batch_gd_lowers_the_cost_every_step():
    X, y = sine()
    net = Network.create([1, 10, 1], activation="tanh", rng=np.random.default_rng(0))
    costs = []
    # full-batch: the epoch's train_loss is the cost before that epoch's single step
    train(
        net,
        X,
        y,
        settings=settings(0.05, "gd", None, epochs=200),
        callbacks=[lambda ev: costs.append(float(ev.train_loss[0]))],
    )
    final = cost(net, X, y)
    costs.append(final)
    assert len(costs) == 201
    assert all(b < a for a, b in itertools.pairwise(costs))
    assert final < 0.8 * costs[0]


def test_a_teacher_network_is_learned():
    rng = np.random.default_rng(5)
    teacher = Network.create([2, 6, 1], activation="tanh", rng=rng, init="normal")
    X = rng.uniform(-1, 1, size=(512, 2))
    y = teacher.predict(X)[0]
    student = Network.create([2, 6, 1], activation="tanh", rng=np.random.default_rng(9))
    before = cost(student, X, y)
    [res] = train(student, X, y, settings=settings(0.01, patience=None, epochs=400), rngs=rng)
    after = cost(student, X, y)
    assert res.status == "ok" and res.epochs == 400
    assert after < 1e-4 * before and after < 1e-4


def test_sine_is_fitted_and_steps_are_counted():
    X, y = sine(256)
    net = Network.create([1, 32, 1], activation="tanh", rng=np.random.default_rng(0))
    [res] = train(net, X, y, settings=settings(0.01, patience=None, epochs=500))
    Xt = np.linspace(0, 1, 1001)[:, None]
    assert np.max(np.abs(net.predict(Xt)[0] - np.sin(2 * np.pi * Xt))) < 0.05
    assert res.steps == 500 * 8


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_same_seed_same_weights(dtype):
    X, y = sine()

    def once(shuffle_seed):
        net = Network.create(
            [1, 8, 8, 1], activation="relu", rng=np.random.default_rng(3), dtype=dtype
        )
        train(
            net,
            X,
            y,
            settings=settings(epochs=30, batch_size=16),
            rngs=np.random.default_rng(shuffle_seed),
        )
        return net.theta.copy()

    a, b = once(4), once(4)
    assert a.dtype == np.dtype(dtype) and np.array_equal(a, b)
    assert not np.array_equal(a, once(5))


def test_divergence_stops_at_once_and_keeps_finite_weights():
    X, y = sine()
    net = Network.create([1, 16, 1], activation="relu", rng=np.random.default_rng(0))
    seen = []
    [res] = train(net, X, y, settings=settings(50.0, "sgd", epochs=1000), callbacks=[seen.append])
    assert res.status == "diverged" and res.stop_reason == "diverged"
    assert res.epochs < 5 and len(seen) == res.epochs
    assert np.all(np.isfinite(net.theta))
    assert all(math.isfinite(v) for v in res.history.train_loss)


def test_a_diverged_model_keeps_its_best_epoch_under_early_stopping():
    X, y = sine()
    kept = {}
    for patience in (100, None):
        net = Network.create([1, 16, 1], activation="relu", rng=np.random.default_rng(0))
        start = net.theta.copy()
        s = settings(5.0, "gd", patience, "train", epochs=1000)
        [res] = train(net, X, y, settings=s)
        assert res.status == "diverged" and np.all(np.isfinite(net.theta))
        loss = res.history.train_loss
        kept[patience] = res.best_epoch, cost(net, X, y)
        if patience is None:  # no early stopping: the last finite epoch
            assert res.best_epoch == res.epochs > 1
        else:  # the epoch of the lowest cost; the cost at θ_{e−1} is row e's for gd
            assert res.best_epoch == int(np.argmin(loss)) == 0
            assert np.array_equal(net.theta, start)
    assert kept[100][1] < 1e-3 * kept[None][1]


def test_early_stopping_on_validation_restores_the_best_weights():
    X, y = sine(64)
    Xv, yv = sine(64, seed=1)
    yv = yv + 0.3  # a validation set the model can never fit: its loss soon stops falling
    net = Network.create([1, 16, 1], rng=np.random.default_rng(0))
    [res] = train(net, X, y, Xv, yv, settings=settings(0.01, patience=20, epochs=2000))
    assert res.stop_reason == "early_stopping" and res.epochs < 2000
    assert res.epochs - res.best_epoch == 20
    assert cost(net, Xv, yv) == pytest.approx(min(res.history.val_loss), rel=1e-12)


def test_without_validation_training_stops_when_the_cost_stabilises():
    X, y = sine(32)
    net = Network.create([1, 4, 1], rng=np.random.default_rng(0))
    [res] = train(net, X, y, settings=settings(0.1, "gd", 10, "train", 1e-6, epochs=100000))
    assert res.stop_reason == "converged" and res.epochs < 100000


def test_zero_epochs_returns_the_initial_network_and_a_history_row():
    X, y = sine()
    net = Network.create([1, 4, 1], rng=np.random.default_rng(0))
    start = net.theta.copy()
    [res] = train(net, X, y, settings=settings(epochs=0))
    assert res.epochs == 0 and res.steps == 0 and np.array_equal(net.theta, start)
    assert res.history.epoch == [0]
    assert res.history.train_loss[0] == pytest.approx(cost(net, X, y), rel=1e-12)


def test_callback_can_stop_and_history_has_per_layer_gradients():
    X, y = sine()
    net = Network.create([1, 5, 5, 1], rng=np.random.default_rng(0))
    [res] = train(
        net,
        X,
        y,
        settings=settings(patience=None, epochs=100),
        callbacks=[lambda ev: ev.epoch == 7],
    )
    assert res.stop_reason == "callback" and res.epochs == 7
    cols = res.history.columns()
    assert list(cols)[:4] == ["epoch", "train_loss", "val_loss", "lr"]
    assert {"grad_norm_0", "grad_norm_1", "grad_norm_2", "wall_s"} <= set(cols)
    assert len(cols["grad_norm_2"]) == 8


def test_ctrl_c_keeps_the_last_finished_epoch():
    X, y = sine()
    net = Network.create([1, 8, 1], rng=np.random.default_rng(0))
    snapshots = []

    def interrupt(ev):
        snapshots.append(ev.net.theta.copy())
        if ev.epoch == 3:
            raise KeyboardInterrupt

    [res] = train(net, X, y, settings=settings(0.01, epochs=50), callbacks=[interrupt])
    assert res.status == res.stop_reason == "interrupted"
    assert res.epochs == 3 and np.array_equal(net.theta, snapshots[-1])


def test_clip_norm_bounds_every_step():
    X, y = sine()
    net = Network.create([1, 8, 1], rng=np.random.default_rng(0), init="normal")
    before = net.theta.copy()
    train(net, X, y, settings=settings(1.0, "gd", None, epochs=1, clip_norm=1e-3))
    assert np.linalg.norm(net.theta - before) == pytest.approx(1e-3, rel=1e-9)


def test_schedule_sets_the_rate_each_epoch():
    X, y = sine()
    net = Network.create([1, 4, 1], rng=np.random.default_rng(0))
    [res] = train(
        net,
        X,
        y,
        settings=settings(
            0.1, patience=None, epochs=4, schedule={"name": "exponential", "gamma": 0.5}
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
    start = cost(net, X, y)
    lr = {"adagrad": 0.05, "sgd": 0.05, "momentum": 0.01, "nesterov": 0.01}.get(name, 0.005)
    [res] = train(net, X, y, settings=settings(lr, name, None, epochs=100))
    assert res.status == "ok" and cost(net, X, y) < 0.05 * start


def test_blocked_full_batch_matches_the_plain_pass_and_any_thread_count(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(3000, 2))
    y = np.sin(4 * X[:, :1]) + X[:, 1:] ** 2
    net = Network.create(
        [2, 64, 32, 1], activation=["sigmoid", "tanh"], rng=np.random.default_rng(1)
    )
    huber = losses.get("huber", delta=0.3)
    plain_cost, plain = passes.gradient(net, X, y, huber, 1e-3, 1e-2)
    monkeypatch.setattr(passes, "MIN_ELEMENTS", 1)
    monkeypatch.setattr(passes, "BLOCK_BYTES", 100 * 64 * 8)
    results = []
    for threads in (1, 2):
        monkeypatch.setattr(passes, "blas_threads", lambda threads=threads: threads)
        data = passes.TrainSet(X, y, net.dtype, 1, None)
        grad = np.zeros_like(net.theta)
        full = passes.FullPass(net, data, huber, grad)
        assert full.blocked and len(full.blocks) == 30 and full.threads == threads
        results.append((full.run() + net.add_penalty_grad(grad, 1e-3, 1e-2), grad))
        full.close()
    (c1, g1), (c2, g2) = results
    assert np.array_equal(c1, c2) and np.array_equal(g1, g2)  # lanes, not threads, fix sums
    np.testing.assert_allclose(c1, plain_cost, rtol=1e-13)
    np.testing.assert_allclose(g1, plain, rtol=1e-11, atol=1e-15 * np.abs(plain).max())


def test_large_full_batch_training_uses_blocks_and_stays_close_to_plain(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(2048, 1))
    y = np.sin(2 * np.pi * X)
    s = settings(0.5, "gd", None, epochs=20)
    a = Network.create([1, 512, 1], activation="sigmoid", rng=np.random.default_rng(0))
    assert passes.MIN_ELEMENTS <= 2048 * 512  # this one goes in blocks
    train(a, X, y, settings=s)
    monkeypatch.setattr(passes, "MIN_ELEMENTS", 1 << 40)  # force the plain pass
    b = Network.create([1, 512, 1], activation="sigmoid", rng=np.random.default_rng(0))
    train(b, X, y, settings=s)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-12, atol=1e-14)
    start = Network.create([1, 512, 1], activation="sigmoid", rng=np.random.default_rng(0))
    assert not np.array_equal(a.theta, start.theta)


def test_history_rows_and_event_fields():
    X, y = sine()
    Xv, yv = sine(32, seed=2)
    net = Network.create([1, 6, 1], rng=np.random.default_rng(0))
    events = []
    [res] = train(net, X, y, Xv, yv, settings=settings(0.01, epochs=5), callbacks=[events.append])
    ev = events[-1]
    assert ev.epoch == 5 and ev.epochs == 5 and ev.active.tolist() == [True]
    assert ev.grad_norm.shape == (1, 2) and ev.val_loss.shape == (1,)
    assert res.history.epoch == [0, 1, 2, 3, 4, 5]
    assert res.history.val_loss[-1] == pytest.approx(float(ev.val_loss[0]))


@pytest.mark.parametrize(
    ("kw", "said"),
    [
        # a batch of −1 took no step and logged a loss of 0 every epoch, status ok
        ({"batch_size": -1}, "batch_size must be a whole number ≥ 1"),
        ({"epochs": 2.5}, "epochs must be a whole number ≥ 0"),
        ({"epochs": True}, "epochs must be a whole number ≥ 0"),
        ({"l2": -1.0}, "l2 must be a finite number ≥ 0"),
        ({"clip_norm": 0}, "clip_norm must be None or a finite number > 0"),
        ({"output_layer": "nope"}, 'output_layer must be "trained" or "lstsq"'),
        ({"output_every": 0}, "output_every must be None or a whole number ≥ 1"),
        ({"early_stopping": {"patiencee": 3}}, "early_stopping must be None or a dict"),
        ({"early_stopping": {"monitor": "foo"}}, 'early_stopping must be monitor "val" or'),
        # a negative lr trained uphill, status ok
        (
            {"optimizer": {"name": "adam", "lr": -0.1}},
            "optimizer must be a name or a dict whose lr",
        ),
    ],
)
def test_settings_that_would_train_silently_wrong_are_refused(kw, said):
    with pytest.raises(ValueError, match=f"TrainSettings.{said}"):
        TrainSettings(**kw)


def _tiny():
    net = Network.create([1, 4, 1], activation="tanh", rng=np.random.default_rng(0))
    X = np.linspace(0, 1, 20)[:, None]
    return net, X, np.sin(X)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (lambda X, y: (X, y[:10]), r"y must have shape \(20, 1\) as X has 20 rows, got \(10, 1\)"),
        (lambda X, y: (np.hstack([X, X]), y), r"X must have shape \(n, 1\), n ≥ 1, got \(20, 2\)"),
        (lambda X, y: (X, np.hstack([y, y])), r"y must have shape \(20, 1\).*got \(20, 2\)"),
        (lambda X, y: (X[:, :, None], y), r"X must have shape \(n, 1\).*\(20, 1, 1\)"),
        (lambda X, y: (X[:0], y[:0]), r"X must have shape \(n, 1\), n ≥ 1, got \(0, 1\)"),
        (lambda X, y: (X, y * np.nan), "y has values that are not finite"),
        (lambda X, y: (X.astype(str), y), r"X must be numbers, got text \(<U"),
        (lambda X, y: (X, None), r"y must have shape \(20, 1\).*got None"),
    ],
)
def test_train_refuses_arrays_that_do_not_fit_the_network(args, message):
    """Each of these failed deep in NumPy (a reshape, a product's core dimension) or, for
    NaN targets, trained until the run was called diverged; the strings were read as
    numbers."""
    net, X, y = _tiny()
    before = net.theta.copy()
    with pytest.raises(ValueError, match=message):
        train(net, *args(X, y), settings=TrainSettings(epochs=2))
    assert np.array_equal(net.theta, before)  # refused before any step


def test_train_checks_the_validation_arrays_and_takes_a_1d_column():
    net, X, y = _tiny()
    s = TrainSettings(epochs=2, early_stopping=None)
    with pytest.raises(ValueError, match=r"y_val must have shape \(5, 1\) as X_val has 5 rows"):
        train(net, X, y, X[:5], y[:4], settings=s)
    with pytest.raises(ValueError, match=r"X_val must have shape \(n, 1\).*\(20, 2\)"):
        train(net, X, y, np.hstack([X, X]), y, settings=s)
    # one input, one output: 1-D X and y are a column each, as predict takes them
    [r] = train(net, X[:, 0], y[:, 0], settings=s)
    assert r.status == "ok" and r.epochs == 2
    with pytest.raises(ValueError, match=r"X must have shape \(n, 1\), got \(20, 2\)"):
        net.predict(np.hstack([X, X]))
    with pytest.raises(ValueError, match="X must be numbers, got text"):
        net.predict(np.array(["0.1", "0.2"], dtype=object))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"optimizer": "adamm"}, r"^unknown optimizer 'adamm' \(allowed: gd, sgd"),
        ({"optimizer": {"lr": 0.1}}, r"^optimizer must be a name or a dict with its 'name'"),
        ({"optimizer": 3}, r"^optimizer must be a name or a dict.*got 3"),
        ({"optimizer": {"name": "adam", "beta3": 1}}, r"^optimizer 'adam' takes beta1.*beta3"),
        ({"loss": "mse2"}, r"^unknown loss 'mse2' \(allowed: mse, mae, huber\)"),
        ({"schedule": "cos"}, r"^unknown schedule 'cos' \(allowed: constant, step"),
        ({"schedule": {"name": "step", "gama": 0.5}}, r"^schedule 'step' takes step_size"),
    ],
)
def test_unknown_names_are_value_errors_before_training(settings, message):
    """An unknown schedule was a bare KeyError('cos') at the first epoch, after the
    first solve; the others were KeyErrors whose message came out quoted."""
    net, X, y = _tiny()
    before = net.theta.copy()
    with pytest.raises(ValueError, match=message):
        train(net, X, y, settings=TrainSettings(epochs=2, **settings))
    assert np.array_equal(net.theta, before)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"optimizer": "lm", "l1": 10.0},
            r"^lm does not use l1 \(it uses none of the training settings lr",
        ),
        ({"optimizer": "lm", "batch_size": 8}, "^lm does not use batch_size"),
        ({"optimizer": {"name": "lm", "lr": 5}}, "^lm does not use lr"),
        (
            {"optimizer": "lbfgs", "clip_norm": 1.0},
            r"^lbfgs does not use clip_norm \(of the training settings it uses only l1\)",
        ),
        ({"optimizer": "lbfgs", "schedule": "cosine"}, "^lbfgs does not use schedule"),
        ({"output_every": 2}, "output_every re-solves a least-squares output layer"),
        # l1 1e-3 and 10 ended on the same weights: the solved layer's L1 was a constant
        (
            {"optimizer": "lbfgs", "output_layer": "lstsq", "l1": 1e-3},
            r"^l1: not used by optimizer lbfgs with output_layer lstsq: variable projection",
        ),
    ],
)
def test_settings_the_method_would_ignore_are_refused(settings, message):
    """lm with l1 = 10 trained exactly as without it, and reported a loss without the
    penalty; the experiment file refused the same settings, the engine took them."""
    net, X, y = _tiny()
    with pytest.raises(ValueError, match=message):
        train(net, X, y, settings=TrainSettings(epochs=2, **settings))
    [r] = train(net, X, y, settings=TrainSettings(epochs=2, optimizer="lm"))  # defaults: fine
    assert r.status in ("ok", "converged")


def test_assigning_theta_sets_the_weights_that_predict_and_train_read():
    """A new array assigned to theta left the layer views on the old one: predict gave
    the old network's output and training changed nothing visible."""
    a, X, _ = _tiny()
    b = Network.create([1, 4, 1], activation="tanh", rng=np.random.default_rng(1))
    a.theta = b.theta.copy()
    assert np.array_equal(a.predict(X), b.predict(X))
    with pytest.raises(ValueError, match=r"theta must have shape \(1, 13\), got \(3,\)"):
        a.theta = np.zeros(3)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda X: X + 1j * X, "X must be real numbers, got complex128"),
        (lambda X: np.ma.masked_array(X, mask=X > 0.5), "X has masked entries"),
        (lambda X: X.astype("datetime64[D]"), r"X must be real numbers, got datetime64\[D\]"),
    ],
)
def test_values_a_cast_would_change_are_refused(make, message):
    """The imaginary part was dropped with a warning, masked entries trained on, dates
    became day counts."""
    net, X, y = _tiny()
    with pytest.raises(ValueError, match=message):
        train(net, make(X), y, settings=TrainSettings(epochs=2))
    with pytest.raises(ValueError, match=message):
        net.predict(make(X))


def test_settings_read_loosely_before_are_refused():
    net, X, y = _tiny()
    with pytest.raises(ValueError, match="give X_val and y_val together, or neither"):
        train(net, X, y, y_val=y, settings=TrainSettings(epochs=2))  # was: no validation
    with pytest.raises(ValueError, match="restore_best must be True or False, got 'no'"):
        TrainSettings(restore_best="no")  # was: taken as True
    with pytest.raises(ValueError, match="l2 must be a finite number"):
        TrainSettings(l2=np.complex128(1 + 1j))  # was: trained, with ComplexWarnings


def test_rngs_and_callbacks_are_checked_and_one_callback_may_stand_alone():
    """rngs=[0] failed in the shuffle (no attribute 'permutation'), a bare function as
    callbacks was 'not iterable', [None] 'not callable' at the first epoch."""
    net, X, y = _tiny()
    s = TrainSettings(epochs=3, early_stopping=None)
    with pytest.raises(ValueError, match=r"rngs must be a numpy Generator.*got \[0\]"):
        train(net, X, y, settings=s, rngs=[0])
    with pytest.raises(ValueError, match="callbacks must be functions of the epoch"):
        train(net, X, y, settings=s, callbacks=[None])
    seen = []
    [r] = train(net, X, y, settings=s, callbacks=lambda ev: seen.append(ev.epoch))
    assert r.epochs == 3 and seen == [1, 2, 3]


def test_a_callback_that_returns_a_number_or_a_loss_is_refused():
    """Its return was read by truthiness: returning the loss stopped at the first epoch
    (status 'callback') whenever it was not exactly 0."""
    X, y = sine()
    net = Network.create([1, 8, 1], rng=np.random.default_rng(0))
    for wrong in (lambda ev: ev.train_loss, lambda ev: 1, lambda ev: "stop"):
        with pytest.raises(TypeError, match="a callback returns None, True or False, or 1 bools"):
            train(net, X, y, settings=settings(0.01, epochs=5), callbacks=[wrong])
    [res] = train(
        net, X, y, settings=settings(0.01, epochs=5), callbacks=[lambda ev: ev.train_loss < 1e9]
    )
    assert res.stop_reason == "callback" and res.epochs == 1


def test_a_ctrl_c_between_two_columns_of_a_history_row_drops_that_row(monkeypatch):
    # the interrupt landed after epoch and train_loss were appended, before the rest:
    # history.csv's zip(strict=True) failed and the interrupted run was a traceback
    from nnfit.engine import loop
    from nnfit.experiment.rundir import history_csv

    append = loop.History.append

    def cut(self, epoch, train_loss, *rest, **extra):
        if epoch == 3:
            self.epoch.append(epoch)
            self.train_loss.append(float(train_loss))
            raise KeyboardInterrupt
        append(self, epoch, train_loss, *rest, **extra)

    monkeypatch.setattr(loop.History, "append", cut)
    net, X, y = _tiny()
    [r] = train(net, X, y, settings=TrainSettings(epochs=10, batch_size=20))
    assert r.status == "interrupted"
    assert r.history.epoch == [0, 1, 2] and len(r.history.wall_s) == 3
    assert history_csv(r.history.columns()).count(b"\n") == 4  # a header, three whole rows
