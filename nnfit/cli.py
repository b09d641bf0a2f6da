"""The ``nnfit`` command: parse, call the library, print.

Library errors become one clean line at this edge (exit 2 for bad input); a traceback
is shown only with ``--debug``. Heavy modules are imported inside the commands so that
``nnfit --help`` stays fast.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Experiments that show how well neural networks approximate functions.",
)
_state = {"debug": False}

EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 3, 130

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


class _Interrupted(KeyboardInterrupt):
    pass


def _on_sigterm(signum, frame):
    raise _Interrupted()


def _fail(message: str, code: int = EXIT_BAD_INPUT):
    from rich.markup import escape

    from nnfit.display import err

    for line in message.splitlines()[:3]:
        err.print(f"[red]error:[/red] {escape(line)}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def _guard(fn):
    """Turn the library's bad-input errors into one line and exit 2."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from nnfit.experiment.config import ConfigError
        from nnfit.experiment.data import DataError
        from nnfit.experiment.formulas import ExprError
        from nnfit.experiment.rundir import ResultsError

        try:
            return fn(*args, **kwargs)
        except (ConfigError, DataError, ExprError, ResultsError) as exc:
            if _state["debug"]:
                raise
            _fail(str(exc))
        except KeyboardInterrupt:
            if _state["debug"]:
                raise
            from nnfit.display import err

            err.print("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False):
    _state["debug"] = debug
    if "nnfit.display" in sys.modules:  # imported by an earlier command in this process
        sys.modules["nnfit.display"].fit_consoles()


# ---------------------------------------------------------------------------- run


def _build_data(exp, file):
    from nnfit.experiment import data

    try:
        return data.build(exp)
    except data.DataError as exc:
        key = "target.expr" if exp.target.expr is not None else "target.name"
        raise data.DataError(f"{file}: {key}: {exc}") from None


@app.command()
@_guard
def run(
    file: Annotated[Path, typer.Argument(help="Experiment YAML file.")],
    set_: SetOpt = None,
    out: OutOpt = Path("results"),
    quiet: QuietOpt = False,
):
    """Train one network and write its results folder."""
    from nnfit.display import LiveProgress, err
    from nnfit.display import out as con
    from nnfit.experiment import config
    from nnfit.experiment import rundir as results
    from nnfit.experiment import runner as experiment
    from nnfit.tables import run_summary

    exp = config.load(file, set_ or [])
    ds = _build_data(exp, file)
    run_dir = Path(out) / exp.name / exp.run_id()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with LiveProgress(exp.name, exp.training.epochs, quiet) as progress:
            rec = experiment.execute(exp, callback=progress, data=ds)
        results.write_run(rec, run_dir)
    finally:
        signal.signal(signal.SIGTERM, previous)
    for w in rec.warnings:
        err.print(f"warning: {w}")
    con.print(run_summary(rec, run_dir))
    con.print(f"results: {run_dir}", soft_wrap=True, markup=False)
    if rec.status == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)
    if rec.status != "ok":
        if rec.error:
            err.print(f"run failed: {rec.error}")
            if _state["debug"] and rec.traceback:
                err.print(rec.traceback)
        raise typer.Exit(EXIT_FAILED)


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
@_guard
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
    from nnfit.display import SweepProgress, err
    from nnfit.display import out as con
    from nnfit.sweep import grid as sw
    from nnfit.tables import sweep_summary

    if resume and rerun:
        _fail("--resume and --rerun contradict each other: give one")
    folder, grid, points = sw.expand(file, set_ or [], _widths(widths), seeds, out)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
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
    finally:
        signal.signal(signal.SIGTERM, previous)
    con.print(sweep_summary(result.summary))
    for w in result.summary.get("warnings", []):
        err.print(f"warning: {w}", markup=False, soft_wrap=True)
    con.print(f"sweep: {folder}", soft_wrap=True, markup=False)
    if result.interrupted:
        again = "rerun without --rerun" if rerun else "rerun with the same command"
        err.print(
            f"interrupted: {result.n_finished} of {len(points)} runs finished; {again} to continue",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED)
    if result.n_failed or result.summary["n_missing"]:
        raise typer.Exit(EXIT_FAILED)


# ---------------------------------------------------------------------------- checks


@app.command()
def validate(files: Annotated[list[Path], typer.Argument(help="Experiment files.")]):
    """Check experiment files without training: one line per problem."""
    from nnfit.display import err
    from nnfit.display import out as con
    from nnfit.experiment import config

    bad = 0
    for f in files:
        try:
            exp = config.load(f)
            points = None
            if exp.sweep is not None and exp.sweep.grid:
                from nnfit.sweep import grid as sw

                points = len(sw.expand(f)[2])  # every grid point must be valid too
        except config.ConfigError as exc:
            bad += 1
            for line in exc.problems:
                err.print(line, soft_wrap=True, markup=False)
            continue
        grid = f", sweep of {points} runs" if points else ""
        con.print(
            f"{f}: ok ({'-'.join(map(str, exp.sizes()))}, {exp.training.optimizer.name}, "
            f"{exp.training.epochs} epochs{grid})",
            markup=False,
        )
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
@_guard
def gradcheck(
    file: Annotated[Path, typer.Argument(help="Experiment YAML file.")],
    set_: SetOpt = None,
    points: Annotated[int, typer.Option(help="Training points used.")] = 32,
):
    """Check backprop on the file's network: finite differences, forward and reverse mode."""
    import numpy as np

    from nnfit.display import out as con
    from nnfit.engine.gradcheck import check_jacobian, check_network
    from nnfit.experiment import config
    from nnfit.experiment import runner as experiment

    exp = config.load(file, set_ or [])
    ds = _build_data(exp, file)
    net = experiment.build_network(exp)
    n = min(points, len(ds.X_train))
    X, y = ds.X_train[:n], ds.scaler.forward(ds.y_train[:n])
    t = exp.training
    loss = experiment.settings_of(exp).loss_fn()
    checks = check_network(net, X, y, loss, t.l1, t.l2, rng=np.random.default_rng(0), max_fd=200)
    tol = 1e-6 if t.dtype == "float64" else 1e-3
    con.print(gradcheck_title(exp, n, tol))
    from nnfit.tables import gradcheck_table

    con.print(gradcheck_table(checks, f"{exp.name}: backprop against three references"))
    jac = check_jacobian(net, X, max_params=400)
    con.print(f"per-sample Jacobian (used by lm) against finite differences: {jac:.2e}")
    worst = max(max(c.worst for c in checks), jac)
    verdict = "ok" if worst < tol else "FAILED"
    con.print(f"largest relative error {worst:.2e} (tolerance {tol:.0e}): {verdict}")
    if worst >= tol:
        raise typer.Exit(EXIT_FAILED)


def gradcheck_title(exp, n, tol) -> str:
    return (
        f"{'-'.join(map(str, exp.sizes()))} network, {n} points, loss {exp.training.loss.name}, "
        f"l1 {exp.training.l1}, l2 {exp.training.l2}, {exp.training.dtype}"
    )


@app.command()
def targets():
    """List the built-in targets with dimension and formula."""
    from rich.table import Table

    from nnfit.display import out as con
    from nnfit.experiment.targets import TARGETS

    t = Table(title="built-in targets (target: {name: NAME})")
    for col in ("name", "dim", "formula"):
        t.add_column(col)
    for tg in TARGETS.values():
        dim = str(tg.dim) if tg.dim is not None else f"any (default {tg.default_dim})"
        t.add_row(tg.name, dim, tg.formula)
    con.print(t)


@app.command()
def schema():
    """Print the JSON Schema of the experiment file (for editor completion)."""
    from nnfit.experiment import config

    typer.echo(json.dumps(config.schema(), indent=2))


# ---------------------------------------------------------------------------- outputs


def _points(xs: list[str], dim: int):
    """One point per --x: ``--x 0.1,0.2`` is one point in 2-D; repeat --x for more."""
    import numpy as np

    rows = []
    for item in xs:
        try:
            vals = [float(v) for v in item.split(",") if v.strip()]
        except ValueError:
            _fail(f"--x {item}: expected numbers separated by commas")
        if len(vals) != dim:
            what = "coordinate" if dim == 1 else "coordinates"
            more = "; give one point per --x, e.g. --x 0.1 --x 0.25" if dim == 1 else ""
            _fail(f"--x {item}: the model takes {dim} {what} per point, got {len(vals)}{more}")
        if not all(np.isfinite(vals)):
            _fail(f"--x {item}: coordinates must be finite numbers")
        rows.append(vals)
    return np.asarray(rows, dtype=float).reshape(-1, dim)


def _outside_note(X, dim: int) -> str | None:
    """A warning when points lie outside [0, 1]^d, where every model here was trained."""
    import numpy as np

    outside = np.any((X < 0) | (X > 1), axis=1)
    n = int(outside.sum())
    if not n:
        return None
    cube = "[0, 1]" if dim == 1 else f"[0, 1]^{dim}"
    first = ", ".join(f"{v:g}" for v in X[np.argmax(outside)])
    return (
        f"warning: {n} of {len(X)} points lie outside {cube}, where the model was trained "
        f"(first: {first}); its values there are extrapolation"
    )


def _read_csv(path: Path, dim: int):
    import numpy as np

    try:
        text = Path(path).read_text()
    except OSError as exc:
        _fail(f"{path}: cannot read: {exc.strerror}")
    rows = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(",")
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            if i == 1:
                continue  # a header
            _fail(f"{path}:{i}: not a row of numbers: {line[:60]!r}")
        if len(vals) < dim:
            _fail(f"{path}:{i}: need {dim} columns, got {len(vals)}")
        rows.append(vals[:dim])
    return np.asarray(rows, dtype=float).reshape(-1, dim)


@app.command()
@_guard
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
    """
    import numpy as np

    from nnfit.experiment import rundir as results

    net, meta = results.load_model(run_dir)
    dim = meta["sizes"][0]
    if not x and csv is None:
        _fail("give points with --x or --csv")
    X = _points(x, dim) if x else _read_csv(csv, dim)
    note = _outside_note(X, dim)
    if note:
        from nnfit.display import err

        err.print(note, markup=False, soft_wrap=True)
    g = results.predict(net, meta, X)
    header = ",".join([f"x{i}" for i in range(dim)] + ["g"])
    lines = [header] + [",".join(repr(float(v)) for v in row) for row in np.column_stack([X, g])]
    text = "\n".join(lines) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        results.atomic_write(out, text.encode())
        typer.echo(f"wrote {len(g)} predictions to {out}")


@app.command()
@_guard
def report(
    directory: Annotated[Path, typer.Argument(help="Folder to search for runs.")] = Path("results"),
    csv: Annotated[bool, typer.Option("--csv", help="CSV to stdout.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON to stdout.")] = False,
):
    """Table of the runs (and sweeps) under a folder.

    Besides the errors, a column for every config key whose value differs between the
    runs listed; columns that do not fit the terminal are named below the table.
    """
    from nnfit.sweep import catalog as rep

    if not Path(directory).is_dir():
        _fail(f"{directory}: no such folder")
    rows, differs = rep.collect(directory)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    elif csv:
        sys.stdout.write(rep.to_csv(rows, differs))
    else:
        from nnfit.display import out as con
        from nnfit.tables import report_table

        con.print(report_table(rows, directory, differs, con.width))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
