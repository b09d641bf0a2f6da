"""Activation functions and their derivatives: one registry, ``name -> Activation``.

``a = f(z)`` maps pre-activations to activations; ``df(z, a)`` returns σ'(z) given both
z and a = f(z), so that derivatives cheapest in terms of a (tanh: 1 − a², sigmoid:
a(1 − a)) reuse the forward result. Every ``f`` is written with NumPy ufuncs only, so
it also runs on :class:`nnfit.autodiff.Dual` numbers; that is how each hand-written
``df`` is checked against an independent derivative.

Some activations take a parameter (``leaky_relu`` its slope, ``elu`` its alpha), declared
with its range as a :class:`~nnfit.engine.params.Param`; :func:`get` binds values.

Training uses in-place variants where they pay (tanh, sigmoid, relu): ``forward_(z, out)``
writes f(z) into ``out`` and ``backward_(d, z, a, tmp)`` multiplies ``d`` by σ'(z) in
place, with the same arithmetic as ``f`` and ``df``, so the numbers are the same. Two
more serve the training passes: ``fast_deriv(z, a, out)`` writes σ'(z) itself (the factor
``fast_backward`` multiplies by; used only together with it, so an entry whose
``fast_backward`` is None trains with ``df``), and ``fast_scaled = (c, g)`` with
g(c·z, out) writing f(z) (for an activation whose σ' comes from a alone, as z is
overwritten): the pass multiplies the layer's weights by c (a small matrix) rather than
spend a pass over the (width, rows) block. The sigmoid's is 1/(1 + e^u) for
u = −z, half the cost of the tanh that ``f`` is written with (which the tape's worked
example differentiates to the bit); the two agree to an ulp or two, and the exponential
keeps its digits in the lower tail, where 1 + tanh(z/2) loses them all below z ≈ −37.
The tanh's is 2/(1 + e^u) − 1 for u = −2z (``TANH_EXP``): within a few ulps of 1 of
``np.tanh``, at half its cost where NumPy's float64 tanh runs a value at a time, and
used only there: where NumPy has its AVX-512 loops (:func:`numpy_tanh_is_vectorised`)
``np.tanh`` is faster in both float64 and float32 (2.7 against 4.4 µs on a (64, 32)
block), and the passes call it. Predictions, metrics and the autodiff checks go through
``f``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from nnfit.engine.params import Param, bind, lookup

Array = np.ndarray

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


# ------------------------------------------------------------------ in-place variants


def _dtanh_(d, z, a, tmp):
    np.multiply(a, a, out=tmp)
    np.subtract(1.0, tmp, out=tmp)
    d *= tmp


def _tanh_deriv(z, a, out):
    np.multiply(a, a, out=out)
    np.subtract(1.0, out, out=out)


def _tanh_neg2_(u, out):
    """tanh(z) = 2 / (1 + e^u) − 1 for u = −2z: one exponential and three cheap passes,
    about half the time of NumPy's float64 tanh on a CPU where that runs a value at a
    time (AMD EPYC, AVX2: 14 against 28 µs on a (64, 32) block). Within 4e-16 of
    ``np.tanh`` in float64 (2e-7 in float32), absolute; near z = 0 the relative error
    grows as the ulp of 1 over |z|. e^u overflows to inf for u > 709, giving −1."""
    np.exp(u, out=out)
    np.add(out, 1.0, out=out)
    np.divide(2.0, out, out=out)
    np.subtract(out, 1.0, out=out)


#: the exponential form of tanh for the training passes, as ``fast_scaled`` takes it
TANH_EXP = (-2.0, _tanh_neg2_)


def numpy_tanh_is_vectorised(features: dict | None = None) -> bool:
    """Whether this NumPy runs its float64 tanh on vector units: on x86-64 only with its
    AVX-512 loops (the ``X86_V4`` group, ``AVX512_SKX`` before NumPy 2.4), which this CPU
    must have and ``NPY_DISABLE_CPU_FEATURES`` must not turn off. Where it does,
    ``np.tanh`` takes 2.7 µs on a (64, 32) block against 15.5 without (Intel Xeon; 4.4
    and 8.7 for the exponential form). Elsewhere False: there the exponential form is
    half the time of ``np.tanh`` in float64 and about its time in float32. Decided by the
    CPU, not by timing, so that a machine trains to the same bits every run."""
    if features is None:
        try:
            from numpy._core._multiarray_umath import __cpu_features__ as features
        except ImportError:  # pragma: no cover - NumPy < 2
            return False
    return bool(features.get("X86_V4") or features.get("AVX512_SKX"))


def _sigmoid_(z, out):
    np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5


def _sigmoid_neg_(u, out):
    """σ(−u) = 1 / (1 + e^u); e^u overflows to inf for u > 709, giving 0 (the caller
    silences the warning)."""
    np.exp(u, out=out)
    np.add(out, 1.0, out=out)
    np.divide(1.0, out, out=out)


def _sigmoid_deriv(z, a, out):
    np.subtract(1.0, a, out=out)
    np.multiply(out, a, out=out)


def _dsigmoid_(d, z, a, tmp):
    np.subtract(1.0, a, out=tmp)
    tmp *= a
    d *= tmp


def _relu_(z, out):
    np.maximum(z, 0.0, out=out)


def _drelu_(d, z, a, tmp):
    np.greater(a, 0.0, out=tmp)  # a > 0 exactly where z > 0
    d *= tmp


def _relu_deriv(z, a, out):
    np.greater(a, 0.0, out=out)


def _identity_(z, out):
    if out is not z:
        out[...] = z


def _didentity_(d, z, a, tmp):
    pass


@dataclass(frozen=True)
class Activation:
    """a = f(z) and σ'(z) = df(z, a), with declared parameters and in-place variants.

    ``needs_z`` is False when σ' can be computed from a alone, so training may
    overwrite z with a.
    """

    f: Callable[..., Array]
    df: Callable[..., Array]
    params: dict[str, Param] = field(default_factory=dict)
    needs_z: bool = True
    fast_forward: Callable | None = None
    fast_backward: Callable | None = None
    fast_deriv: Callable | None = None
    fast_scaled: tuple[float, Callable] | None = None

    def forward_(self, z: Array, out: Array) -> None:
        """out ← f(z); ``out`` may be ``z`` when ``needs_z`` is False."""
        if self.fast_forward is not None:
            self.fast_forward(z, out)
        else:
            np.copyto(out, self.f(z))

    def backward_(self, d: Array, z: Array, a: Array, tmp: Array) -> None:
        """d ← d · σ'(z) in place (``tmp`` is scratch of d's shape)."""
        if self.fast_backward is not None:
            self.fast_backward(d, z, a, tmp)
        else:
            d *= self.df(z, a)


_SLOPE = Param(0.01, lo=0.0, hi=1.0, hi_open=True, doc="slope for z < 0")
_ALPHA = Param(1.0, lo=0.0, lo_open=True, hi=1e3, doc="saturation value −α for z → −∞")

ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(
        sigmoid, dsigmoid, {}, False, _sigmoid_, _dsigmoid_, _sigmoid_deriv, (-1.0, _sigmoid_neg_)
    ),
    "tanh": Activation(
        tanh,
        dtanh,
        {},
        False,
        np.tanh,
        _dtanh_,
        _tanh_deriv,
        None if numpy_tanh_is_vectorised() else TANH_EXP,
    ),
    "relu": Activation(relu, drelu, {}, False, _relu_, _drelu_, _relu_deriv),
    "leaky_relu": Activation(leaky_relu, dleaky_relu, {"slope": _SLOPE}, needs_z=False),
    "elu": Activation(elu, delu, {"alpha": _ALPHA}, needs_z=False),
    "selu": Activation(selu, dselu, needs_z=False),
    "softplus": Activation(softplus, dsoftplus),
    "gelu": Activation(gelu, dgelu),
    "silu": Activation(silu, dsilu),
    "sin": Activation(sin, dsin),
    "identity": Activation(identity, didentity, {}, False, _identity_, _didentity_),
    "square": Activation(square, dsquare),
}

#: activations that are polynomials: no width makes them universal (Leshno et al. 1993)
POLYNOMIAL = frozenset({"identity", "square"})


def image(act: Activation) -> tuple[float, float]:
    """The values σ takes on the real line, as (inf, sup): ±inf where it grows without
    bound (found on a grid out to |z| = 1e6, so tails such as GELU's dip count)."""
    tail = np.logspace(1.3, 6, 60)
    z = np.concatenate([-tail[::-1], np.linspace(-20.0, 20.0, 4001), tail])
    with np.errstate(over="ignore", invalid="ignore"):
        a = np.asarray(act.f(z), dtype=float)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    return (-math.inf if lo < -1e3 else lo), (math.inf if hi > 1e3 else hi)


def get(name: str, **params: float) -> Activation:
    """The activation ``name`` with ``params`` checked and bound.

    Raises
    ------
    UnknownChoice
        For an unknown name or a parameter the activation does not take (a KeyError
        and a ValueError).
    ValueError
        For a parameter outside its range.
    """
    act = lookup("activation", name, ACTIVATIONS)
    if not params:
        bind("activation", name, act.params, {})
        return act
    values = bind("activation", name, act.params, params)
    return replace(
        act,
        f=functools.partial(act.f, **values),
        df=functools.partial(act.df, **values),
    )
