"""What a Levenberg–Marquardt iteration computes, at the cost of its arithmetic.

An iteration forms the per-sample Jacobian J (n × P) of one model with one output, the
matrix JᵀJ, and one Cholesky factorisation of JᵀJ + D per trial damping. Jᵀ is written
layer by layer into one preallocated array (a broadcast product per layer, rows in the
layout of ``theta``); JᵀJ is a symmetric rank-n update (BLAS ``syrk``: half the
multiplications of a general product, one triangle written); the factorisation and the
two triangular solves are LAPACK ``potrf``/``potrs`` on a Fortran-ordered copy,
overwritten in place. The products that remain run on NumPy's BLAS, the ``syrk`` and
the factorisations on SciPy's: two OpenBLAS builds (in pip's wheels), each with its own
thread pool. Threads of one library that still spin after a product slow the other's
start by an order of magnitude, so NumPy's runs on one thread (its products here are
small) and SciPy's on one or on its default, whichever formed the first JᵀJ faster
(:class:`Threads`): on a quiet machine two threads nearly halve an iteration at width
256, on a busy one they lose to one (load 5 on two cores: ``syrk`` 36 ms on two, 20 ms
on one).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.linalg import blas, lapack

from nnfit.engine.network import Network

Array = np.ndarray


def jacobian_mb(n: int, n_params: int, itemsize: int = 8) -> float:
    """Memory of J (n × P) and JᵀJ (P × P), in MiB."""
    return (n * n_params + n_params * n_params) * itemsize / 2**20


def too_large(n: int, n_params: int, limit: float) -> str | None:
    """Why LM refuses J and JᵀJ for n points and P parameters above ``limit`` MiB, or
    None: the words name both, since JᵀJ dominates once P passes n."""
    need = jacobian_mb(n, n_params)
    if need <= limit:
        return None
    P = n_params
    return (
        f"lm would need {need:,.0f} MiB for J ({n:,} points × {P:,} parameters) and JᵀJ "
        f"({P:,} × {P:,}), above max_jacobian_mb {limit:,.0f}"
    )


class Jacobian:
    """Forward pass and per-sample Jacobian of model 0 of ``net`` (one output) on X.

    Feature-major buffers, allocated once: ``A[l]`` = [a_l; 1] (width_l + 1, n) with
    ``A[0]`` = [Xᵀ; 1], ``Z[l]`` the pre-activations. ``forward()`` returns g(X) (n,);
    ``fill(Jt, cols)`` then writes the rows p < ``cols`` of Jᵀ, Jt[p, i] = ∂g(x_i)/∂θ_p
    (``cols`` < P leaves out the output layer, which comes last in θ), by
    backpropagation without the sum over samples: layer l's block is
    δ_l[:, i] ⊗ [a_{l−1}[:, i]; 1], one broadcast product whose inner loop runs along
    the n samples.
    """

    def __init__(self, net: Network, X: Array):
        if net.sizes[-1] != 1:
            raise ValueError("the Jacobian is for one model with one output")
        n, dt, sizes = len(X), net.dtype, net.sizes
        self.net, self.n, self.L = net, n, net.n_layers
        self.Wt = [b[0] for b in net.blocks]
        self.A = [np.ones((s + 1, n), dt) for s in sizes[:-1]]
        self.A[0][:-1] = np.asarray(X).T
        self.Z = [np.empty((s, n), dt) for s in sizes[1:]]
        self.D = [np.empty((s, n), dt) for s in sizes[1:]]
        self.T = [np.empty((s, n), dt) for s in sizes[1:]]
        self.g = np.empty((1, n), dt)
        self.acts = net.activations
        # c·W for an activation applied as g(c·z) (c = −1 or −2: the scaling is exact), so
        # that c·z comes out of the product: one pass over (width, n) the fewer a layer
        self.Wc = [
            np.empty_like(W) if act.fast_scaled is not None and not act.needs_z else None
            for W, act in zip(self.Wt, self.acts, strict=True)
        ]

    def forward(self, layers: int | None = None) -> Array:
        """g(X) (n,) at the network's current weights; keeps every layer's a, and its z
        where σ' needs z (``needs_z``; a layer computed as g(c·z) skips z). With
        ``layers``, only the first that many: ``A[layers]`` is then up to date."""
        for l, act in enumerate(self.acts[:layers]):
            z, Wc = self.Z[l], self.Wc[l]
            a = self.A[l + 1][:-1] if l < self.L - 1 else self.g
            if Wc is not None:  # as the training passes; z is not needed (σ' from a)
                c, g = act.fast_scaled
                np.multiply(self.Wt[l], c, out=Wc)
                np.dot(Wc, self.A[l], out=a)
                with np.errstate(over="ignore"):  # e^u = inf is the saturated end
                    g(a, a)
                continue
            np.dot(self.Wt[l], self.A[l], out=z)
            if act.fast_forward is None:
                np.copyto(a, act.f(z))
            else:
                act.fast_forward(z, a)
        return self.g[0]

    def fill(self, Jt: Array, cols: int) -> None:
        """Rows :cols of Jt (float64, P × n or wider, rows contiguous) from the last
        ``forward()``."""
        n, offsets, sizes = self.n, self.net.offsets, self.net.sizes
        d = self.D[-1]
        d[...] = self.acts[-1].df(self.Z[-1], self.g)  # δ_L = σ_L'(z_L): 1 for an identity
        for l in range(self.L - 1, -1, -1):
            a, b = offsets[l], offsets[l + 1]
            if a < cols:
                block = Jt[a:b, :n].reshape(sizes[l + 1], sizes[l] + 1, n)
                np.multiply(d[:, None, :], self.A[l][None, :, :], out=block)
            if l:
                prev, fa = self.D[l - 1], self.acts[l - 1]
                np.dot(self.Wt[l][:, :-1].T, d, out=prev)
                z, a_prev = self.Z[l - 1], self.A[l][:-1]
                if fa.fast_backward is not None:
                    fa.fast_backward(prev, z, a_prev, self.T[l - 1])
                else:
                    prev *= fa.df(z, a_prev)
                d = prev


class Threads:
    """The BLAS threads of a Levenberg–Marquardt run (see the module docstring).

    ``everything()`` holds every BLAS library to one thread; inside it, ``heavy(op)``
    gives SciPy's library (the one whose path names scipy; every library if none does)
    the threads that :meth:`tune` found faster for ``op`` ("form" or "factor": OpenBLAS's
    ``syrk`` gains from a second thread where its ``potrf`` of a few hundred rows loses).
    """

    def __init__(self):
        from threadpoolctl import ThreadpoolController

        ctl = ThreadpoolController()
        self.blas = ctl.select(user_api="blas")
        paths = [lib.filepath for lib in self.blas.lib_controllers]
        self.scipy = ctl.select(filepath=[p for p in paths if "scipy" in p] or paths)
        self.default = max((lib.num_threads for lib in self.scipy.lib_controllers), default=1)
        self.threads = {"form": 1, "factor": 1}

    def everything(self):
        return self.blas.limit(limits=1)

    def heavy(self, op: str):
        return self.scipy.limit(limits=self.threads[op])

    def tune(self, op: str, work) -> None:
        """Run ``work`` on SciPy's default threads and on one, twice each in turn (the
        first run wakes the threads); keep the faster for op."""
        if self.default <= 1:
            return
        times = {self.default: np.inf, 1: np.inf}
        for t in (self.default, 1, self.default, 1):
            with self.scipy.limit(limits=t):
                t0 = time.perf_counter()
                work()
                times[t] = min(times[t], time.perf_counter() - t0)
        self.threads[op] = min(times, key=times.get)


class Normal:
    """JᵀJ (P × P, lower triangle, Fortran order) and its damped Cholesky factor."""

    def __init__(self, P: int):
        self.P = P
        self.H = np.zeros((P, P), order="F")
        self.C = np.zeros((P, P), order="F")
        self.diag = self.C.reshape(-1, order="F")[:: P + 1]  # a view of C's diagonal
        self.Hdiag = self.H.reshape(-1, order="F")[:: P + 1]

    def form(self, Jt: Array) -> None:
        """H ← JᵀJ by ``syrk`` from Jt = Jᵀ (P × rows, C-ordered: J is its Fortran view)."""
        out = blas.dsyrk(1.0, Jt.T, beta=0.0, c=self.H, trans=1, lower=1, overwrite_c=1)
        if not np.shares_memory(out, self.H):  # pragma: no cover - the wrapper copied
            self.H[...] = out

    def factor(self, damping: Array) -> bool:
        """C ← chol(H + diag(damping)) in place (lower); False if not positive definite."""
        np.copyto(self.C, self.H)
        self.diag += damping
        c, info = lapack.dpotrf(self.C, lower=1, clean=0, overwrite_a=1)
        if not np.shares_memory(c, self.C):  # pragma: no cover - the wrapper copied
            self.C[...] = c
        return info == 0

    def solve(self, b: Array) -> Array:
        """(H + damping)⁻¹ b from the factor (b is overwritten and returned)."""
        x, _ = lapack.dpotrs(self.C, b.reshape(-1, 1), lower=1, overwrite_b=1)
        return x[:, 0]
