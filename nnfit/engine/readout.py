"""The output layer by least squares: given the last hidden layer, the best output layer.

With an affine output (identity activation), g = Φ c with Φ = [a_{L−1} | 1] the last
hidden layer's activations and a ones column, so the output weights and bias that
minimise ½·mean((g − y)²) + l2·½‖W_out‖² solve a ridge least-squares problem with
ridge n·l2 on the weights (never the bias). With the hidden weights left as initialised
this is a random-features model; re-solved inside L-BFGS or Levenberg–Marquardt it is
variable projection (Golub & Pereyra 1973; Newman, Ruthotto et al. 2021).
"""

from __future__ import annotations

import numpy as np

from nnfit.engine import lstsq
from nnfit.engine.network import Network

Array = np.ndarray


def design(features: Array) -> Array:
    """Φ = [features | 1] in float64, (n, width + 1)."""
    n = features.shape[0]
    return np.hstack([features.astype(np.float64), np.ones((n, 1))])


def fit(Phi: Array, Y: Array, l2: float) -> Array:
    """Output block [W_outᵀ | b_out] (out, width + 1) minimising ½‖Φc − Y‖²/n + l2·½‖w‖²."""
    mask = np.ones(Phi.shape[1])
    mask[-1] = 0.0  # the bias is not penalised
    return lstsq.solve(Phi, Y, ridge=len(Phi) * l2, weights_mask=mask).reshape(Phi.shape[1], -1).T


def solve(net: Network, X: Array, Y: Array, l2: float = 0.0) -> None:
    """Set every model's output layer to its least-squares fit on (X, Y) (network units).

    A model whose features are not finite keeps its output layer: its cost through them
    is not finite, so training stops it as diverged (a zero output layer, which the solve
    gave them, made a constant that a run with no epochs called ok).
    """
    if net.specs[-1].name != "identity":
        raise ValueError("a least-squares output layer needs output: identity")
    with np.errstate(over="ignore", invalid="ignore"):
        feats = net.features(X)
    Y = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
    for k in range(net.k):
        try:
            net.blocks[-1][k] = fit(design(feats[k]), Y, l2)
        except lstsq.NotFinite:
            continue
