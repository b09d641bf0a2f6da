"""Stable ridge least squares (temporary minimal version)."""

from __future__ import annotations

import numpy as np
import scipy.linalg


def solve(Phi, Y, ridge=0.0, weights_mask=None):
    Phi = np.asarray(Phi, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    m = Phi.shape[1]
    if ridge > 0:
        mask = np.ones(m) if weights_mask is None else np.asarray(weights_mask, dtype=float)
        Phi = np.vstack([Phi, np.diag(np.sqrt(ridge) * mask)])
        Y = np.concatenate([Y, np.zeros((m, *Y.shape[1:]))])
    scale = np.linalg.norm(Phi, axis=0)
    scale[scale == 0] = 1.0
    c, *_ = scipy.linalg.lstsq(Phi / scale, Y, lapack_driver="gelsd", check_finite=False)
    return (c.T / scale).T
