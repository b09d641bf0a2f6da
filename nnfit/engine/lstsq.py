"""Linear least squares with an optional ridge, solved stably.

One function, :func:`solve`, used for a network's output layer given its last hidden
features and for the classical baselines (Chebyshev, piecewise linear).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg
import scipy.linalg.lapack

Array = np.ndarray


class NotFinite(ValueError):
    """Features with a value that is not finite (a hidden layer overflowed): no least
    squares to solve. Callers leave the output layer as it was, so the cost through it
    is not finite either and the run stops as diverged."""


def _finite(Phi: Array) -> None:
    if not np.isfinite(Phi).all():
        raise NotFinite("the features are not finite (a hidden layer overflowed)")


def solve(
    Phi: Array,
    Y: Array,
    ridge: float = 0.0,
    weights_mask: Array | None = None,
    rcond: float | None = None,
) -> Array:
    """Coefficients c minimising ‖Φc − Y‖² + ridge·‖c ⊙ mask‖².

    Parameters
    ----------
    Phi : array (n, m)
        Features (design matrix), one row per sample. Any float dtype.
    Y : array (n,) or (n, k)
        Right-hand side(s).
    ridge : float, default 0
        Penalty on the squared coefficients, on the *sum* of squares: to match a cost
        ½·mean((Φc − y)²) + ½·l2·‖c‖² pass ``ridge = n·l2``.
    weights_mask : bool array (m,), optional
        Which coefficients the ridge acts on; ``None`` = all. A bias column is usually
        left out (``mask[-1] = False``).
    rcond : float, optional
        Relative cutoff for small singular values of the column-scaled system;
        default ``eps·max(n, m)`` (NumPy's ``lstsq`` default).

    Returns
    -------
    c : float64 array (m,) or (m, k)
        Same trailing shape as ``Y``.

    Notes
    -----
    The problem is solved in float64 whatever the input dtype.

    1. Column scaling: Φ̃ = Φ D⁻¹ with D the column 2-norms (of the augmented system of 2.
       with a ridge; 1 for a zero column, e.g. a dead ReLU unit), u = Dc. Features on
       very different scales (a constant column next to steep tanh units, Chebyshev
       columns) then do not inflate the condition number.
    2. The ridge is the augmented system [Φ̃; √ridge·diag(mask)·D⁻¹] u = [Y; 0], whose
       least-squares solution is the ridge solution for c. The normal equations
       (ΦᵀΦ + λI)c = ΦᵀY are never formed: they square the condition number, which for
       random features with steep units reaches 1e12 and more.
    3. The (augmented) system goes to LAPACK ``gelsd`` (``scipy.linalg.lstsq``): a QR
       reduction for tall systems followed by an SVD, singular values below
       ``rcond·σ_max`` treated as zero. A rank-deficient Φ (duplicate units, saturated
       units that are constant on the data, n < m) therefore gives the minimum-norm
       solution in the scaled variables u, with no warning; well-conditioned problems
       give the ordinary least-squares or ridge solution.

    Random tanh features need these tiny singular values: one layer of 64 with slopes
    N(0, 10²) fits sin(2πx) to test RMSE 8e-12 with ridge 0 (median of 10 draws, 1,024
    points), 3e-8 with ridge 1e-12 and 1e-6 with ridge 1e-8; the normal equations give
    1e-7. A ridge floor, or a cutoff ``rcond`` of 1e-10, costs those digits.
    """
    Phi = np.asarray(Phi, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Phi.ndim != 2:
        raise ValueError(f"Phi must be 2-D (n, m), got shape {Phi.shape}")
    n, m = Phi.shape
    if Y.ndim not in (1, 2) or Y.shape[0] != n:
        raise ValueError(f"Y must have shape ({n},) or ({n}, k), got {Y.shape}")
    if ridge < 0 or not np.isfinite(ridge):
        raise ValueError(f"ridge must be a finite number >= 0, got {ridge}")
    _finite(Phi)
    if m == 0:
        return np.zeros((0, *Y.shape[1:]))

    scale = np.linalg.norm(Phi, axis=0)
    B = Y
    if ridge > 0:
        mask = np.ones(m, bool) if weights_mask is None else np.asarray(weights_mask, bool)
        if mask.shape != (m,):
            raise ValueError(f"weights_mask must have shape ({m},), got {mask.shape}")
        # the norms of the augmented columns: with Φ's alone, a column of norm 1e-19 (a
        # softplus unit driven off the data) got a ridge row of 1e16 that set the
        # cutoff and cut every singular value of the data (a fit no better than its mean)
        scale = np.sqrt(scale**2 + ridge * mask)
        scale[scale == 0.0] = 1.0
        rows = np.flatnonzero(mask)
        G = np.zeros((len(rows), m))
        G[np.arange(len(rows)), rows] = np.sqrt(ridge) / scale[rows]
        A = np.vstack([Phi / scale, G])
        B = np.concatenate([Y, np.zeros((len(rows), *Y.shape[1:]))])
    else:
        scale[scale == 0.0] = 1.0
        A = Phi / scale
    if rcond is None:
        rcond = np.finfo(np.float64).eps * max(A.shape)
    u = scipy.linalg.lstsq(A, B, cond=rcond, lapack_driver="gelsd", check_finite=True)[0]
    return u / scale if u.ndim == 1 else u / scale[:, None]


#: :func:`basis` keeps a QR factorisation when R's estimated 1-norm condition number is
#: below this (the SVD it saves would then cut nothing: its cutoff is eps·max(n, m)·σ₁,
#: 2.8e-13·σ₁ for 1,280 rows, and the 2-norm condition is within a factor m of the 1-norm's)
QR_COND = 1e9


class Basis(NamedTuple):
    """An orthonormal basis U of the subspace a least-squares fit to Φ spans, and what
    turns Uᵀy into its coefficients: R (Householder QR) or s, Vt (the SVD), and the
    column scale D."""

    U: Array
    scale: Array
    R: Array | None = None
    s: Array | None = None
    Vt: Array | None = None


def basis(Phi: Array, rcond: float | None = None) -> Basis:
    """The orthonormal basis of the column-scaled Φ that :func:`solve` fits in.

    The same cutoff as :func:`solve`, so ``coefficients(basis(Φ), Y)`` is its solution
    with ridge 0, and U spans exactly the subspace that solution fits: the residual
    Y − U Uᵀ Y is orthogonal to it to rounding. Variable projection needs that
    consistency (the projected Jacobian and the residual must agree). Householder QR
    first; its Q and R when R is well enough conditioned that no singular value would be
    cut (half the SVD's time: 19 against 36 ms for 1,280 × 257), else the kept singular
    triplets, from the SVD of R (at about the SVD's own cost).
    """
    Phi = np.asarray(Phi, dtype=np.float64)
    _finite(Phi)
    n, m = Phi.shape
    scale = np.linalg.norm(Phi, axis=0)
    scale[scale == 0] = 1.0
    A = Phi / scale
    if n >= m > 0:  # A = QR, and the SVD, when needed, from R's (as LAPACK's for tall A)
        Q, R = scipy.linalg.qr(A, mode="economic", check_finite=False)
        if rcond is None:  # no cutoff of the caller's: keep QR if the SVD would cut nothing
            inv_cond, info = scipy.linalg.lapack.dtrcon(R, norm="1", uplo="U")
            if info == 0 and inv_cond * QR_COND > 1.0:
                return Basis(Q, scale, R=R)
        Ur, s, Vt = scipy.linalg.svd(R, check_finite=False)
        U = Q @ Ur
    else:
        U, s, Vt = scipy.linalg.svd(A, full_matrices=False, check_finite=False)
    cut = (np.finfo(float).eps * max(n, m) if rcond is None else rcond) * (s[0] if len(s) else 0)
    keep = s > cut
    return Basis(U[:, keep], scale, s=s[keep], Vt=Vt[keep])


def coefficients(parts: Basis, Y: Array) -> Array:
    """c minimising ‖Φc − Y‖ from :func:`basis`: c = D⁻¹ R⁻¹ Uᵀ Y (QR) or
    c = D⁻¹ V S⁻¹ Uᵀ Y (SVD)."""
    Y = np.asarray(Y, dtype=np.float64)
    UtY = parts.U.T @ Y
    if parts.R is not None:
        u = scipy.linalg.solve_triangular(parts.R, UtY, check_finite=False)
    else:
        u = parts.Vt.T @ (UtY / (parts.s if Y.ndim == 1 else parts.s[:, None]))
    return u / (parts.scale if Y.ndim == 1 else parts.scale[:, None])
