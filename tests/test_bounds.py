"""Every parameter range-checked, every size bounded, every folder inside --out.

Bad input is exit 2 with one line of at most ~300 characters that names the key, the
limit and how to raise it; nothing runs, nothing is written, nothing grows without
bound; every accepted parameter value trains without an exception.
"""

import json
import math
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nnfit.cli import app
from nnfit.engine.activations import ACTIVATIONS
from nnfit.engine.initializers import PARAMS as INIT_PARAMS
from nnfit.engine.losses import LOSSES
from nnfit.engine.optimizers import OPTIMIZERS
from nnfit.engine.schedules import PARAMS as SCHEDULE_PARAMS
from nnfit.experiment import config, data, limits, points
from nnfit.experiment import rundir as results
from nnfit.experiment import runner as experiment
from nnfit.experiment.yamlfile import load_yaml
from nnfit.sweep import grid as sw
from nnfit.sweep import workers

runner = CliRunner()


def invoke(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def refused(r, *parts):
    """Exit 2, one short line holding every part, no traceback."""
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) <= 300, r.stderr
    for part in parts:
        assert part in lines[0], lines[0]


# ----------------------------------------------------------------- numbers (flaw 3)


@pytest.mark.parametrize(
    ("text", "value"),
    [("1e-8", 1e-8), ("1E-8", 1e-8), ("5e-3", 5e-3), ("1.0e-5", 1e-5), (".5e-2", 5e-3)],
)
def test_a_number_with_an_exponent_is_a_number_everywhere(write, tmp_path, text, value):
    p = write(TINY.replace("lr: 0.01}", f"lr: 0.01, eps: {text}}}"))
    assert config.load(p).training.optimizer.params()["eps"] == value
    exp = config.load(write(TINY), [f"training.optimizer.lr={text}"])
    assert exp.training.optimizer.lr == value
    grid = TINY + f"sweep:\n  grid:\n    training.optimizer.lr: [{text}, 0.5]\n"
    _, _, pts = sw.expand(write(grid, "g.yaml"), out_root=tmp_path)
    assert [pt.exp.training.optimizer.lr for pt in pts] == [value, 0.5]
    assert load_yaml(text) == value and load_yaml(f"'{text}'") == text  # quoted: a string


def test_zero_step_sizes_are_refused(write, tmp_path):
    for sched in ("{name: step, step_size: 0}", "{name: inverse_time, t1: 0}"):
        r = invoke(
            "run", write(TINY), "--out", tmp_path / "res", "--set", f"training.schedule={sched}"
        )
        refused(r, "training.schedule")
    assert not (tmp_path / "res").exists()


FLOAT_KEYS = [
    "data.noise",
    "model.bias",
    "training.l1",
    "training.l2",
    "training.clip_norm",
    "training.epsilon",
    "training.early_stopping.min_delta",
    "training.optimizer.lr",
    "training.optimizer.beta2",
    "training.optimizer.eps",
]


@pytest.mark.parametrize("key", FLOAT_KEYS)
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1e400"])
def test_nan_and_inf_are_refused_everywhere(write, key, value):
    with pytest.raises(config.ConfigError) as info:
        config.load(write(TINY), [f"{key}={value}"])
    (line,) = info.value.problems
    assert line.startswith(f"--set {key}")


def _registry():
    """(section, name, parameter, Param) for every parameter of every registry entry."""
    out = []
    for name, act in ACTIVATIONS.items():
        out += [("model.activation", name, k, p) for k, p in act.params.items()]
    for name, declared in INIT_PARAMS.items():
        out += [("model.init", name, k, p) for k, p in declared.items()]
    for name, loss in LOSSES.items():
        out += [("training.loss", name, k, p) for k, p in loss.params.items()]
    for name, method in OPTIMIZERS.items():
        out += [("training.optimizer", name, k, p) for k, p in method.params.items()]
    for name, declared in SCHEDULE_PARAMS.items():
        out += [("training.schedule", name, k, p) for k, p in declared.items()]
    return out


REGISTRY = _registry()
BASE = {
    "name": "prop",
    "target": {"expr": "sin(2*pi*x)"},
    "data": {"n_train": 24, "n_val": 8, "n_test": 16},
    "model": {"hidden": [3]},
    "training": {"epochs": 3},
}


def _config(section: str, name: str, key: str, value) -> dict:
    cfg = json.loads(json.dumps(BASE))
    part, field = section.split(".")
    cfg[part][field] = {"name": name, key: value}
    if section == "training.optimizer" and OPTIMIZERS[name].full_batch:
        cfg["training"]["batch_size"] = "full"
    if section == "training.optimizer" and name == "lm" and key in ("ridge", "ridge_min"):
        cfg["training"]["output_layer"] = "lstsq"  # the output layer's ridge: used there
    lr_min = isinstance(value, int | float) and not isinstance(value, bool) and key == "lr_min"
    if lr_min and math.isfinite(value) and 1e-3 < value <= 1e6:  # a floor below the rate
        cfg["training"]["optimizer"] = {"name": "adam", "lr": float(value)}
    return cfg


def _inside(p, v) -> bool:
    if p.lo is not None and (v <= p.lo if p.lo_open else v < p.lo):
        return False
    return p.hi is None or not (v >= p.hi if p.hi_open else v > p.hi)


def _values(p):
    near = [x for x in (p.lo, p.hi) if x is not None]
    edges = [e + d for e in near for d in (-1e-9, 0.0, 1e-9)]
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([*edges, p.default, 0, -1, 1e300, "1", True, None]),
        st.floats(min_value=p.lo or -1e3, max_value=min(p.hi or 1e3, 1e3)),
        st.integers(-(10**30), 10**30),
    )


def _wrong_together(name: str, key: str, value) -> bool:
    """Whether optimizer name refuses key = value with its other parameters at default."""
    method = OPTIMIZERS[name]
    hyper = {k: p.default for k, p in method.params.items()} | {key: value}
    try:
        method.check_together(hyper)
    except ValueError:
        return True
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_declared_parameter_takes_exactly_its_range_and_then_trains(data):
    """Random values for every parameter of every registry entry: outside its declared
    range one line naming it; inside, the run trains to ok or diverged, never an error."""
    section, name, key, p = data.draw(st.sampled_from(REGISTRY))
    value = data.draw(_values(p))
    try:
        exp = config.from_dict(_config(section, name, key, value), "prop.yaml")
    except config.ConfigError as exc:
        (line,) = exc.problems
        assert line.startswith("prop.yaml") and key in line and len(line) <= 300
        if "would need" in line:  # lm's Jacobian above a tiny max_jacobian_mb: its limit
            return
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and section == "training.optimizer" and _wrong_together(name, key, value):
            return  # in range alone, but not with the other parameters at their defaults
        assert not (number and math.isfinite(value) and _inside(p, value)) or (
            p.integer and value != int(value)
        )
        return
    assert isinstance(value, int | float) and not isinstance(value, bool)
    assert math.isfinite(value) and _inside(p, value)
    rec = experiment.execute(exp, plots=False)
    assert rec.status in {"ok", "diverged"}, rec.error


# ----------------------------------------------------------------- sizes (flaw 4)


GRID = TINY + "sweep:\n  grid:\n"


def test_a_huge_grid_is_refused_at_once(write, tmp_path):
    values = ", ".join(str(i) for i in range(900))
    p = write(GRID + f"    training.seed: [{values}]\n    data.seed: [{values}]\n")
    for cmd in (["validate", p], ["sweep", p, "--out", tmp_path / "res"]):
        t0 = time.monotonic()
        r = invoke(*cmd)
        assert time.monotonic() - t0 < 5
        refused(r, "sweep.grid", "810,000 runs", "at most 10,000", "NNFIT_MAX_GRID_POINTS")
    r = invoke("sweep", write(TINY), "--seeds", "100000000", "--out", tmp_path / "res")
    refused(r, "--seeds 100000000", "NNFIT_MAX_GRID_POINTS")
    assert not (tmp_path / "res").exists()


def test_the_grid_limit_can_be_raised(write, monkeypatch):
    p = write(GRID + "    training.seed: [0, 1, 2, 3]\n")
    monkeypatch.setenv("NNFIT_MAX_GRID_POINTS", "3")
    with pytest.raises(config.ConfigError, match=r"4 training\.seed give 4 runs"):
        sw.expand(p)
    monkeypatch.setenv("NNFIT_MAX_GRID_POINTS", "4")
    assert len(sw.expand(p)[2]) == 4
    monkeypatch.setenv("NNFIT_MAX_GRID_POINTS", "lots")
    with pytest.raises(config.ConfigError, match="NNFIT_MAX_GRID_POINTS='lots'"):
        sw.expand(p)


@pytest.mark.parametrize("value", ["abc", "0", "0.5", "１０"])
def test_a_bad_limit_variable_is_named_not_the_file(write, tmp_path, monkeypatch, value):
    p = write(GRID)
    monkeypatch.setenv("NNFIT_MAX_HISTORY_MB", value)
    r = invoke("run", p, "--out", tmp_path / "res")
    refused(r, f"NNFIT_MAX_HISTORY_MB={value!r}: expected a positive whole number")
    assert str(p) not in r.stderr


def test_jobs_and_the_memory_of_a_sweep_are_bounded(write, tmp_path, monkeypatch):
    p = write(GRID + "    model.hidden: [[2], [3]]\n")
    r = invoke("sweep", p, "--jobs", "10000", "--out", tmp_path / "res")
    refused(r, "--jobs 10000", f"at most {2 * limits.cores()} jobs", "NNFIT_MAX_JOBS")
    big = write(
        GRID.replace("n_train: 64", "n_train: 1000000") + "    model.hidden: [[2], [3]]\n",
        "big.yaml",
    )
    _, _, pts = sw.expand(big)
    each = sw.run_mb(pts[0].exp)
    assert 30 < each < 60  # a million 1-D points and their targets
    monkeypatch.setenv("NNFIT_MAX_MEMORY_MB", str(int(1.5 * each)))
    sw.check_resources(pts, 1)  # one at a time fits
    with pytest.raises(config.ConfigError, match=r"2 runs at once .* would need about"):
        sw.check_resources(pts, 2)
    r = invoke("sweep", big, "--jobs", "2", "--out", tmp_path / "res")
    # the limit is the variable's, not "80% of this machine", the default's
    refused(r, f"at most {int(1.5 * each):,} MiB, as NNFIT_MAX_MEMORY_MB says")
    assert "this machine" not in r.stderr
    assert not (tmp_path / "res").exists()
    # nnfit.sweep() keeps both bounds too (jobs=40 ran 42 processes on 2 cores)
    import nnfit

    with pytest.raises(config.ConfigError, match=r"2 runs at once \(jobs=2\) would need"):
        nnfit.sweep(big, jobs=2, out=tmp_path / "api")
    monkeypatch.delenv("NNFIT_MAX_MEMORY_MB")
    with pytest.raises(config.ConfigError, match=r"^jobs=10000: .*NNFIT_MAX_JOBS"):
        nnfit.sweep(p, jobs=10000)
    assert not (tmp_path / "api").exists()


@pytest.mark.parametrize("dim", [11, 20, 24, 40, 64])
def test_a_grid_design_in_high_dimension_is_refused(write, dim):
    p = write(TINY.replace("sin(2*pi*x), dim: 1", f"x0, dim: {dim}"))
    with pytest.raises(config.ConfigError) as info:
        config.load(p, ["data.sampling=grid"])
    (line,) = info.value.problems
    assert line.startswith("--set data.sampling: grid in") and "use sampling: sobol" in line
    with pytest.raises(data.DataError, match="at most"):
        data.grid(10, dim + 20)  # a direct caller cannot allocate 2^d rows either


def test_history_is_bounded_when_early_stopping_is_off(write, monkeypatch):
    p = write(TINY)
    over = ["training.epochs=10000000", "training.early_stopping=null"]
    with pytest.raises(config.ConfigError) as info:
        config.load(p, over)
    (line,) = info.value.problems
    assert line.startswith("--set training.epochs: 10,000,000 epochs keep a history")
    assert "NNFIT_MAX_HISTORY_MB" in line
    monkeypatch.setenv("NNFIT_MAX_HISTORY_MB", "4000")
    assert config.load(p, over).training.epochs == 10_000_000


# ----------------------------------------------------------------- predict input


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("p")
    (base / "t.yaml").write_text(TINY.replace("dim: 1", "dim: 2").replace("2*pi*x", "x+y"))
    exp = config.load(base / "t.yaml")
    folder = base / "res" / exp.name / exp.run_id()
    results.write_run(experiment.execute(exp, plots=False), folder)
    return folder


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("0.1,0.2\nnan,0.3\n", ":2: column 1 is nan, not finite"),
        ("0.1,0.2\n0.3,inf\n", ":2: column 2 is inf, not finite"),
        ("0.1,0.2\n0.3,1e999\n", ":2: column 2 is 1e999, not finite"),
        ("0.1,0.2\n0.3,1e-999\n", ":2: column 2 is 1e-999, nearer 0 than the smallest float64"),
        ("0.1,0.2\n0.3\n", ":2: 1 column, the model takes 2"),
        ("0.1,0.2,0.3\n", ":1: 3 columns, the model takes 2"),
        ("a,b,c\n0.1,0.2\n", ":1: the header has 3 columns"),
        ("x,y\n0.1,zero\n", ":2: 'zero' is not a number"),
        ("0.1," + "1" * 200_000 + "\n", "line longer than"),
        ("x,y\n", "no points"),
        # a typo on the first line is a bad row, not a header to skip
        ("0.l,0.2\n0.3,0.4\n", ":1: '0.l' is not a number"),
        ("0.1;0.2\n", ":1: '0.1;0.2' is not a number"),
        ("0.1,0.2,\n", ":1: column 3 is empty"),
        ("0.1,1_000\n", ":1: '1_000' is not a number"),
        # names other than the inputs' would pair columns with coordinates by guess
        ("a,b\n0.1,0.2\n", ":1: the header names a, b; the model's inputs are x0, x1 or x, y"),
        ("x0,x0\n0.1,0.2\n", ":1: the header names x0, x0"),
        # a trailing comma after the header's names: it said "'x0' is not a number"
        ("x0,x1,\n0.1,0.2\n", ":1: column 3 of the header is empty"),
        ('"x0",\n0.1,0.2\n', ":1: column 2 of the header is empty"),
        # an unclosed quote: the 2-D header read "'x,y' is not a number", the 1-D one passed
        ('"x,y\n0.1,0.2\n', ':1: a quote (") is opened and not closed'),
        ('x,y\n0.1,"0.2\n', ':2: a quote (") is opened and not closed'),
        # another separator read as "'0.1\t0.2' is not a number" alone
        ("0.1\t0.2\n", "columns are separated by commas, not a tab"),
        ("0.1;0.2\n", "columns are separated by commas, not a semicolon"),
        ("x0\tx1\n0.1\t0.2\n", ":1: 'x0\\tx1' is not a number; columns are separated by commas"),
    ],
)
def test_bad_predict_input_is_refused_with_its_line(run_dir, tmp_path, text, expect):
    csv_in = tmp_path / "in.csv"
    csv_in.write_text(text)
    r = invoke("predict", run_dir, "--csv", csv_in, "--out", tmp_path / "o.csv")
    refused(r, f"{csv_in}", expect)
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("header", ["x1,x0", "y,x", "X1, X0", '"x1","x0"'])
def test_a_header_puts_its_columns_in_the_inputs_order(run_dir, tmp_path, header):
    swapped, plain = tmp_path / "swapped.csv", tmp_path / "plain.csv"
    swapped.write_text(f"{header}\n0.1,0.2\n0.7,0.3\n")
    plain.write_text("0.2,0.1\n0.3,0.7\n")
    a = invoke("predict", run_dir, "--csv", swapped)
    b = invoke("predict", run_dir, "--csv", plain)
    assert a.exit_code == b.exit_code == 0
    names = "x,y" if header == "y,x" else "x0,x1"  # as the header named them, in order
    assert a.stdout.splitlines()[0] == f"{names},g" and b.stdout.splitlines()[0] == "x0,x1,g"
    assert a.stdout.splitlines()[1:] == b.stdout.splitlines()[1:]
    assert a.stdout.splitlines()[1].startswith("0.2,0.1,")


def test_a_byte_order_mark_is_not_part_of_the_first_point(run_dir, tmp_path):
    csv_in = tmp_path / "in.csv"
    csv_in.write_bytes(b"\xef\xbb\xbf0.1,0.2\n0.3,0.4\n")
    r = invoke("predict", run_dir, "--csv", csv_in)
    assert r.exit_code == 0
    assert [ln.split(",")[:2] for ln in r.stdout.splitlines()[1:]] == [
        ["0.1", "0.2"],
        ["0.3", "0.4"],
    ]


@pytest.mark.parametrize(
    "x", ["nan,0.1", "0.1,inf", "0.1", "0.1,0.2,0.3", "0.1,", ",0.1", "0.1,1_000", "0.1,１"]
)
def test_bad_predict_points_are_refused(run_dir, x):
    refused(invoke("predict", run_dir, "--x", x), f"--x {x}")


def test_predict_reads_a_csv_in_chunks_with_the_same_answers(run_dir, tmp_path, monkeypatch):
    X = np.random.default_rng(0).uniform(size=(1000, 2))
    csv_in = tmp_path / "in.csv"
    csv_in.write_text("x0,x1\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in X))
    r = invoke("predict", run_dir, "--csv", csv_in)
    assert r.exit_code == 0
    monkeypatch.setattr(points, "CHUNK", 7)
    chunks = list(points.csv_chunks(csv_in, 2))
    assert len(chunks) == math.ceil(1000 / 7) and max(len(c) for c in chunks) == 7
    r2 = invoke("predict", run_dir, "--csv", csv_in)
    assert r2.exit_code == 0

    def table(text):
        return np.array([[float(v) for v in line.split(",")] for line in text.splitlines()[1:]])

    whole, chunked = table(r.stdout), table(r2.stdout)
    net, meta = results.load_model(run_dir)
    assert np.array_equal(whole[:, :2], X) and np.array_equal(chunked[:, :2], X)
    assert np.array_equal(whole[:, 2], results.predict(net, meta, X))
    # a matrix product of 7 rows may round differently from one of 1000: a few ulps
    np.testing.assert_allclose(chunked[:, 2], whole[:, 2], rtol=1e-13, atol=1e-15)


# ----------------------------------------------------------------- paths (flaw 5)


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "../x", "a/b"])
def test_names_that_leave_the_results_folder_are_refused(write, tmp_path, name):
    out = tmp_path / "inner" / "res"
    r = invoke("run", write(TINY), "--set", f"name={json.dumps(name)}", "--out", out)
    refused(r, "name")
    assert not (tmp_path / "inner").exists()
    r = invoke("validate", write(f"name: {json.dumps(name)}\n" + TINY.split("\n", 2)[2]))
    assert r.exit_code == 2 and "name" in r.stderr


def test_a_link_out_of_the_results_folder_is_refused(write, tmp_path):
    out, elsewhere = tmp_path / "res", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "tiny").symlink_to(elsewhere)
    r = invoke("run", write(TINY), "--out", out, "--quiet")
    refused(r, "which is not inside the results folder")
    r = invoke("sweep", write(GRID + "    model.hidden: [[2]]\n"), "--out", out, "--quiet")
    refused(r, "which is not inside the results folder")
    assert not list(elsewhere.iterdir())


@pytest.mark.parametrize("parts", [(".",), ("..",), ("a", ".."), ("",), ("a/b",), ("x\x00",)])
def test_inside_refuses_what_resolves_elsewhere(tmp_path, parts):
    with pytest.raises(results.ResultsError):
        results.inside(tmp_path, *parts)
    assert results.inside(tmp_path, "a", "b") == tmp_path / "a" / "b"


# ----------------------------------------------------------------- grids (flaw 6)


@pytest.mark.parametrize(
    ("entry", "expect"),
    [
        ("training.optimizer.lr: [1e-3, 0.001]", "0.001 is listed twice"),
        ("training.seed: [0, 0.0]", "0 and 0.0 give the same run"),
        ("model.hidden: [[8], [8]]", "[8] is listed twice"),
        ("data.noise: [0, 0.0]", "0 and 0.0 give the same run"),
    ],
)
def test_duplicate_grid_points_are_refused_at_their_line(write, entry, expect):
    body = GRID + f"    model.activation: [tanh, relu]\n    {entry}\n"
    p = write(body)
    line = body.splitlines().index(f"    {entry}") + 1
    r = invoke("validate", p)
    assert r.exit_code == 2
    assert r.stderr.startswith(f"{p}:{line}: sweep.grid.") and expect in r.stderr, r.stderr


# ----------------------------------------------------------------- the Also list


def _server(reply: bytes | None):
    """A local TCP server that is not a Dask scheduler: silent, or answering ``reply``."""
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            if reply:
                conn.sendall(reply)
            stop.wait(2)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv, stop


@pytest.mark.parametrize(
    ("kind", "expect"),
    [
        ("not an address", "expected 'local' or a scheduler address"),
        ("port 99999", "expected 'local' or a scheduler address"),
        ("closed port", "cannot connect"),
        ("silent server", "not a Dask scheduler (no greeting"),
        ("web server", "not a Dask scheduler (it says b'HTTP/1.1'"),
        ("huge frame", "not a Dask scheduler"),
    ],
)
def test_a_dask_address_that_is_no_scheduler_is_one_line_in_bounded_time(
    write, tmp_path, monkeypatch, kind, expect
):
    monkeypatch.setattr(workers, "PROBE_TIMEOUT", 0.5)
    srv = stop = None
    if kind == "not an address":
        address = "not an address"
    elif kind == "port 99999":
        address = "tcp://127.0.0.1:99999"
    elif kind == "closed port":
        s = socket.create_server(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
        s.close()
    else:
        reply = {
            "silent server": None,
            "web server": b"HTTP/1.1 400 Bad Request\r\n\r\n",
            "huge frame": (2**62).to_bytes(8, "little"),
        }[kind]
        srv, stop = _server(reply)
        address = f"tcp://127.0.0.1:{srv.getsockname()[1]}"
    try:
        t0 = time.monotonic()
        p = write(GRID + "    model.hidden: [[2]]\n")
        r = invoke("sweep", p, "--dask", address, "--out", tmp_path / "res")
        assert time.monotonic() - t0 < 5
    finally:
        if srv is not None:
            stop.set()
            srv.close()
    refused(r, "--dask", expect)
    assert not (tmp_path / "res").exists()


def test_a_401_digit_integer_in_a_formula(write, tmp_path):
    r = invoke("run", write(TINY.replace("sin(2*pi*x)", "1" * 401 + "*x")), "--out", tmp_path / "r")
    refused(r, "target.expr", "401 digits is too large")


def test_a_target_whose_errors_overflow_is_said_to_be_so_not_diverged(write, tmp_path):
    out = tmp_path / "res"
    r = invoke("run", write(TINY.replace("sin(2*pi*x)", "exp(709*x)")), "--out", out)
    refused(r, "target.expr", "target values reach", "overflow")
    assert not out.exists()
    # and the mirror case: squared errors of 1e-200 underflow, an error would read as 0
    r = invoke("run", write(TINY.replace("sin(2*pi*x)", "1e-200*x")), "--out", out)
    refused(r, "target.expr", "target values are at most 9.98e-201 in size", "underflow")
    assert not out.exists()
    r = invoke(
        "run",
        write(TINY.replace("sin(2*pi*x)", "1e20*x")),
        "--set",
        "data.scale_y=none",
        "--set",
        "training.dtype=float32",
        "--out",
        out,
    )
    refused(r, "overflow float32")


@pytest.mark.parametrize("n", ["0", "-3", "1000000000"])
def test_gradcheck_points_must_be_positive_and_bounded(write, n):
    r = invoke("gradcheck", write(TINY), "--points", n)
    assert r.exit_code == 2 and "Traceback" not in r.output and "--points" in r.output


long_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=300, max_size=3000
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.sampled_from(["key", "value", "name", "expr", "file key", "grid key"]),
    text=long_text,
)
def test_an_error_line_is_never_longer_than_300_characters(tmp_path_factory, where, text):
    base = tmp_path_factory.mktemp("l")
    p = base / "e.yaml"
    args = []
    body = TINY
    if where == "key":
        args = ["--set", f"training.{text}=1"]
    elif where == "value":
        args = ["--set", f"training.epochs={json.dumps(text)}"]
    elif where == "name":
        args = ["--set", f"name={json.dumps(text)}"]
    elif where == "expr":
        body = TINY.replace("sin(2*pi*x)", json.dumps(text)[1:-1].replace("'", ""))
    elif where == "file key":
        body = TINY + f"{json.dumps(text)}: 1\n"
    else:
        body = GRID + f"    {json.dumps(text)}: [1]\n"
    p.write_text(body)
    r = invoke("validate", p, *args) if not args else invoke("run", p, "--out", base, *args)
    assert "Traceback" not in r.output
    assert all(len(line) <= 300 for line in r.stderr.splitlines()), r.stderr


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("[Chebyshev]", "entry 1: did you mean 'chebyshev'?"),
        ("[1]", "entry 1: allowed chebyshev, pwlinear, random_features"),
        ("chebyshev", "got 'chebyshev' (write [chebyshev])"),
        ("[chebyshev, foo]", "entry 2: allowed"),
        ("true", "expected a list of chebyshev, pwlinear, random_features"),
    ],
)
def test_a_bad_baseline_is_one_line(write, tmp_path, value, says):
    r = invoke("run", write(TINY), "--set", f"baselines={value}", "--out", tmp_path / "res")
    refused(r, "--set baselines", says)


def test_least_squares_needs_the_squared_loss(write, tmp_path):
    r = invoke(
        "run", write(TINY), "--set", "training.output_layer=lstsq", "--set", "training.loss=mae"
    )
    refused(r, "lstsq minimises squared errors: it needs loss mse (got mae)")


@pytest.mark.parametrize(
    ("sets", "says"),
    [
        # random features on 2,000,000 points of 4,000 units: the features alone are
        # 64 GB, which the check let through because the solve had no ridge
        (
            ["data.n_train=2000000", "model.hidden=[4000]", "training.epochs=0"],
            "lstsq solves for 4,001 output weights on 2,000,000 points, about 122,101 MiB; "
            "at most 4,096 MiB: use fewer points or a narrower last hidden layer",
        ),
        (
            ["model.hidden=[6000]", "training.epochs=3"],
            "6,001 output weights on 64 points with a ridge (as it does when training "
            "follows or l2 > 0), each solve a dense factorisation no Ctrl-C interrupts; at "
            "most 4,097 weights",
        ),
    ],
)
def test_a_least_squares_layer_too_large_to_solve_is_refused(write, tmp_path, sets, says):
    sets = ["training.output_layer=lstsq", "data.n_val=0", *sets]
    r = invoke(
        "run", write(TINY), *[a for s in sets for a in ("--set", s)], "--out", tmp_path / "res"
    )
    refused(r, "--set training.output_layer: ", says)
    assert not (tmp_path / "res").exists()
    ok = ["data.n_train=2000000", "model.hidden=[1000]", "training.epochs=0"]  # 30 GB: no
    r = invoke(
        "validate",
        write(TINY),
        *[a for s in ["training.output_layer=lstsq", *ok] for a in ("--set", s)],
    )
    assert r.exit_code == 2 and "about 30,548 MiB" in r.stderr
    r = invoke(
        "validate",
        write(TINY),
        "--set",
        "training.output_layer=lstsq",
        "--set",
        "model.hidden=[6000]",
        "--set",
        "training.epochs=0",
    )
    assert r.exit_code == 0, r.output  # 64 points: no ridge, no training, a quick solve


def test_a_number_is_a_constant_formula(write, tmp_path):
    # `expr: 1` is YAML's number 1; as a formula it is the constant target 1
    r = invoke("run", write(TINY), "--set", "target.expr=1", "--out", tmp_path / "res")
    assert r.exit_code == 0, r.output
    run = next((tmp_path / "res" / "tiny").iterdir())
    m = json.loads((run / "metrics.json").read_text())
    assert m["status"] == "ok" and "expr: '1'" in (run / "config.yaml").read_text()


def test_a_limit_raised_past_what_the_machine_can_hold_is_refused(write, tmp_path, monkeypatch):
    # 10^20 jobs was an OverflowError from multiprocessing, 10^10 seeds a MemoryError
    p = write(GRID + "    model.hidden: [[2], [4]]\n")
    monkeypatch.setenv("NNFIT_MAX_JOBS", "99999999999999999999")
    r = invoke("sweep", p, "--jobs", "99999999999999999999", "--out", tmp_path / "res")
    refused(r, "NNFIT_MAX_JOBS=99999999999999999999: at most 1,024 jobs")
    monkeypatch.delenv("NNFIT_MAX_JOBS")
    monkeypatch.setenv("NNFIT_MAX_GRID_POINTS", "100000000000")
    r = invoke("sweep", p, "--seeds", "10000000000", "--out", tmp_path / "res")
    refused(r, "NNFIT_MAX_GRID_POINTS=100000000000: at most 1,000,000 runs")
    assert not (tmp_path / "res").exists()


def test_a_sweep_counts_the_jacobian_of_each_lm_run(monkeypatch):
    # two lm runs whose J, JᵀJ and factor each took most of the machine went at once
    from nnfit.engine.gauss_newton import jacobian_mb

    base = {"target": {"name": "sine"}, "data": {"n_train": 1024}}
    train = {"epochs": 2}
    lm = config.from_dict(
        {**base, "model": {"hidden": [400]}, "training": {**train, "optimizer": "lm"}}
    )
    lbfgs = config.from_dict(  # full batch too, without a Jacobian
        {**base, "model": {"hidden": [400]}, "training": {**train, "optimizer": "lbfgs"}}
    )
    jac = jacobian_mb(1024, 1201)
    assert sw.run_mb(lm) == pytest.approx(sw.run_mb(lbfgs) + jac)
    monkeypatch.setenv("NNFIT_MAX_MEMORY_MB", str(int(2 * sw.run_mb(lbfgs) + jac)))
    pts = [sw.Point((("training.seed", k),), lm, Path(f"r{k}")) for k in range(2)]
    sw.check_resources(pts, 1)  # one at a time fits
    with pytest.raises(config.ConfigError, match=r"2 runs at once .* would need about"):
        sw.check_resources(pts, 2)


@pytest.mark.parametrize(
    ("extra", "sets", "expect"),
    [
        # pydantic's "unable to parse input string as an integer, exceeded maximum size"
        ("", ["training.seed=1e20"], "--set training.seed: must be a whole number below 2**63"),
        # a check of the whole file blamed on --set said "(top level):"
        ("", ["model.hidden=[10000,10000,10000]"], "--set model.hidden: model.hidden [10000"),
        ("sweep: {grid: {}}\n", [], ":6: sweep.grid: is empty: give a key and its values"),
        ("---\nname: two\n", [], ":6: a second YAML document (after '---'): an experiment"),
    ],
)
def test_messages_say_what_is_wrong_in_the_files_terms(tmp_path, extra, sets, expect):
    f = tmp_path / "e.yaml"
    f.write_text(TINY.lstrip() + extra)
    args = [a for s in sets for a in ("--set", s)]
    r = invoke("validate", f, *args)
    refused(r, expect)
    assert "(top level)" not in r.stderr


def test_a_mapping_given_by_set_for_a_key_names_the_key_once(tmp_path):
    f = tmp_path / "e.yaml"
    f.write_text(TINY.replace("{expr: sin(2*pi*x), dim: 1}", "{name: sine}"))
    r = invoke("validate", f, "--set", "target.expr=lambda: 1")
    # it read "--set target.expr: target.expr: input should be …"
    refused(r, "--set target.expr: input should be a valid string, got {'lambda': 1}")


def test_a_formula_never_finite_and_xyz_in_4d_are_said_as_such(tmp_path):
    f = tmp_path / "e.yaml"
    f.write_text(TINY.replace("sin(2*pi*x)", "1/0"))
    refused(
        invoke("validate", f),
        "target is not finite at any of the 64 training points (F = inf at each)",
    )
    f.write_text(TINY.replace("sin(2*pi*x), dim: 1", "x + y, dim: 4"))
    refused(invoke("validate", f), "(x, y, z name the variables up to 3-D; in 4-D write x0 … x3)")
