"""The training loop's one place for history, early stopping, divergence and callbacks.

Every way of training (first-order mini-batches, Levenberg–Marquardt, L-BFGS through
SciPy's callback; one model or a stack of K) drives a :class:`Session`: it reports the
start, each step's cost (so a diverging model stops at once) and each epoch's end. The
session keeps a :class:`History` per model, stops models whose early-stopping patience
ran out, whose cost exploded or went non-finite, or that a callback stops; at the end it
restores each model's best weights under early stopping (a diverged model's too; without
early stopping it keeps its last finite weights). A model
that stops rides along in a stack until all have stopped; its numbers are set aside.

The per-step check is one comparison on the hot path: a cost below ``ceiling`` (the
smallest divergence limit of the models still training) stops nobody, and only a cost
at or above it (or NaN) goes through :meth:`Session.check` model by model. Steps are
counted once an epoch, and before a model stops.

Callbacks receive one :class:`EpochEvent` per epoch and may return a stop mask (one bool
per model, or one bool for all). Nothing here prints or writes files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from nnfit.engine import losses as loss_mod
from nnfit.engine.network import Network
from nnfit.engine.params import Param, spec

Array = np.ndarray


@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters of one training run (never mutated; learned state lives elsewhere).

    Field names are the experiment file's ``training`` keys, so a config section maps
    onto them as it is. ``optimizer``, ``schedule`` and ``loss`` are a name or
    ``{name: …, params}``; ``batch_size`` None or "full" is full-batch;
    ``early_stopping`` None turns it off.
    """

    loss: str | dict = "mse"
    optimizer: str | dict = "adam"
    schedule: str | dict = "constant"
    batch_size: int | str | None = 32
    epochs: int = 1000
    l1: float = 0.0
    l2: float = 0.0
    clip_norm: float | None = None
    early_stopping: dict | None = field(
        default_factory=lambda: {"patience": 200, "min_delta": 0.0, "monitor": "val"}
    )
    output_layer: str = "trained"
    output_every: int | None = None
    restore_best: bool = True
    divergence_factor: float = 1e6

    def __post_init__(self):
        """Refuse what would train silently wrong (a batch of −1 took no step and logged a
        loss of 0; a negative lr climbed; an early-stopping key misspelt was ignored)."""

        def bad(key, allowed):
            got = getattr(self, key)
            raise ValueError(f"TrainSettings.{key} must be {allowed}, got {got!r}")

        def whole(v, lo):
            return isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= lo

        def number(v, lo, open_=False):
            ok = isinstance(v, int | float | np.integer | np.floating) and not isinstance(
                v, bool | np.bool_
            )
            return ok and math.isfinite(v) and (v > lo if open_ else v >= lo)

        if not (self.batch_size in (None, "full") or whole(self.batch_size, 1)):
            bad("batch_size", 'a whole number ≥ 1, "full" or None')
        if not whole(self.epochs, 0):
            bad("epochs", "a whole number ≥ 0")
        for key in ("l1", "l2"):
            if not number(getattr(self, key), 0):
                bad(key, "a finite number ≥ 0")
        if self.clip_norm is not None and not number(self.clip_norm, 0, open_=True):
            bad("clip_norm", "None or a finite number > 0")
        if self.output_layer not in ("trained", "lstsq"):
            bad("output_layer", '"trained" or "lstsq"')
        if self.output_every is not None and not whole(self.output_every, 1):
            bad("output_every", "None or a whole number ≥ 1")
        if not isinstance(self.restore_best, bool | np.bool_):
            bad("restore_best", "True or False")
        if not number(self.divergence_factor, 1, open_=True):
            bad("divergence_factor", "a finite number > 1")
        es = self.early_stopping
        if es is not None:
            if not isinstance(es, dict) or set(es) - {"patience", "min_delta", "monitor"}:
                bad("early_stopping", "None or a dict of patience, min_delta and monitor")
            if not whole(es.get("patience", 1), 1) or not number(es.get("min_delta", 0), 0):
                bad("early_stopping", "patience a whole number ≥ 1, min_delta ≥ 0")
            if es.get("monitor", "val") not in ("val", "train"):
                bad("early_stopping", 'monitor "val" or "train"')
        lr = self.optimizer.get("lr") if isinstance(self.optimizer, dict) else None
        if lr is not None and not number(lr, 0, open_=True):
            bad("optimizer", "a name or a dict whose lr is a finite number > 0")

    @classmethod
    def from_config(cls, training: dict) -> TrainSettings:
        """The settings from a ``training`` section (keys the engine does not use, such
        as ``seed`` or ``dtype``, are the caller's)."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in training.items() if k in names})

    def rows(self, n: int) -> int | None:
        """The batch size for n training rows; None for the full batch."""
        bs = self.batch_size
        return None if bs is None or bs == "full" or int(bs) >= n else int(bs)

    def loss_fn(self) -> loss_mod.Loss:
        name, params = spec(self.loss, "loss")
        return loss_mod.get(name, **params)


@dataclass
class History:
    """One row per epoch; row 0 is the network before training."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[Array] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)

    def append(self, epoch, train_loss, val_loss, lr, grad_norm, wall_s, **extra):
        self.epoch.append(int(epoch))
        self.train_loss.append(float(train_loss))
        self.val_loss.append(float(val_loss))
        self.lr.append(float(lr))
        self.grad_norm.append(np.asarray(grad_norm, dtype=float))
        self.wall_s.append(float(wall_s))
        for k, v in extra.items():
            self.extra.setdefault(k, [math.nan] * (len(self.epoch) - 1)).append(float(v))
        for col in self.extra.values():
            if len(col) < len(self.epoch):
                col.append(math.nan)

    def trim(self) -> None:
        """Drop a row that an interrupt cut short, so that every column has each
        finished epoch's value (a Ctrl-C between two appends left them unequal)."""
        lists = [self.epoch, self.train_loss, self.val_loss, self.lr, self.grad_norm]
        lists += [self.wall_s, *self.extra.values()]
        n = min(len(col) for col in lists)
        for col in lists:
            del col[n:]

    def __len__(self) -> int:
        return len(self.epoch)

    def columns(self) -> dict[str, list[float]]:
        """Column name → values, grad norms split per layer (``grad_norm_0`` …)."""
        cols: dict[str, list[float]] = {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            "lr": self.lr,
        }
        if self.grad_norm:
            g = np.vstack(self.grad_norm)
            for l in range(g.shape[1]):
                cols[f"grad_norm_{l}"] = g[:, l].tolist()
        cols.update(self.extra)
        cols["wall_s"] = self.wall_s
        return cols


@dataclass(frozen=True)
class EpochEvent:
    """What callbacks see after each epoch; arrays have one entry (row) per model."""

    epoch: int
    epochs: int
    train_loss: Array
    val_loss: Array
    lr: float
    grad_norm: Array
    wall_s: float
    net: Network
    active: Array


@dataclass
class TrainResult:
    status: str  # ok | diverged | interrupted
    stop_reason: str  # epochs | early_stopping | converged | diverged | callback | interrupted
    epochs: int
    steps: int
    wall_s: float
    best_epoch: int
    history: History


#: why variable projection takes no L1 penalty (the file and the engine say the same)
VARPRO_L1 = (
    "not used by optimizer {name} with output_layer lstsq: variable projection solves the "
    "output layer by least squares with the l2 ridge, which has no L1 term, so the L1 of "
    "its weights is a cost {name} cannot lower; use l2, or output_layer: trained"
)


class Method:
    """A way to train: the optimizer table's entries derive from this.

    Class attributes declare what the method is: its hyperparameters (``params``, with
    ranges), the training keys it honours (any other key given in a file is refused,
    never silently ignored), whether it runs on the full batch, whether K models can be
    trained in one stack, and whether it is Gauss–Newton (needs a least-squares loss).
    """

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    default_lr: ClassVar[float | None] = 0.01
    honours: ClassVar[frozenset[str]] = frozenset()
    full_batch: ClassVar[bool] = False
    stackable: ClassVar[bool] = True
    least_squares: ClassVar[bool] = False
    #: with ``output_layer: lstsq``, re-solves the output layer at every evaluation
    #: (variable projection) rather than at the start and the end
    varpro: ClassVar[bool] = False

    def __init__(self, **hyper):
        from nnfit.engine.params import bind

        self.hyper = bind("optimizer", self.name, self.params, hyper)
        self.check_together(self.hyper)

    @classmethod
    def check_together(cls, hyper: dict) -> None:
        """Raise ValueError for values each in range but wrong together (none here)."""

    @classmethod
    def in_precision(cls, given: dict, dtype) -> tuple[dict, list[tuple[str, str]]]:
        """What training in ``dtype`` uses in place of the defaults of parameters not in
        ``given``, and (parameter, message) for each given value it could not honour
        (none here)."""
        return {}, []

    def run(self, session: Session) -> None:
        raise NotImplementedError


Callback = Callable[[EpochEvent], "Array | bool | None"]


class Session:
    """The state of one training of ``net``'s K models: see the module docstring."""

    def __init__(
        self,
        net: Network,
        settings: TrainSettings,
        val: tuple[Array, Array] | None = None,
        callbacks: Sequence[Callback] = (),
    ):
        s = self.settings = settings
        self.net, self.k, self.callbacks = net, net.k, list(callbacks)
        self.loss = settings.loss_fn()
        self.val = val if val is not None and len(val[0]) else None
        es = s.early_stopping
        self.patience = None if es is None else es.get("patience", 100)
        self.min_delta = 0.0 if es is None else es.get("min_delta", 0.0)
        self.monitor_val = self.val is not None and (es or {}).get("monitor", "val") == "val"
        K = self.k
        self.histories = [History() for _ in range(K)]
        self.active = np.ones(K, dtype=bool)
        self.n_active = K
        self.status, self.reason = ["ok"] * K, ["epochs"] * K
        self.epochs_done = np.zeros(K, dtype=int)
        self.steps = np.zeros(K, dtype=int)
        self.best = np.full(K, math.inf)
        self.best_epoch = np.zeros(K, dtype=int)
        self.best_theta = net.theta.copy()
        self.wait = np.zeros(K, dtype=int)
        self.start_aside: tuple[Array, Array] | None = None  # see set_start_aside
        self.last_good = net.theta.copy()
        self.final = net.theta.copy()  # each model's weights when it stopped
        self.limit = np.full(K, math.inf)
        #: a step whose cost is below this stops no active model (the per-step fast path)
        self.ceiling = math.inf
        self.t0 = time.perf_counter()
        self.epoch = 0
        self._no_val = np.full(K, math.nan)

    # ------------------------------------------------------------------ events

    def val_loss(self) -> Array:
        if self.val is None:
            return self._no_val
        return self.net.cost(self.val[0], self.val[1], self.loss)

    def start(
        self, cost: Array, grad_norm: Array, lr: float, reference: float = 0.0, **extra
    ) -> None:
        """Record epoch 0 (the network before training) from its cost and gradient norms.

        A model diverges when its cost passes ``divergence_factor`` times the larger of
        its starting cost and ``reference`` (a cost that is no sign of trouble).
        """
        cost = np.asarray(cost, dtype=float)
        vl = self.val_loss()
        for k in range(self.k):
            self.histories[k].append(0, cost[k], vl[k], lr, grad_norm[k], 0.0, **extra)
        floor = max(float(reference), 1e-300) if math.isfinite(reference) else 1e-300
        self.limit = self.settings.divergence_factor * np.maximum(cost, floor)
        self._set_ceiling()
        if self.patience is not None:  # the best weights matter only to early stopping
            self._track(vl if self.monitor_val else cost, 0)
        self.check(cost)
        # the clock covers the epochs (with their bookkeeping), not the initial
        # evaluation, which on a short run with a large training set would dominate
        self.t0 = time.perf_counter()

    def set_start_aside(self) -> None:
        """After :meth:`start`: epoch 0 no longer counts for early stopping's patience, but
        stays a candidate for the end (see :func:`nnfit.engine.train.train`), for a method
        whose first steps rise above the start by design: variable projection's ridge."""
        if self.patience is not None and self.settings.restore_best:
            self.start_aside = (self.best.copy(), self.best_theta.copy())
            self.best.fill(math.inf)

    def check(self, cost: Array) -> bool:
        """After a step: stop the models whose cost is not finite or exploded.

        Returns True when no model is left training.
        """
        bad = self.active & ~(np.asarray(cost) < self.limit)  # NaN compares False
        for k in np.flatnonzero(bad):
            self._stop(k, "diverged", status="diverged")
        return self.n_active == 0

    def _set_ceiling(self) -> None:
        limits = self.limit[self.active]
        self.ceiling = float(limits.min()) if limits.size else math.inf

    def end_epoch(self, train_loss: Array, grad_norm: Array, lr: float, **extra) -> bool:
        """Record an epoch of every active model; True when none is left training."""
        self.epoch += 1
        theta = self.net.theta
        # one sum shows a non-finite weight anywhere (a sum that overflows, |θ| near
        # 1e308, counts as diverged too); then each model's
        if not math.isfinite(np.add.reduce(theta, axis=None)):
            for k in np.flatnonzero(self.active & ~np.isfinite(np.add.reduce(theta, axis=1))):
                self._stop(k, "diverged", status="diverged")
        act = self.active.copy()
        everyone = self.n_active == self.k
        if everyone:
            np.copyto(self.last_good, theta)
            self.epochs_done.fill(self.epoch)
        else:
            self.last_good[act] = theta[act]
            self.epochs_done[act] = self.epoch
        vl = self.val_loss()
        wall = time.perf_counter() - self.t0
        train_loss = np.asarray(train_loss, dtype=float)
        for k in range(self.k) if everyone else np.flatnonzero(act):
            self.histories[k].append(
                self.epoch, train_loss[k], vl[k], lr, grad_norm[k], wall, **extra
            )
        out = None
        if self.patience is not None:
            out = self._track(vl if self.monitor_val else train_loss, self.epoch)
        if self.callbacks:
            event = EpochEvent(
                self.epoch, self.settings.epochs, train_loss, vl, lr, grad_norm, wall, self.net, act
            )
            for cb in self.callbacks:
                stop = cb(event)
                if stop is not None and stop is not False:
                    mask = act & self._stop_mask(stop)
                    for k in np.flatnonzero(mask):
                        if self.active[k]:
                            self._stop(k, "callback")
        if out is not None and out.any():
            for k in np.flatnonzero(out & self.active):
                self._stop(k, "early_stopping" if self.monitor_val else "converged")
        return self.n_active == 0

    def _stop_mask(self, stop) -> Array:
        """A callback's answer as one flag per model: True, False or one bool each. A
        number or a loss returned by mistake is refused, not read as 'stop'."""
        flags = np.asarray(stop)
        if flags.dtype != bool or flags.shape not in ((), (self.k,)):
            shown = repr(stop)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise TypeError(
                f"a callback returns None, True or False, or {self.k} bools (one per "
                f"model), got {shown}"
            )
        return np.broadcast_to(flags, (self.k,))

    def _track(self, value: Array, epoch: int) -> Array:
        """Early-stopping bookkeeping; returns the models whose patience ran out."""
        value = np.asarray(value, dtype=float)
        out = np.zeros(self.k, dtype=bool)
        for k in np.flatnonzero(self.active):
            if value[k] < self.best[k] - self.min_delta:
                self.best[k], self.best_epoch[k], self.wait[k] = value[k], epoch, 0
                self.best_theta[k] = self.net.theta[k]
            elif epoch:
                self.wait[k] += 1
                out[k] = self.patience is not None and self.wait[k] >= self.patience
        return out

    def _stop(self, k: int, reason: str, status: str = "ok") -> None:
        self.active[k] = False
        self.n_active -= 1
        self.status[k], self.reason[k] = status, reason
        self.final[k] = self.last_good[k] if status != "ok" else self.net.theta[k]
        self._set_ceiling()

    def stop_all(self, reason: str) -> None:
        """Stop every model still training, e.g. when the method has converged."""
        for k in np.flatnonzero(self.active):
            self._stop(k, reason)

    def count_steps(self, n: int = 1) -> None:
        """Add n steps to every active model (called once an epoch, and before a stop)."""
        if n:
            self.steps[self.active] += n

    def epochs(self):
        """The epoch numbers still to run (1, 2, …) while any model is active."""
        while self.epoch < self.settings.epochs and self.n_active:
            yield self.epoch + 1

    # ------------------------------------------------------------------ the end

    def interrupt(self) -> None:
        """Ctrl-C: every active model keeps the weights of its last finished epoch."""
        for k in np.flatnonzero(self.active):
            self.active[k] = False
            self.n_active -= 1
            self.status[k] = self.reason[k] = "interrupted"
            self.final[k] = self.last_good[k]
            self.histories[k].trim()

    def finish(self) -> list[TrainResult]:
        """Set each model's final weights (its best when early stopping restores them)."""
        theta = self.net.theta
        for k in np.flatnonzero(self.active):  # ran out of epochs
            self.final[k] = theta[k]
        self.active[:] = False
        self.n_active = 0
        theta[...] = self.final
        wall = time.perf_counter() - self.t0
        out = []
        for k in range(self.k):
            best = int(self.epochs_done[k])
            # a diverged model too: its best epoch, not the last finite one before it blew up
            restore = self.status[k] in ("ok", "diverged") and self.settings.restore_best
            if restore and self.patience is not None:
                theta[k] = self.best_theta[k]
                best = int(self.best_epoch[k])
            out.append(
                TrainResult(
                    self.status[k],
                    self.reason[k],
                    int(self.epochs_done[k]),
                    int(self.steps[k]),
                    wall,
                    best,
                    self.histories[k],
                )
            )
        return out
