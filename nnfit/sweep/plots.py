"""The pictures of a sweep: error against width (and parameter count), or per setting.

``error_vs_width.png`` when the grid varies the width at a fixed depth: log-log axes
ticked at the widths run, one curve per setting of the other grid keys (one small panel
each from five settings on), a band from the best to the worst seed, the fitted slope
drawn over the widths it was fitted on (long dashes), the reference slopes n^-1/2
(Barron, RMS error) and n^(-2/d) (piecewise-linear fit of a smooth F in d dimensions:
n^-2 in 1-D), and dashed baselines when the
summary has them: once in grey where every curve has the same ones, else each in its
curve's colour. ``errors.png`` otherwise: one row per setting.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from nnfit.experiment.canvas import (
    clip_line,
    finish,
    log_ticks_at,
    new_figure,
    png,
    zero_floor,
)
from nnfit.sweep.labels import setting_label, varied_keys
from nnfit.sweep.rates import BARRON, PIECEWISE_LINEAR, describe
from nnfit.sweep.summary import series_key

#: from this many curves on, one small panel per curve (shared axes)
SMALL_MULTIPLES = 5
#: baseline name → (legend text, marker)
BASELINES = {
    "chebyshev": (
        # a flat stretch is the cap (the fit on the training points kept well
        # conditioned), not a fault: a new user read one as a bug
        "Chebyshev series (at most the network's parameter count, degree capped for a "
        "well-conditioned fit)",
        "s",
    ),
    "pwlinear": ("piecewise-linear fit (knots = width)", "^"),
    "random_features": ("random features + least squares (the same network)", "D"),
}
RMSE, SUP = "test_rmse", "test_max_abs"
GREY = "0.4"
#: the fitted slope's line: thick dashes in the curve's colour, unlike the baselines'
#: thin grey ones (in units of the line width)
FIT_DASH = (3.0, 1.5)
FIT_LW = 2.2
#: a legend entry given as a tuple of lines draws them over each other: the fitted
#: slopes' swatch, whose dashes take the curves' colours in turn
OVERLAID = {tuple: HandlerTuple(ndivide=1, pad=0)}
#: the legend's swatches (in font sizes) are long enough for a dash of each of three
#: curves' fitted slopes
HANDLE_LENGTH = 3.8


def _stat(rows, metric: str, q: str) -> np.ndarray:
    vals = [(r.get(metric) or {}).get(q) for r in rows]
    return np.array([np.nan if v is None else v for v in vals], dtype=float)


def _seeds(summary: dict) -> int:
    return max([(r.get(RMSE) or {}).get("n") or 0 for r in summary["groups"]] or [0])


def _floor(summary: dict) -> float:
    values = [
        s.get(q)
        for r in summary["groups"]
        for s in [r.get(RMSE) or {}, r.get(SUP) or {}]
        + [b.get(m) or {} for b in (r.get("baselines") or {}).values() for m in (RMSE, SUP)]
        for q in ("mean", "min", "max")
    ]
    return zero_floor(values)


# ---------------------------------------------------------------- drawing pieces


def _curve(ax, x, rows, metric, color, floor, label=None) -> list[float]:
    """Mean over seeds with markers and a band from the best to the worst seed.

    Exact zeros are drawn at ``floor`` with a downward triangle. Returns the values drawn.
    """
    x = np.asarray(x, dtype=float)
    mean, lo, hi = (_stat(rows, metric, q) for q in ("mean", "min", "max"))

    def lift(a):
        return np.where(a == 0, floor, a)

    ax.plot(x, lift(mean), marker="o", ms=3.5, color=color, lw=1.4, label=label)
    ax.fill_between(x, lift(lo), lift(hi), color=color, alpha=0.18, lw=0)
    zero = mean == 0
    if zero.any():
        ax.plot(x[zero], np.full(zero.sum(), floor), "v", color=color, ms=7)
    drawn = np.concatenate([lift(mean), lift(lo), lift(hi)])
    return drawn[np.isfinite(drawn)].tolist()


def _fit_line(ax, fit: dict | None, color) -> list[float]:
    """log(error) = intercept + slope·log(width), over the widths the fit used."""
    if not fit or fit.get("slope") is None or not fit.get("used"):
        return []
    w = np.geomspace(min(fit["used"]), max(fit["used"]), 50)
    y = np.exp(fit["intercept"]) * w ** fit["slope"]
    ax.plot(w, y, color=color, ls=(0, FIT_DASH), lw=FIT_LW, alpha=0.9)
    return [float(y.min()), float(y.max())]


def _dim(rows) -> int:
    """The target's dimension of a curve (1 for a summary written before it was kept)."""
    return int(rows[0].get("dim") or 1)


def _references(ax, x, y, dim: int = 1) -> int:
    """n^-1/2 and the piecewise-linear n^(-2/d) from the first measured point over the
    widths run (the y-limits stay the data's); the d drawn for, 0 when there is no span
    to draw them over."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(y) & (y > 0) & (x > 0)
    if not ok.any() or x.max() <= x[ok][0]:
        return 0
    x0, y0 = x[ok][0], y[ok][0]
    xs = np.geomspace(x0, x.max(), 50)
    ax.plot(xs, y0 * (xs / x0) ** BARRON, color=GREY, ls=":", lw=1.3)
    ax.plot(xs, y0 * (xs / x0) ** (PIECEWISE_LINEAR / dim), color=GREY, ls="-.", lw=1.1)
    return dim


def _failed_text(rows) -> str:
    """'; 7 of 8 runs failed' for a curve some of whose runs failed (its points are the
    rest's), else empty."""
    failed = sum(r.get("n_failed") or 0 for r in rows)
    total = sum(r.get("n_runs") or (r.get("n_ok") or 0) + (r.get("n_failed") or 0) for r in rows)
    return f"; {failed:,} of {total:,} runs failed" if failed else ""


def _curve_text(rows, fit: dict) -> str:
    """A curve's legend entry after its name: its slope and failed runs, or that every
    run failed and nothing is drawn."""
    if not any(r.get("n_ok") for r in rows):
        total = sum(r.get("n_runs") or r.get("n_failed") or 0 for r in rows)
        return f"all {total:,} runs failed, nothing drawn"
    return describe(fit) + _failed_text(rows)


def _mean_text(summary: dict) -> str:
    """'test RMS error (mean over seeds)', or without the mean when a point has one seed."""
    return "test RMS error" + (" (mean over seeds)" if _seeds(summary) > 1 else "")


def _baselines(rows: list[dict]) -> dict[str, list[tuple[float, int, dict]]]:
    """Of one curve's grid points: baseline name → [(width, its parameters, its stats)]."""
    out: dict[str, dict[float, tuple]] = {}
    for r in rows:
        for name, b in (r.get("baselines") or {}).items():
            out.setdefault(name, {}).setdefault(r["width"], (r["width"], b["n_params"], b))
    return {k: sorted(v.values(), key=lambda t: t[0]) for k, v in out.items()}


def _all_baselines(summary: dict) -> dict[str, list]:
    """Every baseline name of the sweep (for the legend), with the first curve's points."""
    out: dict[str, list] = {}
    for rows in _series(summary).values():
        for name, pts in _baselines(rows).items():
            out.setdefault(name, pts)
    return out


def _points(pts) -> list[tuple]:
    """What a baseline's curve draws: width, parameters and both mean errors."""
    return [(w, n, *((b.get(m) or {}).get("mean") for m in (RMSE, SUP))) for w, n, b in pts]


def _shared_baselines(series: dict[str, list[dict]]) -> set[str]:
    """The baselines every curve has with the same values: drawn once, in grey.

    A sweep over activations shares its Chebyshev and piecewise-linear fits (they see
    the data, not the network); its random features, and every baseline of a sweep
    over targets or dimensions, belong to their curve."""
    per_curve = [_baselines(rows) for rows in series.values()]
    names = set().union(*per_curve) if per_curve else set()
    return {
        name
        for name in names
        if all(name in b for b in per_curve)
        and all(_points(b[name]) == _points(per_curve[0][name]) for b in per_curve)
    }


def _draw_baselines(
    ax, baselines, by_params: bool, floor, color=GREY, metric=RMSE, names=None
) -> list[float]:
    drawn: list[float] = []
    for name, pts in baselines.items():
        if names is not None and name not in names:
            continue
        x = [p[1] if by_params else p[0] for p in pts]
        y = np.array([(p[2].get(metric) or {}).get("mean") for p in pts], dtype=float)
        y = np.where(y == 0, floor, y)
        marker = BASELINES.get(name, (name, "o"))[1]
        ax.plot(x, y, color=color, ls="--", lw=1, marker=marker, ms=4, mfc="white")
        drawn += y[np.isfinite(y)].tolist()
    return drawn


def _style_entries(
    summary, baselines, floor, zeros, fitted, refs, fit_text, own=frozenset()
) -> tuple:
    """Legend entries for what is not a curve of its own: band, fit, references, zeros.

    A baseline named in ``own`` is drawn once per curve, in the curve's colour."""
    k = _seeds(summary)
    if k > 1:
        handles = [Patch(color="tab:gray", alpha=0.3)]
        labels = [f"band (in the curve's colour): best to worst of {k} seeds"]
    else:  # no band is drawn, so the entry has no swatch
        handles = [Line2D([], [], ls="none")]
        labels = ["one seed per point (no band)"]
    if fitted:
        handles.append(fit_swatch(fitted))
        labels.append(fit_text)
    if refs:
        pl = (
            r"reference $\propto n^{-2}$ (piecewise-linear fit)"
            if refs == 1
            else rf"reference $\propto n^{{-2/d}}$ (piecewise-linear, d = {refs})"
        )
        handles += [
            Line2D([], [], color=GREY, ls=":", lw=1.3),
            Line2D([], [], color=GREY, ls="-.", lw=1.1),
        ]
        labels += [r"reference $\propto n^{-1/2}$ (Barron, RMS error)", pl]
    for name in baselines:
        text, marker = BASELINES.get(name, (name, "o"))
        handles.append(Line2D([], [], color=GREY, ls="--", marker=marker, mfc="white"))
        labels.append(text + ("; one per curve, in its colour" if name in own else ""))
    if zeros:
        handles.append(Line2D([], [], color="tab:gray", marker="v", ls="none", ms=7))
        labels.append(f"error exactly 0, drawn at {floor:.0e}")
    return handles, labels


def fit_swatch(colors: list) -> tuple:
    """The fitted slopes' legend swatch: one dashed line whose dashes take the curves'
    colours in turn (each colour's line dashes in its own slot of the period)."""
    dash, gap = FIT_DASH
    period = len(colors) * (dash + gap)
    return tuple(
        Line2D([], [], color=c, lw=FIT_LW, ls=(period - i * (dash + gap), (dash, period - dash)))
        for i, c in enumerate(colors)
    )


def _limits(ax, values) -> None:
    v = np.asarray([x for x in values if x > 0 and math.isfinite(x)])
    if v.size:
        ax.set_ylim(v.min() / 1.6, v.max() * 1.6)


# -------------------------------------------------------------- error vs width


def _series(summary: dict) -> dict[str, list[dict]]:

    out: dict[str, list[dict]] = {}
    for r in summary["groups"]:
        out.setdefault(series_key(r, summary["grid"]), []).append(r)
    return {k: sorted(v, key=lambda r: r["width"]) for k, v in out.items()}


def _series_name(rows) -> str:
    """The curve's setting ('tanh'); empty when the grid varies the width alone."""
    return setting_label({k: v for k, v in rows[0]["point"].items() if k != "model.hidden"})


def by_width(summary: dict) -> bool:
    """Whether the sweep varies the width at a fixed depth within each curve."""
    if "model.hidden" not in summary["grid"]:
        return False
    series = _series(summary).values()
    return all(len({r["depth"] for r in rows}) == 1 for rows in series) and any(
        len({r["width"] for r in rows}) > 1 for rows in series
    )


def _title(fig, summary, what: str) -> None:
    line = f"{summary.get('name', 'sweep')}: {what}"
    ok = summary["n_ok"]
    line += f"  ({ok} run{'' if ok == 1 else 's'} ok, {summary['n_failed']} failed)"
    fig.suptitle(clip_line(line, fig.get_figwidth()), fontsize=10)


def width_figure(summary: dict) -> Figure:
    """Error against width: one axis per error when few curves, else one panel per curve."""
    series = _series(summary)
    if len(series) >= SMALL_MULTIPLES:
        return _small_multiples(summary, series)
    fits = {f["series"]: f for f in summary.get("slopes", [])}
    floor, baselines = _floor(summary), _all_baselines(summary)
    shared = _shared_baselines(series)
    own = set(baselines) - shared
    fig = new_figure(14.5, 5.6)
    ax_w, ax_s, ax_p = fig.subplots(1, 3)
    colors = colormaps["tab10"].colors
    handles, labels, seen = [], [], {ax_w: [], ax_s: [], ax_p: []}
    widths, params, zeros, refs = set(), set(), False, 0
    for i, (key, rows) in enumerate(series.items()):
        c = colors[i % len(colors)]
        w = [r["width"] for r in rows]
        n = [r["n_params"] for r in rows]
        widths.update(w)
        params.update(n)
        seen[ax_w] += _curve(ax_w, w, rows, RMSE, c, floor) + _fit_line(ax_w, fits.get(key), c)
        seen[ax_s] += _curve(ax_s, w, rows, SUP, c, floor)
        seen[ax_p] += _curve(ax_p, n, rows, RMSE, c, floor)
        # a baseline every curve shares is drawn once, in grey; one of the curve's own in
        # its colour
        pts = _baselines(rows)
        # a baseline with fewer parameters than any network (one knot) gets a tick too,
        # else its points sit left of the axis's first label
        params.update([min((p[1] for b in pts.values() for p in b), default=min(n))])
        for names, tint in ((own, c), (shared if i == 0 else (), GREY)):
            seen[ax_w] += _draw_baselines(ax_w, pts, False, floor, tint, names=names)
            seen[ax_s] += _draw_baselines(ax_s, pts, False, floor, tint, SUP, names)
            seen[ax_p] += _draw_baselines(ax_p, pts, True, floor, tint, names=names)
        if i == 0:
            refs = _references(ax_w, w, _stat(rows, RMSE, "mean"), _dim(rows))
        zeros = zeros or bool((_stat(rows, RMSE, "mean") == 0).any())
        zeros = zeros or bool((_stat(rows, SUP, "mean") == 0).any())
        handles.append(Line2D([], [], color=c, marker="o", ms=4))
        name = _series_name(rows) or _mean_text(summary)
        labels.append(f"{name}: {_curve_text(rows, fits.get(key, {}))}")
    for ax in (ax_w, ax_s, ax_p):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        _limits(ax, seen[ax])
    log_ticks_at(ax_w.xaxis, widths)
    log_ticks_at(ax_s.xaxis, widths)
    log_ticks_at(ax_p.xaxis, params, min_ratio=1.25)
    ax_w.set(xlabel="width (units per hidden layer)", ylabel="test RMS error (F's units)")
    ax_s.set(xlabel="width (units per hidden layer)", ylabel="sup error max |g − F| (F's units)")
    ax_p.set(xlabel="parameters (weights and biases)", ylabel="test RMS error (F's units)")
    ax_w.set_title("test RMS error against width", fontsize=10)
    ax_s.set_title("sup error on the test set against width", fontsize=10)
    ax_p.set_title("test RMS error against parameter count", fontsize=10)
    fitted = [
        colors[i % len(colors)]
        for i, key in enumerate(series)
        if (fits.get(key) or {}).get("slope") is not None
    ]
    more_h, more_l = _style_entries(
        summary,
        baselines,
        floor,
        zeros,
        fitted,
        refs,
        "fitted slope (in the curve's colour)",
        own if len(series) > 1 else frozenset(),
    )
    fig.legend(
        handles + more_h,
        labels + more_l,
        loc="outside lower center",
        ncols=2,
        fontsize=8,
        handler_map=OVERLAID,
        handlelength=HANDLE_LENGTH,
    )
    varied = varied_keys(summary)
    _title(
        fig,
        summary,
        "error against width" + (f", one curve per {', '.join(varied)}" if varied else ""),
    )
    finish(fig)
    return fig


def _small_multiples(summary: dict, series: dict[str, list[dict]]) -> Figure:
    """One panel per curve (RMS and sup error, shared axes), then all curves by parameters."""
    fits = {f["series"]: f for f in summary.get("slopes", [])}
    floor, baselines = _floor(summary), _all_baselines(summary)
    n = len(series)
    ncols = 3 if n + 1 <= 9 else 4
    nrows = math.ceil((n + 1) / ncols)
    fig = new_figure(3.6 * ncols + 2.4, 2.8 * nrows + 1.6)
    cells = fig.subplots(nrows, ncols, squeeze=False).ravel()
    panels, overview = cells[:n], cells[n]
    for extra in cells[n + 1 :]:
        extra.remove()
    # blue and orange mean RMS and sup error in the panels: the overview's colours skip them
    colors = colormaps["tab10"].colors[2:] if n <= 8 else colormaps["tab20"].colors[4:]
    seen: list[float] = []
    widths, params, zeros, refs = set(), set(), False, 0
    over_h, over_l, over_seen = [], [], []
    for i, (ax, (key, rows)) in enumerate(zip(panels, series.items(), strict=True)):
        if i:
            ax.sharex(panels[0])
            ax.sharey(panels[0])
        w = [r["width"] for r in rows]
        widths.update(w)
        seen += _curve(ax, w, rows, RMSE, "tab:blue", floor)
        seen += _curve(ax, w, rows, SUP, "tab:orange", floor)
        seen += _fit_line(ax, fits.get(key), "black")
        seen += _draw_baselines(ax, _baselines(rows), False, floor)
        refs = _references(ax, w, _stat(rows, RMSE, "mean"), _dim(rows)) or refs
        zeros = zeros or any((_stat(rows, m, "mean") == 0).any() for m in (RMSE, SUP))
        fit = fits.get(key, {})
        if not any(r.get("n_ok") for r in rows):
            note = _curve_text(rows, fit)  # all failed: nothing drawn
        else:  # the slope alone: a panel's title has no room for its widths and notes
            note = describe(fit).split(" (")[0].split(";")[0] if fit else "no slope"
            note += _failed_text(rows)
        name = _series_name(rows)
        c = colors[i % len(colors)]
        ax.set_title(f"{name}\n{note}", fontsize=8, color=c)
        p = [r["n_params"] for r in rows]
        params.update(p)
        over_seen += _curve(overview, p, rows, RMSE, c, floor)
        over_h.append(Line2D([], [], color=c, marker="o", ms=4))
        over_l.append(name)
    for ax in (*panels, overview):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    _limits(panels[0], seen)
    _limits(overview, over_seen)
    log_ticks_at(panels[0].xaxis, widths)
    log_ticks_at(overview.xaxis, params, min_ratio=1.25)
    for i, ax in enumerate(panels):
        below = i + ncols < n  # another panel of the same x axis sits under this one
        ax.tick_params(labelbottom=not below, labelleft=i % ncols == 0)
        if not below:
            ax.set_xlabel("width", fontsize=9)
        if i % ncols == 0:
            ax.set_ylabel("error (F's units)", fontsize=9)
    # its own y axis on the right, so the panels' columns stay evenly spaced
    overview.yaxis.tick_right()
    overview.yaxis.set_label_position("right")
    overview.set_xlabel("parameters", fontsize=9)
    overview.set_ylabel("test RMS error", fontsize=9)
    overview.set_title("all settings: test RMS error\nagainst parameter count", fontsize=8)
    fitted = ["black"] if any(f.get("slope") is not None for f in fits.values()) else []
    style_h, style_l = _style_entries(
        summary, baselines, floor, zeros, fitted, refs, "fitted slope of the RMS error"
    )
    handles = [
        Line2D([], [], color="tab:blue", marker="o", ms=4),
        Line2D([], [], color="tab:orange", marker="o", ms=4),
        *style_h,
    ]
    labels = [_mean_text(summary), "sup error max |g − F|", *style_l]
    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=3,
        fontsize=8,
        handler_map=OVERLAID,
        handlelength=HANDLE_LENGTH,
    )
    fig.legend(over_h, over_l, loc="outside right upper", fontsize=8, title="setting")
    varied = ", ".join(varied_keys(summary)) or "setting"
    _title(fig, summary, f"error against width, one panel per {varied}")
    finish(fig)
    return fig


# ------------------------------------------------------------------ per setting


def settings_figure(summary: dict) -> Figure:
    """Each setting on its own row: mean and best-to-worst seed of both errors, log scale."""
    rows = summary["groups"]
    params = "model.hidden" in summary["grid"]
    labels = [
        (setting_label(r["point"]) or "as in the file")
        + (f"  ({r['n_params']:,} parameters)" if params else "")
        + ("  — every run failed" if not r["n_ok"] else "")
        for r in rows
    ]
    floor, baselines = _floor(summary), _all_baselines(summary)
    fig = new_figure(10, 1.9 + 0.42 * len(rows))
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1].astype(float)  # the grid's first setting on top
    seen: list[float] = []
    for off, metric, color in ((0.14, RMSE, "tab:blue"), (-0.14, SUP, "tab:orange")):
        mean, lo, hi = (_stat(rows, metric, q) for q in ("mean", "min", "max"))
        mean, lo, hi = (np.where(a == 0, floor, a) for a in (mean, lo, hi))
        ax.hlines(y + off, lo, hi, color=color, lw=2.5, alpha=0.45)
        ax.plot(mean, y + off, "o", color=color, ms=6)
        seen += [v for v in np.concatenate([lo, hi]) if np.isfinite(v)]
    for name in baselines:
        b = [((r.get("baselines") or {}).get(name) or {}).get(RMSE) or {} for r in rows]
        vals = np.array([np.nan if s.get("mean") is None else s["mean"] for s in b])
        ax.plot(vals, y + 0.14, BASELINES.get(name, (name, "o"))[1], color=GREY, mfc="white")
        seen += [v for v in vals if np.isfinite(v) and v > 0]  # on the axis, as in the legend
    ax.set_xscale("log")
    if seen:
        ax.set_xlim(min(seen) / 2, max(seen) * 2)
    ax.set_yticks(y, labels, fontsize=9)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.grid(alpha=0.3, axis="x")
    ax.set_xlabel(
        "error in F's units (dot: mean over seeds; line: best to worst seed)"
        if _seeds(summary) > 1
        else "error in F's units (one seed per setting)"
    )
    varied = ", ".join(varied_keys(summary, ()))
    ax.set_ylabel(f"setting: {varied}" if varied else "the file's one setting")
    handles = [
        Line2D([], [], color="tab:blue", marker="o", lw=2.5, alpha=0.8),
        Line2D([], [], color="tab:orange", marker="o", lw=2.5, alpha=0.8),
    ]
    texts = ["test RMS error", "sup error max |g − F| on the test set"]
    for name in baselines:
        text, marker = BASELINES.get(name, (name, "o"))
        handles.append(Line2D([], [], color=GREY, marker=marker, mfc="white", ls="none"))
        texts.append(f"{text}, test RMS error")
    fig.legend(handles, texts, loc="outside lower center", ncols=2, fontsize=8)
    _title(fig, summary, "test errors per setting")
    finish(fig)
    return fig


# ----------------------------------------------------------------------- render


def figures(summary: dict) -> dict[str, Figure]:
    """The sweep's figure by file name (none when no run finished)."""
    if not any(r["n_ok"] for r in summary["groups"]):
        return {}
    if by_width(summary):
        return {"error_vs_width.png": width_figure(summary)}
    return {"errors.png": settings_figure(summary)}


def render(summary: dict) -> dict[str, bytes]:
    return {name: png(fig) for name, fig in figures(summary).items()}
