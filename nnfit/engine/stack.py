"""Several networks of one shape trained together as one stacked ensemble.

A sweep over seeds trains K copies of one architecture. Stacking them turns K small
matrix products per layer into one batched ``np.matmul`` over arrays of shape
(K, batch, width), and K optimizer updates into one over a (K, P) parameter block, so
the Python overhead per step is paid once for all K. Each model keeps its own initial
weights, shuffles, optimizer state, early stopping and divergence check, and ends with
the weights it would have reached alone (the same operations on the same numbers; the
tests compare them).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from nnfit.engine import optimizers as opt
from nnfit.engine.loop import History, TrainResult, TrainSettings, _Monitor, resolve_lr
from nnfit.engine.losses import HUBER_DELTA, REGULARIZERS
from nnfit.engine.network import Network
from nnfit.engine.schedules import SCHEDULES

Array = np.ndarray


def _mse(r):
    return 0.5 * np.add.reduce(r * r, axis=(1, 2)) / r.shape[1], r * (1.0 / r.shape[1])


def _mae(r):
    return np.add.reduce(np.abs(r), axis=(1, 2)) / r.shape[1], np.sign(r) * (1.0 / r.shape[1])


def _huber(r, delta=HUBER_DELTA):
    a = np.abs(r)
    q = np.minimum(a, delta)
    value = np.add.reduce(q * (a - 0.5 * q), axis=(1, 2)) / r.shape[1]
    return value, np.clip(r, -delta, delta) * (1.0 / r.shape[1])


#: the losses of :data:`nnfit.losses.LOSSES` on stacked residuals (K, n, 1): per-model
#: values (K,) and ∂/∂g; the same arithmetic, so each model sees the numbers it would alone
STACKED_LOSSES = {"mse": _mse, "mae": _mae, "huber": _huber}


class Stack:
    """K networks of identical shape; ``theta`` is (K, P), each row one network's vector."""

    def __init__(self, nets: Sequence[Network]):
        first = nets[0]
        if any(
            n.sizes != first.sizes or n.specs != first.specs or n.dtype != first.dtype for n in nets
        ):
            raise ValueError("an ensemble needs networks of one shape, activations and dtype")
        self.K, self.P = len(nets), first.n_params
        self.proto = first
        self.theta = np.stack([n.theta for n in nets])
        self.grad = np.zeros_like(self.theta)
        self.W, self.b, self.gW, self.gb = [], [], [], []
        for (w0, w1), (b0, b1) in first.slices:
            fi, fo = first.sizes[len(self.W)], first.sizes[len(self.W) + 1]
            self.W.append(self.theta[:, w0:w1].reshape(self.K, fi, fo))
            self.b.append(self.theta[:, None, b0:b1])
            self.gW.append(self.grad[:, w0:w1].reshape(self.K, fi, fo))
            self.gb.append(self.grad[:, b0:b1])
        self._f, self._df, self._identity = first._f, first._df, first._identity
        self.n_weights = first.n_weights

    def forward(self, X: Array) -> tuple[Array, list[Array], list[Array]]:
        Z, A = [], []
        a = X
        for l in range(len(self.W)):
            z = np.matmul(a, self.W[l])
            z += self.b[l]
            a = z if self._identity[l] else self._f[l](z)
            Z.append(z)
            A.append(a)
        return a, Z, A

    def loss_grad(self, X: Array, y: Array, loss: str, l1: float, l2: float) -> Array:
        """Per-model cost (K,) on batches X (K, n, d), y (K, n, 1); fills ``grad``."""
        g, Z, A = self.forward(X)
        r = g - y
        value, dg = STACKED_LOSSES[loss](r)
        value = value.astype(np.float64)  # the costs are reported as Python floats alone
        last = len(Z) - 1
        delta = dg if self._identity[last] else dg * self._df[last](Z[last], A[last])
        for l in range(last, -1, -1):
            a_prev = X if l == 0 else A[l - 1]
            self.gW[l][...] = np.matmul(a_prev.transpose(0, 2, 1), delta)
            np.add.reduce(delta, axis=1, out=self.gb[l])
            if l:
                delta = np.matmul(delta, self.W[l].transpose(0, 2, 1))
                if not self._identity[l - 1]:
                    delta *= self._df[l - 1](Z[l - 1], A[l - 1])
        for name, lam in (("l1", l1), ("l2", l2)):
            if lam:
                pen, dpen = REGULARIZERS[name]
                for k in range(self.K):
                    w = self.theta[k, : self.n_weights]
                    value[k] += float(pen(w, lam))
                    self.grad[k, : self.n_weights] += dpen(w, lam)
        return value

    def network(self, k: int) -> Network:
        net = Network(self.proto.sizes, self.proto.specs, self.proto.dtype)
        net.theta[...] = self.theta[k]
        return net


def supported(settings: TrainSettings) -> bool:
    """First-order optimizers other than adamw (second-order methods own their loop, and
    adamw's decay mask is per network)."""
    return not opt.OPTIMIZERS[settings.optimizer].second_order and settings.optimizer != "adamw"


def train_stack(
    nets: Sequence[Network],
    X: Array,
    y: Array,
    X_val: Array | None,
    y_val: Array | None,
    settings: TrainSettings,
    rngs: Sequence[np.random.Generator],
) -> list[TrainResult]:
    """Train ``nets`` (updated in place) as :func:`nnfit.train.train` would, one by one."""
    s = settings
    K = len(nets)
    stack = Stack(nets)
    dtype = stack.proto.dtype
    X = np.ascontiguousarray(X, dtype=dtype)
    y = np.ascontiguousarray(np.reshape(y, (len(y), -1)), dtype=dtype)
    has_val = X_val is not None and len(X_val) > 0
    if has_val:
        X_val = np.ascontiguousarray(X_val, dtype=dtype)
        y_val = np.ascontiguousarray(np.reshape(y_val, (len(y_val), -1)), dtype=dtype)
    n = len(X)
    optimizer = opt.make(s.optimizer, K * stack.P, dtype, None, **s.optimizer_params)
    if not supported(s):
        raise ValueError(f"{s.optimizer} cannot be trained in a stack: train it alone")
    full = optimizer.full_batch or s.batch_size is None or s.batch_size >= n
    bs = n if full else int(s.batch_size)
    lr0 = resolve_lr(s)
    sched = SCHEDULES[s.schedule]
    monitor_val = has_val and s.monitor == "val"
    flat_theta, flat_grad = stack.theta.reshape(-1), stack.grad.reshape(-1)

    def cost_of(k, Xc, yc) -> float:
        return stack.network(k).cost(Xc, yc, s.loss) if len(Xc) else math.nan

    hists = [History() for _ in range(K)]
    t0 = time.perf_counter()
    start = stack.loss_grad(
        np.broadcast_to(X, (K, *X.shape)), np.broadcast_to(y, (K, *y.shape)), s.loss, s.l1, s.l2
    )
    mons = [_Monitor(s.patience, s.min_delta) for _ in range(K)]
    lr_first = sched(lr0, 0, s.epochs, **s.schedule_params)
    for k in range(K):
        vl = cost_of(k, X_val, y_val) if has_val else math.nan
        hists[k].append(
            0,
            float(start[k]),
            vl,
            lr_first,
            stack.proto.layer_grad_norms_from(stack.grad[k]),
            0.0,
        )
        mons[k].update(vl if monitor_val else float(start[k]), 0, stack.theta[k])
    limit = s.divergence_factor * np.maximum(start, 1e-300)
    active = np.isfinite(start)
    status = ["ok" if a else "diverged" for a in active]
    reason = ["epochs" if a else "diverged" for a in active]
    epochs_done = [0] * K
    steps = [0] * K
    last_good = stack.theta.copy()
    stopped = stack.theta.copy()  # each model's weights when it stopped early
    Xs, ys = np.broadcast_to(X, (K, *X.shape)), np.broadcast_to(y, (K, *y.shape))
    # stopped and diverged models ride along until all are done; their numbers are never
    # used again, so the overflow warnings they may raise are noise
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for epoch in range(1, s.epochs + 1):
            if not active.any():
                break
            lr = sched(lr0, epoch - 1, s.epochs, **s.schedule_params)
            if not full:
                perms = [rng.permutation(n) for rng in rngs]
                Xs = np.stack([X[p] for p in perms])
                ys = np.stack([y[p] for p in perms])
            total = np.zeros(K)
            for i in range(0, n, bs):
                c = stack.loss_grad(Xs[:, i : i + bs], ys[:, i : i + bs], s.loss, s.l1, s.l2)
                bad = active & ~(c < limit)
                for k in np.flatnonzero(bad):
                    status[k] = reason[k] = "diverged"
                    stack.theta[k] = last_good[k]
                active &= ~bad
                total += c * min(bs, n - i)
                if s.clip_norm is not None:
                    for k in range(K):  # one dot per model: the same sum as alone
                        gk = stack.grad[k]
                        norm = math.sqrt(float(gk @ gk))
                        if norm > s.clip_norm:
                            gk *= s.clip_norm / norm
                optimizer.step(flat_theta, flat_grad, lr)
                for k in np.flatnonzero(active):
                    steps[k] += 1
            wall = time.perf_counter() - t0
            for k in np.flatnonzero(active):
                if not np.isfinite(stack.theta[k]).all():
                    status[k] = reason[k] = "diverged"
                    stack.theta[k] = last_good[k]
                    active[k] = False
                    continue
                last_good[k] = stack.theta[k]
                epochs_done[k] = epoch
                vl = cost_of(k, X_val, y_val) if has_val else math.nan
                tl = float(total[k] / n)
                hists[k].append(
                    epoch, tl, vl, lr, stack.proto.layer_grad_norms_from(stack.grad[k]), wall
                )
                if mons[k].update(vl if monitor_val else tl, epoch, stack.theta[k]):
                    reason[k] = "early_stopping" if monitor_val else "converged"
                    stopped[k] = stack.theta[k]
                    active[k] = False
    out = []
    for k in range(K):
        best = epochs_done[k]
        if status[k] != "ok":
            theta = last_good[k]
        else:
            theta = stopped[k] if reason[k] != "epochs" else stack.theta[k]
        if (
            status[k] == "ok"
            and s.restore_best
            and s.patience is not None
            and (mons[k].best_theta is not None)
        ):
            theta = mons[k].best_theta
            best = mons[k].best_epoch
        nets[k].theta[...] = theta
        out.append(
            TrainResult(
                status[k],
                reason[k],
                epochs_done[k],
                steps[k],
                time.perf_counter() - t0,
                best,
                hists[k],
            )
        )
    return out
