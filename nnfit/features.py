"""Random first layers whose units sit inside the domain [0,1]^d.

A first-layer unit computes σ(w_j·x + b_j). With ``spread`` biases b_j = −w_j·c_j and
centres c_j uniform in [0,1]^d, the unit is σ(w_j·(x − c_j)): its kink (ReLU), centre
(sigmoid) or steepest point (tanh) is the hyperplane through c_j normal to w_j, which
crosses the domain. With zero biases and inputs in [0,1]^d every such hyperplane passes
through the corner x = 0 instead.

Random hidden weights plus an output layer fitted by least squares (no optimiser) is
the random-features model: :func:`random_features`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nnfit import lstsq

Array = np.ndarray

#: Default s per activation, for first-layer weights w_ij ~ N(0, s²/d) with spread biases.
#: Measured with bench/random_features_scale.py (one layer, output by least squares,
#: 1,024 uniform points, 10 seeds): tanh width 64 meets test RMSE ≤ 1e-8 on sin(2πx)
#: and ≤ 1e-5 on Runge in the worst seed for s from 10 to 14 only (s = 10: worst 1.7e-11
#: and 2.6e-6). sigmoid(z) = ½ + ½·tanh(z/2), so sigmoid's s is twice tanh's. ReLU is
#: positively homogeneous: with spread biases any s gives the same features up to a
#: factor per unit, hence the same least-squares fit.
DEFAULT_SCALE: dict[str, float] = {"tanh": 10.0, "sigmoid": 20.0, "relu": 1.0}


def default_scale(activation: str, d: int) -> float:
    """Standard deviation s/√d of a first-layer weight for ``activation`` in dimension d.

    The slope of unit j along its own direction, ‖w_j‖, is then about s in every
    dimension (on Franke and a 5-D product of sines s/√d beat s at s = 10). Activations
    without a measured value get tanh's.
    """
    return DEFAULT_SCALE.get(activation, DEFAULT_SCALE["tanh"]) / np.sqrt(d)


def spread_bias(W: Array, rng: np.random.Generator) -> Array:
    """Biases b_j = −w_j·c_j with c_j ~ U[0,1]^d, one per unit.

    Parameters
    ----------
    W : array (d, width)
        First-layer weights, fan_in × fan_out; column j is w_j.
    rng : np.random.Generator

    Returns
    -------
    b : array (width,)
        So that w_j·c_j + b_j = 0: unit j is σ(w_j·(x − c_j)).
    """
    d, width = W.shape
    centres = rng.uniform(size=(d, width))
    return -np.einsum("ij,ij->j", W, centres)


def first_layer(rng: np.random.Generator, d: int, width: int, scale: float) -> tuple[Array, Array]:
    """W of shape (d, width) with w_ij ~ N(0, scale²), and its spread biases b (width,)."""
    W = rng.normal(0.0, scale, size=(d, width))
    return W, spread_bias(W, rng)


def random_features(
    X_train: Array,
    y_train: Array,
    X_eval: Array,
    width: int,
    activation: Callable[[Array], Array],
    rng: np.random.Generator,
    scale: float,
    ridge: float = 0.0,
) -> Array:
    """One hidden layer with random weights and spread biases; output by least squares.

    g(x) = Σ_j α_j σ(w_j·x + b_j) + β, with (α, β) = ``lstsq.solve([σ(XW + b), 1], y)``
    (the bias β is not penalised by ``ridge``). Returns g at ``X_eval``, shape (n_eval,).
    """
    W, b = first_layer(rng, X_train.shape[1], width, scale)

    def features(X):
        return np.hstack([activation(X @ W + b), np.ones((len(X), 1))])

    mask = np.ones(width + 1, bool)
    mask[-1] = False
    coef = lstsq.solve(features(X_train), y_train, ridge=ridge, weights_mask=mask)
    return features(X_eval) @ coef
