"""A sweep's summary: per grid point (seeds pooled) the mean, spread and range of each
error, the failed points, the fitted slopes; written as summary.json, summary.csv and
the error-vs-width figure.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from nnfit.engine.network import param_count
from nnfit.experiment.rundir import write_json
from nnfit.experiment.runfiles import seal_summary, summary_changes

if TYPE_CHECKING:
    from nnfit.sweep.grid import Point

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
        # the sample std; of one value there is none (null in JSON, empty in the CSV)
        "std": float(v.std(ddof=1)) if v.size > 1 else None,
        "min": float(v.min()),
        "max": float(v.max()),
        "n": int(v.size),
    }


def _baseline_stats(runs: list[dict]) -> dict:
    """Per baseline over the runs of one grid point: its size and error statistics."""
    names = dict.fromkeys(n for r in runs for n in r["baselines"])
    out = {}
    for name in names:
        fits = [r["baselines"][name] for r in runs if name in r["baselines"]]
        out[name] = {
            "n_params": fits[0].get("n_params"),
            **{f"test_{e}": _stats(f.get(e) for f in fits) for e in ("rmse", "max_abs")},
        }
    return out


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
                "dim": p.exp.target.dim,
                "n_params": param_count(p.exp.sizes()),
                "runs": [],
                "n_runs": 0,
            },
        )
        g["n_runs"] += 1
        if m is None:
            continue
        g["runs"].append(
            {
                "run": p.run_dir.name,
                "status": m["status"],
                "seed": m.get("seed"),
                **{f"{s}_{e}": (m.get(s) or {}).get(e) for s, e in ERRORS},
                "baselines": m.get("baselines") or {},
            }
        )
        if m["status"] != "ok":
            failed.append(
                {
                    "run": p.run_dir.name,
                    "point": dict(p.values),
                    "status": m["status"],
                    "error": m.get("error"),
                    "epochs": m.get("epochs"),
                    "optimizer": p.exp.training.optimizer.name,
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
        # fitted on the data, not by training: a diverged run's baselines count too, so
        # a curve whose runs diverged has the same baselines as the rest
        row["baselines"] = _baseline_stats(g["runs"])
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


def sweep_summary(
    points: list[Point],
    metrics: dict[Path, dict],
    grid: dict,
    *,
    sweep_id: str,
    wall_s: float,
    jobs: int,
    backend: str,
    interrupted: bool,
    n_reused: int,
    warnings: list[str],
) -> dict:
    """:func:`summarize`, with what the sweep was and how it ran (summary.json's keys)."""
    out = summarize(points, metrics, grid)
    out.update(
        name=points[0].exp.name,
        sweep_id=sweep_id,
        wall_s=wall_s,
        jobs=jobs,
        backend=backend,
        interrupted=interrupted,
        n_reused=n_reused,
        warnings=warnings,
    )
    return out


def pretty(label: str) -> str:
    """'model.activation="tanh", training.l2=0.001' → 'activation=tanh, l2=0.001';
    a name keeps its section's ('training.optimizer.name', 'target.name': 'optimizer=',
    'target=', where both read 'name=')."""
    label = re.sub(r"(?<![\w.])(?:[\w.]*\.)?(\w+)\.name=", r"\1=", label)
    return re.sub(r"(?<![\w.])[\w.]*\.(\w+)=", r"\1=", label).replace('"', "")


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


def baseline_names(summary: dict) -> list[str]:
    return list(dict.fromkeys(n for r in summary["groups"] for n in r.get("baselines", {})))


def baseline_stats(row: dict, name: str) -> dict:
    """A grid point's test RMS error statistics of baseline ``name`` ({}: not fitted)."""
    return ((row.get("baselines") or {}).get(name) or {}).get("test_rmse") or {}


def baseline_rmse(row: dict, name: str):
    """A grid point's mean test RMS error of baseline ``name`` (None: not fitted there)."""
    return baseline_stats(row, name).get("mean")


def write_summary(folder: Path, summary: dict, figures: dict | None = None) -> None:
    """summary.json and summary.csv (the figures are the caller's, who passes the
    record of each it wrote, name → :func:`digest`, for summary.json to keep)."""
    import csv
    import io

    from nnfit.experiment.rundir import atomic_write
    from nnfit.experiment.runfiles import ResultsError

    cols = ["point", "width", "depth", "n_params", "n_ok", "n_failed"]
    stat_cols = [f"{s}_{e}_{q}" for s, e in ERRORS for q in ("mean", "std", "min", "max")]
    extra = [f"baseline_{n}_test_rmse" for n in baseline_names(summary)]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols + stat_cols + extra)
    for r in summary["groups"]:
        stats = [r[f"{s}_{e}"][q] for s, e in ERRORS for q in ("mean", "std", "min", "max")]
        stats += [baseline_rmse(r, n) for n in baseline_names(summary)]
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
    csv_bytes = buf.getvalue().encode()
    moved: list[tuple[str, str]] = []
    summary.setdefault("warnings", []).extend(_keep_edited(folder, moved=moved))
    try:
        atomic_write(folder / "summary.csv", csv_bytes)
        write_json(folder / "summary.json", seal_summary(summary, csv_bytes, figures))  # it seals
    except ResultsError as exc:  # a full disk: where the edited files went, in the same line
        if not moved:
            raise
        notes = ", ".join(f"the edited {name} is kept as {kept}" for name, kept in moved)
        raise ResultsError(f"{exc}; {notes}") from None


def _keep_edited(
    folder: Path, changes: list[str] | None = None, moved: list | None = None
) -> list[str]:
    """Move aside what of the summary files (or of ``changes``, "name: why") changed
    since the sweep wrote them (a user's notes in summary.csv), as
    ``summary.csv.kept-1`` and on; a note for each, and (name, kept name) in ``moved``."""
    notes = []
    for change in summary_changes(folder) if changes is None else changes:
        name, why = change.split(": ", 1)
        if not os.path.lexists(folder / name):  # missing: nothing to keep
            continue
        n = 1
        while os.path.lexists(folder / f"{name}.kept-{n}"):
            n += 1
        kept = f"{name}.kept-{n}"
        try:
            os.rename(folder / name, folder / kept)
        except OSError as exc:
            notes.append(f"{folder / name}: {why}, and could not be kept aside: {exc.strerror}")
            continue
        notes.append(f"{folder / name}: {why}; kept as {kept}, and written anew")
        if moved is not None:
            moved.append((name, kept))
    return notes
