"""Run folders: atomic files, CSV history, reading back."""

import json
import math

import numpy as np
import pytest

from nnfit.experiment import rundir as results


def trained(write, tmp_path):
    """A finished record of the tiny run, and where its run folder goes (not yet written)."""
    from conftest import TINY

    from nnfit.experiment import config
    from nnfit.experiment import runner as experiment

    exp = config.load(write(TINY))
    return experiment.execute(exp, plots=False), tmp_path / "res" / exp.name / exp.run_id()


def test_atomic_write_replaces_whole_files_and_leaves_no_temp(tmp_path):
    p = tmp_path / "a" / "f.txt"
    results.atomic_write(p, b"one")
    results.atomic_write(p, b"two")
    assert p.read_bytes() == b"two"
    assert sorted(x.name for x in p.parent.iterdir()) == ["f.txt"]
    assert oct(p.stat().st_mode & 0o777) != oct(0o600)  # an ordinary file, not mkstemp's 0600


def test_json_has_no_nan(tmp_path):
    results.write_json(
        tmp_path / "m.json", {"a": math.nan, "b": [1.0, math.inf], "c": np.float64(2.5)}
    )
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": None, "b": [1.0, None], "c": 2.5}


def test_history_csv_round_trip():
    text = results.history_csv(
        {"epoch": [0, 1], "val_loss": [math.nan, 0.25], "grad_norm_0": [1e-300, 3.0]}
    ).decode()
    assert text.splitlines() == ["epoch,val_loss,grad_norm_0", "0,,1e-300", "1,0.25,3.0"]


def test_reading_missing_or_broken_folders(tmp_path):
    assert results.read_metrics(tmp_path) is None
    (tmp_path / "metrics.json").write_text("{not json")
    assert results.read_metrics(tmp_path) is None
    with pytest.raises(results.ResultsError, match=r"no model\.npz"):
        results.load_model(tmp_path)
    (tmp_path / "model.npz").write_bytes(b"garbage")
    with pytest.raises(results.ResultsError, match=r"model\.npz: not a readable model"):
        results.load_model(tmp_path)


def test_a_run_records_the_size_and_checksum_of_every_other_file(write, tmp_path):
    import hashlib

    from conftest import TINY

    from nnfit.experiment import config
    from nnfit.experiment import runner as experiment

    exp = config.load(write(TINY))
    run_dir = tmp_path / "res" / exp.name / exp.run_id()
    assert results.write_run(experiment.execute(exp, plots=False), run_dir)
    files = json.loads((run_dir / "metrics.json").read_text())["files"]
    assert set(files) == {"config.yaml", "history.csv", "model.npz", "data.npz"}
    for name, rec in files.items():
        payload = (run_dir / name).read_bytes()
        assert rec == {"bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    assert results.check_run(run_dir, exp.config_hash()) is None
    assert results.check_run(run_dir, "f" * 64) == f"{run_dir}/metrics.json: made by another config"
    hidden = run_dir.parent / f".{run_dir.name}.new-1-0"
    hidden.mkdir()
    (hidden / "metrics.json").write_text("{}")
    assert results.find_runs(tmp_path) == [run_dir]  # a folder being written is not a run


def test_finding_runs_passes_over_folders_that_vanish_while_walked(tmp_path, monkeypatch):
    """A sweep renames each finished run into place from a hidden folder: a reader walking
    the tree beside it must neither enter the hidden ones nor fail on a folder gone
    between listing and opening (the kill -9 test met both: FileNotFoundError)."""
    import os

    for rel in ("a", ".b.new-1-ff/x", "c", "d/e"):
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "metrics.json").write_text("{}")
    real = os.scandir

    def scandir(path="."):
        name = os.path.basename(os.fspath(path))
        if name.startswith(".") or name == "c":  # gone between its listing and its opening
            raise FileNotFoundError(path)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert results.find_runs(tmp_path) == [tmp_path / "a", tmp_path / "d" / "e"]


@pytest.mark.parametrize("exchange", [True, False])
def test_a_rerun_keeps_what_nnfit_did_not_write_in_the_run_folder(
    write, tmp_path, monkeypatch, exchange
):
    # a rerun replaced the whole folder: a user's notes and a folder of theirs were lost
    if not exchange:  # the rename-aside path of file systems without renameat2
        monkeypatch.setattr(results, "_exchange", lambda a, b: False)
    rec, run_dir = trained(write, tmp_path)
    rec.figures = {"fit.png": b"old figure"}
    results.write_run(rec, run_dir)
    (run_dir / "notes.txt").write_text("seed 0 looked odd")
    (run_dir / "mine").mkdir()
    (run_dir / "mine" / "a.csv").write_text("1,2\n")
    rec.figures = {}
    assert results.write_run(rec, run_dir)
    names = sorted(p.name for p in run_dir.iterdir())
    # fit.png was the earlier run's own file: not carried into a run that has none
    assert names == sorted(
        ["config.yaml", "history.csv", "model.npz", "data.npz", "metrics.json", "notes.txt", "mine"]
    )
    assert (run_dir / "notes.txt").read_text() == "seed 0 looked odd"
    assert (run_dir / "mine" / "a.csv").read_text() == "1,2\n"
    assert results.check_run(run_dir) is None
    assert sorted(p.name for p in run_dir.parent.iterdir()) == [run_dir.name]  # no leftovers
    assert rec.warnings == []


@pytest.mark.parametrize(
    "edit", ["note", "value", "garbage", "no checksum", "null checksum", "as written"]
)
def test_an_edited_metrics_json_is_kept_when_the_run_is_written_again(write, tmp_path, edit):
    # a note added to metrics.json (or a value changed) was dropped without a word when
    # the run trained again, and so was one whose checksum was taken out with the edit;
    # one as written is nnfit's and simply replaced
    rec, run_dir = trained(write, tmp_path)
    results.write_run(rec, run_dir)
    path = run_dir / "metrics.json"
    m = json.loads(path.read_text())
    unsealed = {k: v for k, v in m.items() if k != "sha256"}
    text = {
        "note": json.dumps({**m, "note": "my annotation"}),
        "value": json.dumps({**m, "epochs": m["epochs"] + 1}),
        "garbage": "my annotation {",
        "no checksum": json.dumps({**unsealed, "note": "my annotation"}),
        "null checksum": json.dumps({**unsealed, "sha256": None, "epochs": 1}),
        "as written": json.dumps(m, indent=4),  # another layout, the same values
    }[edit]
    path.write_text(text)
    rec.warnings = []
    assert results.write_run(rec, run_dir)
    assert results.check_run(run_dir) is None
    others = [p for p in run_dir.parent.iterdir() if p != run_dir]
    if edit == "as written":
        assert others == [] and rec.warnings == []
        return
    [kept] = others
    assert (kept / "metrics.json").read_text() == text
    [said] = rec.warnings
    # not JSON: no record tells nnfit's files from edited ones, and all are kept
    first = "config.yaml, data.npz, history.csv and 2 more" if edit == "garbage" else "metrics.json"
    assert said.startswith(f"{first} of the earlier folder kept in ") and kept.name in said


@pytest.mark.parametrize("exchange", [True, False])
def test_a_user_file_that_collides_with_a_new_run_file_is_kept_and_said(
    write, tmp_path, monkeypatch, exchange
):
    # a user's fit.png beside a figure-less run went to a hidden folder without a word
    if not exchange:
        monkeypatch.setattr(results, "_exchange", lambda a, b: False)
    rec, run_dir = trained(write, tmp_path)
    results.write_run(rec, run_dir)
    (run_dir / "fit.png").write_bytes(b"mine")
    (run_dir / "notes.txt").write_text("n")
    rec.figures = {"fit.png": b"new figure"}
    assert results.write_run(rec, run_dir)
    assert (run_dir / "fit.png").read_bytes() == b"new figure"
    assert (run_dir / "notes.txt").read_text() == "n"
    [kept] = [p for p in run_dir.parent.iterdir() if p != run_dir]
    assert kept.name.startswith(f".{run_dir.name}.kept-")
    assert (kept / "fit.png").read_bytes() == b"mine"
    [said] = rec.warnings
    assert said.startswith("fit.png of the earlier folder kept in ") and kept.name in said


def test_a_results_folder_inside_a_run_folder_or_a_file_is_refused(write, tmp_path):
    from conftest import TINY

    import nnfit

    run = nnfit.run(write(TINY), out=tmp_path / "res")
    for out, says in [
        (run.run_dir / "sub", f"is inside the run folder {run.run_dir.resolve()}"),
        (run.run_dir, "is a run folder"),
        (run.run_dir / "config.yaml", "is not a folder"),
    ]:
        with pytest.raises(results.ResultsError, match=says):
            nnfit.run(write(TINY), out=out)
        with pytest.raises(results.ResultsError, match=says):
            nnfit.sweep(write(TINY), widths=[2], out=out)
    assert results.check_run(run.run_dir) is None


def test_a_config_yaml_edited_with_the_record_of_the_files_taken_out_is_kept(write, tmp_path):
    # with `files` and `sha256` taken out of metrics.json, an edited config.yaml could
    # not be told from nnfit's and was replaced without a word
    rec, run_dir = trained(write, tmp_path)
    results.write_run(rec, run_dir)
    m = json.loads((run_dir / "metrics.json").read_text())
    m = {k: v for k, v in m.items() if k not in ("files", "sha256")}
    (run_dir / "metrics.json").write_text(json.dumps(m))
    (run_dir / "config.yaml").write_text("# my notes on this run\n")
    assert results.write_run(rec, run_dir)
    assert results.check_run(run_dir) is None
    [kept] = [p for p in run_dir.parent.iterdir() if p != run_dir]
    assert (kept / "config.yaml").read_text() == "# my notes on this run\n"
    assert (kept / "metrics.json").exists()
    [said] = rec.warnings
    assert said.startswith("config.yaml, data.npz, history.csv and 2 more of the earlier")


def test_a_rerun_over_an_unreadable_record_keeps_every_file(write, tmp_path):
    # with metrics.json unreadable, a user's .png was deleted as if it were a figure,
    # and so was an edited config.yaml
    rec, run_dir = trained(write, tmp_path)
    results.write_run(rec, run_dir)
    (run_dir / "my.png").write_bytes(b"mine")
    (run_dir / "metrics.json").write_text("{bad")
    assert results.write_run(rec, run_dir)
    assert (run_dir / "my.png").read_bytes() == b"mine"
    [kept] = [p for p in run_dir.parent.iterdir() if p != run_dir]
    assert (kept / "metrics.json").read_text() == "{bad" and (kept / "config.yaml").exists()
    assert results.check_run(run_dir) is None


def test_config_yaml_reads_back_as_written():
    # '0o17' and '1e5' were written unquoted and read back as numbers
    from nnfit.experiment.yamlfile import dump_yaml, load_yaml

    data = {"name": "0o17", "expr": "1e5", "x": "1e-8", "y": "010", "z": 1e-8, "w": [1, True]}
    assert load_yaml(dump_yaml(data)) == data


def test_a_run_file_edited_since_it_was_written_is_kept_on_a_rerun(write, tmp_path):
    # an edited fit.png (its checksum no longer the run's) was deleted as nnfit's own
    rec, run_dir = trained(write, tmp_path)
    rec.figures = {"fit.png": b"figure", "loss.png": b"loss"}
    results.write_run(rec, run_dir)
    (run_dir / "fit.png").write_bytes(b"annotated by hand")
    rec.figures = {"loss.png": b"loss"}  # no fit.png this time: it moves in
    assert results.write_run(rec, run_dir)
    assert (run_dir / "fit.png").read_bytes() == b"annotated by hand" and rec.warnings == []
    (run_dir / "loss.png").write_bytes(b"annotated too")
    assert results.write_run(rec, run_dir)  # its name is taken: the earlier folder stays
    [kept] = [p for p in run_dir.parent.iterdir() if p != run_dir]
    assert (kept / "loss.png").read_bytes() == b"annotated too"
    assert rec.warnings[-1].startswith("loss.png of the earlier folder kept in ")


def test_a_file_of_ones_own_at_the_run_folders_name_is_kept_and_said(write, tmp_path):
    # a traceback (TypeError) after training, and no summary in a sweep
    rec, run_dir = trained(write, tmp_path)
    run_dir.parent.mkdir(parents=True)
    run_dir.write_text("note")
    assert results.write_run(rec, run_dir)
    assert results.check_run(run_dir) is None
    [kept] = [p for p in run_dir.parent.iterdir() if p != run_dir]
    assert kept.read_text() == "note"
    assert rec.warnings == [
        f"what stood at the run folder's name kept in {kept} (not moved into the new run folder)"
    ]


def _history(text: str):
    import yaml

    from nnfit.experiment import config
    from nnfit.experiment import runner as experiment

    return experiment.execute(config.from_dict(yaml.safe_load(text), "t.yaml"), plots=False)


BIG = """
target: {expr: 10*sin(2*pi*x)}
data: {n_train: 64, n_val: 0, n_test: 200}
model: {hidden: [8], activation: tanh}
training:
  optimizer: {name: gd, lr: 0.2}
  epochs: 3000
  early_stopping: EARLY
"""


def test_huber_is_logged_in_fs_units_as_mse_is():
    # δ = 100 standard deviations: Huber is ½r² on every residual, so it trains as mse;
    # its history used to stay in the scaled units, 1/σ² (here 1/50) of mse's
    early = "{patience: 50, monitor: train}"
    mse = _history(BIG.replace("EARLY", early))
    huber = _history(BIG.replace("EARLY", early) + "  loss: {name: huber, delta: 100}\n")
    a, b = np.array(mse.history["train_loss"]), np.array(huber.history["train_loss"])
    assert a[0] > 10  # F's units: ½·mean(F²) is 25 before training
    np.testing.assert_allclose(b, a, rtol=1e-12)


def test_min_delta_is_in_the_units_history_csv_shows():
    # F = 10·sin(2πx): σ² = 50, so a min_delta taken in scaled units was 50 times larger
    # in the history's units, and later epochs improved on the "best" by more than it
    rec = _history(BIG.replace("EARLY", "{patience: 30, min_delta: 1.0e-2, monitor: train}"))
    loss = np.array(rec.history["train_loss"])
    assert rec.stop_reason == "converged" and rec.epochs == rec.best_epoch + 30
    best = loss[rec.best_epoch]
    assert loss[: rec.best_epoch].min() > best  # gd: the cost falls at every step
    assert best - 1e-2 < loss[-1] < best


def test_a_run_whose_values_overflow_is_diverged_without_numpy_warnings():
    # the metrics after training printed NumPy's overflow warnings (pytest makes them errors)
    rec = _history(
        "target: {expr: sin(2*pi*x)}\ndata: {n_train: 64, n_test: 200}\n"
        "model: {hidden: [8, 8, 8, 8], activation: square, init: {name: normal, std: 30}}\n"
        "training: {epochs: 5, output_layer: lstsq, dtype: float32}\n"
    )
    assert rec.status == "diverged"
