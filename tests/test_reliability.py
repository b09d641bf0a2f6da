"""Faults: signals, kills, concurrent writers, unwritable folders, non-finite numbers,
and property tests of the config loader. Nothing lost, nothing executed, nothing hung."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import TINY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nnfit.cli import app
from nnfit.experiment import config
from nnfit.experiment import rundir as results
from nnfit.experiment import runner as experiment

LONG = TINY.replace("epochs: 20", "epochs: 1000000").replace("name: tiny", "name: long")
ROOT = Path(__file__).resolve().parents[1]
# subprocesses (and the workers they spawn) draw no figures: see nofigures/sitecustomize.py
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'tests' / 'nofigures'}{os.pathsep}{ROOT}"}


def nnfit(*args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "nnfit", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        **kw,
    )


@pytest.fixture
def no_figures(monkeypatch):
    """No figures here or in spawned workers: these tests are about files and signals."""
    from nnfit.experiment import plots

    monkeypatch.setattr(plots, "render", lambda exp, rec, ds: ({}, []))
    monkeypatch.setenv("PYTHONPATH", ENV["PYTHONPATH"])


def finish(proc, timeout=120):
    """Wait for the process and close its pipes; return (code, stdout, stderr)."""
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def wait_for(pred, timeout=30.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.05)
    return False


def finished_runs_are_whole(root: Path):
    """Every folder with a metrics.json has every file of a run, each readable."""
    for run in results.find_runs(root):
        assert results.check_run(run) is None, run
        m = json.loads((run / "metrics.json").read_text())
        assert m["status"] in {"ok", "diverged", "failed", "interrupted"}
        yaml.safe_load((run / "config.yaml").read_text())
        if m["status"] != "failed":
            with np.load(run / "model.npz") as z:
                assert all(np.all(np.isfinite(z[k])) for k in z.files if k != "meta")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_run_keeps_the_model_and_exits_130(write, tmp_path, sig):
    out = tmp_path / "res"
    proc = nnfit("run", write(LONG), "--out", out)
    line = proc.stdout.readline()  # the first progress line: training has started
    assert "long: epoch" in line
    proc.send_signal(sig)
    code, _, err = finish(proc)
    assert code == 130, err
    (run,) = results.find_runs(out)
    m = results.read_metrics(run)
    assert m["status"] == "interrupted" and 0 < m["epochs"] < 1000000
    finished_runs_are_whole(out)


SWEEP = """
name: sw
target: {name: sine}
data: {n_train: 64, n_val: 16, n_test: 200}
model: {hidden: [4], activation: tanh}
training: {epochs: 300, batch_size: 8, optimizer: {name: adam, lr: 0.01}}
sweep:
  grid:
    model.hidden: [[1], [2], [3], [4], [5], [6], [7], [8]]
    training.seed: [0, 1, 2, 3]
"""


def test_an_interrupted_sweep_keeps_finished_runs_and_resumes(write, tmp_path, no_figures):
    out = tmp_path / "res"
    p = write(SWEEP)
    proc = nnfit("sweep", p, "--out", out, "--jobs", "2")
    assert wait_for(lambda: len(results.find_runs(out)) >= 3)
    proc.send_signal(signal.SIGTERM)
    code, _, err = finish(proc)
    assert code == 130, err
    finished_runs_are_whole(out)
    done = {r: (r / "metrics.json").stat().st_mtime_ns for r in results.find_runs(out)}
    assert 3 <= len(done) < 32
    (folder,) = (out / "sw").iterdir()
    assert json.loads((folder / "summary.json").read_text())["interrupted"] is True
    r = CliRunner().invoke(app, ["sweep", str(p), "--out", str(out), "--resume", "--jobs", "1"])
    assert r.exit_code == 0, r.output
    assert f"{len(done)} already done, {32 - len(done)} to run" in r.stdout
    assert all((run / "metrics.json").stat().st_mtime_ns == t for run, t in done.items())
    assert len(results.find_runs(out)) == 32


def test_kill_9_leaves_nothing_that_reads_as_finished(write, tmp_path):
    out = tmp_path / "res"
    proc = nnfit("sweep", write(SWEEP), "--out", out, "--jobs", "2")
    try:
        assert wait_for(lambda: len(results.find_runs(out)) >= 2)
    finally:  # killed whatever happens: a sweep left running would disturb the next tests
        proc.kill()
        finish(proc, timeout=30)  # returns once the workers, holding its pipes, have gone
    finished_runs_are_whole(out)
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    for tmp in leftovers:  # a half-written temp file never carries a result name
        assert tmp.name.startswith(".")


def test_two_runs_of_one_config_at_once_both_finish(write, tmp_path):
    p = write(TINY.replace("epochs: 20", "epochs: 300"))
    out = tmp_path / "res"
    procs = [nnfit("run", p, "--out", out, "--quiet") for _ in range(2)]
    assert [finish(pr)[0] for pr in procs] == [0, 0]
    (run,) = results.find_runs(out)
    assert results.read_metrics(run)["status"] == "ok"
    finished_runs_are_whole(out)


SMALL = SWEEP.replace("epochs: 300", "epochs: 10").replace(
    "[[1], [2], [3], [4], [5], [6], [7], [8]]", "[[1], [2], [3], [4]]"
)


def test_two_sweeps_into_one_folder_keep_a_whole_summary(write, tmp_path):
    p = write(SMALL)
    out = tmp_path / "res"
    procs = [nnfit("sweep", p, "--out", out, "--jobs", "1", "--quiet") for _ in range(2)]
    assert [finish(pr, 240)[0] for pr in procs] == [0, 0]
    (folder,) = (out / "sw").iterdir()
    s = json.loads((folder / "summary.json").read_text())
    assert s["n_ok"] == 16 and s["n_failed"] == 0
    finished_runs_are_whole(out)


def test_an_unwritable_results_folder_is_one_clear_line(write, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = CliRunner().invoke(app, ["run", str(write(TINY)), "--out", str(blocker), "--quiet"])
    assert r.exit_code == 2
    assert r.stderr.strip() == f"error: {blocker}: is not a folder; give a folder for the results"
    assert r.stdout == ""  # refused before training, not after it
    nowhere = "/proc/self/nnfit-results"  # no one, not even root, makes a folder there
    r = CliRunner().invoke(app, ["run", str(write(TINY)), "--out", nowhere, "--quiet"])
    assert r.exit_code == 2
    assert "cannot write" in r.stderr and nowhere in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_full_disk_is_reported_and_nothing_half_written(write, tmp_path, monkeypatch):
    def full(fd):  # a file system that reports a full disk when data reach it
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    r = CliRunner().invoke(app, ["run", str(write(TINY)), "--out", str(tmp_path / "r"), "--quiet"])
    assert r.exit_code == 2 and "No space left on device" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "r").rglob("*")) or not results.find_runs(tmp_path / "r")
    assert not [p for p in (tmp_path / "r").rglob(".*") if p.is_dir()]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_overflow_is_diverged_never_nan_weights(write, tmp_path, dtype):
    p = write(
        TINY.replace("{name: adam, lr: 0.01}", "{name: sgd, lr: 1.0e+5}").replace(
            "activation: tanh", "activation: relu"
        )
    )
    rec = experiment.execute(config.load(p, [f"training.dtype={dtype}"]), plots=False)
    assert rec.status == "diverged"
    for k, v in rec.model.items():
        if k != "meta":
            assert np.all(np.isfinite(v))


def test_jobs_do_not_change_results(write, tmp_path, no_figures):
    p = write(SMALL)
    runner = CliRunner()
    for jobs in ("1", "2"):
        assert (
            runner.invoke(
                app, ["sweep", str(p), "--out", str(tmp_path / jobs), "--jobs", jobs, "--quiet"]
            ).exit_code
            == 0
        )
    for run in results.find_runs(tmp_path / "1"):
        twin = tmp_path / "2" / run.relative_to(tmp_path / "1")
        with np.load(run / "model.npz") as a, np.load(twin / "model.npz") as b:
            assert all(np.array_equal(a[k], b[k]) for k in a.files)
        assert results.read_metrics(run)["test"] == results.read_metrics(twin)["test"]


# ----------------------------------------------------------------- property tests

KEYS = [
    "name",
    "target",
    "data",
    "model",
    "training",
    "sweep",
    "expr",
    "dim",
    "hidden",
    "activation",
    "optimizer",
    "lr",
    "epochs",
    "n_train",
    "noise",
    "seed",
    "l1",
    "l2",
    "batch_size",
    "early_stopping",
    "patience",
    "targt",
    "__class__",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["tanh", "adam", "sine", "x", "full", "lm", "franke"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
def test_the_loader_accepts_or_raises_its_one_error(data):
    try:
        exp = config.from_dict(data, "prop.yaml")
    except config.ConfigError as exc:
        assert exc.problems and all(
            p.startswith(("prop.yaml", "sweep point")) for p in exc.problems
        )
        return
    assert exp.config_hash() == config.from_dict(exp.run_config()).config_hash()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_loads_or_fails_cleanly(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("y") / "f.yaml"
    p.write_text(text)
    t0 = time.monotonic()
    with contextlib.suppress(config.ConfigError):
        config.load(p)
    assert time.monotonic() - t0 < 2.0


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "{long}.yaml"],
        ["run", "{long}.yaml"],
        ["gradcheck", "{long}.yaml"],
        ["report", "{long}"],
        ["predict", "{long}", "--x", "1"],
        ["predict", "{run}", "--x", "1", "--out", "{long}"],
        ["run", "{file}", "--out", "{long}"],
        ["sweep", "{file}", "--widths", "1", "--out", "{long}"],
        ["run", "{file}", "--out", "{loop}"],
        ["predict", "{run}", "--x", "0.1", "--out", "{loop}"],
        # these said "no such folder" or "no such file"
        ["report", "{loop}"],
        ["validate", "{loop}"],
        ["predict", "{loop}", "--x", "0.1"],
    ],
)
def test_a_name_too_long_or_a_link_loop_is_one_line(args, made_run, tmp_path):
    # each was an OSError or RuntimeError traceback (exit 1)
    run_dir = made_run
    base = run_dir.parents[2]
    (tmp_path / "loop").symlink_to("loop")
    subs = {
        "{long}": str(tmp_path / ("a" * 256)),
        "{run}": str(run_dir),
        "{file}": str(base / "t.yaml"),
        "{loop}": str(tmp_path / "loop"),
    }
    argv = []
    for a in args:
        for k, v in subs.items():
            a = a.replace(k, v)
        argv.append(a)
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    # validate prints its problems as it finds them, without a prefix
    assert line.startswith("error: " if args[0] != "validate" else "/") and len(line) <= 300
    assert "File name too long" in line or "leads back to itself" in line, line
    assert results.check_run(run_dir) is None


def test_load_of_a_name_too_long_is_a_results_error(tmp_path):
    import nnfit

    with pytest.raises(results.ResultsError, match="File name too long"):
        nnfit.load(tmp_path / ("a" * 256))


def test_a_matplotlib_that_cannot_load_costs_the_figures_not_the_run(write, tmp_path):
    # MPLBACKEND=foo made `import matplotlib` raise after training: nothing was written
    env = {**os.environ, "MPLBACKEND": "foo", "PYTHONPATH": str(ROOT)}
    out = tmp_path / "res"
    p = subprocess.run(
        [sys.executable, "-m", "nnfit", "run", str(write(TINY)), "--out", str(out), "-q"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    assert "warning: figures not drawn: matplotlib failed to load" in p.stderr
    (run_dir,) = results.find_runs(out)
    assert results.check_run(run_dir) is None
    assert results.read_metrics(run_dir)["status"] == "ok"
    assert not list(run_dir.glob("*.png"))
