"""What a Levenberg–Marquardt iteration computes, at the cost of its arithmetic.

An iteration forms the per-sample Jacobian J (n × P) of one model with one output, the
matrix JᵀJ, and one Cholesky factorisation of JᵀJ + D per trial damping. Jᵀ is written
layer by layer into one preallocated array (a broadcast product per layer, rows in the
layout of ``theta``); JᵀJ is a symmetric rank-n update (BLAS ``syrk``: half the
multiplications of a general product, one triangle written); the factorisation and the
two triangular solves are LAPACK ``potrf``/``potrs`` on a Fortran-ordered copy,
overwritten in place. The products that remain run on NumPy's BLAS, the ``syrk`` and
the factorisations on SciPy's: two OpenBLAS builds, each with its own thread pool, so
both run on one thread (:func:`~nnfit.engine.passes.one_blas_thread`): threads of one
library that still spin after a product slow the other's start by an order of
magnitude, and on a busy machine two threads lose to one (width 256, load 5 on two
cores: ``syrk`` 36 ms on two, 20 ms on one).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas, lapack

from nnfit.engine.network import Network

Array = np.ndarray


def jacobian_mb(n: int, n_params: int, itemsize: int = 8) -> float:
    """Memory of J (n × P) and JᵀJ (P × P), in MiB."""
    return (n * n_params + n_params * n_params) * itemsize / 2**20


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

    def forward(self) -> Array:
        """g(X) (n,) at the network's current weights; keeps every layer's z and a."""
        for l, act in enumerate(self.acts):
            z = self.Z[l]
            np.dot(self.Wt[l], self.A[l], out=z)
            a = self.A[l + 1][:-1] if l < self.L - 1 else self.g
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
