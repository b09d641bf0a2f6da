"""One experiment from validated config to a :class:`RunRecord`: data, network, training,
metrics. Nothing here writes files, so the same function runs in a local worker or on a
Dask worker; :mod:`nnfit.results` writes what it returns.
"""

from __future__ import annotations

import math
import platform
import traceback
from dataclasses import dataclass, field

import numpy as np

import nnfit
from nnfit.engine import seeds
from nnfit.engine.loop import EpochEvent, TrainSettings
from nnfit.engine.losses import LOSSES
from nnfit.engine.network import Network
from nnfit.engine.optimizers import OPTIMIZERS
from nnfit.engine.train import train
from nnfit.experiment import baselines
from nnfit.experiment import data as data_mod
from nnfit.experiment.config import Experiment
from nnfit.experiment.metrics import errors, rms, weight_stats

Array = np.ndarray


@dataclass
class RunRecord:
    """Everything one run produced, as plain picklable data."""

    name: str
    run_id: str
    config: dict
    config_hash: str
    status: str
    stop_reason: str
    epochs: int = 0
    best_epoch: int = 0
    steps: int = 0
    wall_s: float = 0.0
    n_params: int = 0
    metrics: dict = field(default_factory=dict)
    epsilon_reached_epoch: int | None = None
    history: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)  # W0, b0, … and meta
    data: dict = field(default_factory=dict)  # X_train, y_train, X_val, y_val
    error: str | None = None
    traceback: str | None = None
    figures: dict = field(default_factory=dict)  # file name -> PNG bytes
    warnings: list = field(default_factory=list)

    def metrics_json(self) -> dict:
        seed = self.config["training"]["seed"]
        return {
            "name": self.name,
            "run_id": self.run_id,
            "status": self.status,
            "stop_reason": self.stop_reason,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "steps": self.steps,
            "wall_s": self.wall_s,
            "n_params": self.n_params,
            **{k: self.metrics.get(k) for k in ("train", "val", "test", "weights")},
            "baselines": self.metrics.get("baselines", {}),
            "epsilon": self.config["training"].get("epsilon"),
            "epsilon_reached_epoch": self.epsilon_reached_epoch,
            "config_hash": self.config_hash,
            "seed": seed,
            "versions": {
                "nnfit": nnfit.__version__,
                "numpy": np.__version__,
                "python": platform.python_version(),
            },
            "error": self.error,
        }


def _fail(rec: RunRecord, exc: BaseException) -> RunRecord:
    rec.status, rec.stop_reason = "failed", "error"
    rec.error = f"{type(exc).__name__}: {str(exc).strip()}"
    rec.traceback = traceback.format_exc()
    return rec


def failed_record(exp: Experiment, exc: BaseException) -> RunRecord:
    """The record of a run that could not be trained (a sweep records it and goes on)."""
    return _fail(
        RunRecord(exp.name, exp.run_id(), exp.run_config(), exp.config_hash(), "ok", ""), exc
    )


def settings_of(exp: Experiment, factor: float = 1.0) -> TrainSettings:
    """The engine's settings: the ``training`` section as it is, names as specs."""
    return settings_from(exp.training, factor)


def settings_from(t, factor: float = 1.0) -> TrainSettings:
    """:func:`settings_of` for a validated ``TrainingConfig`` on its own. ``factor``
    (:func:`loss_factor`) takes losses from the scaled units training sees to F's: a
    file's ``min_delta`` is in F's units, those of history.csv, and the engine compares
    scaled losses, so it gets min_delta / factor."""
    cfg = t.model_dump(mode="json")
    cfg.update(loss=t.loss.spec(), optimizer=t.optimizer.spec(), schedule=t.schedule.spec())
    es = cfg.get("early_stopping")
    if es is not None:
        es["min_delta"] = es["min_delta"] / factor
    return TrainSettings.from_config(cfg)


def streams(seed: int) -> tuple[np.random.Generator, ...]:
    """Independent generators for one seed: initial weights, shuffles, baselines."""
    return tuple(seeds.streams(seed, seeds.TRAINING, 3))


def _spec(a):
    return a if isinstance(a, str) else a.spec()


def build_network(exps: Experiment | list[Experiment]) -> Network:
    """The initialised network of one experiment, or the stack of several that differ
    only in their seed (one model each, drawn from each one's own stream)."""
    exps = exps if isinstance(exps, list) else [exps]
    m = exps[0].model
    act = (
        [_spec(a) for a in m.activation] if isinstance(m.activation, list) else _spec(m.activation)
    )
    return Network.create(
        exps[0].sizes(),
        activation=act,
        output=_spec(m.output),
        init=_spec(m.init),
        bias=m.bias,
        rng=[streams(e.training.seed)[0] for e in exps],
        dtype=exps[0].training.dtype,
    )


def model_arrays(net: Network, scaler, k: int = 0) -> dict:
    return {**net.arrays(k), "meta": {**net.meta(), "scale_y": scaler.to_json()}}


def predict_unscaled(net: Network, scaler, X: Array) -> Array:
    """g(X) in F's units for every model, (K, n). A diverged model's values may
    overflow: its metrics say so (not finite), NumPy's warnings would only repeat it."""
    with np.errstate(over="ignore", invalid="ignore"):
        return scaler.inverse(net.predict(X).astype(float)[:, :, 0])


class EpsilonWatch:
    """Records, per model, the first epoch whose sup error on the test set is below ε.

    The sup over a few points is a lower bound of the sup over all of them, so each
    epoch evaluates only a small watch set: a spread of test points at first, then the
    worst points of the last full evaluation. The whole test set is evaluated only in
    epochs where the watch set is already below ε, so the epoch found is exact.
    """

    WATCH = 128

    def __init__(self, eps: float, ds: data_mod.Dataset, k: int):
        self.eps, self.ds = eps, ds
        step = max(1, len(ds.X_test) // self.WATCH)
        self.watch = [np.arange(0, len(ds.X_test), step)[: self.WATCH]] * k
        self.reached: list[int | None] = [None] * k

    def _errors(self, net: Network, X, F) -> Array:
        return np.abs(predict_unscaled(net, self.ds.scaler, X) - F)

    def check(self, net: Network, epoch: int, models) -> None:
        todo = [k for k in models if self.reached[k] is None]
        if not todo:
            return
        ds = self.ds
        idx = np.unique(np.concatenate([self.watch[k] for k in todo]))
        near = self._errors(net, ds.X_test[idx], ds.F_test[idx])
        close = [k for k in todo if np.max(near[k][np.searchsorted(idx, self.watch[k])]) < self.eps]
        if not close:
            return
        full = self._errors(net, ds.X_test, ds.F_test)
        for k in close:
            if np.max(full[k]) < self.eps:
                self.reached[k] = epoch
            else:  # watch where this model is worst
                self.watch[k] = np.argpartition(full[k], -self.WATCH)[-self.WATCH :]

    def __call__(self, ev: EpochEvent) -> None:
        self.check(ev.net, ev.epoch, np.flatnonzero(ev.active))


@dataclass(frozen=True)
class ModelEpoch:
    """One model's view of an epoch, in plain numbers, for a progress display."""

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    lr: float
    wall_s: float

    @classmethod
    def of(cls, ev: EpochEvent, k: int = 0, factor: float = 1.0) -> ModelEpoch:
        loss, val = float(ev.train_loss[k]) * factor, float(ev.val_loss[k]) * factor
        return cls(ev.epoch, ev.epochs, loss, val, ev.lr, ev.wall_s)


def loss_factor(loss: str, scaler) -> float:
    """From the network's scaled units to F's, for the loss ``loss``.

    Training sees y scaled to (y − shift)/scale, so a loss of degree p
    (:class:`~nnfit.engine.losses.Loss`) is ``scale``^p times smaller than in F's units:
    an mse ``scale²`` times, an mae ``scale`` times. Huber's δ is in scaled units; as
    ρ_{sδ}(s·r) = s²·ρ_δ(r), ``scale²`` times the scaled loss is Huber's in F's units with
    δ·scale. A loss of unknown degree stays in the scaled units (factor 1).
    """
    degree = LOSSES[loss].degree
    return 1.0 if degree is None else scaler.scale**degree


def _progress(callback, factor: float):
    """Adapt a one-model progress callback to the loop's event, losses in F's units."""
    return lambda ev: callback(ModelEpoch.of(ev, 0, factor))


def stackable(exp: Experiment) -> bool:
    """Whether runs of this config that differ only in training.seed can share a stack."""
    return OPTIMIZERS[exp.training.optimizer.name].stackable


def execute(
    exp: Experiment, callback=None, data: data_mod.Dataset | None = None, plots: bool = True
) -> RunRecord:
    """Train one experiment and measure it.

    ``callback(info)`` is called after every epoch with the epoch, the train and val loss,
    the learning rate and the time. Errors while building the data are raised (they are
    bad input); errors later are caught and returned as ``status="failed"`` so that a
    sweep can go on.
    """
    return execute_stack([exp], data=data, plots=plots, callback=callback)[0]


def execute_stack(
    exps: list[Experiment],
    plots: bool = True,
    data: data_mod.Dataset | None = None,
    callback=None,
) -> list[RunRecord]:
    """Train runs that differ only in ``training.seed`` together, as one stack.

    Each run ends with the weights, history and metrics it would have alone; ``wall_s``
    is the stack's time shared equally.
    """
    ds = data if data is not None else data_mod.build(exps[0])
    recs = [RunRecord(e.name, e.run_id(), e.run_config(), e.config_hash(), "ok", "") for e in exps]
    try:
        net = build_network(exps)
        sc = ds.scaler
        watch = None
        factor = loss_factor(exps[0].training.loss.name, sc)
        callbacks = [_progress(callback, factor)] if callback is not None else []
        eps = exps[0].training.epsilon
        if eps is not None:
            watch = EpsilonWatch(eps, ds, len(exps))
            watch.check(net, 0, range(len(exps)))
            callbacks.insert(0, watch)
        results = train(
            net,
            ds.X_train,
            sc.forward(ds.y_train),
            ds.X_val,
            sc.forward(ds.y_val),
            settings=settings_of(exps[0], factor),
            rngs=[streams(e.training.seed)[1] for e in exps],
            callbacks=callbacks,
        )
        shared: dict = {}
        for k, (rec, res, e) in enumerate(zip(recs, results, exps, strict=True)):
            rec.n_params = net.n_params
            _measure(rec, net, k, res, ds, watch.reached[k] if watch else None)
            rec.wall_s = res.wall_s / len(exps)
            rec.metrics["baselines"] = _baselines(e, ds, shared)
    except Exception as exc:  # a failing point must not stop a sweep
        for rec in recs:
            _fail(rec, exc)
    for rec, e in zip(recs, exps, strict=True):
        _finish(rec, e, ds, plots)
    return recs


def _baselines(exp: Experiment, ds, shared: dict) -> dict:
    """The run's baselines; those that do not depend on the seed are fitted once a stack."""
    from threadpoolctl import threadpool_limits

    seeded = [n for n in exp.baselines if n == "random_features"]
    fixed = [n for n in exp.baselines if n not in seeded and n not in shared]
    # small dense factorisations: one BLAS thread is fastest, and never stalls on a busy
    # machine the way spinning threads do
    with threadpool_limits(limits=1, user_api="blas"):
        shared.update(baselines.fit_all(exp, ds, fixed, None))
        out = {n: shared[n] for n in exp.baselines if n in shared}
        out.update(baselines.fit_all(exp, ds, seeded, streams(exp.training.seed)[2]))
    return {n: out[n] for n in exp.baselines}


def _measure(rec: RunRecord, net: Network, k: int, res, ds, reached: int | None) -> None:
    """Fill a record from model k's finished training: status, history, errors, weights."""
    sc = ds.scaler
    rec.status, rec.stop_reason = res.status, res.stop_reason
    rec.epochs, rec.best_epoch, rec.steps, rec.wall_s = (
        res.epochs,
        res.best_epoch,
        res.steps,
        res.wall_s,
    )
    rec.history = res.history.columns()
    factor = loss_factor(rec.config["training"]["loss"]["name"], sc)
    for key in ("train_loss", "val_loss"):  # in F's units, as every other figure
        rec.history[key] = [None if v is None else v * factor for v in rec.history[key]]
    rec.epsilon_reached_epoch = reached
    one = net.model(k)
    size = rms(ds.F_train)  # what F's size is, for a set on which F is zero to rounding
    rec.metrics = {
        "train": errors(predict_unscaled(one, sc, ds.X_train)[0], ds.F_train, size),
        "val": errors(predict_unscaled(one, sc, ds.X_val)[0], ds.F_val, size),
        "test": errors(predict_unscaled(one, sc, ds.X_test)[0], ds.F_test, size),
        "weights": weight_stats(one.theta[0][one.weight_mask > 0]),
    }
    test = rec.metrics["test"]
    if rec.status == "ok" and not (math.isfinite(test["mse"]) and math.isfinite(test["max_abs"])):
        rec.status = rec.stop_reason = "diverged"
    rec.model = model_arrays(one, sc)


def _finish(rec: RunRecord, exp: Experiment, ds, plots: bool) -> None:
    rec.data = {"X_train": ds.X_train, "y_train": ds.y_train, "X_val": ds.X_val, "y_val": ds.y_val}
    if plots and rec.model:
        rec.figures, rec.warnings = draw_figures(exp, rec, ds)


def draw_figures(exp: Experiment, rec: RunRecord, ds) -> tuple[dict[str, bytes], list[str]]:
    """The run's figures as PNG bytes, and warnings: a matplotlib that cannot even be
    imported (``MPLBACKEND=foo``) costs the figures, never the run."""
    try:
        from nnfit.experiment import plots as plots_mod  # matplotlib only where drawn
    except Exception as exc:
        return {}, [f"figures not drawn: matplotlib failed to load: {type(exc).__name__}: {exc}"]
    return plots_mod.render(exp, rec, ds)
