"""The command line's edge: library errors, Ctrl-C and failed output become exit codes.

A bad-input error (config, data, formula, results folder) is one line on stderr and exit
2; Ctrl-C is exit 130; a traceback is shown only with ``--debug``. Every message line is
printable and at most :data:`MAX_LINE` characters, whatever the input. Output that
cannot be written (a closed pipe, a full disk) ends the display, not the work: ``run``
and ``sweep`` keep their exit code and say on stderr that the output was lost; commands
whose output is their product exit 2. Each command runs under a
:class:`~nnfit.experiment.shield.Shield`, which counts Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import sys

import typer

from nnfit.experiment.shield import Shield
from nnfit.text import printable

EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 3, 130
MAX_LINE = 300  # characters of one message line

# process: the command line runs this process; closed: the standard streams it found
# closed; product: this command's stdout is its product (predict to a file says False)
state = {
    "debug": False,
    "process": False,
    "closed": (),
    "product": True,
    "ran": False,
    "interrupt_said": False,
}


def _debug_trace() -> None:
    """With ``--debug``, the traceback of the exception being handled, on stderr."""
    if state["debug"]:
        import traceback

        with contextlib.suppress(OSError, ValueError):  # a closed or full stderr
            traceback.print_exc(file=sys.stderr)


def open_closed_streams() -> tuple[str, ...]:
    """Put the null device on each standard stream the process was started without
    (``nnfit run e.yaml >&-``), and return their names.

    A closed descriptor 1 would otherwise be the next file opened, and what is meant for
    the terminal would land in a result file.
    """
    import io
    import os
    import sys

    closed = []
    for fd, name, mode in (
        (0, "stdin", os.O_RDONLY),
        (1, "stdout", os.O_WRONLY),
        (2, "stderr", os.O_WRONLY),
    ):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, mode)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            closed.append(name)
        if getattr(sys, name) is None:
            stream = io.TextIOWrapper(
                io.FileIO(fd, "r" if fd == 0 else "w", closefd=False), line_buffering=fd != 0
            )
            setattr(sys, name, stream)
            if name not in closed:
                closed.append(name)
    return tuple(closed)


def line(text) -> str:
    """One printable line: control characters escaped, at most MAX_LINE characters."""
    text = printable(text)
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 1] + "…"


def say(text, prefix: str = "") -> None:
    """A line on stderr (``prefix`` in red); a stderr that cannot be written is no
    reason for a traceback."""
    from rich.markup import escape

    from nnfit.display import err

    text = line(f"{prefix}: {text}" if prefix else text)
    if text.startswith("interrupted"):  # main() says it where nothing else did
        state["interrupt_said"] = True
    if prefix:
        text = f"[red]{prefix}:[/red] {escape(text[len(prefix) + 2 :])}"
    with contextlib.suppress(OSError, UnicodeError, ValueError):
        err.print(text, markup=bool(prefix), soft_wrap=True)


def fail(message, code: int = EXIT_BAD_INPUT):
    """Print up to three lines of ``message`` as errors and exit with ``code``."""
    for text in str(message).splitlines()[:3]:
        say(text, "error")
    raise typer.Exit(code)


def output_verdict(code: int, product: bool) -> int:
    """The exit code once stdout failed: the work's own where the work is on disk, 2
    where the output was the product. A closed pipe (``| head``) goes unremarked."""
    from nnfit import display

    if display.lost is None or code == EXIT_BAD_INPUT:  # bad input said so, and saved nothing
        return code
    exc = display.lost
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    if product:
        if not display.pipe_closed():
            say(f"cannot write the output: {reason}", "error")
        return code or EXIT_BAD_INPUT
    if not display.pipe_closed():
        say(f"note: the output could not be written ({reason}); the results are saved")
    return code


def is_output_error(exc: BaseException) -> bool:
    """An error from writing stdout: broken pipe, full disk, a character it cannot take."""
    if isinstance(exc, UnicodeEncodeError | BrokenPipeError):
        return True
    return isinstance(exc, OSError) and exc.errno in (errno.EPIPE, errno.ENOSPC, errno.EIO)


def path_error(exc: BaseException) -> str | None:
    """The line for an error about a path the user gave (a name too long, a link loop,
    a folder that is a file), or None for other errors. Writing stdout names no file."""
    from nnfit.experiment.yamlfile import short_path

    if not isinstance(exc, OSError) or exc.filename is None:
        return None
    return f"{short_path(exc.filename)}: {exc.strerror or type(exc).__name__}"


def guard(product: bool = True):
    """Decorate a command with the rules of the module docstring."""

    def wrap(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            from nnfit import display
            from nnfit.experiment.config import ConfigError
            from nnfit.experiment.data import DataError
            from nnfit.experiment.formulas import ExprError
            from nnfit.experiment.rundir import ResultsError

            display.reset()
            state["product"], state["ran"] = product, True
            if "stdout" in state["closed"]:
                display.lost = OSError(errno.EBADF, "stdout is closed")
            code = 0
            # one shield for the whole command, so that a second Ctrl-C that comes after
            # the work, while the summary prints, is counted too
            with Shield(note=say, last=state["process"]) as shield:
                try:
                    fn(*args, **kwargs)
                except typer.Exit as exc:
                    code = exc.exit_code
                # with --debug the traceback first, then the same line and exit code: a
                # bad input stays exit 2 (it was 1, the traceback's)
                except (ConfigError, DataError, ExprError, ResultsError) as exc:
                    _debug_trace()
                    code = _code_of(fail, str(exc))
                except KeyboardInterrupt:
                    _debug_trace()
                    say("interrupted")
                    code = EXIT_INTERRUPTED
                except display.OUTPUT_ERRORS as exc:
                    bad_path = path_error(exc)
                    if bad_path:
                        _debug_trace()
                        code = _code_of(fail, bad_path)
                    elif not is_output_error(exc):
                        raise
                    else:
                        display.lose(exc)
                except Exception:
                    if not shield.interrupted:
                        raise
                    # a library that wraps the KeyboardInterrupt of a Ctrl-C in an error
                    # of its own (pydantic, in a serializer): interrupted all the same
                    _debug_trace()
                    say("interrupted")
                    code = EXIT_INTERRUPTED
                code = output_verdict(code, state["product"])
            raise typer.Exit(code)

        return wrapper

    return wrap


def _code_of(fn, *args) -> int:
    try:
        fn(*args)
    except typer.Exit as exc:
        return exc.exit_code
    return 0
