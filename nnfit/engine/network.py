"""A feed-forward network whose parameters live in one flat vector.

The network is g(x) = σ_L(… σ_1(x @ W_0 + b_0) … @ W_{L−1} + b_{L−1}) with W_l of shape
(fan_in, fan_out). ``theta`` holds every weight first, then every bias, so
``theta[:n_weights]`` is all the weights (what L1/L2 act on) and each ``W[l]``, ``b[l]``
is a view into it; ``grad`` has the same layout and views. An optimizer therefore
updates the whole network in a few vectorised calls.

Backpropagation, for the cost C with δ_L = ∂C/∂g ⊙ σ_L'(z_L)::

    ∂C/∂W_l = a_{l−1}ᵀ δ_l,   ∂C/∂b_l = Σ_rows δ_l,   δ_{l−1} = (δ_l W_lᵀ) ⊙ σ'_{l−1}(z_{l−1})

Forward and backward write into buffers kept per batch size; there is no Python loop
over samples. The network holds no random state: initialisation draws from the
``np.random.Generator`` it is given.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nnfit.engine import activations as acts
from nnfit.engine.losses import LOSSES, REGULARIZERS

Array = np.ndarray

# --------------------------------------------------------------------------- initialisers


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


INITIALIZERS: dict[str, Callable[..., Array]] = {
    "glorot": glorot,
    "he": he,
    "lecun": lecun,
    "normal": normal,
    "uniform": uniform,
}

#: Parameters an initialiser accepts, with their defaults.
INIT_PARAMS: dict[str, dict[str, float]] = {"normal": {"std": 1.0}, "uniform": {"limit": 1.0}}

DTYPES = {"float64": np.float64, "float32": np.float32}


@dataclass(frozen=True)
class ActivationSpec:
    """An activation name with its parameters (``leaky_relu`` slope, ``elu`` alpha)."""

    name: str
    params: tuple[tuple[str, float], ...] = ()

    @classmethod
    def parse(cls, spec: str | dict | ActivationSpec) -> ActivationSpec:
        if isinstance(spec, ActivationSpec):
            return spec
        if isinstance(spec, str):
            return cls(spec)
        spec = dict(spec)
        name = spec.pop("name")
        return cls(name, tuple(sorted(spec.items())))

    def functions(self):
        return acts.get(self.name, **dict(self.params))

    def to_json(self) -> str | dict:
        return {"name": self.name, **dict(self.params)} if self.params else self.name


# --------------------------------------------------------------------------- pure forward


def forward(params: Sequence[tuple[Array, Array]], X, functions: Sequence[Callable]):
    """g(X) for ``params = [(W_0, b_0), …]`` and one activation function per layer.

    Pure and allocating; it runs on :class:`nnfit.autodiff.Dual` arrays too, which is
    how backpropagation is checked against forward-mode differentiation.
    """
    a = X
    for (W, b), f in zip(params, functions, strict=True):
        a = f(a @ W + b)
    return a


# --------------------------------------------------------------------------- the network


class Network:
    """Feed-forward network with flat parameter and gradient vectors.

    Parameters
    ----------
    sizes : list of int
        ``[d, h_1, …, h_k, 1]``: input dimension, hidden widths, output dimension.
    activations : list
        One activation per hidden layer plus the output's (names or
        :class:`ActivationSpec`).
    dtype : numpy dtype
        float64 or float32, for parameters and every buffer.
    """

    def __init__(self, sizes: Sequence[int], activations: Sequence, dtype=np.float64):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must be at least [in, out] of positive ints, got {sizes}")
        if len(activations) != len(sizes) - 1:
            raise ValueError(
                f"need {len(sizes) - 1} activations (one per layer), got {len(activations)}"
            )
        self.sizes = sizes
        self.dtype = np.dtype(dtype)
        self.specs = [ActivationSpec.parse(a) for a in activations]
        fns = [s.functions() for s in self.specs]
        self._f = [f for f, _ in fns]
        self._df = [df for _, df in fns]
        self._identity = [s.name == "identity" for s in self.specs]

        shapes = list(itertools.pairwise(sizes))
        self.n_weights = sum(i * o for i, o in shapes)
        self.n_params = self.n_weights + sum(o for _, o in shapes)
        self.theta = np.zeros(self.n_params, dtype=self.dtype)
        self.grad = np.zeros(self.n_params, dtype=self.dtype)
        self.W, self.b = self._views(self.theta, shapes)
        self.gW, self.gb = self._views(self.grad, shapes)
        # (start, stop) of each layer's weights and biases in the flat vector
        self.slices = []
        w_off, b_off = 0, self.n_weights
        for i, o in shapes:
            self.slices.append(((w_off, w_off + i * o), (b_off, b_off + o)))
            w_off += i * o
            b_off += o
        self._buffers: dict[int, tuple[list[Array], list[Array], list[Array]]] = {}

    @staticmethod
    def _views(flat: Array, shapes):
        Ws, bs = [], []
        off = 0
        for i, o in shapes:
            Ws.append(flat[off : off + i * o].reshape(i, o))
            off += i * o
        for _, o in shapes:
            bs.append(flat[off : off + o])
            off += o
        return Ws, bs

    # ------------------------------------------------------------------ construction

    @classmethod
    def create(
        cls,
        sizes: Sequence[int],
        activation="tanh",
        output="identity",
        init: str = "glorot",
        rng: np.random.Generator | None = None,
        dtype="float64",
        init_params: dict | None = None,
        bias: float = 0.0,
    ) -> Network:
        """Build and initialise a network.

        ``activation`` is one activation for every hidden layer or a list with one per
        hidden layer. Weights are drawn in float64 from ``rng`` and then cast, so a
        float32 network starts from the same numbers rounded.
        """
        n_hidden = len(sizes) - 2
        if isinstance(activation, str | dict | ActivationSpec):
            hidden = [activation] * n_hidden
        else:
            hidden = list(activation)
            if len(hidden) != n_hidden:
                raise ValueError(
                    f"activation list needs {n_hidden} entries (one per hidden layer), "
                    f"got {len(hidden)}"
                )
        net = cls(sizes, [*hidden, output], dtype=DTYPES.get(dtype, dtype))
        net.initialize(
            rng if rng is not None else np.random.default_rng(0), init, init_params, bias
        )
        return net

    def initialize(self, rng: np.random.Generator, init="glorot", params=None, bias=0.0):
        if init not in INITIALIZERS:
            raise KeyError(f"unknown init {init!r} (allowed: {', '.join(INITIALIZERS)})")
        fn = INITIALIZERS[init]
        for W, b in zip(self.W, self.b, strict=True):
            W[...] = fn(rng, W.shape[0], W.shape[1], **(params or {}))
            b[...] = bias

    def shadow(self) -> Network:
        """A network on the same ``theta`` (shared, not copied) with its own ``grad`` and
        buffers, so that threads can run passes of one network side by side."""
        other = Network(self.sizes, self.specs, self.dtype)
        shapes = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        other.theta = self.theta
        other.W, other.b = self._views(self.theta, shapes)
        return other

    @property
    def n_layers(self) -> int:
        return len(self.W)

    @property
    def functions(self):
        return self._f

    def params(self) -> list[tuple[Array, Array]]:
        """``[(W_0, b_0), …]`` as views into ``theta``."""
        return list(zip(self.W, self.b, strict=True))

    # ------------------------------------------------------------------ evaluation

    def predict(self, X: Array, block: int | None = None) -> Array:
        """g(X), shape (n, out), in blocks of rows to bound memory (by default blocks of
        about 2**21 activations of the widest layer, 16 MB in float64)."""
        X = np.asarray(X, dtype=self.dtype)
        if X.ndim == 1:
            X = X[:, None]
        if block is None:
            block = max(256, (1 << 21) // max(self.sizes))
        if X.shape[0] <= block:
            return forward(self.params(), X, self._f)
        return np.concatenate(
            [forward(self.params(), X[i : i + block], self._f) for i in range(0, len(X), block)]
        )

    def _buffers_for(self, n: int):
        buf = self._buffers.get(n)
        if buf is None:
            Z = [np.empty((n, o), dtype=self.dtype) for o in self.sizes[1:]]
            D = [np.empty((n, o), dtype=self.dtype) for o in self.sizes[1:]]
            A: list[Array] = [Z[i] for i in range(len(Z))]
            buf = self._buffers[n] = (Z, A, D)
        return buf

    def forward_train(self, X: Array) -> Array:
        """g(X), keeping z_l and a_l of every layer in this batch size's buffers."""
        Z, A, _ = self._buffers_for(X.shape[0])
        a = X
        for l in range(len(Z)):
            z = Z[l]
            np.matmul(a, self.W[l], out=z)
            z += self.b[l]
            a = A[l] = z if self._identity[l] else self._f[l](z)
        return a

    def backward(self, X: Array, dg: Array) -> None:
        """Fill ``grad`` with ∂C/∂θ given ∂C/∂g for the batch last passed forward."""
        Z, A, D = self._buffers_for(X.shape[0])
        last = len(Z) - 1
        delta = dg if self._identity[last] else dg * self._df[last](Z[last], A[last])
        for l in range(last, -1, -1):
            a_prev = X if l == 0 else A[l - 1]
            np.matmul(a_prev.T, delta, out=self.gW[l])
            np.add.reduce(delta, axis=0, out=self.gb[l])
            if l:
                d = D[l - 1]
                np.matmul(delta, self.W[l].T, out=d)
                if not self._identity[l - 1]:
                    d *= self._df[l - 1](Z[l - 1], A[l - 1])
                delta = d

    def loss_grad(self, X, y, loss="mse", l1=0.0, l2=0.0) -> float:
        """Cost C = loss(g(X), y) + l1·Σ|W| + l2·½ΣW²; fills ``grad`` with ∂C/∂θ."""
        lossf, dlossf = LOSSES[loss]
        r = self.forward_train(X) - y
        value = float(lossf(r))
        self.backward(X, dlossf(r))
        if l1 or l2:
            value += self.add_penalty_grad(l1, l2)
        return value

    def add_penalty_grad(self, l1: float, l2: float) -> float:
        """Add the weight penalties' gradient to ``grad``; return their value."""
        w = self.theta[: self.n_weights]
        gw = self.grad[: self.n_weights]
        value = 0.0
        for name, lam in (("l1", l1), ("l2", l2)):
            if lam:
                pen, dpen = REGULARIZERS[name]
                value += float(pen(w, lam))
                gw += dpen(w, lam)
        return value

    def cost(self, X, y, loss="mse", l1=0.0, l2=0.0) -> float:
        """The cost without touching ``grad`` (pure forward)."""
        value = float(LOSSES[loss][0](self.predict(X) - y))
        w = self.theta[: self.n_weights]
        for name, lam in (("l1", l1), ("l2", l2)):
            if lam:
                value += float(REGULARIZERS[name][0](w, lam))
        return value

    def jacobian(self, X: Array, out: Array | None = None) -> tuple[Array, Array]:
        """g(X) and the per-sample Jacobian J[i, :] = ∂g(x_i)/∂θ, by backpropagation.

        Needs a single output. Each layer's block is a_{l−1}[i] ⊗ δ_l[i] (weights) and
        δ_l[i] (biases), with δ_L = σ_L'(z_L) and δ_{l−1} = (δ_l W_lᵀ) ⊙ σ'(z_{l−1}):
        backprop without the sum over samples. J has shape (n, n_params), same layout
        as ``theta``.
        """
        if self.sizes[-1] != 1:
            raise ValueError("the Jacobian is for networks with one output")
        n = X.shape[0]
        g = self.forward_train(X).copy()
        Z, A, _ = self._buffers_for(n)
        J = np.empty((n, self.n_params), dtype=self.dtype) if out is None else out
        last = len(Z) - 1
        delta = np.ones((n, 1), dtype=self.dtype)
        if not self._identity[last]:
            delta = self._df[last](Z[last], A[last])
        for l in range(last, -1, -1):
            a_prev = X if l == 0 else A[l - 1]
            (w0, w1), (b0, b1) = self.slices[l]
            J[:, w0:w1] = (a_prev[:, :, None] * delta[:, None, :]).reshape(n, w1 - w0)
            J[:, b0:b1] = delta
            if l:
                delta = delta @ self.W[l].T
                if not self._identity[l - 1]:
                    delta *= self._df[l - 1](Z[l - 1], A[l - 1])
        return g, J

    def layer_grad_norms(self) -> Array:
        """‖(∂C/∂W_l, ∂C/∂b_l)‖₂ per layer, from the current ``grad``."""
        return self.layer_grad_norms_from(self.grad)

    def layer_grad_norms_from(self, grad: Array) -> Array:
        """Per-layer norms of a gradient vector laid out like ``theta``."""
        out = np.empty(len(self.W))
        for l, ((w0, w1), (b0, b1)) in enumerate(self.slices):
            gw, gb = grad[w0:w1], grad[b0:b1]
            out[l] = math.sqrt(float(gw @ gw) + float(gb @ gb))
        return out

    def meta(self) -> dict:
        """What is needed, besides the arrays, to rebuild the network."""
        return {
            "sizes": self.sizes,
            "activations": [s.to_json() for s in self.specs[:-1]],
            "output": self.specs[-1].to_json(),
            "dtype": self.dtype.name,
        }

    @classmethod
    def from_arrays(cls, meta: dict, arrays: Sequence[tuple[Array, Array]]) -> Network:
        net = cls(meta["sizes"], [*meta["activations"], meta["output"]], meta["dtype"])
        for (W, b), (W_src, b_src) in zip(net.params(), arrays, strict=True):
            W[...] = W_src
            b[...] = b_src
        return net
