"""Cost functions and weight penalties: two registries.

A loss is a pointwise cost ρ of the residual r = g − y, averaged over the n samples of a
batch and summed over outputs: C = (1/n)·Σ ρ(r). ``LOSSES[name]`` is a :class:`Loss`
holding ρ and ρ' (elementwise, so they work on any layout: one network's (n, out)
residuals, a stack's (K, out, n), or :class:`~nnfit.engine.autodiff.Dual` numbers) and
its declared parameters. ``mse`` follows the course's convention ρ(r) = ½r², so
∂C/∂g = r/n.

``REGULARIZERS[name] = (penalty, dpenalty)`` act on the weights only (never biases), both
scaled by their strength λ: l1 is λ·Σ|W| and l2 is λ·½·ΣW².
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from nnfit.engine.params import POSITIVE, Param, bind, lookup

Array = np.ndarray


def half_square(r):
    return 0.5 * (r * r)


def dhalf_square(r):
    return r


def absolute(r):
    return np.abs(r)


def dabsolute(r):
    return np.sign(r)


def huber(r, delta=1.0):
    """½r² for |r| ≤ δ, δ(|r| − ½δ) beyond: quadratic near zero, linear in the tails."""
    a = np.abs(r)
    q = np.minimum(a, delta)
    return q * (a - 0.5 * q)


def dhuber(r, delta=1.0):
    return np.clip(r, -delta, delta)


@dataclass(frozen=True)
class Loss:
    """ρ and ρ' elementwise; ``least_squares`` marks ρ = ½r² (Gauss–Newton applies).

    ``degree`` p, where known, says that the cost of residuals s·r is s^p times that of r
    (a length parameter such as Huber's δ scaled with them): losses of targets scaled by
    1/s then read in the targets' own units as s^p times the scaled ones. None: unknown,
    the loss stays in the scaled units.
    """

    rho: Callable[..., Array]
    drho: Callable[..., Array]
    params: dict[str, Param] = field(default_factory=dict)
    least_squares: bool = False
    degree: float | None = None

    def value(self, r) -> float:
        """C = Σρ(r) / n for residuals of shape (n, out) (n the first axis)."""
        return np.add.reduce(self.rho(r), axis=None) / r.shape[0]

    def grad(self, r) -> Array:
        """∂C/∂g for residuals of shape (n, out)."""
        return self.drho(r) * (1.0 / r.shape[0])


LOSSES: dict[str, Loss] = {
    "mse": Loss(half_square, dhalf_square, least_squares=True, degree=2),
    "mae": Loss(absolute, dabsolute, degree=1),
    "huber": Loss(
        huber, dhuber, {"delta": Param(1.0, **POSITIVE, doc="where ρ turns linear")}, degree=2
    ),
}


def get(name: str, **params: float) -> Loss:
    """The loss ``name`` with ``params`` checked and bound (UnknownChoice, ValueError)."""
    loss = lookup("loss", name, LOSSES)
    values = bind("loss", name, loss.params, params)
    if not values:
        return loss
    return replace(
        loss,
        rho=functools.partial(loss.rho, **values),
        drho=functools.partial(loss.drho, **values),
    )


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
