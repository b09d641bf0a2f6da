"""What a Levenberg–Marquardt iteration computes, at the cost of its arithmetic.

An iteration forms the per-sample Jacobian J (n × P) of one model with one output, the
matrix JᵀJ, and one Cholesky factorisation of JᵀJ + D per trial damping. Jᵀ is written
layer by layer into one preallocated array (a broadcast product per layer, rows in the
layout of ``theta``); JᵀJ is a symmetric rank-n update (BLAS ``syrk``: half the
multiplications of a general product, one triangle written); the factorisation and the
two triangular solves are LAPACK ``potrf``/``potrs`` on a Fortran-ordered copy,
overwritten in place. Every BLAS call runs on one thread, so that the weights do not
depend on how many the machine offers: OpenBLAS's ``syrk`` and ``potrf`` round
differently on one thread and on two (width 256: other last bits after one product,
other weights after 30 steps), and a count chosen by timing would make two runs of one
experiment differ. A large JᵀJ is parallel all the same, in fixed column blocks
(:meth:`Normal.form`): its off-diagonal block is one product on one lane, its two
diagonal blocks (``syrk``) on the other, as fast as OpenBLAS's ``syrk`` on two threads
(7.0 ms against 7.1 at width 256 on 1,024 points) and the same to the bit on one core.
With two lanes, each trial's factorisation runs beside that of the damping a rejection
would try next (on one thread each, so again the same to the bit): about half of LM's
trials are rejected, and the next one then finds its factor made (width 256: 3 to 9 %
less time an iteration, side by side on a 2-core EPYC).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.linalg import lapack

from nnfit.engine.network import Network
from nnfit.engine.passes import blas_threads

Array = np.ndarray


def jacobian_mb(n: int, n_params: int, itemsize: int = 8) -> float:
    """Memory of J (n × P), JᵀJ and its damped factor (P × P each), in MiB."""
    return (n * n_params + 2 * n_params * n_params) * itemsize / 2**20


def physical_mb() -> float | None:
    """The machine's memory in MiB, or None where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (AttributeError, OSError, ValueError):
        return None


def _mib(x: float) -> str:
    return f"{x:,.0f}" if x >= 1000 else f"{x:.3g}"


def too_large(n: int, n_params: int, limit: float) -> str | None:
    """Why LM refuses J and JᵀJ for n points and P parameters, or None: above ``limit``
    MiB, or above the machine's memory whatever the limit (a raised limit let a run ask
    for 671 GiB, and fail, at its first step). The words name both, since JᵀJ dominates
    once P passes n."""
    need = jacobian_mb(n, n_params)
    memory = physical_mb()
    P = n_params
    arrays = f"J ({n:,} points × {P:,} parameters), JᵀJ ({P:,} × {P:,}) and its factor"
    if need > limit:
        return f"lm would need {_mib(need)} MiB for {arrays}, above max_jacobian_mb {_mib(limit)}"
    if memory is not None and need > memory:
        return (
            f"lm would need {_mib(need)} MiB for {arrays}, above this machine's {_mib(memory)} MiB"
        )
    return None


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


#: JᵀJ is formed in two column blocks on two lanes from this many parameters
SPLIT_FROM = 256
#: and from this many, the next trial's factor is made ahead on a lane of its own
AHEAD_FROM = 256


class Threads:
    """The threads of a Levenberg–Marquardt run (see the module docstring).

    ``everything()`` holds every BLAS library to one thread; ``lanes`` is how many
    threads the run may use (two at most, one inside a sweep worker, which pins the
    BLAS), counted before that limit; ``pool`` runs the second lane's product.
    """

    def __init__(self):
        from threadpoolctl import ThreadpoolController

        self.blas = ThreadpoolController().select(user_api="blas")
        self.lanes = min(2, blas_threads())
        self.pool = ThreadPoolExecutor(1) if self.lanes > 1 else None
        # the next trial's factor, made beside this one's (Normal.speculate)
        self.ahead = ThreadPoolExecutor(1) if self.lanes > 1 else None

    def everything(self):
        return self.blas.limit(limits=1)

    def close(self) -> None:
        for pool in (self.pool, self.ahead):
            if pool is not None:
                pool.shutdown(wait=True)


def _gil_free_potrf():
    """LAPACK's ``dpotrf`` (the function SciPy's wrappers call) through ctypes, which
    lets go of the GIL while it runs, so that two factorisations overlap on two threads;
    SciPy's own wrapper holds it (two on two threads took 8.2 ms, twice one's 4.1, at
    P = 769). None where SciPy does not export it."""
    import ctypes

    try:
        from scipy.linalg import cython_lapack

        capsule = cython_lapack.__pyx_capi__["dpotrf"]
        api = ctypes.pythonapi
        api.PyCapsule_GetName.restype = ctypes.c_char_p
        api.PyCapsule_GetName.argtypes = [ctypes.py_object]
        api.PyCapsule_GetPointer.restype = ctypes.c_void_p
        api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
        address = api.PyCapsule_GetPointer(capsule, api.PyCapsule_GetName(capsule))
    except (ImportError, AttributeError, KeyError, ValueError):  # pragma: no cover
        return None
    if not address:  # pragma: no cover
        return None
    i32, f64 = ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_double)
    fn = ctypes.CFUNCTYPE(None, ctypes.c_char_p, i32, f64, i32, i32)(address)

    def potrf(C: Array) -> int:
        """C (float64, Fortran order) ← its lower Cholesky factor, in place; LAPACK's
        info (0: done, k > 0: not positive definite at column k)."""
        n, info = ctypes.c_int(C.shape[0]), ctypes.c_int(0)
        fn(b"L", ctypes.byref(n), C.ctypes.data_as(f64), ctypes.byref(n), ctypes.byref(info))
        return info.value

    return potrf


def _scipy_potrf(C: Array) -> int:
    c, info = lapack.dpotrf(C, lower=1, clean=0, overwrite_a=1)
    if not np.shares_memory(c, C):  # pragma: no cover - the wrapper copied
        C[...] = c
    return info


_POTRF = _gil_free_potrf()


class Normal:
    """JᵀJ (P × P, lower triangle, Fortran order) and its damped Cholesky factor.

    ``H`` is the Fortran view of a C-ordered ``G``, whose upper triangle
    :meth:`form` writes; from :data:`SPLIT_FROM` parameters in two fixed column blocks
    [A; B] of Jᵀ (A its first P//2 rows): AAᵀ and BBᵀ by ``syrk`` on one lane, ABᵀ by a
    product on the other (``pool``), so that the sums are the same however many lanes
    ran them.
    """

    def __init__(
        self,
        P: int,
        pool: ThreadPoolExecutor | None = None,
        ahead: ThreadPoolExecutor | None = None,
    ):
        self.P, self.pool = P, pool
        self.G = np.zeros((P, P))
        self.H = self.G.T
        self.C = np.zeros((P, P), order="F")
        self.potrf = _POTRF or _scipy_potrf
        # the factor of the next trial's damping, made on a lane of its own while this
        # trial's is made here (see speculate): its buffer, damping and pending info
        self.ahead = ahead if _POTRF is not None and P >= AHEAD_FROM else None
        if self.ahead is not None:
            self.spare = np.zeros((P, P), order="F")
            self.spare_damping = np.full(P, np.nan)
        self.pending, self.copied = None, None

    def form(self, Jt: Array) -> None:
        """H ← JᵀJ from Jt = Jᵀ (P × rows, C-ordered); NumPy computes a product with its
        own transpose by ``syrk``."""
        if self.pending is not None:
            self.copied.wait()  # a factor made ahead reads H first
        G, P = self.G, self.P
        if P < SPLIT_FROM:
            np.matmul(Jt, Jt.T, out=G)
            return
        h = P // 2
        A, B = Jt[:h], Jt[h:]
        pending = None
        if self.pool is not None:
            pending = self.pool.submit(np.matmul, A, B.T, out=G[:h, h:])
        else:
            np.matmul(A, B.T, out=G[:h, h:])
        try:
            np.matmul(A, A.T, out=G[:h, :h])
            np.matmul(B, B.T, out=G[h:, h:])
        finally:
            if pending is not None:
                pending.result()

    def _damped(self, C: Array, damping: Array) -> Array:
        np.copyto(C, self.H)
        C.reshape(-1, order="F")[:: self.P + 1] += damping
        return C

    def ready(self, damping: Array) -> bool:
        """Whether a factor of this damping was started ahead (:meth:`speculate`)."""
        return self.pending is not None and np.array_equal(damping, self.spare_damping)

    def speculate(self, damping: Array) -> None:
        """Start factoring H + diag(damping) on the lane of its own, for a trial that may
        follow (nothing without that lane). Forming the next JᵀJ waits only until that
        lane has copied H, not for its factor."""
        if self.ahead is None:
            return
        self.settle()
        np.copyto(self.spare_damping, damping)
        self.copied = threading.Event()
        self.pending = self.ahead.submit(self._ahead, self.spare, self.spare_damping, self.copied)

    def _ahead(self, C: Array, damping: Array, copied: threading.Event) -> int:
        try:
            self._damped(C, damping)
        finally:
            copied.set()  # H may change from here (form waits for this)
        return self.potrf(C)

    def settle(self) -> int | None:
        """Wait for a factor started ahead; its info (None without one)."""
        pending, self.pending = self.pending, None
        return None if pending is None else pending.result()

    def factor(self, damping: Array) -> bool:
        """C ← chol(H + diag(damping)) (lower); False if not positive definite. The
        factor started ahead when it is of this damping (the same to the bit: each runs
        on one thread)."""
        if self.ready(damping):
            info = self.settle()
            self.C, self.spare = self.spare, self.C
        else:
            info = self.potrf(self._damped(self.C, damping))
        return info == 0

    def solve(self, b: Array) -> Array:
        """(H + damping)⁻¹ b from the factor (b is overwritten and returned)."""
        x, _ = lapack.dpotrs(self.C, b.reshape(-1, 1), lower=1, overwrite_b=1)
        return x[:, 0]
