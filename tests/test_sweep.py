"""Sweeps: parallel runs, resume, isolated failures, Dask, and the summary by hand."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from nnfit.cli import app
from nnfit.experiment import rundir as results
from nnfit.sweep import grid as sweep

runner = CliRunner()

SWEEP = """
name: sw
target: {name: sine}
data: {n_train: 64, n_val: 16, n_test: 300}
model: {hidden: [4], activation: tanh}
training: {epochs: 15, batch_size: 16, optimizer: {name: adam, lr: 0.01}}
sweep:
  grid:
    model.hidden: [[2], [4]]
    training.seed: [0, 1]
"""


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def sweep_dir(out):
    (folder,) = (out / "sw").iterdir()
    return folder


def test_two_jobs_write_every_run_and_the_summary(write, tmp_path):
    out = tmp_path / "res"
    r = invoke("sweep", write(SWEEP), "--out", out, "--jobs", "2")
    assert r.exit_code == 0, r.output
    folder = sweep_dir(out)
    assert folder.name.startswith("sweep-") and len(folder.name) == len("sweep-") + 8
    runs = results.find_runs(folder)
    assert sorted(p.name.split("-")[0] + p.name.split("-")[1] for p in runs) == [
        "w2s0",
        "w2s1",
        "w4s0",
        "w4s1",
    ]
    assert {"summary.csv", "summary.json", "error_vs_width.png"} <= {
        p.name for p in folder.iterdir()
    }
    s = json.loads((folder / "summary.json").read_text())
    assert s["n_points"] == 4 and s["n_ok"] == 4 and s["n_failed"] == 0
    assert [g["width"] for g in s["groups"]] == [2, 4]
    assert [g["n_params"] for g in s["groups"]] == [7, 13]
    # the statistics by hand from the runs' own metrics.json
    for g in s["groups"]:
        vals = [results.read_metrics(folder / run["run"])["test"]["rmse"] for run in g["runs"]]
        assert g["test_rmse"]["mean"] == pytest.approx(np.mean(vals), rel=1e-12)
        assert g["test_rmse"]["std"] == pytest.approx(np.std(vals, ddof=1), rel=1e-12)
        assert g["test_rmse"]["min"] == min(vals) and g["test_rmse"]["max"] == max(vals)
    assert len(s["slopes"]) == 1 and s["slopes"][0]["series"] == "all"
    csv = (folder / "summary.csv").read_text().splitlines()
    assert len(csv) == 3 and csv[0].startswith("point,width,depth,n_params,n_ok")
    rows = json.loads(invoke("report", out, "--json").stdout)
    assert [r["kind"] for r in rows].count("sweep") == 1


def test_resume_skips_finished_points_and_redoes_the_rest(write, tmp_path):
    p = write(SWEEP)
    out = tmp_path / "res"
    assert invoke("sweep", p, "--out", out, "--jobs", "1", "--quiet").exit_code == 0
    folder = sweep_dir(out)
    runs = results.find_runs(folder)
    stamps = {r: (r / "metrics.json").stat().st_mtime_ns for r in runs}
    (runs[0] / "metrics.json").unlink()  # as if killed before it finished
    r = invoke("sweep", p, "--out", out, "--jobs", "1", "--resume")
    assert r.exit_code == 0, r.output
    assert "4 points, 3 already done, 1 to run" in r.stdout
    for run in runs[1:]:
        assert (run / "metrics.json").stat().st_mtime_ns == stamps[run]
    assert results.read_metrics(runs[0])["status"] == "ok"


def test_a_diverging_point_is_isolated(write, tmp_path):
    text = SWEEP.replace("training.seed: [0, 1]", "training.optimizer.lr: [0.01, 1.0e+6]")
    text = text.replace("activation: tanh", "activation: relu")
    r = invoke(
        "sweep",
        write(text),
        "--out",
        tmp_path / "res",
        "--jobs",
        "2",
        "--set",
        "training.optimizer.name=sgd",
    )
    assert r.exit_code == 3, r.output
    s = json.loads((sweep_dir(tmp_path / "res") / "summary.json").read_text())
    assert s["n_ok"] == 2 and s["n_failed"] == 2
    assert {f["status"] for f in s["failed"]} == {"diverged"}
    assert all(f["point"]["training.optimizer.lr"] == 1e6 for f in s["failed"])


def test_widths_and_seeds_shorthands(write, tmp_path):
    p = write(
        SWEEP.replace(
            "sweep:\n  grid:\n    model.hidden: [[2], [4]]\n    training.seed: [0, 1]\n", ""
        ).replace("[4]", "[4, 4]")
    )
    _folder, grid, points = sweep.expand(p, [], [1, 3], 2, tmp_path)
    assert grid == {"model.hidden": [[1, 1], [3, 3]], "training.seed": [0, 1]}
    assert [pt.exp.model.hidden for pt in points] == [[1, 1], [1, 1], [3, 3], [3, 3]]
    r = invoke("sweep", p, "--out", tmp_path / "r")
    assert r.exit_code == 2 and "nothing to sweep" in r.stderr
    assert invoke("sweep", p, "--widths", "1,x").exit_code == 2


def test_bad_grid_points_are_refused_before_anything_runs(write, tmp_path):
    p = write(SWEEP.replace("[[2], [4]]", "[[2], [-4]]"))
    r = invoke("sweep", p, "--out", tmp_path / "res")
    assert r.exit_code == 2 and "sweep point model.hidden=[-4]" in r.stderr
    assert not (tmp_path / "res").exists()
    p = write(SWEEP.replace("training.seed:", "training.sead:"))
    r = invoke("sweep", p, "--out", tmp_path / "res")
    assert r.exit_code == 2 and "did you mean 'seed'" in r.stderr


def test_dask_local_cluster_matches_local_workers(write, tmp_path):
    pytest.importorskip("dask.distributed")
    p = write(SWEEP)
    assert invoke("sweep", p, "--out", tmp_path / "local", "--jobs", "2", "--quiet").exit_code == 0
    r = invoke("sweep", p, "--out", tmp_path / "dask", "--dask", "local", "--jobs", "2", "--quiet")
    assert r.exit_code == 0, r.output
    a, b = sweep_dir(tmp_path / "local"), sweep_dir(tmp_path / "dask")
    assert a.name == b.name
    for run in results.find_runs(a):
        with np.load(run / "model.npz") as x, np.load(b / run.name / "model.npz") as y:
            for k in x.files:
                assert np.array_equal(x[k], y[k])
        ma, mb = results.read_metrics(run), results.read_metrics(b / run.name)
        assert ma["test"] == mb["test"]


def test_validate_checks_every_grid_point(write):
    good = write(SWEEP, "good.yaml")
    r = invoke("validate", good)
    assert r.exit_code == 0 and "sweep of 4 runs" in r.stdout
    bad = write(SWEEP.replace("[[2], [4]]", "[[2], [0]]"), "bad.yaml")
    r = invoke("validate", bad)
    assert r.exit_code == 2 and "sweep point model.hidden=[0]" in r.stderr
