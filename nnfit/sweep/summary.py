"""A sweep's summary: per grid point (seeds pooled) the mean, spread and range of each
error, the failed points, the fitted slopes; written as summary.json, summary.csv and
the error-vs-width figure.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from nnfit.experiment.rundir import write_json

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
