"""The optimizer table: first-order update rules here, second-order methods beside.

Each first-order optimizer keeps its state (velocities, moment estimates, step count) as
explicit arrays and updates every model of a stack with one ``step(theta, grad, lr)``
call made of a few in-place vectorised operations on the flat (K·P) vectors.
Hyperparameters other than the learning rate are fixed at construction; the learning
rate is passed per step so that schedules stay outside. The formulas follow PyTorch's
definitions, so results can be compared. :class:`FirstOrder.run` is the mini-batch
epoch loop they all share; L-BFGS and Levenberg–Marquardt (:mod:`.second_order`) drive
the same :class:`~nnfit.engine.loop.Session` their own way.

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

from nnfit.engine import readout
from nnfit.engine.loop import Method, Session
from nnfit.engine.params import UNIT_OPEN, Param, spec
from nnfit.engine.passes import Pass, Problem
from nnfit.engine.schedules import PARAMS as SCHEDULE_PARAMS
from nnfit.engine.schedules import SCHEDULES
from nnfit.engine.second_order import LBFGS, LM

Array = np.ndarray

_EPS = Param(1e-8, lo=0.0, lo_open=True, hi=1.0, doc="added to the denominator")
_MOMENTUM = Param(0.9, **UNIT_OPEN, doc="decay of the velocity")


class FirstOrder(Method):
    """A first-order update rule and the mini-batch epochs that apply it.

    ``setup(size, dtype, decay_mask)`` allocates the state for a flat vector of ``size``
    entries (K models × P); ``step(theta, grad, lr)`` updates it in place.
    """

    honours = frozenset({"lr", "schedule", "batch_size", "clip_norm", "l1", "output_every"})

    def setup(self, size: int, dtype, decay_mask: Array) -> None:
        self.t = 0
        self.dtype = np.dtype(dtype)
        self.size = size
        self.decay_mask = decay_mask
        self._tmp = np.empty(size, dtype=self.dtype)

    def _zeros(self) -> Array:
        return np.zeros(self.size, dtype=self.dtype)

    def state(self) -> dict[str, Array]:
        """The learned state, for inspection and tests."""
        return {}

    def step(self, theta: Array, grad: Array, lr: float) -> None:
        raise NotImplementedError

    def run(self, session: Session, problem: Problem) -> None:
        s, net, data = session.settings, problem.net, problem.data
        name, sched_params = spec(s.schedule)
        sched = SCHEDULES[name]
        from nnfit.engine.params import bind

        sched_params = bind("schedule", name, SCHEDULE_PARAMS[name], sched_params)
        _, opt = spec(s.optimizer)
        lr0 = float(opt.get("lr") or self.default_lr)
        K, P = net.k, net.n_params
        self.setup(K * P, net.dtype, np.tile(net.weight_mask, K))
        theta, grad = net.theta.reshape(-1), problem.grad.reshape(-1)
        lstsq = s.output_layer == "lstsq"
        if lstsq:
            readout.solve(net, problem.X, problem.Y, s.l2)
        problem.begin(session, sched(lr0, 0, s.epochs, **sched_params))
        passes = (
            None
            if data.full
            else {r: Pass(net, r, problem.loss, problem.grad) for r in data.row_counts()}
        )
        for epoch in session.epochs():
            lr = sched(lr0, epoch - 1, s.epochs, **sched_params)
            data.shuffle(problem.rngs)
            total = np.zeros(K)
            for x, xT, y in data.batches:
                rows = xT.shape[-2]
                cost = (
                    problem.full_cost()
                    if passes is None
                    else passes[rows].run(x, xT, y, 1.0 / rows)
                    + net.add_penalty_grad(problem.grad, s.l1, s.l2)
                )
                if session.check(cost):
                    return
                total += cost * rows
                if s.clip_norm is not None:
                    problem.clip(s.clip_norm)
                self.step(theta, grad, lr)
                session.count_steps()
            extra = {}
            if lstsq and s.output_every and epoch % s.output_every == 0:
                readout.solve(net, problem.X, problem.Y, s.l2)
                total = problem.full_cost() * data.n
                extra = {"output_solved": 1.0}
            if session.end_epoch(total / data.n, net.layer_norms(problem.grad), lr, **extra):
                return


class GD(FirstOrder):
    name = "gd"
    full_batch = True
    default_lr = 0.1
    honours = FirstOrder.honours - {"batch_size"}

    def step(self, theta, grad, lr):
        self.t += 1
        np.multiply(grad, lr, out=self._tmp)
        theta -= self._tmp


class SGD(FirstOrder):
    name = "sgd"
    default_lr = 0.01

    step = GD.step


class Momentum(FirstOrder):
    name = "momentum"
    params: ClassVar = {"momentum": _MOMENTUM}

    def setup(self, *args):
        super().setup(*args)
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


class Adagrad(FirstOrder):
    name = "adagrad"
    params: ClassVar = {"eps": Param(1e-10, lo=0.0, lo_open=True, hi=1.0)}

    def setup(self, *args):
        super().setup(*args)
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


class RMSprop(FirstOrder):
    name = "rmsprop"
    params: ClassVar = {
        "rho": Param(0.9, **UNIT_OPEN, doc="decay of the square average"),
        "eps": _EPS,
    }
    default_lr = 1e-3

    def setup(self, *args):
        super().setup(*args)
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


class Adam(FirstOrder):
    name = "adam"
    params: ClassVar = {
        "beta1": Param(0.9, **UNIT_OPEN, doc="decay of the first moment"),
        "beta2": Param(0.999, **UNIT_OPEN, doc="decay of the second moment"),
        "eps": _EPS,
    }
    default_lr = 1e-3

    def setup(self, *args):
        super().setup(*args)
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
    params: ClassVar = {
        **Adam.params,
        "weight_decay": Param(0.01, lo=0.0, hi=1e3, doc="decoupled decay of the weights"),
    }

    def setup(self, *args):
        super().setup(*args)
        self._decay = np.empty(self.size, dtype=self.dtype)

    def step(self, theta, grad, lr):
        # decay the weights only; biases are never regularised in nnfit
        np.multiply(self.decay_mask, -lr * self.hyper["weight_decay"], out=self._decay)
        self._decay += 1.0
        theta *= self._decay
        super().step(theta, grad, lr)


OPTIMIZERS: dict[str, type[Method]] = {
    cls.name: cls for cls in (GD, SGD, Momentum, Nesterov, Adagrad, RMSprop, Adam, AdamW, LBFGS, LM)
}


def make(name: str, **hyper) -> Method:
    """The optimizer ``name`` with its hyperparameters checked (KeyError, ValueError)."""
    if name not in OPTIMIZERS:
        raise KeyError(f"unknown optimizer {name!r} (allowed: {', '.join(OPTIMIZERS)})")
    return OPTIMIZERS[name](**hyper)
