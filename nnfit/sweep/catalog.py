"""Tables of finished runs (and sweeps) found under a folder."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from rich.table import Table

from nnfit.experiment.rundir import find_runs, read_metrics

COLUMNS = [
    "kind",
    "path",
    "name",
    "status",
    "epochs",
    "n_params",
    "test_rmse",
    "test_max_abs",
    "test_rel_l2",
    "train_mse",
    "wall_s",
]


def collect(root: Path) -> list[dict]:
    """One row per run folder (metrics.json) and per sweep (summary.json) under ``root``."""
    root = Path(root)
    rows = []
    for run_dir in find_runs(root):
        m = read_metrics(run_dir)
        if m is None:
            continue
        test, train = m.get("test") or {}, m.get("train") or {}
        rows.append(
            {
                "kind": "run",
                "path": str(run_dir.relative_to(root)),
                "name": m.get("name"),
                "status": m.get("status"),
                "epochs": m.get("epochs"),
                "n_params": m.get("n_params"),
                "test_rmse": test.get("rmse"),
                "test_max_abs": test.get("max_abs"),
                "test_rel_l2": test.get("rel_l2"),
                "train_mse": train.get("mse"),
                "wall_s": m.get("wall_s"),
            }
        )
    for summary in sorted(root.rglob("summary.json")):
        try:
            s = json.loads(summary.read_text())
        except (OSError, ValueError):
            continue
        rows.append(
            {
                "kind": "sweep",
                "path": str(summary.parent.relative_to(root)),
                "name": s.get("name"),
                "status": f"{s.get('n_ok', 0)} ok, {s.get('n_failed', 0)} failed",
                "epochs": None,
                "n_params": None,
                "test_rmse": None,
                "test_max_abs": None,
                "test_rel_l2": None,
                "train_mse": None,
                "wall_s": s.get("wall_s"),
            }
        )
    return rows


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in COLUMNS})
    return buf.getvalue()


def _f(v, spec=".3e"):
    return "—" if v is None else format(v, spec) if isinstance(v, float) else str(v)


def table(rows: list[dict], root) -> Table:
    t = Table(title=f"runs under {root}")
    for c in COLUMNS:
        t.add_column(c, justify="right" if c not in ("kind", "path", "name", "status") else "left")
    for r in rows:
        t.add_row(*(_f(r.get(c), ".2f" if c == "wall_s" else ".3e") for c in COLUMNS))
    if not rows:
        t.caption = "no finished runs found"
    return t
