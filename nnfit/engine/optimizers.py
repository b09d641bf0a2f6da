"""The optimizer table: first-order update rules here, second-order methods beside.

Each first-order optimizer keeps its state (velocities, moment estimates, step count) as
explicit arrays and updates every model of a stack at once, a few in-place ufunc calls
on the flat (K·P) vectors. Hyperparameters other than the learning rate are fixed at
construction; the learning rate is passed per step so that schedules stay outside. The
formulas follow PyTorch's definitions, so results can be compared.

Training passes leave the gradient of Σρ, u = g/s with s = 1/batch_size (see
:mod:`.passes`), so each rule's ``fused(theta, pair, s)`` folds s into its constants:
into the learning rate (gd, momentum, nesterov), into ε (adagrad, rmsprop and adam are
invariant to the scale of g but for ε), and keeps its moments in units of u. The
moments of adam are stored together as [m/(1 − β₁); v/(1 − β₂)], so one multiply and
one add update both from ``pair`` = [u; u²]. ``step(theta, grad, lr)`` is the same
update for a plain gradient; a rule that defines only ``step`` (a table entry added
alone) trains on s·u through it. :class:`FirstOrder.run` is the mini-batch epoch loop
they all share; L-BFGS and Levenberg–Marquardt (:mod:`.second_order`) drive the same
:class:`~nnfit.engine.loop.Session` their own way.

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

import contextlib
import math
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from nnfit.engine import passes, readout
from nnfit.engine.loop import Method, Session
from nnfit.engine.params import UNIT_OPEN, Param, bind, lookup, spec
from nnfit.engine.passes import Problem
from nnfit.engine.schedules import PARAMS as SCHEDULE_PARAMS
from nnfit.engine.schedules import SCHEDULES
from nnfit.engine.second_order import LBFGS, LM

Array = np.ndarray
Update = Callable[[float], None]

_EPS = Param(1e-8, lo=0.0, lo_open=True, hi=1.0, doc="added to the denominator")
_MOMENTUM = Param(0.9, **UNIT_OPEN, doc="decay of the velocity")
mul, add, sub, div, sqrt = np.multiply, np.add, np.subtract, np.divide, np.sqrt


def _defined_by(cls: type, name: str) -> type:
    return next(c for c in cls.__mro__ if name in c.__dict__)


class FirstOrder(Method):
    """A first-order update rule and the mini-batch epochs that apply it.

    ``setup(size, dtype, decay_mask)`` allocates the state for a flat vector of ``size``
    entries (K models × P); ``fused(theta, pair, scale)`` returns ``update(lr)``, which
    updates ``theta`` in place for the gradient scale·``pair[0]`` (``pair[1]`` is
    scratch); ``step(theta, grad, lr)`` does the same for the gradient ``grad``.
    """

    honours = frozenset({"lr", "schedule", "batch_size", "clip_norm", "l1", "output_every"})

    def setup(self, size: int, dtype, decay_mask: Array) -> None:
        self.t = 0
        self.dtype = np.dtype(dtype)
        self.size = size
        self.decay_mask = decay_mask
        self._tmp = np.empty(size, dtype=self.dtype)
        self._pair = self._theta = self._update = None

    def _zeros(self, *lead: int) -> Array:
        return np.zeros((*lead, self.size), dtype=self.dtype)

    def state(self) -> dict[str, Array]:
        """The learned state in the units of the gradient, for inspection and tests."""
        return {}

    def fused(self, theta: Array, pair: Array, scale: float) -> Update:
        raise NotImplementedError(f"{type(self).__name__} defines neither step nor fused")

    def step(self, theta: Array, grad: Array, lr: float) -> None:
        """θ ← the rule's update for the gradient ``grad``."""
        if self._theta is not theta:
            self._pair = self._pair if self._pair is not None else self._zeros(2)
            self._theta, self._update = theta, self.fused(theta, self._pair, 1.0)
        np.copyto(self._pair[0], grad)
        self._update(lr)

    def updater(self, theta: Array, pair: Array, scale: float) -> Update:
        """``update(lr)`` for the gradient scale·pair[0]: the fused form, unless a subclass
        brought its own ``step`` (then that, on the gradient scaled into pair[1])."""
        if issubclass(_defined_by(type(self), "fused"), _defined_by(type(self), "step")):
            return self.fused(theta, pair, scale)
        g, tmp = pair
        step = self.step

        def update(lr):
            mul(g, scale, out=tmp)
            step(theta, tmp, lr)

        return update

    def run(self, session: Session, problem: Problem) -> None:
        with np.errstate(over="ignore"), _blas_limit(problem):
            self._run(session, problem)

    def _run(self, session: Session, problem: Problem) -> None:
        s, net, data = session.settings, problem.net, problem.data
        sched, sched_params = schedule(s.schedule)
        _, opt = spec(s.optimizer)
        lr0 = float(opt.get("lr") or self.default_lr)
        K, P = net.k, net.n_params
        self.setup(K * P, net.dtype, np.tile(net.weight_mask, K))
        lstsq = s.output_layer == "lstsq"
        if lstsq:  # with no epochs to follow (random features), exactly
            if s.epochs:
                readout.solve(net, problem.X, problem.Y, max(s.l2, SOLVE_L2), OUTPUT_BOUND)
            else:  # random features
                readout.solve(net, problem.X, problem.Y, s.l2)
        solved = {"output_solved": 1.0} if lstsq else {}  # epoch 0 is after the first solve
        problem.begin(session, sched(lr0, 0, s.epochs, **sched_params), **solved)
        scale = 1.0 / data.rows  # the passes leave u = g / scale
        update = self.updater(net.theta.reshape(-1), problem.pair.reshape(2, -1), scale)
        steps = problem.steps()
        half = 0.5 if problem.loss.least_squares else 1.0
        for epoch in session.epochs():
            lr = sched(lr0, epoch - 1, s.epochs, **sched_params)
            data.shuffle(problem.rngs)
            total = _epoch(session, problem, steps, update, lr, scale, half)
            if total is None:
                return
            gscale, extra = scale, {}
            if lstsq and s.output_every and epoch % s.output_every == 0:
                readout.solve(net, problem.X, problem.Y, max(s.l2, SOLVE_L2), OUTPUT_BOUND)
                loss = problem.full_cost()
                gscale, extra = 1.0, {"output_solved": 1.0}
            else:
                loss = np.asarray(total, dtype=float).reshape(K) * (half / data.n)
            norms = net.layer_norms(problem.grad)
            norms *= gscale
            if session.end_epoch(loss, norms, lr, **extra):
                return


def _blas_limit(problem: Problem):
    """BLAS on one thread, unless a step's products are large (a mini-batch of at least
    ``passes.MIN_ELEMENTS`` rows × units): small products gain little from a second
    thread and, on a busy machine, lose up to 100× to threads that spin while they wait
    (W2 of ``make bench``: 0.4 ms a step on one thread, 6–47 ms on two, load 5 on 2
    cores). A blocked full batch runs its own threads, each with BLAS on one."""
    data, net = problem.data, problem.net
    if not data.full and data.rows * max(net.sizes) * net.k >= passes.MIN_ELEMENTS:
        return contextlib.nullcontext()
    return passes.one_blas_thread()


#: the least l2 of an output layer solved before or during first-order training. Solved
#: exactly, nearly dependent features get output weights of 1e8 that cancel, and the
#: next gradient step through them explodes (8 tanh units on sin(2πx), SGD lr 0.01:
#: diverged; with 1e-8: test RMSE 4.0e-4 after 200 epochs). The solve after training
#: uses l2 as given.
SOLVE_L2 = 1e-8
#: ... and output weights no larger than this (network units, where y is scaled to unit
#: variance): the l2 of those solves grows ×10 until they are. Six sigmoid layers of 16
#: on sin(2πx) (glorot, zero biases) got output weights of 2e3 at l2 1e-8 and SGD
#: diverged in 7 steps at lr 1e-6; 28 at 1e-6 trained.
OUTPUT_BOUND = 100.0


def _epoch(session, problem, steps, update, lr, scale, half):
    """One epoch of steps; the models' summed values (units Σρ/half, penalties in), or
    None when every model stopped."""
    K, vals = problem.net.k, problem.vals
    pen = problem.penalty if problem.penalty.active else None
    clip = session.settings.clip_norm
    # a step whose value c is below its bound stops no active model: one comparison
    bounds = [-math.inf if pen else session.ceiling * rows / half for *_, rows in steps]
    total = np.float64(0.0) if K == 1 else np.zeros(K)  # float64 sums, as alone
    done = counted = 0
    for (fn, x, xT, y, rows), bound in zip(steps, bounds, strict=True):
        c = fn(x, xT, y)
        if c < bound:
            if K == 1:
                total += c
            else:
                add(total, vals, out=total)
        else:  # penalties, or a model may have diverged: the per-model bookkeeping
            v = np.array([c], dtype=float) if K == 1 else vals.astype(float)
            if pen is not None:
                v += pen.add(problem.net.theta, problem.grad, 1.0 / scale) * (rows / half)
            session.count_steps(done - counted)
            counted = done
            if session.check(v * (half / rows)):
                return None
            if not pen:
                bounds[:] = [session.ceiling * r / half for *_, r in steps]  # seen by zip
            total = total + (float(v[0]) if K == 1 else v)
        if clip is not None:
            problem.clip(clip, scale)
        update(lr)
        done += 1
    session.count_steps(done - counted)
    return total


class GD(FirstOrder):
    name = "gd"
    full_batch = True
    default_lr = 0.1
    honours = FirstOrder.honours - {"batch_size"}

    def fused(self, theta, pair, scale):
        g, tmp = pair

        def update(lr):
            self.t += 1
            mul(g, lr * scale, out=tmp)
            sub(theta, tmp, out=theta)

        return update


class SGD(FirstOrder):
    name = "sgd"
    default_lr = 0.01

    fused = GD.fused


class Momentum(FirstOrder):
    name = "momentum"
    params: ClassVar = {"momentum": _MOMENTUM}

    def setup(self, *args):
        super().setup(*args)
        self.v = self._zeros()

    def state(self):
        return {"v": self.v}

    def fused(self, theta, pair, scale):
        g, tmp = pair
        v, mu = self.v, self.hyper["momentum"]

        def update(lr):
            self.t += 1
            mul(v, mu, out=v)
            add(v, g, out=v)
            mul(v, lr * scale, out=tmp)
            sub(theta, tmp, out=theta)

        return update


class Nesterov(Momentum):
    name = "nesterov"

    def fused(self, theta, pair, scale):
        g, tmp = pair
        v, mu = self.v, self.hyper["momentum"]

        def update(lr):
            self.t += 1
            mul(v, mu, out=v)
            add(v, g, out=v)
            mul(v, mu, out=tmp)
            add(tmp, g, out=tmp)
            mul(tmp, lr * scale, out=tmp)
            sub(theta, tmp, out=theta)

        return update


class Adagrad(FirstOrder):
    name = "adagrad"
    params: ClassVar = {"eps": Param(1e-10, lo=0.0, lo_open=True, hi=1.0)}

    def setup(self, *args):
        super().setup(*args)
        self.G = self._zeros()

    def state(self):
        return {"G": self.G}

    def fused(self, theta, pair, scale):
        # G in units of u²: lr·g/(√G + ε) = lr·u/(√G_u + ε/scale)
        g, tmp = pair
        G, eps = self.G, self.hyper["eps"] / scale

        def update(lr):
            self.t += 1
            mul(g, g, out=tmp)
            add(G, tmp, out=G)
            sqrt(G, out=tmp)
            add(tmp, eps, out=tmp)
            div(g, tmp, out=tmp)
            mul(tmp, lr, out=tmp)
            sub(theta, tmp, out=theta)

        return update


class RMSprop(FirstOrder):
    name = "rmsprop"
    params: ClassVar = {
        "rho": Param(0.9, **UNIT_OPEN, doc="decay of the square average"),
        "eps": _EPS,
    }
    default_lr = 1e-3

    def setup(self, *args):
        super().setup(*args)
        self.s = self._zeros()  # s/(1 − ρ) in units of u²

    def state(self):
        return {"s": (1.0 - self.hyper["rho"]) * self.s}

    def fused(self, theta, pair, scale):
        # s = (1 − ρ)·scale²·S with S ← ρS + u², so
        # lr·g/(√s + ε) = lr/√(1 − ρ) · u/(√S + ε/(scale·√(1 − ρ)))
        g, tmp = pair
        S, rho = self.s, self.hyper["rho"]
        root = math.sqrt(1.0 - rho)
        eps = self.hyper["eps"] / (scale * root)

        def update(lr):
            self.t += 1
            mul(g, g, out=tmp)
            mul(S, rho, out=S)
            add(S, tmp, out=S)
            sqrt(S, out=tmp)
            add(tmp, eps, out=tmp)
            div(g, tmp, out=tmp)
            mul(tmp, lr / root, out=tmp)
            sub(theta, tmp, out=theta)

        return update


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
        self.moments = self._zeros(2)  # [m/(1 − β₁); v/(1 − β₂)] in units of u, u²
        b1, b2 = self.hyper["beta1"], self.hyper["beta2"]
        self.betas = np.array([[b1], [b2]], dtype=self.dtype)
        self.powers = [1.0, 1.0]  # β₁ᵗ, β₂ᵗ

    @property
    def m(self) -> Array:
        return (1.0 - self.hyper["beta1"]) * self.moments[0]

    @property
    def v(self) -> Array:
        return (1.0 - self.hyper["beta2"]) * self.moments[1]

    def state(self):
        return {"m": self.m, "v": self.v}

    def fused(self, theta, pair, scale):
        # with m̃ = m/(1 − β₁) and ṽ = v/(1 − β₂) of u = g/scale, and
        # c = √((1 − β₂ᵗ)/(1 − β₂)): lr·m̂/(√v̂ + ε) = k·m̃/(√ṽ + ε·c/scale),
        # k = lr·(1 − β₁)/(1 − β₁ᵗ)·c
        b1, b2, eps = self.hyper["beta1"], self.hyper["beta2"], self.hyper["eps"]
        moments, betas, powers = self.moments, self.betas, self.powers
        m, v = moments
        g, g2 = pair
        tmp = self._tmp

        def update(lr):
            self.t += 1
            powers[0] *= b1
            powers[1] *= b2
            c = math.sqrt((1.0 - powers[1]) / (1.0 - b2))
            mul(g, g, out=g2)
            mul(moments, betas, out=moments)
            add(moments, pair, out=moments)
            sqrt(v, out=tmp)
            add(tmp, eps * c / scale, out=tmp)
            div(m, tmp, out=tmp)
            mul(tmp, lr * (1.0 - b1) / (1.0 - powers[0]) * c, out=tmp)
            sub(theta, tmp, out=theta)

        return update


class AdamW(Adam):
    name = "adamw"
    params: ClassVar = {
        **Adam.params,
        "weight_decay": Param(0.01, lo=0.0, hi=1e3, doc="decoupled decay of the weights"),
    }

    def fused(self, theta, pair, scale):
        adam = super().fused(theta, pair, scale)
        decay, mask, wd = (
            np.empty(self.size, self.dtype),
            self.decay_mask,
            self.hyper["weight_decay"],
        )
        last = [None]

        def update(lr):
            # decay the weights only; biases are never regularised in nnfit
            if lr != last[0]:
                mul(mask, -lr * wd, out=decay)
                add(decay, 1.0, out=decay)
                last[0] = lr
            mul(theta, decay, out=theta)
            adam(lr)

        return update


OPTIMIZERS: dict[str, type[Method]] = {
    cls.name: cls for cls in (GD, SGD, Momentum, Nesterov, Adagrad, RMSprop, Adam, AdamW, LBFGS, LM)
}


def schedule(value) -> tuple[Callable[..., float], dict]:
    """The learning-rate schedule ``value`` names (a name or a dict) and its bound
    parameters (UnknownChoice, ValueError)."""
    name, params = spec(value, "schedule")
    fn = lookup("schedule", name, SCHEDULES)
    return fn, bind("schedule", name, SCHEDULE_PARAMS[name], params)


def make(name: str, **hyper) -> Method:
    """The optimizer ``name`` with its hyperparameters checked (UnknownChoice, ValueError)."""
    return lookup("optimizer", name, OPTIMIZERS)(**hyper)
