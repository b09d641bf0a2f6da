"""The rows a training method works on, in batches or all at once, and the problem it solves.

:class:`TrainSet` keeps the training rows feature-major, as columns [x; 1; y], and
shuffles them once an epoch into a buffer whose slices are the batches;
:class:`FullPass` runs a :class:`~nnfit.engine.backprop.Pass` over every row, in
cache-sized blocks over two threads when the batch is large; :class:`Problem` holds
them with the loss, the penalties and the gradient buffer every pass writes into.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from nnfit.engine.backprop import Pass
from nnfit.engine.losses import Loss
from nnfit.engine.network import Network

__all__ = ["FullPass", "Pass", "Penalty", "Problem", "TrainSet", "gradient"]

Array = np.ndarray

#: full batches with at least this many rows × units (all models) go in row blocks
MIN_ELEMENTS = 1 << 20
#: rows per block are chosen so that one block of the widest layer is about this big,
#: an L2 cache (W3 of ``make bench``: 40 ms a step at 1 MiB, 44 at 512 KiB, on 1 MiB L2)
BLOCK_BYTES = 1024 * 1024
#: blocks are summed in this many groups, each with its own accumulator, whatever the
#: number of threads: the sum, and so the weights, do not depend on the machine; a
#: thread takes the next group when it comes free
GROUPS = 16
#: threads a blocked full batch runs on at most
LANES = 2


class TrainSet:
    """The training rows of K models and their batches.

    The rows are stored feature-major, as columns [x; 1; y] of ``XY`` (d + 1 + out, n),
    so that every batch's x and y have contiguous rows; an epoch's shuffle is one
    ``np.take`` of columns into ``buffer``, whose slices are the batches.

    Parameters
    ----------
    X, y : arrays (n, d) and (n, out)
        In the units the network sees (any scaling already applied).
    k : int
        Number of models; each gets its own shuffle of the same rows.
    batch_size : int or None
        None (or at least n) is full-batch: one batch, never shuffled, shared by all.
    """

    def __init__(self, X: Array, y: Array, dtype, k: int, batch_size: int | None):
        X = np.asarray(X)
        y = np.reshape(np.asarray(y), (len(X), -1))
        n, d = X.shape
        self.n, self.d, self.out, self.k = n, d, y.shape[1], k
        self.X, self.Y = np.array(X, dtype=dtype), np.array(y, dtype=dtype)
        self.XY = np.empty((d + 1 + self.out, n), dtype=dtype)
        self.XY[:d], self.XY[d], self.XY[d + 1 :] = self.X.T, 1.0, self.Y.T
        self.full = batch_size is None or batch_size >= n
        self.rows = n if self.full else int(batch_size)
        if self.full:
            self.buffer = self.XY
            self.batches = [self._views(self.XY)]
        else:
            lead = () if k == 1 else (k,)
            self.buffer = np.empty((self.XY.shape[0], *lead, n), dtype=dtype)
            self.index = np.empty((k, n), dtype=np.intp)
            self.rows_in_order = np.arange(n, dtype=np.intp)
            self.batches = [
                self._views(self.buffer[..., i : i + self.rows]) for i in range(0, n, self.rows)
            ]

    def _views(self, block: Array):
        """(x, xT, y) of a block of columns (d + 1 + out, [K,] rows)."""
        x = np.moveaxis(block[: self.d + 1], 0, -2)
        return x, x.swapaxes(-1, -2), np.moveaxis(block[self.d + 1 :], 0, -2)

    def full_batch(self):
        """(x, xT, y) of every row, unshuffled, shared by all models."""
        return self._views(self.XY)

    def shuffle(self, rngs) -> None:
        """Draw one permutation per model and gather the rows in that order.

        Each model's is ``rng.permutation(n)`` to the bit, shuffled in place from one
        copy of 0 … n − 1 for all (W4 of ``make bench``, eight models: 78 µs an epoch
        against 117 for eight calls of ``permutation``, which allocate)."""
        if self.full:
            return
        self.index[...] = self.rows_in_order
        for k, rng in enumerate(rngs):
            rng.shuffle(self.index[k])
        index = self.index[0] if self.k == 1 else self.index
        self.XY.take(index, axis=1, out=self.buffer, mode="clip")


def one_blas_thread(controller=None):
    """A context holding every BLAS library to one thread (threadpoolctl)."""
    if controller is None:
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
    return controller.limit(limits=1, user_api="blas")


def blas_threads() -> int:
    """Threads the BLAS may use here (1 inside a sweep worker, which pins it)."""
    try:
        from threadpoolctl import threadpool_info

        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if info:
            return max(1, int(info[0]["num_threads"]))
    except Exception:  # threadpoolctl cannot inspect this BLAS: fall back to the cores
        pass
    return os.cpu_count() or 1


class FullPass:
    """Σρ and its gradient on every training row, in cache-sized row blocks when large.

    A large full batch (8,192 points through 2,048 units) streams arrays of 128 MB
    through memory several times per step; cut into blocks of a few dozen rows, every
    intermediate stays in cache. The blocks form ``GROUPS`` groups, each summed in order
    into its own accumulator; up to ``LANES`` threads take the next group as they come
    free (NumPy releases the GIL in its loops and BLAS calls, which run single-threaded
    here), so a thread the system holds up does not hold up the step, and the sum over
    the groups in order is the same whichever thread did which. The result equals the
    unblocked one up to the order of summation.

    ``unscaled()`` is a :class:`Pass` step on all rows (∂Σρ/∂θ into ``grad``, the
    models' values into ``vals``); ``run()`` is the cost Σρ/n and its gradient.
    """

    def __init__(
        self, net: Network, data: TrainSet, loss: Loss, grad: Array, vals: Array | None = None
    ):
        self.net, self.data, self.grad, self.k = net, data, grad, net.k
        n = data.n
        width = max(net.sizes)
        self.blocked = n * width * net.k >= MIN_ELEMENTS
        self.half = 0.5 if loss.least_squares else 1.0
        self.vals = np.zeros(net.k, net.dtype) if vals is None else vals
        if not self.blocked:
            fn = self.fn = Pass(net, n, loss).bind(grad, self.vals)
            x, xT, y = data.full_batch()
            self.unscaled = lambda: fn(x, xT, y)
            return
        rows = max(8, BLOCK_BYTES // (width * net.k * net.dtype.itemsize))
        self.blocks = [data._views(data.XY[:, i : i + rows]) for i in range(0, n, rows)]
        nb = len(self.blocks)
        count = min(GROUPS, nb)
        self.groups = [range(g * nb // count, (g + 1) * nb // count) for g in range(count)]
        self.acc = np.zeros((count, *grad.shape), grad.dtype)
        self.block_vals = np.zeros((nb, net.k), net.dtype)
        self.ones = np.ones(net.k, net.dtype)
        self.threads = max(1, min(blas_threads(), LANES))
        self.lanes = [self._lane(loss, rows) for _ in range(self.threads)]
        self.pool = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None
        self.unscaled = self._blocked
        from threadpoolctl import ThreadpoolController

        self.blas = ThreadpoolController()

    def _lane(self, loss: Loss, rows: int):
        """One thread's buffers and, per group, its blocks' step functions: a group's
        first block writes into the group's accumulator, the others into scratch."""
        passes = {r: Pass(self.net, r, loss) for r in {rows, self.data.n % rows or rows}}
        tmp = np.zeros_like(self.grad)
        lane = []
        for g, members in enumerate(self.groups):
            fns = []
            for b in members:
                x, xT, y = self.blocks[b]
                out = self.acc[g] if b == members[0] else tmp
                fn = passes[xT.shape[-2]].bind(out, self.block_vals[b])
                fns.append((b, fn, x, xT, y))
            lane.append(fns)
        return tmp, lane

    def _work(self, t: int, queue) -> None:
        tmp, lane = self.lanes[t]
        keep = self.k == 1 and self.half == 0.5  # one model, squared: c is its value
        with np.errstate(over="ignore"):
            for g in queue:  # a shared iterator: each group is taken once
                acc = self.acc[g]
                for i, (b, fn, x, xT, y) in enumerate(lane[g]):
                    c = fn(x, xT, y)
                    if keep:
                        self.block_vals[b, 0] = c
                    if i:
                        acc += tmp

    def _blocked(self):
        queue = iter(range(len(self.groups)))
        pending = [self.pool.submit(self._work, t, queue) for t in range(1, self.threads)]
        self._work(0, queue)
        for p in pending:
            p.result()
        np.add.reduce(self.acc, axis=0, out=self.grad)
        np.add.reduce(self.block_vals, axis=0, out=self.vals)
        if self.k == 1:
            return self.vals[0]
        return np.dot(self.vals, self.ones) if self.half == 0.5 else self.vals.max()

    def run(self) -> Array:
        """Σρ/n per model (K,) float64, and ∂/∂θ of it in ``grad``."""
        inv = 1.0 / self.data.n
        if self.blocked:
            # each thread's small products run single-threaded: the threads are the parallelism
            with one_blas_thread(self.blas), np.errstate(over="ignore"):
                c = self.unscaled()
        else:
            with np.errstate(over="ignore"):
                c = self.unscaled()
        self.grad *= inv
        if self.k == 1 and self.half == 0.5 and not self.blocked:
            return np.array([self.half * inv * float(c)])
        return (self.half * inv) * self.vals.astype(np.float64)

    def close(self) -> None:
        if self.blocked and self.pool is not None:
            self.pool.shutdown()


class Penalty:
    """λ₁·Σ|w| + λ₂·½·Σw² per model on the weights (never the biases), the formulas of
    ``losses.REGULARIZERS``, with its gradient added in place: nothing allocated."""

    def __init__(self, net: Network, l1: float = 0.0, l2: float = 0.0):
        self.l1, self.l2, self.active = float(l1), float(l2), bool(l1 or l2)
        K, P = net.theta.shape
        dt = net.dtype
        self.mask = net.weight_mask
        self.w, self.tmp = np.empty((K, P), dt), np.empty((K, P), dt)
        self.sums = np.empty((K, 1, 1), dt)
        self.ones = np.ones((P, 1), dt)
        self.value, self.part = np.zeros(K), np.zeros(K)

    def add(self, theta: Array, grad: Array, factor: float = 1.0) -> Array:
        """Add factor·∂penalty/∂θ to ``grad`` (K, P); the penalties (K,), a buffer."""
        value = self.value
        value[...] = 0.0
        if not self.active:
            return value
        K = len(value)
        w, tmp, sums = self.w, self.tmp, self.sums
        np.multiply(theta, self.mask, out=w)
        if self.l2:
            np.matmul(w.reshape(K, 1, -1), w.reshape(K, -1, 1), out=sums)  # a dot per model
            np.multiply(sums.reshape(K), 0.5 * self.l2, out=value)
            np.multiply(w, self.l2 * factor, out=tmp)
            grad += tmp
        if self.l1:
            np.abs(w, out=tmp)
            np.matmul(tmp.reshape(K, 1, -1), self.ones, out=sums)
            np.multiply(sums.reshape(K), self.l1, out=self.part)
            value += self.part
            np.sign(w, out=tmp)  # 0 at w = 0: a weight at exactly zero stays there
            tmp *= self.l1 * factor
            grad += tmp
        return value


@dataclass
class Problem:
    """What a training method works on: the network, its rows, loss, penalties, and one
    gradient buffer (K, P) that every pass writes into.

    ``grad`` is the first half of ``pair`` (2, K, P), whose second half is scratch of the
    same shape (first-order methods keep g and g² there side by side); ``vals`` (K,)
    receives the models' values of a step.
    """

    net: Network
    data: TrainSet
    loss: Loss
    l1: float = 0.0
    l2: float = 0.0
    rngs: Sequence[np.random.Generator] = ()
    pair: Array = field(init=False)
    grad: Array = field(init=False)
    vals: Array = field(init=False)
    full: FullPass = field(init=False)
    penalty: Penalty = field(init=False)

    def __post_init__(self):
        self.pair = np.zeros((2, *self.net.theta.shape), self.net.dtype)
        self.grad = self.pair[0]
        self.vals = np.zeros(self.net.k, self.net.dtype)
        self.full = FullPass(self.net, self.data, self.loss, self.grad, self.vals)
        self.penalty = Penalty(self.net, self.l1, self.l2)

    @property
    def X(self) -> Array:
        return self.data.X

    @property
    def Y(self) -> Array:
        return self.data.Y

    def full_cost(self) -> Array:
        """C on every training row, penalties included, per model; fills ``grad``."""
        return self.full.run() + self.penalty.add(self.net.theta, self.grad)

    def begin(self, session, lr: float, **extra) -> None:
        """Hand the session epoch 0: the cost and gradient norms before training, and
        the cost of predicting 0 everywhere, which bounds what counts as diverging
        (after the output layer is solved by least squares the starting cost may be
        1e-20, and a step to 1e-14 is no explosion)."""
        cost = self.full_cost()
        zero = float(self.loss.value(-np.asarray(self.Y, dtype=np.float64)))
        session.start(cost, self.net.layer_norms(self.grad), lr, reference=zero, **extra)

    def steps(self) -> list[tuple]:
        """Per batch of an epoch, (fn, x, xT, y, rows): ``fn(x, xT, y)`` is a
        :class:`Pass` step on it, its gradient in units of 1/``data.rows`` (a shorter
        last batch is scaled up)."""
        data = self.data
        if data.full:
            if self.full.blocked:
                return [(lambda x, xT, y: self.full.unscaled(), None, None, None, data.n)]
            return [(self.full.fn, *data.full_batch(), data.n)]
        fns = {}
        out = []
        for x, xT, y in data.batches:
            rows = xT.shape[-2]
            if rows not in fns:
                ratio = data.rows / rows
                fns[rows] = Pass(self.net, rows, self.loss).bind(self.grad, self.vals, ratio)
            out.append((fns[rows], x, xT, y, rows))
        return out

    def clip(self, limit: float, scale: float = 1.0) -> None:
        """Scale each model's gradient scale·``grad`` to a 2-norm of at most ``limit``."""
        for g in self.grad:  # one dot per model: the same sum as alone
            norm = scale * math.sqrt(float(g @ g))
            if norm > limit:
                g *= limit / norm

    def close(self) -> None:
        self.full.close()


def gradient(net: Network, X: Array, y: Array, loss: Loss, l1=0.0, l2=0.0):
    """Cost (K,) and ∂C/∂θ (K, P) on all of (X, y) by backpropagation, as training does."""
    data = TrainSet(np.asarray(X, dtype=net.dtype), y, net.dtype, net.k, None)
    grad = np.zeros_like(net.theta)
    full = FullPass(net, data, loss, grad)
    try:
        cost = full.run() + Penalty(net, l1, l2).add(net.theta, grad)
    finally:
        full.close()
    return cost, grad
