"""Drawing pieces shared by the study's figures: curves with a band over seeds, grey
baselines, reference slopes, log axes ticked at the values run, a legend below.

Every figure is built on nnfit's own Agg canvas (no pyplot) and laid out by
:func:`nnfit.experiment.canvas.finish`, which also cuts overlong titles.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from nnfit.experiment import canvas
from nnfit.experiment.canvas import log_ticks_at, zero_floor
from nnfit.study import methods
from nnfit.study.view import baseline, med, spread

GREY = "0.45"
#: baseline name → (legend text, marker)
BASELINES = {
    "chebyshev": (
        "Chebyshev series, at most the same parameter count, degree capped for a "
        "well-conditioned fit",
        "s",
    ),
    "pwlinear": ("piecewise-linear fit, knots = width", "^"),
}
#: reference slopes: (exponent, line style, legend text)
REFERENCES = (
    (-0.5, ":", r"reference $\propto n^{-1/2}$ (Barron)"),
    (-2.0, "-.", r"reference $\propto n^{-2}$ (piecewise linear)"),
)


def lift(values, floor: float) -> np.ndarray:
    """Exact zeros drawn at ``floor`` on a log axis."""
    a = np.asarray(values, dtype=float)
    return np.where(a == 0, floor, a)


def curve(ax, x, groups, metric, color, floor, ls="-", marker="o", band=True) -> list[float]:
    """Median over seeds with a band from the best to the worst seed; returns the values."""
    y = lift([med(g, metric) for g in groups], floor)
    ax.plot(x, y, color=color, ls=ls, marker=marker, ms=3.5, lw=1.5)
    drawn = list(y)
    if band:
        lo, hi = (lift([spread(g, metric)[i] for g in groups], floor) for i in (0, 1))
        ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)
        drawn += list(lo) + list(hi)
    zero = np.asarray([med(g, metric) for g in groups]) == 0
    if zero.any():
        ax.plot(np.asarray(x)[zero], np.full(zero.sum(), floor), "v", color=color, ms=7)
    return [v for v in drawn if math.isfinite(v) and v > 0]


def baselines(ax, x, groups, floor, names=tuple(BASELINES), metric="rmse") -> list[float]:
    """The grey dashed baselines of ``groups`` (median over seeds) at the x given."""
    drawn: list[float] = []
    for name in names:
        y = lift([baseline(g, name, metric) for g in groups], floor)
        if np.isfinite(y).any():
            ax.plot(x, y, color=GREY, ls="--", lw=1, marker=BASELINES[name][1], ms=4, mfc="white")
            drawn += [v for v in y if math.isfinite(v) and v > 0]
    return drawn


def references(ax, x0: float, y0: float, x1: float, slopes=(-0.5, -2.0)) -> None:
    """The reference slopes through (x0, y0) up to x1 (they do not move the y-limits)."""
    if not (x1 > x0 > 0 and y0 > 0 and math.isfinite(y0)):
        return
    xs = np.geomspace(x0, x1, 40)
    for k, ls, _ in REFERENCES:
        if k in slopes:
            ax.plot(xs, y0 * (xs / x0) ** k, color=GREY, ls=ls, lw=1.1)


def log_axes(ax, x_values, y_values, x_label=None) -> None:
    """Log-log axes ticked at the x values run, y-limits from the values drawn."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    log_ticks_at(ax.xaxis, x_values)
    ax.grid(alpha=0.3)
    v = np.asarray([y for y in y_values if y > 0 and math.isfinite(y)])
    if v.size:
        ax.set_ylim(v.min() / 3, v.max() * 3)
    if x_label:
        ax.set_xlabel(x_label, fontsize=9)


def floor_of(groups, metrics=("test_rmse", "test_max_abs")) -> float:
    """Where exact zeros go: a decade under the least positive value."""
    vals = [spread(g, m)[0] for g in groups for m in metrics]
    return zero_floor(vals)


def method_handle(color, ls="-", marker="o", hollow=False) -> Line2D:
    return Line2D([], [], color=color, ls=ls, marker=marker, ms=4, mfc="white" if hollow else color)


def style_handles(n_seeds: int, names=tuple(BASELINES), slopes=(-0.5, -2.0)) -> tuple[list, list]:
    """Legend entries for the band, the baselines and the references."""
    handles: list = [Patch(color="0.5", alpha=0.3)]
    labels = [f"band (in the curve's colour): best to worst of {n_seeds} seeds; line: median"]
    for name in names:
        text, marker = BASELINES[name]
        handles.append(Line2D([], [], color=GREY, ls="--", marker=marker, mfc="white"))
        labels.append(text)
    for k, ls, text in REFERENCES:
        if k in slopes:
            handles.append(Line2D([], [], color=GREY, ls=ls))
            labels.append(text)
    return handles, labels


def legend_below(fig, handles, labels, ncols: int = 3) -> None:
    """One legend under the panels, outside every axes (it never covers data), in fewer
    columns where ``ncols`` would run past the figure's edges."""
    canvas.legend_below(fig, handles, labels, ncols)


def methods_legend(fig, sweeps, extra=()) -> None:
    """The legend of a figure of several methods: one entry per sweep in its colour, the
    ``extra`` (handle, label) pairs, then the band, the baselines and the reference
    slopes."""
    handles = [method_handle(methods.color(s)) for s in sweeps] + [h for h, _ in extra]
    labels = [methods.of(s) for s in sweeps] + [text for _, text in extra]
    more_h, more_l = style_handles(n_seeds(sweeps[0].groups))
    legend_below(fig, handles + more_h, labels + more_l, ncols=3)


def n_seeds(groups) -> int:
    return max((len(g["runs"]) for g in groups), default=0)
