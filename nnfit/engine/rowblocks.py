"""The full-batch gradient in cache-sized row blocks, spread over threads.

On a large full batch (8,192 points through a layer of 2,048 units) the plain pass
streams arrays of 128 MB through memory several times per step. Cut into blocks of a
few dozen rows, every intermediate array stays in cache; the blocks are shared out to
threads (NumPy releases the GIL inside its loops and BLAS calls), each with its own
buffers and gradient accumulator, and the partial gradients are added at the end.
The result equals the unblocked gradient up to the order of summation (about 1e-15
relative).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from nnfit.engine.losses import LOSSES
from nnfit.engine.network import Network

Array = np.ndarray

#: use blocks when the batch has at least this many rows × units of the widest layer
MIN_ELEMENTS = 1 << 20
#: rows per block are chosen so that one block of the widest layer is about this big
BLOCK_BYTES = 1024 * 1024
#: blocks are dealt to this many lanes, each with its own accumulator, whatever the
#: number of threads: the sum, and so the weights, do not depend on the machine
LANES = 2


def worth_it(net: Network, n: int) -> bool:
    return n * max(net.sizes) >= MIN_ELEMENTS


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


class BlockedGradient:
    """``loss_grad`` for one fixed full batch, in row blocks over ``threads`` threads.

    Cost and gradient are the same for 1 or 2 threads (same lanes, same sums).
    """

    def __init__(
        self,
        net: Network,
        X: Array,
        y: Array,
        threads: int | None = None,
        block_rows: int | None = None,
    ):
        self.net, self.X, self.y = net, X, y
        n = len(X)
        width = max(net.sizes)
        rows = block_rows or max(8, BLOCK_BYTES // (width * net.dtype.itemsize))
        self.blocks = [(i, min(i + rows, n)) for i in range(0, n, rows)]
        self.threads = max(1, min(threads or blas_threads(), LANES))
        self.shadows = [net.shadow() for _ in range(LANES)]
        self.acc = [np.zeros(net.n_params, dtype=net.dtype) for _ in range(LANES)]
        self.pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def _part(self, t: int, loss: str) -> float:
        lossf, dlossf = LOSSES[loss]
        shadow, acc = self.shadows[t], self.acc[t]
        n = len(self.X)
        acc[...] = 0
        value = 0.0
        for a, b in self.blocks[t::LANES]:
            xb = self.X[a:b]
            r = shadow.forward_train(xb) - self.y[a:b]
            share = (b - a) / n  # block means → batch mean
            value += float(lossf(r)) * share
            shadow.backward(xb, dlossf(r) * share)
            acc += shadow.grad
        return value

    def loss_grad(self, loss: str = "mse", l1: float = 0.0, l2: float = 0.0) -> float:
        from threadpoolctl import threadpool_limits

        # each thread's small products run single-threaded: the threads are the parallelism
        with threadpool_limits(limits=1, user_api="blas"):
            if self.pool is None:
                parts = [self._part(t, loss) for t in range(LANES)]
            else:
                parts = list(self.pool.map(lambda t: self._part(t, loss), range(LANES)))
        grad = self.net.grad
        grad[...] = self.acc[0]
        for acc in self.acc[1:]:
            grad += acc
        value = sum(parts)
        if l1 or l2:
            value += self.net.add_penalty_grad(l1, l2)
        return value

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
