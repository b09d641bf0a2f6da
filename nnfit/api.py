"""nnfit from Python: run an experiment, sweep it over widths and seeds, load a saved run.

::

    import nnfit

    run = nnfit.run({"target": {"expr": "sin(2*pi*x)"}, "training": {"epochs": 300}})
    run.metrics["test"]["rmse"]       # the numbers of metrics.json
    fig = run.fit_figure()            # a matplotlib Figure; pyplot is never touched

A config is a path to an experiment file, a dict with the file's keys, or a validated
:class:`~nnfit.experiment.config.Experiment`. It goes through the validation of ``nnfit
run``; bad input raises :class:`~nnfit.experiment.yamlfile.ConfigError`, whose ``file``,
``line``, ``key``, ``allowed`` and ``given`` say what is wrong. Nothing is written unless
``out`` is given; then the folders are those ``nnfit run/sweep --out OUT`` writes, and
the numbers are bit-identical to theirs.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nnfit.experiment import config as config_mod
from nnfit.experiment import rundir
from nnfit.experiment.shield import Interrupted
from nnfit.experiment.yamlfile import (
    ConfigError,
    Located,
    Override,
    Problem,
    outer_first,
    plain_data,
    set_path,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from nnfit.engine.network import Network
    from nnfit.experiment.config import Experiment
    from nnfit.experiment.data import Dataset
    from nnfit.experiment.runner import RunRecord

Array = np.ndarray
Overrides = Mapping[str, Any] | Iterable[str | tuple[str, Any]]

#: the figures of a run, by the names the figure methods take
FIGURES = ("fit", "loss", "gradients")


# ------------------------------------------------------------------------ configs


def _pairs(overrides: Overrides) -> list[tuple[str, Any]]:
    """``{"training.epochs": 100}``, ``["training.epochs=100"]`` or pairs → (key, value)."""
    from nnfit.experiment.yamlfile import check_once, parse_set

    if isinstance(overrides, str):
        overrides = [overrides]
    if isinstance(overrides, bytes) or not isinstance(overrides, Mapping | Iterable):
        forms = "a mapping {key: value} or a list of 'key=value' strings or (key, value) pairs"
        raise _refused("overrides", forms, overrides, f"must be {forms}, got {overrides!r}")
    items = overrides.items() if isinstance(overrides, Mapping) else overrides
    pairs = []
    for item in items:
        if isinstance(item, str):
            pairs.append(parse_set(item, lambda key, item=item: f"overrides[{item!r}]"))
            continue
        if not (isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str)):
            forms = "'key=value' or a (key, value) pair"
            raise _refused("overrides", forms, item, f"each entry must be {forms}, got {item!r}")
        key = item[0]
        pairs.append((key, plain_data(item[1], f"overrides[{key!r}]", key=key)))
    check_once(pairs, lambda key: f"overrides[{key!r}]")
    return pairs


def _read(config, overrides: Overrides) -> tuple[dict, Located]:
    """The plain data of any accepted config, with its line map (lines for files only)."""
    if isinstance(config, str | os.PathLike):
        data, loc = config_mod.load_raw(config)
    elif isinstance(config, config_mod.Experiment):
        data, loc = config.model_dump(mode="json"), Located("<Experiment>")
    elif isinstance(config, Mapping):
        data, loc = plain_data(dict(config), ""), Located("<config>")
    else:  # one exception type for every config problem, as the docstring says
        raise ConfigError(
            [f"config: expected a path, a dict or an Experiment, got {type(config).__name__}"]
        )
    pairs = _pairs(overrides)
    if pairs and isinstance(data, dict):
        loc.baseline = copy.deepcopy(data)
        for key, value, given in outer_first(pairs):
            where = f"overrides[{given!r}]"
            set_path(data, key, value, where)
            loc.overrides.append(Override(tuple(key.split(".")), where, value=value, given=given))
    return data, loc


def experiment(config, overrides: Overrides = ()) -> Experiment:
    """The validated config (every default filled in) of a path, dict or Experiment."""
    return _experiment(config, overrides)[0]


def _experiment(config, overrides: Overrides) -> tuple[Experiment, Located]:
    if isinstance(config, config_mod.Experiment) and not overrides:
        return config, Located("<Experiment>")
    data, loc = _read(config, overrides)
    return config_mod.from_dict(data, loc.source, loc), loc


def _dataset(exp: Experiment, loc: Located) -> Dataset:
    """The run's data; a target that cannot be evaluated is bad input, like in the CLI."""
    from nnfit.experiment import data as data_mod

    try:
        return data_mod.build(exp)
    except data_mod.DataError as exc:
        key, given = exc.located(exp)
        line = loc.lines.get(tuple(key.split(".")))
        where = f"{loc.source}:{line}" if line else loc.source
        problem = Problem(f"{where}: {key}: {exc}", loc.source, line, key, None, given, str(exc))
        raise ConfigError([problem]) from None


# ------------------------------------------------------------------------ models


class Model:
    """A trained network that predicts in F's units: what :func:`load` returns.

    Attributes
    ----------
    network : Network
        The engine's network (one model); it sees y scaled by ``meta["scale_y"]``.
    meta : dict
        Sizes, activations, output, dtype and the ``scale_y`` parameters.
    config, metrics : dict or None
        The run's resolved config and metrics, when known.
    """

    def __init__(self, network: Network, meta: dict, config=None, metrics=None, path=None):
        self.network, self.meta = network, meta
        self.config, self.metrics, self.path = config, metrics, path

    @property
    def dim(self) -> int:
        return int(self.meta["sizes"][0])

    def predict(self, X) -> Array:
        """g(X) in F's units, shape (n,), for X of shape (n, d) ((n,) when d = 1)."""
        from nnfit.engine.network import numbers

        X = numbers(X, float)
        if X.ndim == 1 and self.dim == 1:
            X = X[:, None]
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(
                f"X must have shape (n, {self.dim}) for this {self.dim}-D model, got {X.shape}"
            )
        bad = ~np.isfinite(X).all(axis=1)
        if bad.any():
            raise ValueError(f"X has values that are not finite (row {int(np.argmax(bad))})")
        return rundir.predict(self.network, self.meta, X)

    def __repr__(self) -> str:
        arch = "-".join(map(str, self.meta["sizes"]))
        acts = "/".join(dict.fromkeys(json.dumps(a) for a in self.meta["activations"]))
        where = f", {self.path}" if self.path else ""
        return f"Model({arch}, {acts.replace(chr(34), '') or 'linear'}{where})"


class NotAPathError(rundir.ResultsError, TypeError):
    """A run folder given as something other than a path: a TypeError, as Python's own
    calls raise for an argument of the wrong type, and the ResultsError load documents."""


def load(run_dir: str | os.PathLike) -> Model:
    """The trained model of a run folder (written by ``nnfit run`` or :func:`run`).

    Raises :class:`~nnfit.experiment.rundir.ResultsError` when the folder holds no model,
    or is not whole (a run interrupted before its files were written, a file changed
    since): the check ``nnfit predict`` makes; a TypeError (also a ResultsError) when
    ``run_dir`` is not a path.
    """
    if not isinstance(run_dir, str | os.PathLike):
        raise NotAPathError(f"load needs a run folder's path, got {run_dir!r}")
    metrics = rundir.require_done(Path(run_dir))
    net, meta = rundir.load_model(Path(run_dir))
    cfg = rundir.read_config(Path(run_dir))
    return Model(net, meta, cfg, metrics, Path(run_dir))


# ------------------------------------------------------------------------ one run


class Run:
    """One finished run: the trained model, its metrics, history and figures.

    Attributes
    ----------
    experiment : Experiment
        The validated config.
    record : RunRecord
        Everything the run produced, as the CLI writes it.
    data : Dataset
        The training, validation and test points (in F's units).
    run_dir : Path or None
        The run folder, when ``out`` was given and this run is in it (None when it failed
        or was interrupted and the folder's finished run was kept).
    """

    def __init__(self, exp: Experiment, record: RunRecord, data: Dataset, run_dir=None):
        self.experiment, self.record, self.data, self.run_dir = exp, record, data, run_dir
        self._model: Model | None = None

    @property
    def status(self) -> str:
        """ok, diverged or interrupted."""
        return self.record.status

    @property
    def stop_reason(self) -> str:
        return self.record.stop_reason

    @property
    def config(self) -> dict:
        """The resolved config (config.yaml)."""
        return self.record.config

    @property
    def metrics(self) -> dict:
        """The contents of metrics.json (NaN and inf as None); a run written to a folder
        also records there the size and checksum of its other files."""
        if self.run_dir is not None:
            return json.loads((self.run_dir / "metrics.json").read_text())
        return json.loads(rundir.json_text(self.record.metrics_json()))

    @property
    def history(self) -> list[dict]:
        """One record per epoch (row 0 is the untrained network): the rows of history.csv,
        e.g. ``{"epoch": 1, "train_loss": …, "val_loss": …, "lr": …, "grad_norm_0": …}``."""
        cols = self.record.history
        return [dict(zip(cols, row, strict=True)) for row in zip(*cols.values(), strict=True)]

    @property
    def model(self) -> Model:
        """The trained model (predicts in F's units)."""
        if self._model is None:
            from nnfit.engine.network import Network

            meta = self.record.model["meta"]
            layers = [
                (self.record.model[f"W{l}"], self.record.model[f"b{l}"])
                for l in range(len(meta["sizes"]) - 1)
            ]
            self._model = Model(
                Network.from_arrays(meta, layers), meta, self.config, self.metrics, self.run_dir
            )
        return self._model

    @property
    def network(self) -> Network:
        return self.model.network

    def predict(self, X) -> Array:
        """g(X) in F's units: see :meth:`Model.predict`."""
        return self.model.predict(X)

    def figure(self, name: str) -> Figure:
        """``"fit"``, ``"loss"`` or ``"gradients"``: a new Figure on its own Agg canvas."""
        if name not in FIGURES:
            raise ValueError(f"no figure {name!r}; there are {', '.join(FIGURES)}")
        from nnfit.experiment import plots

        return plots.figure(f"{name}.png", self.experiment, self.record, self.data)

    def fit_figure(self) -> Figure:
        """F against g: a curve (d = 1), heat maps (d = 2), slices (d > 2); with the error."""
        return self.figure("fit")

    def loss_figure(self) -> Figure:
        """Train and validation loss per epoch, log scale."""
        return self.figure("loss")

    def gradients_figure(self) -> Figure:
        """The gradient norm of each layer per epoch."""
        return self.figure("gradients")

    def figures(self) -> dict[str, Figure]:
        return {name: self.figure(name) for name in FIGURES}

    def __repr__(self) -> str:
        test = (self.record.metrics or {}).get("test") or {}
        rmse = test.get("rmse")
        err = f", test rmse {rmse:.3g}" if isinstance(rmse, float) else ""
        return (
            f"Run({self.record.name}/{self.record.run_id}: {self.status}, "
            f"{self.record.epochs} epochs{err})"
        )


def run(
    config,
    out: str | os.PathLike | None = None,
    *,
    overrides: Overrides = (),
    callback: Callable | None = None,
) -> Run:
    """Train one experiment; the Python form of ``nnfit run``.

    Parameters
    ----------
    config : path, dict or Experiment
        The experiment (the file's keys; ``target`` is required).
    out : path, optional
        Results root: write the run folder ``out/<name>/<run-id>/`` as ``nnfit run --out``
        does. Without it nothing is written.
    overrides : dict or list
        Dotted keys set on top of ``config``, like ``--set``: ``{"training.epochs": 100}``.
    callback : callable, optional
        Called after every epoch with an object holding ``epoch``, ``epochs``,
        ``train_loss``, ``val_loss``, ``lr`` and ``wall_s``; returning True stops.

    Raises
    ------
    ConfigError
        Bad input, with ``file``, ``line``, ``key``, ``allowed`` and ``given``.
    RuntimeError
        Training failed (the run folder is written first when ``out`` is given). An
        exception raised by ``callback`` reaches the caller as it was raised, after the
        run folder is written.
    Interrupted
        Ctrl-C (a KeyboardInterrupt), after the run folder is written: ``.result`` is
        the Run of the epochs that finished.
    """
    from nnfit.experiment import runner
    from nnfit.sweep import workers

    workers.leave_if_starting_worker()  # an unguarded script, run again by a worker
    _check_out(out)
    _check_callback(callback)
    exp, loc = _experiment(config, overrides)
    config_mod.refuse_sweep(loc, "run() does not sweep; give it to nnfit.sweep")
    run_dir = rundir.inside(Path(out), exp.name, exp.run_id()) if out is not None else None
    ds = _dataset(exp, loc)
    raised: list[Exception] = []

    def guarded(info):
        try:
            return callback(info)
        except Exception as exc:
            raised.append(exc)
            raise

    watched = guarded if callback is not None else None
    record = runner.execute(exp, callback=watched, data=ds, plots=out is not None)
    if run_dir is not None and not rundir.write_run(record, run_dir):
        run_dir = None  # a finished run of the folder was kept: this Run is not the folder's
    if record.status == "failed" and raised:
        raise raised[0]  # the caller's own error, as the caller raised it
    if record.status == "failed":
        exc = RuntimeError(f"{exp.name}: training failed: {record.error}")
        if record.traceback:
            exc.add_note(record.traceback)
        raise exc
    result = Run(exp, record, ds, run_dir)
    if record.status == "interrupted":  # Ctrl-C: stop the caller too, the run kept
        raise Interrupted(result, f"run {exp.name}")
    return result


# ------------------------------------------------------------------------ sweeps


class Sweep:
    """A finished sweep: the summary (as summary.json) and its figure.

    ``rows`` has one entry per grid point (seeds pooled): ``point``, ``width``,
    ``n_params``, ``n_ok``, and per error (``test_rmse``, ``test_max_abs``, …) its
    ``mean``, ``std``, ``min`` and ``max`` over the seeds.
    """

    def __init__(self, summary: dict, folder: Path | None):
        self.summary, self.folder = summary, folder

    @property
    def rows(self) -> list[dict]:
        return self.summary["groups"]

    @property
    def slopes(self) -> list[dict]:
        """The fitted log-log slope of the test RMS error against width, per curve."""
        return self.summary["slopes"]

    @property
    def failed(self) -> list[dict]:
        return self.summary["failed"]

    def figures(self) -> dict[str, Figure]:
        from nnfit.sweep import plots

        return plots.figures(self.summary)

    def figure(self) -> Figure | None:
        """Error against width (or, for a grid that does not vary the width, error per
        setting); None when no run finished."""
        figs = self.figures()
        return next(iter(figs.values()), None)

    def __repr__(self) -> str:
        s = self.summary
        where = f", {self.folder}" if self.folder else ""
        return f"Sweep({s.get('name')}: {s['n_ok']} ok, {s['n_failed']} failed{where})"


def _refused(key: str, allowed: str, given, text: str) -> ConfigError:
    """Bad input given as an argument (no file, no line), as one ConfigError."""
    return ConfigError([Problem(f"{key}: {text}", None, None, key, allowed, given, text)])


def _check_out(out) -> None:
    if out is not None and not isinstance(out, str | os.PathLike):
        raise _refused("out", "a path", out, f"must be a path (str or os.PathLike), got {out!r}")
    if out is not None and not os.fspath(out):  # as --out '': not "the current folder"
        text = "is empty; give a folder for the results (None writes nothing)"
        raise _refused("out", "a path", out, text)


def _check_callback(callback) -> None:
    if callback is not None and not callable(callback):
        text = f"must be a function of the epoch, got {callback!r}"
        raise _refused("callback", "a callable", callback, text)


def _whole(value) -> bool:
    """An int that is not a bool (``True`` is 1 to Python, not a width)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _check_sweep_args(widths, seeds, jobs) -> None:
    def bad(key, allowed, given):
        return _refused(key, allowed, given, f"must be {allowed}, got {given!r}")

    if widths is not None and (
        isinstance(widths, str | bytes)
        or not hasattr(widths, "__len__")  # widths=2 was len()'s TypeError
        or not len(widths)
        or not all(_whole(w) and w >= 1 for w in widths)
    ):
        raise bad("widths", "a non-empty list of positive whole numbers", widths)
    for key, value in (("seeds", seeds), ("jobs", jobs)):
        if value is not None and not (_whole(value) and value >= 1):
            raise bad(key, "a positive whole number", value)


def sweep(
    config,
    widths: Iterable[int] | None = None,
    seeds: int | None = None,
    jobs: int = 1,
    out: str | os.PathLike | None = None,
    *,
    overrides: Overrides = (),
    resume: bool = True,
) -> Sweep:
    """Every point of the config's ``sweep.grid`` (or of ``widths`` × ``seeds``).

    Parameters
    ----------
    widths : list of int, optional
        Widths to sweep, like ``--widths``: each sets every hidden layer of the file's
        network (its depth is kept).
    seeds : int, optional
        Seeds 0 … seeds − 1 per point, like ``--seeds``.
    jobs : int
        Worker processes (1: in this process).
    out : path, optional
        Results root: write the sweep folder (runs, summary, figure) as ``nnfit sweep
        --out`` does, reusing finished runs of the same config unless ``resume=False``.
        Without it the runs stay in memory, without figures, and nothing is written.

    Ctrl-C raises :class:`nnfit.Interrupted` once the finished runs (and, with ``out``,
    the summary) are written; its ``.result`` is the Sweep of those runs.
    """
    from nnfit.sweep import grid as sw
    from nnfit.sweep import workers

    workers.leave_if_starting_worker()  # an unguarded script, run again by a worker
    if widths is not None and not isinstance(widths, str | bytes) and isinstance(widths, Iterable):
        widths = list(widths)  # a generator or a range, as the annotation allows
    _check_sweep_args(widths, seeds, jobs)
    _check_out(out)
    widths = [int(w) for w in widths] if widths is not None else None
    data, loc = _read(config, overrides)
    root = Path(out) if out is not None else Path("results")
    folder, grid, points = sw.expand_data(data, loc, widths, seeds, root, python=True)
    sw.check_resources(points, jobs, flag="jobs=")  # NNFIT_MAX_JOBS and _MEMORY_MB, as the CLI
    if out is not None:
        result = sw.run(folder, grid, points, jobs=jobs, resume=resume)
        done = Sweep(result.summary, folder)
    else:
        done = Sweep(_sweep_in_memory(folder, grid, points, jobs), None)
    if done.summary.get("interrupted"):  # Ctrl-C: stop the caller too, the runs kept
        raise Interrupted(done, f"sweep {done.summary.get('name')}")
    return done


def _sweep_in_memory(folder: Path, grid: dict, points: list, jobs: int) -> dict:
    """:func:`nnfit.sweep.grid.run` without files: the same summary, the runs not kept."""
    from nnfit.sweep import workers
    from nnfit.sweep.summary import sweep_summary

    t0 = time.perf_counter()
    done: dict[Path, dict] = {}
    warnings: list[str] = []
    interrupted = False
    try:
        stream = workers.local(workers.plan(points, jobs), jobs, plots=False)
        try:
            for p, rec in stream:
                if rec.status == "interrupted":
                    interrupted = True
                    break
                warnings += [f"{p.run_dir.name}: {w}" for w in rec.warnings]
                done[p.run_dir] = rec.metrics_json()
        finally:
            stream.close()
    except KeyboardInterrupt:
        interrupted = True
    return sweep_summary(
        points,
        done,
        grid,
        sweep_id=folder.name,
        wall_s=time.perf_counter() - t0,
        jobs=jobs,
        backend="local",
        interrupted=interrupted,
        n_reused=0,
        warnings=warnings,
    )
