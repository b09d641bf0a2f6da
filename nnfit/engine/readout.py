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


#: how far the ridge of a bounded solve grows, ×10 at a time, from the l2 given
MAX_RIDGE_GROWTH = 1e8


def solve(net: Network, X: Array, Y: Array, l2: float = 0.0, bound: float | None = None) -> None:
    """Set every model's output layer to its least-squares fit on (X, Y) (network units).

    With a ``bound``, a model whose output weights come out larger than it in absolute
    value is solved again with ten times the l2, until they are within it (or the l2 has
    grown by :data:`MAX_RIDGE_GROWTH`). Gradient steps through output weights that
    cancel each other at 1e3 break the cancellation and explode however small the lr.

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
        ridge = l2
        try:
            Phi = design(feats[k])
            block = fit(Phi, Y, ridge)
            while bound is not None and np.abs(block[:, :-1]).max(initial=0.0) > bound:
                if ridge >= l2 * MAX_RIDGE_GROWTH:
                    break
                ridge *= 10.0
                block = fit(Phi, Y, ridge)
        except lstsq.NotFinite:
            continue
        net.blocks[-1][k] = block
