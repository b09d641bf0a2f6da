"""Cost functions and weight penalties: two registries.

``LOSSES[name] = (loss, dloss)``: each is a function of the residual r = g − y (n rows,
one output),
``loss(r)`` the mean cost over the batch and ``dloss(r) = ∂loss/∂g`` with the 1/n
included. ``mse`` follows the course's convention C = ½·mean(r²), so ∂C/∂g = r/n.

``REGULARIZERS[name] = (penalty, dpenalty)`` act on the weights only (never biases), both
scaled by their strength λ: l1 is λ·Σ|W| and l2 is λ·½·ΣW².

Every ``loss`` and ``penalty`` uses ufuncs and ``.sum``/``.mean`` only, so it runs on
:class:`nnfit.autodiff.Dual` numbers and its derivative can be checked independently.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Array = np.ndarray

HUBER_DELTA = 1.0


# np.add.reduce(..., axis=None) / n rather than .mean(): the same sum without the Python
# wrapper around ndarray.mean, a microsecond a step on small batches (and Duals take it)


def mse(r):
    return 0.5 * np.add.reduce(r * r, axis=None) / r.shape[0]


def dmse(r):
    return r * (1.0 / r.shape[0])


def mae(r):
    return np.add.reduce(np.abs(r), axis=None) / r.shape[0]


def dmae(r):
    return np.sign(r) * (1.0 / r.shape[0])


def huber(r, delta=HUBER_DELTA):
    """½r² for |r| ≤ δ, δ(|r| − ½δ) beyond: quadratic near zero, linear in the tails."""
    a = np.abs(r)
    q = np.minimum(a, delta)
    return np.add.reduce(q * (a - 0.5 * q), axis=None) / r.shape[0]


def dhuber(r, delta=HUBER_DELTA):
    return np.clip(r, -delta, delta) * (1.0 / r.shape[0])


LOSSES: dict[str, tuple[Callable, Callable]] = {
    "mse": (mse, dmse),
    "mae": (mae, dmae),
    "huber": (huber, dhuber),
}


def l1(w, lam):
    return lam * np.abs(w).sum()


def dl1(w, lam):
    # subgradient 0 at w = 0, so a weight at exactly zero stays there under GD
    return lam * np.sign(w)


def l2(w, lam):
    return 0.5 * lam * (w * w).sum()


def dl2(w, lam):
    return lam * w


REGULARIZERS: dict[str, tuple[Callable, Callable]] = {
    "l1": (l1, dl1),
    "l2": (l2, dl2),
}
