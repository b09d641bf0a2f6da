"""nnfit.run, nnfit.sweep and nnfit.load: the same numbers as the CLI, nothing written
without ``out``, bad input as one ConfigError with its parts, no global state touched."""

import csv
import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import TINY
from matplotlib.figure import Figure
from typer.testing import CliRunner

import nnfit
from nnfit.cli import app
from nnfit.experiment import config, rundir

ROOT = Path(__file__).resolve().parent.parent
CFG = yaml.safe_load(TINY)


def cli(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r


def only_run(out: Path) -> Path:
    (run_dir,) = rundir.find_runs(out)
    return run_dir


def without_time(metrics: dict) -> dict:
    """metrics.json less what holds times (wall_s) or depends on them: the record of the
    folder's files (history.csv has a wall_s column; a run in memory has no files) and
    the file's own checksum."""
    return {k: v for k, v in metrics.items() if k not in ("wall_s", "files", "sha256")}


def history_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv") as fh:
        return [{k: v for k, v in row.items() if k != "wall_s"} for row in csv.DictReader(fh)]


def test_run_is_bit_identical_to_the_cli(write, tmp_path):
    path = write(TINY)
    cli("run", path, "--out", tmp_path / "cli", "--quiet")
    ref = only_run(tmp_path / "cli")
    run = nnfit.run(path, out=tmp_path / "api")
    assert run.run_dir == tmp_path / "api" / ref.relative_to(tmp_path / "cli")
    assert {p.name for p in run.run_dir.iterdir()} == {p.name for p in ref.iterdir()}
    with np.load(ref / "model.npz") as a, np.load(run.run_dir / "model.npz") as b:
        assert set(a) == set(b)
        for k in a:
            assert np.array_equal(a[k], b[k]), k
    ref_metrics = json.loads((ref / "metrics.json").read_text())
    assert without_time(json.loads((run.run_dir / "metrics.json").read_text())) == without_time(
        ref_metrics
    )
    assert history_rows(run.run_dir) == history_rows(ref)
    files = json.loads((run.run_dir / "metrics.json").read_text())["files"]
    assert {k: v for k, v in files.items() if k != "history.csv"} == {
        k: v for k, v in ref_metrics["files"].items() if k != "history.csv"
    }
    assert (run.run_dir / "config.yaml").read_text() == (ref / "config.yaml").read_text()
    # the same run from a dict and from a validated Experiment, in memory
    for source in (CFG, config.load(path)):
        again = nnfit.run(source)
        assert again.run_dir is None
        assert without_time(again.metrics) == without_time(ref_metrics)
        with np.load(ref / "model.npz") as a:
            for l in range(2):
                assert np.array_equal(again.network.params()[l][0], a[f"W{l}"])


def test_nothing_is_written_without_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = nnfit.run(CFG)
    run.figures()
    nnfit.sweep(CFG, widths=[2, 3], seeds=2)
    assert list(tmp_path.iterdir()) == []


def test_a_bad_out_or_callback_is_refused_before_training(tmp_path):
    # a file on the path was found after every epoch had run; '' wrote into the current
    # folder; a callback that is not callable failed at the first epoch
    epochs = []
    (tmp_path / "afile").write_text("")
    with pytest.raises(rundir.ResultsError, match="a folder on its path is a file"):
        nnfit.run(CFG, out=tmp_path / "afile" / "sub", callback=lambda ev: epochs.append(ev))
    assert epochs == []
    with pytest.raises(nnfit.ConfigError, match="out: is empty"):
        nnfit.run(CFG, out="")
    with pytest.raises(nnfit.ConfigError, match="callback: must be a function"):
        nnfit.run(CFG, callback=5)


def test_an_interrupted_rerun_is_not_the_folders_run(tmp_path):
    # the finished run is kept; the Run returned read its metrics from that folder while
    # its status and model were the interrupted run's
    nnfit.run(CFG, out=tmp_path)

    def stop(ev):
        if ev.epoch == 3:
            raise KeyboardInterrupt

    # Ctrl-C stops the caller too (a loop of runs went on to the next), the Run kept
    with pytest.raises(nnfit.Interrupted) as caught:
        nnfit.run(CFG, out=tmp_path, callback=stop)
    assert isinstance(caught.value, KeyboardInterrupt)
    run = caught.value.result
    assert run.status == "interrupted" and run.run_dir is None
    assert run.metrics["status"] == "interrupted" and run.metrics["epochs"] == run.record.epochs
    assert json.loads((only_run(tmp_path) / "metrics.json").read_text())["status"] == "ok"


def test_a_callbacks_own_error_reaches_the_caller_as_raised(tmp_path):
    """It came back as a RuntimeError 'training failed: ValueError: …'."""

    class Mine(Exception):
        pass

    def fail(ev):
        if ev.epoch == 2:
            raise Mine("my check")

    with pytest.raises(Mine, match="my check"):
        nnfit.run(CFG, out=tmp_path, callback=fail)
    metrics = json.loads((only_run(tmp_path) / "metrics.json").read_text())
    assert metrics["status"] == "failed" and "Mine: my check" in metrics["error"]


def test_metrics_history_and_model(tmp_path):
    run = nnfit.run(CFG, out=tmp_path)
    assert run.metrics == json.loads((run.run_dir / "metrics.json").read_text())
    assert run.status == "ok" and run.stop_reason == "epochs"
    # one record per epoch, row 0 the untrained network, the columns of history.csv
    assert [r["epoch"] for r in run.history] == list(range(21))
    with open(run.run_dir / "history.csv") as fh:
        assert list(run.history[0]) == next(csv.reader(fh))
    assert run.history[-1]["train_loss"] < run.history[0]["train_loss"]
    X = np.linspace(0, 1, 7)
    loaded = nnfit.load(run.run_dir)
    assert np.array_equal(loaded.predict(X), run.predict(X[:, None]))
    assert loaded.metrics == run.metrics and loaded.config == run.config
    # the test RMS error of metrics.json, from the predictions of the loaded model
    ds = run.data
    rmse = float(np.sqrt(np.mean((loaded.predict(ds.X_test) - ds.F_test) ** 2)))
    assert rmse == pytest.approx(run.metrics["test"]["rmse"], rel=1e-12)
    with pytest.raises(ValueError, match=r"shape \(n, 1\)"):
        loaded.predict(np.zeros((3, 2)))
    with pytest.raises(
        nnfit.ResultsError, match=r"not a run folder \(no metrics\.json or model\.npz\)"
    ):
        nnfit.load(tmp_path)  # the error the package exports, the one it raises
    assert nnfit.ResultsError is rundir.ResultsError and "ResultsError" in nnfit.__all__


def test_figures_are_figures_on_their_own_canvas():
    run = nnfit.run(CFG, overrides={"model.hidden": [3, 3]})
    figs = run.figures()
    assert set(figs) == {"fit", "loss", "gradients"} and all(
        isinstance(f, Figure) and f.axes for f in figs.values()
    )
    # one curve per layer in the gradient picture
    assert len(run.gradients_figure().axes[0].get_lines()) >= 3
    assert run.fit_figure()._repr_png_().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="no figure 'fits'; there are fit, loss, gradients"):
        run.figure("fits")


def test_overrides_take_dicts_strings_and_pairs():
    a = nnfit.run(CFG, overrides={"training.epochs": 3, "model.hidden": [4]})
    b = nnfit.run(CFG, overrides=["training.epochs=3", ("model.hidden", [4])])
    assert a.record.epochs == b.record.epochs == 3
    assert without_time(a.metrics) == without_time(b.metrics)
    assert CFG["training"]["epochs"] == 20  # the caller's dict is not changed


def test_load_refuses_a_run_that_is_not_whole_and_predict_refuses_nan(tmp_path):
    run = nnfit.run(CFG, out=tmp_path)
    model = nnfit.load(run.run_dir)
    with pytest.raises(ValueError, match=r"not finite \(row 1\)"):
        model.predict([0.5, np.nan])
    with pytest.raises(ValueError, match="not finite"):
        model.predict([np.inf])
    # text is not a number, though NumPy reads "0.1" as one
    with pytest.raises(ValueError, match=r"X must be numbers, got text \(<U3\)"):
        model.predict(["0.1"])
    with pytest.raises(ValueError, match="X must be numbers, got text"):
        model.predict(np.array([0.1, "0.2"], dtype=object))
    # ragged rows: NumPy's "inhomogeneous shape after 1 dimensions" spoke of its internals
    with pytest.raises(ValueError, match=r"^X must be rows of one length \(an n × d table\)$"):
        model.predict([[0.1], [0.2, 0.3]])
    # far outside the domain a tanh layer saturates: a value, and no overflow warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(model.predict([1e308, -1e308])).all()
    for error in (rundir.ResultsError, TypeError):
        with pytest.raises(error, match="load needs a run folder's path, got None"):
            nnfit.load(None)
    (run.run_dir / "history.csv").write_text("epoch\n")  # changed since it was recorded
    with pytest.raises(rundir.ResultsError, match=r"history\.csv"):
        nnfit.load(run.run_dir)
    (run.run_dir / "metrics.json").unlink()  # as a run interrupted before its record
    with pytest.raises(rundir.ResultsError):
        nnfit.load(run.run_dir)


def test_overrides_numpy_values_become_plain_numbers():
    run = nnfit.run(CFG, overrides={"training.seed": np.int64(3), "model.hidden": np.array([3])})
    assert run.experiment.training.seed == 3 and run.experiment.model.hidden == [3]
    assert nnfit.run(CFG, overrides="training.epochs=2").record.epochs == 2
    widths = (w for w in (2, 3))  # any iterable, as annotated (a generator had no len())
    assert nnfit.sweep(CFG, widths=widths).summary["n_ok"] == 2


LOOP: list = [1]
LOOP.append(LOOP)
DEEP: dict = {}
_inner = DEEP
for _ in range(1200):  # a RecursionError before
    _inner["a"] = _inner = {}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: nnfit.run(CFG, overrides=5), "overrides: must be a mapping"),
        (lambda: nnfit.run(CFG, overrides=[5]), "overrides: each entry must be 'key=value'"),
        (
            lambda: nnfit.run(CFG, overrides={"training.seed": {3}}),
            "overrides['training.seed']: a set is not plain data",
        ),
        (lambda: nnfit.run({**CFG, 1: 2}), "config: keys must be strings, got 1"),
        (
            lambda: nnfit.sweep({**CFG, "sweep": {"grid": {"training.seed": [date(2024, 1, 1)]}}}),
            "sweep.grid.training.seed[0]: a date is not plain data",
        ),
        (
            lambda: nnfit.sweep({**CFG, "sweep": {"grid": {"training.seed": {1, 2}}}}),
            "sweep.grid.training.seed: a set is not plain data",
        ),
        (lambda: nnfit.sweep(CFG, widths=[True]), "widths: must be a non-empty list"),
        (lambda: nnfit.sweep(CFG, widths=2), "widths: must be a non-empty list"),
        (lambda: nnfit.sweep(CFG, widths=[2], seeds=True), "seeds: must be a positive whole"),
        (lambda: nnfit.sweep(CFG, widths=[2], jobs=np.bool_(True)), "jobs: must be a positive"),
        (lambda: nnfit.run({**CFG, "model": {"hidden": LOOP}}), "model.hidden[1]: contains itself"),
        (lambda: nnfit.run(CFG, out=5), "out: must be a path"),
        (lambda: nnfit.run({**CFG, "extra": DEEP}), "extra: nested deeper than 100 levels"),
        (lambda: nnfit.sweep(CFG, widths=[2], out=5), "out: must be a path"),
    ],
)
def test_python_values_that_no_yaml_file_can_hold_are_a_config_error(call, message):
    # a list that holds itself was a RecursionError, out=5 a TypeError
    # a date or a set in a grid was a TypeError traceback from json.dumps; overrides=5 one
    # from iterating an int; True passed as a width of 1
    with pytest.raises(nnfit.ConfigError) as info:
        call()
    assert str(info.value).startswith(message), str(info.value)


def test_bad_input_is_one_config_error_with_its_parts(write):
    path = write(TINY.replace("activation: tanh", "activation: tanhh"))
    with pytest.raises(nnfit.ConfigError) as info:
        nnfit.run(path)
    e = info.value
    assert (e.file, e.line, e.key, e.given) == (str(path), 5, "model.activation", "tanhh")
    assert "tanh" in e.allowed and "relu" in e.allowed
    assert str(e).startswith(f"{path}:5: model.activation: did you mean 'tanh'?")
    # the CLI prints the same line
    r = CliRunner().invoke(app, ["validate", str(path)])
    assert r.exit_code == 2 and str(e) in r.output.replace("\n", "")
    # a dict has no lines; an override is named as such
    with pytest.raises(nnfit.ConfigError) as info:
        nnfit.run(CFG, overrides={"training.epochs": -1})
    e = info.value
    assert (e.file, e.line, e.key, e.given, e.allowed) == (
        "<config>",
        None,
        "training.epochs",
        -1,
        "≥ 0",
    )
    assert str(e).startswith("overrides['training.epochs']: ")
    with pytest.raises(nnfit.ConfigError) as info:
        nnfit.run({**CFG, "model": {"hiden": [3]}})
    e = info.value
    assert (e.key, e.given) == ("model.hiden", "hiden") and "hidden" in e.allowed
    # a target that is not finite on the data is bad input too
    with pytest.raises(nnfit.ConfigError) as info:
        nnfit.run({**CFG, "target": {"expr": "1/(x - x)"}})
    assert (info.value.key, info.value.given) == ("target.expr", "1/(x - x)")
    assert "not finite" in str(info.value)
    # it survives pickling (a worker process) with its parts
    back = pickle.loads(pickle.dumps(e))
    assert back.problems == e.problems and back.key == e.key and back.allowed == e.allowed
    for wrong in (42, None, [1, 2], b"target: {name: sine}"):
        with pytest.raises(nnfit.ConfigError, match="path, a dict or an Experiment"):
            nnfit.run(wrong)


def test_sweep_in_memory_gives_the_cli_summary(write, tmp_path):
    path = write(TINY)
    cli("sweep", path, "--widths", "2,4", "--seeds", "2", "--jobs", "1", "--out", tmp_path, "-q")
    (summary_file,) = tmp_path.rglob("summary.json")
    ref = json.loads(summary_file.read_text())
    s = nnfit.sweep(path, widths=[2, 4], seeds=2)
    assert s.folder is None and s.summary["sweep_id"] == ref["sweep_id"]
    assert json.loads(rundir.json_text(s.rows)) == ref["groups"]
    assert json.loads(rundir.json_text(s.slopes)) == ref["slopes"]
    assert [r["width"] for r in s.rows] == [2, 4] and all(r["n_ok"] == 2 for r in s.rows)
    fig = s.figure()
    assert isinstance(fig, Figure) and fig.axes
    # in worker processes: the same rows
    two = nnfit.sweep(path, widths=[2, 4], seeds=2, jobs=2)
    assert json.loads(rundir.json_text(two.rows)) == ref["groups"]
    # with out, the CLI's folder: its finished runs are reused
    again = nnfit.sweep(path, widths=[2, 4], seeds=2, out=tmp_path)
    assert again.folder == summary_file.parent and again.summary["n_reused"] == 4


def test_sweep_arguments_are_checked():
    for kwargs, key in (
        ({"widths": [0, 2]}, "widths"),
        ({"widths": "2,4"}, "widths"),
        ({"seeds": 0}, "seeds"),
        ({"jobs": 1.5}, "jobs"),
    ):
        with pytest.raises(nnfit.ConfigError) as info:
            nnfit.sweep(CFG, **kwargs)
        assert info.value.key == key
    with pytest.raises(nnfit.ConfigError, match="nothing to sweep") as info:
        nnfit.sweep(CFG)
    assert str(info.value).endswith("or give widths= or seeds=")


def test_sweep_errors_name_the_arguments_not_the_command_lines_flags():
    # they said "--widths 2,2: width 2 is given twice", a flag nnfit.sweep has not
    with pytest.raises(nnfit.ConfigError) as info:
        nnfit.sweep(CFG, widths=[2, 4, 2])
    assert str(info.value) == "widths=[2, 4, 2]: width 2 is given twice"
    with pytest.raises(nnfit.ConfigError) as info:
        nnfit.sweep(CFG, seeds=2, overrides=["sweep.grid={training.seed: [0, 1]}"])
    assert "seeds=2 replaces it" in str(info.value) and "--" not in str(info.value)


FRESH = """
import os, sys, tempfile
os.umask(0o027)
calls = []
real_umask = os.umask
os.umask = lambda mask: (calls.append(mask), real_umask(mask))[1]
import matplotlib
if sys.argv[1] != "unset":
    matplotlib.use(sys.argv[1])
before = matplotlib.get_backend(auto_select=False)
import nnfit
cfg = {"target": {"expr": "sin(2*pi*x)"}, "data": {"n_train": 32, "n_val": 8, "n_test": 100},
       "model": {"hidden": [4]}, "training": {"epochs": 3}}
with tempfile.TemporaryDirectory() as out:
    run = nnfit.run(cfg, out=out)
    run.figures()
    nnfit.load(run.run_dir).predict([[0.5]])
    nnfit.sweep(cfg, widths=[2, 3]).figure()
    mode = oct((run.run_dir / "metrics.json").stat().st_mode & 0o777)
after = matplotlib.get_backend(auto_select=False)
print(before, after, "matplotlib.pyplot" in sys.modules, calls, mode)
"""


@pytest.mark.parametrize("backend", ["unset", "svg"])
def test_a_fresh_interpreter_keeps_its_backend_and_umask(backend):
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = str(ROOT)
    p = subprocess.run(
        [sys.executable, "-c", FRESH, backend], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert p.returncode == 0, p.stderr
    expect = "None None" if backend == "unset" else "svg svg"
    # no backend chosen or switched, no pyplot, the umask never set, files 0666 & ~umask
    assert p.stdout.split() == [*expect.split(), "False", "[]", "0o640"]


def test_import_nnfit_stays_light():
    code = textwrap.dedent(
        """
        import sys
        import nnfit
        assert callable(nnfit.sweep)
        print(sorted(m for m in ("numpy", "matplotlib", "pydantic", "sklearn") if m in sys.modules))
        """
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    # nnfit.sweep is the subpackage made callable: importing it costs no NumPy
    assert p.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("call", "key", "allowed", "given"),
    [
        (
            lambda: nnfit.run(CFG, overrides={"training.optimizer.lr": 1j}),
            "training.optimizer.lr",
            "numbers, strings, lists and mappings",
            1j,
        ),
        (
            lambda: nnfit.run(CFG, overrides={"model.hidden": [2, {3}]}),
            "model.hidden[1]",
            "numbers, strings, lists and mappings",
            {3},
        ),
        (
            lambda: nnfit.run(CFG, overrides=5),
            "overrides",
            "a mapping {key: value} or a list of 'key=value' strings or (key, value) pairs",
            5,
        ),
        (
            lambda: nnfit.run(CFG, overrides=[5]),
            "overrides",
            "'key=value' or a (key, value) pair",
            5,
        ),
        (lambda: nnfit.run({**CFG, 1: 2}), "config", "string keys", 1),
        (
            lambda: nnfit.run(CFG, overrides="training.epochs"),
            "training.epochs",
            "KEY=VALUE",
            "training.epochs",
        ),
        (
            lambda: nnfit.run(CFG, overrides="training.epochs= "),
            "training.epochs",
            "a YAML value",
            " ",
        ),
    ],
)
def test_argument_errors_carry_their_key_allowed_and_given(call, key, allowed, given):
    """These had key, allowed and given None, and a string override without '=' was
    named '--set', a flag the Python caller never gave."""
    with pytest.raises(nnfit.ConfigError) as info:
        call()
    e = info.value
    assert (e.key, e.allowed, e.given, e.file, e.line) == (key, allowed, given, None, None)
    assert "--set" not in str(e) and str(e).count("\n") == 0


UNGUARDED = """
import nnfit
cfg = {"target": {"expr": "sin(2*pi*x)"}, "data": {"n_train": 32, "n_val": 8, "n_test": 50},
       "model": {"hidden": [4]}, "training": {"epochs": 3}}
try:
    nnfit.sweep(cfg, widths=[2, 4], jobs=2)
except nnfit.ConfigError as exc:
    print("refused:", exc)
"""


def test_an_unguarded_script_with_jobs_is_refused_in_one_line(tmp_path):
    # each worker ran the script again: 70 lines of multiprocessing traceback per worker,
    # then a sweep whose every point had failed, and exit 0
    script = tmp_path / "s.py"
    script.write_text(UNGUARDED)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert p.stdout.startswith("refused: jobs=2: the worker processes could not start: a script")
    assert 'if __name__ == "__main__":' in p.stdout and p.stdout.count("\n") == 1


def test_ctrl_c_in_a_sweep_or_a_fit_stops_the_caller_with_what_finished(monkeypatch):
    # nnfit.sweep returned normally after Ctrl-C, and a Regressor warned: a script's loop
    # went on, so one Ctrl-C could not stop it
    from nnfit.engine.loop import Session
    from nnfit.sweep import workers

    real = workers.local

    def first_then_ctrl_c(tasks, jobs, plots=True):
        stream = real(tasks[:1], 1, plots)
        yield from stream
        raise KeyboardInterrupt

    monkeypatch.setattr(workers, "local", first_then_ctrl_c)
    with pytest.raises(nnfit.Interrupted) as caught:
        nnfit.sweep(CFG, widths=[2, 3, 4])
    s = caught.value.result
    assert s.summary["interrupted"] is True and s.summary["n_ok"] == 1

    end = Session.end_epoch

    def ctrl_c_at_3(self, *a, **k):
        if self.epoch == 3:
            raise KeyboardInterrupt
        return end(self, *a, **k)

    monkeypatch.setattr(Session, "end_epoch", ctrl_c_at_3)
    X = np.linspace(0, 1, 40)[:, None]
    with pytest.raises(nnfit.Interrupted) as caught:
        nnfit.Regressor(hidden=(4,), epochs=50, random_state=0).fit(X, X[:, 0])
    reg = caught.value.result
    assert reg.n_iter_ == 3 and np.isfinite(reg.predict(X)).all()


def test_a_script_piped_on_stdin_sweeps_on_workers(tmp_path):
    # `python - < script.py`: each spawned worker tried to open '<stdin>' and died, and
    # the sweep returned with every point failed, exit 0
    code = UNGUARDED.replace("try:", "if True:").replace(
        'except nnfit.ConfigError as exc:\n    print("refused:", exc)', "pass"
    )
    code = code.replace(
        "nnfit.sweep(cfg, widths=[2, 4], jobs=2)", "s = nnfit.sweep(cfg, widths=[2, 4], jobs=2)"
    )
    code += "print([r['n_ok'] for r in s.rows])\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run(
        [sys.executable, "-"], input=code, capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert p.stdout.strip() == "[1, 1]"
