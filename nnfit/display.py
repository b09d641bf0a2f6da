"""What nnfit shows in the terminal: live training progress and summary tables (rich).

The engine reports each epoch through a callback; :class:`LiveProgress` turns those calls
into a progress bar refreshed a few times a second on a terminal, or a plain line every
few seconds when output goes to a file or pipe.
"""

from __future__ import annotations

import math
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

# rich falls back to 80 columns when not on a terminal; tables in logs want more
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)


def fmt(v, spec=".3e") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return format(v, spec)


class LiveProgress:
    """Callback for :func:`nnfit.train.train`: shows epoch, losses, lr and ETA."""

    def __init__(
        self,
        label: str,
        epochs: int,
        quiet: bool = False,
        console: Console = out,
        plain_every: float = 5.0,
    ):
        self.label, self.epochs, self.quiet = label, epochs, quiet
        self.console = console
        self.plain_every = plain_every
        self._last_plain = 0.0
        self.progress: Progress | None = None
        self.task = None

    def __enter__(self):
        if not self.quiet and self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("epoch {task.completed:>6.0f}/{task.total:.0f}"),
                TextColumn(
                    "train {task.fields[train]}  val {task.fields[val]}  lr {task.fields[lr]}"
                ),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                refresh_per_second=4,
                transient=False,
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
                f"  val {fmt(info.val_loss)}  lr {fmt(info.lr, '.2e')}  {info.wall_s:.1f}s"
            )


def run_summary(record, run_dir) -> Table:
    t = Table(title=f"{record.name} · {record.run_id} · {record.status} ({record.stop_reason})")
    t.add_column("set")
    for col in ("rmse", "max_abs", "mae", "rel_l2", "r2"):
        t.add_column(col, justify="right")
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


class SweepProgress:
    """Overall progress of a sweep, and one line per finished point."""

    def __init__(self, folder, quiet: bool = False, console: Console = out, jobs: int = 1):
        self.folder, self.quiet, self.console, self.jobs = folder, quiet, console, jobs
        self.progress: Progress | None = None
        self.task = None
        self.n_done = self.n_failed = self.n_todo = 0

    def running(self) -> int:
        """Points in flight: every worker busy while there is work left."""
        return min(self.jobs, self.n_todo - self.n_done)

    def __enter__(self):
        if not self.quiet and self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]sweep"),
                BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} done"),
                TextColumn("{task.fields[running]} running"),
                TextColumn("{task.fields[failed]} failed"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                refresh_per_second=4,
            )
            self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)
        return False

    def start(self, total: int, todo: int) -> None:
        self.n_todo = todo
        if self.progress is not None:
            self.task = self.progress.add_task(
                "sweep", total=total, completed=total - todo, failed=0, running=self.running()
            )
        elif not self.quiet:
            self.console.print(
                f"sweep: {total} points, {total - todo} already done, {todo} to run → {self.folder}"
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


def sweep_summary(summary: dict) -> Table:
    from nnfit.sweep.grid import pretty
    from nnfit.sweep.rates import describe

    t = Table(
        title=f"{summary.get('name')} · {summary.get('sweep_id')} · "
        f"{summary['n_ok']} ok, {summary['n_failed']} failed"
    )
    t.add_column("point")
    t.add_column("params", justify="right")
    t.add_column("seeds ok", justify="right")
    for c in ("test rmse (mean ± std)", "sup error (mean)", "train mse (mean)"):
        t.add_column(c, justify="right")
    for r in summary["groups"]:
        rm = r["test_rmse"]
        label = pretty(", ".join(f"{k}={v}" for k, v in r["point"].items())) or "all"
        t.add_row(
            label,
            str(r["n_params"]),
            f"{r['n_ok']}/{r['n_ok'] + r['n_failed']}",
            f"{fmt(rm['mean'])} ± {fmt(rm['std'], '.1e')}",
            fmt(r["test_max_abs"]["mean"]),
            fmt(r["train_mse"]["mean"]),
        )
    notes = [f"{pretty(f['series'])}: {describe(f)}" for f in summary.get("slopes", [])]
    if summary.get("failed"):
        notes += [
            f"failed: {f['run']}: {f['status']} {f.get('error') or ''}"
            for f in summary["failed"][:5]
        ]
    t.caption = "\n".join(notes)
    return t
