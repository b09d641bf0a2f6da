"""The runs (and sweeps) found under a folder, as rows for ``nnfit report``.

Besides each run's errors, a row carries the config keys whose value differs between
the runs listed (read from each run's config.yaml), so that two runs never differ in the
report only by their hash. Every file is read through its validating reader; a folder
whose metrics.json cannot be read is left out and named, one whose files no longer
match what its metrics.json recorded is listed as ``damaged``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from nnfit.experiment.rundir import (
    ResultsError,
    check_run,
    find_runs,
    folders_holding,
    links_under,
    load_metrics,
)
from nnfit.experiment.runfiles import load_summary, read_config, summary_changes

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

# shown first among the keys that differ: what a sweep usually varies
PREFERRED = (
    "model.hidden",
    "model.activation",
    "model.activation.name",
    "training.optimizer.name",
    "training.optimizer.lr",
)
IGNORED = ("name",)  # the folder already says it


def flatten(cfg, prefix: str = "") -> dict:
    """``{"model": {"hidden": [8]}}`` → ``{"model.hidden": [8]}`` (lists kept whole)."""
    if not isinstance(cfg, dict):
        return {prefix: cfg} if prefix else {}
    flat = {}
    for k, v in cfg.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            flat.update(flatten(v, key))
        else:
            flat[key] = v
    return flat


def _read_config(run_dir: Path, problems: list[str]) -> dict:
    data = read_config(run_dir)
    if data is None:
        problems.append(f"{run_dir / 'config.yaml'}: cannot be read; its config columns are blank")
    flat = flatten(data or {})
    # one column for the target, whether built in or a formula
    expr, name = flat.pop("target.expr", None), flat.pop("target.name", None)
    if expr is not None or name is not None:
        flat["target"] = expr if expr is not None else name
    return flat


def _section(key: str) -> int:
    """Where a key's column goes among those of equal weight (see :func:`differing`)."""
    if key == "target" or key.startswith("target."):
        return 0
    if key.startswith("model."):
        return 1
    if key.startswith(("training.optimizer.", "training.schedule.")):
        return 3
    if key.startswith("training."):
        return 2
    return 4 if key.startswith("data.") else 5


def differing(configs: list[dict]) -> list[str]:
    """Keys whose value is not the same in every config (missing counts as a value)."""
    if len(configs) < 2:
        return []
    keys: dict[str, None] = {}
    for c in configs:
        keys.update(dict.fromkeys(c))

    def values(k, absent):
        return {json.dumps(c[k], sort_keys=True) if k in c else absent for c in configs}

    out = [k for k in keys if k not in IGNORED and len(values(k, "absent")) > 1]

    # first the preferred keys, then those whose values differ (seed, l2), last those that
    # only some runs have, each with one value (rho of rmsprop: the optimizer says it);
    # within each, what was fitted before how: target, model, training, an optimizer's
    # or schedule's own settings, data
    def rank(k):
        preferred = PREFERRED.index(k) if k in PREFERRED else len(PREFERRED)
        return preferred, len(values(k, None) - {None}) < 2, _section(k)

    return sorted(out, key=rank)


def short_names(keys: list[str], taken=()) -> dict[str, str]:
    """A column header per key: its last part (``optimizer`` for ``…optimizer.name``),
    the whole key where two would read the same or the name is ``taken``."""

    def short(k: str) -> str:
        parts = k.split(".")
        return parts[-2] if parts[-1] == "name" and len(parts) > 1 else parts[-1]

    shorts = [short(k) for k in keys]
    return {
        k: (s if shorts.count(s) == 1 and s not in taken else k)
        for k, s in zip(keys, shorts, strict=True)
    }


def value_text(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return format(v, "g")
    if isinstance(v, list | dict):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


class Config(dict):
    """A run's value of each differing key that its config has: null where it set the
    key to null (``early_stopping: null``), left out where it has none (runs whose
    early_stopping is a section of keys, each a column of its own), so that the table
    and the JSON can tell the two apart."""

    def __init__(self, cfg: dict, keys: list[str]):
        super().__init__((k, cfg[k]) for k in keys if k in cfg)


def _leads(link: Path) -> str:
    """Where a link leads, when not to a folder: nowhere, or round in a loop."""
    try:
        link.resolve(strict=True)
    except FileNotFoundError:
        return ", which does not exist"
    except (RuntimeError, OSError):  # a loop of links (RuntimeError up to Python 3.12)
        return ", a loop of links"
    return ""


def collect(root: Path, with_problems: bool = False):
    """One row per run folder (metrics.json) and per sweep (summary.json) under ``root``,
    and the config keys that differ between the runs (each run row's ``config``); with
    ``with_problems`` also one line per folder that could not be read or is damaged."""
    root = Path(root)
    rows = []
    configs = []
    problems = []
    bad = []  # run folders unreadable or damaged: a sweep's recorded counts predate them
    for run_dir in find_runs(root):
        try:
            m = load_metrics(run_dir)
        except ResultsError as exc:  # a row all the same: the table lists every run folder
            problems.append(str(exc))
            bad.append(run_dir)
            rows.append(
                {
                    "kind": "run",
                    "path": str(run_dir.relative_to(root)),
                    **dict.fromkeys(COLUMNS[2:]),
                    "status": "unreadable",
                    "why": str(exc),
                    "config": {},
                }
            )
            continue
        damage = check_run(run_dir)
        if damage:
            problems.append(damage)
            bad.append(run_dir)
        test = m.get("test") or {}
        train = m.get("train") or {}
        cfg = _read_config(run_dir, [] if damage else problems)  # damage said it already
        configs.append(cfg)
        rows.append(
            {
                "kind": "run",
                "path": str(run_dir.relative_to(root)),
                "name": m.get("name"),
                "status": "damaged" if damage else m.get("status"),
                "why": damage,  # what the status says, in words (None for a sound run)
                "epochs": m.get("epochs"),
                "n_params": m.get("n_params"),
                "test_rmse": test.get("rmse"),
                "test_max_abs": test.get("max_abs"),
                "test_rel_l2": test.get("rel_l2"),
                "train_mse": train.get("mse"),
                "wall_s": m.get("wall_s"),
                "config": cfg,
            }
        )
    for link in links_under(root):  # listed, not followed: it read as no folder at all
        try:
            to = os.readlink(link)
        except OSError:  # pragma: no cover - it was a link a moment ago
            to = "?"
        problems.append(f"{link}: a link to {to}{_leads(link)}; report does not follow links")
    differs = differing(configs)
    for r in rows:
        r["config"] = Config(r["config"], differs)
    for folder in folders_holding(root, "summary.json"):
        name, status, wall_s = _sweep_status(folder, bad, problems)
        rows.append(
            {
                "kind": "sweep",
                "path": str(folder.relative_to(root)),
                "name": name,
                "status": status,
                **dict.fromkeys(COLUMNS[4:]),
                "wall_s": wall_s,
            }
        )
    return (rows, differs, problems) if with_problems else (rows, differs)


def _sweep_status(folder: Path, bad: list[Path], problems: list[str]):
    """A sweep folder's (name, status, wall_s) for its report row: its counts, or
    'unreadable' or 'damaged' (a row all the same, as for a run folder), with why in
    ``problems``; ``bad`` are the run folders found damaged or unreadable."""
    try:
        s = load_summary(folder)
    except ResultsError as exc:
        problems.append(str(exc))
        return None, "unreadable", None
    changed = summary_changes(folder)
    if changed:  # its counts, or its table, are not the sweep's
        problems += [f"{folder}/{c}" for c in changed]
        return s.get("name"), "damaged", None
    status = f"{s.get('n_ok', 0)} ok, {s.get('n_failed', 0)} failed"
    if s.get("n_missing"):
        status += f", {s['n_missing']} not run"
    k = sum(folder in b.parents for b in bad)
    if k:  # the counts are the sweep's record, from before the damage
        status += f" when run; {k} damaged or unreadable now"
    return s.get("name"), status, s.get("wall_s")


def _csv_value(v) -> str:
    """A config value for the CSV: a float in full, as it reads back (the table's
    value_text writes six digits, 0.333333), 1.0 as 1."""
    if type(v) is float and math.isfinite(v):
        text = repr(v)
        return text[:-2] if text.endswith(".0") else text
    return value_text(v)


def to_csv(rows: list[dict], differs: list[str] = ()) -> str:
    """The rows as CSV: the fixed columns, then one per differing config key."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*COLUMNS, *differs])
    for r in rows:
        cfg = r.get("config") or {}
        w.writerow(
            [
                *("" if r.get(k) is None else r.get(k) for k in COLUMNS),
                *("" if cfg.get(k) is None else _csv_value(cfg[k]) for k in differs),
            ]
        )
    return buf.getvalue()
