"""Every command through typer's CliRunner: successes, failures, exit codes, files."""

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import TINY
from typer.testing import CliRunner

from nnfit.cli import app
from nnfit.display import failure
from nnfit.experiment import config
from nnfit.experiment import rundir as results
from nnfit.experiment import runner as experiment

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def help_text(*cmd) -> str:
    """A command's --help as one line (typer draws it in a box, wrapped)."""
    import re

    return re.sub(r"[\s│]+", " ", invoke(*cmd, "--help").stdout)


def only_run(out):
    runs = results.find_runs(out)
    assert len(runs) == 1
    return runs[0]


def test_predict_names_odd_run_folders_on_one_line(tmp_path):
    # a folder named with a newline broke the line in two
    exp = tmp_path / "exp"
    for name in ("new\nline", "sweep-0"):
        (exp / name).mkdir(parents=True)
    (exp / "new\nline" / "metrics.json").write_text("{}")
    r = invoke("predict", exp, "--x", "0.5")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    assert r.stderr.rstrip().endswith("run folders in it: " + str(exp / "new\\nline"))
    # an experiment's folder of sweeps: the first sweep that holds runs is named
    (exp / "new\nline" / "metrics.json").unlink()
    (exp / "sweep-1" / "w2-s0").mkdir(parents=True)
    (exp / "sweep-1" / "w2-s0" / "metrics.json").write_text("{}")
    r = invoke("predict", exp, "--x", "0.5")
    assert r.stderr.rstrip().endswith("run folders in it: " + str(exp / "sweep-1" / "w2-s0"))


def test_run_without_figures_writes_the_rest(write, tmp_path):
    out = tmp_path / "res"
    r = invoke("run", write(TINY), "--out", out, "--quiet", "--no-figures")
    assert r.exit_code == 0, r.output
    run_dir = only_run(out)
    names = {p.name for p in run_dir.iterdir()}
    assert names == {"config.yaml", "metrics.json", "history.csv", "model.npz", "data.npz"}
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["status"] == "ok" and set(m["files"]) == names - {"metrics.json"}


def test_a_run_says_when_it_replaces_the_earlier_run_of_its_config(write, tmp_path, monkeypatch):
    # trained again with --no-figures, it swapped out the earlier folder's plots unsaid
    from nnfit.experiment import runner

    out, p = tmp_path / "res", write(TINY)
    monkeypatch.setattr(runner, "draw_figures", lambda *a: ({"fit.png": b"png"}, []))
    first = invoke("run", p, "--out", out, "--quiet")
    assert "replaces" not in first.stdout and (only_run(out) / "fit.png").exists()
    again = " ".join(invoke("run", p, "--out", out, "--quiet", "--no-figures").stdout.split())
    assert again.endswith(
        "(replaces the earlier run of this config and its figures; without --no-figures "
        "it draws them)"
    )
    assert not (only_run(out) / "fit.png").exists()
    third = " ".join(invoke("run", p, "--out", out, "--quiet", "--no-figures").stdout.split())
    assert third.endswith(
        "/tiny/" + only_run(out).name + " (replaces the earlier run of this config)"
    )


def test_run_writes_every_file(write, tmp_path):
    out = tmp_path / "res"
    r = invoke("run", write(TINY), "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    run_dir = only_run(out)
    assert run_dir.parent.name == "tiny" and run_dir.name.startswith("w8-tanh-adam-s0-")
    assert f"results: {run_dir}" in r.stdout.replace("\n", "")
    names = {p.name for p in run_dir.iterdir()}
    assert names == {
        "config.yaml",
        "metrics.json",
        "history.csv",
        "model.npz",
        "data.npz",
        "fit.png",
        "loss.png",
        "gradients.png",
    }
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["status"] == "ok" and m["epochs"] == 20 and m["steps"] == 20 * 4
    assert m["n_params"] == 8 + 8 + 8 + 1
    assert set(m["test"]) == {"mse", "rmse", "mae", "max_abs", "rel_l2", "r2"}
    assert m["config_hash"].startswith(run_dir.name[-8:])
    assert set(m["versions"]) == {"nnfit", "numpy", "python"}
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert cfg["training"]["optimizer"]["beta2"] == 0.999
    head = (run_dir / "history.csv").read_text().splitlines()
    assert head[0] == "epoch,train_loss,val_loss,lr,grad_norm_0,grad_norm_1,wall_s"
    assert len(head) == 1 + 21
    with np.load(run_dir / "model.npz") as z:
        assert set(z.files) == {"W0", "b0", "W1", "b1", "meta"} and z["W0"].shape == (1, 8)
        assert json.loads(str(z["meta"]))["scale_y"]["kind"] == "standard"
    with np.load(run_dir / "data.npz") as z:
        assert z["X_train"].shape == (64, 1) and z["y_val"].shape == (16,)


def test_same_config_same_weights_and_metrics(write, tmp_path):
    p = write(TINY)
    first = experiment.execute(config.load(p))
    second = experiment.execute(config.load(p))
    for k in first.model:
        if k != "meta":
            assert np.array_equal(first.model[k], second.model[k])
    assert first.metrics == second.metrics


def test_predict_matches_the_in_memory_model(write, tmp_path):
    p = write(TINY)
    out = tmp_path / "res"
    assert invoke("run", p, "--out", out, "--quiet").exit_code == 0
    rec = experiment.execute(config.load(p))
    net, meta = results.load_model(only_run(out))
    X = np.array([[0.1], [0.25], [0.9]])
    from nnfit.experiment.data import Scaler

    sc = Scaler(**{k: v for k, v in rec.model["meta"]["scale_y"].items()})
    mem = net.predict(X)[0, :, 0]
    assert np.array_equal(
        experiment.predict_unscaled(
            type(net).from_arrays(
                rec.model["meta"],
                [(rec.model["W0"], rec.model["b0"]), (rec.model["W1"], rec.model["b1"])],
            ),
            sc,
            X,
        )[0],
        mem * meta["scale_y"]["scale"] + meta["scale_y"]["shift"],
    )
    r = invoke("predict", only_run(out), "--x", "0.1", "--x", "0.25", "--x", "0.9")
    assert r.exit_code == 0, r.output
    rows = [line.split(",") for line in r.stdout.strip().splitlines()]
    assert rows[0] == ["x", "g"]
    got = np.array([float(row[1]) for row in rows[1:]])
    assert np.array_equal(got, results.predict(net, meta, X))
    csv_in = tmp_path / "in.csv"
    csv_in.write_text("x\n0.1\n0.25\n0.9\n")
    r = invoke("predict", only_run(out), "--csv", csv_in, "--out", tmp_path / "pred.csv")
    assert r.exit_code == 0
    written = (tmp_path / "pred.csv").read_text()  # the file's header named its input x
    assert written == "\n".join(",".join(rw) for rw in [["x", "g"], *rows[1:]]) + "\n"


def test_predict_bad_input(write, tmp_path):
    out = tmp_path / "res"
    invoke("run", write(TINY), "--out", out, "--quiet")
    assert invoke("predict", tmp_path).exit_code == 2  # not a run folder
    # an experiment's folder given for a run's names the runs in it
    r = invoke("predict", out / "tiny", "--x", "0.5")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    assert (
        f"not a run folder (no metrics.json or model.npz); run folders in it: {only_run(out)}"
        in r.stderr
    )
    r = invoke("predict", only_run(out), "--x", "a,b")
    assert r.exit_code == 2 and "expected numbers" in r.stderr
    assert invoke("predict", only_run(out)).exit_code == 2
    csv_in = tmp_path / "in.csv"
    csv_in.write_text("x\n0.5\n")
    r = invoke("predict", only_run(out), "--x", "0.1", "--csv", csv_in)  # --csv was ignored
    assert r.exit_code == 2 and "--x or with --csv, not both" in r.stderr
    r = invoke("report", out, "--csv", "--json")  # --csv was ignored
    assert r.exit_code == 2 and "--csv or --json, not both" in r.stderr
    r = invoke("predict", only_run(out), "--x", "0.5", "--out", csv_in / "p.csv")
    assert r.exit_code == 2 and "a folder on its path is a file" in r.stderr  # "File exists"
    r = invoke("report", csv_in)
    assert r.exit_code == 2 and f"{csv_in}: not a folder" in r.stderr  # "no such folder"


def test_predict_says_how_many_values_overflow(write, tmp_path):
    # g ≈ 1.6x − 0.8 is inf at x = 1.5e308: printed with NumPy's RuntimeWarning lines before
    p = write("""
        name: line
        target: {expr: 2*x - 1}
        data: {n_train: 50, n_val: 0, n_test: 100, scale_y: none}
        model: {hidden: []}
        training: {optimizer: {name: gd, lr: 0.5}, epochs: 50}
    """)
    invoke("run", p, "--out", tmp_path / "res", "--quiet")
    r = invoke("predict", only_run(tmp_path / "res"), "--x", "0.5", "--x", "1.5e308")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[2] == "1.5e+308,inf"
    assert "RuntimeWarning" not in r.stderr
    assert "warning: 1 of 2 predictions are not finite" in r.stderr.replace("\n", " ")


def test_a_linear_model_fits_a_linear_target_exactly(write, tmp_path):
    p = write("""
        name: line
        target: {expr: 2*x - 1}
        data: {n_train: 50, n_val: 0, n_test: 1000, scale_y: none}
        model: {hidden: []}
        training: {optimizer: {name: gd, lr: 0.5}, epochs: 5000, early_stopping: null}
    """)
    r = invoke("run", p, "--out", tmp_path / "res", "--quiet")
    assert r.exit_code == 0, r.output
    m = results.read_metrics(only_run(tmp_path / "res"))
    assert m["test"]["max_abs"] < 1e-9 and m["test"]["r2"] == pytest.approx(1.0)
    with np.load(only_run(tmp_path / "res") / "model.npz") as z:
        assert z["W0"][0, 0] == pytest.approx(2.0) and z["b0"][0] == pytest.approx(-1.0)


def test_epsilon_records_the_first_epoch_it_is_met(write, tmp_path):
    p = write(
        TINY.replace("sin(2*pi*x)", "x**2").replace(
            "epochs: 20", "epochs: 300, early_stopping: null"
        )
    )
    plain = experiment.execute(config.load(p))
    final = plain.metrics["test"]["max_abs"]
    eps = 1.5 * final
    rec = experiment.execute(config.load(p, [f"training.epsilon={eps}"]))
    assert rec.metrics_json()["epsilon"] == eps
    assert 0 < rec.epsilon_reached_epoch <= rec.epochs
    # stopping the same run at the recorded epoch meets the goal; one epoch earlier does not
    at = experiment.execute(config.load(p, [f"training.epochs={rec.epsilon_reached_epoch}"]))
    before = experiment.execute(
        config.load(p, [f"training.epochs={rec.epsilon_reached_epoch - 1}"])
    )
    assert at.metrics["test"]["max_abs"] < eps <= before.metrics["test"]["max_abs"]


def test_a_diverging_run_exits_3_with_finite_weights(write, tmp_path):
    p = write(
        TINY.replace("{name: adam, lr: 0.01}", "{name: sgd, lr: 1000.0}").replace(
            "activation: tanh", "activation: relu"
        )
    )
    r = invoke("run", p, "--out", tmp_path / "res", "--quiet")
    assert r.exit_code == 3
    run_dir = only_run(tmp_path / "res")
    m = results.read_metrics(run_dir)
    assert m["status"] == "diverged" and m["stop_reason"] == "diverged"
    with np.load(run_dir / "model.npz") as z:
        assert all(np.all(np.isfinite(z[k])) for k in z.files if k != "meta")
    # predict evaluates it, but says what the values are (they came with exit 0, unmarked)
    r = invoke("predict", run_dir, "--x", "0.5")
    assert r.exit_code == 0 and r.stdout.startswith("x,g\n0.5,")
    # the epoch it diverged in, as the run's summary says it (it said 'at epoch 2' of a
    # run whose summary said 'diverged in epoch 3')
    epochs, best = m["epochs"], m["best_epoch"]
    kept = f"epoch {best}" if best else "as initialised, epoch 0"
    assert r.stderr.strip() == (
        f"warning: {run_dir}: training diverged in epoch {epochs + 1}; "
        f"these are the values of the weights it kept ({kept})"
    )
    assert f"diverged in epoch {epochs + 1}" in failure(m)


def test_predict_refuses_to_write_over_its_own_points(made_run, tmp_path):
    pts = tmp_path / "in.csv"
    pts.write_text("x\n0.1\n0.2\n")
    for out in (pts, tmp_path / "." / "in.csv"):
        r = invoke("predict", made_run, "--csv", pts, "--out", out)
        assert r.exit_code == 2 and "is the --csv file" in r.stderr
        assert pts.read_text() == "x\n0.1\n0.2\n"  # the points survive
    r = invoke("predict", made_run, "--csv", pts, "--out", tmp_path / "g.csv")
    assert r.exit_code == 0 and (tmp_path / "g.csv").read_text().startswith("x,g\n0.1,")
    assert "wrote 2 predictions to" in r.stderr + r.stdout


def test_predict_out_in_a_folder_that_does_not_exist_is_refused(made_run, tmp_path):
    # a typo in --out made the folders it named
    r = invoke("predict", made_run, "--x", "0.5", "--out", tmp_path / "nope" / "deeper" / "p.csv")
    assert r.exit_code == 2 and "folder " in r.stderr and "does not exist" in r.stderr
    assert not (tmp_path / "nope").exists()
    r = invoke("predict", made_run, "--x", "0.5", "--out", tmp_path / "one.csv")
    assert r.exit_code == 0 and "wrote 1 prediction to" in r.stderr + r.stdout


def test_set_overrides_from_the_command_line(write, tmp_path):
    r = invoke(
        "run",
        write(TINY),
        "--out",
        tmp_path / "r",
        "--quiet",
        "--set",
        "model.hidden=[3,2]",
        "--set",
        "training.epochs=2",
    )
    assert r.exit_code == 0, r.output
    run_dir = only_run(tmp_path / "r")
    assert run_dir.name.startswith("w3x2-tanh-adam-s0-")
    assert results.read_metrics(run_dir)["epochs"] == 2


def test_progress_lines_when_not_a_terminal(write, tmp_path):
    r = invoke("run", write(TINY), "--out", tmp_path / "r")
    assert r.exit_code == 0
    assert "tiny: epoch 20/20" in r.stdout and "rmse" in r.stdout


def test_validate(write, tmp_path):
    good = write(TINY, "good.yaml")
    bad = write("target: {expr: x}\nmodel: {hiden: [3]}\ntraining: {epochs: -1}\n", "bad.yaml")
    r = invoke("validate", good)
    assert r.exit_code == 0 and "good.yaml: ok" in r.stdout
    r = invoke("validate", good, bad)
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and "bad.yaml:2: model.hiden" in lines[0]
    assert "bad.yaml:3: training.epochs" in lines[1]


def test_gradcheck_passes_and_fails(write, monkeypatch):
    p = write(
        TINY.replace("hidden: [8]", "hidden: [6, 5]").replace(
            "activation: tanh", "activation: [sigmoid, softplus]"
        )
    )
    r = invoke("gradcheck", p, "--set", "training.l2=0.01")
    assert r.exit_code == 0, r.output
    assert "ok" in r.stdout and r.stdout.count("×") == 3
    import dataclasses

    from nnfit.engine import activations

    wrong = dataclasses.replace(
        activations.ACTIVATIONS["sigmoid"], df=lambda z, a: a, fast_backward=None
    )
    monkeypatch.setitem(activations.ACTIVATIONS, "sigmoid", wrong)  # a wrong derivative
    r = invoke("gradcheck", p)
    assert r.exit_code == 3 and "FAILED" in r.stdout
    assert invoke("gradcheck", p.parent / "missing.yaml").exit_code == 2


def test_gradcheck_passes_saturated_units_that_finite_differences_cannot_resolve(write):
    # bias 10 on 64 tanh units in 5-D: central differences at h = 1e-6 are 1.2e-6 off the
    # first layer's (correct) gradient, and as far off those at 2h
    p = write(
        "name: sat\ntarget: {name: sine_product, dim: 5}\n"
        "data: {n_train: 512, sampling: sobol, n_test: 200}\n"
        "model: {hidden: [64], activation: tanh, bias: 10}\n"
    )
    r = invoke("gradcheck", p)
    assert r.exit_code == 0, r.output
    assert "layer 0: finite differences resolve only" in r.stdout
    assert "(tolerance 1e-06): ok" in r.stdout


def test_gradcheck_checks_each_network_of_a_sweep_grid(write, monkeypatch):
    """It checked the file's base network only: a grid over activations had its other
    networks unchecked, and a wrong derivative there passed."""
    grid = "sweep:\n  grid:\n    model.activation: [tanh, sigmoid]\n    training.seed: [0, 1]\n"
    p = write(TINY + grid)
    r = invoke("gradcheck", p)
    assert r.exit_code == 0, r.output
    # one row for sigmoid (the seeds do not make another network; tanh is the base)
    rows = [line for line in r.stdout.splitlines() if "model.activation=" in line]
    assert (
        len(rows) == 1
        and "model.activation=sigmoid," in rows[0]
        and rows[0].rstrip(" │").endswith("ok")
    )
    # its caption says what its backprop column holds (it read as one reference's error)
    said = " ".join(r.stdout.split())
    assert "backprop: its largest relative error against the three references above" in said
    assert "Jacobian: the per-sample Jacobian (lm's) against finite differences" in said
    import dataclasses

    from nnfit.engine import activations

    wrong = dataclasses.replace(
        activations.ACTIVATIONS["sigmoid"], df=lambda z, a: a, fast_backward=None
    )
    monkeypatch.setitem(activations.ACTIVATIONS, "sigmoid", wrong)  # only in the grid
    r = invoke("gradcheck", p)
    assert r.exit_code == 3 and "FAILED" in r.stdout
    assert "(tolerance 1e-06): ok" in r.stdout  # the base network itself is fine


def test_targets_schema_and_module_entry_point():
    r = invoke("targets")
    assert r.exit_code == 0 and "franke" in r.stdout and "runge" in r.stdout
    r = invoke("schema")
    s = json.loads(r.stdout)
    assert r.exit_code == 0 and "target" in s["properties"] and s["required"] == ["target"]
    p = subprocess.run(
        [sys.executable, "-m", "nnfit", "--help"], capture_output=True, text=True, check=False
    )
    assert p.returncode == 0 and "gradcheck" in p.stdout


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["run"], "error: nnfit run: Missing argument 'file'; see 'nnfit run --help'"),
        (
            ["sweep", "e.yaml", "--jobs", "x"],
            "error: nnfit sweep: Invalid value for '--jobs': Input should be a valid integer, "
            "unable to parse string as an integer; see 'nnfit sweep --help'",
        ),
        (["bogus"], "error: nnfit: No such command 'bogus'; see 'nnfit --help'"),
        # the missing value of a last option named "nnfit", not the command
        (
            ["run", "e.yaml", "--out"],
            "error: nnfit run: Option '--out' requires an argument; see 'nnfit run --help'",
        ),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(args, line):
    # was a usage line, a hint and a boxed message over five lines
    p = subprocess.run(
        [sys.executable, "-m", "nnfit", *args], capture_output=True, text=True, check=False
    )
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.splitlines() == [line]


def test_plain_nnfit_shows_its_help_and_exits_2():
    p = subprocess.run([sys.executable, "-m", "nnfit"], capture_output=True, text=True)
    assert p.returncode == 2 and "Usage: nnfit" in p.stdout and "sweep" in p.stdout


def test_report(write, tmp_path):
    out = tmp_path / "res"
    invoke("run", write(TINY), "--out", out, "--quiet")
    r = invoke("report", out)
    assert r.exit_code == 0 and "tiny" in r.stdout
    rows = json.loads(invoke("report", out, "--json").stdout)
    assert len(rows) == 1 and rows[0]["status"] == "ok" and rows[0]["test_rmse"] > 0
    csv = invoke("report", out, "--csv").stdout.splitlines()
    assert csv[0].startswith("kind,path,name,status") and len(csv) == 2
    assert invoke("report", tmp_path / "nope").exit_code == 2


# ------------------------------------------------------------------------- bad input

BASE = "target: {expr: sin(2*pi*x)}\ntraining: {epochs: 2}\n"

BAD_FILES = {
    "yaml syntax": ("target: [unclosed\n", "YAML syntax error"),
    "empty": ("", "empty"),
    "list at top": ("- a\n- b\n", "expected a mapping"),
    "scalar at top": ("hello\n", "expected a mapping"),
    "no target": ("name: x\n", "target: required key is missing"),
    "unknown top key": ("targt: {expr: x}\n", "unknown key"),
    "unknown nested key": (BASE + "model: {hiden: [3]}\n", "did you mean 'hidden'"),
    "unknown early stopping key": (
        BASE.replace("{epochs: 2}", "{early_stopping: {patiense: 3}}"),
        "did you mean 'patience'",
    ),
    "misspelt optimizer param": (
        BASE.replace("{epochs: 2}", "{optimizer: {name: sgd, lrr: 1}}"),
        "did you mean 'lr'",
    ),
    "epochs wrong type": (BASE.replace("2}", "many}"), "training.epochs"),
    "epochs negative": (BASE.replace("2}", "-5}"), "training.epochs"),
    "negative width": (BASE + "model: {hidden: [-4]}\n", "model.hidden.0"),
    "zero width": (BASE + "model: {hidden: [0]}\n", "model.hidden.0"),
    "hidden not a list": (BASE + "model: {hidden: wide}\n", "model.hidden"),
    "lr negative": (BASE.replace("{epochs: 2}", "{optimizer: {name: adam, lr: -1}}"), "lr"),
    "lr zero": (BASE.replace("{epochs: 2}", "{optimizer: {name: adam, lr: 0}}"), "lr"),
    "l2 negative": (BASE.replace("{epochs: 2}", "{l2: -0.1}"), "training.l2"),
    "l1 a string": (BASE.replace("{epochs: 2}", "{l1: lots}"), "training.l1"),
    "n_train zero": (BASE + "data: {n_train: 0}\n", "data.n_train"),
    "noise negative": (BASE + "data: {noise: -1}\n", "data.noise"),
    "batch zero": (BASE.replace("{epochs: 2}", "{batch_size: 0}"), "training.batch_size"),
    "batch half": (BASE.replace("{epochs: 2}", "{batch_size: half}"), "training.batch_size"),
    "clip negative": (BASE.replace("{epochs: 2}", "{clip_norm: -1}"), "training.clip_norm"),
    "epsilon zero": (BASE.replace("{epochs: 2}", "{epsilon: 0}"), "training.epsilon"),
    "patience zero": (BASE.replace("{epochs: 2}", "{early_stopping: {patience: 0}}"), "patience"),
    "unknown activation": (BASE + "model: {activation: tanhh}\n", "did you mean 'tanh'"),
    "unknown output": (BASE + "model: {output: softmax}\n", "model.output"),
    "unknown loss": (BASE.replace("{epochs: 2}", "{loss: mse2}"), "did you mean 'mse'"),
    "unknown optimizer": (BASE.replace("{epochs: 2}", "{optimizer: adamm}"), "did you mean 'adam'"),
    "unknown schedule": (BASE.replace("{epochs: 2}", "{schedule: cosin}"), "did you mean 'cosine'"),
    "unknown init": (BASE + "model: {init: xavier}\n", "model.init"),
    "unknown sampling": (BASE + "data: {sampling: latin}\n", "data.sampling"),
    "unknown scale": (BASE + "data: {scale_y: log}\n", "data.scale_y"),
    "unknown dtype": (BASE.replace("{epochs: 2}", "{dtype: float16}"), "training.dtype"),
    "unknown target": ("target: {name: frankee}\n", "did you mean 'franke'"),
    "activation list length": (
        BASE + "model: {hidden: [4, 4], activation: [tanh]}\n",
        "one entry per hidden layer",
    ),
    "leaky slope too big": (
        BASE + "model: {activation: {name: leaky_relu, slope: 2}}\n",
        "slope must satisfy 0 ≤ slope < 1",
    ),
    "activation param unknown": (
        BASE + "model: {activation: {name: tanh, slope: 2}}\n",
        "tanh takes no parameter 'slope'",
    ),
    "both expr and name": ("target: {expr: x, name: sine}\n", "exactly one"),
    "neither expr nor name": ("target: {dim: 2}\n", "exactly one"),
    "dim mismatch": ("target: {name: franke, dim: 3}\n", "2-dimensional"),
    "dim too large": ("target: {expr: x0, dim: 1000}\n", "target.dim"),
    "import in formula": (
        "target: {expr: \"__import__('os').system('echo hacked')\"}\n",
        "attribute access",
    ),
    "attribute in formula": ("target: {expr: x.__class__}\n", "attribute access"),
    "unknown name in formula": ("target: {expr: sin(2*pi*t)}\n", "unknown name 't'"),
    "lambda in formula": ("target: {expr: 'lambda: 1'}\n", "Lambda"),
    "string in formula": ("target: {expr: \"'a'\"}\n", "only numbers"),
    "deeply nested formula": (
        "target: {expr: '" + "(" * 5000 + "x" + ")" * 5000 + "'}\n",
        "at most 2000 characters",
    ),
    "nested formula": ("target: {expr: '" + "(" * 80 + "x" + ")" * 80 + "'}\n", "nested deeper"),
    "huge formula": (
        "target: {expr: '" + "+".join(["x"] * 200_000) + "'}\n",
        "at most 2000 characters",
    ),
    "infinite formula": ("target: {expr: 9**9**9}\n", "not finite"),
    "log of negative": ("target: {expr: log(x-1)}\n", "not finite at any of the"),
    "name with slash": ("name: ../evil\n" + BASE, "name"),
    "name with separator": ("name: a/b\n" + BASE, "name"),
    "duplicate key": (BASE + "training: {epochs: 3}\n", "given twice"),
    "alias bomb": (
        "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\ntarget: {expr: x}\n",
        "aliases",
    ),
    "tag with a bad value": ("target: {expr: x}\ntraining: {epochs: !!int x}\n", "tags (!!int)"),
    "tag that matches its value": (
        "target: {expr: x}\ntraining: {epochs: !!int 5}\n",
        "training.epochs: YAML tags (!!int)",
    ),
    "bool tag": ("target: {expr: x}\ntraining: {epochs: !!bool 1}\n", "training.epochs: YAML tags"),
    "binary tag": ("target: {expr: x}\nmodel: {bias: !!binary aGVsbG8=}\n", "model.bias: YAML"),
    "integer too long": (
        f"target: {{expr: x}}\ntraining: {{seed: {'1' * 5000}}}\n",
        "whole number of 5,000 digits",
    ),
    "a date is a string": ("target: {expr: x}\ntraining: {seed: 2024-01-01}\n", "got '2024-01-01'"),
    "merge key": ("target: {expr: x}\ntraining:\n  <<: {epochs: 2}\n", "merge keys (<<)"),
    "absurd size": (BASE + "model: {hidden: [100000, 100000, 100000]}\n", "parameters"),
    "absurd data": (
        "target: {expr: x0, dim: 60}\ndata: {n_train: 10000000, n_test: 10000000}\n",
        "MiB",
    ),
    "binary": (b"\x00\x01\x02target", "binary"),
    "not utf-8": (b"target: {expr: \xff}\n", "UTF-8"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_exit_2_with_one_short_message(case, tmp_path):
    text, expect = BAD_FILES[case]
    p = tmp_path / "bad.yaml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "res"
    r = invoke("run", p, "--out", out, "--quiet")
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 3, r.stderr
    assert str(p) in lines[0] or "--set" in lines[0]
    assert expect in r.stderr, r.stderr
    assert not out.exists()  # nothing written


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--set", "training.epochz=1"], "did you mean 'epochs'"),
        (["--set", "training.epochs=-1"], "--set training.epochs: input should be"),
        (["--set", "training.epochs"], "expected KEY=VALUE"),
        (["--set", "model.hidden=[1,"], "not valid YAML"),
        (["--set", "a..b=1"], "--set a..b: 'a..b' has an empty part"),
        (["--set", "target.expr.x=1"], "--set target.expr.x: target.expr is a value"),
        # PyYAML recursed out of Python's stack: a RecursionError's 3,000 lines, exit 1
        (
            ["--set", "model.hidden=" + "[" * 2000 + "]" * 2000],
            "--set model.hidden: value nested deeper than 100 levels",
        ),
    ],
)
def test_bad_overrides(write, tmp_path, args, expect):
    r = invoke("run", write(TINY), "--out", tmp_path / "res", "--quiet", *args)
    assert r.exit_code == 2 and expect in r.stderr, r.output
    assert not (tmp_path / "res").exists()


@pytest.mark.parametrize("target", ["missing.yaml", "."])
def test_missing_paths_and_directories(tmp_path, target):
    r = invoke("run", tmp_path / target if target != "." else tmp_path)
    assert r.exit_code == 2 and ("no such file" in r.stderr or "directory" in r.stderr)


def test_a_dash_for_the_experiment_says_how_to_read_stdin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no file named "-" here
    for cmd in ("run", "validate"):
        r = invoke(cmd, "-")
        assert r.exit_code == 2, r.output
        line = "-: no such file (for the experiment on standard input, give /dev/stdin)"
        assert r.stderr.strip() in (line, f"error: {line}"), r.stderr  # validate lists


def test_debug_shows_the_traceback(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("target: {expr: x}\nmodel: {hiden: 1}\n")
    r = runner.invoke(app, ["--debug", "run", str(p)])
    # the traceback, then the one line and exit 2 of bad input (--debug made it exit 1)
    assert r.exit_code == 2, r.output
    assert "Traceback (most recent call last)" in r.stderr and "ConfigError" in r.stderr
    assert r.stderr.rstrip().splitlines()[-1].startswith("error: ")
    assert "hiden" in r.stderr.rstrip().splitlines()[-1]


def test_a_failing_plot_is_a_warning_and_the_metrics_survive(write, tmp_path, monkeypatch):
    from nnfit.experiment import plots

    def broken(*args):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(plots, "loss_figure", broken)
    r = invoke("run", write(TINY), "--out", tmp_path / "res", "--quiet")
    assert r.exit_code == 0
    assert "loss.png not written: RuntimeError: no fonts" in r.stderr
    run_dir = only_run(tmp_path / "res")
    assert (run_dir / "fit.png").exists() and not (run_dir / "loss.png").exists()
    assert results.read_metrics(run_dir)["status"] == "ok"


@pytest.mark.parametrize(
    "args",
    [
        ["targets", "--bogus"],
        ["schema", "extra"],
        ["report", "--bogus"],
        ["validate"],
        ["sweep"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_2(args):
    r = invoke(*args)
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_sweep_progress_counts_running_points(tmp_path):
    from nnfit.display import SweepProgress

    p = SweepProgress(tmp_path, quiet=True, jobs=2)
    p.start(total=5, todo=3)
    assert p.running() == 2
    p.done(None, {"status": "ok"}, skipped=False)
    p.done(None, {"status": "diverged"}, skipped=False)
    assert p.running() == 1 and p.n_failed == 1


# ------------------------------------------------------------------------- terminal


def test_quiet_hides_the_progress_but_not_the_summary(write, tmp_path):
    r = invoke("run", write(TINY), "--out", tmp_path / "res", "--quiet")
    assert r.exit_code == 0, r.output
    assert "epoch 20/20" not in r.stdout  # the live progress
    lines = r.stdout.splitlines()
    test_row = next(line for line in lines if line.strip("│ ").startswith("test"))
    m = results.read_metrics(only_run(tmp_path / "res"))
    assert f"{m['test']['rmse']:.3e}" in test_row and f"{m['test']['max_abs']:.3e}" in test_row
    assert "Hide the live progress; the final summary table still prints." in help_text("run")


TINY_2D = TINY.replace("dim: 1", "dim: 2").replace("sin(2*pi*x)", "x*y")


def test_predict_takes_one_point_per_x(write, tmp_path):
    out = tmp_path / "res"
    assert invoke("run", write(TINY), "--out", out / "a", "--quiet").exit_code == 0
    one = only_run(out / "a")
    r = invoke("predict", one, "--x", "0.1,0.25")
    assert r.exit_code == 2
    assert (
        "--x 0.1,0.25: the model takes 1 coordinate per point, got 2; give one point per --x, "
        "e.g. --x 0.1 --x 0.25" in r.stderr
    )
    assert invoke("run", write(TINY_2D, "two.yaml"), "--out", out / "b", "--quiet").exit_code == 0
    two = only_run(out / "b")
    r = invoke("predict", two, "--x", "0.1,0.2", "--x", "0.3,0.4")
    assert r.exit_code == 0, r.output
    rows = r.stdout.strip().splitlines()
    assert rows[0] == "x0,x1,g" and [row.split(",")[:2] for row in rows[1:]] == [
        ["0.1", "0.2"],
        ["0.3", "0.4"],
    ]
    r = invoke("predict", two, "--x", "0.1")
    assert r.exit_code == 2 and "the model takes 2 coordinates per point, got 1" in r.stderr
    assert "One point, e.g. --x 0.1,0.2 in 2-D; repeat for more." in help_text("predict")


def test_predict_writes_the_input_names_its_file_gave(write, tmp_path):
    """A header x, y (any order) comes back as x, y in the model's order; x0, x1 and no
    header as x0, x1; a pipe read once keeps them too."""
    import subprocess
    import sys

    out = tmp_path / "res"
    assert invoke("run", write(TINY_2D, "two.yaml"), "--out", out, "--quiet").exit_code == 0
    two = only_run(out)
    for text, header in [("y,x\n0.2,0.1\n", "x,y,g"), ("X1,x0\n0.2,0.1\n", "x0,x1,g"),
                         ("0.1,0.2\n", "x0,x1,g")]:  # fmt: skip
        (tmp_path / "in.csv").write_text(text)
        r = invoke("predict", two, "--csv", tmp_path / "in.csv")
        assert r.exit_code == 0, r.output
        rows = r.stdout.strip().splitlines()
        assert rows[0] == header and rows[1].split(",")[:2] == ["0.1", "0.2"], rows
    cmd = [sys.executable, "-m", "nnfit", "predict", str(two), "--csv", "-"]
    r = subprocess.run(cmd, input="y,x\n0.2,0.1\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "x,y,g", r.stderr


def test_predict_outside_the_unit_cube_warns_and_still_answers(write, tmp_path):
    out = tmp_path / "res"
    invoke("run", write(TINY), "--out", out, "--quiet")
    run_dir = only_run(out)
    r = invoke("predict", run_dir, "--x", "0.5", "--x", "1.5")
    assert r.exit_code == 0, r.output
    assert r.stderr.strip() == (
        "warning: 1 of 2 points lie outside [0, 1], where the model was trained (first: 1.5); "
        "its values there are extrapolation"
    )
    net, meta = results.load_model(run_dir)
    got = [float(line.split(",")[1]) for line in r.stdout.strip().splitlines()[1:]]
    assert got == list(results.predict(net, meta, np.array([[0.5], [1.5]])))
    r = invoke("predict", run_dir, "--x", "0.5")
    assert r.exit_code == 0 and r.stderr == ""
    r = invoke("predict", run_dir, "--x", "nan")
    assert r.exit_code == 2 and "--x nan: coordinates must be finite numbers" in r.stderr
    # 1e-400 read as 0 without a word, where an experiment file refuses it
    r = invoke("predict", run_dir, "--x", "0.5", "--x", "1e-400")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == (
        "error: --x 1e-400: 1e-400 is nearer 0 than the smallest float64 (about 5e-324) "
        "and would read as 0\n"
    )
    r = invoke("predict", run_dir, "--x", "0e-400", "--x", "0.000")  # zeros written
    assert r.exit_code == 0 and r.stdout.count("\n0.0,") == 2


def test_report_at_80_columns_shows_whole_numbers_and_what_differs(write, tmp_path):
    out = tmp_path / "res"
    for act in ("tanh", "relu"):
        p = write(TINY.replace("activation: tanh", f"activation: {act}"), f"{act}.yaml")
        assert invoke("run", p, "--out", out, "--quiet").exit_code == 0
    r = runner.invoke(app, ["report", str(out)], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in r.stdout
    header = next(line for line in lines if line.startswith("run "))
    assert header.split()[:7] == ["run", "status", "test", "rmse", "sup", "error", "activation"]
    for row in json.loads(invoke("report", out, "--json").stdout):
        name = row["path"].split("/")[-1]
        line = next(line for line in lines if name in line)
        act = row["config"]["model.activation"]
        assert name.startswith(f"w8-{act}-adam-s0-")
        assert line.split()[1:5] == [
            "ok",
            f"{row['test_rmse']:.3e}",
            f"{row['test_max_abs']:.3e}",
            act,
        ]
    csv = invoke("report", out, "--csv").stdout.splitlines()
    assert csv[0].endswith(",wall_s,model.activation") and csv[1].endswith((",relu", ",tanh"))


def test_report_says_null_where_a_run_turned_a_section_off(write, tmp_path):
    # early_stopping: null beside a run that stops early showed '—' in its
    # early_stopping column for both, which told nothing
    out, p = tmp_path / "res", write(TINY)
    for es in ("{patience: 5}", "null"):
        r = invoke(
            "run",
            p,
            "--out",
            out,
            "--quiet",
            "--no-figures",
            "--set",
            f"training.early_stopping={es}",
        )
        assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["report", str(out)], env={"COLUMNS": "200"})
    lines = r.stdout.splitlines()
    header = next(line for line in lines if line.startswith("run ")).split()
    at = header.index("early_stopping") - 2  # "test rmse" and "sup error" are two words
    cells = {line.split()[0]: line.split()[at : at + 2] for line in lines if "-s0-" in line}
    rows = json.loads(invoke("report", out, "--json").stdout)
    said = {}
    for row in rows:
        name, cfg = row["path"].split("/")[-1], row["config"]
        said[cfg.get("training.early_stopping.patience")] = cells[name]
        # the JSON tells them apart too: null where the file set it, no key where it has none
        off = "training.early_stopping" in cfg
        assert off == ("training.early_stopping.patience" not in cfg)
        assert cfg.get("training.early_stopping") is None
    assert said == {None: ["null", "—"], 5: ["—", "5"]}


def test_validate_evaluates_the_target_where_run_would(write):
    bad = write("target: {expr: sqrt(x - 0.5)}\n", "sqrt.yaml")
    r = invoke("validate", bad)
    assert r.exit_code == 2
    assert "sqrt.yaml:1: target.expr: target is not finite at the training point" in r.stderr
    r = invoke("run", bad, "--quiet")
    assert r.exit_code == 2 and "sqrt.yaml:1: target.expr: target is not finite" in r.stderr
    # a formula given by --set is named as such, not as a line of the file
    good = write("target: {expr: x}\n", "good.yaml")
    r = invoke("run", good, "--quiet", "--set", "target.expr=sqrt(x - 0.5)")
    assert r.exit_code == 2
    assert r.stderr.startswith("error: --set target.expr: target is not finite"), r.stderr
    # a sweep's grid points each get their own data: one of them is bad
    grid = write(
        "target: {expr: sqrt(x)}\nsweep:\n  grid:\n    target.expr: ['sqrt(x)', 'sqrt(x - 0.9)']\n",
        "grid.yaml",
    )
    r = invoke("validate", grid)
    assert r.exit_code == 2 and "not finite" in r.stderr


def test_folder_names_print_as_written_never_as_markup_or_escapes(write, tmp_path, monkeypatch):
    # a folder "[/x]" was a rich MarkupError traceback, "\x1b[31m" coloured the terminal
    monkeypatch.setattr(experiment, "draw_figures", lambda *a: ({}, []))  # seconds, not needed
    # the results: line printed "\x1b" raw, ":smile:" as an emoji, U+202E reversed the line
    shown = {"[/x]": "[/x]", "a\x1b[31mred": "a\\x1b[31mred", "[bold]b": "[bold]b"}
    shown[":smile:\u202e"] = ":smile:\\u202e"
    for name, says in shown.items():
        r = invoke("run", write(TINY), "--out", tmp_path / "res" / name, "--quiet")
        assert r.exit_code == 0, r.output  # its summary names the folder: it crashed there
        last = r.stdout.splitlines()[-1]
        assert last.startswith("results: ") and f"/res/{says}/tiny/" in last
    r = invoke("report", tmp_path / "res")
    assert r.exit_code == 0, r.output
    assert "[/x]/" in r.stdout and "[bold]b/" in r.stdout and "a\\x1b[31mred/" in r.stdout
    assert ":smile:\\u202e/" in r.stdout
    assert not {"\x1b", "\u202e", "\N{SMILING FACE WITH SMILING EYES}"} & set(r.stdout)


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["run", "e.yaml", "--out", "A", "--out", "B"], "nnfit run: --out given twice (A and B)"),
        (["sweep", "e.yaml", "--widths", "2", "--widths=3"], "--widths given twice (2 and 3)"),
        (["predict", "R", "--csv", "a", "--csv", "b"], "nnfit predict: --csv given twice"),
        (["run", "e.yaml", "--out", ""], "nnfit run: an empty argument ('') after --out"),
        (["report", ""], "nnfit report: an empty argument ('') where a file or folder goes"),
        (["report", "--csv", ""], "nnfit report: an empty argument ('') where a file or"),
        ([""], "nnfit: an empty argument ('') where a command goes"),
        (["run", "e.yaml", "--out="], "nnfit run: an empty argument ('') after --out"),
        (["sweep", "e.yaml", "--dask="], "nnfit sweep: an empty argument ('') after --dask"),
    ],
)
def test_an_option_given_twice_or_an_empty_argument_is_refused(argv, line):
    # click kept the last value unseen (A was never written); '' was the current folder
    from nnfit.cli import _argv_problem

    assert line in (_argv_problem(argv) or "")


def test_set_with_a_space_for_the_equals_sign_says_key_equals_value(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "nnfit", "run", "e.yaml", "--set", "training.epochs", "5"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert p.returncode == 2 and len(p.stderr.splitlines()) == 1, p.stderr
    assert "(--set takes KEY=VALUE: --set training.epochs=5)" in p.stderr


@pytest.mark.parametrize(
    "widths",
    [
        " 3,4",
        "+4",
        "1_0",
        "\u0663",
        "9" * 5000,
        "1,,2",
        "0,2",
        "2,1000001",
        "0" * 12,
        "0" * 12 + "2" * 9,
    ],
)
def test_widths_are_plain_whole_numbers_said_in_one_short_line(write, widths, tmp_path):
    r = invoke("sweep", write(TINY), "--widths", widths, "--out", tmp_path / "res")
    assert r.exit_code == 2 and r.stderr.startswith("error: --widths "), r.output
    assert len(r.stderr.splitlines()) == 1 and len(r.stderr) < 120
    assert not (tmp_path / "res").exists()
    # a whole number too long to be a width says so, with the widest allowed (it said
    # "expected whole numbers")
    said = "is above 1,000,000, the widest layer allowed" in r.stderr
    assert said == (widths in ("9" * 5000, "2,1000001", "0" * 12 + "2" * 9))
    # twelve zeros are a width of 0 (it said "above 1,000,000", counting digits)
    assert ("widths must be positive" in r.stderr) == (widths in ("0,2", "0" * 12))


def test_widths_may_have_leading_zeros():
    from nnfit.cli import _widths

    assert _widths("0000000000004,08") == [4, 8]
    # past int()'s 4,300 digits it was a traceback, exit 1
    assert _widths("0" * 5000 + "4") == [4]


def test_options_that_take_many_values_or_none_may_repeat():
    from nnfit.cli import _argv_problem

    assert _argv_problem(["run", "e.yaml", "--set", "a=1", "--set", "b=2", "-q", "-q"]) is None
    assert _argv_problem(["predict", "R", "--x", "0.1", "--x", "0.2"]) is None
    assert _argv_problem(["run", "e.yaml", "--", "--out", "--out"]) is None


def test_the_command_line_refuses_a_repeated_option_before_anything_runs(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "nnfit", "run", "e.yaml", "--out", tmp_path / "a", "--out", "b"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2 and len(p.stderr.splitlines()) == 1
    assert "--out given twice" in p.stderr and not (tmp_path / "a").exists()


def test_run_says_it_leaves_the_files_grid_aside(write, tmp_path):
    # it trained the file's own experiment and said nothing of its 6-point grid
    grid = "sweep:\n  grid:\n    model.hidden: [[2], [3], [4]]\n    training.seed: [0, 1]\n"
    p = write(TINY + grid)
    r = invoke("run", p, "--out", tmp_path / "res", "--quiet", "--no-figures")
    assert r.exit_code == 0, r.output
    assert r.stderr == (
        f"note: {p}: run trains the file's own experiment and leaves its sweep.grid "
        "(6 points) aside; nnfit sweep runs the grid\n"
    )
    assert len(list((tmp_path / "res").glob("*/*/metrics.json"))) == 1


def test_counts_of_one_are_singular(write, tmp_path):
    # "sweep of 1 runs", "(1 points) aside" and "1 epochs, 1 steps" in the caption
    p = write(TINY + "sweep:\n  grid:\n    model.hidden: [[2]]\n")
    r = invoke("validate", p, "--set", "training.epochs=1")
    assert r.exit_code == 0 and r.stdout.rstrip().endswith(", 1 epoch, sweep of 1 run)"), r.output
    r = invoke("run", p, "--out", tmp_path / "res", "--set", "training.epochs=1", "--no-figures")
    assert r.exit_code == 0, r.output
    assert "sweep.grid (1 point) aside" in r.stderr
    words = " ".join(r.stdout.split())
    assert "1 epoch, " in words and " 1 epochs" not in words, words


def test_a_key_given_by_set_that_the_optimizer_ignores_is_to_be_left_out(write):
    # it said "remove it (on the command line: --set training.optimizer.lr=null)" of
    # the --set itself; the file's line keeps the hint
    lm = "target: {name: sine}\nmodel: {hidden: [4]}\ntraining: {optimizer: lm, epochs: 3}\n"
    r = invoke("validate", write(lm), "--set", "training.optimizer.lr=0.1")
    assert r.exit_code == 2
    assert r.stderr.startswith("--set training.optimizer.lr: not used by optimizer lm")
    assert r.stderr.rstrip().endswith("; remove it or pick another optimizer"), r.stderr
    given = lm.replace("optimizer: lm,", "optimizer: {name: lm, lr: 0.1},")
    r = invoke("validate", write(given))
    assert r.exit_code == 2
    assert "remove it (on the command line: --set training.optimizer.lr=null)" in r.stderr


def test_run_refuses_a_sweep_given_to_it(write, tmp_path):
    # `run --set sweep.grid=…` trained one run and said nothing of the grid
    import nnfit

    r = invoke("run", write(TINY), "--set", "sweep.grid={model.hidden: [[2]]}")
    assert r.exit_code == 2
    assert r.stderr == "error: --set sweep.grid: run does not sweep; use nnfit sweep\n"
    with pytest.raises(nnfit.ConfigError, match="run\\(\\) does not sweep"):
        nnfit.run(write(TINY), overrides={"sweep.grid": {"model.hidden": [[2]]}})
    # taking the file's sweep away is not giving one: it was refused the same way
    grid = write(TINY + "sweep:\n  grid:\n    model.hidden: [[2], [3]]\n", "g.yaml")
    r = invoke("run", grid, "--set", "sweep=null", "--out", tmp_path / "r", "-q", "--no-figures")
    assert r.exit_code == 0 and r.stderr == "", r.output  # and no note of a grid left aside
    # in sweep it is the grid taken away: it said "add sweep.grid to the file"
    r = invoke("sweep", grid, "--set", "sweep=null", "--out", tmp_path / "s")
    assert r.stderr == "error: --set sweep: leaves nothing to sweep; give --widths or --seeds\n"
    # grid: null is no grid, as sweep: null is no sweep (it was "must be a section of
    # keys" in sweep and "run does not sweep" in run)
    r = invoke("sweep", grid, "--set", "sweep.grid=null", "--out", tmp_path / "s")
    assert (
        r.stderr == "error: --set sweep.grid: leaves nothing to sweep; give --widths or --seeds\n"
    )
    r = invoke(
        "run", grid, "--set", "sweep.grid=null", "--out", tmp_path / "r", "-q", "--no-figures"
    )
    assert r.exit_code == 0 and r.stderr == "", r.output


def test_a_results_folder_that_is_a_dangling_link_is_refused_before_training(write, tmp_path):
    # it trained, then failed to write: "a folder on its path is a file"
    (tmp_path / "dang").symlink_to(tmp_path / "nothere")
    for cmd in (["run", write(TINY)], ["sweep", write(TINY), "--widths", "2"]):
        r = invoke(*cmd, "--out", tmp_path / "dang", "-q")
        assert r.exit_code == 2
        said = f"error: {tmp_path / 'dang'}: a symbolic link to nothing; give a folder\n"
        assert r.stderr == said


@pytest.mark.parametrize("command", ["run", "sweep", "report", "study", "predict", "validate"])
def test_help_shows_no_type_for_a_flag(command):
    # '--quiet <bool>' read as if it took a value; `--quiet true` is an error
    r = CliRunner().invoke(app, [command, "--help"], terminal_width=100)
    assert r.exit_code == 0 and "--help" in r.output
    assert "<bool>" not in r.output
    assert command not in ("run", "sweep") or "<path>" in r.output  # a value's type stays


def test_a_results_folder_that_cannot_be_made_is_refused_before_training(write, monkeypatch):
    """os.access says yes to root in /proc and /sys, where the run was refused only
    after its last epoch; a folder is now made and removed there first."""
    import errno
    import tempfile

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "mkdtemp", full)
    out = write(TINY).parent / "res"
    out.mkdir()
    r = invoke("run", write(TINY), "--out", out, "--no-figures")
    assert r.exit_code == 2
    assert f"no folder can be made in {out} (No space left on device)" in r.output
    assert "epoch" not in r.output and list(out.iterdir()) == []


def test_an_output_that_cannot_reach_the_scaled_targets_is_refused(write, tmp_path):
    # a sigmoid output under scale_y standard fitted only the positive half (RMSE 0.51)
    p = write(TINY)
    out = tmp_path / "res"
    for cmd in ("run", "validate"):
        extra = ["--out", out] if cmd == "run" else []
        r = invoke(cmd, p, "--set", "model.output=sigmoid", *extra)
        assert r.exit_code == 2, r.output
        (line,) = r.stderr.strip().splitlines()
        assert line.removeprefix("error: ").startswith("--set model.output: the output sigmoid")
        assert "[0, 1] only" in line and "scale_y standard" in line and "minmax" in line
    assert not out.exists()
    r = invoke("run", p, "--set", "model.output=sigmoid", "--set", "data.scale_y=minmax",
               "--out", out, "--quiet", "--no-figures")  # fmt: skip
    assert r.exit_code == 0, r.output
    r = invoke("validate", p, "--set", "model.output={name: elu, alpha: 2}")
    assert r.exit_code == 0 and "ok (1-8-1" in " ".join(r.stdout.split())  # elu: to −2
    r = invoke("validate", p, "--set", "model.hiden=[4]")
    assert r.exit_code == 2 and "did you mean 'hidden'" in r.stderr


def test_a_pipe_given_as_the_file_is_read_or_refused_but_never_waited_on(
    write, tmp_path, monkeypatch
):
    import os
    import threading

    from nnfit.experiment import yamlfile

    monkeypatch.setattr(yamlfile, "PIPE_WAIT_S", 0.3)
    fifo = tmp_path / "ff"
    os.mkfifo(fifo)
    r = invoke("validate", fifo)  # nothing writes to it: this waited forever
    assert r.exit_code == 2 and r.stderr.strip().endswith("nothing was written to it within 0.3 s")

    def writer():
        with open(fifo, "w") as f:
            f.write(TINY)

    t = threading.Thread(target=writer)
    t.start()
    r = invoke("validate", fifo)
    t.join(5)
    assert r.exit_code == 0 and "ok (1-8-1" in " ".join(r.stdout.split())


def test_an_error_that_wraps_a_ctrl_c_is_an_interrupt(write, monkeypatch):
    # three SIGTERMs while a config was serialized: pydantic wrapped the KeyboardInterrupt
    # in a PydanticSerializationError, and the command ended with its traceback
    from nnfit.experiment import config, shield

    def from_dict(*args, **kwargs):
        shield._active.count = 1  # the signal that came
        raise RuntimeError("Error calling function '_without_unused_lr': KeyboardInterrupt:")

    path = write("target: {name: sine}\n")
    monkeypatch.setattr(config, "from_dict", from_dict)
    r = invoke("validate", path)
    assert r.exit_code == 130 and r.stderr.strip() == "interrupted"
    monkeypatch.setattr(config, "from_dict", lambda *a, **k: 1 / 0)  # no signal: a bug
    r = invoke("validate", path)
    assert r.exit_code == 1 and isinstance(r.exception, ZeroDivisionError)
