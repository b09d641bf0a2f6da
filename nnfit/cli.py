"""The ``nnfit`` command: parse, call the library, print.

Library errors become one clean line at this edge (exit 2 for bad input); a traceback
is shown only with ``--debug``. Heavy modules are imported inside the commands so that
``nnfit --help`` stays fast.

The terminal never costs a result: output that cannot be written (a closed pipe, a full
disk, an encoding without the characters) ends the display, not the work; ``run`` and
``sweep`` keep their exit code and say on stderr that the output was lost, commands
whose product is their output exit 2. Ctrl-C is counted by a
:class:`~nnfit.experiment.shield.Shield`: the first stops training, the second waits
for the results to be written, the third aborts.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from nnfit.cli_read import SetOpt, add_commands, build_data, check_data
from nnfit.edge import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    open_closed_streams,
    printable,
    state,
)
from nnfit.edge import fail as _fail
from nnfit.edge import guard as _guard
from nnfit.edge import say as _say
from nnfit.text import count

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Experiments that show how well neural networks approximate functions.",
)
_state = state  # --debug, read by the guard


def _no_flag_type(display):
    """Help shows no type for a flag: typer's '<bool>' reads as if it took a value
    (``--quiet true`` is an error)."""

    def shown(self, ctx):
        return None if getattr(self, "is_flag", False) else display(self, ctx)

    return shown


typer.core.TyperOption.display_type_rich = _no_flag_type(typer.core.TyperOption.display_type_rich)

OutOpt = Annotated[Path, typer.Option("--out", help="Results root folder.")]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Hide the live progress; the final summary table still prints."
    ),
]


def _print_version(given: bool) -> None:
    if given:
        from nnfit import __version__

        typer.echo(f"nnfit {__version__}")
        raise typer.Exit()


NoFiguresOpt = Annotated[
    bool,
    typer.Option(
        "--no-figures",
        help="Write runs without fit.png, loss.png and gradients.png (most of a small run's "
        "time; nnfit run on a run's config.yaml trains it again, to the same weights, with "
        "them).",
    ),
]


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
):
    _state["debug"] = debug
    # a character the terminal's encoding lacks becomes "?" rather than an error
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="replace")
    if "nnfit.display" in sys.modules:  # imported by an earlier command in this process
        sys.modules["nnfit.display"].fit_consoles()


# ---------------------------------------------------------------------------- run


def _note_display(progress) -> None:
    """Say why the progress display stopped, unless it was the output itself."""
    from nnfit.display import OUTPUT_ERRORS

    exc = progress.broken
    if exc is not None and not isinstance(exc, OUTPUT_ERRORS):
        _say(f"note: the progress display stopped ({type(exc).__name__}: {exc}); work went on")


@app.command()
@_guard(product=False)
def run(
    file: Annotated[Path, typer.Argument(help="Experiment YAML file.")],
    set_: SetOpt = None,
    out: OutOpt = Path("results"),
    quiet: QuietOpt = False,
    no_figures: NoFiguresOpt = False,
):
    """Train one network and write its results folder."""
    from nnfit.display import LiveProgress, show
    from nnfit.experiment import config, shield
    from nnfit.experiment import rundir as results
    from nnfit.experiment import runner as experiment
    from nnfit.tables import run_summary

    data, loc = config.load_raw(file, set_ or [])
    config.refuse_sweep(loc, "run does not sweep; use nnfit sweep")
    exp = config.from_dict(data, str(file), loc)
    run_dir = results.inside(out, exp.name, exp.run_id())
    ds = build_data(exp, file, loc)
    earlier = results.finished(run_dir)  # trained again and replaced: said at the end
    drawn = earlier and no_figures and any(run_dir.glob("*.png"))
    if exp.sweep is not None and exp.sweep.grid:  # said, since run leaves it aside
        n = math.prod(len(v) for v in exp.sweep.grid.values())
        _say(
            f"note: {printable(file)}: run trains the file's own experiment and leaves its "
            f"sweep.grid ({count(n, 'point')}) aside; nnfit sweep runs the grid"
        )
    try:
        with LiveProgress(exp.name, exp.training.epochs, quiet) as progress:
            rec = experiment.execute(exp, callback=progress, data=ds, plots=False)
        with shield.writing():  # figures too: a finished run is not lost to one Ctrl-C
            if rec.model and not no_figures:
                rec.figures, rec.warnings = experiment.draw_figures(exp, rec, ds)
            placed = results.write_run(rec, run_dir)
    except KeyboardInterrupt:  # cut short outside training, or a third Ctrl-C
        gone = experiment.failed_record(exp, KeyboardInterrupt())
        gone.status = gone.stop_reason = "interrupted"
        results.mark_interrupted(gone, run_dir)
        raise
    _note_display(progress)
    for w in rec.warnings:
        _say(f"warning: {w}")
    show(run_summary(rec, run_dir, written=bool(placed)))
    if not placed:
        _say(
            f"{rec.status}: not written; the finished run of this config in {run_dir} "
            "is kept as it was"
        )
    else:
        replaced = ""
        if earlier:
            replaced = " (replaces the earlier run of this config" + (
                " and its figures; without --no-figures it draws them)" if drawn else ")"
            )
        show(f"results: {printable(run_dir)}{replaced}", soft_wrap=True)
    if rec.status == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)
    if rec.status != "ok":
        if rec.error:
            _say(f"run failed: {rec.error}")
            if _state["debug"] and rec.traceback:
                _say_all(rec.traceback)
        raise typer.Exit(EXIT_FAILED)


def _say_all(text: str) -> None:
    from nnfit.display import err

    with contextlib.suppress(OSError, UnicodeError, ValueError):
        err.print(text, markup=False)


# ---------------------------------------------------------------------------- sweep


def _widths(text: str | None) -> list[int] | None:
    if text is None:
        return None
    from nnfit.experiment.points import whole_numbers
    from nnfit.text import cut

    widths = whole_numbers(text)  # every part a number: 1,,2 is a width left out
    if widths is None:
        from nnfit.experiment.config import MAX_WIDTH

        parts = text.split(",")
        long = next(
            (p for p in parts if p.isascii() and p.isdigit() and len(p.lstrip("0")) > 9), None
        )
        if long:  # a whole number, past any width the model takes
            which = "" if long == text else f"width {cut(long, 20)} "
            _fail(f"--widths {cut(text)}: {which}is above {MAX_WIDTH:,}, the widest layer allowed")
        _fail(f"--widths {cut(text)}: expected whole numbers separated by commas, e.g. 1,2,4,8")
    if min(widths) < 1:
        _fail(f"--widths {cut(text)}: widths must be positive")
    from nnfit.experiment.config import MAX_WIDTH

    if max(widths) > MAX_WIDTH:  # said as for a number of more digits than a width has
        which = "" if len(widths) == 1 else f"width {max(widths)} "
        _fail(f"--widths {cut(text)}: {which}is above {MAX_WIDTH:,}, the widest layer allowed")
    return widths


@app.command()
@_guard(product=False)
def sweep(
    file: Annotated[
        Path, typer.Argument(help="Experiment YAML file (with sweep.grid, or give --widths).")
    ],
    widths: Annotated[
        str | None,
        typer.Option(help="Widths to sweep: each sets every hidden layer of the file's network."),
    ] = None,
    seeds: Annotated[int | None, typer.Option(min=1, help="Seeds 0..N-1 per point.")] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    dask: Annotated[
        str | None, typer.Option(help="Scheduler address, or 'local' for a LocalCluster.")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Keep the finished runs of an earlier sweep of the same config (the default).",
        ),
    ] = False,
    rerun: Annotated[
        bool, typer.Option("--rerun", help="Train every point again, finished or not.")
    ] = False,
    set_: SetOpt = None,
    out: OutOpt = Path("results"),
    quiet: QuietOpt = False,
    no_figures: NoFiguresOpt = False,
):
    """Run every point of a grid in parallel; write a summary and the error-vs-width plot.

    Finished runs of the same config are reused, so a sweep continues; --rerun trains again.
    """
    from nnfit.display import SweepProgress, show
    from nnfit.experiment import config
    from nnfit.sweep import grid as sw
    from nnfit.sweep import workers
    from nnfit.tables import sweep_summary

    if resume and rerun:
        _fail("--resume and --rerun contradict each other: give one")
    folder, grid, points = sw.expand(file, set_ or [], _widths(widths), seeds, out)
    data, loc = config.load_raw(file, set_ or [])  # every point's data, as validate checks
    base = config.from_dict(data, str(file), loc)
    check_data(file, [p.exp for p in points], base, loc, [p.label() for p in points], seeds=False)
    if dask:
        workers.check_address(dask)
    sw.check_resources(points, jobs, dask)
    with SweepProgress(folder, quiet, jobs=jobs) as progress:
        result = sw.run(
            folder,
            grid,
            points,
            jobs=jobs,
            dask=dask,
            resume=not rerun,
            plots=not no_figures,
            on_start=progress.start,
            on_done=progress.done,
        )
    _note_display(progress)
    if result.n_finished:  # else a table of dashes: the line below says 0 finished
        show(sweep_summary(result.summary))
    for w in result.summary.get("warnings", []):
        _say(f"warning: {w}")
    show(f"sweep: {printable(folder)}", soft_wrap=True)
    if result.interrupted:
        again = "rerun without --rerun" if rerun else "rerun with the same command"
        finished = f"{result.n_finished:,} of {count(len(points), 'run')} finished"
        if result.n_kept:
            trained = result.n_finished - result.n_kept
            finished = (
                f"{trained:,} of {count(len(points), 'run')} trained again; "
                f"{result.n_kept:,} not reached keep their earlier results"
            )
        _say(f"interrupted: {finished}; {again} to continue")
        raise typer.Exit(EXIT_INTERRUPTED)
    if result.n_failed or result.summary["n_missing"]:
        raise typer.Exit(EXIT_FAILED)


# ---------------------------------------------------------------------------- study


@app.command()
@_guard(product=False)
def study(
    only: Annotated[
        str | None, typer.Option("--only", help="Sections to write, e.g. 1,4 (default: all).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for runs and REPORT.md.")] = Path(
        "results/reproduce"
    ),
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    experiments: Annotated[
        Path, typer.Option("--experiments", help="Folder holding the study's files.")
    ] = Path("experiments/reproduce"),
):
    """The study behind make reproduce: run each section's sweeps, then write REPORT.md.

    Finished runs of the same config are reused, so an interrupted study continues.
    """
    from nnfit.display import show
    from nnfit.study import run as st

    def on_sweep(stem, folder, n):
        show(f"{stem}: {count(n, 'run')} → {printable(folder)}", soft_wrap=True)

    def on_swept(s):
        m = s.summary
        show(
            f"  {m['n_ok']} ok, {m['n_failed']} failed ({m['n_reused']} reused), {s.wall_s:.0f} s",
            markup=False,
        )

    try:
        res = st.run(experiments, out, jobs, st.parse_only(only), on_sweep, on_swept)
    except st.StudyError as exc:
        _fail(str(exc))
    if res.interrupted:
        _say("interrupted: the finished runs are kept; run the same command to continue")
        raise typer.Exit(EXIT_INTERRUPTED)
    for line in res.left:
        _say(f"warning: not in REPORT.md: {printable(line)}")
    show(
        f"report: {printable(res.report)} ({res.wall_s / 60:.1f} min wall, "
        f"{res.cpu_s / 60:.1f} min CPU, {count(res.n_failed, 'run')} failed)",
        soft_wrap=True,
    )
    if res.n_failed:
        raise typer.Exit(EXIT_FAILED)


# ---------------------------------------------------------------------------- checks


add_commands(app)


def _usage_line(exc) -> str:
    """A usage error (a missing argument, an unknown option) as one line."""
    where = exc.ctx.command_path if exc.ctx is not None else "nnfit"
    if where == "nnfit":  # an option's missing value is found before the command's context
        names = {c.name or c.callback.__name__ for c in app.registered_commands}
        given = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
        if given in names:
            where = f"nnfit {given}"
    message = exc.format_message().rstrip(".")
    argv = sys.argv[1:]
    for i, a in enumerate(argv[:-2]):  # --set KEY VALUE: the value came out as an argument
        if a == "--set" and "=" not in argv[i + 1] and not argv[i + 2].startswith("-"):
            message += f" (--set takes KEY=VALUE: --set {argv[i + 1]}={argv[i + 2]})"
            break
    return f"{where}: {message}; see '{where} --help'"


def _click_errors():
    """The usage, no-arguments and abort exceptions of the click that typer runs on
    (its own copy in recent typer, the click package in earlier ones)."""
    module = sys.modules[typer.BadParameter.__module__]
    return module.NoArgsIsHelpError, module.ClickException, typer.Abort


def _argv_problem(argv: list[str]) -> str | None:
    """An empty argument, or an option of one value given twice (click keeps the last
    unseen: ``--out A --out B`` never writes A), as a usage line; None if neither."""
    names = [a.split("=", 1)[0] for a in argv if a.startswith("-")]
    empty = "" in argv or any(a.startswith("-") and a.endswith("=") for a in argv)
    if not empty and len(names) == len(set(names)):
        return None  # the common case needs no look at the commands
    import typer.main

    group = typer.main.get_command(app)
    where, command, params = "nnfit", None, group.params
    seen: dict[str, str] = {}
    args = iter(argv)
    for a in args:
        if a == "--":
            break
        if a == "":  # an option's value is taken below: this one follows no option of a value
            what = "a command" if command is None else "a file or folder"
            return f"{where}: an empty argument ('') where {what} goes; give one"
        if not a.startswith("-"):
            if command is None and a in getattr(group, "commands", {}):
                command = group.commands[a]
                where, params = f"nnfit {a}", command.params
            continue
        name, eq, value = a.partition("=")
        opt = next((p for p in params if name in getattr(p, "opts", ())), None)
        if opt is None or getattr(opt, "is_flag", False) or opt.param_type_name != "option":
            continue
        if eq and not value:
            return f"{where}: an empty argument ('') after {name}; give a value"
        if not eq:
            nxt = next(args, None)
            value = nxt or ""
            if nxt == "":
                return f"{where}: an empty argument ('') after {name}; give a value"
        if opt.multiple:
            continue
        key = opt.opts[0]
        if key in seen:
            return f"{where}: {key} given twice ({seen[key]} and {value}); give it once"
        seen[key] = value
    return None


def main() -> None:
    state["process"], state["ran"] = True, False
    state["closed"] = open_closed_streams()
    problem = _argv_problem(sys.argv[1:])
    if problem:
        _say(f"{problem}; see '{problem.split(':')[0]} --help'", "error")
        sys.exit(EXIT_BAD_INPUT)
    no_args, usage_error, abort = _click_errors()
    helped = False
    try:
        code = app(prog_name="nnfit", standalone_mode=False)
    except no_args as exc:  # plain `nnfit`: the help is printed as the error is made
        code, helped = exc.exit_code, True
    except usage_error as exc:  # a usage error: one line, as bad input is
        _say(_usage_line(exc), "error")
        code = exc.exit_code
    except abort:  # Ctrl-C or end of input while the line is parsed
        _say("interrupted")
        code = EXIT_INTERRUPTED
    except SystemExit as exc:
        # rich and click end the help or --version on a closed pipe with exit 1 (before
        # any command ran, nothing else exits 1); a command's output there gives 2, unsaid
        if exc.code != 1 or state["ran"]:
            raise
        code = EXIT_BAD_INPUT
    except OSError as exc:  # the help or a usage message, written before any command ran
        from nnfit.edge import is_output_error

        if not is_output_error(exc):
            raise
        _say(f"cannot write the output: {exc.strerror or type(exc).__name__}", "error")
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no 2nd flush
        code = EXIT_BAD_INPUT
    finally:
        # the process ends here: a second Ctrl-C or SIGTERM, as it exits, is no reason
        # to end it by the signal (exit -2) after it said "interrupted"
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) is not None:  # None: set outside Python
                signal.signal(sig, signal.SIG_IGN)
    code = code if isinstance(code, int) else 0
    if code == EXIT_INTERRUPTED and not state["interrupt_said"]:
        # typer turns a Ctrl-C outside a command's shield (while its modules are
        # imported) into exit 130 without a word
        _say("interrupted")
    if (code == 0 or helped) and "stdout" in state["closed"] and not state["ran"]:
        # the help or --version, which click drops without a word when stdout is closed
        _say("cannot write the output: stdout is closed", "error")
        code = EXIT_BAD_INPUT
    sys.exit(code)


if __name__ == "__main__":
    main()
