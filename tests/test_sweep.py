"""Sweeps: parallel runs, resume, isolated failures, Dask, and the summary by hand."""

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from nnfit.cli import app
from nnfit.experiment import rundir as results
from nnfit.sweep import grid as sweep
from nnfit.sweep import workers

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


@pytest.fixture()
def no_run_figures(monkeypatch):
    """Runs in this process draw no figures of their own (seconds each; the tests that
    use this look at runs, summaries and messages)."""
    from nnfit.experiment import runner

    monkeypatch.setattr(runner, "draw_figures", lambda *a: ({}, []))


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_no_figures_writes_runs_without_their_pngs_and_the_sweep_figure(write, tmp_path):
    # local workers and, through the same task, Dask's: most of a small run is its figures
    out = tmp_path / "res"
    r = invoke("sweep", write(SWEEP), "--out", out, "--jobs", "2", "--no-figures", "-q")
    assert r.exit_code == 0, r.output
    folder = sweep_dir(out)
    runs = results.find_runs(folder)
    assert len(runs) == 4 and not [p for run in runs for p in run.glob("*.png")]
    assert (folder / "error_vs_width.png").is_file()
    for run in runs:
        assert results.check_run(run) is None  # done: figures are not required


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
    assert sorted(p.name.rsplit("-", 1)[0] for p in runs) == [
        "w2-tanh-adam-s0",
        "w2-tanh-adam-s1",
        "w4-tanh-adam-s0",
        "w4-tanh-adam-s1",
    ]
    assert {"summary.csv", "summary.json", "error_vs_width.png"} <= {
        p.name for p in folder.iterdir()
    }
    s = json.loads((folder / "summary.json").read_text())
    assert s["n_points"] == 4 and s["n_ok"] == 4 and s["n_failed"] == 0
    assert [g["width"] for g in s["groups"]] == [2, 4]
    assert [g["n_params"] for g in s["groups"]] == [7, 13]
    assert [g["dim"] for g in s["groups"]] == [1, 1]  # the n^(-2/d) reference reads it
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
    # the sweep folder itself: its runs are no section "./", its note names it
    table = invoke("report", folder).stdout
    assert "./" not in table and f"sweep {folder.name}/: 4 ok" in table


def test_resume_skips_finished_points_and_redoes_the_rest(write, tmp_path, no_run_figures):
    p = write(SWEEP)
    out = tmp_path / "res"
    assert invoke("sweep", p, "--out", out, "--jobs", "1", "--quiet").exit_code == 0
    folder = sweep_dir(out)
    runs = results.find_runs(folder)
    stamps = {r: (r / "metrics.json").stat().st_mtime_ns for r in runs}
    (runs[0] / "metrics.json").unlink()  # as if killed before it finished
    (runs[1] / "model.npz").unlink()  # a run that lost a file is not finished either
    r = invoke("sweep", p, "--out", out, "--jobs", "1", "--resume")
    assert r.exit_code == 0, r.output
    assert "4 points, 2 already done, 2 to run" in r.stdout
    for run in runs[2:]:
        assert (run / "metrics.json").stat().st_mtime_ns == stamps[run]
    assert results.read_metrics(runs[0])["status"] == "ok" and (runs[1] / "model.npz").is_file()


def test_a_diverging_point_is_isolated(write, tmp_path, no_run_figures):
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
    # the baselines are fitted on the data, not trained: a diverged point has them, the
    # same as its width's other point (the figure drew them twice, once per curve)
    by_width = {}
    for g in s["groups"]:
        by_width.setdefault(g["width"], []).append(g["baselines"])
    for ok, diverged in by_width.values():
        assert set(diverged) == {"chebyshev", "pwlinear", "random_features"}
        assert diverged == ok


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
    for text in ("1,,2", "1,2,", "", "0,1"):  # 1,,2 ran widths 1 and 2
        r = invoke("sweep", p, "--widths", text, "--out", tmp_path / "r")
        assert r.exit_code == 2 and f"--widths {text}: " in r.stderr, (text, r.output)
    assert not (tmp_path / "r").exists()


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
    r = invoke(
        "sweep", p, "--out", tmp_path / "dask", "--dask", "local", "--jobs", "2", "--quiet",
        "--no-figures",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    a, b = sweep_dir(tmp_path / "local"), sweep_dir(tmp_path / "dask")
    assert a.name == b.name
    for run in results.find_runs(a):  # --no-figures reaches the workers; the rest is equal
        assert (run / "fit.png").exists() and not list((b / run.name).glob("*.png"))
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


def test_rerunning_a_finished_sweep_reuses_its_runs_unless_told_to_rerun(
    write, tmp_path, no_run_figures
):
    p, out = write(SWEEP), tmp_path / "res"
    assert invoke("sweep", p, "--out", out, "--jobs", "1", "--quiet").exit_code == 0
    runs = results.find_runs(sweep_dir(out))
    stamps = {r: (r / "metrics.json").stat().st_mtime_ns for r in runs}
    for flag in ([], ["--resume"]):  # reuse is the default; --resume says the same
        r = invoke("sweep", p, "--out", out, "--jobs", "1", *flag)
        assert r.exit_code == 0, r.output
        assert "sweep: 4 points, 4 already done, 0 to run" in r.stdout
        assert "(finished runs are reused; --rerun trains them again)" in r.stdout
        assert "sw · " in r.stdout and "4 ok, 0 failed (4 reused)" in r.stdout
        assert {r: (r / "metrics.json").stat().st_mtime_ns for r in runs} == stamps
    r = invoke("sweep", p, "--out", out, "--jobs", "1", "--rerun")
    assert r.exit_code == 0, r.output
    assert "sweep: 4 points, 0 already done, 4 to run" in r.stdout and "reused" not in r.stdout
    assert all((run / "metrics.json").stat().st_mtime_ns != stamps[run] for run in runs)
    r = invoke("sweep", p, "--out", out, "--resume", "--rerun")
    assert r.exit_code == 2 and "--resume and --rerun contradict each other" in r.stderr


def _interrupt_second_task(monkeypatch, how):
    """Ctrl-C during the second task: raised in the driver, or caught inside training."""
    real, calls = workers.run_task, []

    def run_task(cfgs):
        calls.append(cfgs)
        if len(calls) < 2:
            return real(cfgs)
        if how == "raise":
            raise KeyboardInterrupt
        recs = real([{**c, "training": {**c["training"], "epochs": 1}} for c in cfgs])
        for rec in recs:
            rec.status = rec.stop_reason = "interrupted"
        return recs

    monkeypatch.setattr(workers, "run_task", run_task)


@pytest.mark.parametrize(
    ("how", "flags", "hint"),
    [
        ("raise", [], "rerun with the same command to continue"),
        ("caught in training", ["--rerun"], "rerun without --rerun to continue"),
    ],
)
def test_an_interrupted_sweep_counts_what_finished_and_says_how_to_go_on(
    write, tmp_path, monkeypatch, how, flags, hint, no_run_figures
):
    p, out = write(SWEEP), tmp_path / "res"
    _interrupt_second_task(monkeypatch, how)
    r = invoke("sweep", p, "--out", out, "--jobs", "1", *flags)
    assert r.exit_code == 130, r.output
    assert r.stderr.strip() == f"interrupted: 2 of 4 runs finished; {hint}"
    assert "2 ok, 0 failed, 2 not run" in r.stdout
    table = [line.split() for line in r.stdout.splitlines() if line.startswith("hidden=")]
    assert sorted(row[1] for row in table) == ["0/2", "2/2"]
    assert len(results.find_runs(out)) == 2  # nothing half-trained is kept
    s = json.loads((sweep_dir(out) / "summary.json").read_text())
    assert (s["interrupted"], s["n_ok"], s["n_failed"], s["n_missing"]) == (True, 2, 0, 2)
    monkeypatch.undo()
    r = invoke("sweep", p, "--out", out, "--jobs", "1")
    assert r.exit_code == 0 and "4 points, 2 already done, 2 to run" in r.stdout


def test_an_interrupted_rerun_keeps_the_finished_runs_it_did_not_reach_in_its_summary(
    write, tmp_path, monkeypatch, no_run_figures
):
    # summary.json and summary.csv of a finished sweep were replaced by "0 ok, 4 not
    # run", every mean null, beside four intact ok runs
    p, out = write(SWEEP), tmp_path / "res"
    assert invoke("sweep", p, "--out", out, "--jobs", "1").exit_code == 0
    folder = sweep_dir(out)
    before = json.loads((folder / "summary.json").read_text())
    _interrupt_second_task(monkeypatch, "raise")
    r = invoke("sweep", p, "--out", out, "--jobs", "1", "--rerun")
    assert r.exit_code == 130, r.output
    assert r.stderr.strip() == (
        "interrupted: 2 of 4 runs trained again; 2 not reached keep their earlier results; "
        "rerun without --rerun to continue"
    )
    s = json.loads((folder / "summary.json").read_text())
    assert (s["interrupted"], s["n_ok"], s["n_missing"], s["n_reused"]) == (True, 4, 0, 2)
    assert all(g["test_rmse"]["mean"] is not None for g in s["groups"])
    assert len(s["groups"]) == len(before["groups"])
    rows = (folder / "summary.csv").read_text().splitlines()
    assert len(rows) == len(before["groups"]) + 1 and ",," not in "".join(rows[1:])


def test_a_sweep_interrupted_before_its_first_run_shows_no_table_and_draws_nothing(
    write, tmp_path, monkeypatch, no_run_figures
):
    # it showed a table of "0/2  — ± —" rows, "too few falling points for a slope" and
    # a warning that the (empty) figure was not written
    def run_task(cfgs):
        raise KeyboardInterrupt

    monkeypatch.setattr(workers, "run_task", run_task)
    p, out = write(SWEEP), tmp_path / "res"
    r = invoke("sweep", p, "--out", out, "--jobs", "1")
    assert r.exit_code == 130, r.output
    assert (
        r.stderr.strip()
        == "interrupted: 0 of 4 runs finished; rerun with the same command to continue"
    )
    assert "hidden=" not in r.stdout and "slope" not in r.stdout
    folder = sweep_dir(out)
    s = json.loads((folder / "summary.json").read_text())
    assert (s["interrupted"], s["n_ok"], s["n_missing"], list(s["files"])) == (
        True,
        0,
        4,
        ["summary.csv"],
    )
    assert not (folder / "error_vs_width.png").exists()


def test_a_ctrl_c_held_while_a_run_is_written_counts_that_run(
    write, tmp_path, monkeypatch, no_run_figures
):
    # the held signal was raised as write_run ended, before the sweep counted the run:
    # summary.json said 3 ok with 4 finished run folders on disk
    import signal

    from nnfit.experiment import shield
    from nnfit.sweep import grid

    real = grid.write_run

    def write_run(rec, run_dir):
        with shield.writing():  # as the real one: the signal lands inside its block
            placed = real(rec, run_dir)
            shield._active._handle(signal.SIGINT, None)
        return placed

    monkeypatch.setattr(grid, "write_run", write_run)
    p, out = write(SWEEP), tmp_path / "res"
    r = invoke("sweep", p, "--out", out, "--jobs", "1")
    assert r.exit_code == 130, r.output
    assert "interrupted: 1 of 4 runs finished" in r.stderr
    assert len(results.find_runs(out)) == 1
    s = json.loads((sweep_dir(out) / "summary.json").read_text())
    assert (s["interrupted"], s["n_ok"], s["n_missing"]) == (True, 1, 3)


def test_runs_of_a_sweep_over_activations_say_which_in_their_names(write, tmp_path):
    text = SWEEP.replace("training.seed: [0, 1]", "model.activation: [tanh, relu]")
    _folder, _grid, points = sweep.expand(write(text), [], None, None, tmp_path)
    names = [pt.run_dir.name.rsplit("-", 1)[0] for pt in points]
    assert names == ["w2-tanh-adam-s0", "w2-relu-adam-s0", "w4-tanh-adam-s0", "w4-relu-adam-s0"]


GRID = """\
name: sw
target: {name: sine}
data: {n_train: 64, n_val: 16, n_test: 300}
model: {hidden: [4], activation: tanh}
training: {epochs: 15, batch_size: 16, optimizer: {name: adam, lr: 0.01}}
sweep:
  grid:
    model.hidden:
      - [2]
      - [4]
    training.seed: [0, 1]
"""


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        (
            "- [4]",
            "- [-4]",
            ":10: sweep point model.hidden=[-4], training.seed=0: model.hidden.0: "
            "input should be greater than or equal to 1, got -4",
        ),
        (
            "training.seed: [0, 1]",
            "training.epochs: [3, x]",
            ":11: sweep point model.hidden=[2], training.epochs=x: training.epochs: "
            "must be a whole number, got 'x'",
        ),
        (
            "training.seed: [0, 1]",
            "training.sead: [0, 1]",
            ":11: sweep point model.hidden=[2], training.sead=0: training.sead: "
            "unknown key (did you mean 'seed'?",
        ),
        (
            "model.hidden:",
            "a..b:",
            ":8: sweep.grid: 'a..b' has an empty part (two dots, or a dot at an end); "
            "write a dotted key like training.optimizer.lr",
        ),
        ("model.hidden:", '"model.hidden ":', ":8: sweep.grid: 'model.hidden ' has a space in it"),
        (
            "training.seed: [0, 1]",
            "target.name.x: [1]",
            ":11: sweep.grid.target.name.x: target.name is a value ('sine'), "
            "not a section with keys under it",
        ),
        (
            "training.seed: [0, 1]",
            "training.seed: [0, 0]",
            ":11: sweep.grid.training.seed: 0 is listed twice (entries 1 and 2); "
            "list each value once",
        ),
        (
            "- [4]",
            "- [2]",
            ":10: sweep.grid.model.hidden: [2] is listed twice (entries 1 and 2); "
            "list each value once",
        ),
        (
            "training.seed: [0, 1]",
            "training.batch_size: [4, 4.0]",
            ":11: sweep.grid.training.batch_size: 4 and 4.0 give the same run "
            "(the same resolved config); list each value once",
        ),
        (
            "training.seed: [0, 1]",
            "training.optimizer.lr: [0.01, 1.0e-2]",
            ":11: sweep.grid.training.optimizer.lr: 0.01 is listed twice",
        ),
        (  # as YAML writes it (it said Infinity, and "tanh" in quotes)
            "training.seed: [0, 1]",
            "training.optimizer.lr: [.inf, .inf]",
            ":11: sweep.grid.training.optimizer.lr: .inf is listed twice (entries 1 and 2)",
        ),
        (  # it said "sweep.grid.training: input should be a valid list, got {'seed': …}"
            "training.seed: [0, 1]",
            "training: {seed: [0, 1]}",
            ":7: sweep.grid: a grid's keys are dotted names, as in grid: {training.seed: […]}, "
            "not a section training: under it",
        ),
    ],
)
def test_a_bad_grid_entry_is_reported_at_its_own_line(write, tmp_path, old, new, expect):
    assert old in GRID
    p = write(GRID.replace(old, new))
    r = invoke("validate", p)
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines()[0].startswith(f"{p}{expect}"), r.stderr
    r = invoke("sweep", p, "--out", tmp_path / "res")
    assert r.exit_code == 2 and expect in r.stderr and "--set" not in r.stderr
    assert not (tmp_path / "res").exists()


def test_an_override_of_a_sweep_names_the_override(write, tmp_path):
    r = invoke("sweep", write(GRID), "--out", tmp_path / "res", "--set", "training.epochs=-1")
    assert r.exit_code == 2
    assert "error: --set training.epochs: input should be greater than or equal to 0" in r.stderr
    r = invoke("sweep", write(GRID), "--out", tmp_path / "res", "--widths", "2,2")
    assert r.exit_code == 2 and "--widths 2,2: width 2 is given twice" in r.stderr


def test_report_csv_leaves_a_missing_or_null_value_empty():
    # "—" in a CSV made pandas read a numeric column as strings
    from nnfit.sweep import catalog

    rows = [
        {"config": {"training.clip_norm": None, "training.l2": 0.1}},
        {"config": {"training.clip_norm": 1.0}},
    ]
    lines = catalog.to_csv(rows, ["training.clip_norm", "training.l2"]).splitlines()
    n = len(catalog.COLUMNS)
    assert [line.split(",")[n:] for line in lines[1:]] == [["", "0.1"], ["1", ""]]
    # a float in full: mu_dec 1/3 read 0.333333
    rows = [{"config": {"training.optimizer.mu_dec": 1 / 3}}]
    line = catalog.to_csv(rows, ["training.optimizer.mu_dec"]).splitlines()[1]
    assert float(line.split(",")[n]) == 1 / 3


def test_report_shows_first_the_keys_whose_values_tell_runs_apart():
    # rho = 0.9 of the rmsprop runs (a constant the optimizer column already says) was
    # shown where seed, which differs between every run, was left out
    from nnfit.sweep import catalog

    def cfg(opt, seed, **extra):
        return {"training.optimizer.name": opt, "training.seed": seed, **extra}

    configs = [
        cfg("adam", 0, **{"training.optimizer.beta1": 0.9}),
        cfg("rmsprop", 1, **{"training.optimizer.rho": 0.9}),
        cfg("adam", 2, **{"training.optimizer.beta1": 0.8}),
    ]
    assert catalog.differing(configs) == [
        "training.optimizer.name",
        "training.seed",
        "training.optimizer.beta1",
        "training.optimizer.rho",
    ]
    # runs of different experiments: the optimizer's own settings (mu_dec of lm) and the
    # data came before the target they were fitted to
    configs = [
        {"data.n_train": 256, "training.optimizer.mu_dec": 3.0, "target.name": "runge"},
        {"data.n_train": 128, "training.epochs": 0, "target.name": "sine"},
        {"data.n_train": 512, "training.epochs": 50, "target.expr": "x**2", "model.bias": 0.1},
    ]
    assert catalog.differing(configs) == [
        "target.name",
        "training.epochs",
        "data.n_train",
        "target.expr",
        "model.bias",
        "training.optimizer.mu_dec",
    ]


@pytest.mark.parametrize(
    ("grid", "key"),
    [
        ("{sweep.grid: [{model.hidden: [[1], [2]]}]}", "sweep.grid"),
        ("{sweep: [{grid: {training.seed: [0, 1]}}]}", "sweep"),
        ("{name: [a, b]}", "name"),
    ],
)
def test_a_grid_key_a_run_cannot_vary_is_refused(write, tmp_path, grid, key):
    # a grid inside the grid ran one point at the default width, unsaid; a grid of names
    # trained the same run twice under two hashes
    p = write(f"name: g\ntarget: {{name: sine}}\ntraining: {{epochs: 2}}\nsweep:\n  grid: {grid}\n")
    for cmd in ("validate", "sweep"):
        r = invoke(cmd, p, "--out", tmp_path / "r") if cmd == "sweep" else invoke(cmd, p)
        assert r.exit_code == 2, r.output
        assert f":5: sweep.grid: {key} cannot vary from point to point: " in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("outer", "inner"),
    [("training", "training.epochs"), ("model", "model.hidden")],
)
def test_a_grid_key_inside_another_is_refused(write, tmp_path, outer, inner):
    # the inner key's values overwrote the outer's (3 epochs never ran) and the summary
    # showed the outer value changed
    values = {"training": "[{epochs: 3, batch_size: 4}]", "model": "[{hidden: [2]}]"}[outer]
    inner_values = {"training.epochs": "[1, 2]", "model.hidden": "[[1], [3]]"}[inner]
    p = write(
        "name: ov\ntarget: {name: sine}\ntraining: {epochs: 2}\n"
        f"sweep:\n  grid:\n    {outer}: {values}\n    {inner}: {inner_values}\n"
    )
    r = invoke("sweep", p, "--out", tmp_path / "r")
    assert r.exit_code == 2
    assert f":7: sweep.grid: {inner} lies inside {outer}, also a grid key" in r.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("training.epochs=5", "--set training.epochs: the sweep grid also sets it (/"),
        ("training={epochs: 1}", "--set training: the sweep grid sets training.epochs too"),
        ("training.optimizer=lm", "the sweep grid sets training.optimizer.name too"),
    ],
)
def test_a_set_key_the_grid_also_sets_is_refused(tmp_path, given, said):
    # every grid point replaced the --set value, so it was dropped unseen
    p = tmp_path / "t.yaml"
    p.write_text(
        "name: ov\ntarget: {name: sine}\nmodel: {hidden: [2]}\ntraining: {epochs: 2}\n"
        "sweep:\n  grid:\n    training.epochs: [1, 2]\n    training.optimizer: [sgd, adam]\n"
    )
    r = invoke("sweep", p, "--set", given, "--out", tmp_path / "r")
    assert r.exit_code == 2 and said in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("grid", "given", "said"),
    [
        ('target.expr: ["x0+x1"]', "target.name=franke", "sets target.expr too"),
        ("target: [{expr: x0}]", "target.name=franke", "sets target.expr too"),
        ("target.name: [franke, sine]", "target={expr: x0}", "sets target.name too"),
        ('target.expr: ["x0"]', "target={name: franke}", "sets target.expr too"),
        ("target.name: [franke, sine]", "target.expr=x0", "sets target.name too"),
    ],
)
def test_a_set_target_beside_a_grid_of_targets_is_refused(tmp_path, grid, given, said):
    # a formula and a name both say which target: franke ran under the label x0+x1, or
    # the --set vanished, or "franke" and "sine" were said to give the same run
    p = tmp_path / "t.yaml"
    p.write_text(
        'target: {expr: "x0*x1", dim: 2}\nmodel: {hidden: [2]}\ntraining: {epochs: 2}\n'
        f"sweep:\n  grid:\n    {grid}\n"
    )
    r = invoke("sweep", p, "--set", given, "--out", tmp_path / "r")
    assert r.exit_code == 2 and said in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert not (tmp_path / "r").exists()


def test_a_grid_over_a_targets_name_and_its_formula_is_refused(tmp_path):
    # franke was dropped without a word: the point labelled name=franke, expr=x0 trained x0
    p = tmp_path / "t.yaml"
    p.write_text(
        'target: {expr: "x0+x1", dim: 2}\nmodel: {hidden: [2]}\ntraining: {epochs: 2}\n'
        "sweep:\n  grid:\n    target.name: [franke]\n    target.expr: [x0]\n"
    )
    r = invoke("sweep", p, "--out", tmp_path / "r")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    assert "t.yaml:7: sweep.grid: target.expr and target.name (" in r.stderr
    assert "both say which target it is; give one of them" in r.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("lr", ["training.optimizer.lr=0.3", "training.optimizer={lr: 0.3}"])
def test_a_set_key_inside_a_grid_key_stays_on_every_point(tmp_path, lr):
    # sgd, another choice than the file's adam, replaced the section and its lr (given
    # as a section, lr reached only the adam points)
    p = tmp_path / "t.yaml"
    p.write_text(
        "target: {name: sine}\nmodel: {hidden: [2]}\ntraining: {epochs: 2}\n"
        "sweep:\n  grid:\n    training.optimizer: [sgd, adam]\n"
    )
    _folder, _grid, points = sweep.expand(p, [lr], out_root=tmp_path)
    got = [(q.exp.training.optimizer.name, q.exp.training.optimizer.lr) for q in points]
    assert got == [("sgd", 0.3), ("adam", 0.3)]
    # and a section around a grid key merges beneath it
    _folder, _grid, points = sweep.expand(p, ["training={seed: 4}"], out_root=tmp_path)
    assert [q.exp.training.seed for q in points] == [4, 4]


def test_a_set_key_only_the_grid_choices_take_is_not_checked_on_the_file_choice(tmp_path):
    # the file's adam has no momentum: the sweep was refused before any grid point
    p = tmp_path / "t.yaml"
    p.write_text(
        "target: {name: sine}\nmodel: {hidden: [2]}\ntraining: {epochs: 2, optimizer: adam}\n"
        "sweep:\n  grid:\n    training.optimizer: [momentum, nesterov]\n"
    )
    _folder, _grid, points = sweep.expand(p, ["training.optimizer.momentum=0.5"], out_root=tmp_path)
    got = [(q.exp.training.optimizer.name, q.exp.training.optimizer.momentum) for q in points]
    assert got == [("momentum", 0.5), ("nesterov", 0.5)]
    # a bad value outside the grid's keys is still the file's error
    with pytest.raises(sweep.config.ConfigError, match=r"--set training\.epochs"):
        sweep.expand(
            p, ["training.optimizer.momentum=0.5", "training.epochs=-1"], out_root=tmp_path
        )
    # and one no grid point takes is refused on the first point that does not
    with pytest.raises(sweep.config.ConfigError, match="beta1"):
        sweep.expand(p, ["training.optimizer.beta1=0.5"], out_root=tmp_path)


def test_a_grid_the_set_gives_and_the_widths_flag_replaces_is_refused(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("target: {name: sine}\ntraining: {epochs: 2}\n")
    grid = "sweep.grid={model.hidden: [[1]], training.seed: [7]}"
    r = invoke("sweep", p, "--set", grid, "--widths", "2,3")
    assert r.exit_code == 2
    assert "--set sweep.grid: sets sweep.grid.model.hidden, and --widths 2,3 replaces" in r.stderr


def test_a_set_width_beside_the_widths_flag_is_refused(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("target: {name: sine}\ntraining: {epochs: 2}\n")
    r = invoke("sweep", p, "--set", "model.hidden=[3]", "--widths", "1,2")
    assert r.exit_code == 2
    assert "--set model.hidden: the sweep grid also sets it (--widths 1,2)" in r.stderr


def test_a_grid_section_keeps_the_file_keys_it_does_not_give(write, tmp_path):
    # training: [{epochs: 1}] replaced the whole section: the file's optimizer was lost
    p = write(
        "name: ov\ntarget: {name: sine}\nmodel: {hidden: [2]}\n"
        "training: {epochs: 2, optimizer: {name: sgd, lr: 0.2}}\n"
        "sweep:\n  grid:\n    training: [{epochs: 1}, {epochs: 3, optimizer: {lr: 0.1}}]\n"
    )
    _folder, _grid, points = sweep.expand(p, out_root=tmp_path)
    got = [(q.exp.training.epochs, q.exp.training.optimizer.name) for q in points]
    assert got == [(1, "sgd"), (3, "sgd")]
    assert [q.exp.training.optimizer.lr for q in points] == [0.2, 0.1]


def test_a_wider_sweep_reuses_the_runs_of_an_earlier_one(write, tmp_path, no_run_figures):
    # widths 2,4 and then 2,4,8 are two sweep folders: all six runs were trained again
    p = write(SWEEP)
    one = ("--jobs", "1", "-q")
    assert invoke("sweep", p, "--out", tmp_path, "--widths", "2,4", *one).exit_code == 0
    r = invoke("sweep", p, "--out", tmp_path, "--widths", "2,4,8", *one)
    assert r.exit_code == 0, r.output
    first, second = sorted((tmp_path / "sw").glob("sweep-*"), key=lambda f: len(list(f.iterdir())))
    s = json.loads((second / "summary.json").read_text())
    assert s["n_reused"] == 4 and s["n_ok"] == 6
    for run in first.glob("w*"):
        assert (second / run.name / "metrics.json").read_bytes() == (
            run / "metrics.json"
        ).read_bytes()
        assert results.check_run(second / run.name) is None


def test_a_damaged_run_of_another_sweep_is_not_copied(write, tmp_path, no_run_figures):
    p = write(SWEEP)
    invoke("sweep", p, "--out", tmp_path, "--widths", "2", "--jobs", "1", "-q")
    [first] = (tmp_path / "sw").glob("sweep-*")
    for run in first.glob("w*"):
        (run / "history.csv").write_text("changed")
    invoke("sweep", p, "--out", tmp_path, "--widths", "2,4", "--jobs", "1", "-q")
    [s] = [f for f in (tmp_path / "sw").glob("sweep-*/summary.json") if f.parent != first]
    assert json.loads(s.read_text())["n_reused"] == 0


def test_a_run_whose_metrics_claim_another_config_is_not_copied(write, tmp_path, no_run_figures):
    # a metrics.json's config_hash (not under a checksum) edited to another point's was
    # enough for that point to take the run as its own
    p = write(SWEEP)
    one = ("--jobs", "1", "-q")
    invoke("sweep", p, "--out", tmp_path, "--widths", "2", "--seeds", "1", *one)
    [run] = (tmp_path / "sw").glob("sweep-*/w*")
    _f, _g, [point] = sweep.expand(p, ["training.epochs=3"], [2], "1", out_root=tmp_path)
    m = json.loads((run / "metrics.json").read_text())
    m["config_hash"] = point.exp.config_hash()
    (run / "metrics.json").write_text(json.dumps(m))
    run.rename(run.parent / point.run_dir.name)
    again = ("--widths", "2", "--seeds", "1", "--set", "training.epochs=3")
    r = invoke("sweep", p, "--out", tmp_path, *again, *one)
    assert r.exit_code == 0, r.output
    s = json.loads((point.run_dir.parent / "summary.json").read_text())
    assert s["n_reused"] == 0 and s["n_ok"] == 1


def test_a_run_is_copied_from_another_sweep_by_its_recorded_files_only(
    write, tmp_path, no_run_figures
):
    # the whole folder was copied, links followed: a link to / copied the machine
    p = write(SWEEP)
    one = ("--jobs", "1", "-q", "--seeds", "1")
    invoke("sweep", p, "--out", tmp_path, "--widths", "2", *one)
    [run] = (tmp_path / "sw").glob("sweep-*/w*")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "big.bin").write_bytes(b"x" * 1000)
    (run / "far").symlink_to(tmp_path / "mine")
    (run / "notes.txt").write_text("mine")
    r = invoke("sweep", p, "--out", tmp_path, "--widths", "2,4", *one)
    assert r.exit_code == 0, r.output
    [copy] = [f for f in (tmp_path / "sw").glob("sweep-*/w2*") if f != run]
    assert json.loads((copy.parent / "summary.json").read_text())["n_reused"] == 1
    recorded = json.loads((run / "metrics.json").read_text())["files"]
    assert sorted(f.name for f in copy.iterdir()) == sorted(["metrics.json", *recorded])


def test_a_run_without_checksums_is_not_copied_from_another_sweep(write, tmp_path, no_run_figures):
    # with no "files" in metrics.json every file was trusted: another width's model.npz
    # in its place was copied and predicted from
    p = write(SWEEP)
    one = ("--jobs", "1", "-q", "--seeds", "1")
    invoke("sweep", p, "--out", tmp_path, "--widths", "2", *one)
    [run] = (tmp_path / "sw").glob("sweep-*/w*")
    m = json.loads((run / "metrics.json").read_text())
    del m["files"]
    (run / "metrics.json").write_text(json.dumps(m))
    invoke("sweep", p, "--out", tmp_path, "--widths", "2,4", *one)
    [s] = [f for f in (tmp_path / "sw").glob("sweep-*/summary.json") if f.parent != run.parent]
    assert json.loads(s.read_text())["n_reused"] == 0


def test_set_values_the_file_goes_without_still_name_their_own_sweep(tmp_path):
    # the file's adam takes no momentum: the sweep was named from the file without it, and
    # momentum 0.5 and 0.7 wrote into one folder, each over the other's summary
    p = tmp_path / "t.yaml"
    p.write_text(
        "target: {name: sine}\nmodel: {hidden: [2]}\ntraining: {epochs: 2, optimizer: adam}\n"
        "sweep:\n  grid:\n    training.optimizer: [momentum, nesterov]\n"
    )
    folders = {
        sweep.expand(p, [f"training.optimizer.momentum={m}"], out_root=tmp_path)[0]
        for m in (0.5, 0.7)
    }
    assert len(folders | {sweep.expand(p, out_root=tmp_path)[0]}) == 3
    # an error beside them is the file's own, in one line, not theirs too
    with pytest.raises(sweep.config.ConfigError) as info:
        sweep.expand(p, ["training.optimizer.momentum=0.5", "training.epochs=-1"])
    assert str(info.value).count("\n") == 0 and "--set training.epochs" in str(info.value)
    # and an error in a grid point's --set value names the --set, not the grid's line
    with pytest.raises(sweep.config.ConfigError, match=r"^--set training\.optimizer\.lr"):
        sweep.expand(p, ["training.optimizer.lr=-1"], out_root=tmp_path)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (
            ["sweep.grid={training.optimizer: []}"],
            "--set sweep.grid: sweep.grid.training.optimizer",
        ),
        (
            ["sweep.grid={model.hidden: [[2], [4]]}", "model.hidden=[3]"],
            "the sweep grid also sets it (--set sweep.grid)",
        ),
        (["sweep={grid: {training.epochs: [1, 1]}}"], "--set sweep: sweep.grid.training.epochs"),
    ],
)
def test_a_grid_entry_given_by_set_is_named_by_its_set(tmp_path, given, said):
    # the error named the file's grid line, which held other values
    p = tmp_path / "t.yaml"
    p.write_text(
        "target: {name: sine}\nmodel: {hidden: [2]}\ntraining: {epochs: 2}\n"
        "sweep:\n  grid:\n    training.optimizer: [sgd, adam]\n"
    )
    with pytest.raises(sweep.config.ConfigError) as info:
        sweep.expand(p, given, out_root=tmp_path)
    assert said in str(info.value)


def _grid_file(
    tmp_path, grid: str, training: str = "{epochs: 2, optimizer: {name: adam, lr: 0.01}}"
):
    p = tmp_path / "t.yaml"
    p.write_text(
        f"target: {{name: sine}}\nmodel: {{hidden: [2]}}\ntraining: {training}\n"
        f"sweep:\n  grid:\n{grid}"
    )
    return p


def test_a_grid_over_a_choice_name_keeps_the_set_keys_beside_it_and_applies_names_first(tmp_path):
    # the name's value cleared a --set lr beside it (both runs at the file's 0.01), and a
    # grid listing lr before the name lost its lr values ("0.2 and 0.4 give the same run")
    p = _grid_file(tmp_path, "    training.optimizer.name: [sgd, momentum]\n")
    _f, _g, points = sweep.expand(p, ["training.optimizer.lr=0.5"], out_root=tmp_path)
    assert [(q.exp.training.optimizer.name, q.exp.training.optimizer.lr) for q in points] == [
        ("sgd", 0.5),
        ("momentum", 0.5),
    ]
    p = _grid_file(
        tmp_path,
        "    training.optimizer.lr: [0.2, 0.4]\n    training.optimizer.name: [sgd, momentum]\n",
    )
    _f, _g, points = sweep.expand(p, out_root=tmp_path)
    got = {(q.exp.training.optimizer.name, q.exp.training.optimizer.lr) for q in points}
    assert got == {("sgd", 0.2), ("sgd", 0.4), ("momentum", 0.2), ("momentum", 0.4)}


def test_an_error_from_a_set_key_at_a_grid_point_names_the_set(tmp_path):
    # it named the file's training: line, which sets no batch_size
    p = _grid_file(tmp_path, "    training.optimizer: [momentum, lbfgs]\n")
    with pytest.raises(sweep.config.ConfigError, match=r"^--set training\.batch_size: not used"):
        sweep.expand(p, ["training.batch_size=8"], out_root=tmp_path)


def test_dask_without_its_extra_is_refused_before_the_sweep_starts(write, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "distributed" else real(name, *a),
    )
    p = write(SWEEP)
    r = invoke("sweep", p, "--out", tmp_path / "res", "--dask", "local")
    assert r.exit_code == 2
    assert r.output.strip() == "error: --dask needs the optional extra: pip install 'nnfit[dask]'"
    assert not (tmp_path / "res").exists()


def test_one_seed_has_no_spread_rather_than_a_spread_of_zero():
    from nnfit.sweep.summary import _stats

    one, two = _stats([3e-4]), _stats([1e-4, 3e-4])
    assert one["std"] is None and one["n"] == 1 and one["mean"] == one["min"] == 3e-4
    assert two["std"] == pytest.approx(np.std([1e-4, 3e-4], ddof=1), rel=1e-12)


def test_a_sweep_runs_config_yaml_trains_again_to_the_same_weights_with_figures(write, tmp_path):
    """What --no-figures's help and REPORT.md promise: a run of a sweep (seeds trained as
    one stack) written without figures gets them from `nnfit run` on its config.yaml,
    which trains it again to the same weights and metrics, in a folder of the same name."""
    p = write(SWEEP)
    args = ("--out", tmp_path / "sw", "--jobs", "1", "--quiet", "--no-figures")
    assert invoke("sweep", p, *args).exit_code == 0
    run = next(r for r in results.find_runs(tmp_path / "sw") if "-s1-" in r.name)
    assert not list(run.glob("*.png"))
    r = invoke("run", run / "config.yaml", "--out", tmp_path / "again", "--quiet")
    assert r.exit_code == 0, r.output
    [again] = results.find_runs(tmp_path / "again")
    assert again.name == run.name and (again / "fit.png").exists()
    with np.load(run / "model.npz") as a, np.load(again / "model.npz") as b:
        assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)
    assert results.read_metrics(again)["test"] == results.read_metrics(run)["test"]


def test_report_lists_runs_by_width_as_numbers(write, tmp_path, no_run_figures):
    p = write(SWEEP.replace("[[2], [4]]", "[[16], [2], [4]]").replace("[0, 1]", "[0]"))
    assert invoke("sweep", p, "--out", tmp_path / "res", "--jobs", "1", "--quiet").exit_code == 0
    r = invoke("report", tmp_path / "res", "--json")
    assert r.exit_code == 0, r.output
    runs = [row["path"].split("/")[-1] for row in json.loads(r.stdout) if row["kind"] == "run"]
    assert [name.split("-")[0] for name in runs] == ["w2", "w4", "w16"], runs


@pytest.mark.parametrize(
    ("grid", "sets", "said"),
    [
        ("", ["--set", "target.expr=10**400*x"], "--set target.expr: target is not finite"),
        (
            '    target.expr: [x, "10**400*x"]\n',
            [],
            "target.expr=10**400*x: target.expr: target is not finite",
        ),
    ],
)
def test_a_sweep_refuses_a_target_its_points_cannot_evaluate_before_it_starts(
    write, tmp_path, grid, sets, said
):
    # as run and validate do (exit 2); the sweep ran every point as failed (exit 3) and
    # left their folders behind
    text = SWEEP.replace("target: {name: sine}", "target: {expr: x}")
    p = write(text.replace("    training.seed: [0, 1]\n", grid or "    training.seed: [0, 1]\n"))
    r = invoke("sweep", p, *sets, "--out", tmp_path / "res", "--jobs", "1")
    assert r.exit_code == 2 and said in r.stderr and len(r.stderr.splitlines()) == 1, r.output
    assert not (tmp_path / "res").exists()
    v = invoke("validate", p, *sets)
    assert v.exit_code == 2 and said in v.stderr


def test_a_sweep_checks_points_that_differ_only_in_data_seed_once(write, tmp_path, monkeypatch):
    # a grid of 10,000 data seeds took 86 s before its first run: every seed's points
    # were drawn and the target evaluated on them, before any run drew them again
    from nnfit.experiment import data
    from nnfit.sweep import grid as sw

    built = []
    real = data.build
    monkeypatch.setattr(data, "build", lambda e: built.append(e.data.seed) or real(e))

    class Started(Exception):
        pass

    def stop(*a, **k):
        raise Started

    monkeypatch.setattr(sw, "check_resources", stop)
    text = SWEEP.replace("target: {name: sine}", "target: {expr: x}")
    p = write(text.replace("    training.seed: [0, 1]\n", "    data.seed: [0, 1, 2, 3, 4, 5]\n"))
    r = invoke("sweep", p, "--out", tmp_path / "res", "--jobs", "1")
    assert isinstance(r.exception, Started), r.output
    assert len(built) == 1, built  # 12 points, one data set up to its seed
    v = invoke("validate", p)
    assert v.exit_code == 0 and len(built) == 1 + 6, built  # validate checks each seed


def _one_sweep(p, out):
    """A function that sweeps ``p`` into ``out`` (one job, quiet) and checks it ran."""

    def sweep():
        r = invoke("sweep", p, "--out", out, "--jobs", "1", "--quiet")
        assert r.exit_code == 0, r.output
        return r

    return sweep


def _sweep_statuses(out) -> list[str]:
    """The status of each sweep row that report --json gives for ``out``."""
    rows = json.loads(invoke("report", out, "--json").stdout)
    return [r["status"] for r in rows if r["kind"] == "sweep"]


def test_a_sweep_keeps_an_edited_summary_aside_and_report_sees_an_edited_count(
    write, tmp_path, no_run_figures
):
    # a rerun wrote over a user's notes in summary.csv, and report printed "999 ok" from
    # a summary.json edited by hand beside a folder of two runs
    from nnfit.experiment.runfiles import own_digest

    p = write(SWEEP.replace("[[2], [4]]", "[[2]]"))
    out = tmp_path / "res"
    sweep = _one_sweep(p, out)

    sweep()
    (folder,) = (out / "sw").iterdir()
    s = json.loads((folder / "summary.json").read_text())
    assert s["sha256"] == own_digest(s)
    csv = (folder / "summary.csv").read_bytes()
    assert s["files"]["summary.csv"]["bytes"] == len(csv)
    again = sweep()  # as written: nothing kept
    assert not list(folder.glob("*.kept-*")) and "kept" not in again.stderr
    (folder / "summary.csv").write_bytes(csv + b"# my notes\n")
    r = sweep()
    assert "summary.csv: changed since the sweep wrote it (checksum differs); kept as " in r.stderr
    assert (folder / "summary.csv.kept-1").read_bytes() == csv + b"# my notes\n"
    assert (folder / "summary.csv").read_bytes() == csv
    s["n_ok"] = 999
    (folder / "summary.json").write_text(json.dumps(s))
    assert _sweep_statuses(out) == ["damaged"]
    r = invoke("report", out)
    assert "summary.json: changed since the sweep wrote it" in r.stderr and "999" not in r.stdout
    (folder / "summary.json").write_text('{"mine": 1}')
    assert _sweep_statuses(out) == ["unreadable"]
    sweep()
    assert (folder / "summary.json.kept-1").read_text() == '{"mine": 1}'
    assert _sweep_statuses(out) == ["2 ok, 0 failed"]


def test_a_summary_csv_no_summary_json_vouches_for_is_kept_and_a_stripped_checksum_shows(
    write, tmp_path, no_run_figures
):
    # with summary.json deleted (or unreadable) a rerun wrote over the notes in
    # summary.csv unsaid; with its sha256 deleted an edited count passed as the sweep's,
    # and report called a sweep with an edited summary.csv fine
    p = write(SWEEP.replace("[[2], [4]]", "[[2]]"))
    out = tmp_path / "res"
    sweep, status = _one_sweep(p, out), lambda: _sweep_statuses(out)

    sweep()
    (folder,) = (out / "sw").iterdir()
    with (folder / "summary.csv").open("a") as fh:
        fh.write("# my notes\n")
    assert status() == ["damaged"]
    (folder / "summary.json").unlink()
    r = sweep()
    assert (
        "summary.csv: no readable summary.json records it; kept as summary.csv.kept-1" in r.stderr
    )
    assert (folder / "summary.csv.kept-1").read_text().endswith("# my notes\n")
    assert status() == ["2 ok, 0 failed"]
    s = json.loads((folder / "summary.json").read_text())
    del s["sha256"]
    s["n_ok"] = 1
    (folder / "summary.json").write_text(json.dumps(s))
    assert status() == ["damaged"]
    r = invoke("report", out)
    assert "summary.json: changed since the sweep wrote it (a checksum is gone)" in r.stderr


def test_a_sweep_figure_edited_by_hand_is_kept_aside_not_drawn_over(
    write, tmp_path, no_run_figures
):
    # summary.json recorded summary.csv only: a user's annotated error_vs_width.png (or
    # a folder put at its name) was replaced on the next sweep without a word
    p = write(SWEEP)
    out = tmp_path / "res"
    sweep = _one_sweep(p, out)
    sweep()
    (folder,) = (out / "sw").iterdir()
    fig = folder / "error_vs_width.png"
    rec = json.loads((folder / "summary.json").read_text())["files"]["error_vs_width.png"]
    assert rec["bytes"] == fig.stat().st_size > 1000
    r = sweep()  # as written: drawn anew, not a word
    assert "kept" not in r.stderr and not (folder / "error_vs_width.png.kept-1").exists()
    fig.write_bytes(b"my annotated plot")
    r = sweep()
    assert (
        f"{fig}: changed since the sweep wrote it (checksum differs); kept as "
        "error_vs_width.png.kept-1, and written anew" in r.stderr
    )
    assert (folder / "error_vs_width.png.kept-1").read_bytes() == b"my annotated plot"
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig.unlink()
    fig.mkdir()
    (fig / "note.txt").write_text("mine")
    r = sweep()  # a folder at its name: kept too, and the figure drawn
    assert (folder / "error_vs_width.png.kept-2" / "note.txt").read_text() == "mine"
    assert fig.is_file() and "sweep figure not written" not in r.stderr
    # a link to a copy of the same bytes is the user's too (it was replaced unsaid)
    copy = tmp_path / "paper.png"
    copy.write_bytes(fig.read_bytes())
    fig.unlink()
    fig.symlink_to(copy)
    r = sweep()
    assert f"{fig}: changed since the sweep wrote it (a link or folder in its place)" in r.stderr
    assert os.readlink(folder / "error_vs_width.png.kept-3") == str(copy)
    assert fig.is_file() and not fig.is_symlink()
    # a summary.json that no longer vouches for it: its figure is kept as well
    (folder / "summary.json").write_text(json.dumps({"mine": 1}))
    r = sweep()
    assert "error_vs_width.png: not recorded by a summary.json as the sweep wrote it" in r.stderr
    assert (folder / "error_vs_width.png.kept-4").read_bytes()[:4] == b"\x89PNG"
    # a link in summary.json's place is said as for the figure (it read "not valid JSON")
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not json")
    (folder / "summary.json").unlink()
    (folder / "summary.json").symlink_to(elsewhere)
    r = sweep()
    assert "summary.json: changed since the sweep wrote it (a link or folder in its place)" in (
        r.stderr
    )
    assert "not valid JSON" not in r.stderr and elsewhere.read_text() == "not json"


def test_a_missing_summary_csv_shows_and_an_edited_summary_json_vouches_for_nothing(
    write, tmp_path, no_run_figures
):
    # report called a sweep fine whose summary.csv, recorded in summary.json, was gone;
    # and a summary.json edited by hand still vouched for summary.csv on a rerun
    p = write(SWEEP.replace("[[2], [4]]", "[[2]]"))
    out = tmp_path / "res"
    sweep, status = _one_sweep(p, out), lambda: _sweep_statuses(out)

    sweep()
    (folder,) = (out / "sw").iterdir()
    csv = (folder / "summary.csv").read_bytes()
    (folder / "summary.csv").unlink()
    assert status() == ["damaged"]
    assert f"{folder}/summary.csv: missing" in invoke("report", out).stderr
    r = sweep()  # nothing to keep aside: written anew, not a word of keeping
    assert "kept" not in r.stderr and (folder / "summary.csv").read_bytes() == csv
    s = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps({**s, "n_ok": 7}))
    r = sweep()
    assert "summary.csv: the summary.json that records it changed; kept as " in r.stderr
    assert (folder / "summary.csv.kept-1").read_bytes() == csv
    assert status() == ["2 ok, 0 failed"]


def test_a_grid_label_keeps_the_section_of_a_name():
    # a grid over optimizers and targets read 'name=adam, name=runge'
    from nnfit.sweep.summary import pretty

    label = 'training.optimizer.name="adam", target.name="runge", model.activation.name="elu"'
    assert pretty(label) == "optimizer=adam, target=runge, activation=elu"
    assert pretty("training.l2=0.001, model.hidden=[4]") == "l2=0.001, hidden=[4]"


def test_a_summary_that_cannot_be_written_says_where_the_edited_one_was_kept(
    write, tmp_path, monkeypatch
):
    # with the disk full, the error named summary.csv only: the user's notes, moved
    # aside as summary.csv.kept-1, looked lost
    from nnfit.experiment import rundir

    p = write(SWEEP.replace("[[2], [4]]", "[[2]]"))
    out = tmp_path / "res"
    _one_sweep(p, out)()
    (folder,) = (out / "sw").iterdir()
    (folder / "summary.csv").write_bytes((folder / "summary.csv").read_bytes() + b"# notes\n")

    def full(path, data, *a, **k):
        raise rundir.ResultsError(f"cannot write {path}: No space left on device")

    monkeypatch.setattr(rundir, "atomic_write", full)
    r = invoke("sweep", p, "--out", out, "--jobs", "1", "--quiet")
    assert r.exit_code == 2, r.output
    line = r.stderr.strip().splitlines()[-1]
    assert "No space left on device" in line
    assert line.endswith("; the edited summary.csv is kept as summary.csv.kept-1")
    assert (folder / "summary.csv.kept-1").read_bytes().endswith(b"# notes\n")


@pytest.mark.parametrize("interrupted", [True, False])
def test_a_sweep_figure_lost_to_an_interrupt_says_so(tmp_path, monkeypatch, interrupted):
    # a Ctrl-C during a run's import of matplotlib left it half loaded, and the sweep
    # said only "AttributeError: module 'matplotlib' has no attribute 'get_data_path'"
    from nnfit.sweep import plots

    def render(summary):
        raise AttributeError("module 'matplotlib' has no attribute 'get_data_path'")

    monkeypatch.setattr(plots, "render", render)
    summary = {"interrupted": interrupted, "warnings": []}
    assert sweep._render(tmp_path, summary) == {}
    [said] = summary["warnings"]
    assert said.startswith("sweep figure not written: ")
    assert ("the interrupt came while matplotlib loaded" in said) == interrupted
    assert "get_data_path" in said


def test_workers_start_with_ctrl_c_ignored_and_the_drivers_own_is_held(tmp_path):
    # a terminal's Ctrl-C reaches every worker too: one still starting Python printed
    # "Fatal Python error: init_import_site" and a KeyboardInterrupt traceback. In a
    # process of its own: a thread of the test runner's that does not block SIGINT could
    # take the signal held for the driver (and drop it, as it is ignored meanwhile)
    import subprocess
    import sys

    probe = tmp_path / "probe.py"
    probe.write_text(
        """
import multiprocessing as mp, os, signal
from concurrent.futures import ProcessPoolExecutor
from nnfit.sweep import workers

def disposition():
    import signal
    return signal.getsignal(signal.SIGINT).name

if __name__ == "__main__":
    got = []
    signal.signal(signal.SIGINT, lambda *a: got.append("driver"))
    pool = ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"))
    with workers._workers_ignore_ctrl_c():
        future = pool.submit(disposition)
        os.kill(os.getpid(), signal.SIGINT)  # held while the worker starts
        print("during", got)
    print("after", got, future.result(timeout=60))
    pool.shutdown()
"""
    )
    p = subprocess.run(
        [sys.executable, str(probe)], capture_output=True, text=True, timeout=120, check=False
    )
    assert p.returncode == 0, p.stderr
    during, after = p.stdout.splitlines()
    assert during == "during []"  # held while the worker starts
    assert after.endswith(" SIG_IGN")  # the worker ignores Ctrl-C
    # the driver's own held signal: taken by its handler after the block in most tries,
    # but lost in 9 to 11 of 30 on a 2-core Xeon (2026-12-08): a thread that the pool
    # starts takes it while it is ignored (see _workers_ignore_ctrl_c); an open defect
    assert after in ("after ['driver'] SIG_IGN", "after [] SIG_IGN")


def test_matplotlib_is_loaded_before_the_runs_start(tmp_path):
    # it was first loaded for the sweep's figure, after a Ctrl-C: a third one landing in
    # a C extension's first import crashed the process as it exited (exit -6)
    import subprocess
    import sys

    probe = f"""
import sys
from nnfit.sweep import grid, workers
real = workers.plan
def plan(*args, **kwargs):
    print("matplotlib loaded:", "matplotlib.pyplot" in sys.modules or "matplotlib" in sys.modules)
    return real(*args, **kwargs)
workers.plan = plan
import nnfit
nnfit.sweep({{"target": {{"name": "sine"}}, "model": {{"hidden": [2]}},
             "training": {{"epochs": 2}}}}, widths=[2], out={str(tmp_path)!r})
"""
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr
    assert "matplotlib loaded: True" in p.stdout
