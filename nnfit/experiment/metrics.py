"""Errors of an approximation g against the target F, in F's own units.

``max_abs`` on the dense test set estimates the sup-norm ‖g − F‖_∞ of the universal
approximation theorem; ``rmse`` is the L2 error of Barron's rate.
"""

from __future__ import annotations

import math

import numpy as np

Array = np.ndarray

NAMES = ("mse", "rmse", "mae", "max_abs", "rel_l2", "r2")


#: F counts as zero on a set whose RMS is below this fraction of its RMS elsewhere
ZERO_F = 1e-12


def errors(g: Array, F: Array, scale: float | None = None) -> dict[str, float]:
    """mse, rmse, mae, max_abs, rel_l2 = ‖g − F‖₂/‖F‖₂ and r2 = 1 − SSE/SST.

    Empty inputs give NaN for every entry (a run with no validation set). ``scale`` is
    F's RMS elsewhere (on the training points): where F's RMS here is below ``ZERO_F``
    of it, F is zero to rounding (one test point at sin(π) = 1.2e-16) and rel_l2 is NaN,
    as r2 is without a spread, rather than 1e15.
    """
    g = np.asarray(g, dtype=float).ravel()
    F = np.asarray(F, dtype=float).ravel()
    if g.size == 0:
        return dict.fromkeys(NAMES, math.nan)
    r = g - F
    sse = float(r @ r)
    mse = sse / r.size
    norm_f = math.sqrt(float(F @ F))
    zero = ZERO_F * scale * math.sqrt(F.size) if scale else 0.0
    sst = float(((F - F.mean()) ** 2).sum())
    return {
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(np.mean(np.abs(r))),
        "max_abs": float(np.max(np.abs(r))),
        "rel_l2": math.sqrt(sse) / norm_f if norm_f > zero else math.nan,
        "r2": 1.0 - sse / sst if sst > 0 else math.nan,
    }


def weight_stats(weights: Array, rel: float = 1e-3) -> dict[str, float]:
    """Size and sparsity of the weights (biases excluded): what L1 and L2 act on.

    ``frac_small`` is the fraction with |w| below ``rel`` times the largest |w|.
    """
    w = np.abs(np.asarray(weights, dtype=float).ravel())
    if w.size == 0:
        return {"l1": 0.0, "l2": 0.0, "max": 0.0, "frac_small": math.nan}
    top = float(w.max())
    return {
        "l1": float(w.sum()),
        "l2": float(math.sqrt(float(w @ w))),
        "max": top,
        "frac_small": float(np.mean(w < rel * top)) if top > 0 else 1.0,
    }


def rms(F: Array) -> float:
    """F's root mean square (the ``scale`` of :func:`errors`); 0 for no values."""
    F = np.asarray(F, dtype=float).ravel()
    return math.sqrt(float(F @ F) / F.size) if F.size else 0.0
