"""What nnfit shows in the terminal: live training progress and summary tables (rich).

The engine reports each epoch through a callback; :class:`LiveProgress` turns those calls
into a progress bar refreshed a few times a second on a terminal, or a plain line every
few seconds when output goes to a file or pipe.

Everything is laid out for the console's width: a progress line drops its less useful
fields before the bar, and a table drops whole columns (named in its caption) before a
number would be cut; only path-like columns fold onto a second line.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.progress import BarColumn, Progress, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


def _width(stream) -> int | None:
    # rich falls back to 80 columns when not on a terminal; logs want more unless the
    # user says otherwise (COLUMNS=80 nnfit report … | less)
    if stream.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else 160


out = Console(highlight=False, width=_width(sys.stdout))
err = Console(stderr=True, highlight=False, width=_width(sys.stderr))


def fit_consoles() -> None:
    """Re-read the output width (for a process that runs several commands)."""
    for console, stream in ((out, sys.stdout), (err, sys.stderr)):
        with contextlib.suppress(AttributeError, ValueError):  # a stream without isatty
            console.width = _width(stream)


def fmt(v, spec=".3e") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return format(v, spec)


# ------------------------------------------------------------------------ progress

MIN_BAR = 10
_TIME = 8  # "10:00:00"


class _FittedProgress(Progress):
    """A Progress whose columns are chosen for the console's width at every refresh."""

    def __init__(self, layout: Callable[[int], list], console: Console, **kwargs):
        self._layout, self._console = layout, console
        super().__init__(*layout(console.width), console=console, **kwargs)

    def get_renderables(self):
        self.columns = tuple(self._layout(self._console.width))
        yield self.make_tasks_table(self.tasks)


MAX_BAR = 40


def _pick(width: int, layouts: list[list]) -> list:
    """The first layout whose text fits beside a bar of at least MIN_BAR cells; the bar
    takes what is left, up to MAX_BAR."""
    for layout in layouts:
        room = width - sum(w for w, _ in layout if w is not None) - (len(layout) - 1)
        if room >= MIN_BAR or layout is layouts[-1]:
            bar = BarColumn(bar_width=max(min(room, MAX_BAR), 1))
            return [col if w is not None else bar for w, col in layout]
    raise AssertionError  # the last layout is always taken


def run_layout(label: str, epochs: int) -> Callable[[int], list]:
    """Progress columns of one run, richest first: (width, column), None for the bar."""
    n = len(str(max(epochs, 1)))
    name = label if len(label) <= 16 else label[:15] + "…"
    epoch = f"epoch {{task.completed:>{n}.0f}}/{{task.total:.0f}}"
    count = f"{{task.completed:>{n}.0f}}/{{task.total:.0f}}"
    losses = "train {task.fields[train]}  val {task.fields[val]}"
    eta = [(3, "ETA"), (_TIME, TimeRemainingColumn())]
    head = [(len(name), f"[bold]{name}"), (None, None)]
    layouts = [
        [
            *head,
            (7 + 2 * n, epoch),
            (30, losses),
            (11, "lr {task.fields[lr]}"),
            (_TIME, TimeElapsedColumn()),
            *eta,
        ],
        [*head, (7 + 2 * n, epoch), (30, losses), *eta],
        [*head, (1 + 2 * n, count), (15, "train {task.fields[train]}"), *eta],
        [(None, None), (1 + 2 * n, count), *eta],
    ]
    return lambda width: _pick(width, layouts)


def sweep_layout(total: int) -> Callable[[int], list]:
    n = len(str(max(total, 1)))
    eta = [(3, "ETA"), (_TIME, TimeRemainingColumn())]
    done = (6 + 2 * n, "{task.completed:.0f}/{task.total:.0f} done")
    running = (n + 8, "{task.fields[running]} running")
    failed = (n + 7, "{task.fields[failed]} failed")
    layouts = [
        [
            (5, "[bold]sweep"),
            (None, None),
            done,
            running,
            failed,
            (_TIME, TimeElapsedColumn()),
            *eta,
        ],
        [(5, "[bold]sweep"), (None, None), done, failed, *eta],
        [(None, None), (1 + 2 * n, "{task.completed:.0f}/{task.total:.0f}"), *eta],
    ]
    return lambda width: _pick(width, layouts)


class LiveProgress:
    """Callback for training: shows epoch, losses, lr and ETA.

    ``clock`` replaces the time source of the bar (for tests of its rendering).
    """

    def __init__(
        self,
        label: str,
        epochs: int,
        quiet: bool = False,
        console: Console = out,
        plain_every: float = 5.0,
        clock: Callable[[], float] | None = None,
    ):
        self.label, self.epochs, self.quiet = label, epochs, quiet
        self.console = console
        self.plain_every = plain_every
        self.clock = clock
        self._last_plain = 0.0
        self.progress: Progress | None = None
        self.task = None

    def __enter__(self):
        if not self.quiet and self.console.is_terminal:
            extra = {"get_time": self.clock} if self.clock else {}
            self.progress = _FittedProgress(
                run_layout(self.label, self.epochs),
                console=self.console,
                refresh_per_second=4,
                transient=False,
                **extra,
            )
            self.progress.__enter__()
            self.task = self.progress.add_task(
                self.label, total=max(self.epochs, 1), train="—", val="—", lr="—"
            )
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)
        return False

    def __call__(self, info) -> None:
        if self.quiet:
            return
        if self.progress is not None:
            self.progress.update(
                self.task,
                completed=info.epoch,
                train=fmt(info.train_loss),
                val=fmt(info.val_loss),
                lr=fmt(info.lr, ".2e"),
            )
            return
        now = time.monotonic()
        if now - self._last_plain >= self.plain_every or info.epoch == info.epochs:
            self._last_plain = now
            self.console.print(
                f"{self.label}: epoch {info.epoch}/{info.epochs}  train {fmt(info.train_loss)}"
                f"  val {fmt(info.val_loss)}  lr {fmt(info.lr, '.2e')}  {info.wall_s:.1f}s",
                markup=False,
            )


class SweepProgress:
    """Overall progress of a sweep, and one line per finished point."""

    def __init__(
        self,
        folder,
        quiet: bool = False,
        console: Console = out,
        jobs: int = 1,
        clock: Callable[[], float] | None = None,
    ):
        self.folder, self.quiet, self.console, self.jobs = folder, quiet, console, jobs
        self.clock = clock
        self.progress: Progress | None = None
        self.task = None
        self.n_done = self.n_failed = self.n_todo = 0

    def running(self) -> int:
        """Points in flight: every worker busy while there is work left."""
        return min(self.jobs, self.n_todo - self.n_done)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)
        return False

    def start(self, total: int, todo: int) -> None:
        self.n_todo = todo
        if self.quiet:
            return
        reused = total - todo
        note = " (finished runs are reused; --rerun trains them again)" if reused else ""
        self.console.print(
            f"sweep: {total} points, {reused} already done, {todo} to run → {self.folder}{note}",
            markup=False,
            soft_wrap=True,
        )
        if self.console.is_terminal:
            extra = {"get_time": self.clock} if self.clock else {}
            self.progress = _FittedProgress(
                sweep_layout(total), console=self.console, refresh_per_second=4, **extra
            )
            self.progress.__enter__()
            self.task = self.progress.add_task(
                "sweep", total=total, completed=reused, failed=0, running=self.running()
            )

    def done(self, point, metrics: dict, skipped: bool) -> None:
        if skipped:
            return
        self.n_done += 1
        ok = metrics.get("status") == "ok"
        self.n_failed += not ok
        if self.progress is not None:
            self.progress.update(self.task, advance=1, failed=self.n_failed, running=self.running())
        if self.quiet:
            return
        test = metrics.get("test") or {}
        what = (
            f"test rmse {fmt(test.get('rmse'))}  sup {fmt(test.get('max_abs'))}"
            if ok
            else f"{metrics.get('status')}: {metrics.get('error') or metrics.get('stop_reason')}"
        )
        self.console.print(
            f"[{self.n_done}/{self.n_todo}] {point.label()}: {what}  "
            f"({fmt(metrics.get('wall_s'), '.1f')} s)",
            markup=False,
        )


# ------------------------------------------------------------------------ tables


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

    Columns are taken in order of ``keep``. Those with ``keep <= essential`` may narrow
    the first (folding) column down to 20 cells; the others are left out unless the first
    column keeps up to ``fold_at`` cells. Returns the table and the headers left out.
    """
    first, rest = cols[0], cols[1:]
    natural = first.natural()
    used, chosen = 0, set()
    for i in sorted(range(len(rest)), key=lambda i: rest[i].keep):
        reserve = min(natural, 20 if rest[i].keep <= essential else fold_at)
        need = rest[i].natural() + GAP
        if used + need + reserve <= width:
            chosen.add(i)
            used += need
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


def _left_out_note(left_out: list[str], width: int) -> str:
    if not left_out:
        return ""
    return f"not shown at {width} columns: {', '.join(left_out)} (see --csv or --json)"


def run_summary(record, run_dir) -> Table:
    t = Table(title=f"{record.name} · {record.run_id} · {record.status} ({record.stop_reason})")
    t.add_column("set")
    for col in ("rmse", "max_abs", "mae", "rel_l2", "r2"):
        t.add_column(col, justify="right", no_wrap=True, min_width=9)
    for part in ("train", "val", "test"):
        m = (record.metrics or {}).get(part) or {}
        t.add_row(
            part,
            *(fmt(m.get(c)) for c in ("rmse", "max_abs", "mae", "rel_l2")),
            fmt(m.get("r2"), ".4f"),
        )
    t.caption = (
        f"{record.epochs} epochs, {record.steps} steps, {record.wall_s:.2f} s, "
        f"{record.n_params} parameters → {run_dir}"
    )
    return t


def gradcheck_table(checks, title: str) -> Table:
    t = Table(title=title)
    for col in ("layer", "W shape", "‖grad‖", "finite diff. rel. error", "dual-number rel. error"):
        t.add_column(col, justify="right")
    for c in checks:
        t.add_row(
            str(c.layer),
            f"{c.shape[0]}×{c.shape[1]}",
            fmt(c.grad_norm),
            fmt(c.fd_error, ".2e"),
            fmt(c.jvp_error, ".2e"),
        )
    return t


def sweep_summary(summary: dict, width: int | None = None) -> Table:
    """Per grid point: seeds finished, errors; the title counts what finished."""
    from nnfit.sweep.grid import pretty
    from nnfit.sweep.rates import describe

    width = width or out.width
    groups = summary["groups"]
    n_missing = summary.get("n_missing", 0)
    counts = f"{summary['n_ok']} ok, {summary['n_failed']} failed"
    if n_missing:
        counts += f", {n_missing} not run"
    if summary.get("n_reused"):
        counts += f" ({summary['n_reused']} reused)"
    title = f"{summary.get('name')} · {summary.get('sweep_id')} · {counts}"

    def label(r):
        return pretty(", ".join(f"{k}={v}" for k, v in r["point"].items())) or "all"

    def seeds(r):
        return f"{r['n_ok']}/{r.get('n_runs', r['n_ok'] + r['n_failed'])}"

    cols = [
        Col("point", [label(r) for r in groups], justify="left"),
        Col("ok", [seeds(r) for r in groups], keep=1),
        Col(
            "test rmse\n(mean ± std)",
            [
                f"{fmt(r['test_rmse']['mean'])} ± {fmt(r['test_rmse']['std'], '.1e')}"
                for r in groups
            ],
            keep=2,
        ),
        Col("sup error\n(mean)", [fmt(r["test_max_abs"]["mean"]) for r in groups], keep=3),
        Col("params", [str(r["n_params"]) for r in groups], keep=4),
        Col("train mse\n(mean)", [fmt(r["train_mse"]["mean"]) for r in groups], keep=5),
    ]
    t, left_out = fitted_table(cols, width, title)
    notes = [f"{pretty(f['series'])}: {describe(f)}" for f in summary.get("slopes", [])]
    if summary.get("failed"):
        notes += [
            f"failed: {f['run']}: {f['status']} {f.get('error') or ''}"
            for f in summary["failed"][:5]
        ]
    notes.append(_left_out_note(left_out, width))
    t.caption = "\n".join(n for n in notes if n)
    t.caption_justify = "left"
    return t


def report_table(rows: list[dict], root, differs: list[str], width: int | None = None) -> Table:
    """The runs under ``root``, one section per folder, with a column per config key
    whose value differs between them (see :func:`nnfit.sweep.catalog.collect`)."""
    from nnfit.sweep.catalog import short_names, value_text

    width = width or out.width
    runs = [r for r in rows if r["kind"] == "run"]
    sweeps = {r["path"]: r for r in rows if r["kind"] == "sweep"}
    folders = sorted({os.path.dirname(r["path"]) for r in runs} | set(sweeps))
    lines: list[dict | str] = []
    for folder in folders:
        mine = [r for r in runs if os.path.dirname(r["path"]) == folder]
        if folder:
            lines.append(f"{folder}/")
        lines += mine
    fixed = ("run", "status", "test rmse", "sup error", "epochs", "params", "train mse")
    names = short_names(differs, taken=(*fixed, "rel l2", "time s"))

    def cells(fn) -> list[str]:
        return ["" if isinstance(x, str) else fn(x) for x in lines]

    def num(key, spec=".3e"):
        return cells(lambda r: fmt(r.get(key), spec) if r.get(key) is not None else "—")

    indent = "  " if any(isinstance(x, str) for x in lines) else ""
    cols = [
        Col(
            "run",
            [x if isinstance(x, str) else indent + os.path.basename(x["path"]) for x in lines],
            justify="left",
        ),
        Col("status", cells(lambda r: str(r.get("status"))), justify="left", keep=1),
        Col("test rmse", num("test_rmse"), keep=2),
        Col("sup error", num("test_max_abs"), keep=3),
        *(
            Col(
                names[k],
                cells(lambda r, k=k: value_text((r.get("config") or {}).get(k))),
                keep=4 + i,
            )
            for i, k in enumerate(differs)
        ),
        Col("epochs", num("epochs", "d"), keep=50),
        Col("params", num("n_params", "d"), keep=51),
        Col("train mse", num("train_mse"), keep=52),
        Col("rel l2", num("test_rel_l2"), keep=53),
        Col("time s", num("wall_s", ".2f"), keep=54),
    ]
    t, left_out = fitted_table(cols, width, f"runs under {root}", fold_at=64)
    notes = [] if lines else ["no finished runs found"]
    notes += [f"sweep {path}/: {r['status']}" for path, r in sorted(sweeps.items())]
    notes.append(_left_out_note(left_out, width))
    t.caption = "\n".join(n for n in notes if n)
    t.caption_justify = "left"
    return t
