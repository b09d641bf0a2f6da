"""The commands that read and check without training: ``validate``, ``gradcheck``,
``targets``, ``schema``, ``predict`` and ``report``.

Added to the ``nnfit`` app by :func:`add_commands`; the same edge rules as
:mod:`nnfit.cli` (one clean line for bad input, exit 2; heavy imports inside).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated

import typer

from nnfit.edge import EXIT_BAD_INPUT, EXIT_FAILED, printable
from nnfit.edge import fail as _fail
from nnfit.edge import guard as _guard
from nnfit.edge import say as _say
from nnfit.edge import state as edge_state
from nnfit.text import count

SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override KEY=VALUE (dotted key, YAML value); repeatable."),
]


def how(exp) -> str:
    """How a run trains, in words: its optimizer, or random features."""
    t = exp.training
    if t.epochs == 0 and t.output_layer == "lstsq":
        return "random features (output by least squares)"
    return t.optimizer.name + (", output by least squares" if t.output_layer == "lstsq" else "")


def build_data(exp, file, loc=None):
    """The run's data; a target that cannot be evaluated names the ``--set`` that gave it
    (``loc``: the file's line map with its overrides), else the file's line."""
    from nnfit.experiment import data

    try:
        return data.build(exp)
    except data.DataError as exc:
        key, _ = exc.located(exp)
        section = tuple(key.split("."))[:1]
        where = str(file)
        if loc is not None:
            given = [o for o in loc.overrides if o.path[:1] == section]
            if given:
                w = given[-1].where
                text = f"{w}: {exc}" if w.endswith(key) else f"{w}: {key}: {exc}"
                raise data.DataError(text) from None
            line = loc.line(tuple(key.split(".")))
            where = f"{file}:{line}" if isinstance(line, int) else where
        raise data.DataError(f"{where}: {key}: {exc}") from None


def check_data(file: Path, exps: list, exp=None, loc=None, labels=None, seeds=True) -> None:
    """The target on the very points each run would evaluate it at, once per data set
    and output activation (whose range must hold the scaled targets); a DataError naming
    the file's line (``loc`` of ``exp``, the file's own experiment) or the --set, or for
    a grid point that changed them, the point (``labels``, one per experiment). Without
    ``seeds``, points that differ only in data.seed are checked once (a sweep's start:
    10,000 seeds of 1,024 points took 86 s); a target that fails on one seed's points
    alone fails that run."""
    from nnfit.experiment import data

    seen = set()
    for i, e in enumerate(exps):
        drawn = e.data.model_dump(exclude=None if seeds else {"seed"})
        parts = [e.target.model_dump(), drawn, e.model.model_dump(include={"output"})]
        key = json.dumps(parts, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            same = exp is not None and (e.target, e.data, e.model.output) == (
                exp.target,
                exp.data,
                exp.model.output,
            )
            if same or labels is None:
                build_data(e, file, loc if same else None)
                continue
            try:
                data.build(e)
            except data.DataError as exc:
                key, _ = exc.located(e)
                raise data.DataError(f"{file}: sweep point {labels[i]}: {key}: {exc}") from None


@_guard()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Experiment files.")], set_: SetOpt = None
):
    """Check experiment files without training: one line per problem."""
    from nnfit.display import show
    from nnfit.experiment import config
    from nnfit.experiment.data import DataError

    bad = 0
    for f in files:
        try:
            data, loc = config.load_raw(f, set_ or [])
            exp = config.from_dict(data, str(f), loc)
            exps, labels = [exp], None
            if exp.sweep is not None:  # an empty grid is refused as `sweep` refuses it
                from nnfit.sweep import grid as sw

                points = sw.expand(f, set_ or [])[2]  # every point must be valid
                exps, labels = [p.exp for p in points], [p.label() for p in points]
            check_data(f, exps, exp, loc, labels)
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
        grid = f", sweep of {count(points, 'run')}" if points else ""
        show(
            f"{printable(f)}: ok ({'-'.join(map(str, exp.sizes()))}, {how(exp)}, "
            f"{count(exp.training.epochs, 'epoch')}{grid})",
            markup=False,
        )
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and a.samefile(b))
    except OSError:
        return False


@_guard()
def gradcheck(
    file: Annotated[Path, typer.Argument(help="Experiment YAML file.")],
    set_: SetOpt = None,
    points: Annotated[
        int, typer.Option(min=1, max=100_000, help="Training points used (at most n_train).")
    ] = 32,
):
    """Check backprop on the file's network: finite differences, forward and reverse mode.

    A file with a sweep grid has each of the grid's networks checked too, one line each.
    """
    from nnfit.display import show
    from nnfit.experiment import config
    from nnfit.tables import gradcheck_table

    exp = config.load(file, set_ or [])
    checks, jac, n, tol = _check_one(exp, file, points)
    show(gradcheck_title(exp, n, tol))
    show(gradcheck_table(checks, f"{exp.name}: backprop against three references"))
    show(f"per-sample Jacobian (used by lm) against finite differences: {jac:.2e}")
    worst = max(max(c.worst for c in checks), jac)
    verdict = "ok" if worst < tol else "FAILED"
    for c in checks:
        if c.fd_error >= tol and c.fd_beyond < tol:
            show(
                f"layer {c.layer}: finite differences resolve only {2 * c.fd_spread:.1e} here "
                "(twice h vs 2h); forward and reverse mode decide"
            )
    show(f"largest relative error {worst:.2e} (tolerance {tol:.0e}): {verdict}")
    failed = worst >= tol
    if exp.sweep is not None and exp.sweep.grid:
        failed = _check_grid(file, set_ or [], exp, points) or failed
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _check_one(exp, file, points: int):
    """Backprop and the Jacobian of exp's network at its initial weights on its data."""
    import numpy as np

    from nnfit.engine.gradcheck import check_jacobian, check_network
    from nnfit.experiment import runner as experiment

    ds = build_data(exp, file)
    net = experiment.build_network(exp)
    n = min(points, len(ds.X_train))
    X, y = ds.X_train[:n], ds.scaler.forward(ds.y_train[:n])
    t = exp.training
    loss = experiment.settings_of(exp).loss_fn()
    checks = check_network(net, X, y, loss, t.l1, t.l2, rng=np.random.default_rng(0), max_fd=200)
    tol = 1e-6 if t.dtype == "float64" else 1e-3
    return checks, check_jacobian(net, X, max_params=400), n, tol


def _gradient_key(exp) -> tuple:
    """What the check depends on: the network, the loss and penalties, the precision,
    the target and data (not the seed, nor how training goes on)."""
    t = exp.training
    return (
        exp.model.model_dump_json(),
        t.loss.model_dump_json(),
        t.l1,
        t.l2,
        t.dtype,
        exp.target.model_dump_json(),
        exp.data.model_dump_json(),
    )


def _check_grid(file, set_, base, points: int) -> bool:
    """Each distinct network of the file's sweep grid, one row each; True if one fails."""
    from rich.table import Table

    from nnfit.display import show
    from nnfit.sweep import grid

    _, _, pts = grid.expand(file, set_)
    seen = {_gradient_key(base)}
    table = Table(title=f"{base.name}: the sweep grid's other networks")
    for col in ("grid point", "network", "backprop", "Jacobian", ""):
        table.add_column(col, justify="left" if col == "grid point" else "right")
    failed = False
    for p in pts:
        key = _gradient_key(p.exp)
        if key in seen:
            continue
        seen.add(key)
        checks, jac, _, tol = _check_one(p.exp, file, points)
        back = max(c.worst for c in checks)
        ok = max(back, jac) < tol
        failed = failed or not ok
        sizes = "-".join(map(str, p.exp.sizes()))
        table.add_row(p.label(), sizes, f"{back:.2e}", f"{jac:.2e}", "ok" if ok else "FAILED")
    if table.row_count:
        table.caption = (
            "backprop: its largest relative error against the three references above, a "
            "finite difference counted only beyond twice its h-vs-2h spread, as in the "
            "verdict above; Jacobian: the per-sample Jacobian (lm's) against finite "
            "differences"
        )
        show(table)
    else:
        show("every point of the sweep grid has the network checked above")
    return failed


def gradcheck_title(exp, n, tol) -> str:
    return (
        f"{'-'.join(map(str, exp.sizes()))} network, {n} points, loss {exp.training.loss.name}, "
        f"l1 {exp.training.l1}, l2 {exp.training.l2}, {exp.training.dtype}"
    )


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


@_guard()
def schema():
    """Print the JSON Schema of the experiment file (for editor completion)."""
    from nnfit.display import write
    from nnfit.experiment import config

    write(json.dumps(config.schema(), indent=2) + "\n")


# ---------------------------------------------------------------------------- outputs


def _predictions(net, meta, chunks, names: list[str], not_finite: list[int]):
    """CSV text of the predictions, one chunk of rows at a time, header first (``names``
    for the inputs, then g); the count of predictions that are not finite is added to
    ``not_finite``."""
    import numpy as np

    from nnfit.experiment import rundir as results

    yield ",".join([*names, "g"]) + "\n"
    for X in chunks:
        g = results.predict(net, meta, X)
        not_finite.append(int((~np.isfinite(g)).sum()))
        rows = np.column_stack([X, g])
        yield "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows)


def _refuse_run_folder(out: Path) -> None:
    """--out must not replace a file of a run: a run folder is what its metrics.json
    records, and predictions written over one of its files would damage the run."""
    try:
        target = out.resolve()
    except RuntimeError:  # Python 3.11's resolve on a link that leads back to itself
        _fail(f"--out {out}: a symbolic link in it leads back to itself")
    if target.is_dir():
        _fail(f"--out {out}: is a folder; give a file name for the CSV")
    folder = target.parent
    if not folder.is_dir():  # a typo in the path made the folders it named
        if any(p.exists() and not p.is_dir() for p in (folder, *folder.parents)):
            _fail(f"--out {out}: a folder on its path is a file")
        _fail(f"--out {out}: folder {out.parent} does not exist; create it first")
    if (folder / "metrics.json").exists() or (folder / "model.npz").exists():
        _fail(
            f"--out {out}: {folder} is a run folder; write the predictions outside it, "
            "so that none of the run's files is replaced"
        )
    sweep_files = ("summary.json", "summary.csv", "error_vs_width.png", "errors.png")
    if target.name in sweep_files and _a_sweeps(folder):
        _fail(
            f"--out {out}: {target.name} is a file of the sweep in {folder}; give the "
            "predictions a name of their own"
        )


def _a_sweeps(folder: Path) -> bool:
    """Whether ``folder`` is a sweep's: it holds a summary.json, has a sweep folder's
    name, or holds a run folder (a sweep whose summary is not written yet, or gone)."""
    if (folder / "summary.json").exists() or re.fullmatch(r"sweep-[0-9a-f]{8}", folder.name):
        return True
    try:
        with os.scandir(folder) as entries:
            return any(
                e.is_dir(follow_symlinks=False) and os.path.exists(Path(e.path, "metrics.json"))
                for e in entries
            )
    except OSError:
        return False


@_guard()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (holding model.npz).")],
    x: Annotated[
        list[str] | None,
        typer.Option("--x", help="One point, e.g. --x 0.1,0.2 in 2-D; repeat for more."),
    ] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="CSV of input points (- for stdin).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write CSV here (default, or -: stdout).")
    ] = None,
):
    """Evaluate a saved model at points given with --x or in a CSV file.

    Points outside [0, 1]^d, where the model was trained, are evaluated with a warning.
    The run must be whole: every file as metrics.json recorded it.
    """
    from nnfit.display import write
    from nnfit.experiment import points as pts
    from nnfit.experiment import rundir as results

    if not x and csv is None:
        _fail("give points with --x or --csv")
    if x and csv is not None:
        _fail("give points with --x or with --csv, not both")
    metrics = results.require_done(run_dir)
    if str(out) == "-":
        out = None
    if str(csv) == "-":
        if "stdin" in edge_state["closed"]:
            _fail("--csv -: stdin is closed; pipe the points in, or give a file")
        csv = Path("/dev/stdin")  # read once, in memory, as any pipe
    if out is not None:
        _refuse_run_folder(out)
        if csv is not None and _same_file(csv, out):  # the rename would replace the points
            _fail(f"--out {printable(out)} is the --csv file: write the predictions elsewhere")
    net, meta = results.load_model(run_dir)
    # after the model is read: a folder without one (its write aborted) is one error
    if metrics["status"] != "ok":  # diverged: a model, but not one to trust
        done, best = metrics.get("epochs") or 0, metrics.get("best_epoch")
        when = (  # as the run's own summary says it: the epoch it was in
            f"diverged in epoch {done + 1}"
            if metrics["status"] == "diverged"
            else f"{metrics['status']} after epoch {done}"
        )
        kept = f"epoch {best}" if best else "as initialised, epoch 0"
        _say(
            f"warning: {run_dir}: training {when}; "
            f"these are the values of the weights it kept ({kept})"
        )
    dim = meta["sizes"][0]
    if x:
        X = pts.parse_x(x, dim)
        scan, chunks = pts.scan_points(X), [X]
    else:
        scan, chunks = pts.read_csv(csv, dim)
    note = pts.outside_note(scan.outside, scan.rows, scan.first_outside, dim)
    if note:
        _say(note)
    not_finite: list[int] = []
    # the input file's, if it named them; else x in 1-D, as a formula writes it
    names = scan.names or (["x"] if dim == 1 else [f"x{i}" for i in range(dim)])
    text = _predictions(net, meta, chunks, names, not_finite)
    if out is None:
        for part in text:
            if not write(part):
                return
    else:
        with results.atomic_open(out) as fh:
            for part in text:
                fh.write(part.encode())
        edge_state["product"] = False  # the file is: a lost stdout loses only this line
        write(f"wrote {count(scan.rows, 'prediction')} to {printable(out)}\n")
    if sum(not_finite):
        _say(
            f"warning: {sum(not_finite)} of {scan.rows} predictions are not finite: "
            "the model's values overflow there"
        )


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
    from nnfit.experiment.yamlfile import missing, short_path
    from nnfit.sweep import catalog as rep

    if as_json and csv:
        _fail("give --csv or --json, not both")
    if not Path(directory).is_dir():
        _fail(f"{short_path(directory)}: {missing(directory, 'folder') or 'not a folder'}")
    rows, differs, problems = rep.collect(directory, with_problems=True)
    for line in problems[:5]:
        _say(f"warning: {line}")
    if len(problems) > 5:
        _say(f"warning: and {len(problems) - 5} more folders or links like these")
    if as_json:
        write(json.dumps(rows, indent=2) + "\n")
    elif csv:
        write(rep.to_csv(rows, differs))
    else:
        from nnfit.display import out as con
        from nnfit.tables import report_table

        show(report_table(rows, directory, differs, con.width))


def add_commands(app: typer.Typer) -> None:
    """Register these commands on ``app``, in the order ``nnfit --help`` lists them."""
    for fn in (validate, gradcheck, targets, schema, predict, report):
        app.command()(fn)
