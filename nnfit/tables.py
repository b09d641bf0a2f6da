"""Summary tables for the terminal: a run, a sweep, the runs under a folder, gradcheck.

Every table fits the console's width: it leaves out whole columns (named in its caption)
before a number would be cut, and only the first, path-like column folds onto a second
line.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

from rich import box
from rich.cells import cell_len
from rich.measure import Measurement
from rich.table import Table

from nnfit.display import failure, fmt, out
from nnfit.text import count, printable


@dataclass
class Col:
    """A table column: its header (lines break at ``\\n``), cells, and how it sits."""

    header: str
    cells: list[str]
    justify: str = "right"
    keep: int = 0  # lower is dropped last; the first column is always kept

    def natural(self) -> int:
        lines = self.header.split("\n") + [c for cell in self.cells for c in cell.split("\n")]
        return max(cell_len(line) for line in lines)


GAP = 3  # between two columns: padding, rule, padding


def fitted_table(cols: list[Col], width: int, title: str = "", fold_at: int = 40, essential=3):
    """A table of ``cols`` that fits ``width``; numbers are never cut.

    Columns are taken in order of ``keep`` until one does not fit: a narrow column of
    little weight never takes the place of a wider one that matters more. Those with
    ``keep <= essential`` may narrow the first (folding) column down to 20 cells; the
    others are left out unless the first column keeps up to ``fold_at`` cells. Returns
    the table and the headers left out.
    """
    first, rest = cols[0], cols[1:]
    natural = first.natural()
    used, chosen, full = 0, set(), False
    for i in sorted(range(len(rest)), key=lambda i: rest[i].keep):
        reserve = min(natural, 20 if rest[i].keep <= essential else fold_at)
        need = rest[i].natural() + GAP
        if used + need + reserve <= width and not (full and rest[i].keep > essential):
            chosen.add(i)
            used += need
        elif rest[i].keep > essential:
            full = True
    shown = [first] + [c for i, c in enumerate(rest) if i in chosen]
    left_out = [c.header.replace("\n", " ") for i, c in enumerate(rest) if i not in chosen]
    t = Table(
        title=title or None,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        title_justify="left",
    )
    for c in shown:
        if c is first:
            w = max(1, min(natural, width - used))
            t.add_column(c.header, justify=c.justify, width=w, overflow="fold")
        else:
            t.add_column(c.header, justify=c.justify, no_wrap=True, min_width=c.natural())
    for r in range(len(first.cells)):
        t.add_row(*(c.cells[r] for c in shown))
    return t, left_out


def _left_out_note(left_out: list[str], width: int, see: str = "--csv or --json") -> str:
    """The columns a table of ``width`` left out, and where to find them."""
    if not left_out:
        return ""
    return f"not shown at {width} columns: {', '.join(left_out)} (see {see})"


def _r2(v) -> str:
    """R² to four places, or in e-notation where it is far below 0 (a target near zero
    everywhere makes 1 − SSE/SST as large as 1e200, which .4f prints digit by digit)."""
    big = isinstance(v, float) and math.isfinite(v) and abs(v) >= 1e4
    return fmt(v, ".3e" if big else ".4f")


def _baselines(record) -> dict:
    """The baselines asked for and fitted, by name."""
    return {
        k: b
        for k, b in ((record.metrics or {}).get("baselines") or {}).items()
        if isinstance(b, dict) and b.get("rmse") is not None
    }


def _run_table(record, columns: list[str]) -> Table:
    """The run table with these error columns: the network's sets, then its baselines
    on the same test set (their own parameter counts)."""
    why = record.stop_reason if record.stop_reason not in ("", record.status) else ""
    t = Table(
        title=f"{record.name} · {record.run_id} · {record.status}" + (f" ({why})" if why else "")
    )
    t.add_column("set")
    for col in columns:
        t.add_column(col, justify="right", no_wrap=True, min_width=9)

    def cell(m: dict, c: str) -> str:
        return _r2(m.get(c)) if c == "r2" else fmt(m.get(c))

    for part in ("train", "val", "test"):
        m = (record.metrics or {}).get(part) or {}
        t.add_row(part, *(cell(m, c) for c in columns))
    fitted = _baselines(record)
    if fitted:
        t.rows[-1].end_section = True  # a rule between the network's sets and them
    for name, b in fitted.items():  # no mae or r2 for a baseline
        t.add_row(
            f"{name} ({b.get('n_params')})",
            *(fmt(b.get(c)) if c not in ("mae", "r2") else "" for c in columns),
        )
    return t


#: the run table's error columns, and the order they are left out in when it is too wide
RUN_COLUMNS = ("rmse", "max_abs", "mae", "rel_l2", "r2")
RUN_DROPPED = ("mae", "r2", "rel_l2", "max_abs")


def run_summary(record, run_dir, written: bool = True, width: int | None = None) -> Table:
    """The run's errors, epochs and time, and the folder it was written to (with
    ``written`` False, that these numbers were not written there). The table fits
    ``width`` (the console's): error columns are left out, mae first, and named in the
    caption, which wraps at the table's width (a table wider than the console was cut at
    its edge, and with it letters of the caption)."""
    width = width or out.width
    columns = list(RUN_COLUMNS)
    t = _run_table(record, columns)
    for col in RUN_DROPPED:
        if Measurement.get(out, out.options.update(width=10**4), t).maximum <= width:
            break
        columns.remove(col)
        t = _run_table(record, columns)
    left_out = [c for c in RUN_COLUMNS if c not in columns]
    fitted = _baselines(record)
    done = "" if record.status == "ok" else " completed"  # "diverged in epoch 1": 0 completed
    parts = [
        count(record.epochs, "epoch") + done,
        count(record.steps, "step"),
        f"{record.wall_s:.2f} s",
        count(record.n_params, "parameter"),
    ]
    eps = (getattr(record, "config", None) or {}).get("training", {}).get("epsilon")
    if eps is not None:
        at = record.epsilon_reached_epoch
        parts.append(
            f"sup error below {eps:g} first at epoch {at}"
            if at is not None
            else f"sup error never below {eps:g}"
        )
    if fitted:
        parts.append("baselines on the test set (no mae or r2), their parameters in brackets")
    t.caption = f"{', '.join(parts)} → {printable(run_dir)}"
    if not written:  # the folder keeps an earlier finished run, not these numbers
        t.caption = f"{', '.join(parts)}; not written (not those of {printable(run_dir)})"
    best = getattr(record, "best_epoch", None)
    if record.status != "diverged" and best is not None and best < record.epochs:
        # as loss.png marks it: the errors above are not those of the last epoch
        es = ((getattr(record, "config", None) or {}).get("training") or {}).get("early_stopping")
        val = (record.metrics or {}).get("val") or {}  # n_val 0: a dict of None
        on_val = val.get("rmse") is not None and (es or {}).get("monitor", "val") == "val"
        from nnfit.experiment.messages import kept_epoch  # here: it loads pydantic

        kept = kept_epoch(on_val, (es or {}).get("min_delta") or 0.0)
        t.caption += f"\nweights restored from epoch {best:,} ({kept})"
    if record.status != "diverged" and _solved_at_the_end(getattr(record, "history", None) or {}):
        # (a diverged run's note below says whose errors they are, that solve included)
        # the live display's last line is the epoch before that solve
        t.caption += (
            "\nthe output layer solved by least squares once more at the end, for the "
            "hidden layers kept: the errors above are after it"
        )
    if record.status == "diverged" and not record.error:  # what the errors above are of
        from nnfit.experiment.messages import kept_weights

        said = {"status": "diverged", "epochs": record.epochs, "config": record.config or {}}
        solved = ((record.config or {}).get("training") or {}).get("output_layer") == "lstsq"
        kept = kept_weights(best, solved).replace("as initialised", "as initialised (epoch 0)")
        t.caption += f"\n{failure(said)}; the errors above are those of {kept}"
    if left_out:
        note = _left_out_note(left_out, width, "metrics.json")
        t.caption += f"\n{note}"
    t.caption_justify = "left"  # a path folded in a centred caption took spaces when copied
    return t


def _solved_at_the_end(h: dict) -> bool:
    """Whether a history ends on a closing least-squares solve that changed the cost."""
    epochs, solved, train = h.get("epoch") or [], h.get("output_solved") or [], h.get("train_loss")
    if len(epochs) < 2 or len(solved) != len(epochs) or not train or epochs[-1] == 0:
        return False
    return solved[-1] == 1.0 and epochs[-1] == epochs[-2] and train[-1] != train[-2]


def gradcheck_table(checks, title: str) -> Table:
    t = Table(title=title)
    cols = ("layer", "W shape", "‖grad‖", "finite diff.", "h vs 2h", "forward mode", "reverse mode")
    for col in cols:
        t.add_column(col, justify="right")
    for c in checks:
        t.add_row(
            str(c.layer),
            f"{c.shape[0]}×{c.shape[1]}",
            fmt(c.grad_norm),
            fmt(c.fd_error, ".2e"),
            fmt(c.fd_spread, ".2e"),
            fmt(c.jvp_error, ".2e"),
            fmt(c.tape_error, ".2e"),
        )
    t.caption = (
        "relative error of backprop against central differences at step h (h vs 2h: "
        "those at h against those at 2h), dual numbers (forward mode) and the tape "
        "(reverse mode)"
    )
    return t


#: a baseline's column header in the sweep's table
BASELINE_HEADERS = {"pwlinear": "pw-linear", "random_features": "random feat."}


def _varies(groups: list[dict], name: str) -> bool:
    """Whether baseline ``name`` differs between a point's seeds (random features draw
    theirs from the seed; a fit to the data alone is the same for each), so that its
    column is a mean."""
    from nnfit.sweep.summary import baseline_stats

    for r in groups:
        stats = baseline_stats(r, name)
        lo, hi = stats.get("min"), stats.get("max")
        if lo is not None and hi is not None and hi > lo:
            return True
    return False


def sweep_summary(summary: dict, width: int | None = None) -> Table:
    """Per grid point: seeds finished, errors; the title counts what finished."""
    from nnfit.sweep.grid import pretty
    from nnfit.sweep.rates import describe
    from nnfit.sweep.summary import baseline_names, baseline_rmse

    width = width or out.width
    groups = summary["groups"]
    baselines = baseline_names(summary)
    n_missing = summary.get("n_missing", 0)
    counts = f"{summary['n_ok']} ok, {summary['n_failed']} failed"
    if n_missing:
        counts += f", {n_missing} not run"
    if summary.get("n_reused"):
        counts += f" ({summary['n_reused']} reused)"
    title = f"{summary.get('name')} · {summary.get('sweep_id')} · {counts}"

    def label(r):  # values as the file writes them, {name: adam} not {'name': 'adam'}
        point = ", ".join(f"{k}={json.dumps(v)}" for k, v in r["point"].items())
        return pretty(point) or "as in the file"  # the grid varies the seeds alone

    def spread(r):  # one seed has no spread
        std = fmt(r["test_rmse"]["std"], ".1e") if r["n_ok"] > 1 else "—"
        return f"{fmt(r['test_rmse']['mean'])} ± {std}"

    def seeds(r):
        return f"{r['n_ok']}/{r.get('n_runs', r['n_ok'] + r['n_failed'])}"

    cols = [
        Col("point", [label(r) for r in groups], justify="left"),
        Col("ok", [seeds(r) for r in groups], keep=1),
        Col(
            "test rmse\n(mean ± std)",
            [spread(r) for r in groups],
            keep=2,
        ),
        Col("sup error\n(mean)", [fmt(r["test_max_abs"]["mean"]) for r in groups], keep=3),
        # the baselines' test RMS error beside the network's, as summary.csv has them
        *(
            Col(
                f"{BASELINE_HEADERS.get(name, name)}\n"
                + ("(mean rmse)" if _varies(groups, name) else "(test rmse)"),
                [fmt(baseline_rmse(r, name)) for r in groups],
                keep=4 + i,
            )
            for i, name in enumerate(baselines)
        ),
        Col("params", [str(r["n_params"]) for r in groups], keep=4 + len(baselines)),
        Col(
            "train mse\n(mean)",
            [fmt(r["train_mse"]["mean"]) for r in groups],
            keep=5 + len(baselines),
        ),
    ]
    t, left_out = fitted_table(cols, width, title)
    notes = [  # "all": the grid varies the width alone
        f"{'test RMS error' if f['series'] == 'all' else pretty(f['series'])}: {describe(f)}"
        for f in summary.get("slopes", [])
    ]
    if summary.get("failed"):
        failed = summary["failed"]
        notes += [f"failed: {label(f)}: {failure(f)} → {f['run']}" for f in failed[:5]]
        if len(failed) > 5:
            notes.append(f"and {len(failed) - 5:,} more failed runs (summary.json lists them all)")
    # the sweep's own command has no --csv: its folder has the table (as nnfit report)
    notes.append(_left_out_note(left_out, width, "summary.csv"))
    t.caption = "\n".join(n for n in notes if n)
    t.caption_justify = "left"
    return t


#: training keys that a run of no epochs never uses (hidden layers as drawn)
_UNUSED_WITHOUT_EPOCHS = ("training.optimizer", "training.schedule", "training.batch_size")


def _shown(row: dict, key: str):
    """A run's value of ``key`` for the report, None ('—') where the run does not use it:
    a random-features run (``epochs: 0``) has no optimizer."""
    if key == "name":  # the experiment's, which a sweep's grid may vary
        return row.get("name")
    config = row.get("config") or {}
    if config.get("training.epochs") == 0 and key.startswith(_UNUSED_WITHOUT_EPOCHS):
        return None
    if key in config and config[key] is None:
        return "null"  # as its file says, where others may have a section there
    return config.get(key)


def report_table(rows: list[dict], root, differs: list[str], width: int | None = None) -> Table:
    """The runs under ``root``, one section per folder, with a column per config key
    whose value differs between them (see :func:`nnfit.sweep.catalog.collect`)."""
    from nnfit.sweep.catalog import short_names, value_text

    width = width or out.width
    runs = [r for r in rows if r["kind"] == "run"]
    # a sweep at the root itself is the root's own folder, not a section "./"
    sweeps = {("" if r["path"] == "." else r["path"]): r for r in rows if r["kind"] == "sweep"}
    folders = sorted({os.path.dirname(r["path"]) for r in runs} | set(sweeps))
    lines: list[dict | str] = []
    for folder in folders:
        mine = [r for r in runs if os.path.dirname(r["path"]) == folder]
        if folder:
            lines.append(printable(f"{folder}/"))
        lines += mine
    groups = [
        [x for x in lines if isinstance(x, dict) and os.path.dirname(x["path"]) == f]
        for f in folders
    ]
    # the folder names the experiment, but not each run's of a sweep over `name`
    if any(len({r.get("name") for r in g}) > 1 for g in groups):
        differs = ["name", *differs]
    fixed = ("run", "status", "test rmse", "sup error", "epochs", "params", "train mse")
    names = short_names(differs, taken=(*fixed, "rel l2", "time s"))
    # first the keys that tell apart runs of one folder, then those that differ only
    # between folders (a column hidden for width is one that matters less)

    def within(k: str) -> int:
        return -sum(len({value_text(_shown(r, k)) for r in g}) > 1 for g in groups)

    def implied(k: str) -> bool:
        """Whether a choice's parameter (lbfgs's gtol, an optimizer's lr) has one value
        per value of that choice's name among these runs: the name column says it."""
        section, _, leaf = k.rpartition(".")
        name = f"{section}.name"
        if leaf == "name" or name not in differs:
            return False
        seen: dict[str, str] = {}
        return all(
            seen.setdefault(value_text(_shown(r, name)), value_text(_shown(r, k)))
            == value_text(_shown(r, k))
            for r in runs
        )

    differs = sorted(differs, key=lambda k: (implied(k), within(k)))
    # a key that differs only between folders matters less than a run's epochs, size,
    # training error and time: it is the same for every run of the folder above it (and
    # a parameter its choice's name implies comes after those)
    apart = sum(within(k) < 0 and not implied(k) for k in differs)

    def cells(fn) -> list[str]:
        return ["" if isinstance(x, str) else fn(x) for x in lines]

    def num(key, spec=".3e"):
        return cells(lambda r: fmt(r.get(key), spec) if r.get(key) is not None else "—")

    indent = "  " if any(isinstance(x, str) for x in lines) else ""
    cols = [
        Col(
            "run",
            [
                x
                if isinstance(x, str)
                else printable(
                    indent + os.path.basename(x["path"].strip("."))
                    or os.path.basename(os.path.abspath(root))
                )
                for x in lines
            ],
            justify="left",
        ),
        Col("status", cells(lambda r: str(r.get("status"))), justify="left", keep=1),
        Col("test rmse", num("test_rmse"), keep=2),
        Col("sup error", num("test_max_abs"), keep=3),
        *(
            Col(names[k], cells(lambda r, k=k: value_text(_shown(r, k))), keep=4 + i)
            for i, k in enumerate(differs[:apart])
        ),
        Col("epochs", num("epochs", "d"), keep=4 + apart),
        Col("params", num("n_params", "d"), keep=5 + apart),
        Col("train mse", num("train_mse"), keep=6 + apart),
        Col("time s", num("wall_s", ".2f"), keep=7 + apart),
        *(
            Col(names[k], cells(lambda r, k=k: value_text(_shown(r, k))), keep=8 + i)
            for i, k in enumerate(differs[apart:], start=apart)
        ),
        Col("rel l2", num("test_rel_l2"), keep=9 + len(differs)),
    ]
    t, left_out = fitted_table(cols, width, printable(f"runs under {root}"), fold_at=64)
    notes = [] if lines else ["no finished runs found"]
    here = os.path.basename(os.path.abspath(root))
    notes += [
        printable(f"sweep {path or here}/: {r['status']}") for path, r in sorted(sweeps.items())
    ]
    notes.append(_left_out_note(left_out, width))
    t.caption = "\n".join(n for n in notes if n)
    t.caption_justify = "left"
    return t
