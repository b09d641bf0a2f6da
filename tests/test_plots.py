"""Figures read at a glance: checked on the Figure objects after an Agg draw.

Every figure type is drawn for a 2-width, a 9-width and an 8-activation × 4-width sweep,
a sweep over optimizers and for 1-, 2- and 5-D runs and a deep sigmoid net; each must
have tick labels that do not overlap, titles of at most two lines, a label on every
axis and legends off the data.
"""

import functools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnfit.experiment import canvas, config, plots
from nnfit.experiment import runner as experiment
from nnfit.experiment.data import build
from nnfit.experiment.targets import TARGETS
from nnfit.sweep import plots as sweep_plots
from nnfit.sweep import summary as sweep_summary_mod

PNG = b"\x89PNG\r\n\x1a\n"
ACTIVATIONS = ["sigmoid", "tanh", "relu", "elu", "softplus", "sin", "identity", "square"]

# ------------------------------------------------------------------- the checks


def _shown_labels(ax, axis, renderer):
    box = ax.get_window_extent(renderer)
    lo, hi = (box.x0, box.x1) if axis.axis_name == "x" else (box.y0, box.y1)
    out = []
    for lab in axis.get_ticklabels(which="both"):
        if not (lab.get_visible() and lab.get_text()):
            continue
        b = lab.get_window_extent(renderer)
        mid = (b.x0 + b.x1) / 2 if axis.axis_name == "x" else (b.y0 + b.y1) / 2
        if lo - 1 <= mid <= hi + 1:
            out.append((lab.get_text(), b))
    return out


def _labelled(ax, which):
    get = ax.get_xlabel if which == "x" else ax.get_ylabel
    shared = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    siblings = shared.get_siblings(ax)
    return any(
        (s.get_xlabel() if which == "x" else s.get_ylabel()).strip() for s in siblings
    ) or bool(get().strip())


def _overlap(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0) * max(h, 0)


def assert_readable(fig):
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    page = fig.bbox
    titles = [ax.get_title(loc) for ax in fig.axes for loc in ("left", "center", "right")]
    for t in titles:
        assert t.count("\n") <= 1, f"title of more than two lines: {t!r}"
    # the figure's own: the formula (on two lines where it is long) and the network
    assert fig.get_suptitle().count("\n") <= 2, f"title of four lines: {fig.get_suptitle()!r}"
    if fig.get_suptitle():
        sb = fig._suptitle.get_window_extent(r)
        assert sb.x0 >= page.x0 - 1 and sb.x1 <= page.x1 + 1, "suptitle wider than the figure"
    for ax in fig.axes:
        colorbar = hasattr(ax, "_colorbar")
        for axis in (ax.xaxis, ax.yaxis):
            shown = _shown_labels(ax, axis, r)
            for i, (ta, a) in enumerate(shown):
                for tb, b in shown[i + 1 :]:
                    assert not a.overlaps(b), f"tick labels {ta!r} and {tb!r} overlap"
        if colorbar:
            assert ax.get_ylabel() or ax.get_xlabel(), "colorbar without a label"
        else:
            assert _labelled(ax, "x"), f"axes {ax.get_title()!r} has no x label"
            assert _labelled(ax, "y"), f"axes {ax.get_title()!r} has no y label"
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    words = [ax.title for ax in fig.axes if ax.get_title()]
    words += [fig._suptitle] if fig.get_suptitle() else []
    for leg in legends:
        lb = leg.get_window_extent(r)
        area = max(lb.width * lb.height, 1)
        for ax in fig.axes:
            covered = _overlap(lb, ax.get_window_extent(r)) / area
            assert covered < 0.02, "a legend covers an axes' data area"
        for t in words:
            assert _overlap(lb, t.get_window_extent(r)) == 0, f"a legend covers {t.get_text()!r}"


def test_the_checks_catch_garbled_ticks_long_titles_missing_labels_and_covering_legends():
    from nnfit.experiment.canvas import new_figure

    def fig_with(**change):
        fig = new_figure(4, 3)
        ax = fig.subplots()
        ax.plot([1, 2, 4], [3, 2, 1], label="data")
        ax.set(xlabel="x", ylabel="y", xscale="log")
        for key, value in change.items():
            value(fig, ax) if key == "do" else ax.set(**{key: value})
        return fig

    assert_readable(fig_with())
    garble = {"xticks": [2, 2.2, 2.4], "xticklabels": ["2×10⁰", "2.2×10⁰", "2.4×10⁰"]}
    for bad, message in (
        (garble, "tick labels .* overlap"),
        ({"title": "one\ntwo\nthree"}, "more than two lines"),
        ({"ylabel": ""}, "no y label"),
        ({"do": lambda fig, ax: ax.legend(loc="center")}, "legend covers"),
    ):
        with pytest.raises(AssertionError, match=message):
            assert_readable(fig_with(**bad))


# ------------------------------------------------------------- synthetic sweeps


def _stats(v):
    v = np.asarray(v, dtype=float)
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "min": float(v.min()),
        "max": float(v.max()),
        "n": int(v.size),
    }


def sweep_summary(widths, series, key="model.activation", seeds=3, baselines=False, slope=-1.0):
    """A summary like nnfit.sweep.grid.summarize writes: one row per (setting, width).

    ``series`` maps a grid value (None: the grid has no other key) to an error scale;
    seed s of width w has test RMSE scale·w^slope·(1 + 0.1·s) and sup error 4× that.
    """
    rows = []
    for value, scale in series.items():
        for w in widths:
            errs = [scale * w**slope * (1 + 0.1 * s) for s in range(seeds)]
            point = {} if value is None else {key: value}
            point["model.hidden"] = [w]
            row = {
                "point": point,
                "hidden": [w],
                "width": w,
                "depth": 1,
                "n_params": 3 * w + 1,
                "n_ok": seeds,
                "n_failed": 0,
                "test_rmse": _stats(errs),
                "test_max_abs": _stats([4 * e for e in errs]),
                "runs": [{"status": "ok", "seed": s, "test_rmse": e} for s, e in enumerate(errs)],
            }
            if baselines:
                row["baselines"] = {
                    # a Chebyshev degree is capped: fewer coefficients than parameters
                    # random features are the network's own: they differ between curves
                    name: {
                        "n_params": min(3 * w + 1, 41) if name == "chebyshev" else 3 * w + 1,
                        "test_rmse": _stats([f * w**-2.0]),
                        "test_max_abs": _stats([3 * f * w**-2.0]),
                    }
                    for name, f in (
                        ("chebyshev", 0.3),
                        ("pwlinear", 0.1),
                        ("random_features", 10 * scale),
                    )
                }
            rows.append(row)
    grid = {"model.hidden": [[w] for w in widths], "training.seed": list(range(seeds))}
    if None not in series:
        grid = {key: list(series), **grid}
    return {
        "name": "demo",
        "grid": grid,
        "groups": rows,
        "n_ok": seeds * len(rows),
        "n_failed": 0,
        "slopes": sweep_summary_mod.slopes(rows, grid),
    }


W9 = [1, 2, 4, 8, 16, 32, 64, 128, 256]
SWEEPS = {
    "2-width": sweep_summary([2, 3], {None: 0.1}),
    "9-width": sweep_summary(W9, {None: 0.1}, baselines=True),
    "9-width, 3 activations": sweep_summary(W9, {"tanh": 0.1, "relu": 0.2, "sigmoid": 0.3}),
    "24 widths, crowded ticks": sweep_summary(list(range(1, 25)), {None: 0.1}),
    "8-activation x 4-width": sweep_summary(
        [1, 4, 16, 64], {a: 0.05 * (i + 1) for i, a in enumerate(ACTIVATIONS)}, baselines=True
    ),
}


@functools.cache
def _figure(name):  # drawing leaves a figure as it was, so tests share them
    return sweep_plots.figures(SWEEPS[name])


@pytest.mark.parametrize("name", list(SWEEPS))
def test_width_sweeps_draw_error_vs_width_readably(name):
    summary = SWEEPS[name]
    figs = _figure(name)
    assert list(figs) == ["error_vs_width.png"]
    fig = figs["error_vs_width.png"]
    assert_readable(fig)
    widths = sorted({r["width"] for r in summary["groups"]})
    width_axes = [ax for ax in fig.axes if ax.get_xlabel().startswith("width")]
    assert width_axes
    for ax in width_axes:
        assert sorted(ax.get_xticks()) == widths  # ticks at the widths run
        texts = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert texts and all(t.replace(",", "").isdigit() for t in texts)
    assert sweep_plots.png(fig).startswith(PNG)


def test_fitted_line_spans_the_widths_it_was_fitted_on():
    summary = SWEEPS["9-width"]
    (fit,) = summary["slopes"]
    assert fit["slope"] == pytest.approx(-1.0, abs=1e-9) and fit["used"] == W9
    ax = _figure("9-width")["error_vs_width.png"].axes[0]
    lines = [ln for ln in ax.lines if ln.get_linestyle() == "--" and len(ln.get_xdata()) == 50]
    x, y = lines[0].get_xdata(), lines[0].get_ydata()
    assert (x.min(), x.max()) == pytest.approx((1, 256))
    assert y == pytest.approx(np.exp(fit["intercept"]) * x ** fit["slope"])


def test_a_two_point_sweep_has_no_slope_and_says_so():
    summary = SWEEPS["2-width"]
    assert summary["slopes"][0]["slope"] is None
    fig = _figure("2-width")["error_vs_width.png"]
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert (
        texts[0]
        == "test RMS error (mean over seeds): too few falling points for a slope (it needs 3)"
    )
    assert not any(t.startswith("all") for t in texts)


def test_small_errors_are_drawn_as_they_are_and_zero_at_a_labelled_floor():
    summary = sweep_summary([1, 2, 4, 8], {None: 1e-12})
    summary["groups"][-1]["test_rmse"] = _stats([0.0])
    fig = sweep_plots.width_figure(summary)
    ax = fig.axes[0]
    ys = np.concatenate([ln.get_ydata() for ln in ax.lines if ln.get_marker() == "o"])
    assert np.isclose(ys, 1.1e-12, rtol=1e-9, atol=0).any()  # not clipped at 1e-9
    # the least positive value is 2.5e-13 (seed 0 at width 4): zero goes a decade under
    assert ys.min() == pytest.approx(1e-14, rel=1e-9, abs=0)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "error exactly 0, drawn at 1e-14" in texts


def test_many_settings_become_small_multiples_with_shared_axes():
    fig = _figure("8-activation x 4-width")["error_vs_width.png"]
    panels = [ax for ax in fig.axes if ax.get_title().split("\n")[0] in ACTIVATIONS]
    assert [ax.get_title().split("\n")[0] for ax in panels] == ACTIVATIONS
    assert all(ax.get_shared_y_axes().joined(panels[0], ax) for ax in panels)
    baseline = [ln for ln in panels[0].lines if ln.get_marker() == "s"]
    assert len(baseline) == 1 and baseline[0].get_color() == "0.4"


def test_baselines_are_grey_dashed_with_one_legend_entry_each():
    fig = _figure("9-width")["error_vs_width.png"]
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    for name in ("Chebyshev series", "piecewise-linear fit", "random features"):
        assert sum(t.startswith(name) for t in texts) == 1
    # its curve turns flat where the degree is capped: the legend says why
    assert any("degree capped for a well-conditioned fit" in t for t in texts)
    ax_w, _, ax_p = fig.axes
    # the parameter axis is ticked at the network's counts, not the baselines' own
    network = {g["n_params"] for g in SWEEPS["9-width"]["groups"]}
    assert set(ax_p.get_xticks()) <= network
    for ax in (ax_w, ax_p):
        grey = [ln for ln in ax.lines if ln.get_color() == "0.4" and ln.get_linestyle() == "--"]
        assert sorted(ln.get_marker() for ln in grey) == ["D", "^", "s"]


def test_baselines_every_curve_shares_are_drawn_once_in_grey_the_rest_in_its_colour():
    # a sweep over activations drew its one Chebyshev fit once per curve, each copy
    # hiding the one before in another colour; the sup panel had no baselines at all
    s = sweep_summary([2, 4, 8], {"tanh": 0.1, "relu": 0.2}, baselines=True)
    fig = sweep_plots.width_figure(s)
    ax_w, ax_s, ax_p = fig.axes
    tanh, relu = (h.get_color() for h in fig.legends[0].legend_handles[:2])
    assert tanh != relu
    for ax, metric in ((ax_w, "test_rmse"), (ax_s, "test_max_abs"), (ax_p, "test_rmse")):
        dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--" and ln.get_marker() != ""]
        by_marker = {}
        for ln in dashed:
            by_marker.setdefault(ln.get_marker(), []).append(ln)
        assert [ln.get_color() for ln in by_marker["s"]] == ["0.4"]
        assert [ln.get_color() for ln in by_marker["^"]] == ["0.4"]
        assert sorted(map(str, (ln.get_color() for ln in by_marker["D"]))) == sorted(
            map(str, (tanh, relu))
        )
        row = s["groups"][0]["baselines"]["chebyshev"]
        assert by_marker["s"][0].get_ydata()[0] == pytest.approx(row[metric]["mean"])
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(t.startswith("random features") and t.endswith("in its colour") for t in texts)
    assert any(t.startswith("Chebyshev") and not t.endswith("in its colour") for t in texts)


def test_settings_read_as_words_on_their_own_rows():
    opts = [{"name": "gd", "lr": 0.2}, {"name": "adam", "lr": 0.005}, {"name": "lbfgs"}]
    summary = sweep_summary([32], {json.dumps(o): 0.01 for o in opts}, key="training.optimizer")
    for r, o in zip(summary["groups"], opts, strict=True):
        r["point"]["training.optimizer"] = o
        del r["point"]["model.hidden"]
    summary["grid"] = {"training.optimizer": opts, "training.seed": [0, 1, 2]}
    figs = sweep_plots.figures(summary)
    assert list(figs) == ["errors.png"]
    fig = figs["errors.png"]
    assert_readable(fig)
    ticks = sorted(fig.axes[0].get_yticklabels(), key=lambda t: -t.get_position()[1])
    assert [t.get_text() for t in ticks] == ["gd, lr 0.2", "adam, lr 0.005", "lbfgs"]
    assert fig.axes[0].get_ylabel() == "setting: optimizer"


def test_a_sweep_of_seeds_alone_names_its_one_setting_as_the_files():
    summary = sweep_summary([32], {None: 0.01})
    summary["groups"][0]["point"] = {}
    summary["grid"] = {"training.seed": [0, 1, 2]}
    fig = sweep_plots.figures(summary)["errors.png"]
    assert_readable(fig)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["as in the file"]
    assert ax.get_ylabel() == "the file's one setting"  # it read "setting: all"


def test_sweep_figures_choose_width_or_settings():
    widths = sweep_summary([1, 2], {"tanh": 0.1})
    assert list(sweep_plots.render(widths)) == ["error_vs_width.png"]
    depth = sweep_summary([4, 2], {"tanh": 0.1})
    depth["groups"][1].update(depth=2, hidden=[2, 2])
    assert list(sweep_plots.render(depth)) == ["errors.png"]
    none = dict(widths, groups=[dict(r, n_ok=0) for r in widths["groups"]])
    assert sweep_plots.render(none) == {}


# --------------------------------------------------------------------- one run


def _run(target, dim, hidden, epochs=3, **training):
    exp = config.from_dict(
        {
            "target": {"name": target, "dim": dim},
            "data": {"n_train": 64, "n_val": 16, "n_test": 512},
            "model": {"hidden": hidden, "activation": "sigmoid" if len(hidden) > 4 else "tanh"},
            "training": {"epochs": epochs, **training},
        }
    )
    return exp, experiment.execute(exp, plots=False)


RUNS = {
    "1-D": ("runge", 1, [8]),
    "2-D": ("franke", 2, [8]),
    "5-D": ("sine_product", 5, [8]),
    "deep": ("sine", 1, [16] * 8, 30),
}


@functools.cache
def _case(case):  # drawing does not change a record, so tests share them
    return _run(*RUNS[case])


@pytest.mark.parametrize("case", list(RUNS))
def test_run_figures_are_readable(case):
    exp, rec = _case(case)
    ds = build(exp)
    for name in plots.FIGURES:
        fig = plots.figure(name, exp, rec, ds)
        assert_readable(fig)
        if name == "fit.png":  # the other figures may cut a long formula short with "…"
            assert TARGETS[exp.target.name].formula.split("  (")[0] in fig.get_suptitle()
        assert fig.get_suptitle().startswith("F(")
        assert plots.png(fig).startswith(PNG)


def test_render_gives_the_png_bytes_of_each_figure():
    exp, rec = _case("1-D")
    figures, warnings = plots.render(exp, rec, build(exp))
    assert warnings == []
    assert set(figures) == {"fit.png", "loss.png", "gradients.png"}
    assert all(v.startswith(PNG) and len(v) > 5000 for v in figures.values())


def test_five_dimensional_fit_shows_every_coordinate():
    exp, rec = _case("5-D")
    fig = plots.fit_figure(exp, rec, build(exp))
    slices = sorted(ax.get_xlabel().split()[0] for ax in fig.axes if "others" in ax.get_xlabel())
    assert slices == ["x0", "x1", "x2", "x3", "x4"]
    assert any(ax.get_ylabel() == "network g" for ax in fig.axes)  # predicted against true
    said = [ax.get_xlabel() for ax in fig.axes if ax.get_ylabel() == "network g"]
    assert said == ["F at 512 test points"]
    # the scatter shows the first 2,000 test points, and says of how many: it read as if
    # they were the whole test set of 10,000
    big = exp.model_copy(update={"data": exp.data.model_copy(update={"n_test": 3000})})
    fig = plots.fit_figure(big, rec, build(big))
    said = [ax.get_xlabel() for ax in fig.axes if ax.get_ylabel() == "network g"]
    assert said == ["F at 2,000 of the 3,000 test points"]


def test_deep_gradients_name_layers_by_depth_and_show_the_ratio():
    exp, rec = _case("deep")
    fig = plots.gradients_figure(exp, rec)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts[0] == "layer 1 (input side)" and texts[8] == "layer 9 (output)"
    ratio_ax = fig.axes[1]
    g = rec.history
    expected = plots.running_median(g["grad_norm_0"], 1) / plots.running_median(g["grad_norm_8"], 1)
    assert ratio_ax.get_ylabel() == "layer 1 / layer 9"
    assert ratio_ax.lines[0].get_ydata()[0] == pytest.approx(expected[0])


def _labelled_log_ticks(ax):
    ax.figure.canvas.draw()
    lo, hi = sorted(ax.get_ylim())
    return [
        (t.get_position()[1], t.get_text())
        for t in ax.get_yticklabels()
        if t.get_text() and lo <= t.get_position()[1] <= hi
    ]


def test_a_ratio_within_two_decades_is_ticked_in_plain_numbers():
    # a tanh net's ratio between 0.9 and 2.6 had two ticks, labelled 10⁰ and 2 × 10⁰
    exp, rec = _run("sine", 1, [8, 8], epochs=20)
    fig = plots.gradients_figure(exp, rec)
    ratio_ax = fig.axes[1]
    ratio = ratio_ax.lines[0].get_ydata()
    assert 1 < max(ratio.max(), 1) / min(ratio.min(), 1) < 100
    shown = _labelled_log_ticks(ratio_ax)
    assert len(shown) >= 3
    assert all(float(text) == pytest.approx(y) for y, text in shown)


def test_a_solved_output_layer_is_left_out_of_the_gradient_ratio():
    # its gradient is rounding (or the ridge's): layer 1 over it read 1e5–1e10, "≫ 1:
    # gradients grow toward the input", for a network whose gradients did no such thing
    exp, rec = _run("sine", 1, [6, 6], epochs=10, optimizer="lm", output_layer="lstsq")
    fig = plots.gradients_figure(exp, rec)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts[:3] == ["layer 1 (input side)", "layer 2", "layer 3 (output, solved)"]
    ratio_ax = fig.axes[1]
    assert ratio_ax.get_ylabel() == "layer 1 / layer 2"
    g = rec.history
    expected = g["grad_norm_0"][0] / g["grad_norm_1"][0]
    assert ratio_ax.lines[0].get_ydata()[0] == pytest.approx(expected)
    assert ratio_ax.get_title().endswith("\nlayer 3, the output, is solved")
    # one hidden layer: nothing to compare it with, so no ratio panel
    exp, rec = _run("sine", 1, [6], epochs=10, optimizer="lm", output_layer="lstsq")
    assert len(plots.gradients_figure(exp, rec).axes) == 1


def test_loss_curves_are_in_fs_units_and_mark_the_restored_epoch():
    exp, rec = _run(
        "sine",
        1,
        [8],
        epochs=60,
        l2=1e-3,
        early_stopping={"patience": 1000},
        schedule={"name": "cosine"},
    )
    rec.best_epoch = 20  # as if early stopping had restored epoch 20
    fig = plots.loss_figure(exp, rec)
    ax = fig.axes[0]
    train, val = ax.lines[0], ax.lines[1]
    assert train.get_ydata() == pytest.approx(np.asarray(rec.history["train_loss"]))
    # the history is in F's units: the kept weights' validation loss is ½·mse of metrics
    kept = int(np.argmin(rec.history["val_loss"]))
    assert val.get_ydata()[kept] == pytest.approx(0.5 * rec.metrics["val"]["mse"], rel=1e-9)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts[0].startswith("training cost C (incl. L2 0.001 penalty)")
    assert "validation loss" in texts
    assert any(t.startswith("epoch 20: lowest validation loss, weights restored") for t in texts)
    assert [ln.get_xdata()[0] for ln in ax.lines if ln.get_linestyle() == "--"] == [20]
    assert fig.axes[1].get_ylabel() == "learning rate"  # the cosine schedule moves it
    assert texts[0].endswith(", mean over the epoch's batches")
    exp, rec = _run("sine", 1, [8], epochs=5)
    texts = [t.get_text() for t in plots.loss_figure(exp, rec).legends[0].get_texts()]
    assert texts[0].startswith("training loss")
    # lm has one batch an epoch: its loss is not a mean over batches
    exp, rec = _run("sine", 1, [4], epochs=5, optimizer="lm")
    texts = [t.get_text() for t in plots.loss_figure(exp, rec).legends[0].get_texts()]
    assert texts[0] == "training loss, on the whole training set"


def test_importing_and_drawing_leaves_the_backend_alone():
    code = (
        "import sys, matplotlib\n"
        "from nnfit.experiment import plots\n"
        "from nnfit.sweep import plots as sp\n"
        "from tests.test_plots import SWEEPS\n"
        "sp.render(SWEEPS['2-width'])\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "print(matplotlib.get_backend())\n"
    )
    env = dict(os.environ, MPLBACKEND="svg")
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().lower() == "svg"


def test_grid_points_in_words():
    from nnfit.sweep.labels import setting_label

    assert setting_label({"training.optimizer": {"name": "adam", "lr": 0.005}}) == "adam, lr 0.005"
    assert setting_label({"target.name": "runge", "training.l2": 0.001}) == "runge; l2 0.001"
    assert setting_label({"model.hidden": [15, 15], "training.seed": 2}) == "hidden 15-15"
    assert setting_label({"model.hidden": [16] * 8}) == "8 hidden layers of 16"
    act = {"model.activation": {"name": "leaky_relu", "slope": 0.1}}
    assert setting_label(act) == "leaky_relu, slope 0.1"


def test_each_curve_gets_its_own_baselines():
    """A sweep over targets: each target's baselines were fitted to its own data."""
    s = sweep_summary([2, 4, 8], {"sine": 0.1, "runge": 0.2}, key="target.name", baselines=True)
    for r in s["groups"]:
        if r["point"]["target.name"] == "runge":  # runge's Chebyshev is 1000× worse
            b = r["baselines"]["chebyshev"]["test_rmse"]
            r["baselines"]["chebyshev"]["test_rmse"] = {k: v and v * 1000 for k, v in b.items()}
    fig = sweep_plots.width_figure(s)
    ax_w = fig.axes[0]
    cheb = [ln for ln in ax_w.lines if ln.get_marker() == "s"]
    assert len(cheb) == 2  # one per target, each in its curve's colour
    levels = sorted(float(ln.get_ydata()[0]) for ln in cheb)
    assert levels[1] == pytest.approx(1000 * levels[0])
    assert len({ln.get_color() for ln in cheb}) == 2


def test_a_baseline_in_the_settings_legend_lies_on_its_axis():
    # the axis spanned the network's errors only: a Chebyshev fit at 1e-15 was listed in
    # the legend and drawn nowhere
    opts = [{"name": "gd", "lr": 0.2}, {"name": "adam", "lr": 0.005}]
    summary = sweep_summary([32], {json.dumps(o): 0.01 for o in opts}, key="training.optimizer")
    for r, o in zip(summary["groups"], opts, strict=True):
        r["point"]["training.optimizer"] = o
        del r["point"]["model.hidden"]
        r["baselines"] = {"chebyshev": {"n_params": 97, sweep_plots.RMSE: {"mean": 1e-15}}}
    summary["grid"] = {"training.optimizer": opts, "training.seed": [0, 1, 2]}
    fig = sweep_plots.figures(summary)["errors.png"]
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    network = np.concatenate([ln.get_xdata() for ln in ax.lines if ln.get_color() != "0.4"])
    assert lo <= 1e-15 < network.min() and network.max() <= hi
    assert any("Chebyshev" in t.get_text() for t in fig.legends[0].get_texts())


def test_log_axes_take_minor_ticks_at_two_and_five_of_a_decade():
    # eight minor ticks a decade were a third of a run figure's time (layout and draw)
    from nnfit.experiment.canvas import finish, new_figure

    fig = new_figure(4, 3)
    ax = fig.subplots()
    ax.semilogy([1, 2, 3], [1e-6, 1e-3, 1.0])
    finish(fig)
    locs = [v for v in ax.yaxis.get_minorticklocs() if 1e-6 < v < 1.0]
    mantissas = {round(v / 10 ** np.floor(np.log10(v)), 6) for v in locs}
    assert mantissas == {2.0, 5.0} and len(locs) == 12


@pytest.mark.parametrize("span", [(0.44, 0.48), (0.02, 0.6), (0.03, 2.5)])
def test_a_log_axis_under_three_decades_gets_three_or_more_plain_labels(span):
    # matplotlib's own gave the square wave's panels 10⁻¹ and 10⁰, a sup panel 10⁰ alone
    from nnfit.experiment.canvas import finish, new_figure

    fig = new_figure(4, 3)
    ax = fig.subplots()
    ax.semilogy([1, 2, 3], [span[0], np.sqrt(span[0] * span[1]), span[1]])
    finish(fig)
    shown = _labelled_log_ticks(ax)
    assert len(shown) >= 3
    assert all(float(text) == pytest.approx(y) for y, text in shown)


def test_a_final_solve_keeps_the_learning_rate_panel_and_random_features_name_no_optimizer():
    # the closing solve's row has no rate: the panel of a cosine schedule vanished
    exp, rec = _run("sine", 1, [8], epochs=20, output_layer="lstsq", schedule={"name": "cosine"})
    assert rec.history["lr"][-1] is None or not np.isfinite(rec.history["lr"][-1])
    fig = plots.loss_figure(exp, rec)
    assert [ax.get_ylabel() for ax in fig.axes][-1] == "learning rate"
    assert fig._suptitle.get_text().endswith("· adam, output solved at the start and the end")
    exp, rec = _run("sine", 1, [8], epochs=0, output_layer="lstsq")
    title = plots.loss_figure(exp, rec)._suptitle.get_text()
    assert "adam" not in title and title.endswith("output by least squares")


def test_a_1d_fit_draws_its_training_points_over_the_curves():
    exp, rec = _case("1-D")
    ax = plots.fit_figure(exp, rec, build(exp)).axes[0]
    assert ax.collections[0].get_zorder() > max(line.get_zorder() for line in ax.lines)


def test_a_random_features_run_draws_its_one_row_as_points_on_an_axis_of_that_epoch():
    # one history row drawn as a line showed nothing, on an x-axis of −0.04 … 0.04
    exp, rec = _run("sine", 1, [8], epochs=0, output_layer="lstsq")
    assert len(rec.history["epoch"]) == 1
    for fig in (plots.loss_figure(exp, rec), plots.gradients_figure(exp, rec)):
        ax = fig.axes[0]
        assert all(line.get_marker() not in ("None", "", None) for line in ax.get_lines())
        assert list(ax.get_xticks()) == [0] and ax.get_xlim() == (-1, 1)
    title = plots.gradients_figure(exp, rec).axes[0].get_title()
    assert "light" not in title and "one evaluation" in title


def test_the_loss_figure_marks_each_least_squares_solve_and_the_title_says_how_often():
    exp, rec = _run("sine", 1, [8], epochs=30, output_layer="lstsq", output_every=10)
    h = rec.history
    solved = [e for e, v in zip(h["epoch"], h["output_solved"], strict=True) if v == 1.0]
    assert solved == [0, 10, 20, 30, 30]  # the start, every 10 epochs, the closing solve
    fig = plots.loss_figure(exp, rec)
    marks = [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == "D"]
    # the closing solve is for the hidden layers kept: drawn at their epoch
    assert rec.best_epoch < 30
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [*solved[:-1], rec.best_epoch]
    assert "output solved every 10 epochs and at the end" in fig._suptitle.get_text()
    exp, rec = _run("sine", 1, [4], epochs=3, optimizer={"name": "lm"}, output_layer="lstsq")
    assert "(variable projection)" in plots.loss_figure(exp, rec)._suptitle.get_text()


def test_the_fitted_slope_swatch_dashes_in_each_curves_colour_in_turn():
    # the swatch was one black dashed line, read as one more grey dashed baseline; then
    # one 15-point dash per curve side by side in a 16-point handle, which looked solid
    s = sweep_summary([2, 4, 8, 16], {"tanh": 0.1, "relu": 0.2, "elu": 0.3}, baselines=True)
    fig = sweep_plots.width_figure(s)
    legend = fig.legends[0]
    texts = [t.get_text() for t in legend.get_texts()]
    curves = [h.get_color() for h in legend.legend_handles[:3]]
    swatch = sweep_plots.fit_swatch(curves)
    assert [ln.get_color() for ln in swatch] == curves
    handle = legend.handlelength * legend.prop.get_size_in_points()
    starts = []
    for ln in swatch:
        ln.set_figure(fig)  # scales the dashes by the line width, in points
        offset, (dash, gap) = ln._dash_pattern
        starts.append((dash + gap - offset) % (dash + gap))
        assert (dash + gap - offset) % (dash + gap) + dash <= handle  # its dash in the handle
    assert len({round(x, 6) for x in starts}) == 3  # each colour in a slot of its own
    assert "fitted slope (in the curve's colour)" in texts
    ax = fig.axes[0]
    fits = [ln for ln in ax.lines if len(ln.get_xdata()) == 50 and ln.get_color() in curves]
    grey = [ln for ln in ax.lines if ln.get_color() == "0.4" and ln.get_marker() == "s"]
    assert len(fits) == 3 and grey
    assert all(ln._dash_pattern != grey[0]._dash_pattern for ln in fits)
    assert all(ln.get_linewidth() > 2 * grey[0].get_linewidth() for ln in fits)


def test_one_seed_per_point_has_no_band_swatch_and_a_curve_of_failed_runs_says_so():
    s = sweep_summary([2, 4, 8, 16], {"tanh": 0.1, "relu": 0.2}, seeds=1)
    legend = sweep_plots.width_figure(s).legends[0]
    texts = [t.get_text() for t in legend.get_texts()]
    i = texts.index("one seed per point (no band)")
    assert legend.legend_handles[i].get_linestyle() == "None"
    assert not any(t.startswith("band") for t in texts)
    for r in s["groups"]:
        if r["point"]["model.activation"] == "relu":
            r["n_ok"], r["n_failed"], r["n_runs"] = 0, 1, 1
            r["test_rmse"] = r["test_max_abs"] = {"mean": None, "min": None, "max": None}
    s["slopes"] = [f for f in s["slopes"] if "relu" not in f["series"]]
    texts = [t.get_text() for t in sweep_plots.width_figure(s).legends[0].get_texts()]
    # it read 'too few falling points for a slope (it needs 3)', and nothing was drawn
    assert texts[1] == "relu: all 4 runs failed, nothing drawn"


def test_one_seed_per_point_is_not_called_a_mean_and_a_2d_sweep_draws_n_to_the_minus_one():
    s = sweep_summary([2, 4, 8, 16], {None: 0.1}, seeds=1)
    for r in s["groups"]:
        r["dim"] = 2
    fig = sweep_plots.width_figure(s)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts[0].startswith("test RMS error: slope") and not any("mean" in t for t in texts)
    assert r"reference $\propto n^{-2/d}$ (piecewise-linear, d = 2)" in texts
    ref = [ln for ln in fig.axes[0].lines if ln.get_linestyle() == "-." and ln.get_color() == "0.4"]
    x, y = ref[0].get_xdata(), ref[0].get_ydata()
    assert np.log(y[-1] / y[0]) / np.log(x[-1] / x[0]) == pytest.approx(-1.0)
    del s["groups"][0]["dim"]  # a summary written before the dimension was kept: 1-D
    texts = [t.get_text() for t in sweep_plots.width_figure(s).legends[0].get_texts()]
    assert r"reference $\propto n^{-2}$ (piecewise-linear fit)" in texts


def test_the_kept_epoch_mark_says_what_min_delta_and_monitor_made_it():
    # 'lowest training cost' was written where later epochs were lower by less than
    # min_delta, and 'validation loss' where monitor: train watched the training cost
    es = {"patience": 3, "min_delta": 1e-2, "monitor": "train"}
    exp, rec = _run("sine", 1, [8], epochs=200, early_stopping=es)
    assert rec.best_epoch < rec.epochs
    texts = [t.get_text() for t in plots.loss_figure(exp, rec).legends[0].get_texts()]
    want = f"epoch {rec.best_epoch}: last to lower the training cost by more than 0.01"
    assert any(t.startswith(want) for t in texts)


def test_a_2d_fit_gives_the_drawn_grids_own_max_and_log_colours_for_the_error():
    # the title's sup error (test points, inside the square) sat below the colour bar's
    # top (the drawn grid reaches the edges), and a linear scale left most of it black
    from matplotlib.colors import LogNorm

    exp, rec = _case("2-D")
    fig = plots.fit_figure(exp, rec, build(exp))
    ax = [a for a in fig.axes if a.images][2]  # F, g, then |g − F|
    top = ax.images[0].get_array().max()
    assert ax.get_title().endswith(f"|g − F| up to the edges: max {top:.3e}")
    assert isinstance(ax.images[0].norm, LogNorm) and ax.images[0].norm.vmax == top


def test_a_curve_with_failed_runs_says_how_many_in_its_legend_entry():
    s = sweep_summary([2, 4, 8], {"0.1": 0.1, "0.9": 0.2}, key="training.optimizer.lr")
    for r in s["groups"]:
        if r["point"]["training.optimizer.lr"] == "0.9":
            r["n_failed"], r["n_runs"] = 2, 5
    texts = [t.get_text() for t in sweep_plots.width_figure(s).legends[0].get_texts()]
    assert texts[1].endswith("; 6 of 15 runs failed") and "failed" not in texts[0]


def test_the_huber_loss_axis_writes_a_negative_shift_as_a_plus():
    exp, rec = _run("sine", 1, [4], loss={"name": "huber", "delta": 0.1})
    rec.model["meta"]["scale_y"] = {"shift": -0.0264, "scale": 0.711}
    assert plots.loss_units(exp, rec) == "huber loss of y scaled to (y + 0.0264) / 0.711"


def test_a_fit_says_when_g_is_a_diverged_runs_kept_weights_and_names_noise_and_penalties():
    exp, rec = _run("sine", 1, [8], epochs=30, optimizer={"name": "sgd", "lr": 1e4})
    assert rec.status == "diverged"
    ax = plots.fit_figure(exp, rec, build(exp)).axes[0]
    kept = f"epoch {rec.best_epoch:,}'s weights" if rec.best_epoch else "the weights as initialised"
    assert ax.get_title().endswith(f"\ndiverged: g is {kept}")
    # with a solved output layer the note is longer, and was cut: "… output layer solv…"
    exp, rec = _run(
        "sine", 1, [8], epochs=30, optimizer={"name": "momentum", "lr": 1e4}, output_layer="lstsq"
    )
    assert rec.status == "diverged"
    title = plots.fit_figure(exp, rec, build(exp)).axes[0].get_title()
    assert title.endswith("with the output layer solved for them") and "…" not in title
    exp = config.from_dict(
        {
            "target": {"name": "sine"},
            "data": {"n_train": 64, "n_val": 16, "n_test": 512, "noise": 0.2},
            "model": {"hidden": [4]},
            "training": {"epochs": 2, "l1": 1e-4, "l2": 1e-3},
        }
    )
    rec = experiment.execute(exp, plots=False)
    fig = plots.fit_figure(exp, rec, build(exp))
    assert fig._suptitle.get_text().endswith("· adam, L1 0.0001 + L2 0.001")
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "training points, F + noise of σ 0.2" in texts


def test_the_loss_legend_stays_inside_the_figure_and_the_axis_names_the_penalty():
    # two columns ran past the right edge ('… (training cost after it' was cut off), and
    # the axis said ½·mean (g − y)² of a curve that adds the L1 and L2 penalty
    exp, rec = _run(
        "sine", 1, [8, 8], epochs=20, l1=1e-6, l2=1e-6, output_layer="lstsq", output_every=10
    )
    fig = plots.loss_figure(exp, rec)
    canvas.png(fig)  # lays the figure out
    legend = fig.legends[0]
    box = legend.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width
    assert legend._ncols == 1  # the solve's entry is too long to share a row
    assert fig.axes[0].get_ylabel() == "½·mean (g − y)², cost + penalty  [F's units²]"
    exp, rec = _run("sine", 1, [8])
    assert plots.loss_figure(exp, rec).axes[0].get_ylabel() == "½·mean (g − y)²  [F's units²]"


def test_a_run_that_diverged_in_its_first_epoch_is_not_called_untrained():
    # its loss.png said "no training: the output layer solved once by least squares" on
    # an axis of −0.04 … 0.04, for rows of epoch 0 before and after the closing solve
    exp, rec = _run("sine", 1, [8], epochs=5, output_layer="lstsq")
    rec.stop_reason, rec.history = "diverged", {
        k: v[:1] * 2 for k, v in rec.history.items()
    }  # fmt: skip
    ax = plots.loss_figure(exp, rec).axes[0]
    assert ax.get_title() == (  # "the marked epoch's weights were kept", none marked
        "0 epochs completed; diverged in epoch 1 (the cost blew up)\nkept: the hidden "
        "weights as initialised, with the output layer solved for them"
    )
    assert ax.get_xlim() == (-1, 1)
    exp, rec = _run("sine", 1, [8], epochs=5)
    rec.stop_reason, rec.best_epoch = "diverged", 3
    rec.history = {k: v[:5] for k, v in rec.history.items()}  # epochs 0 … 4
    ax = plots.loss_figure(exp, rec).axes[0]
    assert ax.get_title() == (
        "4 epochs completed; diverged in epoch 5 (the cost blew up)\nkept: epoch 3's "
        "weights (marked)"
    )
    assert list(ax.get_lines()[-1].get_xdata()) == [3, 3]  # the mark
    rec.best_epoch, rec.history = 0, {k: v[:2] for k, v in rec.history.items()}
    title = plots.loss_figure(exp, rec).axes[0].get_title()
    assert title.startswith("1 epoch completed; diverged in epoch 2")  # "1 epochs"


def test_the_gradient_ratio_caption_is_whole_for_a_deep_net_whose_gradients_vanish():
    # one line of ratio, diagnosis and solved layer ran past the axes: "… vanish tow…"
    exp, rec = _run("sine", 1, [16] * 6, epochs=8, output_layer="lstsq", output_every=4)
    fig = plots.gradients_figure(exp, rec)
    title = fig.axes[1].get_title()
    assert "gradients vanish toward the input" in title  # sigmoid, six layers
    assert "…" not in title and title.endswith("input; layer 7, the output, is solved")
    assert len(title.split("\n")) == 2


def test_a_baseline_with_fewer_parameters_than_any_network_gets_a_tick():
    # the piecewise-linear fit on one knot (1 parameter) sat left of the first label (7)
    s = sweep_summary([2, 4, 8], {"tanh": 0.1}, baselines=True)
    s["groups"][0]["baselines"]["pwlinear"]["n_params"] = 1
    ax_p = sweep_plots.width_figure(s).axes[2]
    assert ax_p.get_xticklabels()[0].get_text() == "1"
    assert min(ax_p.get_xticks()) == 1


def test_a_long_formula_is_broken_before_a_term_not_cut():
    # Franke's function was cut after a third of it: "… − (9…"
    exp = config.from_dict({"target": {"name": "franke", "dim": 2}, "model": {"hidden": [4]}})
    first, second, network = plots.describe(exp, 8.5).split("\n")
    assert "…" not in first + second and second.strip().startswith("− ⅕e^(")
    assert first.endswith("(9y−3)²/4)") and network.startswith("network 2-4-1")
    exp = config.from_dict({"target": {"name": "sine"}, "model": {"hidden": [4]}})
    assert len(plots.describe(exp, 8.5).split("\n")) == 2  # a short one keeps one line


def test_a_short_runs_loss_axis_has_whole_epochs_and_converged_says_of_what():
    # an 18-epoch LM run read 2.5, 7.5, 12.5 on its axis, and "converged" at 0.26
    exp, rec = _run("sine", 1, [4], epochs=18, optimizer="lm")
    rec.stop_reason = "converged"
    fig = plots.loss_figure(exp, rec)
    canvas.png(fig)
    ticks = [t for t in fig.axes[0].get_xticks() if 0 <= t <= 18]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert fig.axes[0].get_title().endswith("(a minimum, maybe a local one)")


def test_the_gradient_caption_says_what_the_rows_at_each_solve_are():
    # the dips at every solve (the output layer's gradient is rounding there) were unsaid
    exp, rec = _run("sine", 1, [8], epochs=60, output_layer="lstsq", output_every=20)
    title = plots.gradients_figure(exp, rec).axes[0].get_title()
    assert title.endswith("\nrows at a solve of the output layer: the full batch's gradient "
                          "after it (the output layer's is near 0)")  # fmt: skip
    exp, rec = _run("sine", 1, [8], epochs=60)
    assert "solve" not in plots.gradients_figure(exp, rec).axes[0].get_title()


def test_a_closing_solve_for_restored_hidden_layers_is_drawn_at_their_epoch():
    # loss.png drew it at the last epoch, and both curves dipped there, although the
    # weights were restored from an earlier epoch and the solve was for those
    exp, rec = _run("runge", 1, [16], epochs=200, optimizer="lm", output_layer="lstsq")
    best, last = rec.best_epoch, rec.history["epoch"][-1]
    assert 0 < best < last and rec.history["output_solved"][0] == 1.0  # epoch 0 solved
    fig = plots.loss_figure(exp, rec)
    ax = fig.axes[0]
    train, val, diamonds = ax.get_lines()[:3]
    assert train.get_xdata()[-1] == val.get_xdata()[-1] == last
    assert len(train.get_xdata()) == len(rec.history["epoch"]) - 1  # not the closing row
    assert list(diamonds.get_xdata()) == [0, best]
    assert diamonds.get_ydata()[-1] == rec.history["train_loss"][-1]
    labels = fig.legends[0].get_texts()
    said = " ".join(t.get_text().replace("\n", " ") for t in labels)
    assert f"the last, at the end, for epoch {best}'s hidden layers" in said
    # the rise after epoch 0's exact solve is LM's ridge, said in the legend
    assert rec.history["train_loss"][1] > rec.history["train_loss"][0]
    assert "under LM's ridge (1e-06, halved each step down to 1e-14)" in said
    box = fig.legends[0].get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width


def test_lbfgs_with_a_solved_output_layer_marks_epoch_0_as_solved():
    _, rec = _run("sine", 1, [8], epochs=5, optimizer="lbfgs", output_layer="lstsq")
    assert rec.history["output_solved"][0] == 1.0
    _, rec = _run("sine", 1, [8], epochs=5, optimizer="lbfgs")
    assert "output_solved" not in rec.history or not any(
        v == 1.0 for v in rec.history["output_solved"]
    )


def test_a_loss_axis_of_less_than_a_decade_shows_the_decades_around_it():
    # random features: two points 5 % apart filled the panel, drawn as a fall
    exp, rec = _run("sine", 1, [16], epochs=0, output_layer="lstsq")
    ax = plots.loss_figure(exp, rec).axes[0]
    lo, hi = ax.get_ylim()
    values = [v for v in rec.history["train_loss"] + rec.history["val_loss"] if v]
    assert hi / lo >= 10 and lo <= min(values) and max(values) <= hi
    assert math.log10(lo) == round(math.log10(lo)) and math.log10(hi) == round(math.log10(hi))
