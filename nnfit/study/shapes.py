"""Sections 2 and 3: which activations approximate (and which cannot), and a target
without continuity, where the sup error cannot fall below half the jump.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.lines import Line2D

from nnfit.experiment.canvas import finish, new_figure
from nnfit.experiment.rundir import load_model, predict
from nnfit.study import draw, methods
from nnfit.study.report import Context, Part, table
from nnfit.study.view import (
    Sweep,
    bound,
    fmt,
    med,
    ok_runs,
    run_baseline,
    slope_cell,
    slope_fit,
    target_label,
    upper_first,
)

ACTIVATION_FILES = ("2-activations-random-features", "2-activations-varpro-lm")
STEP_FILES = ("3-square-wave-random-features", "3-square-wave-varpro-lm")
POLYNOMIAL = {"identity": "a line at any width", "square": "a parabola at any width"}


def _by_activation(s: Sweep) -> dict[str, list[dict]]:
    return {
        a: sorted(s.where(model__activation=a), key=lambda g: g["width"])
        for a in s.summary["grid"].get("model.activation", [s.config("model.activation")])
    }


def _falls(rows: list[dict]) -> float:
    """How many times smaller the best width's error is than width 1's."""
    vals = [med(g) for g in rows if math.isfinite(med(g))]
    return vals[0] / min(vals) if vals and min(vals) > 0 else math.inf


# --------------------------------------------------------------------------- section 2


def figure_activations(ctx: Context, sweeps: list[Sweep]) -> str:
    per = [_by_activation(s) for s in sweeps]
    acts = list(per[0])
    ncols = 3
    nrows = math.ceil(len(acts) / ncols)
    fig = new_figure(3.5 * ncols + 0.6, 2.7 * nrows + 1.4)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True)).ravel()
    every = [g for p in per for rs in p.values() for g in rs]
    floor = draw.floor_of(every)
    seen, widths = [], set()
    for i, (ax, a) in enumerate(zip(axes, acts, strict=False)):
        for s, p in zip(sweeps, per, strict=True):
            rs = p.get(a, [])
            x = [g["width"] for g in rs]
            widths.update(x)
            seen += draw.curve(ax, x, rs, "test_rmse", methods.color(s), floor)
        base = per[0][a]
        x = [g["width"] for g in base]
        seen += draw.baselines(ax, x, base, floor)
        if base:
            draw.references(ax, x[0], med(base[0]), x[-1])
        best = min((med(g) for p in per for g in p.get(a, [])), default=math.nan)
        note = f"flat: {POLYNOMIAL[a]}" if a in POLYNOMIAL else f"falls to {fmt(best)}"
        ax.set_title(f"{a}\n{note}", fontsize=9)
        if i % ncols == 0:
            ax.set_ylabel("test RMS error", fontsize=9)
    for ax in axes[len(acts) :]:
        ax.remove()
    for ax in axes[: len(acts)]:
        draw.log_axes(ax, widths, seen)
    for ax in axes[max(0, len(acts) - ncols) : len(acts)]:
        ax.set_xlabel("width", fontsize=9)
    draw.methods_legend(fig, sweeps)
    fig.suptitle(
        f"{target_label(sweeps[0].config('target'))}: one panel per activation (same axes)",
        fontsize=11,
    )
    finish(fig)
    return ctx.figure("2-activations", fig, "test error against width, one panel per activation")


def _and(words: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _speed_clauses(floor, relu, slow, rf_best, vp_best) -> list[str]:
    """How fast the activations that fall do fall, one clause each."""
    out = []
    if floor:
        out.append(f"{upper_first(_and(list(floor)))} reach the rounding floor (below 1e-10)")
    if relu:
        out.append(relu)
    if slow:
        out.append(
            f"{slow} falls slowly with its units as drawn ({fmt(rf_best[slow])} as random "
            f"features) and fast once they are trained ({fmt(vp_best[slow])})"
        )
    if not out:
        out.append("every one of them falls at its own rate")
    return out


def _relu(sweeps: list[Sweep], per: list[dict]) -> str:
    """ReLU's fitted slopes, as drawn and trained, beside the piecewise-linear fit's and
    the −2 of the best piecewise-linear fit ('' without ReLU runs)."""
    if "relu" not in per[0]:
        return ""
    fits = [
        (s, slope_fit(p.get("relu", []), lambda r: r.get("test_rmse")))
        for s, p in zip(sweeps, per, strict=True)
    ]
    pw = slope_fit(per[0]["relu"], lambda r: run_baseline(r, "pwlinear"))
    said = [f"{methods.of(s, True)} {slope_cell(f)}" for s, f in fits if f.get("slope")]
    if not said:
        return ""
    return (
        "ReLU builds piecewise-linear functions, and falls at a power of the width: k = "
        + ", ".join(said)
        + (f", the uniform-knot piecewise-linear fit {slope_cell(pw)}" if pw.get("slope") else "")
        + ", against −2 for the best piecewise-linear fit of a smooth F (fitted slopes of "
        "log error on log width, ± the seeds' spread, the widths fitted in brackets)"
    )


def section_2(ctx: Context) -> Part:
    sweeps = [ctx.sweeps[f] for f in ACTIVATION_FILES]
    per = [_by_activation(s) for s in sweeps]
    acts = list(per[0])
    blocks = [
        "**Theory.** Hornik (1991): the layered form, not the particular activation, makes "
        "one hidden layer universal; Leshno, Lin, Pinkus & Schocken (1993): a continuous "
        "activation is universal if and only if it is not a polynomial. A layer of identity "
        "units is a line whatever its width, one of x² units a parabola. The target, "
        f"{target_label(sweeps[0].config('target'))}, is in no activation's span.\n",
        figure_activations(ctx, sweeps),
        "",
    ]
    head = ["activation"]
    cols = []
    for s, p in zip(sweeps, per, strict=True):
        ws = sorted({g["width"] for rs in p.values() for g in rs})
        pick = sorted({ws[0], ws[len(ws) // 2], ws[-1]})
        cols += [(s, w) for w in pick]
        head += [f"{methods.of(s, True)}, width {w}" for w in pick]
    body = []
    for a in acts:
        row = [a]
        for s, w in cols:
            p = per[sweeps.index(s)]
            g = [h for h in p.get(a, []) if h["width"] == w]
            row.append(med(g[0]) if g else None)
        body.append(row)
    blocks.append("Test RMS error, median of seeds:\n\n" + table(head, body) + "\n")
    good = [a for a in acts if a not in POLYNOMIAL]
    best = {a: min(med(g) for p in per for g in p.get(a, [])) for a in acts}
    drop = {a: max(_falls(p.get(a, [])) for p in per) for a in acts}
    poly = [a for a in acts if a in POLYNOMIAL]
    headline = ""
    if good:
        worst = max(good, key=lambda a: best[a])
        first = med(per[0][good[0]][0])
        floor = [a for a in good if best[a] < 1e-10]
        rf_best = {a: min((med(g) for g in per[0].get(a, [])), default=math.nan) for a in acts}
        vp_best = {a: min((med(g) for g in per[-1].get(a, [])), default=math.nan) for a in acts}
        slow = max(good, key=lambda a: rf_best[a] / vp_best[a]) if len(per) > 1 else None
        if slow and not rf_best[slow] > 100 * vp_best[slow]:
            slow = None
        poly_text = ", ".join(
            f"{a} {fmt(min(med(g) for p in per for g in p.get(a, [])))} at best "
            f"(width 1: {fmt(med(per[0][a][0]))})"
            for a in poly
        )
        blocks.append(
            f"**Measured.** Every non-polynomial activation falls from about {fmt(first)} at "
            f"width 1; the least any of them falls is a factor {fmt(min(drop[a] for a in good))}, "
            f"and the worst best error is {worst}'s {fmt(best[worst])}. "
            + (f"The polynomials stay flat: {poly_text}. " if poly else "")
            + "**The gap.** The theorem promises no speed. "
            + "; ".join(_speed_clauses(floor, _relu(sweeps, per), slow, rf_best, vp_best))
            + ".\n"
        )
        headline = (
            f"every non-polynomial activation falls (the weakest by a factor "
            f"{fmt(min(drop[a] for a in good))}); "
            + ", ".join(f"{a} stays at {fmt(best[a])}" for a in poly)
        )
    return Part(blocks, headline + ".")


# --------------------------------------------------------------------------- section 3


def _fit_panel(ax, sweeps: list[Sweep]) -> None:
    """F and the widest fit of each method (median seed) on a fine grid over [0,1]."""
    x = np.linspace(0.0, 1.0, 3001)
    F = None
    drawn = []
    for s in sweeps:
        wide = max(s.groups, key=lambda g: g["width"])
        run = s.run_dir(wide)
        if run is None:
            continue
        net, meta = load_model(run)
        if F is None:
            from nnfit.experiment.data import target_function

            F = target_function(s.exp(wide).target)(x[:, None])
            ax.plot(x, F, color="black", lw=1.2)
        ax.plot(x, predict(net, meta, x[:, None]), color=methods.color(s), lw=1.0, alpha=0.9)
        drawn.append(f"{methods.of(s, True)} at width {wide['width']}")
    ax.set_xlabel("x", fontsize=9)
    ax.set_ylabel("F(x) and g(x)", fontsize=9)
    ax.set_title(
        "F (black) and the widest fit of each method (median seed):\n" + ", ".join(drawn),
        fontsize=9,
    )
    ax.grid(alpha=0.3)


def figure_step(ctx: Context, sweeps: list[Sweep]) -> str:
    fig = new_figure(11.5, 4.9)
    ax, ax_fit = fig.subplots(1, 2, width_ratios=[1.25, 1])
    every = [g for s in sweeps for g in s.groups]
    floor = draw.floor_of(every)
    seen, widths = [], set()
    for s in sweeps:
        rs = sorted(s.groups, key=lambda g: g["width"])
        x = [g["width"] for g in rs]
        widths.update(x)
        seen += draw.curve(ax, x, rs, "test_rmse", methods.color(s), floor)
        seen += draw.curve(ax, x, rs, "test_max_abs", methods.color(s), floor, ls=":", marker="s")
    base = sorted(sweeps[0].groups, key=lambda g: g["width"])
    x = [g["width"] for g in base]
    seen += draw.baselines(ax, x, base, floor)
    draw.references(ax, x[0], med(base[0]), x[-1])
    ax.axhline(0.5, color="black", lw=0.9)
    seen.append(0.5)
    draw.log_axes(ax, widths, seen, "width (units in the hidden layer)")
    ax.set_ylabel("error (F's units)", fontsize=9)
    ax.set_title(
        "RMS error (solid; grey dashed: the baselines') falls;\n"
        "sup error (dotted) stays ≥ ½ (black line)",
        fontsize=9,
    )
    _fit_panel(ax_fit, sweeps)
    errors = [  # the sup curves are dotted, as the Barron reference is: told apart here
        (Line2D([], [], color="black", marker="o", ms=4), "test RMS error (solid, dots)"),
        (Line2D([], [], color="black", ls=":", marker="s", ms=4), "sup error (dotted, squares)"),
    ]
    draw.methods_legend(fig, sweeps, errors)
    fig.suptitle(f"A square wave, {target_label(sweeps[0].config('target'))}", fontsize=11)
    finish(fig)
    return ctx.figure("3-square-wave", fig, "errors against width for a square wave")


def section_3(ctx: Context) -> Part:
    sweeps = [ctx.sweeps[f] for f in STEP_FILES]
    blocks = [
        "**Theory.** Cybenko's theorem needs a continuous F. Next to a jump of height 1 a "
        "continuous g is at least ½ away from F on one side, so the sup error cannot fall "
        "below ½ at any width; the L2 (RMS) error can still fall, as the band where g "
        "misses narrows.\n",
        figure_step(ctx, sweeps),
        "",
    ]
    sups = [r["test_max_abs"] for s in sweeps for g in s.groups for r in ok_runs(g)]
    heads, flat = [], []
    for s in sweeps:
        rs = sorted(s.groups, key=lambda g: g["width"])
        first, last = med(rs[0]), med(rs[-1])
        if len(rs) == 1:
            heads.append(f"{methods.of(s, True)}: RMS {fmt(first)} at width {rs[0]['width']} alone")
        else:
            heads.append(
                f"{methods.of(s, True)}: RMS {fmt(first)} at width {rs[0]['width']} → "
                f"{fmt(last)} at width {rs[-1]['width']}"
            )
        falls = len(rs) > 1 and first is not None and last is not None and last < first
        if not falls:
            flat.append(methods.of(s, True))
    blocks.append(_measured_3(heads, sups, flat, sweeps[0].config("data.n_test")))
    head = ["width"] + [f"{methods.of(s, True)} {what}" for s in sweeps for what in ("RMS", "sup")]
    widths = sorted({g["width"] for s in sweeps for g in s.groups})
    body = []
    for w in widths:
        row = [str(w)]
        for s in sweeps:
            g = [h for h in s.groups if h["width"] == w]
            row += [med(g[0]) if g else None, med(g[0], "test_max_abs") if g else None]
        body.append(row)
    blocks.append("Median of seeds:\n\n" + table(head, body) + "\n")
    low = min(sups) if sups else None
    sup = f"; sup error ≥ {bound(low)} in every run" if sups else "; no run finished"
    return Part(blocks, "; ".join(heads) + sup + ".")


def _measured_3(heads: list[str], sups: list[float], flat: list[str], n_test: int) -> str:
    """Section 3's measurement and gap: the sup error's range over the finished runs,
    and whether the RMS error fell with width for each method (``flat``: those for
    which it did not, or that ran one width)."""
    if not sups:
        return (
            f"**Measured.** {upper_first('; '.join(heads))}. No run finished, so these runs "
            "say nothing of the theory.\n"
        )
    low, high = min(sups), max(sups)
    text = (
        f"**Measured.** {upper_first('; '.join(heads))}. The sup error over the {n_test:,} "
        f"test points lies between {bound(low)} and {bound(high, up=True)} in every run. "
    )
    if low < 0.5:
        return text + (
            "**The gap.** A sup estimate below ½ means a unit has become steeper than the "
            "test points' spacing: the sup over finitely many points only bounds the true "
            "sup from below.\n"
        )
    if flat:
        return text + (
            f"**The gap.** The sup error stays above ½, as the theory says, but the RMS error "
            f"of {_and(flat)} does not fall with width here (one width, or training that did "
            "not find a better fit), so these runs do not show L2 convergence.\n"
        )
    return text + (
        "**The gap.** None: L2 convergence without uniform convergence, exactly as the "
        "theory says.\n"
    )
