"""Convergence rates: the slope k of log(error) = a + k·log(width), set beside theory.

Theory gives k = −½ for the RMS error of Barron's bound and k = −2 for the best
piecewise-linear (ReLU) fit of a smooth 1-D function. A trained network's curve
usually flattens at large widths, where the optimizer or the data, not the width,
limits the error; those points are left out of the fit, and the result says which.
A flat head is left out too: widths too narrow to fit F at all (the error of one or two
units on sin(2πx) is the same), before the curve starts to fall.
"""

from __future__ import annotations

import math

import numpy as np

BARRON = -0.5
PIECEWISE_LINEAR = -2.0

#: a step between widths counts as flat when the error falls more slowly than this slope,
FLAT_SLOPE = -0.1
#: or more slowly than this fraction of the slope fitted on the widths before it
BEND = 0.5
#: a slope needs this many widths on the falling stretch (two points always fit a line)
MIN_POINTS = 3


def fit_slope(widths, errors_per_width) -> dict:
    """Fit the log-log slope over the widths where the error still falls.

    Parameters
    ----------
    widths : list of numbers
        Increasing widths (or parameter counts).
    errors_per_width : list of lists
        For each width, the errors of its seeds (any number, possibly none).

    Returns
    -------
    dict
        ``slope`` (fit of the mean log error), ``slope_std`` (spread of the per-seed
        fits), ``intercept``, ``used`` widths, ``head`` (the narrow widths left out
        before the error starts to fall) and ``dropped`` ones (where it stopped
        falling), ``flat`` (the steps inside the fitted stretch where it does not fall,
        as [from, to] pairs), ``n_seeds``, and with widths dropped ``bend``: "flat" or "slower",
        how the first step left out falls; ``slope`` is None when fewer than
        ``MIN_POINTS`` widths remain.
    """
    w = np.asarray(widths, dtype=float)
    logs = [np.log([e for e in errs if e is not None and e > 0]) for errs in errors_per_width]
    have = [i for i, lg in enumerate(logs) if lg.size and w[i] > 0]
    result = {
        "slope": None,
        "slope_std": None,
        "intercept": None,
        "used": [],
        "head": [],
        "dropped": [],
        "n_seeds": 0,
    }
    if len(have) < MIN_POINTS:
        result["dropped"] = [float(w[i]) for i in have]
        return result
    mean = np.array([logs[i].mean() for i in have])
    lw = np.log(w[have])
    last = int(np.argmin(mean))  # past the minimum the curve has flattened or turned up
    while last > 0:
        step = (mean[last] - mean[last - 1]) / (lw[last] - lw[last - 1])
        before = np.polyfit(lw[:last], mean[:last], 1)[0] if last >= 2 else step
        if step > FLAT_SLOPE or (before < 0 and step > BEND * before):
            last -= 1
        else:
            break
    first = 0  # a flat head, while MIN_POINTS remain after it
    while last - first + 1 > MIN_POINTS:
        if (mean[first + 1] - mean[first]) / (lw[first + 1] - lw[first]) <= FLAT_SLOPE:
            break
        first += 1
    keep = list(range(first, last + 1))
    result["head"] = [float(w[have[i]]) for i in range(first)]
    result["used"] = [float(w[have[i]]) for i in keep]
    result["dropped"] = [float(w[have[i]]) for i in range(last + 1, len(have))]
    if last + 1 < len(have):  # the first step left out: flat, or falling more slowly
        step = (mean[last + 1] - mean[last]) / (lw[last + 1] - lw[last])
        result["bend"] = "flat" if step > FLAT_SLOPE else "slower"
    if len(keep) < MIN_POINTS:
        return result
    # a flat step inside the fitted stretch: said beside the slope, which it bends
    flat: list[list[float]] = []
    for i in keep[:-1]:
        if (mean[i + 1] - mean[i]) / (lw[i + 1] - lw[i]) > FLAT_SLOPE:
            a, b = float(w[have[i]]), float(w[have[i + 1]])
            if flat and flat[-1][1] == a:  # flat on to the next width too: one stretch
                flat[-1][1] = b
            else:
                flat.append([a, b])
    result["flat"] = flat
    k, a = np.polyfit(lw[keep], mean[keep], 1)
    n_seeds = min(logs[have[i]].size for i in keep)
    per_seed = []
    for s in range(n_seeds):
        ys = [logs[have[i]][s] for i in keep]
        per_seed.append(np.polyfit(lw[keep], ys, 1)[0])
    result.update(
        slope=float(k),
        intercept=float(a),
        slope_std=float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else None,
        n_seeds=n_seeds,
    )
    return result


def describe(fit: dict) -> str:
    """One phrase: 'slope −0.93 ± 0.05 over widths 1–64 (3 seeds); flat from 128 on, left
    out' (or 'falls more slowly from 128 on', where it still falls, at less than half the
    slope before)."""
    if fit.get("slope") is None:
        return f"too few falling points for a slope (it needs {MIN_POINTS})"
    used = fit["used"]
    text = f"slope {fit['slope']:.2f}" + slope_spread(fit)
    text += f" over widths {used[0]:g}–{used[-1]:g}"
    if fit.get("n_seeds"):
        n = fit["n_seeds"]
        text += f" ({n} seed{'s' if n != 1 else ''})"
    if head := fit.get("head"):
        which = f"width {head[0]:g}" if len(head) == 1 else f"widths {head[0]:g}–{head[-1]:g}"
        text += f"; {which} left out (flat up to {used[0]:g})"
    if flat := fit.get("flat"):
        text += "; flat " + ", ".join(f"from {a:g} to {b:g}" for a, b in flat)
    if fit.get("dropped"):
        how = "flat" if fit.get("bend", "flat") == "flat" else "falls more slowly"
        text += f"; {how} from {fit['dropped'][0]:g} on, left out"
    return text


def slope_spread(fit: dict) -> str:
    """' ± 0.19', the spread of the seeds' slopes: three decimals below 0.005, where two
    would print '± 0.00', and "± <0.001" below that; empty without one."""
    std = fit.get("slope_std")
    if std is None or not math.isfinite(std):
        return ""
    if std >= 0.005:
        return f" ± {std:.2f}"
    return f" ± {std:.3f}" if std >= 0.0005 else " ± <0.001"
