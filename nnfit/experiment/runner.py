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
from nnfit.engine.loop import EpochInfo, TrainSettings, train
from nnfit.engine.network import Network
from nnfit.experiment import data as data_mod
from nnfit.experiment.config import Experiment
from nnfit.experiment.metrics import errors, weight_stats

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
    rec.error = f"{type(exc).__name__}: {exc}"
    rec.traceback = traceback.format_exc()
    return rec


def failed_record(exp: Experiment, exc: BaseException) -> RunRecord:
    """The record of a run that could not be trained (a sweep records it and goes on)."""
    return _fail(
        RunRecord(exp.name, exp.run_id(), exp.run_config(), exp.config_hash(), "ok", ""), exc
    )


def settings_of(exp: Experiment) -> TrainSettings:
    t = exp.training
    es = t.early_stopping
    return TrainSettings(
        loss=t.loss,
        optimizer=t.optimizer.name,
        optimizer_params=t.optimizer.params(),
        lr=t.optimizer.lr,
        schedule=t.schedule.name,
        schedule_params=t.schedule.params(),
        batch_size=None if t.batch_size == "full" else t.batch_size,
        epochs=t.epochs,
        l1=t.l1,
        l2=t.l2,
        clip_norm=t.clip_norm,
        patience=es.patience if es else None,
        min_delta=es.min_delta if es else 0.0,
        monitor=es.monitor if es else "val",
    )


def _spec(a):
    return a if isinstance(a, str) else {"name": a.name, **a.params()}


def build_network(exp: Experiment) -> Network:
    m = exp.model
    act = (
        [_spec(a) for a in m.activation] if isinstance(m.activation, list) else _spec(m.activation)
    )
    init, init_params = (
        (m.init, None) if isinstance(m.init, str) else (m.init.name, m.init.params())
    )
    return Network.create(
        exp.sizes(),
        activation=act,
        output=_spec(m.output),
        init=init,
        init_params=init_params,
        bias=m.bias,
        rng=np.random.default_rng(exp.training.seed),
        dtype=exp.training.dtype,
    )


def model_arrays(net: Network, scaler) -> dict:
    out: dict = {}
    for l, (W, b) in enumerate(net.params()):
        out[f"W{l}"] = W.copy()
        out[f"b{l}"] = b.copy()
    out["meta"] = {**net.meta(), "scale_y": scaler.to_json()}
    return out


def predict_unscaled(net: Network, scaler, X: Array) -> Array:
    return scaler.inverse(net.predict(X).astype(float)[:, 0])


def execute(
    exp: Experiment, callback=None, data: data_mod.Dataset | None = None, plots: bool = True
) -> RunRecord:
    """Train one experiment and measure it.

    ``callback(info)`` is called after every epoch (see :func:`nnfit.train.train`). Errors
    while building the data are raised (they are bad input); errors later are caught and
    returned as ``status="failed"`` so that a sweep can go on.
    """
    ds = data if data is not None else data_mod.build(exp)
    rec = RunRecord(exp.name, exp.run_id(), exp.run_config(), exp.config_hash(), "ok", "")
    try:
        net = build_network(exp)
        rec.n_params = net.n_params
        sc = ds.scaler
        eps = exp.training.epsilon
        reached: list[int] = []

        def meets_epsilon(model: Network) -> bool:
            g = predict_unscaled(model, sc, ds.X_test)
            return float(np.max(np.abs(g - ds.F_test))) < eps

        def on_epoch(info: EpochInfo):
            if eps is not None and not reached and meets_epsilon(info.network):
                reached.append(info.epoch)
            return callback(info) if callback is not None else None

        if eps is not None and meets_epsilon(net):
            reached.append(0)
        res = train(
            net,
            ds.X_train,
            sc.forward(ds.y_train),
            ds.X_val,
            sc.forward(ds.y_val),
            settings=settings_of(exp),
            rng=np.random.default_rng(exp.training.seed + 1),
            callback=on_epoch,
        )
        _measure(rec, net, res, ds, reached)
    except Exception as exc:  # a failing point must not stop a sweep
        _fail(rec, exc)
    _finish(rec, exp, ds, plots)
    return rec


def _measure(rec: RunRecord, net: Network, res, ds, reached=()) -> None:
    """Fill a record from a finished training: status, history, errors, weights."""
    sc = ds.scaler
    rec.status, rec.stop_reason = res.status, res.stop_reason
    rec.epochs, rec.best_epoch, rec.steps, rec.wall_s = (
        res.epochs,
        res.best_epoch,
        res.steps,
        res.wall_s,
    )
    rec.history = res.history.columns()
    rec.epsilon_reached_epoch = reached[0] if reached else None
    rec.metrics = {
        "train": errors(predict_unscaled(net, sc, ds.X_train), ds.F_train),
        "val": errors(predict_unscaled(net, sc, ds.X_val), ds.F_val),
        "test": errors(predict_unscaled(net, sc, ds.X_test), ds.F_test),
        "weights": weight_stats(net.theta[: net.n_weights]),
    }
    test = rec.metrics["test"]
    if rec.status == "ok" and not (math.isfinite(test["mse"]) and math.isfinite(test["max_abs"])):
        rec.status = rec.stop_reason = "diverged"
    rec.model = model_arrays(net, sc)


def _finish(rec: RunRecord, exp: Experiment, ds, plots: bool) -> None:
    rec.data = {"X_train": ds.X_train, "y_train": ds.y_train, "X_val": ds.X_val, "y_val": ds.y_val}
    if plots and rec.model:
        from nnfit.experiment import plots as plots_mod  # matplotlib only where figures are drawn

        rec.figures, rec.warnings = plots_mod.render(exp, rec, ds)


def stackable(exp: Experiment) -> bool:
    """Whether runs of this config that differ only in training.seed can share a stack."""
    from nnfit.engine.stack import supported

    t = exp.training
    return t.epsilon is None and supported(settings_of(exp))


def execute_stack(exps: list[Experiment], plots: bool = True) -> list[RunRecord]:
    """Train runs that differ only in ``training.seed`` together (:mod:`nnfit.ensemble`).

    Each run ends with the weights, history and metrics it would have alone; ``wall_s``
    is the stack's time shared equally.
    """
    from nnfit.engine.stack import train_stack

    ds = data_mod.build(exps[0])
    recs = [RunRecord(e.name, e.run_id(), e.run_config(), e.config_hash(), "ok", "") for e in exps]
    try:
        nets = [build_network(e) for e in exps]
        sc = ds.scaler
        results = train_stack(
            nets,
            ds.X_train,
            sc.forward(ds.y_train),
            ds.X_val,
            sc.forward(ds.y_val),
            settings_of(exps[0]),
            [np.random.default_rng(e.training.seed + 1) for e in exps],
        )
        for rec, net, res in zip(recs, nets, results, strict=True):
            rec.n_params = net.n_params
            _measure(rec, net, res, ds)
            rec.wall_s = res.wall_s / len(exps)
    except Exception as exc:
        for rec in recs:
            _fail(rec, exc)
    for rec, e in zip(recs, exps, strict=True):
        _finish(rec, e, ds, plots)
    return recs
