"""What nnfit shows in the terminal: live training progress and summary tables (rich).

The engine reports each epoch through a callback; :class:`LiveProgress` turns those calls
into a progress bar refreshed a few times a second on a terminal, or a plain line every
few seconds when output goes to a file or pipe.

A progress line is laid out for the console's width: it drops its less useful fields
before the bar. The summary tables are in :mod:`nnfit.tables`.

Output can fail: a closed pipe (``| head -1``), a full disk (``> /dev/full``). The
display is a consumer that fails alone: the first write error on stdout is remembered
in :data:`lost`, stdout is pointed at the null device, and nothing more is shown; the
training and the files it writes go on as if nothing happened.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import sys
import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column

from nnfit.text import count, printable


def _width(stream) -> int | None:
    # rich falls back to 80 columns when not on a terminal; logs want more unless the
    # user says otherwise (COLUMNS=80 nnfit report … | less)
    if stream is not None and stream.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else 160


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich would exit the process here (SystemExit 1): a closed pipe ends the
        # display, not the command
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


# names print as written: no markup, no :emoji: codes
out = _Console(highlight=False, markup=False, emoji=False, width=_width(sys.stdout))
err = _Console(stderr=True, highlight=False, emoji=False, width=_width(sys.stderr))


def fit_consoles() -> None:
    """Re-read the output width (for a process that runs several commands)."""
    for console, stream in ((out, sys.stdout), (err, sys.stderr)):
        with contextlib.suppress(AttributeError, ValueError):  # a stream without isatty
            console.width = _width(stream)


#: the first error writing stdout in this command, or None
lost: BaseException | None = None
#: errors that mean the output cannot be written (ValueError: a closed file)
OUTPUT_ERRORS = (OSError, UnicodeError, ValueError)


def reset() -> None:
    global lost
    lost = None


def lose(exc: BaseException) -> None:
    """Record that stdout failed, and point it at the null device: Python's own flush at
    exit would fail again otherwise (and print a traceback)."""
    global lost
    lost = lost or exc
    with contextlib.suppress(OSError, ValueError, AttributeError):
        fd = sys.stdout.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)


def pipe_closed() -> bool:
    """Whether stdout failed because its reader went away (``| head``): not worth a word."""
    return isinstance(lost, BrokenPipeError) or getattr(lost, "errno", None) == errno.EPIPE


def show(*objects, console: Console | None = None, **kw) -> bool:
    """Print to stdout (rich) unless it has failed before; False once it has."""
    if lost is not None:
        return False
    try:
        (console or out).print(*objects, **kw)
    except OUTPUT_ERRORS as exc:
        lose(exc)
        return False
    return True


def write(text: str) -> bool:
    """Write plain text to stdout unless it has failed before; False once it has."""
    if lost is not None:
        return False
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OUTPUT_ERRORS as exc:
        lose(exc)
        return False
    return True


def fmt(v, spec=".3e") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return format(v, spec)


# ------------------------------------------------------------------------ progress

MIN_BAR = 10
_TIME = 8  # "10:00:00"


def failure(metrics: dict) -> str:
    """Why a run did not finish, from its metrics.json (or a sweep summary's entry for
    it): in which epoch it diverged and what may help, or its status and error."""
    status, error = metrics.get("status"), metrics.get("error")
    if status != "diverged" or error:
        return f"{status}: {error or metrics.get('stop_reason')}"
    training = (metrics.get("config") or {}).get("training")
    training = training if isinstance(training, dict) else {}
    opt = training.get("optimizer")
    name = metrics.get("optimizer") or (opt.get("name") if isinstance(opt, dict) else None)
    hint = "" if name in ("lbfgs", "lm") else "; a smaller lr may help"
    if hint and (metrics.get("output_layer") or training.get("output_layer")) == "lstsq":
        hint = "; a smaller lr or a larger training.l2 (the output layer's ridge) may help"
    return (
        f"diverged in epoch {(metrics.get('epochs') or 0) + 1} (the loss grew far above "
        f"its start, or a weight stopped being finite){hint}"
    )


class _FittedProgress(Progress):
    """A Progress whose columns are chosen for the console's width at every refresh."""

    def __init__(self, layout: Callable[[int], list], console: Console, **kwargs):
        self._layout, self._console = layout, console
        super().__init__(*layout(console.width), console=console, **kwargs)

    def get_renderables(self):
        self.columns = tuple(self._layout(self._console.width))
        yield self.make_tasks_table(self.tasks)


MAX_BAR = 40


def _column(col):
    # a TextColumn parses its own markup: a plain string would follow the markup setting
    # of whatever print call happens to refresh the display
    if isinstance(col, str):
        return TextColumn(col, table_column=Column(no_wrap=True))
    return col


def _pick(width: int, layouts: list[list]) -> list:
    """The first layout whose text fits beside a bar of at least MIN_BAR cells; the bar
    takes what is left, up to MAX_BAR."""
    for layout in layouts:
        room = width - sum(w for w, _ in layout if w is not None) - (len(layout) - 1)
        if room >= MIN_BAR or layout is layouts[-1]:
            bar = BarColumn(bar_width=max(min(room, MAX_BAR), 1))
            return [_column(col) if w is not None else bar for w, col in layout]
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
        [(None, None), (7 + 2 * n, epoch), (30, losses), *eta],  # the name is in the summary
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
        self._pending = None  # the latest epoch not printed as plain text
        self.progress: Progress | None = None
        self.task = None
        self.broken: BaseException | None = None  # why the display stopped, if it did

    def _stop(self, exc: BaseException) -> None:
        """The display failed: stop showing anything; the caller's work goes on."""
        self.broken = exc
        if isinstance(exc, OUTPUT_ERRORS) and self.console.file is sys.stdout:
            first = lost is None
            lose(exc)
            if first and not pipe_closed():
                reason = getattr(exc, "strerror", None) or type(exc).__name__
                with contextlib.suppress(*OUTPUT_ERRORS):
                    err.print(
                        f"note: cannot write to stdout ({reason}); progress is no longer "
                        "shown, the work goes on",
                        markup=False,
                        soft_wrap=True,
                    )
        if self.progress is not None:
            progress, self.progress = self.progress, None
            with contextlib.suppress(Exception):
                progress.stop()

    def __enter__(self):
        try:
            self._start()
        except Exception as exc:
            self._stop(exc)
        return self

    def _start(self) -> None:
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

    def __exit__(self, *exc):
        if self.progress is not None:
            try:
                self.progress.__exit__(*exc)
            except Exception as error:
                self._stop(error)
        elif self._pending is not None and self.broken is None:
            # the last epoch shown as plain text, where training stopped early
            try:
                self._plain(self._pending)
            except Exception as error:
                self._stop(error)
        return False

    def __call__(self, info) -> None:
        """Show one epoch; never raises (a display that fails goes quiet)."""
        if self.quiet or self.broken is not None:
            return
        try:
            self._show(info)
        except Exception as exc:
            self._stop(exc)

    def _show(self, info) -> None:
        if lost is not None and self.console.file is sys.stdout:
            raise lost
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
        self._pending = info
        if now - self._last_plain >= self.plain_every or info.epoch == info.epochs:
            self._last_plain = now
            self._plain(info)

    def _plain(self, info) -> None:
        self._pending = None
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
        self.broken: BaseException | None = None

    _stop = LiveProgress._stop

    def running(self) -> int:
        """Points in flight: every worker busy while there is work left."""
        return min(self.jobs, self.n_todo - self.n_done)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            try:
                self.progress.__exit__(*exc)
            except Exception as error:
                self._stop(error)
        return False

    def start(self, total: int, todo: int) -> None:
        """The sweep begins; never raises (a display that fails goes quiet)."""
        self.n_todo = todo
        if self.quiet or self.broken is not None:
            return
        try:
            self._start(total, todo)
        except Exception as exc:
            self._stop(exc)

    def done(self, point, metrics: dict, skipped: bool) -> None:
        """A point finished; never raises."""
        if skipped:
            return
        self.n_done += 1
        self.n_failed += metrics.get("status") != "ok"
        if self.broken is not None:
            return
        try:
            self._done(point, metrics)
        except Exception as exc:
            self._stop(exc)

    def _start(self, total: int, todo: int) -> None:
        if lost is not None and self.console.file is sys.stdout:
            raise lost
        reused = total - todo
        note = " (finished runs are reused; --rerun trains them again)" if reused else ""
        self.console.print(
            f"sweep: {count(total, 'point')}, {reused:,} already done, {todo:,} to run → "
            f"{printable(self.folder)}{note}",
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

    def _done(self, point, metrics: dict) -> None:
        ok = metrics.get("status") == "ok"
        if self.progress is not None:
            self.progress.update(self.task, advance=1, failed=self.n_failed, running=self.running())
        if self.quiet:
            return
        test = metrics.get("test") or {}
        if ok:
            what = f"test rmse {fmt(test.get('rmse'))}  sup {fmt(test.get('max_abs'))}"
        else:
            what = failure(metrics)
        what = what if len(what) <= 200 else what[:199] + "…"
        head, secs = f"[{self.n_done}/{self.n_todo}] ", f"  ({fmt(metrics.get('wall_s'), '.1f')} s)"
        label = point.label()
        line = f"{head}{label}: {what}{secs}"
        if ok and len(line) > self.console.width:
            # one line a run, as the tables fit the terminal: the keys without their
            # sections (as the table's rows), then without the time, then cut
            from nnfit.sweep.summary import pretty

            short = pretty(label)
            line = f"{head}{short}: {what}{secs}"
            if len(line) > self.console.width:
                room = self.console.width - len(head) - len(what) - 2
                short = short if len(short) <= room else short[: max(room - 1, 0)] + "…"
                line = f"{head}{short}: {what}"
        self.console.print(line, markup=False)
