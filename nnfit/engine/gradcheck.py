"""Backpropagation checked two independent ways, layer by layer.

1. Central finite differences: ∂C/∂θ_i ≈ (C(θ + h·e_i) − C(θ − h·e_i)) / 2h, in float64.
2. Forward mode: the cost evaluated on :class:`~nnfit.autodiff.Dual` parameters whose
   tangent is a random direction v restricted to one layer gives ∇C·v exactly (to
   rounding); backprop's gradient must give the same dot product.

Errors are relative: ``max|a − b| / max(max|a|, max|b|)`` over a layer for the
finite-difference check, ``|a − b| / max(|a|, |b|)`` for each directional derivative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnfit.engine.autodiff import Dual
from nnfit.engine.losses import LOSSES, REGULARIZERS
from nnfit.engine.network import Network, forward

Array = np.ndarray


@dataclass(frozen=True)
class LayerCheck:
    layer: int
    shape: tuple[int, int]
    grad_norm: float
    fd_error: float
    jvp_error: float

    @property
    def worst(self) -> float:
        return max(self.fd_error, self.jvp_error)


def _rel(a: Array, b: Array) -> float:
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(a - b))) / scale


def _cost_fn(net: Network, X, y, loss, l1, l2):
    """C(θ) for a flat float64 θ (or a Dual of one), built from the pure forward pass."""
    lossf = LOSSES[loss][0]
    shapes = [W.shape for W in net.W]
    nw = net.n_weights

    def split(theta):
        params, off = [], 0
        Ws = []
        for i, o in shapes:
            Ws.append(_slice(theta, off, off + i * o, (i, o)))
            off += i * o
        for W, (_, o) in zip(Ws, shapes, strict=True):
            params.append((W, _slice(theta, off, off + o, (o,))))
            off += o
        return params

    def cost(theta):
        c = lossf(forward(split(theta), X, net.functions) - y)
        w = _slice(theta, 0, nw, (nw,))
        for name, lam in (("l1", l1), ("l2", l2)):
            if lam:
                c = c + REGULARIZERS[name][0](w, lam)
        return c

    return cost


def _slice(theta, a, b, shape):
    if isinstance(theta, Dual):
        return Dual(theta.value[a:b].reshape(shape), theta.tangent[a:b].reshape(shape))
    return theta[a:b].reshape(shape)


def finite_difference_grad(
    net: Network, X, y, loss="mse", l1=0.0, l2=0.0, h=1e-6, indices=None
) -> Array:
    """∂C/∂θ by central differences, in float64 whatever the network's dtype.

    Only the entries in ``indices`` (all by default) are computed; the rest are NaN.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(len(X), -1)
    net64 = Network(net.sizes, net.specs, np.float64)
    cost = _cost_fn(net64, X, y, loss, l1, l2)
    theta = net.theta.astype(np.float64)
    g = np.full_like(theta, np.nan)
    for i in range(theta.size) if indices is None else indices:
        old = theta[i]
        theta[i] = old + h
        cp = float(cost(theta))
        theta[i] = old - h
        cm = float(cost(theta))
        theta[i] = old
        g[i] = (cp - cm) / (2.0 * h)
    return g


def check_network(
    net: Network,
    X,
    y,
    loss="mse",
    l1=0.0,
    l2=0.0,
    n_directions: int = 3,
    rng: np.random.Generator | None = None,
    h: float = 1e-6,
    max_fd: int | None = None,
) -> list[LayerCheck]:
    """Compare backprop's gradient with finite differences and forward mode, per layer.

    ``max_fd`` caps the finite-difference entries per layer (a random subset beyond it),
    which keeps the check quick on wide layers; forward mode always sees the whole layer.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    Xn = np.asarray(X, dtype=net.dtype)
    yn = np.asarray(y, dtype=net.dtype).reshape(len(Xn), -1)
    net.loss_grad(Xn, yn, loss, l1, l2)
    bp = net.grad.astype(np.float64)
    layer_idx = [np.r_[w0:w1, b0:b1] for (w0, w1), (b0, b1) in net.slices]
    if max_fd is not None:
        layer_idx = [
            np.sort(rng.choice(i, max_fd, replace=False)) if i.size > max_fd else i
            for i in layer_idx
        ]
    fd = finite_difference_grad(net, X, y, loss, l1, l2, h, np.concatenate(layer_idx))

    X64 = np.asarray(X, dtype=np.float64)
    y64 = np.asarray(y, dtype=np.float64).reshape(len(X64), -1)
    net64 = Network(net.sizes, net.specs, np.float64)
    cost = _cost_fn(net64, X64, y64, loss, l1, l2)
    theta = net.theta.astype(np.float64)

    out = []
    for l, ((w0, w1), (b0, b1)) in enumerate(net.slices):
        idx = np.r_[w0:w1, b0:b1]
        fd_err = _rel(bp[layer_idx[l]], fd[layer_idx[l]])
        jvp_err = 0.0
        for _ in range(n_directions):
            v = np.zeros_like(theta)
            v[idx] = rng.standard_normal(idx.size)
            exact = float(cost(Dual(theta, v)).tangent)
            jvp_err = max(jvp_err, _rel(np.array([bp @ v]), np.array([exact])))
        out.append(LayerCheck(l, net.W[l].shape, float(np.linalg.norm(bp[idx])), fd_err, jvp_err))
    return out


def check_jacobian(
    net: Network,
    X,
    h: float = 1e-6,
    max_params: int | None = None,
    rng: np.random.Generator | None = None,
) -> float:
    """Largest relative error of backprop's per-sample Jacobian against central differences.

    Normalised by the largest entry of J; ``max_params`` checks a random subset of columns.
    """
    X = np.asarray(X, dtype=np.float64)
    net64 = Network(net.sizes, net.specs, np.float64)
    net64.theta[...] = net.theta
    _, J = net64.jacobian(X)
    cols = np.arange(net.n_params)
    if max_params is not None and cols.size > max_params:
        rng = rng if rng is not None else np.random.default_rng(0)
        cols = np.sort(rng.choice(cols, max_params, replace=False))
    fd = np.empty((X.shape[0], cols.size))
    theta = net64.theta
    for j, i in enumerate(cols):
        old = theta[i]
        theta[i] = old + h
        plus = net64.predict(X)[:, 0]
        theta[i] = old - h
        minus = net64.predict(X)[:, 0]
        theta[i] = old
        fd[:, j] = (plus - minus) / (2 * h)
    return _rel(J[:, cols], fd)
