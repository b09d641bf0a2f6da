"""Ctrl-C and SIGTERM around training and the writing of its results.

Without a :class:`Shield` a signal is Python's KeyboardInterrupt, wherever it lands.
While one is installed (the command line installs one per command):

- the first signal raises KeyboardInterrupt, which training turns into an interrupted
  run with the weights of its last finished epoch; if it comes while results are being
  written (inside :func:`writing`), it waits until the write is done and is raised then;
- the second waits too, whatever is running (the results of the first are being
  written), and ``note`` says so;
- the third raises at once: the write is aborted, and the run folder says
  ``interrupted`` (see :func:`nnfit.experiment.rundir.write_run`).

A signal that is ignored when the shield is installed (a shell starts a background
command of a script with SIGINT ignored) is left ignored.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable

ABORT_AT = 3
_active: Shield | None = None


class Interrupted(KeyboardInterrupt):
    """Ctrl-C in ``nnfit.run``, ``nnfit.sweep`` or ``Regressor.fit``, raised once what
    was finished is saved: a loop over runs stops, as it would on any KeyboardInterrupt,
    and ``result`` holds the interrupted Run, the Sweep of the runs that finished, or the
    estimator fitted with the weights of the last finished epoch."""

    def __init__(self, result, what: str = "training"):
        super().__init__(f"{what} interrupted; its result is kept in .result")
        self.result = result


class Shield:
    """Counts SIGINT and SIGTERM for one command; see the module docstring."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, note: Callable[[str], None] = lambda text: None, last: bool = False):
        """``last``: the process ends with this block, so on leaving it signals are
        ignored rather than given back to Python (a second Ctrl-C that comes as the
        process exits would otherwise end it with a traceback)."""
        self.note, self.last = note, last
        self.count = 0
        self.depth = 0  # nesting of writing() blocks
        self.pending = False  # a first signal held until the write is done
        self._previous: dict = {}

    def __enter__(self) -> Shield:
        global _active
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                # a signal the process was started ignoring stays ignored, as Python
                # leaves it: a shell script's `nnfit sweep … &` must outlive its Ctrl-C
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._handle)
        _active = self
        # once interrupted, a worker pool's threads that die as it is torn down (a pipe
        # closed under them) print no traceback
        self._excepthook = threading.excepthook
        threading.excepthook = self._thread_died
        # and a third Ctrl-C raised in a callback Python cannot pass it on from (a pool's
        # weakref callback) is not printed as "Exception ignored in …" with its traceback
        self._unraisablehook = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        return self

    def __exit__(self, *exc) -> bool:
        global _active
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_IGN if self.last else handler)
        self._previous.clear()
        threading.excepthook = self._excepthook
        sys.unraisablehook = self._unraisablehook
        _active = None
        return False

    def _thread_died(self, args) -> None:
        if not self.interrupted:
            self._excepthook(args)

    def _unraisable(self, args) -> None:
        if not (self.interrupted and isinstance(args.exc_value, KeyboardInterrupt)):
            self._unraisablehook(args)

    @property
    def interrupted(self) -> bool:
        return self.count > 0

    def _handle(self, signum, frame) -> None:
        self.count += 1
        if self.count >= ABORT_AT:
            self.pending = False
            raise KeyboardInterrupt
        if self.count == 1 and not self.depth:
            raise KeyboardInterrupt
        if self.count == 1:
            self.pending = True
        with contextlib.suppress(Exception):  # a note that cannot be shown is no reason to stop
            self.note(
                "interrupted: the results are being written; interrupt once more to abort "
                "(the run folder will then say it was interrupted)"
                if self.depth
                else "interrupted: stopping; interrupt once more to abort"
            )


@contextlib.contextmanager
def writing():
    """A block that a single signal does not cut short (a no-op without a Shield)."""
    s = _active
    if s is None:
        yield
        return
    s.depth += 1
    try:
        yield
    finally:
        s.depth -= 1
    if s.depth == 0 and s.pending:
        s.pending = False
        raise KeyboardInterrupt
