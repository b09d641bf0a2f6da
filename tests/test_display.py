"""The terminal at a given width: the progress bar, the ETA, and tables of full numbers
(nnfit.display and nnfit.tables)."""

import re
from io import StringIO
from types import SimpleNamespace

import pytest
from rich.console import Console

from nnfit.display import LiveProgress, SweepProgress, fmt
from nnfit.tables import report_table, sweep_summary

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def console(width):
    return Console(width=width, force_terminal=True, file=StringIO(), color_system=None)


def last_frame(con) -> str:
    """The line a live display leaves on screen: what follows its last carriage return."""
    text = ANSI.sub("", con.file.getvalue())
    return text.rstrip("\n").split("\r")[-1]


def epoch(e, epochs=2000):
    return SimpleNamespace(
        epoch=e, epochs=epochs, train_loss=1.234e-3, val_loss=2.345e-3, lr=1e-3, wall_s=e / 100
    )


@pytest.mark.parametrize(
    ("width", "fields"),
    [
        (60, ["1000/2000", "train 1.234e-03", "ETA 0:00:10"]),
        (80, ["epoch 1000/2000", "train 1.234e-03  val 2.345e-03", "ETA 0:00:10"]),
        (120, ["epoch 1000/2000", "val 2.345e-03", "lr 1.00e-03", "0:00:10", "ETA 0:00:10"]),
    ],
)
def test_the_run_progress_keeps_its_bar_and_a_readable_eta(width, fields):
    con, now = console(width), [0.0]
    with LiveProgress("sine-1d", 2000, console=con, clock=lambda: now[0]) as progress:
        for e in range(1, 1001):  # 100 epochs a second: 10 s left at epoch 1000
            now[0] += 0.01
            progress(epoch(e))
    line = last_frame(con)
    assert len(line) <= width, line
    assert "…" not in line
    bar = max(re.findall(r"[━╸╺ ]{10,}", line), key=len)
    assert bar.count("━") >= 5, line  # half done: half of a bar of at least 10 cells
    for f in fields:
        assert f in line, (f, line)


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_sweep_progress_fits_and_counts(width):
    con, now = console(width), [0.0]
    point = SimpleNamespace(label=lambda: "model.hidden=[4]")
    with SweepProgress("results/sw", console=con, jobs=2, clock=lambda: now[0]) as progress:
        progress.start(total=32, todo=30)
        for _ in range(10):
            now[0] += 1.0
            progress.done(point, {"status": "ok", "test": {"rmse": 0.1}}, skipped=False)
    text = ANSI.sub("", con.file.getvalue())
    assert "sweep: 32 points, 2 already done, 30 to run → results/sw" in text
    assert "(finished runs are reused; --rerun trains them again)" in text
    assert "[bold]" not in text  # lines printed under the bar do not unstyle it
    line = last_frame(con)
    assert len(line) <= width and "…" not in line, line
    assert "12/32" in line and "ETA 0:00:20" in line, line


def rows_of(n=3):
    acts = ["tanh", "relu", "sigmoid"]
    return [
        {
            "kind": "run",
            "path": f"demo/w16-{acts[i]}-adam-s0-{i:08x}",
            "name": "demo",
            "status": "ok",
            "epochs": 2000 + i,
            "n_params": 49,
            "test_rmse": 1.41421356e-3 * (i + 1),
            "test_max_abs": 9.87654e-2,
            "test_rel_l2": 3.3e-3,
            "train_mse": 2.5e-6,
            "wall_s": 1.25,
            "config": {"model.activation": acts[i], "training.optimizer.lr": 10.0 ** -(i + 2)},
        }
        for i in range(n)
    ]


def render(table, width):
    con = Console(width=width, file=StringIO(), color_system=None)
    con.print(table)
    return con.file.getvalue()


@pytest.mark.parametrize("width", [60, 80, 120, 160])
def test_report_shows_whole_numbers_at_any_width(width):
    rows = rows_of()
    text = render(
        report_table(rows, "results", ["model.activation", "training.optimizer.lr"], width), width
    )
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in text
    for r in rows:
        assert fmt(r["test_rmse"]) in text
        assert r["path"].split("/")[1] in text or width < 80  # at 60 the name may fold
    if width >= 80:  # the columns that tell the runs apart come right after the errors
        header = next(line for line in lines if line.startswith("run "))
        tell = ["activation", "lr"] if width >= 120 else ["activation"]
        assert header.split()[: 6 + len(tell)] == [
            "run",
            "status",
            "test",
            "rmse",
            "sup",
            "error",
            *tell,
        ]
        assert all(a in text for a in ("tanh", "relu", "sigmoid"))
        assert width < 120 or all(lr in text for lr in ("0.01", "0.001", "0.0001"))
    if width < 160:
        flat = " ".join(text.split())
        assert f"not shown at {width} columns:" in flat and "(see --csv or --json)" in flat
    else:
        assert "not shown" not in text and fmt(1.25, ".2f") in text


def test_a_long_run_folder_is_not_cut_at_120_columns():
    rows = rows_of(2)
    long = "demo/w16x16x16-leaky_relu.tanh.sigmoid-rmsprop-s12345-0123abcd"
    rows[1]["path"] = long
    text = render(report_table(rows, "results", ["model.activation"], 120), 120)
    assert long.split("/")[1] in text  # on one line, whole
    text = render(report_table(rows, "results", ["model.activation"], 60), 60)
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("w16x16"))
    folded = lines[at].split()[0]
    for line in lines[at + 1 :]:
        if len(line.split()) != 1:
            break
        folded += line.strip()
    assert "…" not in text and folded == long.split("/")[1]
    assert "2.828e-03" in lines[at]


def test_sweep_summary_at_80_columns_counts_what_finished():
    def group(width, n_ok, rmse):
        stat = {"mean": rmse, "std": (rmse or 0) / 10, "min": rmse, "max": rmse, "n": n_ok}
        empty = {"mean": None, "std": None, "min": None, "max": None, "n": 0}
        return {
            "point": {"model.hidden": [width], "model.activation": "tanh"},
            "n_params": 3 * width + 1,
            "n_runs": 3,
            "n_ok": n_ok,
            "n_failed": 0,
            "test_rmse": stat if n_ok else empty,
            "test_max_abs": stat if n_ok else empty,
            "train_mse": stat if n_ok else empty,
        }

    summary = {
        "name": "demo",
        "sweep_id": "sweep-0123abcd",
        "n_ok": 4,
        "n_failed": 0,
        "n_missing": 5,
        "n_reused": 2,
        "groups": [group(2, 3, 1.23456e-2), group(4, 1, 6.5e-3), group(8, 0, None)],
        "slopes": [],
    }
    text = render(sweep_summary(summary, 80), 80)
    assert "demo · sweep-0123abcd · 4 ok, 0 failed, 5 not run (2 reused)" in text
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    assert "1.235e-02 ± 1.2e-03" in text
    seeds = [line.split()[2] for line in text.splitlines() if line.startswith("hidden=")]
    assert seeds == ["3/3", "1/3", "0/3"]
    assert "6.500e-03 ± —" in text  # one seed has no spread (it showed ± 0.0e+00)
    # what a narrow table leaves out is in the sweep's summary.csv: `nnfit sweep` has no
    # --csv, which it named
    narrow = " ".join(render(sweep_summary(summary, 60), 60).split())
    assert "not shown at 60 columns:" in narrow and narrow.endswith("(see summary.csv)")
    # a section as a grid value reads as written in the file, not as a Python dict
    summary["groups"][0]["point"]["training.optimizer"] = {"name": "adam"}
    text = render(sweep_summary(summary, 120), 120)
    assert "optimizer={name: adam}" in text and "'name'" not in text
    # a grid of seeds alone has one point, the file's: it read "all"; and the slope of a
    # grid of widths alone (series "all" in summary.json) is the test RMS error's
    only = dict(summary, groups=[dict(summary["groups"][0], point={})])
    only["slopes"] = [{"series": "all", "slope": None, "reason": "too few points"}]
    lines = render(sweep_summary(only, 120), 120).splitlines()
    assert any(line.startswith("as in the file ") for line in lines)
    assert not any(line.startswith("all") for line in lines)
    assert any(line.startswith("test RMS error: ") for line in lines)
    # the baselines summary.csv has sit beside the network's error (they were left out)
    for g, rmse in zip(summary["groups"], (3e-3, 1e-3, None), strict=True):
        g["baselines"] = {"chebyshev": {"n_params": 7, "test_rmse": {"mean": rmse}}}
    summary["groups"][0]["baselines"]["pwlinear"] = {"test_rmse": {"mean": 2.5e-2}}
    lines = render(sweep_summary(summary, 160), 160).splitlines()
    head = " ".join(" ".join(lines[1:3]).split())
    assert "chebyshev" in head and "pw-linear" in head and "(test rmse)" in head
    row = next(line for line in lines if line.startswith("hidden=[2]"))
    assert row.split()[-4:-2] == ["3.000e-03", "2.500e-02"]  # then params, train mse
    row = next(line for line in lines if line.startswith("hidden=[8]"))
    assert row.split()[-4:-2] == ["—", "—"]
    # random features differ between seeds: their column is a mean, and says so
    stats = {"mean": 2e-3, "min": 1e-3, "max": 3e-3, "n": 3}
    summary["groups"][0]["baselines"]["random_features"] = {"test_rmse": stats}
    lines = render(sweep_summary(summary, 200), 200).splitlines()
    head = " ".join(" ".join(lines[1:3]).split())
    assert "random feat." in head and "(mean rmse)" in head
    assert head.count("(test rmse)") == 2  # Chebyshev's and pw-linear's: fits to the data


def test_the_live_losses_are_the_historys_in_fs_units():
    # the progress line, history.csv and loss.png show one loss: in F's units (mse ×
    # scale²), not the network's scaled one
    from nnfit.experiment import config, runner

    seen = []
    exp = config.from_dict(
        {
            "target": {"expr": "3*sin(2*pi*x)"},
            "data": {"n_train": 64, "n_val": 16, "n_test": 100},
            "model": {"hidden": [8]},
            "training": {"epochs": 5},
        }
    )
    rec = runner.execute(exp, callback=seen.append, plots=False)
    assert [i.val_loss for i in seen] == pytest.approx(rec.history["val_loss"][1:], rel=1e-12)
    scale = rec.model["meta"]["scale_y"]["scale"]
    assert scale > 2  # so that scaled and F's units differ by a factor above 4
    assert rec.history["val_loss"][-1] == pytest.approx(0.5 * rec.metrics["val"]["mse"], rel=1e-9)


def _record(metrics, **more):
    """A finished run's record as run_summary reads it."""
    return SimpleNamespace(
        name="tiny",
        run_id="w1",
        status="ok",
        stop_reason="",
        epochs=3,
        steps=3,
        wall_s=0.1,
        n_params=4,
        metrics=metrics,
        **more,
    )


def test_the_run_summary_prints_a_huge_negative_r2_in_e_notation():
    # a target near zero everywhere gave r2 ≈ -1e200, printed as a 200-digit number
    from nnfit.tables import run_summary

    part = {"rmse": 1e-3, "max_abs": 2e-3, "mae": 1e-3, "rel_l2": 1e97, "r2": -1.234e200}
    good = {**part, "r2": 0.98765}
    record = _record({"train": good, "val": None, "test": part})
    console = Console(file=StringIO(), width=120)
    console.print(run_summary(record, "results/tiny/w1"))
    text = console.file.getvalue()
    assert "-1.234e+200" in text and "0.9877" in text
    assert max(len(line) for line in text.splitlines()) <= 120
    assert "sup error" not in text  # no goal set


@pytest.mark.parametrize(
    ("reached", "says"), [(89, "below 0.05 first at epoch 89"), (None, "never below 0.05")]
)
def test_the_run_summary_says_when_the_epsilon_goal_was_met(reached, says):
    # metrics.json had it; the summary after a run did not
    from nnfit.tables import run_summary

    part = {"rmse": 1e-3, "max_abs": 2e-3, "mae": 1e-3, "rel_l2": 1e-2, "r2": 0.99}
    record = _record(
        {"train": part, "val": part, "test": part},
        config={"training": {"epsilon": 0.05}},
        epsilon_reached_epoch=reached,
    )
    console = Console(file=StringIO(), width=200)
    console.print(run_summary(record, "results/tiny/w1"))
    text = " ".join(console.file.getvalue().split())  # the caption wraps at the table's width
    assert f"4 parameters, sup error {says} → results/tiny/w1" in text


def test_plain_progress_ends_on_the_epoch_training_stopped_at():
    # piped output showed epoch 1/3000 and nothing after a run that stopped early
    con = Console(width=120, file=StringIO(), color_system=None)
    with LiveProgress("sine-1d", 3000, console=con) as progress:
        for e in range(1, 1015):
            progress(epoch(e, 3000))
    lines = con.file.getvalue().splitlines()
    assert [line.split()[2] for line in lines] == ["1/3000", "1014/3000"]
    con = Console(width=120, file=StringIO(), color_system=None)
    with LiveProgress("sine-1d", 3, console=con) as progress:
        for e in range(1, 4):
            progress(epoch(e, 3))
    assert [line.split()[2] for line in con.file.getvalue().splitlines()] == ["1/3", "3/3"]


def test_a_diverged_sweep_point_says_where_and_what_may_help():
    # it said "diverged: diverged"
    con = Console(width=300, file=StringIO(), color_system=None)
    point = SimpleNamespace(label=lambda: "training.optimizer.lr=1000000.0")
    with SweepProgress("results/\x1bsw", console=con) as progress:
        progress.start(total=1, todo=1)
        metrics = {"status": "diverged", "stop_reason": "diverged", "epochs": 0, "wall_s": 0.0}
        progress.done(point, metrics, skipped=False)
    first, line = con.file.getvalue().splitlines()
    assert first.endswith("to run → results/\\x1bsw")
    assert line.startswith("[1/1] training.optimizer.lr=1000000.0: diverged in epoch 1 (")
    assert "a smaller lr may help" in line


def test_report_puts_first_the_keys_that_tell_apart_runs_of_one_folder():
    # at 160 columns the study's sawtooth runs showed n_train and batch size, the same in
    # every run of the folder, and hid the seed, which told them apart
    rows = [dict(r) for r in rows_of(2) * 2]
    for i, r in enumerate(rows):
        r["path"] = f"{'ab'[i // 2]}/sweep-x/run{i}"
        r["config"] = {"data.n_train": 100 * (i // 2 + 1), "training.seed": i % 2}
    header = render(report_table(rows, "results", ["data.n_train", "training.seed"], 160), 160)
    header = next(line for line in header.splitlines() if line.startswith("run "))
    assert header.index("seed") < header.index("n_train")
    # and a key the same in every run of its folder comes after the run's epochs, size,
    # training error and time: at 120 columns n_train and batch size had hidden them
    order = ["seed", "epochs", "params", "train mse", "time s", "n_train"]
    assert [header.index(h) for h in order] == sorted(header.index(h) for h in order)
    for width in (100, 110, 120, 130, 140):
        text = render(
            report_table(rows, "results", ["data.n_train", "training.seed"], width), width
        )
        header = next(line for line in text.splitlines() if line.startswith("run "))
        shown = [h for h in order if h in header]
        assert shown == order[: len(shown)], (width, shown)  # a prefix: nothing skipped


def test_report_names_the_experiment_where_a_sweep_varies_it():
    # a sweep over `name` listed its runs as two look-alike rows under one folder
    rows = rows_of(2)
    for r, name in zip(rows, ("left", "right"), strict=True):
        r.update(name=name, config={})
        r["path"] = f"demo/sweep-x/{r['path'].split('/')[1]}"
    text = render(report_table(rows, "results", [], 120), 120)
    header = next(line for line in text.splitlines() if line.startswith("run "))
    assert header.split()[6] == "name"
    for r in rows:
        [line] = [ln for ln in text.splitlines() if r["path"].split("/")[-1] in ln]
        assert r["name"] in line.split()
    # where each folder holds one experiment, its folder line says the name
    for r, folder in zip(rows, ("left", "right"), strict=True):
        r["path"] = f"{folder}/{r['path'].split('/')[-1]}"
    text = render(report_table(rows, "results", [], 120), 120)
    assert "name" not in next(line for line in text.splitlines() if line.startswith("run "))


def test_report_shows_no_optimizer_for_a_run_of_no_epochs():
    # random features (epochs 0) were listed as trained by adam at lr 0.001
    rows = rows_of(2)
    rows[0]["config"] = {"training.epochs": 0, "training.optimizer.lr": 0.001}
    rows[1]["config"] = {"training.epochs": 10, "training.optimizer.lr": 0.01}
    text = render(
        report_table(rows, "results", ["training.epochs", "training.optimizer.lr"], 160), 160
    )
    [first] = [line for line in text.splitlines() if rows[0]["path"].split("/")[-1] in line]
    assert "0.001" not in first and "—" in first


def test_the_run_summary_shows_the_baselines_asked_for():
    # a run with `baselines:` kept them in metrics.json only: the summary said nothing
    from nnfit.tables import run_summary

    part = {"rmse": 1e-3, "max_abs": 2e-3, "mae": 1e-3, "rel_l2": 1e-2, "r2": 0.99}
    cheb = {"n_params": 41, "rmse": 1.128e-15, "max_abs": 2.981e-14, "rel_l2": 1.596e-15}
    skipped = {"n_params": None, "note": "piecewise linear skipped: d = 2 > 1"}
    baselines = {"chebyshev": cheb, "pwlinear": skipped}
    record = _record({"train": part, "val": part, "test": part, "baselines": baselines})
    console = Console(file=StringIO(), width=200)
    console.print(run_summary(record, "results/tiny/w1"))
    rows = [line.split() for line in console.file.getvalue().splitlines()]
    assert rows[8][:9] == ["│", "chebyshev", "(41)", "│", "1.128e-15", "│", "2.981e-14", "│", "│"]
    assert not [r for r in rows if "pwlinear" in r]
    words = " ".join(console.file.getvalue().split())
    assert "baselines on the test set (no mae or r2), their parameters in brackets" in words


@pytest.mark.parametrize(
    ("optimizer", "kept", "says"),
    [
        (
            "gd",
            0,
            "a smaller lr may help; the errors above are those of the weights as initialised",
        ),
        ("gd", 7, "a smaller lr may help; the errors above are those of epoch 7's weights"),
        ("lm", 7, "finite); the errors above are those of epoch 7's weights"),
        (
            "sgd+lstsq",
            0,
            "help; the errors above are those of the hidden weights as initialised (epoch 0), "
            "with the output layer solved for them",
        ),
    ],
)
def test_a_diverged_run_says_in_which_epoch_and_whose_errors_it_shows(optimizer, kept, says):
    # its table said "diverged" above train/test errors of the untrained network (early
    # stopping keeps epoch 0 when the loss only grew), with no epoch and no hint
    from nnfit.tables import run_summary

    part = {"rmse": 0.53, "max_abs": 1.6, "mae": 0.42, "rel_l2": 1.8, "r2": -2.4}
    record = _record(
        {"train": part, "val": None, "test": part},
        config={
            "training": {
                "optimizer": {"name": optimizer.split("+")[0]},
                "output_layer": "lstsq" if optimizer.endswith("+lstsq") else "trained",
            }
        },
        epsilon_reached_epoch=None,
        error=None,
        best_epoch=kept,
    )
    record.status = record.stop_reason = "diverged"
    record.epochs = 7
    console = Console(file=StringIO(), width=200)
    console.print(run_summary(record, "results/tiny/w1"))
    text = " ".join(console.file.getvalue().split())
    assert "diverged in epoch 8 (the loss grew far above its start" in text
    assert says in text
    assert ("lr" in text) == (optimizer != "lm")


def test_a_quiet_sweep_names_its_failed_points_and_why():
    # --quiet left "failed: w24-tanh-gd-s0-00fbd63f: diverged" per point: two such lines
    # differed only in their hash, with neither the point (lr) nor the epoch
    empty = {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    group = {
        "point": {"training.optimizer.lr": 5.0},
        "n_params": 25,
        "n_runs": 1,
        "n_ok": 0,
        "n_failed": 1,
        **{k: empty for k in ("test_rmse", "test_max_abs", "train_mse")},
    }
    failed = {
        "run": "w8-tanh-gd-s0-43aac258",
        "point": {"training.optimizer.lr": 5.0},
        "status": "diverged",
        "error": None,
        "epochs": 4,
        "optimizer": "gd",
    }
    summary = {"name": "dvs", "sweep_id": "sweep-1", "n_ok": 0, "n_failed": 1}
    summary.update(groups=[group], slopes=[], failed=[failed])
    text = " ".join(render(sweep_summary(summary, 300), 300).split())
    assert "failed: lr=5.0: diverged in epoch 5 (" in text
    assert "a smaller lr may help → w8-tanh-gd-s0-43aac258" in text
    assert "more failed" not in text
    # past five, the count of the others (six failed showed five lines and no word more)
    summary["failed"] = [{**failed, "run": f"r{i}"} for i in range(7)]
    text = " ".join(render(sweep_summary(summary, 300), 300).split())
    assert text.count("failed: lr=5.0") == 5
    assert "and 2 more failed runs (summary.json lists them all)" in text


@pytest.mark.parametrize(
    ("best", "sets", "says"),
    [
        (2, ("train", "val", "test"), "weights restored from epoch 2 (lowest validation loss)"),
        (2, ("train", "test"), "weights restored from epoch 2 (lowest training cost)"),
        # n_val 0 writes a val section of None: it claimed the "best validation loss"
        (2, ("train", "test", "val0"), "weights restored from epoch 2 (lowest training cost)"),
        (
            2,
            ("train", "val", "test", "train"),
            "weights restored from epoch 2 (lowest training cost)",
        ),
        (
            2,
            ("train", "test", 1e-6),
            "weights restored from epoch 2 (last to lower the training cost by more than 1e-06)",
        ),
        (3, ("train", "val", "test"), None),  # the last epoch's weights: nothing to say
    ],
)
def test_the_run_summary_says_whose_weights_early_stopping_kept(best, sets, says):
    # the table's errors were those of the restored epoch, the caption said only
    # "3 epochs", and the last progress line showed the last epoch's losses
    from nnfit.tables import run_summary

    part = {"rmse": 1e-3, "max_abs": 2e-3, "mae": 1e-3, "rel_l2": 1e-2, "r2": 0.99}
    metrics = {s: part for s in sets if s in ("train", "val", "test")}
    if "val0" in sets:
        metrics["val"] = dict.fromkeys(part)
    es = {"monitor": sets[-1] if sets[-1] == "train" else "val"}
    if isinstance(sets[-1], float):
        es["min_delta"] = sets[-1]
    record = _record(metrics, best_epoch=best, config={"training": {"early_stopping": es}})
    console = Console(file=StringIO(), width=200)
    console.print(run_summary(record, "results/tiny/w1"))
    text = " ".join(console.file.getvalue().split())
    if says is None:
        assert "restored" not in text
    else:
        assert text.endswith(f"→ results/tiny/w1 {says}")


def test_a_diverged_run_with_a_solved_output_layer_names_its_ridge_too():
    from nnfit.display import failure

    metrics = {"status": "diverged", "epochs": 0, "optimizer": "sgd", "output_layer": "lstsq"}
    assert failure(metrics).endswith(
        "; a smaller lr or a larger training.l2 (the output layer's ridge) may help"
    )
    metrics["output_layer"] = "trained"
    assert failure(metrics).endswith("; a smaller lr may help")


def test_a_closing_solve_is_said_under_the_run_table():
    # the live line's last losses were 100 times the table's, with no word of the solve
    from nnfit.tables import run_summary

    part = {"rmse": 1e-3, "max_abs": 2e-3, "mae": 1e-3, "rel_l2": 1e-3, "r2": 0.99}
    history = {
        "epoch": [0, 1, 2, 3, 3],
        "train_loss": [1.0, 0.5, 0.2, 0.1, 1e-4],
        "output_solved": [1.0, 0.0, 0.0, 0.0, 1.0],
    }
    said = "the output layer solved by least squares once more at the end, for the hidden"
    for last, says in ((1e-4, True), (0.1, False)):  # kept, or not (the same cost)
        history["train_loss"][-1] = last
        record = _record({"train": part, "val": None, "test": part}, history=history)
        console = Console(file=StringIO(), width=200)
        console.print(run_summary(record, "results/tiny/w1"))
        assert (said in " ".join(console.file.getvalue().split())) == says
    # a diverged run's note says whose errors they are, that solve included: one note
    config = {"training": {"output_layer": "lstsq", "optimizer": {"name": "sgd"}}}
    history["train_loss"][-1] = 1e-4  # a solve that changed the cost
    record = _record({"train": part, "val": None, "test": part}, history=history)
    record.status = record.stop_reason = "diverged"
    record.best_epoch, record.error, record.config = 0, None, config
    console = Console(file=StringIO(), width=200)
    console.print(run_summary(record, "results/tiny/w1"))
    text = " ".join(console.file.getvalue().split())
    assert said not in text
    assert text.count("with the output layer solved for them") == 1


@pytest.mark.parametrize(("width", "left_out"), [(60, "mae"), (50, "mae, r2"), (200, None)])
def test_the_run_table_fits_a_narrow_terminal_and_loses_no_letter_of_its_caption(width, left_out):
    # at 60 columns the table was cut at the console's edge, and with it the caption's
    # wrapped lines: "…momentum-l" / "s0-2c394315" for "…momentum-ls-s0-2c394315"
    from nnfit.tables import run_summary

    part = {"rmse": 1.5e-2, "max_abs": 5.7e-2, "mae": 1.2e-2, "rel_l2": 3.2e-2, "r2": 0.9971}
    record = _record({"train": part, "val": part, "test": part})
    path = "/tmp/results/e5-franke-momentum-lstsq/w48-softplus-momentum-ls-s0-2c394315"
    console = Console(file=StringIO(), width=width)
    console.print(run_summary(record, path, width=width))
    text = console.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    assert path in "".join(line.strip() for line in text.splitlines())
    said = " ".join(text.split())
    if left_out is None:
        assert "not shown" not in said and "1.200e-02" in said
    else:
        assert f"not shown at {width} columns: {left_out} (see metrics.json)" in said
        assert "1.200e-02" not in said and "1.500e-02" in said  # mae out, rmse kept


def test_report_puts_a_parameter_its_choice_names_after_the_others():
    # a sweep over optimizers showed lbfgs's m, gtol and ftol ('—' for the others) and
    # hid the target, which told the folders apart
    rows = [dict(r) for r in rows_of(2) * 2]
    keys = ["target.name", "training.optimizer.name", "training.optimizer.gtol"]
    for i, r in enumerate(rows):
        r["path"] = f"{'ab'[i // 2]}/sweep-x/run{i}"
        lbfgs = i % 2 == 1
        r["config"] = {
            "target.name": ("sine", "runge")[i // 2],
            "training.optimizer.name": "lbfgs" if lbfgs else "adam",
            "training.optimizer.gtol": 1e-12 if lbfgs else None,
        }
    text = render(report_table(rows, "results", keys, 200), 200)
    header = next(line for line in text.splitlines() if line.startswith("run "))
    order = ["optimizer", "epochs", "time s", "target", "gtol"]
    assert [header.index(h) for h in order] == sorted(header.index(h) for h in order)
    # a parameter with two values under one name is not implied by it
    rows[1]["config"]["training.optimizer.gtol"] = 1e-9
    text = render(report_table(rows, "results", keys, 200), 200)
    header = next(line for line in text.splitlines() if line.startswith("run "))
    assert header.index("gtol") < header.index("epochs")


@pytest.mark.parametrize("width", [80, 62, 58])
def test_a_finished_sweep_run_takes_one_line_of_the_terminal(width):
    # at 80 columns "[1/10] model.hidden=[32], training.seed=0: test rmse 2.743e-03  sup
    # 7.695e-03  (0.1 s)" wrapped its time onto a line of its own
    con = Console(width=width, file=StringIO(), color_system=None)
    point = SimpleNamespace(label=lambda: "model.hidden=[32], training.seed=0")
    with SweepProgress("results/sw", console=con) as progress:
        progress.start(total=10, todo=10)
        metrics = {"status": "ok", "wall_s": 0.1, "test": {"rmse": 2.743e-3, "max_abs": 7.695e-3}}
        progress.done(point, metrics, skipped=False)
    line = con.file.getvalue().splitlines()[-1]
    assert len(line) <= width
    assert line.startswith("[1/10] ")
    assert "test rmse 2.743e-03  sup 7.695e-03" in line
    expected = {
        80: "[1/10] hidden=[32], seed=0: test rmse 2.743e-03  sup 7.695e-03  (0.1 s)",
        62: "[1/10] hidden=[32], seed=0: test rmse 2.743e-03  sup 7.695e-03",
        58: "[1/10] hidden=[32], s…: test rmse 2.743e-03  sup 7.695e-03",
    }
    assert line == expected[width]
    wide = Console(width=120, file=StringIO(), color_system=None)
    with SweepProgress("results/sw", console=wide) as progress:
        progress.start(total=10, todo=10)
        progress.done(point, metrics, skipped=False)
    assert wide.file.getvalue().splitlines()[-1] == (
        "[1/10] model.hidden=[32], training.seed=0: test rmse 2.743e-03  sup 7.695e-03  (0.1 s)"
    )
