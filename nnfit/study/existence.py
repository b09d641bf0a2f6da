"""Sections 1 and 6: what a width can represent against what training finds, and the
smallest width that reaches each ε.

Both read the four sweeps of section 1, one per method, each over the same targets,
widths and seeds: random features (hidden layer as drawn, output by least squares),
variable projection + Levenberg–Marquardt, Levenberg–Marquardt on every weight, Adam.
"""

from __future__ import annotations

import math

import numpy as np

from nnfit.experiment.canvas import finish, new_figure
from nnfit.study import draw, methods
from nnfit.study.report import Context, Part, table
from nnfit.study.view import (
    Sweep,
    baseline,
    fmt,
    med,
    run_baseline,
    slope_cell,
    slope_fit,
    span,
    target_label,
)

FILES = ("1-random-features", "1-varpro-lm", "1-lm", "1-adam")
EPSILONS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)


def targets(sweep: Sweep) -> list:
    """The grid's targets (a one-target sweep: its own target)."""
    return sweep.summary["grid"].get("target") or [sweep.config("target")]


def rows(sweep: Sweep, target) -> list[dict]:
    """The grid points of one target, by width."""
    if "target" not in sweep.summary["grid"]:
        return sorted(sweep.groups, key=lambda g: g["width"])
    return sorted(sweep.where(target=target), key=lambda g: g["width"])


def short_name(target) -> str:
    if isinstance(target, dict) and target.get("name"):
        return target["name"]
    return "spike" if "exp(" in str(target) else target_label(target)


# --------------------------------------------------------------------------- figure 1


def figure_width(ctx: Context, sweeps: list[Sweep]) -> str:
    ts = targets(sweeps[0])
    fig = new_figure(4.3 * len(ts) + 0.6, 4.9)
    axes = np.atleast_1d(fig.subplots(1, len(ts), sharey=True))
    seen: list[float] = []
    floor = draw.floor_of([g for s in sweeps for t in ts for g in rows(s, t)])
    widths = set()
    for ax, t in zip(axes, ts, strict=True):
        for s in sweeps:
            rs = rows(s, t)
            x = [g["width"] for g in rs]
            widths.update(x)
            seen += draw.curve(ax, x, rs, "test_rmse", methods.color(s), floor)
        base = rows(sweeps[0], t)
        x = [g["width"] for g in base]
        seen += draw.baselines(ax, x, base, floor)
        if base:
            draw.references(ax, x[0], med(base[0]), x[-1])
        ax.set_title(target_label(t), fontsize=9)
    for i, ax in enumerate(axes):
        draw.log_axes(ax, widths, seen, "width (units in the hidden layer)")
        if i == 0:
            ax.set_ylabel("test RMS error (F's units)", fontsize=9)
    draw.methods_legend(fig, sweeps)
    fig.suptitle(
        "What one hidden tanh layer can represent (least squares) and what training finds",
        fontsize=11,
    )
    finish(fig)
    return ctx.figure("1-width", fig, "test error against width, four methods, three targets")


# --------------------------------------------------------------------------- section 1


def section_1(ctx: Context) -> Part:
    sweeps = [ctx.sweeps[f] for f in FILES]
    rf, vp, lm, adam = sweeps
    n_train = rf.config("data.n_train")
    blocks = [
        "**Theory.** Cybenko (1989): for every continuous F on [0,1] and every ε > 0 some "
        "width of one hidden sigmoidal layer gets within ε of F everywhere (tanh is a "
        "rescaled sigmoid). The theorem claims existence only: it says neither how wide "
        "nor whether training finds the weights.\n",
        figure_width(ctx, sweeps),
        "",
    ]
    heads, falls, gaps = [], [], []
    for t in targets(rf):
        name = short_name(t)
        pairs = [(m, g) for m in (rf, vp) for g in rows(m, t)]
        a_rows = rows(adam, t)
        if not pairs or not a_rows:
            continue
        m_ex, g_ex = min(pairs, key=lambda mg: _finite(med(mg[1])))
        wide = a_rows[-1]
        ex_at = min(_finite(med(g)) for m, g in pairs if g["width"] == wide["width"])
        gap = med(wide) / ex_at if ex_at > 0 else math.inf
        first = min(_finite(med(g)) for m, g in pairs if g["width"] == a_rows[0]["width"])
        falls.append(first / ex_at if ex_at > 0 else math.inf)
        gaps.append(gap)
        cheb = min((_finite(baseline(g, "chebyshev")) for g in rows(rf, t)), default=math.inf)
        lm_wide = rows(lm, t)[-1] if rows(lm, t) else None
        heads.append(
            f"{name}: least squares {fmt(ex_at)} at width {wide['width']}, Adam "
            f"{fmt(med(wide))} ({_decades(gap)})"
        )
        train = math.sqrt(med(wide, "train_mse"))
        floor = (
            "as high as its test error: the optimizer, not the data, sets the floor"
            if train > 0.5 * med(wide)
            else f"far below its test error: the {n_train:,} points, not the optimizer, limit it"
        )
        if cheb < ex_at:
            poly = (
                f"The Chebyshev fit with the same parameter count is lower still, {fmt(cheb)} at "
                "best: a function analytic on [0,1] is a polynomial's home ground."
            )
        else:
            poly = (
                f"The Chebyshev fit with the same parameter count stops at {fmt(cheb)}, its "
                f"degree capped where least squares on {n_train:,} points stays well "
                f"conditioned: {_decades(cheb / ex_at)} above least squares at width "
                f"{wide['width']}."
            )
        blocks.append(
            f"**{target_label(t)}.** Least squares (random features or variable projection) "
            f"reaches a test RMS error of {fmt(med(g_ex))} at best ({methods.of(m_ex, True)}, "
            f"width {g_ex['width']}). Adam ends at {fmt(med(wide))} at width {wide['width']}, "
            f"where least squares reaches {fmt(ex_at)}: {_decades(gap)} between what exists "
            f"and what Adam finds. Adam's training RMS error there is {fmt(train)}, {floor}. "
            + (
                f"LM on all weights reaches {fmt(med(lm_wide))} at width {lm_wide['width']}. "
                if lm_wide
                else ""
            )
            + poly
            + "\n"
        )
        blocks.append(_width_table(sweeps, t) + "\n")
    rates = _rates(sweeps, targets(rf))
    if rates:
        blocks.append(rates)
    if falls:
        blocks.append(
            "**The gap.** Random features and variable projection show what each width can "
            f"represent: from width {rows(rf, targets(rf)[0])[0]['width']} to "
            f"{rows(rf, targets(rf)[0])[-1]['width']} their error falls by "
            f"{_decades(min(falls))} or more on every target, as the theorem promises. Adam, "
            "on the same networks, data and initial weights, stays "
            f"{_decades(min(gaps))} or more above at the widest layer; that gap is the "
            "optimizer's, not the theorem's (the theory–practice gap of Adcock & Dexter "
            "2021).\n"
        )
    return Part(blocks, "; ".join(heads) + ".")


def _rates(sweeps: list[Sweep], ts: list) -> str:
    """THEORY's reading of the width curves: each method's fitted slope beside Barron's
    −½ and the piecewise-linear −2, and where a curve left its power law."""
    fits: dict[str, list[dict]] = {}
    body = []
    for t in ts:
        row = [short_name(t)]
        for s in sweeps:
            fit = slope_fit(rows(s, t), lambda r: r.get("test_rmse"))
            kind = methods.kind(s.config("training"))
            fits.setdefault(kind, []).append(fit | {"t": t, "sweep": s})
            row.append(slope_cell(fit))
        pw = slope_fit(rows(sweeps[0], t), lambda r: run_baseline(r, "pwlinear"))
        fits.setdefault("pwlinear", []).append(pw | {"t": t})
        row.append(slope_cell(pw))
        body.append(row)

    def slopes(*kinds) -> list[float]:
        return [f["slope"] for k in kinds for f in fits.get(k, []) if f.get("slope") is not None]

    said = []
    exact = slopes("random features", "varpro")
    if exact:
        said.append(
            f"Least squares falls at k = {span(exact)}, far steeper than Barron's −½. "
            "That rate bounds the error of every F with a finite Fourier moment and is only "
            "a bound; on these smooth targets the curves bend further down as the width "
            "grows (faster than any power of it), so k is the mean slope of the stretch "
            "fitted."
        )
        ends = [
            e
            for k in ("random features", "varpro")
            for f in fits.get(k, [])
            if f["dropped"] and (e := _at(f["sweep"], f["t"], f["dropped"][0])) is not None
        ]
        if ends and max(e[0] for e in ends) < 1e-9:
            said.append(
                "Where a least-squares curve slows, its error is down to "
                f"{fmt(max(e[0] for e in ends))} or less: float64's rounding, not the width, "
                "stops it."
            )
    pw = [f for f in fits.get("pwlinear", []) if f.get("slope") is not None]
    if pw:
        least = max(pw, key=lambda f: f["slope"])
        said.append(
            f"The piecewise-linear fit falls at k = {span([f['slope'] for f in pw])}, the −2 "
            "of its h² error once its knots resolve F"
            + (
                f"; it is shallowest on the {short_name(least['t'])} target, whose finest "
                "detail the knots resolve last."
                if len(pw) > 1
                else "."
            )
        )
    trained = []
    for s in sweeps:
        if methods.exists(s):
            continue
        mine = [
            f
            for f in fits.get(methods.kind(s.config("training")), [])
            if f.get("slope") is not None
        ]
        if not mine:
            continue
        left = [f for f in mine if f["dropped"]]
        name, _, budget = methods.of(s).partition(", ")  # "Adam, 1,500 epochs"
        text = f"{name}{f' ({budget})' if budget else ''} falls at k = "
        text += span([f["slope"] for f in mine])
        if left:
            where = ", ".join(f"{short_name(f['t'])} from width {f['dropped'][0]:g}" for f in left)
            ends = [_at(s, f["t"], f["dropped"][0]) for f in left]
            if all(e is not None and math.isfinite(e[1]) for e in ends):
                why = (
                    "; its training error as high as its test error there: the optimizer's floor"
                    if all(e[1] > 0.5 * e[0] for e in ends)
                    else "; its training error below its test error there: the data's limit too"
                )
            else:  # no training error to tell the optimizer from the data
                why = ""
            text += f", then slows ({where}{why})"
        trained.append(text)
    if trained:
        said.append("; ".join(trained) + ", at widths where least squares still falls.")
    head = ["target", *(methods.of(s, True) for s in sweeps), "pw. linear"]
    return (
        "**Rates.** The slope k of log(test RMS error) = a + k·log(width), fitted over the "
        "widths where the error still falls (the widths after the curve turns flat, or "
        "falls at less than half its slope so far, are left out: the brackets give the "
        "widths fitted), ± the spread of the seeds' own fits. Theory: −½ (Barron, any d) "
        "and −2 (the best piecewise-linear fit of a smooth 1-D F).\n\n"
        + table(head, body, "l" + "r" * (len(head) - 1))
        + "\n\n"
        + " ".join(said)
        + "\n"
    )


def _at(sweep: Sweep, t, width) -> tuple[float, float] | None:
    """(test RMS, training RMS) at one width of one target, medians of seeds."""
    match = [g for g in rows(sweep, t) if g["width"] == width]
    if not match:
        return None
    return med(match[0]), math.sqrt(med(match[0], "train_mse"))


def _width_table(sweeps: list[Sweep], t) -> str:
    base = rows(sweeps[0], t)
    head = ["width", "params"] + [methods.of(s, True) for s in sweeps] + ["Chebyshev", "pw. linear"]
    body = []
    for g in base:
        row = [str(g["width"]), g["n_params"]]
        for s in sweeps:
            match = [h for h in rows(s, t) if h["width"] == g["width"]]
            row.append(med(match[0]) if match else None)
        row += [baseline(g, "chebyshev"), baseline(g, "pwlinear")]
        body.append(row)
    return "Test RMS error, median of seeds:\n\n" + table(head, body)


def _finite(v: float) -> float:
    return v if math.isfinite(v) else math.inf


def _decades(ratio: float) -> str:
    if not math.isfinite(ratio) or ratio <= 0:
        return "no comparison"
    return f"a factor {fmt(ratio)}" if ratio < 10 else f"{math.log10(ratio):.1f} decades"


# --------------------------------------------------------------------------- section 6


def smallest_width(groups: list[dict], eps: float, value) -> int | None:
    """The smallest width whose ``value(group)`` (a sup error) is below ``eps``."""
    for g in sorted(groups, key=lambda g: g["width"]):
        v = value(g)
        if math.isfinite(v) and v < eps:
            return g["width"]
    return None


def _curves(sweeps: list[Sweep], t) -> list[tuple[str, str, str, str, list[int | None]]]:
    """(label, colour, line style, marker, smallest width per ε) per method and baseline."""
    out = []
    for s in sweeps:
        w = [smallest_width(rows(s, t), e, lambda g: med(g, "test_max_abs")) for e in EPSILONS]
        out.append((methods.of(s, True), methods.color(s), "-", "o", w))
    base = rows(sweeps[0], t)
    for name, text, ls in (("chebyshev", "Chebyshev", "--"), ("pwlinear", "pw. linear", "-.")):
        w = [smallest_width(base, e, lambda g, n=name: baseline(g, n, "max_abs")) for e in EPSILONS]
        out.append((text, draw.GREY, ls, draw.BASELINES[name][1], w))
    return out


def figure_epsilon(ctx: Context, sweeps: list[Sweep]) -> str:
    ts = targets(sweeps[0])
    fig = new_figure(4.3 * len(ts) + 0.6, 4.6)
    axes = np.atleast_1d(fig.subplots(1, len(ts), sharey=True))
    wmax = max(g["width"] for g in sweeps[0].groups)
    never = wmax * 2  # "not reached by the widest network": drawn above the top width
    handles, labels = [], []
    for ax, t in zip(axes, ts, strict=True):
        for i, (label, color, ls, marker, w) in enumerate(_curves(sweeps, t)):
            y = [(never if v is None else v) * (1 + 0.03 * (i - 2.5)) for v in w]  # apart
            ax.step(EPSILONS, y, where="post", color=color, ls=ls, lw=1.6)
            ax.plot(EPSILONS, y, marker, color=color, ms=4.5, mfc="white" if ls != "-" else color)
            if ax is axes[0]:
                handles.append(draw.method_handle(color, ls, marker, hollow=ls != "-"))
                labels.append(label)
        ax.set_xscale("log")
        ax.set_yscale("log", base=2)
        ax.invert_xaxis()
        ax.set_xticks(EPSILONS, [f"{e:.0e}".replace("e-0", "e-") for e in EPSILONS])
        ticks = [g["width"] for g in sweeps[0].groups if g["width"] <= wmax]
        ax.set_yticks([*sorted(set(ticks)), never], [*map(str, sorted(set(ticks))), "none"])
        ax.grid(alpha=0.3)
        ax.set_xlabel("ε (sup error asked for)", fontsize=9)
        ax.set_title(target_label(t), fontsize=9)
    axes[0].set_ylabel("smallest width with sup error < ε", fontsize=9)
    draw.legend_below(fig, handles, labels, ncols=6)
    fig.suptitle(
        f"The theorem's own statement: the width needed for |g − F| < ε (median of "
        f"{draw.n_seeds(sweeps[0].groups)} seeds; 'none': not reached by width {wmax})",
        fontsize=10,
    )
    finish(fig)
    return ctx.figure("6-epsilon", fig, "smallest width against epsilon")


def section_6(ctx: Context) -> Part:
    sweeps = [ctx.sweeps[f] for f in FILES]
    wmax = max(g["width"] for g in sweeps[0].groups)
    blocks = [
        "**Theory.** The theorem's own form: for every ε there is a width n(ε) with "
        "sup |g − F| < ε. Barron's rate gives n(ε) ∝ ε⁻² for the RMS error of the best "
        "network; a piecewise-linear fit of a smooth 1-D F needs n ∝ ε^(−1/2).\n",
        figure_epsilon(ctx, sweeps),
        "",
    ]
    head = ["target", "method"] + [f"ε = {e:.0e}".replace("e-0", "e-") for e in EPSILONS]
    body, heads, ls_reach, adam_reach = [], [], [], []
    for t in targets(sweeps[0]):
        curves = _curves(sweeps, t)
        for label, _, _, _, w in curves:
            body.append([short_name(t), label] + [str(v) if v else "—" for v in w])
        ex = [c[4] for c, s in zip(curves, sweeps, strict=False) if methods.exists(s)]
        adam = curves[len(sweeps) - 1][4]
        reach = [min((v for v in col if v), default=None) for col in zip(*ex, strict=True)]
        last = max((i for i, v in enumerate(reach) if v), default=None)
        a_last = max((i for i, v in enumerate(adam) if v), default=None)
        ls_reach.append((reach[-1], last))
        adam_reach.append((adam[-1], a_last))
        heads.append(
            f"{short_name(t)}: least squares reaches ε = "
            f"{_eps(last)} (width {reach[last] if last is not None else '—'}), Adam ε = "
            f"{_eps(a_last)}"
        )
    blocks.append(
        "Smallest width whose sup error (median of seeds, on the dense test set) is below "
        f"ε; — : no width up to {wmax}.\n\n" + table(head, body, "ll" + "r" * len(EPSILONS)) + "\n"
    )
    blocks.append(
        "**Measured.** " + "; ".join(heads) + ". **The gap.** " + _gap_6(ls_reach, adam_reach, wmax)
    )
    return Part(blocks, "; ".join(heads) + ".")


def _gap_6(ls_reach: list, adam_reach: list, wmax: int) -> str:
    """Section 6's gap from (smallest width reaching the last ε, index of the last ε
    reached) per target, for least squares and for Adam; Adam's is its best target's."""
    ls_widths = [w for w, _ in ls_reach if w is not None]
    adam_best = max((i for _, i in adam_reach if i is not None), default=None)
    adam = (
        f"meets no ε below {_eps(adam_best)} on any target"
        if adam_best is not None
        else "meets none of them on any target"
    )
    return (
        f"Least squares meets ε = {_eps(len(EPSILONS) - 1)} on {len(ls_widths)} of "
        f"{len(ls_reach)} targets, with at most {max(ls_widths, default=0)} units, where a "
        "rate of n^(−1/2) would need of the order of ε⁻² units; Adam, training every weight "
        f"of the same networks, {adam} at any width up to {wmax}. The theorem's n(ε) "
        "exists; for the trained network it stops at the optimizer's floor, whatever the "
        "width.\n"
    )


def _eps(i: int | None) -> str:
    return "none" if i is None else f"{EPSILONS[i]:.0e}".replace("e-0", "e-")
