"""First-order optimizers over the flat parameter vector: one registry of small classes.

Each optimizer keeps its state (velocities, moment estimates, step count) as explicit
arrays, and updates the whole network with one ``step(theta, grad, lr)`` call made of a
few in-place vectorised operations. Hyperparameters other than the learning rate are
fixed at construction; the learning rate is passed per step so that schedules stay
outside. The formulas follow PyTorch's definitions, so results can be compared.

=========  ===============================================================================
gd, sgd    θ ← θ − η·g  (gd is run on the full batch by the trainer)
momentum   v ← μ·v + g;  θ ← θ − η·v
nesterov   v ← μ·v + g;  θ ← θ − η·(g + μ·v)
adagrad    G ← G + g²;  θ ← θ − η·g / (√G + ε)
rmsprop    s ← ρ·s + (1 − ρ)·g²;  θ ← θ − η·g / (√s + ε)
adam       m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;  θ ← θ − η·m̂ / (√v̂ + ε),
           m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ)   (Kingma & Ba 2015)
adamw      W ← W·(1 − η·λ) on the weights (decoupled decay, Loshchilov & Hutter 2019),
           then adam
=========  ===============================================================================
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

Array = np.ndarray


class Optimizer:
    """Base class: ``defaults`` lists the hyperparameters and their default values."""

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, float]] = {}
    default_lr: ClassVar[float] = 0.01
    #: True when the optimizer is meant for the whole training set at each step
    full_batch: ClassVar[bool] = False
    #: True for the methods that run their own loop (nnfit.second_order)
    second_order: ClassVar[bool] = False

    def __init__(self, n_params: int, dtype=np.float64, n_weights: int | None = None, **hyper):
        unknown = set(hyper) - set(self.defaults)
        if unknown:
            allowed = ", ".join(self.defaults) or "none"
            raise KeyError(f"{self.name} takes ({allowed}), got {sorted(unknown)}")
        self.hyper = {**self.defaults, **hyper}
        self.n_params = n_params
        self.n_weights = n_params if n_weights is None else n_weights
        self.dtype = np.dtype(dtype)
        self.t = 0
        self._tmp = np.empty(n_params, dtype=self.dtype)

    def _zeros(self) -> Array:
        return np.zeros(self.n_params, dtype=self.dtype)

    def state(self) -> dict[str, Array]:
        """The learned state, for inspection and tests."""
        return {}

    def step(self, theta: Array, grad: Array, lr: float) -> None:
        raise NotImplementedError


class GD(Optimizer):
    name = "gd"
    full_batch = True
    default_lr = 0.1

    def step(self, theta, grad, lr):
        self.t += 1
        np.multiply(grad, lr, out=self._tmp)
        theta -= self._tmp


class SGD(GD):
    name = "sgd"
    full_batch = False
    default_lr = 0.01


class Momentum(Optimizer):
    name = "momentum"
    defaults: ClassVar = {"momentum": 0.9}

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.v = self._zeros()

    def state(self):
        return {"v": self.v}

    def step(self, theta, grad, lr):
        self.t += 1
        self.v *= self.hyper["momentum"]
        self.v += grad
        np.multiply(self.v, lr, out=self._tmp)
        theta -= self._tmp


class Nesterov(Momentum):
    name = "nesterov"

    def step(self, theta, grad, lr):
        self.t += 1
        mu = self.hyper["momentum"]
        self.v *= mu
        self.v += grad
        tmp = self._tmp
        np.multiply(self.v, mu, out=tmp)
        tmp += grad
        tmp *= lr
        theta -= tmp


class Adagrad(Optimizer):
    name = "adagrad"
    defaults: ClassVar = {"eps": 1e-10}

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.G = self._zeros()

    def state(self):
        return {"G": self.G}

    def step(self, theta, grad, lr):
        self.t += 1
        tmp = self._tmp
        np.multiply(grad, grad, out=tmp)
        self.G += tmp
        np.sqrt(self.G, out=tmp)
        tmp += self.hyper["eps"]
        np.divide(grad, tmp, out=tmp)
        tmp *= lr
        theta -= tmp


class RMSprop(Optimizer):
    name = "rmsprop"
    defaults: ClassVar = {"rho": 0.9, "eps": 1e-8}
    default_lr = 1e-3

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.s = self._zeros()

    def state(self):
        return {"s": self.s}

    def step(self, theta, grad, lr):
        self.t += 1
        rho = self.hyper["rho"]
        tmp = self._tmp
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - rho
        self.s *= rho
        self.s += tmp
        np.sqrt(self.s, out=tmp)
        tmp += self.hyper["eps"]
        np.divide(grad, tmp, out=tmp)
        tmp *= lr
        theta -= tmp


class Adam(Optimizer):
    name = "adam"
    defaults: ClassVar = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    default_lr = 1e-3

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.m = self._zeros()
        self.v = self._zeros()

    def state(self):
        return {"m": self.m, "v": self.v}

    def step(self, theta, grad, lr):
        self.t += 1
        b1, b2, eps = self.hyper["beta1"], self.hyper["beta2"], self.hyper["eps"]
        m, v, tmp = self.m, self.v, self._tmp
        m *= b1
        np.multiply(grad, 1.0 - b1, out=tmp)
        m += tmp
        v *= b2
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - b2
        v += tmp
        # θ −= η/(1−β₁ᵗ) · m / (√v / √(1−β₂ᵗ) + ε): ε added after the square root
        np.sqrt(v, out=tmp)
        tmp *= 1.0 / math.sqrt(1.0 - b2**self.t)
        tmp += eps
        np.divide(m, tmp, out=tmp)
        tmp *= lr / (1.0 - b1**self.t)
        theta -= tmp


class AdamW(Adam):
    name = "adamw"
    defaults: ClassVar = {**Adam.defaults, "weight_decay": 0.01}

    def step(self, theta, grad, lr):
        # decay the weights only; biases are never regularised in nnfit
        theta[: self.n_weights] *= 1.0 - lr * self.hyper["weight_decay"]
        super().step(theta, grad, lr)


class SecondOrder(Optimizer):
    """Full-batch methods that own their loop (:mod:`nnfit.second_order`); listed here so
    that the one registry names every optimizer and its hyperparameters."""

    full_batch = True
    second_order: ClassVar[bool] = True
    default_lr = 1.0  # unused: these methods choose their own step

    def step(self, theta, grad, lr):
        raise TypeError(f"{self.name} is trained by nnfit.second_order, not step by step")


class LBFGS(SecondOrder):
    """L-BFGS-B (scipy) on the flat parameter vector with backprop's gradient."""

    name = "lbfgs"
    defaults: ClassVar = {"m": 10, "gtol": 1e-12, "ftol": 1e-15}


class LM(SecondOrder):
    """Levenberg–Marquardt on the residuals, damping adapted as MATLAB's trainlm does."""

    name = "lm"
    defaults: ClassVar = {
        "mu": 1e-3,
        "mu_dec": 0.1,
        "mu_inc": 10.0,
        "mu_max": 1e10,
        "max_jacobian_mb": 1024,
    }


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (GD, SGD, Momentum, Nesterov, Adagrad, RMSprop, Adam, AdamW, LBFGS, LM)
}


def make(name: str, n_params: int, dtype=np.float64, n_weights=None, **hyper) -> Optimizer:
    """Build the optimizer ``name`` for a parameter vector of ``n_params`` entries."""
    if name not in OPTIMIZERS:
        raise KeyError(f"unknown optimizer {name!r} (allowed: {', '.join(OPTIMIZERS)})")
    return OPTIMIZERS[name](n_params, dtype, n_weights, **hyper)
