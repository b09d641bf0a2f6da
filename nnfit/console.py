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
