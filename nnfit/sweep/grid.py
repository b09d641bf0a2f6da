"""Sweeps: every point of a grid of config overrides, run in parallel, then summarised.

The grid is the product of the dotted keys under ``sweep.grid`` (plus the CLI's
``--widths`` and ``--seeds``). Every point is validated before anything runs. Points
run in local worker processes (BLAS pinned to one thread each) or on Dask; workers
return :class:`~nnfit.experiment.RunRecord` objects and only this process writes
files, so a killed sweep loses at most the runs in flight. Running the same sweep
again reuses every finished run of the same config (every file present and as its
metrics.json recorded it) and trains only what is missing. Grid keys and values keep
the file lines they were written on, for the error messages. The number of points, the
jobs and the memory of the runs in flight together are bounded before anything runs.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import itertools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnfit.experiment import config, limits, shield
from nnfit.experiment.rundir import check_run, copy_run, inside, read_metrics, write_run
from nnfit.experiment.yamlfile import (
    Located,
    Override,
    key_problem,
    leaves,
    names_choice,
    set_path,
    yaml_brief,
)
from nnfit.sweep import workers
from nnfit.sweep.summary import (  # noqa: F401  (pretty, series_key: the plots read them here)
    pretty,
    series_key,
    summarize,
    sweep_summary,
    write_summary,
)
from nnfit.sweep.workers import plan  # noqa: F401  (part of the sweep API)


@dataclass(frozen=True)
class Point:
    values: tuple[tuple[str, Any], ...]  # (grid key, value) in grid order
    exp: config.Experiment
    run_dir: Path

    def label(self) -> str:
        return _label(self.values)


def _label(pairs) -> str:
    """A grid point for a message: model.hidden=[8], training.seed=0."""
    return ", ".join(f"{k}={yaml_brief(v, 60)}" for k, v in pairs)


def build_grid(grid: dict[str, list], base_hidden: list[int], widths=None, seeds=None) -> dict:
    """The file's grid plus the CLI shorthands (which replace the same keys:
    ``--widths`` the file's ``model.hidden``, ``--seeds`` its ``training.seed``)."""
    grid = dict(grid)
    if widths:
        depth = max(1, len(base_hidden))
        grid["model.hidden"] = [[int(w)] * depth for w in widths]
    if seeds:
        limits.GRID_POINTS.check(int(seeds), f"--seeds {seeds}", f"{int(seeds):,} seeds")
        grid["training.seed"] = list(range(int(seeds)))
    return grid


def sweep_id(base: dict, grid: dict) -> str:
    blob = json.dumps({"base": base, "grid": grid}, sort_keys=True, separators=(",", ":"))
    return "sweep-" + hashlib.sha256(blob.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class _Origin:
    """Where a grid key and its values were written: a file's lines, or a CLI flag."""

    key: str  # "exp.yaml:9" or "--widths"
    values: tuple[str, ...]  # one per value

    @staticmethod
    def of(key: str, n: int, source: str, loc: Located, flags: dict) -> _Origin:
        if key in flags:
            return _Origin(flags[key], (flags[key],) * n)
        at = ("sweep", "grid", key)
        given = [o for o in loc.overrides if _gives(o, at)]
        if given:  # a grid given by --set: the --set is where its values were written
            return _Origin(given[-1].where, (given[-1].where,) * n)
        line = loc.lines.get(at)
        key_where = f"{source}:{line}" if line else source
        values = tuple(
            f"{source}:{loc.lines[(*at, i)]}" if (*at, i) in loc.lines else key_where
            for i in range(n)
        )
        return _Origin(key_where, values)


def _gives(o: Override, at: tuple) -> bool:
    """Whether override ``o`` gave the grid entry at ``at`` (``sweep.grid``'s keys are
    dotted, so they are one part of a path)."""
    path = tuple(o.path)
    if path == at[: len(path)]:
        rest = at[len(path) :]
        value = o.value
        for part in rest:
            if not isinstance(value, dict) or part not in value:
                return False
            value = value[part]
        return True
    return False


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True)


#: top-level keys a grid may not vary, and why
_FIXED = {
    "sweep": "a run has no sweep of its own (a grid inside the grid did nothing)",
    "name": "it names the sweep's folder, and runs that differ only by it are the same run",
}


def _check_grid(grid: dict, origins: dict[str, _Origin]) -> None:
    """Every key a dotted path, every list non-empty, no value listed twice, no key
    inside another (``training`` beside ``training.epochs``: one would overwrite the
    other's values unseen)."""
    for key in grid:
        outer = next((k for k in grid if key.startswith(k + ".")), None)
        if outer is not None:
            raise config.ConfigError(
                [
                    f"{origins[key].key}: sweep.grid: {key} lies inside {outer}, also a "
                    f"grid key ({origins[outer].key}); give the values under one of them"
                ]
            )
    named: dict[str, str] = {}  # one key names a choice: target.name and target.expr both
    for key in grid:
        if isinstance(key, str) and names_choice(key):
            other = named.setdefault(_unit(key), key)
            if other != key:
                raise config.ConfigError(
                    [
                        f"{origins[key].key}: sweep.grid: {key} and {other} "
                        f"({origins[other].key}) both say which "
                        f"{key.rpartition('.')[0].rpartition('.')[2]} it is; give one of them"
                    ]
                )
    for key, values in grid.items():
        o = origins[key]
        problem = key_problem(key)
        if problem:
            raise config.ConfigError(
                [f"{o.key}: sweep.grid: {problem}; write a dotted key like training.optimizer.lr"]
            )
        head = key.split(".")[0]
        if head in _FIXED:  # each point's value went unused, or only renamed the run
            raise config.ConfigError(
                [f"{o.key}: sweep.grid: {key} cannot vary from point to point: {_FIXED[head]}"]
            )
        if not isinstance(values, list) or not values:
            raise config.ConfigError(
                [f"{o.key}: sweep.grid.{key}: needs a non-empty list of values"]
            )
        first: dict[str, int] = {}
        for i, v in enumerate(values):
            j = first.setdefault(_canonical(v), i)
            if j == i:
                continue
            if o.key.startswith(("--widths", "widths=")):
                raise config.ConfigError([f"{o.key}: width {v[0]} is given twice"])
            raise config.ConfigError(
                [
                    f"{o.values[i]}: sweep.grid.{key}: {yaml_brief(v)} is listed twice "
                    f"(entries {j + 1} and {i + 1}); list each value once"
                ]
            )


def _check_overrides(loc: Located, grid: dict, origins: dict[str, _Origin], flags) -> None:
    """No key that both a ``--set`` value and the grid set: every grid point would
    replace the value given, unseen. (A ``--set`` key inside a grid key is applied on
    top of each grid value, see :func:`expand_data`; a grid key inside a ``--set``
    section on top of it.)"""
    given = {_unit(leaf): o for o in loc.overrides for leaf in leaves(".".join(o.path), o.value)}
    for key in flags:  # --widths, --seeds replace a grid key of the file
        o = given.get(f"sweep.grid.{key}")
        if o is not None:
            raise config.ConfigError(
                [f"{o.where}: sets sweep.grid.{key}, and {flags[key]} replaces it; give one"]
            )
    for key, values in grid.items():
        for leaf in dict.fromkeys(leaf for v in values for leaf in leaves(key, v)):
            o = given.get(_unit(leaf))
            if o is None:
                continue
            also = "also sets it" if leaf == (o.given or ".".join(o.path)) else f"sets {leaf} too"
            raise config.ConfigError(
                [f"{o.where}: the sweep grid {also} ({origins[key].key}); give the value once"]
            )


def _unit(leaf: str) -> str:
    """A leaf key, but one key for all that name one choice: the grid's ``target.expr``
    and a ``--set target.name`` both say which target it is."""
    return f"{leaf.rpartition('.')[0]}.(choice)" if names_choice(leaf) else leaf


def expand(path, overrides=(), widths=None, seeds=None, out_root: Path = Path("results")):
    """Validate the file and every grid point; return (sweep folder, grid, points).

    An error in a grid entry names the entry's own line in the file (or the CLI flag that
    gave it); two grid points that resolve to the same run are an error, not a rerun.
    """
    data, loc = config.load_raw(path, overrides)
    return expand_data(data, loc, widths, seeds, out_root)


def _base(data, loc: Located, widths, seeds) -> tuple[config.Experiment, list[Override]]:
    """The file's own config, which must be valid, with the ``--set`` values on it, or
    without those inside a grid key where they make it invalid: each grid point has them
    on top of its own value (``training.optimizer.momentum=0.5`` beside a grid of
    momentum and nesterov over a file's adam). Returns it and the values left out."""
    try:
        return config.from_dict(data, loc.source, loc), []
    except config.ConfigError as exc:
        problem = exc
    grid = data.get("sweep", {}).get("grid") if isinstance(data.get("sweep"), dict) else None
    keys = [*(grid if isinstance(grid, dict) else ()), *(["model.hidden"] if widths else [])]
    keys += ["training.seed"] if seeds else []
    inside = {id(o) for o in loc.overrides if _under(o, keys)}
    if not inside or not isinstance(loc.baseline, dict):
        raise problem
    rest, kept = copy.deepcopy(loc.baseline), Located(loc.source)
    kept.lines, kept.baseline = loc.lines, loc.baseline
    for o in loc.overrides:
        if id(o) not in inside:
            set_path(rest, ".".join(o.path), o.value, o.where)
            kept.overrides.append(o)
    # an error left without them is the file's own (theirs are the grid points' to find)
    base = config.from_dict(rest, loc.source, kept)
    return base, [o for o in loc.overrides if id(o) in inside]


def _under(o: Override, keys) -> bool:
    """Whether the override's key lies strictly inside one of the grid ``keys``, or
    beside a grid key that names a choice (``training.optimizer.lr`` beside a grid over
    ``training.optimizer.name``: the name's value clears what stood beside it)."""
    key = ".".join(o.path)
    for k in (k for k in keys if isinstance(k, str)):
        if key.startswith(f"{k}.") or (
            names_choice(k) and key.startswith(f"{k.rpartition('.')[0]}.")
        ):
            return True
    return False


def _apply_order(keys: list[str]) -> list[int]:
    """The grid keys' indices in the order to apply them: a choice's name before the
    keys beside it (``training.optimizer.name`` clears ``training.optimizer.lr``)."""
    return sorted(range(len(keys)), key=lambda i: not names_choice(keys[i]))


def expand_data(
    data,
    loc: Located,
    widths=None,
    seeds=None,
    out_root: Path = Path("results"),
    python: bool = False,
):
    """:func:`expand` for a config already read (``loc.source`` names it in errors);
    ``python``: widths and seeds are named as the arguments of ``nnfit.sweep``, not as
    the command line's flags."""
    source = loc.source
    either = "widths= or seeds=" if python else "--widths or --seeds"
    base, aside = _base(data, loc, widths, seeds)
    file_grid = base.sweep.grid if base.sweep is not None else {}
    grid = build_grid(file_grid, base.model.hidden, widths, seeds)
    if not grid:
        away = [o for o in loc.overrides if o.path[:1] == ("sweep",)]
        if away:  # the file's grid taken away on the command line, not missing
            raise config.ConfigError([f"{away[-1].where}: leaves nothing to sweep; give {either}"])
        if base.sweep is not None:  # a grid, but an empty one
            line = loc.line(("sweep", "grid"))
            at = f"{source}:{line}" if isinstance(line, int) else source
            raise config.ConfigError(
                [f"{at}: sweep.grid: is empty: give a key and its values, e.g. "
                 f"model.hidden: [[8], [16]], or give {either}"]
            )  # fmt: skip
        raise config.ConfigError(
            [f"{source}: nothing to sweep: add sweep.grid to the file, or give {either}"]
        )
    flags = {}
    if widths:
        flags["model.hidden"] = (
            f"widths={list(widths)}" if python else f"--widths {','.join(map(str, widths))}"
        )
    if seeds:
        flags["training.seed"] = f"seeds={seeds}" if python else f"--seeds {seeds}"
    origins = {k: _Origin.of(k, len(v), source, loc, flags) for k, v in grid.items()}
    _check_grid(grid, origins)
    _check_overrides(loc, grid, origins, flags)
    n = math.prod(len(v) for v in grid.values())
    sizes = " × ".join(f"{len(v)} {k}" for k, v in grid.items())
    limits.GRID_POINTS.check(n, f"{source}: sweep.grid", f"{sizes} give {n:,} runs")
    named = base.run_config()
    if aside:  # the values the base went without still make it another sweep
        named["--set"] = sorted([".".join(o.path), o.value] for o in aside)
    folder = inside(out_root, base.name, sweep_id(named, grid))
    base_data = copy.deepcopy(data)
    base_data.pop("sweep", None)
    base_data.setdefault("baselines", "auto")  # a sweep is set beside the baselines
    points: list[Point] = []
    seen: dict[str, Point] = {}
    keys = list(grid)
    on_top = [o for o in loc.overrides if _under(o, keys)]
    for index in itertools.product(*(range(len(grid[k])) for k in keys)):
        combo = [grid[k][i] for k, i in zip(keys, index, strict=True)]
        label = _label(zip(keys, combo, strict=True))
        point_data = copy.deepcopy(base_data)
        point_loc = Located(source)
        point_loc.lines, point_loc.baseline = loc.lines, base_data
        point_loc.overrides = [o for o in loc.overrides if o.path[0] != "sweep"]  # --set's
        for j in _apply_order(keys):
            k, i, v = keys[j], index[j], combo[j]
            o = origins[k]
            set_path(point_data, k, v, f"{o.key}: sweep.grid.{k}")
            point_loc.overrides.append(
                Override(tuple(k.split(".")), o.values[i], f"sweep point {label}", o.key)
            )
        for o in on_top:  # a --set key inside a grid key stays on top of its values
            set_path(point_data, ".".join(o.path), o.value, o.where)
            point_loc.overrides.append(o)  # and is what an error in it names
        exp = config.from_dict(point_data, source, point_loc)
        p = Point(tuple(zip(keys, combo, strict=True)), exp, inside(folder, exp.run_id()))
        twin = seen.setdefault(exp.config_hash(), p)
        if twin is not p:
            raise config.ConfigError([_duplicate(twin, p, origins, grid)])
        points.append(p)
    return folder, grid, points


def _duplicate(a: Point, b: Point, origins: dict[str, _Origin], grid: dict) -> str:
    """Two grid points that resolve to one config (4 and 4.0, or a value the default has)."""
    diff = [(k, va, vb) for (k, va), (_, vb) in zip(a.values, b.values, strict=True) if va != vb]
    if not diff:  # equal values that json writes differently, e.g. 4 and 4.0
        diff = [
            (k, va, vb)
            for (k, va), (_, vb) in zip(a.values, b.values, strict=True)
            if _canonical(va) != _canonical(vb)
        ]
    k, va, vb = diff[0]
    where = origins[k].values[[_canonical(v) for v in grid[k]].index(_canonical(vb))]
    return (
        f"{where}: sweep.grid.{k}: {yaml_brief(va)} and {yaml_brief(vb)} give the same run "
        "(the same resolved config); list each value once"
    )


def is_done(point: Point) -> bool:
    """Whether the point's folder holds a whole, finished ok run of exactly this config."""
    if check_run(point.run_dir, point.exp.config_hash()) is not None:
        return False
    m = read_metrics(point.run_dir)
    return m is not None and m["status"] == "ok"


def from_another_sweep(point: Point) -> bool:
    """Copy a finished run of exactly this config from another sweep of the experiment
    (widths 2,8,32 and then 2,8,32,64 are two sweeps sharing three widths), so that it is
    reused rather than trained again; False if no other sweep has one."""
    here = point.run_dir.parent
    try:
        others = sorted(here.parent.glob(f"sweep-*/{point.run_dir.name}"))
    except OSError:
        return False
    h = point.exp.config_hash()
    return any(
        src.parent != here and _made_by(src, h) and copy_run(src, point.run_dir, h)
        for src in others
    )


def _made_by(src: Path, config_hash: str) -> bool:
    """Whether the config.yaml in ``src`` is the config of ``config_hash`` (not only the
    hash its metrics.json says, which is not under a checksum of its own)."""
    try:
        return config.load(src / "config.yaml").config_hash() == config_hash
    except (config.ConfigError, OSError, ValueError):
        return False


def run_mb(exp: config.Experiment) -> float:
    """Memory of one run: data, parameters, buffers (config's estimate), history, and
    for lm its Jacobian, JᵀJ and factor (two runs of 15 GiB each went to a 24 GiB
    machine at once)."""
    from nnfit.engine.gauss_newton import jacobian_mb

    sizes = exp.sizes()
    n_params = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
    history = limits.history_mb(exp.training.epochs, len(sizes) - 1)
    lm = jacobian_mb(exp.data.n_train, n_params) if exp.training.optimizer.name == "lm" else 0.0
    return config.estimate_mb(exp, n_params) + history + lm


def check_resources(
    points: list[Point], jobs: int, dask: str | None = None, flag: str = "--jobs "
) -> None:
    """Refuse before anything runs: more jobs than the machine takes, or runs in flight
    that together need more memory than it has (a remote Dask cluster is its own).
    ``flag`` names the jobs as the caller gave them (``jobs=`` from Python)."""
    if dask and dask != "local":
        return
    n = limits.cores()
    limits.JOBS.check(jobs, f"{flag}{jobs}", f"{jobs} worker processes on {n} cores")
    tasks = workers.plan(points, jobs)
    need = sorted((sum(run_mb(p.exp) for p in t) for t in tasks), reverse=True)
    at_once = min(jobs, len(tasks))
    total = sum(need[:at_once])
    limits.SWEEP_MB.check(
        total,
        "sweep",
        f"{at_once} runs at once ({flag}{jobs}) would need about {math.ceil(total):,} MiB; "
        "use fewer jobs, points or epochs",
    )


@dataclass
class SweepResult:
    folder: Path
    summary: dict
    interrupted: bool
    #: finished runs of an earlier sweep that an interrupted --rerun did not reach
    n_kept: int = 0

    @property
    def n_failed(self) -> int:
        return self.summary["n_failed"]

    @property
    def n_finished(self) -> int:
        return self.summary["n_ok"] + self.summary["n_failed"]


def run(
    folder: Path,
    grid: dict,
    points: list[Point],
    jobs: int = 1,
    dask: str | None = None,
    resume: bool = True,
    stack: bool = True,
    plots: bool = True,
    on_start: Callable[[int, int], None] | None = None,
    on_done: Callable[[Point, dict, bool], None] | None = None,
) -> SweepResult:
    """Run every point not already done; write each run, then the summary and plot.

    With ``resume`` (the default) a point whose folder holds a finished ok run of the
    same config is reused; without it every point is trained again. ``plots=False``
    writes the runs without their figures, which take most of a small run's time.
    ``on_done(point, metrics, skipped)`` is called for each point as it finishes.
    Ctrl-C stops the sweep: finished runs are kept, runs in flight are dropped, and the
    summary covers what finished.
    """
    t0 = time.perf_counter()
    done: dict[Path, dict] = {}
    warnings: list[str] = []
    n_reused = 0
    interrupted = False
    try:
        todo = []
        for p in points:
            if resume and (is_done(p) or from_another_sweep(p)):
                done[p.run_dir] = read_metrics(p.run_dir) or {}
                n_reused += 1
                if on_done:
                    on_done(p, done[p.run_dir], True)
            else:
                todo.append(p)
        if on_start:
            on_start(len(points), len(todo))
        # matplotlib is loaded now, not after a Ctrl-C for the sweep's figure: a third
        # Ctrl-C that lands in the first import of a C extension can crash the process
        # as it exits (exit -6); a failure to load is the figure's to report
        with contextlib.suppress(Exception):
            import nnfit.sweep.plots  # noqa: F401
        tasks = workers.plan(todo, jobs if not dask else max(jobs, 1), stack)
        stream = (
            workers.dask(tasks, dask, jobs, plots) if dask else workers.local(tasks, jobs, plots)
        )
        try:
            for p, rec in stream:
                if rec.status == "interrupted":
                    # training caught Ctrl-C (in this process, --jobs 1; local workers
                    # ignore it and are stopped): the sweep stops, the run is not kept
                    interrupted = True
                    break
                # a Ctrl-C held during the write is raised once the run is counted too:
                # raised as the write ended, it left a finished run out of the summary
                with shield.writing():
                    placed = write_run(rec, p.run_dir)
                    warnings += [f"{p.run_dir.name}: {w}" for w in rec.warnings]
                    # a rerun that failed leaves a finished run in place: that one counts
                    done[p.run_dir] = (not placed and read_metrics(p.run_dir)) or (
                        rec.metrics_json()
                    )
                    if on_done:
                        on_done(p, done[p.run_dir], False)
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()
    except KeyboardInterrupt:
        interrupted = True
    n_kept = 0
    if not resume:
        # an interrupted --rerun left the runs it did not reach as they were: finished
        # runs, which the summary counts (it said "0 ok, 6 not run" over six ok runs,
        # and lost the figures and slopes of a finished sweep)
        for p in points:
            if p.run_dir not in done and is_done(p):
                done[p.run_dir] = read_metrics(p.run_dir) or {}
                n_reused += 1
                n_kept += 1
    summary = sweep_summary(
        points,
        done,
        grid,
        sweep_id=folder.name,
        wall_s=time.perf_counter() - t0,
        jobs=jobs,
        backend=f"dask:{dask}" if dask else "local",
        interrupted=interrupted,
        n_reused=n_reused,
        warnings=warnings,
    )
    with shield.writing():
        # first: a figure's warning reaches summary.json; with no run finished (a Ctrl-C
        # before the first) there is nothing to draw
        figures = _render(folder, summary) if done else {}
        write_summary(folder, summary, figures)
    return SweepResult(folder, summary, interrupted, n_kept)


def _render(folder: Path, summary: dict) -> dict:
    """Write the sweep's figure, a figure of the same name the sweep did not write as it
    is now (a user's annotated copy) kept aside first; the record of each written."""
    from nnfit.experiment.rundir import atomic_write
    from nnfit.experiment.runfiles import ResultsError, digest, figure_changed
    from nnfit.sweep.summary import _keep_edited

    written = {}
    try:
        from nnfit.sweep import plots  # a matplotlib that fails to load costs the figure

        for name, payload in plots.render(summary).items():
            why = figure_changed(folder, name)
            if why:
                summary["warnings"] += _keep_edited(folder, [f"{name}: {why}"])
            atomic_write(folder / name, payload)
            written[name] = digest(payload)
    except Exception as exc:  # the summary files are the result; a figure is evidence
        plain = isinstance(exc, ResultsError | OSError)  # their text says what happened
        why = exc if plain else f"{type(exc).__name__}: {exc}"
        if summary.get("interrupted") and not plain:
            # a Ctrl-C that lands while matplotlib loads (before the runs, or in a run
            # of --jobs 1) leaves it half loaded
            why = f"the interrupt came while matplotlib loaded ({why}); a rerun draws it"
        summary["warnings"].append(f"sweep figure not written: {why}")
    return written
