"""Figures for 1-D, 2-D and higher-dimensional targets are drawn, as PNG bytes."""

import pytest

from nnfit.experiment import config, plots
from nnfit.experiment import runner as experiment
from nnfit.sweep import plots as sweep_plots

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("target", "dim"), [("sine", 1), ("franke", 2), ("sine_product", 4)])
def test_run_figures(target, dim):
    exp = config.from_dict(
        {
            "target": {"name": target, "dim": dim},
            "data": {"n_train": 64, "n_val": 16, "n_test": 400},
            "model": {"hidden": [4]},
            "training": {"epochs": 3},
        }
    )
    rec = experiment.execute(exp, plots=False)
    from nnfit.experiment.data import build

    figures, warnings = plots.render(exp, rec, build(exp))
    assert warnings == []
    assert set(figures) == {"fit.png", "loss.png", "gradients.png"}
    assert all(v.startswith(PNG) and len(v) > 5000 for v in figures.values())


def test_sweep_figures_choose_width_or_settings():
    def row(width, depth, act, v):
        stats = {"mean": v, "std": 0.0, "min": v, "max": v, "n": 1}
        return {
            "point": {"model.activation": act, "model.hidden": [width] * depth},
            "width": width,
            "depth": depth,
            "n_params": 3 * width + 1,
            "n_ok": 1,
            "n_failed": 0,
            "test_rmse": stats,
            "test_max_abs": stats,
        }

    widths = {
        "grid": {"model.hidden": [[1], [2]], "model.activation": ["tanh"]},
        "groups": [row(1, 1, "tanh", 0.1), row(2, 1, "tanh", 0.05)],
        "n_ok": 2,
        "n_failed": 0,
        "slopes": [],
    }
    assert list(sweep_plots.render(widths)) == ["error_vs_width.png"]
    depth = dict(widths, groups=[row(4, 1, "tanh", 0.1), row(2, 2, "tanh", 0.05)])
    assert list(sweep_plots.render(depth)) == ["errors.png"]
    none = dict(widths, groups=[dict(r, n_ok=0) for r in widths["groups"]])
    assert sweep_plots.render(none) == {}
