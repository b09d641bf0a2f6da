"""The picture of a sweep: error against width (and parameter count), or per setting.

Log-log axes, one curve per setting of the other grid keys, a band from the best to
the worst seed, the fitted slope in the legend, and the reference slopes n^-1/2
(Barron, RMS error) and n^-2 (piecewise-linear fit of a smooth 1-D function).
"""

from __future__ import annotations

import json

import numpy as np

from nnfit.experiment.plots import plt, png
from nnfit.sweep.grid import pretty
from nnfit.sweep.rates import BARRON, PIECEWISE_LINEAR, describe

#: errors below this are drawn at it (an exact fit would squash every other curve)
FLOOR = 1e-9


def _series(summary: dict):
    from nnfit.sweep.grid import series_key

    out: dict[str, list[dict]] = {}
    for r in summary["groups"]:
        out.setdefault(series_key(r, summary["grid"]), []).append(r)
    return {k: sorted(v, key=lambda r: r["n_params"]) for k, v in out.items()}


def _band(ax, x, rows, metric, color, label, ls="-"):
    def col(q):
        v = np.array([r[metric][q] if r[metric][q] is not None else np.nan for r in rows])
        return np.maximum(v, FLOOR)

    mean, lo, hi = col("mean"), col("min"), col("max")
    ax.loglog(x, mean, marker="o", ms=3.5, color=color, ls=ls, label=label)
    ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)
    return mean


def _references(ax, x, y):
    ok = np.isfinite(y) & (np.asarray(x) > 0)
    if not ok.any():
        return
    x0, y0 = np.asarray(x, dtype=float)[ok][0], y[ok][0]
    xs = np.geomspace(x0, max(np.asarray(x, dtype=float)[ok].max(), x0 * 2), 50)
    ax.loglog(xs, y0 * (xs / x0) ** BARRON, color="grey", ls=":", lw=1, label="n^-1/2 (Barron)")
    ax.loglog(
        xs,
        y0 * (xs / x0) ** PIECEWISE_LINEAR,
        color="grey",
        ls="--",
        lw=1,
        label="n^-2 (piecewise linear)",
    )


def width_figure(summary: dict):
    series = _series(summary)
    fits = {f["series"]: f for f in summary.get("slopes", [])}
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    first = True
    for i, (name, rows) in enumerate(series.items()):
        c = colors[i % len(colors)]
        rows = sorted(rows, key=lambda r: r["width"])
        width = [r["width"] for r in rows]
        fit = fits.get(name, {})
        label = (
            pretty(name)
            if fit.get("slope") is None
            else (f"{pretty(name)}: k = {fit['slope']:.2f}")
        )
        y = _band(axes[0], width, rows, "test_rmse", c, label)
        if first:
            _references(axes[0], width, y)
            first = False
        _band(axes[1], width, rows, "test_max_abs", c, pretty(name))
        _band(axes[2], [r["n_params"] for r in rows], rows, "test_rmse", c, pretty(name))
    axes[0].set_title("test RMS error against width")
    axes[1].set_title("sup error (max |g − F| on the test grid)")
    axes[2].set_title("test RMS error against parameter count")
    for ax, xl in zip(axes, ("width (units per hidden layer)", "width", "parameters"), strict=True):
        ax.set_xlabel(xl)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("error (F's units); band: best to worst seed")
    axes[0].legend(fontsize=7)
    notes = "\n".join(f"{pretty(k)}: {describe(f)}" for k, f in fits.items())
    fig.suptitle(
        f"{summary.get('name', '')} — {summary['n_ok']} runs ok, "
        f"{summary['n_failed']} failed\n{notes}",
        fontsize=9,
        y=0.98,
        va="bottom",  # the slope notes grow upward, above the panels
    )
    return fig


def settings_figure(summary: dict):
    rows = summary["groups"]
    labels = [
        pretty(", ".join(f"{k}={json.dumps(v)}" for k, v in r["point"].items())) or "all"
        for r in rows
    ]
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(rows) + 2), 4.5))
    x = np.arange(len(rows))
    for off, metric, name in (
        (-0.2, "test_rmse", "test RMS error"),
        (0.2, "test_max_abs", "sup error"),
    ):
        mean = [r[metric]["mean"] or np.nan for r in rows]
        lo = [(r[metric]["mean"] or np.nan) - (r[metric]["min"] or np.nan) for r in rows]
        hi = [(r[metric]["max"] or np.nan) - (r[metric]["mean"] or np.nan) for r in rows]
        ax.bar(x + off, mean, width=0.4, yerr=[lo, hi], capsize=3, label=name)
    ax.set_yscale("log")
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("error (F's units); bars: best to worst seed")
    ax.legend()
    ax.set_title(summary.get("name", ""))
    ax.grid(alpha=0.3, axis="y", which="both")
    return fig


def render(summary: dict) -> dict[str, bytes]:
    if not any(r["n_ok"] for r in summary["groups"]):
        return {}
    groups = summary["groups"]
    widths = {r["width"] for r in groups}
    depths = {r["depth"] for r in groups}
    # a width axis only when width is what changes (not depth at equal parameter count)
    if "model.hidden" in summary["grid"] and len(widths) > 1 and len(depths) == 1:
        return {"error_vs_width.png": png(width_figure(summary))}
    return {"errors.png": png(settings_figure(summary))}
