"""Initial weights and biases: one registry of weight initialisers and the bias rules.

Each initialiser draws W of shape (fan_in, fan_out) from the ``np.random.Generator`` it
is given, with its declared parameters. Biases are a constant, or ``spread``: each
first-layer unit j gets b_j = −w_j·c_j with c_j in [0,1]^d (a Latin hypercube of
centres: uniform, with one per 1/n-th of each axis), so that its kink
(ReLU) or centre (sigmoid, tanh) lies inside the domain instead of on the corner x = 0,
where zero biases put every one of them.

``domain`` scales the first layer for inputs in [0,1]^d rather than for unit-variance
signals: w_ij ~ N(0, (scale·s/d)²), so each unit's slope along its own direction is
about s/√d: gentler in higher dimension, where the same units must cover a larger cube
(a wide Gaussian in 5-D, 64 tanh units, Adam: test RMSE 1.1e-2 with slopes near 10,
4.9e-3 with slopes near 4.5; Franke in 2-D goes from 2.9e-3 to 4.0e-3, both far below
MLPRegressor's 7.3e-2 at the same budget). For saturating units s grows with the number
of units n, s = max(1, s_act·n/64), at most 40 (80 for the sigmoid), with s_act = 10 for
tanh and 20 for sigmoid (σ(z) is tanh(z/2) rescaled) and for the smooth ramps softplus,
GELU and SiLU; ReLU, leaky ReLU, ELU and SELU, linear on one side, get √2. Deeper layers
get Glorot (saturating units) or He (ReLU-like) as usual. With spread biases and the
output layer by least squares, tanh width 64 reaches a test RMS error below 1e-8 on
sin(2πx) and 1e-5 on Runge in every one of 10 seeds (``bench/random_features_scale.py``:
slopes from 10 to 14 do, 7 and 20 do not); narrower layers do best with gentler slopes
(width 16: s = 1 gives 1.6e-9 on sin(2πx), s = 10 gives 6.6e-4), wider ones with steeper
(width 256 on Runge: s = 30 gives 8e-13, s = 3 gives 2e-5).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from nnfit.engine.params import POSITIVE, Param

Array = np.ndarray


def glorot(rng, fan_in, fan_out):
    """Glorot & Bengio (2010) uniform: U(±√(6/(fan_in + fan_out)))."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def he(rng, fan_in, fan_out):
    """He et al. (2015): N(0, 2/fan_in), for ReLU-like units."""
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def lecun(rng, fan_in, fan_out):
    """LeCun: N(0, 1/fan_in)."""
    return rng.normal(0.0, math.sqrt(1.0 / fan_in), size=(fan_in, fan_out))


def normal(rng, fan_in, fan_out, std=1.0):
    return rng.normal(0.0, std, size=(fan_in, fan_out))


def uniform(rng, fan_in, fan_out, limit=1.0):
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


#: first-layer slope s per activation for ``domain`` (others take tanh's)
DOMAIN_SLOPE: dict[str, float] = {
    "tanh": 10.0,
    "sigmoid": 20.0,
    # smooth ramps: their bend is about as wide as the sigmoid's transition, so with
    # √2 it spans the whole domain and 256 of them are nearly collinear (random
    # features on Runge at n = 256: 1.4e-2 at s = √2, 7.5e-12 at the rule's s = 40)
    "softplus": 20.0,
    "gelu": 20.0,
    "silu": 20.0,
}
#: the steepest first-layer slope for ``domain`` (sigmoid: twice, as σ(z) is tanh(z/2)
#: rescaled): the growth stops at 256 tanh units. Steeper units overlap too little: at
#: 1,024 tanh units on Runge random features reach 3.8e-4 with s = 160 and 9.7e-8 with
#: 40, Adam 5.3e-3 and 1.7e-3; 1,024 softplus units under Adam 0.11 and 1.2e-2.
DOMAIN_SLOPE_MAX: dict[str, float] = {"sigmoid": 80.0}
DOMAIN_SLOPE_MAX_DEFAULT = 40.0
#: activations that are linear on one side: He for their deeper layers
RELU_LIKE = frozenset({"relu", "leaky_relu", "elu", "selu", "gelu", "silu", "softplus"})
#: ... of which those whose first-layer slope does not matter (a kink, or one linear side)
SCALE_FREE = frozenset({"relu", "leaky_relu", "elu", "selu"})


def domain(rng, fan_in, fan_out, scale=1.0, activation="tanh", first=True):
    """First layer: N(0, (scale·s/d)²), s by activation and width; deeper: He or Glorot.

    For smooth units s = max(1, s_act·n/64) with n = fan_out units: the more units,
    the steeper each, so that their transitions tile [0,1] rather than overlap (10 for
    tanh at n = 64), up to 40 (80 for the sigmoid).
    """
    if not first:
        if activation in RELU_LIKE:
            return he(rng, fan_in, fan_out)
        return glorot(rng, fan_in, fan_out)
    if activation in SCALE_FREE:
        s = math.sqrt(2.0)  # ReLU units are scale-free: any slope gives the same kinks
    else:
        s = max(1.0, DOMAIN_SLOPE.get(activation, DOMAIN_SLOPE["tanh"]) * fan_out / 64)
        s = min(s, DOMAIN_SLOPE_MAX.get(activation, DOMAIN_SLOPE_MAX_DEFAULT))
    return rng.normal(0.0, scale * s / fan_in, size=(fan_in, fan_out))


INITIALIZERS: dict[str, Callable[..., Array]] = {
    "domain": domain,
    "glorot": glorot,
    "he": he,
    "lecun": lecun,
    "normal": normal,
    "uniform": uniform,
}

#: Parameters an initialiser accepts, declared with their ranges.
PARAMS: dict[str, dict[str, Param]] = {
    "domain": {"scale": Param(1.0, **POSITIVE, hi=1e3, doc="factor on the first layer's slope")},
    "glorot": {},
    "he": {},
    "lecun": {},
    "normal": {"std": Param(1.0, **POSITIVE, hi=1e6, doc="standard deviation")},
    "uniform": {"limit": Param(1.0, **POSITIVE, hi=1e6, doc="U(−limit, limit)")},
}


def spread_bias(W: Array, rng: np.random.Generator) -> Array:
    """b_j = −w_j·c_j: unit j is centred at c_j inside [0,1]^d.

    The centres are a Latin hypercube: along each coordinate, each of the n intervals
    [k/n, (k+1)/n) holds one c_j, at a uniform place in it. Each c_j is still uniform
    on [0,1]^d, but no stretch of an axis is left without a unit: 64 ReLU units on
    sin(2πx), output by least squares, reach 6.8e-4 against 3.4e-3 with independent
    centres, and trained by Adam 1.3e-3 against 1.8e-3 (median of 3 seeds).

    ``W`` has shape (d, width); returns b of shape (width,).
    """
    d, n = W.shape
    slots = np.argsort(rng.uniform(size=(d, n)), axis=1)  # a random order per coordinate
    centres = (slots + rng.uniform(size=(d, n))) / n  # c_j as columns, (d, width)
    return -np.einsum("ij,ij->j", W, centres)


#: initialisers that need to know the layer's activation and whether it is the first
LAYER_AWARE = frozenset({"domain"})
