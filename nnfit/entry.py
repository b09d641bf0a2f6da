"""The ``nnfit`` command's first module: Ctrl-C while the command line is still being
imported ends the process quietly (exit 130), not with a traceback from inside an import.

Kept free of imports beyond the standard library's smallest, so that the window before
its handler is set is as short as Python allows.
"""

import os
import signal


def _quiet(signum, frame):  # before anything has started there is nothing to keep
    os._exit(130)


def main() -> None:
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # `nnfit … &` in a script
    previous = None if ignored else signal.signal(signal.SIGINT, _quiet)
    from nnfit.cli import main as run_command

    if not ignored:  # from here the commands' own Ctrl-C rules hold
        signal.signal(signal.SIGINT, previous)
    run_command()
