"""Activation functions and their derivatives: one registry, ``name -> (f, df)``.

``a = f(z)`` maps pre-activations to activations; ``df(z, a)`` returns σ'(z) given both
z and a = f(z), so that derivatives cheapest in terms of a (tanh: 1 − a², sigmoid:
a(1 − a)) reuse the forward result. Every ``f`` is written with NumPy ufuncs only, so
it also runs on :class:`nnfit.autodiff.Dual` numbers; that is how each hand-written
``df`` is checked against an independent derivative.

Some activations take a parameter (``leaky_relu`` its slope, ``elu`` its alpha): the
defaults live in :data:`PARAMS` and :func:`get` binds other values.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

Array = np.ndarray
Activation = tuple[Callable[..., Array], Callable[..., Array]]

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


def sigmoid(z):
    """Logistic 1 / (1 + e^-z), written through tanh so that no exp overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def dsigmoid(z, a):
    return a * (1.0 - a)


def tanh(z):
    return np.tanh(z)


def dtanh(z, a):
    return 1.0 - a * a


def relu(z):
    return np.maximum(z, 0.0)


def drelu(z, a):
    # σ'(0) = 0, the subgradient scikit-learn and PyTorch also take.
    return (z > 0).astype(z.dtype)


def leaky_relu(z, slope=0.01):
    """max(z, slope·z), for 0 <= slope < 1."""
    return np.maximum(z, slope * z)


def dleaky_relu(z, a, slope=0.01):
    return np.where(z > 0, 1.0, slope).astype(z.dtype)


def elu(z, alpha=1.0):
    return np.maximum(z, 0.0) + alpha * np.expm1(np.minimum(z, 0.0))


def delu(z, a, alpha=1.0):
    # for z <= 0, α·e^z = a + α
    return np.where(z > 0, 1.0, a + alpha).astype(z.dtype)


def selu(z):
    return _SELU_SCALE * (np.maximum(z, 0.0) + _SELU_ALPHA * np.expm1(np.minimum(z, 0.0)))


def dselu(z, a):
    return np.where(z > 0, _SELU_SCALE, a + _SELU_SCALE * _SELU_ALPHA).astype(z.dtype)


def softplus(z):
    return np.logaddexp(0.0, z)


def dsoftplus(z, a):
    return sigmoid(z)


def _erf(z):
    from scipy.special import erf  # imported here: scipy.special costs 0.25 s at start-up

    return erf(z)


def gelu(z):
    """Exact GELU, z·Φ(z) with Φ the standard normal CDF."""
    return 0.5 * z * (1.0 + _erf(z * _INV_SQRT2))


def dgelu(z, a):
    phi = 0.5 * (1.0 + _erf(z * _INV_SQRT2))
    return phi + z * _INV_SQRT2PI * np.exp(-0.5 * z * z)


def silu(z):
    return z * sigmoid(z)


def dsilu(z, a):
    s = sigmoid(z)
    return s * (1.0 + z * (1.0 - s))


def sin(z):
    return np.sin(z)


def dsin(z, a):
    return np.cos(z)


def identity(z):
    return z


def didentity(z, a):
    return np.ones_like(z)


def square(z):
    """x², a polynomial: a network of it cannot approximate everything (Leshno et al.)."""
    return z * z


def dsquare(z, a):
    return 2.0 * z


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": (sigmoid, dsigmoid),
    "tanh": (tanh, dtanh),
    "relu": (relu, drelu),
    "leaky_relu": (leaky_relu, dleaky_relu),
    "elu": (elu, delu),
    "selu": (selu, dselu),
    "softplus": (softplus, dsoftplus),
    "gelu": (gelu, dgelu),
    "silu": (silu, dsilu),
    "sin": (sin, dsin),
    "identity": (identity, didentity),
    "square": (square, dsquare),
}

#: Parameters an activation accepts, with their defaults.
PARAMS: dict[str, dict[str, float]] = {
    "leaky_relu": {"slope": 0.01},
    "elu": {"alpha": 1.0},
}


def get(name: str, **params: float) -> Activation:
    """Return ``(f, df)`` for ``name`` with ``params`` bound.

    Raises
    ------
    KeyError
        For an unknown name or a parameter the activation does not take.
    """
    if name not in ACTIVATIONS:
        raise KeyError(f"unknown activation {name!r} (allowed: {', '.join(ACTIVATIONS)})")
    allowed = PARAMS.get(name, {})
    extra = set(params) - set(allowed)
    if extra:
        raise KeyError(
            f"activation {name!r} takes {sorted(allowed) or 'no parameters'}, got {sorted(extra)}"
        )
    f, df = ACTIVATIONS[name]
    if not params:
        return f, df
    return functools.partial(f, **params), functools.partial(df, **params)
