"""Forward and backward passes for training, and the batches they run on.

Activations are stored feature-major, (width + 1, rows) per model with a last row of
ones, so each layer is one matrix product [W_lᵀ | b_l] @ [a_{l−1}; 1] with its bias
folded in, and every activation array is contiguous for the ufuncs that follow. Every
buffer is allocated once per batch size; a step allocates nothing but the loss's own
temporaries. With one model the arrays are 2-D, with K models 3-D (one batched product
per layer for all of them); the arithmetic per model is the same.

The training rows live in one buffer [x | 1 | y]; each epoch's shuffle is one
``np.take`` into a second buffer whose slices are the batches.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from nnfit.engine.losses import Loss
from nnfit.engine.network import Network

Array = np.ndarray

#: full batches with at least this many rows × units (all models) go in row blocks
MIN_ELEMENTS = 1 << 20
#: rows per block are chosen so that one block of the widest layer is about this big
BLOCK_BYTES = 1024 * 1024
#: blocks are dealt to this many lanes, each with its own accumulator, whatever the
#: number of threads: the sum, and so the weights, do not depend on the machine
LANES = 2


def _lead(net: Network):
    """Strip the model axis of one network, so its products are plain 2-D ones."""
    return (lambda a: a[0]) if net.k == 1 else (lambda a: a)


class Pass:
    """Cost and gradient of ``net`` on batches of ``rows`` samples, written into ``grad``.

    ``run(x, xT, y, scale)`` takes the feature-major input with its ones row ``x``
    (d + 1, rows), the same as rows ``xT`` (rows, d + 1) and the targets ``y``
    (out, rows), each with a leading model axis or shared by all models. It returns
    scale·Σρ(g − y) per model, (K,) float64, and leaves scale·∂Σρ/∂θ in ``grad`` (K, P).
    """

    def __init__(self, net: Network, rows: int, loss: Loss, grad: Array):
        sq = _lead(net)
        lead = () if net.k == 1 else (net.k,)
        dt, sizes = net.dtype, net.sizes
        L = net.n_layers
        self.k, self.L, self.loss, self.acts = net.k, L, loss, net.activations
        self.Wt = [sq(b) for b in net.blocks]
        self.WnT = [w[..., :, :-1].swapaxes(-1, -2) for w in self.Wt]
        self.grads = [sq(b) for b in net.block_views(grad)]
        self.H = [np.ones((*lead, sizes[l + 1] + 1, rows), dt) for l in range(L - 1)]
        self.HT = [h.swapaxes(-1, -2) for h in self.H]
        self.A = [h[..., :-1, :] for h in self.H] + [np.empty((*lead, sizes[-1], rows), dt)]
        self.Z = [
            np.empty_like(a) if act.needs_z else a for a, act in zip(self.A, self.acts, strict=True)
        ]
        self.D = [np.empty((*lead, s, rows), dt) for s in sizes[1:]]
        self.T = [np.empty((*lead, s, rows), dt) for s in sizes[1:]]
        self.identity_out = net.specs[-1].name == "identity"

    def forward(self, x: Array) -> Array:
        """The network's output (…, out, rows) for the input ``x``; keeps z and a."""
        a = x
        for l in range(self.L):
            np.matmul(self.Wt[l], a, out=self.Z[l])
            self.acts[l].forward_(self.Z[l], self.A[l])
            a = self.H[l] if l < self.L - 1 else self.A[l]
        return a

    def run(self, x: Array, xT: Array, y: Array, scale: float) -> Array:
        L, D = self.L, self.D
        out = self.forward(x)
        r, tmp = D[-1], self.T[-1]
        np.subtract(out, y, out=r)
        if self.loss.least_squares:
            np.multiply(r, r, out=tmp)
            value = np.add.reduce(tmp.reshape(self.k, -1), axis=1) * (0.5 * scale)
        else:
            value = np.add.reduce(self.loss.rho(r).reshape(self.k, -1), axis=1) * scale
            np.copyto(r, self.loss.drho(r))
        r *= scale
        if not self.identity_out:
            self.acts[-1].backward_(r, self.Z[-1], self.A[-1], tmp)
        for l in range(L - 1, -1, -1):
            np.matmul(D[l], xT if l == 0 else self.HT[l - 1], out=self.grads[l])
            if l:
                np.matmul(self.WnT[l], D[l], out=D[l - 1])
                self.acts[l - 1].backward_(D[l - 1], self.Z[l - 1], self.A[l - 1], self.T[l - 1])
        return value.astype(np.float64, copy=False)


class TrainSet:
    """The training rows of K models and their batches.

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
        self.XY = np.empty((n, d + 1 + self.out), dtype=dtype)
        self.XY[:, :d], self.XY[:, d], self.XY[:, d + 1 :] = X, 1.0, y
        self.full = batch_size is None or batch_size >= n
        self.rows = n if self.full else int(batch_size)
        if self.full:
            self.buffer = self.XY
            self.batches = [self._views(self.XY)]
        else:
            lead = () if k == 1 else (k,)
            self.buffer = np.empty((*lead, n, self.XY.shape[1]), dtype=dtype)
            self.batches = [
                self._views(self.buffer[..., i : i + self.rows, :]) for i in range(0, n, self.rows)
            ]

    def _views(self, block: Array):
        xT = block[..., : self.d + 1]
        return xT.swapaxes(-1, -2), xT, block[..., self.d + 1 :].swapaxes(-1, -2)

    def full_batch(self):
        """(x, xT, y) of every row, unshuffled, shared by all models."""
        return self._views(self.XY)

    def shuffle(self, rngs) -> None:
        """Draw one permutation per model and gather the rows in that order."""
        if self.full:
            return
        perms = [rng.permutation(self.n) for rng in rngs]
        index = perms[0] if self.k == 1 else np.stack(perms)
        np.take(self.XY, index, axis=0, out=self.buffer, mode="clip")

    def row_counts(self) -> list[int]:
        return sorted({xT.shape[-2] for _, xT, _ in self.batches})


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
    """Cost and gradient on every training row, in cache-sized row blocks when large.

    A large full batch (8,192 points through 2,048 units) streams arrays of 128 MB
    through memory several times per step; cut into blocks of a few dozen rows, every
    intermediate stays in cache. Blocks are dealt to ``LANES`` lanes with their own
    accumulators, run on up to two threads (NumPy releases the GIL in its loops and
    BLAS calls); the result equals the unblocked one up to the order of summation.
    """

    def __init__(self, net: Network, data: TrainSet, loss: Loss, grad: Array):
        self.net, self.data, self.grad = net, data, grad
        n = data.n
        width = max(net.sizes)
        self.blocked = n * width * net.k >= MIN_ELEMENTS
        if not self.blocked:
            self.whole = Pass(net, n, loss, grad)
            return
        rows = max(8, BLOCK_BYTES // (width * net.k * net.dtype.itemsize))
        XY = data.XY
        self.blocks = [data._views(XY[i : i + rows]) for i in range(0, n, rows)]
        self.acc = [np.zeros_like(grad) for _ in range(LANES)]
        self.tmp = [np.zeros_like(grad) for _ in range(LANES)]
        self.passes = [
            {r: Pass(net, r, loss, buf) for r in {rows, n % rows or rows}} for buf in self.tmp
        ]
        self.threads = max(1, min(blas_threads(), LANES))
        self.pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def _lane(self, t: int, scale: float) -> Array:
        acc, tmp, passes = self.acc[t], self.tmp[t], self.passes[t]
        acc[...] = 0.0
        value = np.zeros(self.net.k)
        for x, xT, y in self.blocks[t::LANES]:
            value += passes[xT.shape[-2]].run(x, xT, y, scale)
            acc += tmp
        return value

    def run(self) -> Array:
        """Σρ/n per model (K,), and ∂/∂θ of it in ``grad``."""
        scale = 1.0 / self.data.n
        if not self.blocked:
            return self.whole.run(*self.data.full_batch(), scale)
        from threadpoolctl import threadpool_limits

        # each thread's small products run single-threaded: the threads are the parallelism
        with threadpool_limits(limits=1, user_api="blas"):
            if self.pool is None:
                parts = [self._lane(t, scale) for t in range(LANES)]
            else:
                parts = list(self.pool.map(lambda t: self._lane(t, scale), range(LANES)))
        self.grad[...] = self.acc[0]
        for acc in self.acc[1:]:
            self.grad += acc
        return sum(parts)

    def close(self) -> None:
        if self.blocked and self.pool is not None:
            self.pool.shutdown()


@dataclass
class Problem:
    """What a training method works on: the network, its rows, loss, penalties, and one
    gradient buffer (K, P) that every pass writes into."""

    net: Network
    data: TrainSet
    loss: Loss
    l1: float = 0.0
    l2: float = 0.0
    rngs: Sequence[np.random.Generator] = ()
    grad: Array = field(init=False)
    full: FullPass = field(init=False)

    def __post_init__(self):
        self.grad = np.zeros_like(self.net.theta)
        self.full = FullPass(self.net, self.data, self.loss, self.grad)

    @property
    def X(self) -> Array:
        return self.data.XY[:, : self.data.d]

    @property
    def Y(self) -> Array:
        return self.data.XY[:, self.data.d + 1 :]

    def full_cost(self) -> Array:
        """C on every training row, penalties included, per model; fills ``grad``."""
        return self.full.run() + self.net.add_penalty_grad(self.grad, self.l1, self.l2)

    def begin(self, session, lr: float, **extra) -> None:
        """Hand the session epoch 0: the cost and gradient norms before training."""
        cost = self.full_cost()
        session.start(cost, self.net.layer_norms(self.grad), lr, **extra)

    def clip(self, limit: float) -> None:
        """Scale each model's gradient to a 2-norm of at most ``limit``."""
        for g in self.grad:  # one dot per model: the same sum as alone
            norm = math.sqrt(float(g @ g))
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
        cost = full.run() + net.add_penalty_grad(grad, l1, l2)
    finally:
        full.close()
    return cost, grad
