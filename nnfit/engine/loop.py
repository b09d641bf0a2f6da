"""The training loop: epochs of shuffled mini-batches, early stopping, divergence checks.

:func:`train` is pure in the sense of the engine: arrays and an ``np.random.Generator``
in, a :class:`TrainResult` out; it never prints or writes files. Progress reaches the
caller through ``callback(info)``, called once per epoch; returning ``True`` from it
stops training. Ctrl-C ends training with ``status="interrupted"`` and the weights of
the last finished epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nnfit.engine import optimizers as opt
from nnfit.engine import rowblocks as blocked_mod
from nnfit.engine.network import Network
from nnfit.engine.schedules import SCHEDULES

Array = np.ndarray


@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters of one training run (never mutated; learned state lives elsewhere).

    ``batch_size=None`` (or one at least the training-set size) is full-batch training;
    ``lr=None`` takes the optimizer's default; ``patience=None`` turns early stopping off.
    Early stopping watches the validation loss when there is a validation set and
    ``monitor == "val"``, the training cost otherwise ("until the cost stabilizes").
    """

    loss: str = "mse"
    optimizer: str = "adam"
    optimizer_params: dict = field(default_factory=dict)
    lr: float | None = None
    schedule: str = "constant"
    schedule_params: dict = field(default_factory=dict)
    batch_size: int | None = 32
    epochs: int = 1000
    l1: float = 0.0
    l2: float = 0.0
    clip_norm: float | None = None
    patience: int | None = 100
    min_delta: float = 0.0
    monitor: str = "val"
    restore_best: bool = True
    divergence_factor: float = 1e6


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
        self.epoch.append(epoch)
        self.train_loss.append(train_loss)
        self.val_loss.append(val_loss)
        self.lr.append(lr)
        self.grad_norm.append(np.asarray(grad_norm, dtype=float))
        self.wall_s.append(wall_s)
        for k, v in extra.items():
            self.extra.setdefault(k, []).append(v)

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
class EpochInfo:
    """What the progress callback sees after each epoch."""

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    lr: float
    grad_norm: Array
    wall_s: float
    network: Network


@dataclass
class TrainResult:
    status: str  # ok | diverged | interrupted
    stop_reason: str  # epochs | early_stopping | converged | diverged | callback | interrupted
    epochs: int
    steps: int
    wall_s: float
    best_epoch: int
    history: History


class _Monitor:
    """Early stopping: remembers the best value and weights, counts epochs without gain."""

    def __init__(self, patience, min_delta):
        self.patience, self.min_delta = patience, min_delta
        self.best, self.best_epoch, self.best_theta, self.wait = math.inf, 0, None, 0

    def update(self, value, epoch, theta) -> bool:
        """Record ``value``; return True when patience has run out."""
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            self.best_theta = theta.copy()
            return False
        self.wait += 1
        return self.patience is not None and self.wait >= self.patience


def resolve_lr(settings: TrainSettings) -> float:
    if settings.lr is not None:
        return float(settings.lr)
    return opt.OPTIMIZERS[settings.optimizer].default_lr


def train(
    net: Network,
    X: Array,
    y: Array,
    X_val: Array | None = None,
    y_val: Array | None = None,
    settings: TrainSettings | None = None,
    rng: np.random.Generator | None = None,
    callback: Callable[[EpochInfo], bool | None] | None = None,
) -> TrainResult:
    """Train ``net`` in place on (X, y) and return what happened.

    Parameters
    ----------
    X, y : arrays of shape (n, d) and (n, out)
        Training set, in the units the network sees (any scaling already applied).
    X_val, y_val : arrays or None
        Validation set for the val curve and early stopping.
    rng : np.random.Generator
        Source of the per-epoch shuffles.
    """
    s = settings or TrainSettings()
    rng = rng if rng is not None else np.random.default_rng(0)
    X = np.ascontiguousarray(X, dtype=net.dtype)
    y = np.ascontiguousarray(np.reshape(y, (len(y), -1)), dtype=net.dtype)
    has_val = X_val is not None and len(X_val) > 0
    if has_val:
        X_val = np.ascontiguousarray(X_val, dtype=net.dtype)
        y_val = np.ascontiguousarray(np.reshape(y_val, (len(y_val), -1)), dtype=net.dtype)

    if opt.OPTIMIZERS[s.optimizer].second_order:
        from nnfit.engine.second_order import METHODS

        return METHODS[s.optimizer](net, X, y, X_val, y_val, s, callback)
    n = len(X)
    optimizer = opt.make(s.optimizer, net.n_params, net.dtype, net.n_weights, **s.optimizer_params)
    full = optimizer.full_batch or s.batch_size is None or s.batch_size >= n
    bs = n if full else int(s.batch_size)
    lr0 = resolve_lr(s)
    sched = SCHEDULES[s.schedule]
    monitor_val = has_val and s.monitor == "val"

    def val_loss() -> float:
        return net.cost(X_val, y_val, s.loss) if has_val else math.nan

    blocked = (
        blocked_mod.BlockedGradient(net, X, y) if (full and blocked_mod.worth_it(net, n)) else None
    )

    def batch_cost(xb, yb) -> float:
        if blocked is not None:  # the whole batch, in cache-sized blocks over threads
            return blocked.loss_grad(s.loss, s.l1, s.l2)
        return net.loss_grad(xb, yb, s.loss, s.l1, s.l2)

    hist = History()
    start_cost = batch_cost(X, y)
    hist.append(
        0,
        start_cost,
        val_loss(),
        sched(lr0, 0, s.epochs, **s.schedule_params),
        net.layer_grad_norms(),
        0.0,
    )
    limit = s.divergence_factor * max(start_cost, 1e-300)
    # the clock covers the epochs (with their bookkeeping), not the initial evaluation,
    # which on a short run with a large training set would dominate
    t0 = time.perf_counter()
    if not math.isfinite(start_cost):
        if blocked is not None:
            blocked.close()
        return TrainResult("diverged", "diverged", 0, 0, 0.0, 0, hist)

    mon = _Monitor(s.patience, s.min_delta)
    mon.update(hist.val_loss[0] if monitor_val else start_cost, 0, net.theta)
    last_good = net.theta.copy()
    theta, grad, clip = net.theta, net.grad, s.clip_norm
    status, reason, steps, epoch = "ok", "epochs", 0, 0
    Xs, ys = X, y
    try:
        for epoch in range(1, s.epochs + 1):
            lr = sched(lr0, epoch - 1, s.epochs, **s.schedule_params)
            if not full:
                perm = rng.permutation(n)
                Xs, ys = X[perm], y[perm]
            total = 0.0
            for i in range(0, n, bs):
                xb, yb = Xs[i : i + bs], ys[i : i + bs]
                c = batch_cost(xb, yb)
                if not c < limit:  # also catches NaN
                    status = reason = "diverged"
                    break
                total += c * len(xb)
                if clip is not None:
                    norm = math.sqrt(float(grad @ grad))
                    if norm > clip:
                        grad *= clip / norm
                optimizer.step(theta, grad, lr)
                steps += 1
            if status == "diverged" or not np.isfinite(theta).all():
                status = reason = "diverged"
                theta[...] = last_good
                epoch -= 1
                break
            last_good[...] = theta
            train_loss = total / n
            vl = val_loss()
            norms = net.layer_grad_norms()
            wall = time.perf_counter() - t0
            hist.append(epoch, train_loss, vl, lr, norms, wall)
            stop = mon.update(vl if monitor_val else train_loss, epoch, theta)
            if callback is not None and callback(
                EpochInfo(epoch, s.epochs, train_loss, vl, lr, norms, wall, net)
            ):
                reason = "callback"
                break
            if stop:
                reason = "early_stopping" if monitor_val else "converged"
                break
    except KeyboardInterrupt:
        theta[...] = last_good
        status = reason = "interrupted"
        epoch = hist.epoch[-1]
    finally:
        if blocked is not None:
            blocked.close()

    best_epoch = epoch
    if status == "ok" and s.restore_best and s.patience is not None and mon.best_theta is not None:
        theta[...] = mon.best_theta
        best_epoch = mon.best_epoch
    return TrainResult(status, reason, epoch, steps, time.perf_counter() - t0, best_epoch, hist)
