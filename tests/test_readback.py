"""Files read back are verified: model.npz, metrics.json and summary.json of any shape or
damage are a ResultsError naming the file (exit 2 at the command line), never a
traceback or a huge allocation; a run is done only when every file matches its record."""

import io
import json
import os
import shutil
import tracemalloc

import numpy as np
import pytest
from conftest import TINY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nnfit.cli import app
from nnfit.experiment import config
from nnfit.experiment import rundir as results
from nnfit.experiment import runner as experiment

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run folder (no figures: they are not read back)."""
    base = tmp_path_factory.mktemp("run")
    p = base / "tiny.yaml"
    p.write_text(TINY)
    exp = config.load(p)
    run_dir = base / "res" / exp.name / exp.run_id()
    assert results.write_run(experiment.execute(exp, plots=False), run_dir)
    return run_dir


@pytest.fixture
def run_copy(finished, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(finished, dest)
    return dest


def one_line_error(r, starts: str):
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {starts}"), r.stderr
    assert len(lines[0]) <= 300


# ----------------------------------------------------------------------- model.npz


def npz(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def model_arrays(run_dir):
    with np.load(run_dir / "model.npz") as z:
        return {k: z[k] for k in z.files}


def with_meta(arrays, **changes):
    meta = json.loads(str(arrays["meta"]))
    meta.update(changes)
    return {**arrays, "meta": np.array(json.dumps(meta))}


BAD_MODELS = {
    "empty file": lambda a: b"",
    "truncated": lambda a: npz(a)[: len(npz(a)) // 2],
    "not a zip": lambda a: b"PK\x03\x04" + b"\x00" * 100,
    "unknown activation": lambda a: npz(with_meta(a, activations=["swish9"])),
    "unknown output": lambda a: npz(with_meta(a, output="softmax")),
    "activation parameter out of range": lambda a: npz(
        with_meta(a, activations=[{"name": "elu", "alpha": -1.0}])
    ),
    "298 GiB sizes": lambda a: npz(with_meta(a, sizes=[1, 200000, 200000, 1])),
    "sizes disagree with W": lambda a: npz(with_meta(a, sizes=[1, 9, 1])),
    "two outputs, arrays to match": lambda a: npz(
        {**with_meta(a, sizes=[1, 8, 2]), "W1": np.zeros((8, 2)), "b1": np.zeros(2)}
    ),
    "wrong W shape": lambda a: npz({**a, "W0": np.zeros((2, 8))}),
    "wrong dtype": lambda a: npz({**a, "W1": a["W1"].astype(np.float32)}),
    "integer weights": lambda a: npz({**a, "b0": np.zeros(8, dtype=np.int64)}),
    "NaN weight": lambda a: npz({**a, "W1": np.full_like(a["W1"], np.nan)}),
    "missing array": lambda a: npz({k: v for k, v in a.items() if k != "b1"}),
    "extra array": lambda a: npz({**a, "W7": np.zeros(3)}),
    "meta not JSON": lambda a: npz({**a, "meta": np.array("{sizes: [1")}),
    "meta a list": lambda a: npz({**a, "meta": np.array("[1, 2]")}),
    "meta not a string": lambda a: npz({**a, "meta": np.arange(3.0)}),
    "meta without sizes": lambda a: npz(
        {**a, "meta": np.array(json.dumps({"activations": [], "output": "identity"}))}
    ),
    "negative width": lambda a: npz(with_meta(a, sizes=[1, -8, 1])),
    "scale not finite": lambda a: npz(
        with_meta(a, scale_y={"kind": "standard", "shift": 0.0, "scale": "Infinity"})
    ),
    "zero scale": lambda a: npz(
        with_meta(a, scale_y={"kind": "standard", "shift": 0.0, "scale": 0.0})
    ),
    "unknown dtype": lambda a: npz(with_meta(a, dtype="float16")),
}


@pytest.mark.parametrize("case", list(BAD_MODELS))
def test_a_bad_model_npz_is_one_line_naming_it(run_copy, case):
    payload = BAD_MODELS[case](model_arrays(run_copy))
    (run_copy / "model.npz").write_bytes(payload)
    with pytest.raises(results.ResultsError) as info:
        results.load_model(run_copy)
    assert str(info.value).startswith(f"{run_copy}/model.npz: ")
    r = invoke("predict", run_copy, "--x", "0.5")
    one_line_error(r, f"{run_copy}/model.npz: ")


def test_a_huge_model_is_refused_before_anything_is_allocated(run_copy):
    a = with_meta(model_arrays(run_copy), sizes=[1, 200000, 200000, 1], activations=["tanh"] * 2)
    (run_copy / "model.npz").write_bytes(npz(a))
    tracemalloc.start()
    with pytest.raises(results.ResultsError, match="parameters"):
        results.load_model(run_copy)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5 * 2**20


def _corrupt(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for kind, pos, value in edits:
        if not out:
            break
        i = pos % len(out)
        if kind == "flip":
            out[i] ^= value or 1
        elif kind == "cut":
            del out[i:]
        else:
            out[i:i] = bytes([value])
    return bytes(out)


edits = st.lists(
    st.tuples(
        st.sampled_from(["flip", "cut", "insert"]),
        st.integers(0, 10**6),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=edits)
def test_any_damage_to_model_npz_is_caught(finished, tmp_path_factory, edits):
    """Damaged bytes either still load as a finite model (a flipped weight) or raise a
    ResultsError naming model.npz; the checksum catches every change."""
    run_dir = tmp_path_factory.mktemp("r")
    shutil.copytree(finished, run_dir, dirs_exist_ok=True)
    good = (run_dir / "model.npz").read_bytes()
    bad = _corrupt(good, edits)
    (run_dir / "model.npz").write_bytes(bad)
    try:
        net, meta = results.load_model(run_dir)
    except results.ResultsError as exc:
        assert str(exc).startswith(f"{run_dir}/model.npz: ")
    else:
        g = results.predict(net, meta, np.linspace(0, 1, 5)[:, None])
        assert g.shape == (5,)
    problem = results.check_run(run_dir)
    assert (problem is None) == (bad == good)
    if bad != good:
        assert problem.startswith(f"{run_dir}/model.npz: ")


# ----------------------------------------------------------------------- metrics.json

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False),
        st.text(max_size=10),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
METRIC_KEYS = [
    "status",
    "epochs",
    "test",
    "config_hash",
    "files",
    "n_params",
    "seed",
    "name",
    "baselines",
    "sha256",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.sampled_from(METRIC_KEYS),
    value=json_values,
    drop=st.booleans(),
    whole=st.one_of(st.none(), json_values),
)
def test_metrics_json_of_any_shape_reads_or_is_refused(
    finished, tmp_path_factory, key, value, drop, whole
):
    run_dir = tmp_path_factory.mktemp("m")
    shutil.copytree(finished, run_dir, dirs_exist_ok=True)
    m = json.loads((run_dir / "metrics.json").read_text())
    if whole is not None:
        m = whole
    elif drop:
        m.pop(key)
    else:
        m[key] = value
    (run_dir / "metrics.json").write_text(json.dumps(m))
    try:
        got = results.load_metrics(run_dir)
    except results.ResultsError as exc:
        assert str(exc).startswith(f"{run_dir}/metrics.json: ") and len(str(exc)) < 300
        assert results.read_metrics(run_dir) is None
        assert results.check_run(run_dir) is not None
    else:
        assert got["status"] in {"ok", "diverged", "failed", "interrupted"}


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("[1]", "expected a JSON object of nnfit's keys, got an array"),
        ("null", "expected a JSON object of nnfit's keys, got null"),  # it said "a NoneType"
        ("", "not valid JSON"),
        ('{"status": "ok"', "not valid JSON"),
        ('{"status": NaN}', "status"),
        ("[" * 100_000 + "]" * 100_000, "JSON"),
        ("\udcff", "not valid JSON"),
    ],
)
def test_bad_metrics_json_at_the_command_line(run_copy, text, expect):
    (run_copy / "metrics.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    r = invoke("predict", run_copy, "--x", "0.5")
    one_line_error(r, f"{run_copy}/metrics.json: ")
    assert expect in r.stderr
    r = invoke("report", run_copy.parent)
    assert r.exit_code == 0, r.output
    assert f"warning: {run_copy}/metrics.json: " in r.stderr
    assert "Traceback" not in r.output


def test_a_bad_value_in_metrics_json_is_shown_as_json_spells_it(run_copy):
    # it said (got None), (got True): Python's words for a file's null and true
    m = json.loads((run_copy / "metrics.json").read_text())
    from nnfit.experiment.runfiles import own_digest

    for value, got in ((None, "null"), (True, "true")):
        bad = {k: v for k, v in m.items() if k != "sha256"} | {"status": value}
        bad["sha256"] = own_digest(bad)  # sealed: the value itself is what is read
        (run_copy / "metrics.json").write_text(json.dumps(bad))
        r = invoke("predict", run_copy, "--x", "0.5")
        one_line_error(r, f"{run_copy}/metrics.json: status: ")
        assert r.stderr.endswith(f"(got {got})\n"), r.stderr


@pytest.mark.parametrize(
    "text",
    ["[1]", '{"name": 3}', '{"name": "s", "n_ok": -1}', '{"name": "s", "wall_s": "x"}', "{"],
)
def test_bad_summary_json_is_named_by_report(tmp_path, text):
    folder = tmp_path / "res" / "sw" / "sweep-00000000"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(text)
    r = invoke("report", tmp_path / "res", "--json")
    assert r.exit_code == 0, r.output
    assert r.stderr.startswith(f"warning: {folder}/summary.json: ")
    # listed, as a run folder that cannot be read is, not left out of the table
    rows = json.loads(r.stdout)
    assert [(x["kind"], x["path"], x["status"]) for x in rows] == [
        ("sweep", "sw/sweep-00000000", "unreadable")
    ]


# ----------------------------------------------------------------------- done or not


def damage(run_dir, how):
    if how == "delete model.npz":
        (run_dir / "model.npz").unlink()
    elif how == "truncate data.npz":
        p = run_dir / "data.npz"
        p.write_bytes(p.read_bytes()[:100])
    elif how == "change history.csv":
        p = run_dir / "history.csv"
        p.write_text(p.read_text().replace("0", "1", 1))
    elif how == "delete config.yaml":
        (run_dir / "config.yaml").unlink()
    elif how == "another config's metrics":
        m = json.loads((run_dir / "metrics.json").read_text())
        m["config_hash"] = "0" * 64
        (run_dir / "metrics.json").write_text(json.dumps(m))
    elif how == "a file not of the run":
        m = json.loads((run_dir / "metrics.json").read_text())
        m["files"]["../../etc/passwd"] = {"bytes": 1, "sha256": "0" * 64}
        (run_dir / "metrics.json").write_text(json.dumps(m))


DAMAGE = [
    "delete model.npz",
    "truncate data.npz",
    "change history.csv",
    "delete config.yaml",
    "another config's metrics",
    "a file not of the run",
]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_run_is_not_done_and_predict_names_the_file(run_copy, how):
    made_by = results.load_metrics(run_copy)["config_hash"]
    assert results.check_run(run_copy, made_by) is None
    damage(run_copy, how)
    problem = results.check_run(run_copy, made_by)
    assert problem is not None and problem.startswith(f"{run_copy}/")
    if how != "another config's metrics":  # the folder agrees with itself there
        r = invoke("predict", run_copy, "--x", "0.5")
        one_line_error(r, f"{run_copy}/")
    r = invoke("report", run_copy.parent, "--csv")
    assert r.exit_code == 0
    if how != "another config's metrics":
        assert ",damaged," in r.stdout


@pytest.mark.parametrize("text", ["training: {epochs: !!int x}\n", f"seed: {'1' * 5000}\n"])
def test_a_config_yaml_no_constructor_can_build_is_read_as_missing(run_copy, text):
    # a ValueError from PyYAML's int constructor was a traceback in report and load
    import nnfit

    (run_copy / "config.yaml").write_text(text)
    assert results.read_config(run_copy) is None
    with pytest.raises(results.ResultsError, match=r"config\.yaml: changed since"):
        nnfit.load(run_copy)  # a folder that is not whole is refused, as predict does
    r = invoke("report", run_copy.parent, "--csv")
    assert r.exit_code == 0 and ",damaged," in r.stdout, r.output


def sealed(m: dict) -> str:
    """metrics.json text after an edit, with its own checksum made to agree: the edit
    as one that also forged the checksum, for the checks behind it."""
    return json.dumps({**m, "sha256": results.own_digest(m)})


def test_an_edited_metrics_json_is_not_done_and_its_sweep_trains_it_again(
    write, tmp_path, monkeypatch
):
    # a baseline's numbers, a test of null, a number edited: metrics.json parsed
    # and the run was reused, then sweep and study failed with tracebacks on the values
    from nnfit.experiment import runner

    monkeypatch.setattr(runner, "draw_figures", lambda *a: ({}, []))
    p, out = write(SWEEP), tmp_path / "res"
    assert invoke("sweep", p, "--out", out, "--jobs", "1", "-q").exit_code == 0
    runs = results.find_runs(out)
    edits = [
        lambda m: m["baselines"].update(chebyshev={"n_params": 1, "rmse": 0.0}),
        lambda m: m.update(test=None),
        lambda m: m["test"].update(rmse=m["test"]["rmse"] / 10),
    ]
    for run, edit in zip(runs, edits, strict=True):
        m = json.loads((run / "metrics.json").read_text())
        edit(m)
        (run / "metrics.json").write_text(json.dumps(m, indent=1))
        assert results.check_run(run).endswith(
            "metrics.json: changed since the run was written (checksum differs)"
        )
        r = invoke("predict", run, "--x", "0.5")
        assert r.exit_code == 2 and "checksum differs" in r.stderr, r.output
    r = invoke("sweep", p, "--out", out, "--jobs", "1")
    assert r.exit_code == 0, r.output
    assert "3 points, 0 already done, 3 to run" in r.stdout
    assert all(results.check_run(run) is None for run in runs)
    # the layout of the file is not what is checked: the same keys reindented still are
    m = json.loads((runs[0] / "metrics.json").read_text())
    (runs[0] / "metrics.json").write_text(json.dumps(m, indent=None, sort_keys=True))
    assert results.check_run(runs[0]) is None

    def whole(v):  # as jq and JavaScript rewrite it: 0.0 as 0
        if isinstance(v, dict):
            return {k: whole(x) for k, x in v.items()}
        if isinstance(v, list):
            return [whole(x) for x in v]
        return int(v) if isinstance(v, float) and v.is_integer() else v

    (runs[0] / "metrics.json").write_text(json.dumps(whole(m)))
    assert results.check_run(runs[0]) is None
    text = json.dumps(m).replace('"status": "ok"', '"status": "failed", "status": "ok"')
    (runs[0] / "metrics.json").write_text(text)  # readers differ on which one wins
    assert "key 'status' given twice" in results.check_run(runs[0])
    del m["sha256"]  # as an earlier nnfit wrote it: nothing to hold its numbers to
    (runs[0] / "metrics.json").write_text(json.dumps(m))
    assert results.check_run(runs[0]).endswith("records no checksum of its own")


def test_a_run_without_checksums_is_not_done(run_copy):
    # with "files" deleted from metrics.json an edited model.npz was predicted from and
    # a sweep reused the run: the check had nothing to compare, so it trusted everything
    m = json.loads((run_copy / "metrics.json").read_text())
    del m["files"]
    (run_copy / "metrics.json").write_text(sealed(m))
    assert results.check_run(run_copy).endswith("records no checksums of the run's files")
    r = invoke("predict", run_copy, "--x", "0.5")
    assert r.exit_code == 2 and "records no checksums" in r.stderr, r.output
    assert r.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        # a size in quotes: TypeError from the size check, a traceback in predict, report, sweep
        (lambda f: f["model.npz"].update(bytes=str(f["model.npz"]["bytes"])), "files.model.npz"),
        (lambda f: f["model.npz"].update(sha256=None), "files.model.npz"),
        (lambda f: f.update({"model.npz": 5}), "files.model.npz"),
        # history.csv unchecked: with its entry deleted the run was whole
        (lambda f: f.pop("history.csv"), "does not record history.csv"),
        (lambda f: f.pop("data.npz"), "does not record data.npz"),
        (lambda f: f.update({"metrics.json": {"bytes": 1, "sha256": "0" * 64}}), "'metrics.json'"),
    ],
)
def test_a_damaged_files_record_is_one_line(run_copy, edit, said):
    m = json.loads((run_copy / "metrics.json").read_text())
    edit(m["files"])
    (run_copy / "metrics.json").write_text(sealed(m))
    assert said in results.check_run(run_copy)
    r = invoke("predict", run_copy, "--x", "0.5")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and said in r.stderr, r.output
    r = invoke("report", run_copy.parent)
    assert r.exit_code == 0 and "damaged" in r.stdout, r.output


def test_report_says_when_a_whole_run_has_a_config_it_cannot_read(run_copy):
    # a folder written by an older nnfit (a tag in config.yaml, checksums agreeing)
    # showed blank config columns without a word
    import hashlib

    text = b"training: {epochs: !!int 5}\n"
    (run_copy / "config.yaml").write_bytes(text)
    m = json.loads((run_copy / "metrics.json").read_text())
    m["files"]["config.yaml"] = {"bytes": len(text), "sha256": hashlib.sha256(text).hexdigest()}
    (run_copy / "metrics.json").write_text(sealed(m))
    assert results.check_run(run_copy) is None
    r = invoke("report", run_copy.parent)
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines() == [
        f"warning: {run_copy}/config.yaml: cannot be read; its config columns are blank"
    ]


SWEEP = """
name: sw
target: {name: sine}
data: {n_train: 32, n_val: 8, n_test: 100}
model: {hidden: [2], activation: tanh}
training: {epochs: 5, batch_size: 8, optimizer: {name: adam, lr: 0.01}}
sweep:
  grid:
    model.hidden: [[1], [2], [3]]
"""


def test_resume_trains_again_exactly_the_damaged_runs(write, tmp_path, monkeypatch):
    from nnfit.experiment import plots

    monkeypatch.setattr(plots, "render", lambda exp, rec, ds: ({}, []))  # no figures: fast
    p, out = write(SWEEP), tmp_path / "res"
    assert invoke("sweep", p, "--out", out, "--jobs", "1", "--quiet").exit_code == 0
    runs = results.find_runs(out)
    assert len(runs) == 3
    damage(runs[0], "delete model.npz")
    damage(runs[1], "change history.csv")
    r = invoke("sweep", p, "--out", out, "--jobs", "1")
    assert r.exit_code == 0, r.output
    assert "3 points, 1 already done, 2 to run" in r.stdout
    assert all(results.check_run(run) is None for run in runs)


def test_report_says_a_sweeps_counts_predate_the_damage_to_its_runs(write, tmp_path, monkeypatch):
    from nnfit.experiment import plots

    monkeypatch.setattr(plots, "render", lambda exp, rec, ds: ({}, []))  # no figures: fast
    p, out = write(SWEEP), tmp_path / "res"
    assert invoke("sweep", p, "--out", out, "--jobs", "1", "--quiet").exit_code == 0
    r = invoke("report", out, "--json")
    [sweep] = [row for row in json.loads(r.stdout) if row["kind"] == "sweep"]
    assert sweep["status"] == "3 ok, 0 failed"
    runs = results.find_runs(out)
    (runs[0] / "metrics.json").write_text("{")  # unreadable: a row that says so
    damage(runs[1], "change history.csv")  # damaged: shown as such
    r = invoke("report", out, "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    [sweep] = [row for row in rows if row["kind"] == "sweep"]
    assert sweep["status"] == "3 ok, 0 failed when run; 2 damaged or unreadable now"
    statuses = sorted(row["status"] for row in rows if row["kind"] == "run")
    assert statuses == ["damaged", "ok", "unreadable"]  # every run folder has its row
    [unread] = [row for row in rows if row["status"] == "unreadable"]
    assert unread["path"].endswith(runs[0].name) and unread["test_rmse"] is None
    # why, in the row itself: stderr names five problems at most
    [damaged] = [row for row in rows if row["status"] == "damaged"]
    assert "metrics.json: not valid JSON" in unread["why"]
    assert damaged["why"].startswith(f"{runs[1]}/history.csv: changed")
    assert {row["why"] for row in rows if row["status"] == "ok"} == {None}
    # a folder in metrics.json's place: the run was left out, "no finished runs found"
    (runs[0] / "metrics.json").unlink()
    (runs[0] / "metrics.json").mkdir()
    r = invoke("report", out, "--json")
    statuses = sorted(row["status"] for row in json.loads(r.stdout) if row["kind"] == "run")
    assert statuses == ["damaged", "ok", "unreadable"] and "not a regular file" in r.stderr
    # a link to a run folder, and one to nothing: left out with no word
    (out / "linked").symlink_to(runs[2], target_is_directory=True)
    (out / "dangling").symlink_to(out / "nowhere")
    r = invoke("report", out, "--json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 4  # links are not followed
    assert f"{out / 'linked'}: a link to {runs[2]}; report does not follow links" in r.stderr
    assert "dangling: a link to" in r.stderr and "which does not exist" in r.stderr
    # a loop of links was said not to exist; a linked metrics.json was read as the run's
    (out / "dangling").unlink()
    (out / "loop-a").symlink_to(out / "loop-b")
    (out / "loop-b").symlink_to(out / "loop-a")
    real = runs[2] / "real.json"
    (runs[2] / "metrics.json").rename(real)
    (runs[2] / "metrics.json").symlink_to(real)
    r = invoke("report", out, "--json")
    assert "loop-a: a link to" in r.stderr and "a loop of links" in r.stderr
    assert "metrics.json: a link in place of the file the run wrote" in r.stderr
    [linked] = [row for row in json.loads(r.stdout) if row["path"].endswith(runs[2].name)]
    assert linked["status"] == "damaged"
    real.unlink()  # a link to nothing in metrics.json's place was called missing
    for name in ("loop-a", "loop-b", "linked"):  # report names five problems at most
        (out / name).unlink()
    r = invoke("report", out, "--json")
    said = " ".join(r.stderr.split())  # a long line is cut short with …
    assert f"{runs[2].name}/metrics.json: a link to " in said and "missing" not in said


def _edit_metrics(run_dir, key: str, value, reseal: bool) -> None:
    m = json.loads((run_dir / "metrics.json").read_text())
    *outer, last = key.split(".")
    target = m
    for k in outer:
        target = target[k]
    target[last] = value
    if reseal:  # as if the run had written it: only the type is wrong
        m["sha256"] = results.own_digest(m)
    (run_dir / "metrics.json").write_text(json.dumps(m))


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("epochs", "20", 'epochs: must be a whole number (got "20")'),
        ("epochs", True, "epochs: must be a whole number (got true)"),
        ("n_params", 2.5, "n_params: must be a whole number (got 2.5)"),
        ("wall_s", "0.1", 'wall_s: must be a number (got "0.1")'),
        ("test.rmse", "1e-3", 'test.rmse: must be a number (got "1e-3")'),
        ("train.mse", False, "train.mse: must be a number (got false)"),
    ],
)
@pytest.mark.parametrize("reseal", [False, True])
def test_a_number_of_the_wrong_type_in_metrics_json_is_named_not_a_traceback(
    run_copy, tmp_path, key, value, says, reseal
):
    # "epochs": "20" or true passed the lax reader (as 20 and 1), and report's table
    # then failed to format it: a traceback, exit 1, and no table for any other run
    _edit_metrics(run_copy, key, value, reseal)
    r = invoke("report", run_copy.parent)
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert "unreadable" in r.stdout
    assert f"{run_copy}/metrics.json: {says}" in r.stderr
    one_line_error(invoke("predict", run_copy, "--x", "0.5"), f"{run_copy}/metrics.json: {says}")


def test_a_count_written_as_a_float_reads_as_the_count(run_copy):
    # jq and other tools may write 20 as 20.0; the checksum counts numbers as floats, so
    # the run is still done, and its table shows 20 (it failed on format(20.0, "d"))
    epochs = json.loads((run_copy / "metrics.json").read_text())["epochs"]
    _edit_metrics(run_copy, "epochs", float(epochs), reseal=False)
    assert results.check_run(run_copy) is None
    assert results.load_metrics(run_copy)["epochs"] == epochs
    assert type(results.load_metrics(run_copy)["epochs"]) is int
    r = invoke("report", run_copy.parent, "--json")
    assert r.exit_code == 0, r.output
    [row] = json.loads(r.stdout)
    assert row["status"] == "ok" and row["epochs"] == epochs
    r = invoke("report", run_copy.parent)
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output


# ------------------------------------------------------------------ predict's own files


@pytest.mark.parametrize("name", ["metrics.json", "model.npz", "config.yaml", "p.csv"])
def test_predictions_are_never_written_into_a_run_folder(run_copy, name):
    before = {p.name: p.read_bytes() for p in run_copy.iterdir()}
    r = invoke("predict", run_copy, "--x", "0.5", "--out", run_copy / name)
    one_line_error(r, f"--out {run_copy / name}: ")
    assert "is a run folder" in r.stderr
    assert {p.name: p.read_bytes() for p in run_copy.iterdir()} == before
    assert results.check_run(run_copy) is None


@pytest.mark.parametrize("name", ["summary.json", "summary.csv", "error_vs_width.png"])
def test_predictions_are_never_written_over_a_sweeps_files(run_copy, tmp_path, name):
    # --out SWEEP/summary.json wrote the predictions there, and report then called the
    # sweep unreadable
    sweep = tmp_path / "sw" / "sweep-00000000"
    sweep.mkdir(parents=True)
    (sweep / "summary.json").write_text('{"name": "sw"}')
    (sweep / name).write_bytes((sweep / name).read_bytes() if name == "summary.json" else b"x")
    before = {p.name: p.read_bytes() for p in sweep.iterdir()}
    r = invoke("predict", run_copy, "--x", "0.5", "--out", sweep / name)
    one_line_error(r, f"--out {sweep / name}: {name} is a file of the sweep in ")
    assert {p.name: p.read_bytes() for p in sweep.iterdir()} == before
    r = invoke("predict", run_copy, "--x", "0.5", "--out", sweep / "p.csv")
    assert r.exit_code == 0 and (sweep / "p.csv").read_text().startswith("x,g\n")


@pytest.mark.parametrize("kind", ["sweep name", "a run inside"])
def test_predictions_are_never_written_into_a_sweep_folder_without_its_summary(
    run_copy, tmp_path, kind
):
    # a sweep folder whose summary.json was not written yet (or was deleted) took
    # --out DIR/summary.csv, which the sweep's next summary then wrote over
    sweep = tmp_path / "sw" / ("sweep-0123abcd" if kind == "sweep name" else "mine")
    sweep.mkdir(parents=True)
    if kind == "a run inside":
        shutil.copytree(run_copy, sweep / run_copy.name)
    r = invoke("predict", run_copy, "--x", "0.5", "--out", sweep / "summary.csv")
    one_line_error(r, f"--out {sweep / 'summary.csv'}: summary.csv is a file of the sweep in ")
    assert not (sweep / "summary.csv").exists()


@pytest.mark.parametrize("args", [["--csv", "/dev/stdin"], ["--csv", "-", "--out", "-"]])
def test_points_from_a_pipe_are_all_predicted(finished, args, tmp_path):
    """A pipe can be read once: the points were scanned, then read again as nothing.
    ``-`` is stdin for --csv and stdout for --out (it wrote a file named "-")."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "nnfit", "predict", str(finished), *args]
    r = subprocess.run(
        cmd, input="0.25\n0.5\n0.75\n", capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    rows = r.stdout.strip().splitlines()
    assert rows[0] == "x,g" and [row.split(",")[0] for row in rows[1:]] == ["0.25", "0.5", "0.75"]
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("name", ["metrics.json", "config.yaml"])
def test_a_named_pipe_in_a_results_folder_is_refused_not_waited_on(run_copy, name):
    """Opened for reading, a FIFO with no writer blocks for ever: report and predict hung."""
    import os
    import subprocess
    import sys

    (run_copy / name).unlink()
    os.mkfifo(run_copy / name)
    for args in (["report", str(run_copy.parent)], ["predict", str(run_copy), "--x", "0.5"]):
        cmd = [sys.executable, "-m", "nnfit", *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert f"{run_copy / name}: " in r.stderr and "not a regular file" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    assert r.returncode == 2


def test_predict_out_to_a_pipe_writes_into_it_and_leaves_it_a_pipe(finished, tmp_path):
    # the output was written beside the path and renamed over it: --out /dev/full
    # replaced the device with a regular file
    import os
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    r = invoke("predict", finished, "--x", "0.5", "--out", fifo)
    reader.join(30)
    assert r.exit_code == 0, r.output
    assert got and got[0].startswith("x,g\n0.5,")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary left


def test_predict_out_to_a_pipe_nobody_reads_is_one_line_not_a_wait(finished, tmp_path):
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    r = invoke("predict", finished, "--x", "0.5", "--out", fifo)
    one_line_error(r, f"cannot write {fifo}: a pipe with no reader")


def test_predict_out_through_a_link_replaces_the_file_and_keeps_the_link(finished, tmp_path):
    real, link = tmp_path / "real.csv", tmp_path / "link.csv"
    real.write_text("old\n")
    link.symlink_to(real.name)
    r = invoke("predict", finished, "--x", "0.5", "--out", link)
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and real.read_text().startswith("x,g\n0.5,")


def test_a_link_planted_in_a_sweep_folder_is_replaced_not_followed(write, tmp_path, monkeypatch):
    # summary.csv linked to a file outside the results folder: the rerun wrote over it
    from nnfit.experiment import runner

    monkeypatch.setattr(runner, "draw_figures", lambda *a: ({}, []))  # the runs' own: seconds
    p = write(SWEEP)
    out = tmp_path / "res"
    assert invoke("sweep", p, "--out", out, "--jobs", "1", "-q").exit_code == 0
    (folder,) = (out / "sw").iterdir()
    precious = tmp_path / "precious.txt"
    precious.write_text("mine")
    for name in ("summary.csv", "summary.json", "error_vs_width.png"):
        (folder / name).unlink()
        (folder / name).symlink_to(precious)
    assert invoke("sweep", p, "--out", out, "--jobs", "1", "-q").exit_code == 0
    assert precious.read_text() == "mine"
    for name in ("summary.csv", "summary.json", "error_vs_width.png"):
        assert not (folder / name).is_symlink() and (folder / name).stat().st_size > 100


def test_a_run_folder_replaced_by_a_link_to_another_run_is_trained_again_beside_it(
    write, tmp_path, monkeypatch
):
    """The link is replaced, never entered: the other run keeps its files (a note of the
    user's too) and no hidden folder is left behind."""
    from nnfit.experiment import runner

    monkeypatch.setattr(runner, "draw_figures", lambda *a: ({}, []))
    p, out = write(SWEEP), tmp_path / "res"
    assert invoke("sweep", p, "--out", out, "--jobs", "1", "-q").exit_code == 0
    a, b = results.find_runs(out)[:2]
    with np.load(a / "model.npz") as z:
        weights = {k: z[k].copy() for k in z.files}
    (b / "notes.txt").write_text("mine")
    before = sorted(os.listdir(b))
    shutil.rmtree(a)
    a.symlink_to(b.name)
    assert invoke("sweep", p, "--out", out, "--jobs", "1", "-q").exit_code == 0
    assert not a.is_symlink() and results.check_run(a) is None
    with np.load(a / "model.npz") as z:
        assert all(np.array_equal(z[k], weights[k]) for k in z.files)
    assert sorted(os.listdir(b)) == before and (b / "notes.txt").read_text() == "mine"
    assert not [n for n in os.listdir(a.parent) if n.startswith(".")]


@pytest.mark.parametrize(
    ("baselines", "said"),
    [({"chebyshev": "x"}, "baselines.chebyshev"), ([1], "baselines"),
     ({"pwlinear": {"rmse": "x"}}, "baselines.pwlinear.rmse")],
)  # fmt: skip
def test_a_baselines_section_not_nnfits_is_one_line_even_with_its_checksum(
    run_copy, baselines, said
):
    m = json.loads((run_copy / "metrics.json").read_text())
    m["baselines"] = baselines
    (run_copy / "metrics.json").write_text(sealed(m))
    r = invoke("predict", run_copy, "--x", "0.5")
    one_line_error(r, f"{run_copy}/metrics.json: {said}")
