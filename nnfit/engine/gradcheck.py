"""Backpropagation checked three independent ways, layer by layer.

1. Central finite differences: ∂C/∂θ_i ≈ (C(θ + h·e_i) − C(θ − h·e_i)) / 2h, in float64.
2. Forward mode: the cost evaluated on :class:`~nnfit.engine.autodiff.Dual` parameters
   whose tangent is a random direction v restricted to one layer gives ∇C·v exactly (to
   rounding); backprop's gradient must give the same dot product.
3. Reverse mode: the cost recorded on a :mod:`~nnfit.engine.tape` and swept backwards
   gives the whole gradient; backprop's must equal it.

Errors are relative: ``max|a − b| / max(max|a|, max|b|)`` over a layer for the
finite-difference and reverse-mode checks, ``|a − b| / max(|a|, |b|)`` for each
directional derivative.

Central differences carry an error of their own: rounding, about ε·|C|/h, and
truncation, about h²·|C‴|. Where a layer's gradient is small against the cost
(saturated units: ``model.bias: 10`` on a 5-64-1 tanh network gives a first-layer
gradient of 6e-3 at most against C = 51, and rounding alone is 1e-6 of it at h = 1e-6),
no step resolves it to 1e-6. So the differences are also taken at 2h: their spread
estimates the error of those at h (rounding differs between the two, truncation grows
fourfold), and backprop is held only to what it differs by beyond twice that spread.
A wrong derivative is off by the size of the gradient, while the two steps agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnfit.engine import tape
from nnfit.engine.autodiff import Dual
from nnfit.engine.losses import Loss
from nnfit.engine.network import Network, unpack
from nnfit.engine.passes import gradient

Array = np.ndarray


@dataclass(frozen=True)
class LayerCheck:
    layer: int
    shape: tuple[int, int]
    grad_norm: float
    fd_error: float
    jvp_error: float
    tape_error: float
    #: the differences' uncertainty, scaled as fd_error: theirs at h against 2h, or half
    #: the gap of the one-sided ones where a step crosses a kink
    fd_spread: float = 0.0

    @property
    def fd_beyond(self) -> float:
        """The finite-difference error beyond what the differences themselves resolve."""
        return max(self.fd_error - 2.0 * self.fd_spread, 0.0)

    @property
    def worst(self) -> float:
        return max(self.fd_beyond, self.jvp_error, self.tape_error)


#: a layer's errors are measured against at least this share of the largest gradient entry
FLOOR = 1e-12


def _scale(a: Array, b: Array, floor: float = 0.0) -> float:
    """max(max|a|, max|b|, floor): what :func:`_rel` divides by."""
    return max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)), floor)


def _rel(a: Array, b: Array, floor: float = 0.0) -> float:
    scale = _scale(a, b, floor)
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(a - b))) / scale


def _spread(fd: Array, fd2: Array, kink: Array, bp: Array, floor: float) -> float:
    """The differences' own uncertainty, max(|fd − fd2|, kink), on the scale that
    :func:`_rel` gives fd against bp."""
    scale = _scale(fd, bp, floor)
    spread = np.maximum(np.abs(fd - fd2), kink)
    return float(np.max(spread, initial=0.0)) / scale if scale else 0.0


def cost_function(net: Network, X, y, loss: Loss, l1=0.0, l2=0.0):
    """C(θ) of one model for a flat float64 θ, a Dual or a tape Var, by the pure forward."""
    sizes, fns = net.sizes, net.functions

    def cost(theta):
        return tape.network_cost(unpack(theta, sizes), X, y, fns, loss, l1, l2)

    return cost


def finite_difference_grad(
    net: Network, X, y, loss: Loss, l1=0.0, l2=0.0, h=1e-6, indices=None, kinks=False
):
    """∂C/∂θ of model 0 by central differences, in float64 whatever the network's dtype.

    Only the entries in ``indices`` (all by default) are computed; the rest are NaN. With
    ``kinks``, also half the gap between the one-sided differences, |C₊ − 2C + C₋|/2h:
    h·|C''|/2 where C is smooth, half the jump of the slope where a step crosses a kink
    (a ReLU unit at z = 0), which the central difference then averages.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(len(X), -1)
    cost = cost_function(net, X, y, loss, l1, l2)
    theta = net.theta[0].astype(np.float64)
    g = np.full_like(theta, np.nan)
    gap = np.full_like(theta, np.nan)
    c0 = float(cost(theta)) if kinks else 0.0
    for i in range(theta.size) if indices is None else indices:
        old = theta[i]
        theta[i] = old + h
        cp = float(cost(theta))
        theta[i] = old - h
        cm = float(cost(theta))
        theta[i] = old
        g[i] = (cp - cm) / (2.0 * h)
        gap[i] = abs(cp - 2.0 * c0 + cm) / (2.0 * h)
    return (g, gap) if kinks else g


def check_network(
    net: Network,
    X,
    y,
    loss: Loss,
    l1=0.0,
    l2=0.0,
    n_directions: int = 3,
    rng: np.random.Generator | None = None,
    h: float = 1e-6,
    max_fd: int | None = None,
) -> list[LayerCheck]:
    """Compare backprop's gradient of model 0 with the three references, per layer.

    ``max_fd`` caps the finite-difference entries per layer (a random subset beyond it),
    which keeps the check quick on wide layers; forward and reverse mode always see the
    whole layer.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    one = net.model(0)
    _, grad = gradient(one, X, y, loss, l1, l2)
    bp = grad[0].astype(np.float64)
    layers = [np.arange(a, b) for a, b in zip(one.offsets, one.offsets[1:], strict=False)]
    fd_idx = [
        np.sort(rng.choice(i, max_fd, replace=False)) if max_fd and i.size > max_fd else i
        for i in layers
    ]
    fd, kink = finite_difference_grad(one, X, y, loss, l1, l2, h, np.concatenate(fd_idx), True)
    fd2 = finite_difference_grad(one, X, y, loss, l1, l2, 2 * h, np.concatenate(fd_idx))
    # a layer whose gradient is rounding beside the network's (dead ReLU units downstream:
    # backprop 0, the references 1e-17) is measured on that scale, not on its own
    floor = FLOOR * float(np.max(np.abs(bp), initial=0.0))
    X64 = np.asarray(X, dtype=np.float64)
    y64 = np.asarray(y, dtype=np.float64).reshape(len(X64), -1)
    cost = cost_function(one, X64, y64, loss, l1, l2)
    theta = one.theta[0].astype(np.float64)
    _, rev = tape.grad(cost, theta)
    out = []
    for l, idx in enumerate(layers):
        jvp_err = 0.0
        for _ in range(n_directions):
            v = np.zeros_like(theta)
            v[idx] = rng.standard_normal(idx.size)
            exact = float(cost(Dual(theta, v)).tangent)
            at = floor * float(np.abs(v).sum())
            jvp_err = max(jvp_err, _rel(np.array([bp @ v]), np.array([exact]), at))
        out.append(
            LayerCheck(
                l,
                (one.sizes[l], one.sizes[l + 1]),
                float(np.linalg.norm(bp[idx])),
                _rel(bp[fd_idx[l]], fd[fd_idx[l]], floor),
                jvp_err,
                _rel(bp[idx], rev[0][idx], floor),
                _spread(fd[fd_idx[l]], fd2[fd_idx[l]], kink[fd_idx[l]], bp[fd_idx[l]], floor),
            )
        )
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
    Entries whose one-sided differences disagree by more than 1e-4 of that (a step across
    a kink: ReLU units at z = 0, which zero biases downstream of a dead unit give exactly)
    have no derivative the differences could give, and are left out.
    """
    X = np.asarray(X, dtype=np.float64)
    net64 = Network(net.sizes, net.specs, np.float64)
    net64.theta[0] = net.theta[0]
    _, J = net64.jacobian(X)
    cols = np.arange(net.n_params)
    if max_params is not None and cols.size > max_params:
        rng = rng if rng is not None else np.random.default_rng(0)
        cols = np.sort(rng.choice(cols, max_params, replace=False))
    fd = np.empty((X.shape[0], cols.size))
    gap = np.empty_like(fd)
    theta = net64.theta[0]
    base = net64.predict(X)[0, :, 0]
    for j, i in enumerate(cols):
        old = theta[i]
        theta[i] = old + h
        plus = net64.predict(X)[0, :, 0]
        theta[i] = old - h
        minus = net64.predict(X)[0, :, 0]
        theta[i] = old
        fd[:, j] = (plus - minus) / (2 * h)
        gap[:, j] = np.abs(plus - 2.0 * base + minus) / h
    Jc = J[:, cols]
    scale = _scale(Jc, fd)
    smooth = gap <= 1e-4 * scale
    return _rel(np.where(smooth, Jc, 0.0), np.where(smooth, fd, 0.0), scale)
