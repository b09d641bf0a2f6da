"""Reverse-mode automatic differentiation on a tape: backpropagation, derived mechanically.

A :class:`Var` wraps a value array. Every NumPy operation a Var takes part in appends a
new Var to the tape (a list shared by all Vars of one computation) together with its
inputs and, for each input, the vector-Jacobian product x̄ += ȳ·∂y/∂x of that operation.
Creation order is a topological order, so :meth:`Var.backward` reads the tape once
backwards, seeding ȳ = 1 at the output, and leaves ∂y/∂x in ``x.grad`` for every Var.

The local derivatives are the ones forward mode uses (:data:`nnfit.engine.autodiff.UNARY` and
:data:`~nnfit.autodiff.BINARY`, with the same subgradients at ties: relu'(0) = 0,
maximum follows its second argument). Only the direction of the chain rule differs:
forward mode multiplies them into a tangent, ẏ = f'(x)·ẋ; reverse mode into an adjoint,
x̄ = ȳ·f'(x), summed over the axes that broadcasting stretched.

Vars take part in NumPy like :class:`~nnfit.engine.autodiff.Dual`: through ``__array_ufunc__``
(every rule of the tables, ``@``, ``np.add.reduce``) and ``sum``, ``mean``, ``T``,
``reshape`` and indexing. That covers the pure forward pass
:func:`nnfit.engine.network.forward`, every activation, loss and penalty. Built for checking
and teaching, not for speed.
"""

from __future__ import annotations

import numpy as np

from nnfit.engine import activations as acts
from nnfit.engine import losses as loss_mod
from nnfit.engine.autodiff import BINARY, CONSTANT, UNARY, Operators
from nnfit.engine.losses import REGULARIZERS
from nnfit.engine.network import forward, pack

Array = np.ndarray


def _unbroadcast(g: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``g`` over the axes broadcasting added or stretched, back to ``shape``."""
    g = np.sum(g, axis=tuple(range(np.ndim(g) - len(shape))))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return np.sum(g, axis=stretched, keepdims=True) if stretched else g


def _matmul_vjps(a: Array, b: Array):
    """Adjoints of y = a @ b: ā = ȳ bᵀ, b̄ = aᵀ ȳ, with 1-d operands promoted as matmul does."""
    A = a[None, :] if a.ndim == 1 else a
    B = b[:, None] if b.ndim == 1 else b

    def lift(g):
        g = g[..., None] if b.ndim == 1 else g
        return g[..., None, :] if a.ndim == 1 else g

    def da(g):
        return _unbroadcast(lift(g) @ np.swapaxes(B, -1, -2), A.shape).reshape(a.shape)

    def db(g):
        return _unbroadcast(np.swapaxes(A, -1, -2) @ lift(g), B.shape).reshape(b.shape)

    return da, db


def _elementwise_vjps(ufunc, vals, y):
    """x̄ = ȳ·∂y/∂x for each input of an elementwise ufunc, from forward mode's tables."""
    shapes = [np.shape(v) for v in vals]
    if ufunc in UNARY:
        d = UNARY[ufunc](vals[0], y)
        return (lambda g: g * d,)
    da, db = BINARY[ufunc](vals[0], vals[1], y)
    return (
        lambda g: _unbroadcast(g * da, shapes[0]),
        lambda g: _unbroadcast(g * db, shapes[1]),
    )


class Var(Operators):
    """A value array recorded on a tape; after :meth:`backward`, ``grad`` = ∂out/∂self.

    Parameters
    ----------
    value : array_like
        Stored as float64.
    tape : list of Var, optional
        The tape to record on; a new one if omitted. Vars combined in one operation
        must share a tape (make them with :func:`variables`).
    parents : tuple of (Var, callable)
        Each input Var with its vector-Jacobian product ȳ ↦ its share of x̄.
    """

    __slots__ = ("grad", "parents", "tape", "value")

    def __init__(self, value, tape: list[Var] | None = None, parents=()):
        self.value = np.asarray(value, dtype=float)
        self.tape = [] if tape is None else tape
        self.parents = parents
        self.grad: Array | None = None
        self.tape.append(self)

    def _child(self, value, parents) -> Var:
        return Var(value, self.tape, tuple(parents))

    # numpy protocol --------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if kwargs.pop("out", None) is not None:
            return NotImplemented
        vars_ = [x for x in inputs if isinstance(x, Var)]
        if any(v.tape is not self.tape for v in vars_):
            raise ValueError("operands are on different tapes (make them with variables())")
        vals = [x.value if isinstance(x, Var) else np.asarray(x) for x in inputs]
        if method == "reduce" and ufunc is np.add and set(kwargs) <= {"axis", "keepdims"}:
            return self.sum(axis=kwargs.get("axis", 0), keepdims=kwargs.get("keepdims", False))
        if method != "__call__" or kwargs:
            return NotImplemented
        y = ufunc(*vals)
        if ufunc in CONSTANT:
            return y
        if ufunc is np.matmul:
            vjps = _matmul_vjps(*vals)
        elif ufunc in UNARY or ufunc in BINARY:
            vjps = _elementwise_vjps(ufunc, vals, y)
        else:
            raise TypeError(f"no derivative rule for {ufunc.__name__}")
        parents = [(x, f) for x, f in zip(inputs, vjps, strict=True) if isinstance(x, Var)]
        return self._child(y, parents)

    # reductions and shape -----------------------------------------------------
    def sum(self, axis=None, dtype=None, out=None, keepdims=False) -> Var:
        """Σ over ``axis``; its adjoint spreads ȳ back over the summed axes."""
        shape = self.shape

        def vjp(g):
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            return np.broadcast_to(g, shape)

        return self._child(np.sum(self.value, axis=axis, keepdims=keepdims), [(self, vjp)])

    def mean(self, axis=None, dtype=None, out=None, keepdims=False) -> Var:
        s = self.sum(axis=axis, keepdims=keepdims)
        return s / (self.value.size // max(s.value.size, 1))

    def reshape(self, *shape) -> Var:
        old = self.shape
        return self._child(self.value.reshape(*shape), [(self, lambda g: np.reshape(g, old))])

    @property
    def T(self) -> Var:
        return self._child(self.value.T, [(self, np.transpose)])

    def __getitem__(self, index) -> Var:
        shape = self.shape

        def vjp(g):
            x_bar = np.zeros(shape)
            np.add.at(x_bar, index, g)  # add.at: a repeated fancy index gets every share
            return x_bar

        return self._child(self.value[index], [(self, vjp)])

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def size(self) -> int:
        return self.value.size

    def __len__(self):
        return len(self.value)

    def __repr__(self):
        return f"Var(value={self.value!r}, grad={self.grad!r})"

    # the backward sweep ---------------------------------------------------------
    def backward(self) -> None:
        """Set ``v.grad`` = ∂self/∂v for every Var on the tape, ``self`` a single number:
        one pass over the tape, last operation first."""
        if self.value.size != 1:
            raise ValueError(f"backward needs a scalar output, got shape {self.shape}")
        for v in self.tape:
            v.grad = None
        self.grad = np.ones_like(self.value)
        for v in reversed(self.tape):
            if v.grad is None:  # recorded after self, or not on a path to it
                continue
            for parent, vjp in v.parents:
                share = vjp(v.grad)
                parent.grad = share if parent.grad is None else parent.grad + share


def variables(*arrays) -> list[Var]:
    """One leaf Var per array, all on one new tape."""
    tape: list[Var] = []
    return [Var(a, tape) for a in arrays]


def grad(f, *arrays) -> tuple[Array, list[Array]]:
    """``(f(*arrays), [∂f/∂array for each array])`` for a scalar-valued ``f``.

    ``f`` is written with NumPy operations; each gradient has its array's shape (zeros
    for an array ``f`` does not use).
    """
    xs = variables(*arrays)
    out = f(*xs)
    out.backward()
    grads = [np.zeros_like(x.value) if x.grad is None else np.array(x.grad) for x in xs]
    return out.value, grads


# --------------------------------------------------------------------------- the network


def network_cost(params, X, y, functions, loss="mse", l1=0.0, l2=0.0):
    """C = Σρ(g(X) − y)/n + Σ_l (l1·Σ|W_l| + l2·½ΣW_l²), g the pure forward pass.

    Written with NumPy operations only, so ``params`` may be arrays, Duals or Vars;
    ``loss`` is a name or a :class:`~nnfit.engine.losses.Loss`.
    """
    lossf = loss_mod.get(loss) if isinstance(loss, str) else loss
    c = lossf.value(forward(params, X, functions) - y)
    for name, lam in (("l1", l1), ("l2", l2)):
        if lam:
            for W, _ in params:
                c = c + REGULARIZERS[name][0](W, lam)
    return c


def network_grad(params, X, y, functions, loss="mse", l1=0.0, l2=0.0) -> tuple[float, Array]:
    """C and ∂C/∂θ by reverse mode, θ in the layout of one model of ``Network.theta``.

    Parameters
    ----------
    params : list of (W (fan_in, fan_out), b (fan_out,))
    X : array (n, d)
    y : array (n, out)
    functions : one activation function per layer
    """
    flat = [a for pair in params for a in pair]

    def cost(*leaves):
        return network_cost(
            list(zip(leaves[::2], leaves[1::2], strict=True)), X, y, functions, loss, l1, l2
        )

    value, grads = grad(cost, *flat)
    return float(value), pack(list(zip(grads[::2], grads[1::2], strict=True)))


# --------------------------------------------------------------------------- worked example


def example_sigmoid_chain(x=0.5, w1=1.5, b1=-0.5, w2=-2.0, b2=0.25) -> dict:
    """Backpropagation is reverse-mode AD, on f(x) = σ(w₂·σ(w₁x + b₁) + b₂).

    The tape differentiates the network's own forward pass (a 1-1-1 network with
    sigmoid units); the hand formulas are the chain rule, output first, with
    σ'(z) = σ(z)(1 − σ(z)), z₁ = w₁x + b₁, a₁ = σ(z₁), z₂ = w₂a₁ + b₂::

        ∂f/∂b₂ = σ'(z₂)            ∂f/∂w₂ = σ'(z₂)·a₁
        ∂f/∂b₁ = σ'(z₂)·w₂·σ'(z₁)  ∂f/∂w₁ = σ'(z₂)·w₂·σ'(z₁)·x

    Returns
    -------
    dict
        ``{"f": f(x), "tape": {"w1": …, "b1": …, "w2": …, "b2": …}, "hand": {…}}``.
    """
    sig = acts.sigmoid

    def f(w1, b1, w2, b2):
        return forward([(w1, b1), (w2, b2)], np.array([[x]]), [sig, sig]).sum()

    shapes = [np.full((1, 1), w1), np.full(1, b1), np.full((1, 1), w2), np.full(1, b2)]
    value, grads = grad(f, *shapes)
    a1 = sig(w1 * x + b1)
    out = sig(w2 * a1 + b2)
    d2 = out * (1.0 - out)  # σ'(z₂): the output's δ
    d1 = d2 * w2 * a1 * (1.0 - a1)  # δ₁ = δ₂·w₂·σ'(z₁), one step back
    names = ("w1", "b1", "w2", "b2")
    return {
        "f": float(value),
        "tape": {k: float(g.item()) for k, g in zip(names, grads, strict=True)},
        "hand": {"w1": float(d1 * x), "b1": float(d1), "w2": float(d2 * a1), "b2": float(d2)},
    }
