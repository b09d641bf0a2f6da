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
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from nnfit.edge import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, state
from nnfit.edge import fail as _fail
from nnfit.edge import guard as _guard
from nnfit.edge import say as _say

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Experiments that show how well neural networks approximate functions.",
)
_state = state  # --debug, read by the guard

SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override KEY=VALUE (dotted key, YAML value); repeatable."),
]
OutOpt = Annotated[Path, typer.Option("--out", help="Results root folder.")]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Hide the live progress; the final summary table still prints."
    ),
]


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False):
    _state["debug"] = debug
    # a character the terminal's encoding lacks becomes "?" rather than an error
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="replace")
    if "nnfit.display" in sys.modules:  # imported by an earlier command in this process
        sys.modules["nnfit.display"].fit_consoles()


# ---------------------------------------------------------------------------- run


def _how(exp) -> str:
    """How a run trains, in words: its optimizer, or random features."""
    t = exp.training
    if t.epochs == 0 and t.output_layer == "lstsq":
        return "random features (output by least squares)"
    return t.optimizer.name + (", output by least squares" if t.output_layer == "lstsq" else "")


def _build_data(exp, file):
    from nnfit.experiment import data

    try:
        return data.build(exp)
    except data.DataError as exc:
        key = "target.expr" if exp.target.expr is not None else "target.name"
        raise data.DataError(f"{file}: {key}: {exc}") from None


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
):
    """Train one network and write its results folder."""
    from nnfit.display import LiveProgress, show
    from nnfit.experiment import config, shield
    from nnfit.experiment import rundir as results
    from nnfit.experiment import runner as experiment
    from nnfit.tables import run_summary

    exp = config.load(file, set_ or [])
    run_dir = results.inside(out, exp.name, exp.run_id())
    ds = _build_data(exp, file)
    try:
        with LiveProgress(exp.name, exp.training.epochs, quiet) as progress:
            rec = experiment.execute(exp, callback=progress, data=ds, plots=False)
        with shield.writing():  # figures too: a finished run is not lost to one Ctrl-C
            if rec.model:
                from nnfit.experiment import plots

                rec.figures, rec.warnings = plots.render(exp, rec, ds)
            placed = results.write_run(rec, run_dir)
    except KeyboardInterrupt:  # cut short outside training, or a third Ctrl-C
        gone = experiment.failed_record(exp, KeyboardInterrupt())
        gone.status = gone.stop_reason = "interrupted"
        results.mark_interrupted(gone, run_dir)
        raise
    _note_display(progress)
    for w in rec.warnings:
        _say(f"warning: {w}")
    show(run_summary(rec, run_dir))
    if not placed:
        _say(
            f"{rec.status}: not written; the finished run of this config in {run_dir} "
            "is kept as it was"
        )
    else:
        show(f"results: {run_dir}", soft_wrap=True, markup=False)
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
    if not text:
        return None
    try:
        widths = [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        _fail(f"--widths {text}: expected whole numbers separated by commas, e.g. 1,2,4,8")
    if not widths or min(widths) < 1:
        _fail(f"--widths {text}: widths must be positive")
    return widths


@app.command()
@_guard(product=False)
def sweep(
    file: Annotated[Path, typer.Argument(help="Experiment YAML file (with sweep.grid).")],
    widths: Annotated[
        str | None, typer.Option(help="One hidden layer per width (every layer scaled).")
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
):
    """Run every point of a grid in parallel; write a summary and the error-vs-width plot.

    Points whose run folder already holds a finished ok run of the same config are kept
    (so an interrupted sweep continues where it stopped); --rerun trains them again.
    """
    from nnfit.display import SweepProgress, show
    from nnfit.sweep import grid as sw
    from nnfit.sweep import workers
    from nnfit.tables import sweep_summary

    if resume and rerun:
        _fail("--resume and --rerun contradict each other: give one")
    folder, grid, points = sw.expand(file, set_ or [], _widths(widths), seeds, out)
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
            on_start=progress.start,
            on_done=progress.done,
        )
    _note_display(progress)
    show(sweep_summary(result.summary))
    for w in result.summary.get("warnings", []):
        _say(f"warning: {w}")
    show(f"sweep: {folder}", soft_wrap=True, markup=False)
    if result.interrupted:
        again = "rerun without --rerun" if rerun else "rerun with the same command"
        _say(
            f"interrupted: {result.n_finished} of {len(points)} runs finished; {again} to continue"
        )
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
        show(f"{stem}: {n} runs → {folder}", markup=False, soft_wrap=True)

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
    show(
        f"report: {res.report} ({res.wall_s / 60:.1f} min wall, {res.cpu_s / 60:.1f} min CPU, "
        f"{res.n_failed} runs failed)",
        markup=False,
        soft_wrap=True,
    )
    if res.n_failed:
        raise typer.Exit(EXIT_FAILED)


# ---------------------------------------------------------------------------- checks


@app.command()
@_guard()
def validate(files: Annotated[list[Path], typer.Argument(help="Experiment files.")]):
    """Check experiment files without training: one line per problem."""
    from nnfit.display import show
    from nnfit.experiment import config
    from nnfit.experiment.data import DataError

    bad = 0
    for f in files:
        try:
            exp = config.load(f)
            exps = [exp]
            if exp.sweep is not None and exp.sweep.grid:
                from nnfit.sweep import grid as sw

                exps = [p.exp for p in sw.expand(f)[2]]  # every grid point must be valid
            # the target on the very points a run would evaluate it at, once per data set
            seen = set()
            for e in exps:
                key = json.dumps([e.target.model_dump(), e.data.model_dump()], sort_keys=True)
                if key not in seen:
                    seen.add(key)
                    _build_data(e, f)
            points = len(exps) if exp.sweep is not None and exp.sweep.grid else None
        except config.ConfigError as exc:
            bad += 1
            for line in exc.problems:
                _say(line)
            continue
        except DataError as exc:
            bad += 1
            _say(str(exc))
            continue
        grid = f", sweep of {points} runs" if points else ""
        show(
            f"{f}: ok ({'-'.join(map(str, exp.sizes()))}, {_how(exp)}, "
            f"{exp.training.epochs} epochs{grid})",
            markup=False,
        )
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
@_guard()
def gradcheck(
    file: Annotated[Path, typer.Argument(help="Experiment YAML file.")],
    set_: SetOpt = None,
    points: Annotated[
        int, typer.Option(min=1, max=100_000, help="Training points used (at most n_train).")
    ] = 32,
):
    """Check backprop on the file's network: finite differences, forward and reverse mode."""
    import numpy as np

    from nnfit.display import show
    from nnfit.engine.gradcheck import check_jacobian, check_network
    from nnfit.experiment import config
    from nnfit.experiment import runner as experiment
    from nnfit.tables import gradcheck_table

    exp = config.load(file, set_ or [])
    ds = _build_data(exp, file)
    net = experiment.build_network(exp)
    n = min(points, len(ds.X_train))
    X, y = ds.X_train[:n], ds.scaler.forward(ds.y_train[:n])
    t = exp.training
    loss = experiment.settings_of(exp).loss_fn()
    checks = check_network(net, X, y, loss, t.l1, t.l2, rng=np.random.default_rng(0), max_fd=200)
    tol = 1e-6 if t.dtype == "float64" else 1e-3
    show(gradcheck_title(exp, n, tol))
    show(gradcheck_table(checks, f"{exp.name}: backprop against three references"))
    jac = check_jacobian(net, X, max_params=400)
    show(f"per-sample Jacobian (used by lm) against finite differences: {jac:.2e}")
    worst = max(max(c.worst for c in checks), jac)
    verdict = "ok" if worst < tol else "FAILED"
    show(f"largest relative error {worst:.2e} (tolerance {tol:.0e}): {verdict}")
    if worst >= tol:
        raise typer.Exit(EXIT_FAILED)


def gradcheck_title(exp, n, tol) -> str:
    return (
        f"{'-'.join(map(str, exp.sizes()))} network, {n} points, loss {exp.training.loss.name}, "
        f"l1 {exp.training.l1}, l2 {exp.training.l2}, {exp.training.dtype}"
    )


@app.command()
@_guard()
def targets():
    """List the built-in targets with dimension and formula."""
    from rich.table import Table

    from nnfit.display import show
    from nnfit.experiment.targets import TARGETS

    t = Table(title="built-in targets (target: {name: NAME})")
    for col in ("name", "dim", "formula"):
        t.add_column(col)
    for tg in TARGETS.values():
        dim = str(tg.dim) if tg.dim is not None else f"any (default {tg.default_dim})"
        t.add_row(tg.name, dim, tg.formula)
    show(t)


@app.command()
@_guard()
def schema():
    """Print the JSON Schema of the experiment file (for editor completion)."""
    from nnfit.display import write
    from nnfit.experiment import config

    write(json.dumps(config.schema(), indent=2) + "\n")


# ---------------------------------------------------------------------------- outputs


def _predictions(net, meta, chunks, dim: int):
    """CSV text of the predictions, one chunk of rows at a time, header first."""
    import numpy as np

    from nnfit.experiment import rundir as results

    yield ",".join([f"x{i}" for i in range(dim)] + ["g"]) + "\n"
    for X in chunks:
        g = results.predict(net, meta, X)
        rows = np.column_stack([X, g])
        yield "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows)


@app.command()
@_guard()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (holding model.npz).")],
    x: Annotated[
        list[str] | None,
        typer.Option("--x", help="One point, e.g. --x 0.1,0.2 in 2-D; repeat for more."),
    ] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="CSV of input points.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write CSV here.")] = None,
):
    """Evaluate a saved model at points given with --x or in a CSV file.

    Points outside [0, 1]^d, where the model was trained, are evaluated with a warning.
    The run must be whole: every file as metrics.json recorded it.
    """
    from nnfit.display import write
    from nnfit.experiment import points as pts
    from nnfit.experiment import rundir as results

    results.require_done(run_dir)
    net, meta = results.load_model(run_dir)
    dim = meta["sizes"][0]
    if not x and csv is None:
        _fail("give points with --x or --csv")
    if x:
        X = pts.parse_x(x, dim)
        scan, chunks = pts.scan_points(X), [X]
    else:
        scan, chunks = pts.scan_csv(csv, dim), pts.csv_chunks(csv, dim)
    note = pts.outside_note(scan.outside, scan.rows, scan.first_outside, dim)
    if note:
        _say(note)
    text = _predictions(net, meta, chunks, dim)
    if out is None:
        for part in text:
            if not write(part):
                return
        return
    with results.atomic_open(out) as fh:
        for part in text:
            fh.write(part.encode())
    write(f"wrote {scan.rows} predictions to {out}\n")


@app.command()
@_guard()
def report(
    directory: Annotated[Path, typer.Argument(help="Folder to search for runs.")] = Path("results"),
    csv: Annotated[bool, typer.Option("--csv", help="CSV to stdout.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON to stdout.")] = False,
):
    """Table of the runs (and sweeps) under a folder.

    Besides the errors, a column for every config key whose value differs between the
    runs listed; columns that do not fit the terminal are named below the table. A run
    whose files no longer match what its metrics.json recorded is listed as damaged.
    """
    from nnfit.display import show, write
    from nnfit.sweep import catalog as rep

    if not Path(directory).is_dir():
        _fail(f"{directory}: no such folder")
    rows, differs, problems = rep.collect(directory, with_problems=True)
    for line in problems[:5]:
        _say(f"warning: {line}")
    if len(problems) > 5:
        _say(f"warning: and {len(problems) - 5} more folders that cannot be read")
    if as_json:
        write(json.dumps(rows, indent=2) + "\n")
    elif csv:
        write(rep.to_csv(rows, differs))
    else:
        from nnfit.display import out as con
        from nnfit.tables import report_table

        show(report_table(rows, directory, differs, con.width))


def main() -> None:
    state["process"] = True
    app()


if __name__ == "__main__":
    main()
