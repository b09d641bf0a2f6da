"""Sweeps: every point of a grid of config overrides, run in parallel, then summarised.

The grid is the product of the dotted keys under ``sweep.grid`` (plus the CLI's
``--widths`` and ``--seeds``). Every point is validated before anything runs. Points
run in local worker processes (BLAS pinned to one thread each) or on Dask; workers
return :class:`~nnfit.experiment.RunRecord` objects and only this process writes
files, so a killed sweep loses at most the runs in flight and ``--resume`` redoes
only what is missing.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnfit.experiment import config
from nnfit.experiment.rundir import read_metrics, write_json, write_run
from nnfit.sweep import workers
from nnfit.sweep.workers import plan  # noqa: F401  (part of the sweep API)


@dataclass(frozen=True)
class Point:
    values: tuple[tuple[str, Any], ...]  # (grid key, value) in grid order
    exp: config.Experiment
    run_dir: Path

    def label(self) -> str:
        return ", ".join(f"{k}={json.dumps(v)}" for k, v in self.values)


def build_grid(grid: dict[str, list], base_hidden: list[int], widths=None, seeds=None) -> dict:
    """The file's grid plus the CLI shorthands (which replace the same keys)."""
    grid = dict(grid)
    if widths:
        depth = max(1, len(base_hidden))
        grid["model.hidden"] = [[int(w)] * depth for w in widths]
    if seeds:
        grid["training.seed"] = list(range(int(seeds)))
    return grid


def sweep_id(base: dict, grid: dict) -> str:
    blob = json.dumps({"base": base, "grid": grid}, sort_keys=True, separators=(",", ":"))
    return "sweep-" + hashlib.sha256(blob.encode()).hexdigest()[:8]


def expand(path, overrides=(), widths=None, seeds=None, out_root: Path = Path("results")):
    """Validate the file and every grid point; return (sweep folder, grid, points)."""
    source = str(path)
    data, loc = config.load_raw(path, overrides)
    base = config.from_dict(data, source, loc)  # the base itself must be valid
    file_grid = base.sweep.grid if base.sweep is not None else {}
    grid = build_grid(file_grid, base.model.hidden, widths, seeds)
    if not grid:
        raise config.ConfigError(
            [f"{source}: nothing to sweep: add sweep.grid to the file, or --widths/--seeds"]
        )
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise config.ConfigError(
                [f"{source}: sweep.grid.{key}: needs a non-empty list of values"]
            )
    folder = Path(out_root) / base.name / sweep_id(base.run_config(), grid)
    points = []
    keys = list(grid)
    for combo in itertools.product(*(grid[k] for k in keys)):
        point_data = copy.deepcopy(data)
        point_data.pop("sweep", None)
        config.apply_overrides(point_data, list(zip(keys, combo, strict=True)), source)
        label = ", ".join(f"{k}={json.dumps(v)}" for k, v in zip(keys, combo, strict=True))
        try:
            exp = config.from_dict(point_data, source, loc)
        except config.ConfigError as exc:
            raise config.ConfigError([f"sweep point {label}: {p}" for p in exc.problems]) from None
        points.append(Point(tuple(zip(keys, combo, strict=True)), exp, folder / exp.run_id()))
    return folder, grid, points


def is_done(point: Point) -> bool:
    m = read_metrics(point.run_dir)
    return bool(m) and m.get("status") == "ok" and m.get("config_hash") == point.exp.config_hash()


@dataclass
class SweepResult:
    folder: Path
    summary: dict
    interrupted: bool

    @property
    def n_failed(self) -> int:
        return self.summary["n_failed"]


def run(
    folder: Path,
    grid: dict,
    points: list[Point],
    jobs: int = 1,
    dask: str | None = None,
    resume: bool = False,
    stack: bool = True,
    on_start: Callable[[int, int], None] | None = None,
    on_done: Callable[[Point, dict, bool], None] | None = None,
) -> SweepResult:
    """Run every point not already done; write each run, then the summary and plot.

    ``on_done(point, metrics, skipped)`` is called for each point as it finishes.
    Ctrl-C stops the sweep: finished runs are kept and the summary covers them.
    """
    t0 = time.perf_counter()
    done: dict[Path, dict] = {}
    todo = []
    for p in points:
        if resume and is_done(p):
            done[p.run_dir] = read_metrics(p.run_dir)
            if on_done:
                on_done(p, done[p.run_dir], True)
        else:
            todo.append(p)
    if on_start:
        on_start(len(points), len(todo))
    interrupted = False
    tasks = workers.plan(todo, jobs if not dask else max(jobs, 1), stack)
    stream = workers.dask(tasks, dask, jobs) if dask else workers.local(tasks, jobs)
    try:
        for p, rec in stream:
            write_run(rec, p.run_dir)
            done[p.run_dir] = rec.metrics_json()
            if on_done:
                on_done(p, done[p.run_dir], False)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()
    summary = summarize(points, done, grid)
    summary.update(
        name=points[0].exp.name,
        sweep_id=folder.name,
        wall_s=time.perf_counter() - t0,
        jobs=jobs,
        backend=f"dask:{dask}" if dask else "local",
        interrupted=interrupted,
    )
    write_summary(folder, summary)
    return SweepResult(folder, summary, interrupted)


# ------------------------------------------------------------------------ summary

ERRORS = (
    ("test", "rmse"),
    ("test", "max_abs"),
    ("test", "rel_l2"),
    ("train", "mse"),
    ("weights", "frac_small"),
    ("weights", "l1"),
)


def _is_seed(key: str) -> bool:
    return key.endswith(".seed")


def _stats(values: Iterable[float]) -> dict:
    import numpy as np

    v = np.asarray([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "min": float(v.min()),
        "max": float(v.max()),
        "n": int(v.size),
    }


def summarize(points: list[Point], metrics: dict[Path, dict], grid: dict) -> dict:
    """Per grid point (seeds pooled): mean, std, min, max of each error; failed points."""
    groups: dict[str, dict] = {}
    failed = []
    for p in points:
        m = metrics.get(p.run_dir)
        key_values = {k: v for k, v in p.values if not _is_seed(k)}
        gkey = json.dumps(key_values, sort_keys=True)
        g = groups.setdefault(
            gkey,
            {
                "point": key_values,
                "hidden": p.exp.model.hidden,
                "width": p.exp.model.hidden[0] if p.exp.model.hidden else 0,
                "depth": len(p.exp.model.hidden),
                "n_params": sum((a + 1) * b for a, b in itertools.pairwise(p.exp.sizes())),
                "runs": [],
            },
        )
        if m is None:
            continue
        g["runs"].append(
            {
                "run": p.run_dir.name,
                "status": m["status"],
                "seed": m.get("seed"),
                **{f"{s}_{e}": (m.get(s) or {}).get(e) for s, e in ERRORS},
            }
        )
        if m["status"] != "ok":
            failed.append(
                {
                    "run": p.run_dir.name,
                    "point": dict(p.values),
                    "status": m["status"],
                    "error": m.get("error"),
                }
            )
    rows = []
    for g in groups.values():
        ok = [r for r in g["runs"] if r["status"] == "ok"]
        row = {k: v for k, v in g.items() if k != "runs"}
        row["n_ok"] = len(ok)
        row["n_failed"] = len(g["runs"]) - len(ok)
        for s, e in ERRORS:
            row[f"{s}_{e}"] = _stats(r[f"{s}_{e}"] for r in ok)
        row["runs"] = g["runs"]
        rows.append(row)
    n_ok = sum(r["n_ok"] for r in rows)
    return {
        "grid": grid,
        "n_points": len(points),
        "n_ok": n_ok,
        "n_failed": len(failed),
        "n_missing": len(points) - len(metrics),
        "groups": rows,
        "failed": failed,
        "slopes": slopes(rows, grid),
    }


def pretty(label: str) -> str:
    """'model.activation="tanh", training.l2=0.001' → 'activation=tanh, l2=0.001'."""
    return re.sub(r"[\w.]*\.(\w+)=", r"\1=", label).replace('"', "")


def series_key(row: dict, grid: dict) -> str:
    """The label of the curve a grid point belongs to: its non-width, non-seed values."""
    parts = [f"{k}={json.dumps(v)}" for k, v in row["point"].items() if k != "model.hidden"]
    return ", ".join(parts) or "all"


def slopes(rows: list[dict], grid: dict) -> list[dict]:
    """Fitted log-log slope of test RMSE against width, one per curve."""
    from nnfit.sweep.rates import fit_slope

    if "model.hidden" not in grid:
        return []
    out = []
    by_series: dict[str, list[dict]] = {}
    for r in rows:
        by_series.setdefault(series_key(r, grid), []).append(r)
    for name, rs in by_series.items():
        rs = sorted(rs, key=lambda r: r["width"])
        widths = [r["width"] for r in rs]
        per_seed = [[run["test_rmse"] for run in r["runs"] if run["status"] == "ok"] for r in rs]
        fit = fit_slope(widths, per_seed)
        out.append({"series": name, "metric": "test_rmse", **fit})
    return out


def write_summary(folder: Path, summary: dict) -> None:
    import csv
    import io

    write_json(folder / "summary.json", summary)
    cols = ["point", "width", "depth", "n_params", "n_ok", "n_failed"]
    stat_cols = [f"{s}_{e}_{q}" for s, e in ERRORS for q in ("mean", "std", "min", "max")]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols + stat_cols)
    for r in summary["groups"]:
        stats = [r[f"{s}_{e}"][q] for s, e in ERRORS for q in ("mean", "std", "min", "max")]
        w.writerow(
            [
                json.dumps(r["point"], sort_keys=True),
                r["width"],
                r["depth"],
                r["n_params"],
                r["n_ok"],
                r["n_failed"],
                *("" if v is None else repr(v) for v in stats),
            ]
        )
    from nnfit.experiment.rundir import atomic_write

    atomic_write(folder / "summary.csv", buf.getvalue().encode())
    try:
        from nnfit.sweep import plots as sweep_plots

        for name, payload in sweep_plots.render(summary).items():
            atomic_write(folder / name, payload)
    except Exception as exc:  # the summary files are the result; a plot is evidence
        summary.setdefault("warnings", []).append(f"sweep plot not written: {exc}")
