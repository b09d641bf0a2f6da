"""The study (nnfit study / make reproduce): sections, files, report, on tiny copies of
the real study files."""

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from nnfit.cli import app
from nnfit.experiment.formulas import compile_expr
from nnfit.study import depth, existence, run, view
from nnfit.study.report import table
from nnfit.study.sections import SECTIONS
from nnfit.study.view import fmt
from nnfit.sweep import grid as sweep_grid
from nnfit.sweep.rates import fit_slope

REAL = Path(__file__).resolve().parent.parent / "experiments" / "reproduce"


def _tiny(cfg: dict) -> dict:
    """The same file at toy size: few points, few steps, two values per grid key."""
    cfg["data"].update(n_train=32, n_val=8, n_test=200, sampling="uniform")
    t = cfg["training"]
    t["epochs"] = min(t.get("epochs", 2000), 3)
    grid = cfg["sweep"]["grid"]
    for key, values in grid.items():
        if key == "model.activation":
            grid[key] = ["tanh", "square"]
        elif key == "training.epochs":
            grid[key] = [0, 3]
        elif key == "training.seed":
            grid[key] = [0]
        elif key == "model.hidden" and len(values[0]) == 1:
            grid[key] = [[1], [3]]
        else:
            grid[key] = values[:2]
    return cfg


@pytest.fixture()
def tiny(tmp_path, monkeypatch):
    """Tiny copies of every study file; sweeps skip their own figure (sweep tests cover it)."""
    monkeypatch.setattr(sweep_grid, "_render", lambda folder, summary: None)
    exps = tmp_path / "exps"
    exps.mkdir()
    for f in REAL.glob("*.yaml"):
        (exps / f.name).write_text(yaml.safe_dump(_tiny(yaml.safe_load(f.read_text()))))
    return exps


def test_every_section_names_files_that_exist_and_validate():
    stems = {s for sec in SECTIONS for s in sec.files}
    assert stems == {f.stem for f in REAL.glob("*.yaml")}  # no file left out, none missing
    assert [s.number for s in SECTIONS] == list(range(1, 8))
    for stem in stems:
        sweep_grid.expand(REAL / f"{stem}.yaml")  # every grid point of every file is valid


def test_whole_study_on_tiny_files(tiny, tmp_path, monkeypatch):
    from nnfit.study import report as report_mod

    legends = {}
    drawn = report_mod.Context.figure

    def figure(self, name, fig, alt):
        legends[name] = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
        return drawn(self, name, fig, alt)

    monkeypatch.setattr(report_mod.Context, "figure", figure)
    out = tmp_path / "out"
    res = run.run(tiny, out, jobs=1)
    # the square wave's dotted sup curves are told apart from the dotted Barron reference
    assert "sup error (dotted, squares)" in legends["3-square-wave"]
    assert res.n_failed == 0 and not res.interrupted
    report = res.report.read_text()
    heads = [line for line in report.splitlines() if line.startswith("## ")]
    assert [h.split(".")[0] for h in heads[:7]] == [f"## {n}" for n in range(1, 8)]
    links = [
        line.split("](")[1].rstrip(")") for line in report.splitlines() if line.startswith("![")
    ]
    assert len(links) == 7 and all((out / link).is_file() for link in links)
    assert "0 runs failed" in report or "; 0 runs\nfailed" in report
    # the numbers come from the runs: the sawtooth's hand-built network is exact
    with np.load(out / "5-sawtooth" / "constructed-k2" / "model.npz") as k2:
        assert k2["W0"].shape == (1, 2)


def test_only_runs_the_chosen_sections_files(tiny, tmp_path):
    out = tmp_path / "only"
    result = CliRunner().invoke(
        app, ["study", "--only", "3", "--experiments", str(tiny), "--out", str(out), "--jobs", "1"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(
        ["figures", *SECTIONS[2].files]
    )
    report = (out / "REPORT.md").read_text()
    assert "## 3. Continuity" in report and "## 1." not in report
    again = run.run(tiny, out, jobs=1, only=[3])  # a second study reuses every run
    assert again.n_reused == again.n_runs > 0


def test_only_keeps_the_sections_whose_runs_are_all_there(tiny, tmp_path):
    # --only 5 after --only 3 wrote a REPORT.md of section 5 alone: section 3 was lost
    out = tmp_path / "only"
    run.run(tiny, out, jobs=1, only=[3])
    res = run.run(tiny, out, jobs=1, only=[5])
    report = (out / "REPORT.md").read_text()
    assert "## 3. Continuity" in report and "## 5. Depth" in report and "## 1." not in report
    assert res.sections == [5] and res.kept == [3]
    assert "Section 3 was not run by this study" in report
    assert "--only 5`" in report
    # a section with a run missing is not kept: it would be read from a part of its runs
    victim = next((out / SECTIONS[2].files[0]).glob("sweep-*/w*"))
    (victim / "metrics.json").unlink()
    res = run.run(tiny, out, jobs=1, only=[5])
    report = (out / "REPORT.md").read_text()
    assert res.kept == [] and "## 3." not in report
    said = "section 3 (Continuity: a square wave): 1 of its "
    assert len(res.left) == 1 and res.left[0].startswith(said) and said in report
    # a file that no longer reads, or a sweep folder that is now a file: said, not fatal
    file = tiny / "3-square-wave-varpro-lm.yaml"
    text = file.read_text()
    file.write_text("target: [")
    res = run.run(tiny, out, jobs=1, only=[5])
    assert len(res.left) == 1 and "3-square-wave-varpro-lm.yaml" in res.left[0], res.left
    file.write_text(text)
    for sweep_dir in (out / "3-square-wave-varpro-lm").glob("sweep-*"):
        shutil.rmtree(sweep_dir)
        sweep_dir.write_text("not a folder")
    res = run.run(tiny, out, jobs=1, only=[5])
    assert len(res.left) == 1 and "not a folder" in res.left[0], res.left


def test_a_missing_file_is_an_error_before_anything_runs(tiny, tmp_path):
    (tiny / "5-sawtooth.yaml").unlink()
    out = tmp_path / "out"
    with pytest.raises(run.StudyError, match=r"5-sawtooth\.yaml missing \(needed by section 5\)"):
        run.run(tiny, out, jobs=1)
    assert not out.exists()
    result = CliRunner().invoke(app, ["study", "--experiments", str(tiny), "--out", str(out)])
    assert result.exit_code == 2 and "5-sawtooth.yaml" in result.output


@pytest.mark.parametrize("make", ["file", "nothing"])
def test_experiments_that_is_no_folder_says_so(tmp_path, make):
    # a file said "FILE/1-random-features.yaml and 3 more files missing"
    given = tmp_path / "base.yaml"
    if make == "file":
        given.write_text("target: {expr: x}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["study", "--only", "1", "--experiments", str(given), "--out", str(out)]
    )
    state = "not a folder" if make == "file" else "no such folder"
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"error: --experiments {given}: {state}; give the folder of the study's files "
        "(experiments/reproduce)\n"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "text", ["9", "1,x", ",", "", "1,,4", "1,1", " 3", "+3", "\u0663", "1," + "9" * 4301]
)
def test_only_refuses_unknown_sections(text):
    with pytest.raises(run.StudyError, match="--only") as info:
        run.parse_only(text)  # 4,301 digits: int()'s ValueError was a traceback
    assert len(str(info.value)) < 120  # the value is cut short
    assert run.parse_only("1,4") == [1, 4] and run.parse_only(None) is None


@pytest.mark.parametrize("k", [1, 3, 6])
def test_hand_built_sawtooth_is_the_k_fold_tent_map(k):
    expr = "x"
    for _ in range(k):
        expr = f"1 - abs(2*({expr}) - 1)"
    assert depth.compositions(expr) == k
    X = np.linspace(0, 1, 4097)[:, None]  # dyadic points: every operation exact
    F = compile_expr(expr, 1)(X)
    net = depth.tent_network(k)
    assert net.n_params == 6 * k + 1
    assert np.array_equal(net.predict(X)[0, :, 0], F)
    # 2^k linear pieces: the slope changes sign 2^k − 1 times
    g = net.predict(np.linspace(0, 1, 2**k * 8 + 1)[:, None])[0, :, 0]
    assert np.count_nonzero(np.diff(np.sign(np.diff(g)))) == 2**k - 1


def test_smallest_width_is_the_first_below_epsilon():
    groups = [{"width": w, "v": v} for w, v in [(1, 0.3), (2, 0.05), (4, 0.2), (8, 1e-4)]]
    assert existence.smallest_width(groups, 0.1, lambda g: g["v"]) == 2
    assert existence.smallest_width(groups, 1e-3, lambda g: g["v"]) == 8
    assert existence.smallest_width(groups, 1e-6, lambda g: g["v"]) is None


def test_numbers_and_tables_read_well():
    assert [fmt(v) for v in (3.2e-8, 0.412, 12.5, 0, None, float("nan"), 2048)] == [
        "3.2e-8",
        "0.41",
        "12.5",
        "0",
        "—",
        "—",
        "2,048",
    ]
    # a factor or count that is a float reads as one too, not as 3.8e+3
    assert [fmt(v) for v in (3841.2, 2.5e6)] == ["3,841", "2.5e+6"]
    # a number that rounds up to 0.01 reads as 0.010 beside 0.013, not as 1.0e-2
    assert [fmt(v) for v in (0.009996, 0.00994, 999.7)] == ["0.010", "9.9e-3", "1,000"]
    assert table(["a", "b"], [["x", 1e-3]]).splitlines() == [
        "| a | b |",
        "| --- | ---: |",
        "| x | 1.0e-3 |",
    ]


def test_lists_in_the_reports_sentences_read_as_english():
    from nnfit.study.shapes import _and

    assert [_and(w) for w in (["a"], ["a", "b"], ["a", "b", "c"])] == ["a", "a and b", "a, b and c"]


def test_a_rise_of_the_trained_error_with_width_is_explained_by_its_training_error():
    # the 4-D ridge function's trained error rose from width 16 to 64 with no word said
    from types import SimpleNamespace

    from nnfit.study import dimension

    def group(width, params, test, train, epochs=100):
        runs = [
            {"status": "ok", "test_rmse": t, "test_rel_l2": t, "train_mse": r**2}
            for t, r in zip(test, train, strict=True)
        ]
        point = {"target": {"dim": 4}, "training.epochs": epochs}
        return {"point": point, "width": width, "n_params": params, "runs": runs}

    def sweep(groups):
        return SimpleNamespace(
            stem="4-ridge",
            groups=groups,
            summary={"grid": {"training.epochs": [0, 100]}},
            config=lambda key: {"data.n_train": 1024}[key],
        )

    rising = sweep(
        [
            group(16, 97, [1e-3] * 3, [9e-4] * 3),
            group(64, 385, [2e-3, 3e-3, 4e-3], [1e-5, 1e-4, 4e-5]),
        ]
    )
    text = dimension._rises([rising])
    assert "(ridge function, d = 4: 1.0e-3 at width 16, 3.0e-3 at 64)" in text
    assert "100 times below its test error" in text  # per seed 200, 30 and 100
    assert "1,024 points pin 385 parameters in 4-D too loosely" in text
    stalled = sweep([group(16, 97, [1e-3] * 3, [1e-3] * 3), group(64, 385, [3e-3] * 3, [3e-3] * 3)])
    assert "the optimizer's steps, not the width" in dimension._rises([stalled])
    falling = sweep([group(16, 97, [1e-3] * 3, [1e-3] * 3), group(64, 385, [1e-4] * 3, [1e-4] * 3)])
    assert dimension._rises([falling]) == ""


@pytest.mark.parametrize(
    ("v", "up", "text"),
    [
        (0.5168, False, "0.51"),
        (0.5168, True, "0.52"),
        (0.87, True, "0.87"),
        (0.87, False, "0.87"),
        (3.14e-5, False, "3.1e-5"),
        (3.14e-5, True, "3.2e-5"),
        (1234.5, True, "1,300"),
    ],
)
def test_a_bound_is_rounded_outward_so_that_it_holds_as_printed(v, up, text):
    # "sup error ≥ 0.52 in every run" where the least was 0.5168
    from nnfit.study.view import bound

    assert bound(v, up=up) == text


def test_a_number_below_one_keeps_its_two_digits():
    # table cells read 0.67 | 0.6 and 0.3, 0.1 side by side
    assert [fmt(v) for v in (0.6, 0.67, 0.3, 0.1, 0.28)] == ["0.60", "0.67", "0.30", "0.10", "0.28"]


def test_section_6_names_the_smallest_epsilon_adam_meets_on_its_best_target():
    # it named its worst target's: "meets no ε below 1e-1" where the table above showed
    # Adam at 1e-2 on sine and Runge (1e-1 on the spike alone)
    ls = [(8, 5), (16, 5), (64, 5)]
    text = existence._gap_6(ls, [(None, 1), (None, 1), (None, 0)], 256)
    assert "Least squares meets ε = 1e-6 on 3 of 3 targets, with at most 64 units" in text
    assert "meets no ε below 1e-2 on any target at any width up to 256" in text
    none = existence._gap_6(ls, [(None, None)] * 3, 256)
    assert "meets none of them on any target at any width up to 256" in none


def test_section_3_claims_l2_convergence_only_where_the_rms_error_fell():
    # one width (or runs that all diverged) read "0.49 at width 2 → 0.49 at width 2 ...
    # The gap. None: L2 convergence", and "between — and —" of no finished run
    from nnfit.study.shapes import _measured_3

    fell = _measured_3(["a: RMS 0.40 at width 1 → 0.10 at width 8"], [0.6, 0.7], [], 200)
    assert "**The gap.** None: L2 convergence without uniform convergence" in fell
    one = _measured_3(["a: RMS 0.49 at width 2 alone"], [0.6, 0.7], ["a"], 200)
    assert "L2 convergence without" not in one
    assert "the RMS error of a does not fall with width here" in one
    assert "between 0.60 and 0.70 in every run" in one
    none = _measured_3(["a: RMS — at width 1 → — at width 8"], [], ["a"], 200)
    assert "No run finished" in none and "between" not in none and "gap" not in none


def test_only_does_not_name_sections_whose_files_the_experiments_folder_lacks(tmp_path):
    # with a folder holding section 3's files alone, REPORT.md said of the others "runs of
    # them are in this folder" (the folder was empty)
    exps = tmp_path / "exps"
    exps.mkdir()
    for stem in SECTIONS[2].files:
        shutil.copy(REAL / f"{stem}.yaml", exps / f"{stem}.yaml")
    kept, left = run._finished(exps, tmp_path / "out", [SECTIONS[0], SECTIONS[3]], {})
    assert kept == [] and left == []


def test_section_1_fits_each_methods_slope_and_says_where_it_leaves_its_power_law():
    # REPORT.md showed the curves but no fitted slope beside Barron's −½ and the −2 of
    # the piecewise-linear fit, which THEORY.md asks every error-against-width plot for
    from types import SimpleNamespace

    from nnfit.study import existence

    widths = [1, 2, 4, 8, 16, 32, 64]

    def sweep(training, test, train=None, pw=None):
        def group(w):
            run = {"status": "ok", "test_rmse": test(w), "train_mse": (train or test)(w) ** 2}
            if pw:
                run["baselines"] = {"pwlinear": {"rmse": pw(w)}}
            return {"point": {}, "width": w, "n_params": 3 * w + 1, "runs": [run] * 3}

        cfg = {"target": {"name": "sine"}, "training": training}
        return SimpleNamespace(
            groups=[group(w) for w in widths], summary={"grid": {}}, config=cfg.__getitem__
        )

    lstsq = {"epochs": 0, "optimizer": {"name": "adam"}, "output_layer": "lstsq"}
    varpro = {"epochs": 100, "optimizer": {"name": "lm"}, "output_layer": "lstsq"}
    lm = {"epochs": 100, "optimizer": {"name": "lm"}, "output_layer": "trained"}
    adam = {"epochs": 1500, "optimizer": {"name": "adam"}, "output_layer": "trained"}
    sweeps = [
        sweep(lstsq, lambda w: float(w) ** -4, pw=lambda w: 0.5 * float(w) ** -2),
        # at float64's rounding from width 64 on
        sweep(varpro, lambda w: {32: 5e-13, 64: 4e-13}.get(w, 10.0 ** (-2 * math.log2(w)))),
        # flat from 32 on, its training error far below: the data, not the optimizer
        sweep(lm, lambda w: 1e-2 * float(min(w, 16)) ** -3, train=lambda w: 1e-9),
        # flat from 32 on, its training error as high: the optimizer's floor
        sweep(adam, lambda w: float(min(w, 16)) ** -1),
    ]
    text = existence._rates(sweeps, [{"name": "sine"}])
    assert (
        "| sine | −4.00 ± <0.001 (1–64) | −7.74 ± <0.001 (1–32, then slower) | "
        "−3.00 ± <0.001 (1–16, then flat) | −1.00 ± <0.001 (1–16, then flat) | "
        "−2.00 ± <0.001 (1–64) |"
    ) in text
    assert "Least squares falls at k = −4.0 to −7.7, far steeper than Barron's −½" in text
    assert "its error is down to 4.0e-13 or less: float64's rounding" in text
    assert "The piecewise-linear fit falls at k = −2.0, the −2 of its h² error once its " in text
    assert "shallowest" not in text  # one target: nothing to compare
    assert (
        "LM on all weights (≤ 100 steps) falls at k = −3.0, then slows (sine from width 32; "
        "its training error below its test error there: the data's limit too)"
    ) in text
    assert (
        "Adam (1,500 epochs) falls at k = −1.0, then slows (sine from width 32; its training "
        "error as high as its test error there: the optimizer's floor)"
    ) in text


def test_section_2_gives_relus_fitted_slopes_beside_the_piecewise_linear_fits():
    # it said "falls no faster than the piecewise-linear fit's n⁻²" without a slope measured
    from types import SimpleNamespace

    from nnfit.study import shapes

    def groups(k, pw=None):
        out = []
        for w in (1, 2, 4, 8, 16):
            run = {"status": "ok", "test_rmse": float(w) ** k}
            if pw is not None:
                run["baselines"] = {"pwlinear": {"rmse": float(w) ** pw}}
            out.append({"width": w, "runs": [run] * 3})
        return out

    rf = SimpleNamespace(config={"training": {"epochs": 0, "optimizer": {"name": "adam"}}}.get)
    vp = {"epochs": 100, "optimizer": {"name": "lm"}, "output_layer": "lstsq"}
    vp = SimpleNamespace(config={"training": vp}.get)
    text = shapes._relu([rf, vp], [{"relu": groups(-1.5, pw=-1.8)}, {"relu": groups(-1.7)}])
    assert text.startswith(
        "ReLU builds piecewise-linear functions, and falls at a power of the width: k = "
        "random features −1.50 ± <0.001 (1–16), VarPro + LM −1.70 ± <0.001 (1–16), the "
        "uniform-knot piecewise-linear fit −1.80 ± <0.001 (1–16), against −2"
    )
    assert shapes._relu([rf, vp], [{"tanh": groups(-3)}, {"tanh": groups(-3)}]) == ""


def test_a_slope_cell_names_the_flat_head_it_left_out():
    fit = fit_slope([1, 2, 4, 8, 16], [[0.5], [0.5], [0.25], [0.125], [0.0625]])
    assert view.slope_cell(fit) == "−1.00 (2–16, width 1 flat)"


def test_a_study_legend_takes_fewer_columns_rather_than_run_past_the_figure():
    # three columns of the methods' entries ran past both edges of 2-activations.png
    from matplotlib.lines import Line2D

    from nnfit.experiment.canvas import new_figure, png
    from nnfit.study import draw

    fig = new_figure(9.0, 4.0)
    fig.subplots().plot([1, 2], [1, 2])
    labels = [f"entry {i}: " + "a long legend text of the figure " * 2 for i in range(6)]
    draw.legend_below(fig, [Line2D([], []) for _ in labels], labels, ncols=3)
    png(fig)
    legend = fig.legends[0]
    box = legend.get_window_extent(fig.canvas.get_renderer())
    assert legend._ncols < 3 and box.x0 >= 0 and box.x1 <= fig.bbox.width
