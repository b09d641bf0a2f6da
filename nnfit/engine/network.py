"""Feed-forward networks whose parameters live in one flat vector per model.

A :class:`Network` holds K ≥ 1 models of one architecture (a single network is a stack
of one): ``theta`` has shape (K, P). Model k computes

    g(x) = σ_L(… σ_1(x @ W_0 + b_0) … @ W_{L−1} + b_{L−1}),   W_l of shape (fan_in, fan_out).

In ``theta`` each layer is one block of shape (fan_out, fan_in + 1) holding [W_lᵀ | b_l]:
with a row of ones under the activations, a layer is a single matrix product with its
bias folded in (see :mod:`nnfit.engine.passes`). ``W(l)`` and ``b(l)`` are views into
the blocks; ``weight_mask`` marks the weights (what L1 and L2 act on) against the biases.

Backpropagation, for the cost C with δ_L = ∂C/∂g ⊙ σ_L'(z_L)::

    ∂C/∂[W_lᵀ | b_l] = δ_l [a_{l−1}; 1]ᵀ,   δ_{l−1} = (W_l δ_l) ⊙ σ'_{l−1}(z_{l−1})

The network holds no random state: initialisation draws from the generators it is given.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nnfit.engine import activations as acts
from nnfit.engine import initializers as inits
from nnfit.engine.losses import REGULARIZERS, Loss
from nnfit.engine.params import bind, lookup, spec

Array = np.ndarray

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

    def activation(self) -> acts.Activation:
        return acts.get(self.name, **dict(self.params))

    def to_json(self) -> str | dict:
        return {"name": self.name, **dict(self.params)} if self.params else self.name


def param_count(sizes: Sequence[int]) -> int:
    """Weights and biases of a network with layer sizes [d, h_1, …, out]: Σ (n_l + 1)·n_{l+1}."""
    return sum((a + 1) * b for a, b in itertools.pairwise(sizes))


def forward(params: Sequence[tuple[Array, Array]], X, functions):
    """g(X) for ``params = [(W_0, b_0), …]`` and one activation function per layer.

    Pure and allocating; it runs on :class:`nnfit.engine.autodiff.Dual` and
    :class:`nnfit.engine.tape.Var` arrays too, which is how backpropagation is checked.
    """
    a = X
    for (W, b), f in zip(params, functions, strict=True):
        a = f(a @ W + b)
    return a


def numbers(values, dtype, name: str = "X") -> Array:
    """``values`` as an array of ``dtype``, refusing text: NumPy reads ``["0.1"]`` as the
    number 0.1, so a column of a CSV read as strings would pass unnoticed."""
    if isinstance(values, np.ma.MaskedArray) and np.ma.is_masked(values):
        raise ValueError(f"{name} has masked entries; fill or drop them first")
    try:
        a = np.asarray(values)
    except ValueError:  # NumPy's "inhomogeneous shape after 1 dimensions" …
        raise ValueError(f"{name} must be rows of one length (an n × d table)") from None
    text = a.dtype.kind in "US" or (
        a.dtype.kind == "O" and any(isinstance(v, str | bytes) for v in a.flat)
    )
    if text:
        raise ValueError(f"{name} must be numbers, got text ({a.dtype})")
    complex_ = a.dtype.kind == "O" and any(isinstance(v, complex) for v in a.flat)
    if a.dtype.kind in "cMmV" or complex_:  # a cast drops the imaginary part, or counts days
        raise ValueError(f"{name} must be real numbers, got {a.dtype}")
    try:
        with np.errstate(over="ignore"):
            out = np.asarray(a, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numbers ({exc})") from None
    if out.dtype.itemsize < 8 and not np.isfinite(out).all():
        # a float64 of 1e39 is inf in float32: say so rather than "not finite"
        wide = np.asarray(a, dtype=np.float64)
        if (np.isfinite(wide) & ~np.isfinite(out)).any():
            top = np.finfo(out.dtype).max
            raise ValueError(f"{name} has values beyond {out.dtype}'s range (±{top:.3g})")
    return out


class Network:
    """K models of one architecture with flat parameter vectors ``theta`` (K, P).

    Parameters
    ----------
    sizes : list of int
        ``[d, h_1, …, h_k, out]``: input dimension, hidden widths, output dimension.
    activations : list
        One activation per hidden layer plus the output's (names, ``{name: …}`` or
        :class:`ActivationSpec`).
    dtype : numpy dtype
        float64 or float32, for parameters and every buffer.
    k : int
        Number of models.
    """

    def __init__(self, sizes: Sequence[int], activations: Sequence, dtype=np.float64, k: int = 1):
        whole = (int, np.integer)
        listed = isinstance(sizes, list | tuple | np.ndarray)
        if not listed or not all(isinstance(v, whole) and not isinstance(v, bool) for v in sizes):
            # [1, 2.7, 1] was [1, 2, 1] and "141" [1, 4, 1]
            raise ValueError(f"sizes must be a list of whole numbers [in, …, out], got {sizes!r}")
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must be at least [in, out] of positive ints, got {sizes}")
        if len(activations) != len(sizes) - 1:
            raise ValueError(
                f"need {len(sizes) - 1} activations (one per layer), got {len(activations)}"
            )
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k must be a whole number ≥ 1, got {k!r}")
        self.sizes, self.k = sizes, int(k)
        try:
            self.dtype = np.dtype(DTYPES.get(dtype, dtype))
        except (TypeError, ValueError):
            self.dtype = None
        if self.dtype not in (np.float32, np.float64):  # int64 rounded every weight
            raise ValueError(f"dtype must be float64 or float32, got {dtype!r}")
        self.specs = [ActivationSpec.parse(a) for a in activations]
        self.activations = [s.activation() for s in self.specs]
        shapes = list(itertools.pairwise(sizes))
        self.offsets = list(itertools.accumulate([o * (i + 1) for i, o in shapes], initial=0))
        self.n_params = self.offsets[-1]
        self.n_weights = sum(i * o for i, o in shapes)
        self._theta = np.zeros((self.k, self.n_params), dtype=self.dtype)
        self.blocks = self.block_views(self._theta)
        self.weight_mask = np.ones(self.n_params, dtype=self.dtype)
        for block in self.block_views(self.weight_mask[None, :]):
            block[..., -1] = 0.0

    @property
    def theta(self) -> Array:
        """Every parameter, (K, P): the layers' blocks are views of it."""
        return self._theta

    @theta.setter
    def theta(self, value) -> None:
        """Copied into place: a new array would leave the blocks (what predict and train
        read) on the old one, and the assignment would do nothing."""
        value = numbers(value, self.dtype, "theta")
        if value.shape != self._theta.shape:
            raise ValueError(f"theta must have shape {self._theta.shape}, got {value.shape}")
        self._theta[...] = value

    def block_views(self, flat: Array) -> list[Array]:
        """Views of a (K, P) array as per-layer blocks (K, fan_out, fan_in + 1)."""
        return [
            flat[:, a:b].reshape(flat.shape[0], o, i + 1)
            for (a, b), (i, o) in zip(
                itertools.pairwise(self.offsets), itertools.pairwise(self.sizes), strict=True
            )
        ]

    # ------------------------------------------------------------------ construction

    @classmethod
    def create(
        cls,
        sizes: Sequence[int],
        activation="tanh",
        output="identity",
        init: str | dict = "glorot",
        rng: np.random.Generator | Sequence[np.random.Generator] | None = None,
        dtype="float64",
        bias: float | str = 0.0,
    ) -> Network:
        """Build and initialise one network per generator in ``rng``.

        ``activation`` is one activation for every hidden layer or a list with one per
        hidden layer; ``init`` a name or ``{name: …, params}``; ``bias`` a number or
        ``"spread"``. Weights are drawn in float64 and then cast, so a float32 network
        starts from the same numbers rounded.
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
        if rng is None:
            rng = np.random.default_rng(0)
        rngs = [rng] if isinstance(rng, np.random.Generator) else rng
        if (
            not isinstance(rngs, list | tuple)
            or not rngs
            or not all(isinstance(r, np.random.Generator) for r in rngs)
        ):
            raise ValueError(
                "rng must be a numpy Generator (np.random.default_rng(seed)) or a non-empty "
                f"list of them, one per model; got {rng!r}"
            )
        net = cls(sizes, [*hidden, output], dtype=dtype, k=len(rngs))
        for k, r in enumerate(rngs):
            net.initialize(k, r, init, bias)
        return net

    def initialize(self, k: int, rng: np.random.Generator, init="glorot", bias=0.0) -> None:
        """Draw model k's weights with ``init`` and set its biases (a number or "spread")."""
        name, given = spec(init, "init")
        lookup("init", name, inits.INITIALIZERS)
        real = isinstance(bias, int | float | np.integer | np.floating)
        spread = isinstance(bias, str) and bias == "spread"
        if not spread and not (real and not isinstance(bias, bool) and np.isfinite(bias)):
            raise ValueError(f'bias must be a finite number or "spread", got {bias!r}')
        params = bind("init", name, inits.PARAMS[name], given)
        fn = inits.INITIALIZERS[name]
        for l, block in enumerate(self.blocks):
            fan_in, fan_out = self.sizes[l], self.sizes[l + 1]
            extra = {}
            if name in inits.LAYER_AWARE:
                extra = {"activation": self.specs[min(l, self.n_layers - 2)].name, "first": l == 0}
            W = fn(rng, fan_in, fan_out, **params, **extra)
            block[k, :, :-1] = W.T
            if bias == "spread" and l == 0:
                block[k, :, -1] = inits.spread_bias(W, rng)
            else:
                block[k, :, -1] = 0.0 if bias == "spread" else float(bias)

    @classmethod
    def stack(cls, nets: Sequence[Network]) -> Network:
        """One network holding the models of ``nets`` (same shape, activations, dtype)."""
        nets = list(nets)
        if not nets or not all(isinstance(n, Network) for n in nets):
            raise ValueError(f"a stack needs one or more networks, got {nets!r:.80}")
        first = nets[0]
        for n in nets:
            if n.sizes != first.sizes or n.specs != first.specs or n.dtype != first.dtype:
                raise ValueError("a stack needs networks of one shape, activations and dtype")
        out = cls(first.sizes, first.specs, first.dtype, k=sum(n.k for n in nets))
        out.theta[...] = np.concatenate([n.theta for n in nets])
        return out

    def model(self, k: int) -> Network:
        """A copy of model k as a network of its own."""
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not -self.k <= k < self.k:
            raise ValueError(f"model k must be a whole number in [0, {self.k}), got {k!r}")
        out = Network(self.sizes, self.specs, self.dtype)
        out.theta[0] = self.theta[k]
        return out

    # ------------------------------------------------------------------ views

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    def W(self, l: int) -> Array:
        """Weights of layer l, (K, fan_in, fan_out), a view."""
        return self.blocks[l][:, :, :-1].transpose(0, 2, 1)

    def b(self, l: int) -> Array:
        """Biases of layer l, (K, fan_out), a view."""
        return self.blocks[l][:, :, -1]

    def params(self, k: int = 0) -> list[tuple[Array, Array]]:
        """``[(W_0, b_0), …]`` of model k, as views into ``theta``."""
        return [(self.W(l)[k], self.b(l)[k]) for l in range(self.n_layers)]

    @property
    def functions(self):
        return [a.f for a in self.activations]

    # ------------------------------------------------------------------ evaluation

    def predict(self, X: Array, block: int | None = None) -> Array:
        """g(X) of every model, shape (K, n, out); X of shape (n, d).

        Rows go through in blocks (by default about 2**21 activations of the widest
        layer per model, 16 MB in float64) to bound memory.
        """
        X = self._inputs(X)
        return self._through(X, self.n_layers, self._block(block))

    def features(self, X: Array, block: int | None = None) -> Array:
        """The last hidden layer's activations (K, n, width): what the output layer sees
        (X itself, broadcast to K models, for a linear model)."""
        X = self._inputs(X)
        block = self._block(block)
        return np.broadcast_to(
            self._through(X, self.n_layers - 1, block), (self.k, len(X), self.sizes[-2])
        )

    def _block(self, block) -> int:
        """Rows per pass: about 2**21 activations of the widest layer by default."""
        if block is None:
            return max(256, (1 << 21) // (max(self.sizes) * self.k))
        if isinstance(block, bool) or not isinstance(block, int | np.integer) or block < 1:
            raise ValueError(f"block must be a whole number ≥ 1 of rows, got {block!r}")
        return int(block)

    def _inputs(self, X) -> Array:
        """X as (n, d) in the network's dtype (a 1-D X is a column), or a ValueError
        naming its shape (it failed deep in the first product)."""
        X = numbers(X, self.dtype)
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(f"X must have shape (n, {self.sizes[0]}), got {X.shape}")
        return X

    def _through(self, X: Array, layers: int, block: int) -> Array:
        if layers == 0:
            return X
        Ws = [self.W(l) for l in range(layers)]
        bs = [self.b(l)[:, None, :] for l in range(layers)]
        fns = self.functions[:layers]

        def run(x):
            a = x
            # inputs far outside the domain (1e308) overflow to ±inf, which the
            # activations saturate: no warning for a value they take in their stride
            with np.errstate(over="ignore"):
                for W, b, f in zip(Ws, bs, fns, strict=True):
                    z = np.matmul(a, W)
                    z += b
                    a = f(z)
            return a

        if X.shape[0] <= block:
            out = run(X)
        else:
            out = np.concatenate([run(X[i : i + block]) for i in range(0, len(X), block)], axis=1)
        return out

    def penalty(self, l1: float, l2: float) -> Array:
        """λ₁·Σ|W| + λ₂·½ΣW² per model, (K,) float64."""
        value = np.zeros(self.k)
        if l1 or l2:
            w = self.theta * self.weight_mask
            for name, lam in (("l1", l1), ("l2", l2)):
                if lam:
                    pen = REGULARIZERS[name][0]
                    value += [float(pen(w[k], lam)) for k in range(self.k)]
        return value

    def add_penalty_grad(self, grad: Array, l1: float, l2: float) -> Array:
        """Add the penalties' gradient to ``grad`` (K, P); return their values (K,)."""
        value = np.zeros(self.k)
        if l1 or l2:
            w = self.theta * self.weight_mask
            for name, lam in (("l1", l1), ("l2", l2)):
                if lam:
                    pen, dpen = REGULARIZERS[name]
                    grad += dpen(w, lam)  # zero on the biases: w is masked
                    value += [float(pen(w[k], lam)) for k in range(self.k)]
        return value

    def cost(self, X, y, loss: Loss, l1=0.0, l2=0.0) -> Array:
        """C = Σρ(g − y)/n (+ penalties) per model, (K,) float64, by a pure forward pass."""
        if len(X) == 0:
            return np.full(self.k, math.nan)
        r = self.predict(X) - np.asarray(y, dtype=self.dtype).reshape(len(X), -1)
        value = np.add.reduce(loss.rho(r).reshape(self.k, -1), axis=1) / len(X)
        return value.astype(np.float64) + self.penalty(l1, l2)

    def layer_norms(self, vec: Array) -> Array:
        """Per-layer 2-norms of a (K, P) array laid out like ``theta``: (K, L), in float64."""
        sq = np.multiply(vec, vec, dtype=np.float64)
        return np.sqrt(np.add.reduceat(sq, self.offsets[:-1], axis=1))

    def jacobian(self, X: Array) -> tuple[Array, Array]:
        """g(X) and the per-sample Jacobian J[i, :] = ∂g(x_i)/∂θ of model 0, by backprop.

        Needs one output and one model. Layer l's block of J is δ_l[i] ⊗ [a_{l−1}[i]; 1]
        with δ_L = σ_L'(z_L) and δ_{l−1} = (W_l δ_l) ⊙ σ'(z_{l−1}): backpropagation
        without the sum over samples. J has shape (n, P), the layout of ``theta``.
        """
        if self.sizes[-1] != 1 or self.k != 1:
            raise ValueError("the Jacobian is for one model with one output")
        X = np.asarray(X, dtype=self.dtype)
        n = X.shape[0]
        ones = np.ones((n, 1), dtype=self.dtype)
        a_list, z_list = [np.hstack([X, ones])], []
        for l, act in enumerate(self.activations):
            z = a_list[-1] @ self.blocks[l][0].T
            z_list.append(z)
            a = act.f(z)
            a_list.append(np.hstack([a, ones]) if l < self.n_layers - 1 else a)
        g = a_list[-1][:, 0].copy()
        J = np.empty((n, self.n_params), dtype=self.dtype)
        delta = self.activations[-1].df(z_list[-1], a_list[-1])  # (n, 1)
        for l in range(self.n_layers - 1, -1, -1):
            a_prev = a_list[l]  # (n, fan_in + 1)
            J[:, self.offsets[l] : self.offsets[l + 1]] = (
                delta[:, :, None] * a_prev[:, None, :]
            ).reshape(n, -1)
            if l:
                delta = delta @ self.blocks[l][0][:, :-1]
                delta *= self.activations[l - 1].df(z_list[l - 1], a_list[l][:, :-1])
        return g, J

    # ------------------------------------------------------------------ saving

    def meta(self) -> dict:
        """What is needed, besides the arrays, to rebuild the network."""
        return {
            "sizes": self.sizes,
            "activations": [s.to_json() for s in self.specs[:-1]],
            "output": self.specs[-1].to_json(),
            "dtype": self.dtype.name,
        }

    def arrays(self, k: int = 0) -> dict[str, Array]:
        """Model k as ``{"W0": (fan_in, fan_out), "b0": (fan_out,), …}`` copies."""
        out = {}
        for l, (W, b) in enumerate(self.params(k)):
            out[f"W{l}"] = np.ascontiguousarray(W)
            out[f"b{l}"] = b.copy()
        return out

    @classmethod
    def from_arrays(cls, meta: dict, arrays: Sequence[tuple[Array, Array]]) -> Network:
        net = cls(meta["sizes"], [*meta["activations"], meta["output"]], meta["dtype"])
        arrays = list(arrays)
        if len(arrays) != len(net.sizes) - 1:
            raise ValueError(
                f"sizes {net.sizes} need {len(net.sizes) - 1} layers of weights, got {len(arrays)}"
            )
        for l, ((W_src, b_src), (i, o)) in enumerate(
            zip(arrays, itertools.pairwise(net.sizes), strict=True)
        ):
            W_shape, b_shape = np.shape(W_src), np.shape(b_src)
            if W_shape != (i, o) or b_shape != (o,):
                raise ValueError(
                    f"layer {l}: weights of shape {(i, o)} and a bias of shape {(o,)} "
                    f"expected, got {W_shape} and {b_shape}"
                )
            net.blocks[l][0, :, :-1] = np.asarray(W_src).T
            net.blocks[l][0, :, -1] = b_src
        return net


def unpack(flat, sizes: Sequence[int]) -> list:
    """``[(W_0, b_0), …]`` from one model's flat vector in the block layout.

    Uses only slicing, ``reshape`` and ``.T``, so ``flat`` may be an array, a
    :class:`~nnfit.engine.autodiff.Dual` or a :class:`~nnfit.engine.tape.Var`.
    """
    out, off = [], 0
    for i, o in itertools.pairwise(sizes):
        block = flat[off : off + o * (i + 1)].reshape(o, i + 1)
        out.append((block[:, :-1].T, block[:, -1]))
        off += o * (i + 1)
    return out


def pack(pairs) -> Array:
    """One model's flat vector from ``[(W_0, b_0), …]`` (the inverse of :func:`unpack`)."""
    return np.concatenate(
        [np.column_stack([np.asarray(W).T, np.asarray(b)]).ravel() for W, b in pairs]
    )
