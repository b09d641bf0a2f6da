"""The ``nnfit`` command's first module: Ctrl-C or SIGTERM while the command line is
still being imported ends the process with one line and exit 130, not with a traceback
from inside an import, nor silently.

Kept free of imports beyond the standard library's smallest, so that the window before
its handlers are set is as short as Python allows. Until a command's own rules take
over (:class:`nnfit.experiment.shield.Shield`), SIGTERM is Ctrl-C; an interrupt that
escapes everything else (a second one while the first is being reported) still ends
with that line and exit 130.
"""

import os
import signal

INTERRUPTED = 130


def _said_and_gone(signum=None, frame=None):  # nothing has started: nothing to keep
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:  # noqa: SIM105 (contextlib is one more import before the handler is set)
        os.write(2, b"interrupted\n")
    except OSError:  # a closed stderr
        pass
    os._exit(INTERRUPTED)


def _as_ctrl_c(signum, frame):
    raise KeyboardInterrupt


def main() -> None:
    # a signal ignored at the start (`nnfit … &` in a script) stays ignored
    mine = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) is not signal.SIG_IGN]
    previous = {s: signal.signal(s, _said_and_gone) for s in mine}
    from nnfit.cli import main as run_command

    for s in mine:  # from here the commands' rules hold; SIGTERM is Ctrl-C until then
        signal.signal(s, previous[s] if s == signal.SIGINT else _as_ctrl_c)
    try:
        run_command()
    except KeyboardInterrupt:  # one more while the first was being reported
        _said_and_gone()
