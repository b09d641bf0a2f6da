"""Forward-mode automatic differentiation with dual numbers.

A :class:`Dual` carries a value array and a tangent array of the same shape: the pair
(x, ẋ) stands for x + ẋ·ε with ε² = 0, so f(x + ẋε) = f(x) + f'(x)·ẋ·ε. Pushing duals
through a computation gives its Jacobian-vector product along ẋ in the same pass.

Duals take part in NumPy through ``__array_ufunc__``: ``np.tanh(d)``, ``d @ W``,
``np.maximum(d, 0)``, ``d.mean()`` and ordinary operators all work, using the
derivative rules in :data:`UNARY` and :data:`BINARY`. That is enough for every
activation, loss and regulariser in nnfit, and for the whole network, so backprop's
hand-written derivatives are checked against an independent computation.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

Array = np.ndarray

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

#: ufunc -> f'(x, y) with y = f(x)
UNARY = {
    np.negative: lambda x, y: -np.ones_like(x),
    np.positive: lambda x, y: np.ones_like(x),
    np.exp: lambda x, y: y,
    np.expm1: lambda x, y: y + 1.0,
    np.log: lambda x, y: 1.0 / x,
    np.log1p: lambda x, y: 1.0 / (1.0 + x),
    np.sqrt: lambda x, y: 0.5 / y,
    np.square: lambda x, y: 2.0 * x,
    np.tanh: lambda x, y: 1.0 - y * y,
    np.sinh: lambda x, y: np.cosh(x),
    np.cosh: lambda x, y: np.sinh(x),
    np.sin: lambda x, y: np.cos(x),
    np.cos: lambda x, y: -np.sin(x),
    np.tan: lambda x, y: 1.0 + y * y,
    np.arctan: lambda x, y: 1.0 / (1.0 + x * x),
    np.absolute: lambda x, y: np.sign(x),
    np.sign: lambda x, y: np.zeros_like(x),
    np.floor: lambda x, y: np.zeros_like(x),
    special.erf: lambda x, y: _TWO_OVER_SQRT_PI * np.exp(-x * x),
}

#: ufunc -> (∂f/∂a, ∂f/∂b)(a, b, y) with y = f(a, b)
BINARY = {
    np.add: lambda a, b, y: (1.0, 1.0),
    np.subtract: lambda a, b, y: (1.0, -1.0),
    np.multiply: lambda a, b, y: (b, a),
    np.true_divide: lambda a, b, y: (1.0 / b, -y / b),
    np.power: lambda a, b, y: (b * a ** (b - 1), y * np.log(np.where(a > 0, a, 1.0))),
    # At a tie, maximum follows its second argument and minimum its first: the
    # subgradients that give relu'(0) = 0, leaky_relu'(0) = slope and elu'(0) = α,
    # the conventions of nnfit's backprop (and PyTorch's).
    np.maximum: lambda a, b, y: ((a > b).astype(float), (a <= b).astype(float)),
    np.minimum: lambda a, b, y: ((a <= b).astype(float), (a > b).astype(float)),
    np.logaddexp: lambda a, b, y: (np.exp(a - y), np.exp(b - y)),
}

#: ufuncs whose result carries no derivative (comparisons, tests)
CONSTANT = {
    np.greater,
    np.greater_equal,
    np.less,
    np.less_equal,
    np.equal,
    np.not_equal,
    np.isfinite,
    np.isnan,
    np.signbit,
}


def _split(x):
    if isinstance(x, Dual):
        return x.value, x.tangent
    return x, None


class Operators:
    """Python's operators routed through NumPy's ufuncs, so that a class implementing
    ``__array_ufunc__`` (:class:`Dual`, :class:`nnfit.engine.tape.Var`) gets them all."""

    __slots__ = ()

    def __add__(self, o):
        return np.add(self, o)

    def __radd__(self, o):
        return np.add(o, self)

    def __sub__(self, o):
        return np.subtract(self, o)

    def __rsub__(self, o):
        return np.subtract(o, self)

    def __mul__(self, o):
        return np.multiply(self, o)

    def __rmul__(self, o):
        return np.multiply(o, self)

    def __truediv__(self, o):
        return np.true_divide(self, o)

    def __rtruediv__(self, o):
        return np.true_divide(o, self)

    def __pow__(self, o):
        return np.power(self, o)

    def __matmul__(self, o):
        return np.matmul(self, o)

    def __rmatmul__(self, o):
        return np.matmul(o, self)

    def __neg__(self):
        return np.negative(self)

    def __gt__(self, o):
        return np.greater(self, o)

    def __ge__(self, o):
        return np.greater_equal(self, o)

    def __lt__(self, o):
        return np.less(self, o)

    def __le__(self, o):
        return np.less_equal(self, o)


class Dual(Operators):
    """A value array with its tangent: the directional derivative along some input."""

    __slots__ = ("tangent", "value")

    def __init__(self, value, tangent=None):
        self.value = np.asarray(value, dtype=float)
        self.tangent = (
            np.zeros_like(self.value) if tangent is None else np.asarray(tangent, dtype=float)
        )

    # numpy protocol --------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if kwargs.get("out") is not None:
            return NotImplemented
        kwargs.pop("out", None)
        vals, tans = zip(*(_split(x) for x in inputs), strict=True)
        if method == "reduce" and ufunc is np.add:
            return Dual(np.add.reduce(vals[0], **kwargs), np.add.reduce(tans[0], **kwargs))
        if method != "__call__":
            return NotImplemented
        if (
            ufunc not in CONSTANT
            and ufunc not in UNARY
            and ufunc not in BINARY
            and (ufunc is not np.matmul)
        ):
            raise TypeError(f"no derivative rule for {ufunc.__name__}")
        y = ufunc(*vals, **kwargs)
        if ufunc in CONSTANT:
            return y
        if ufunc is np.matmul:
            a, b = vals
            ta, tb = tans
            t = 0.0
            if ta is not None:
                t = t + ta @ b
            if tb is not None:
                t = t + a @ tb
            return Dual(y, np.broadcast_to(t, y.shape).copy())
        if ufunc in UNARY:
            return Dual(y, UNARY[ufunc](vals[0], y) * tans[0])
        da, db = BINARY[ufunc](vals[0], vals[1], y)
        t = np.zeros_like(y, dtype=float)
        if tans[0] is not None:
            t = t + da * tans[0]
        if tans[1] is not None:
            t = t + db * tans[1]
        return Dual(y, t)

    # reductions and shape -----------------------------------------------------
    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        return Dual(
            self.value.sum(axis=axis, keepdims=keepdims),
            self.tangent.sum(axis=axis, keepdims=keepdims),
        )

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        return Dual(
            self.value.mean(axis=axis, keepdims=keepdims),
            self.tangent.mean(axis=axis, keepdims=keepdims),
        )

    def __getitem__(self, index):
        return Dual(self.value[index], self.tangent[index])

    def reshape(self, *shape):
        return Dual(self.value.reshape(*shape), self.tangent.reshape(*shape))

    @property
    def shape(self):
        return self.value.shape

    @property
    def T(self):
        return Dual(self.value.T, self.tangent.T)

    def __len__(self):
        return len(self.value)

    def __repr__(self):
        return f"Dual(value={self.value!r}, tangent={self.tangent!r})"


def derivative(f, x: Array) -> Array:
    """Elementwise derivative f'(x) of an elementwise function, by forward mode."""
    return f(Dual(x, np.ones_like(x, dtype=float))).tangent


def jvp(f, x: Array, v: Array) -> tuple[Array, Array]:
    """``(f(x), J_f(x) v)``: value and directional derivative of ``f`` at x along v."""
    out = f(Dual(x, v))
    return out.value, out.tangent
