"""Classical approximants fitted to the same data as a network, at a comparable size.

Pure functions: arrays in, arrays out. Each fits by linear least squares
(:func:`nnfit.engine.lstsq.solve`) on the training data, since F itself is known to the
baselines only through the samples, and evaluates the fit at ``X_eval``.

- ``chebyshev``: a total-degree tensor Chebyshev polynomial on [0,1]^d with as many
  coefficients as the network has parameters (or fewer);
- ``pwlinear``: d = 1 only, the continuous piecewise-linear function on ``width``
  uniform knots: one ReLU layer of that width represents each such function, with its
  kinks held at the knots (a trained layer places them where F bends);
- ``random_features``: the network's own architecture with random hidden weights (the
  ``domain`` initialiser and ``spread`` biases) and only the output layer solved.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np
import scipy.linalg
from numpy.polynomial import chebyshev as C

from nnfit.engine import lstsq
from nnfit.engine.network import param_count

Array = np.ndarray


# --------------------------------------------------------------------------- Chebyshev


def total_degree_indices(d: int, p: int) -> Array:
    """All multi-indices a ∈ ℕ^d with |a| = a_1 + … + a_d ≤ p, graded by |a|.

    Returns an int array of shape (C(p + d, d), d).
    """
    out: list[tuple[int, ...]] = []

    def extend(prefix: tuple[int, ...], left: int) -> None:
        if len(prefix) == d - 1:
            out.append((*prefix, left))
            return
        for a in range(left, -1, -1):
            extend((*prefix, a), left - a)

    for total in range(p + 1):
        extend((), total)
    return np.array(out, dtype=int).reshape(-1, d)


def chebyshev_degree(d: int, n_params: int, n_train: int | None = None) -> int:
    """Largest p with C(p + d, d) ≤ n_params (and ≤ n_train when given); at least 0."""
    if d < 1 or n_params < 1:
        raise ValueError(f"need d >= 1 and n_params >= 1, got d={d}, n_params={n_params}")
    cap = n_params if n_train is None else min(n_params, n_train)
    p = 0
    while comb(p + 1 + d, d) <= cap:
        p += 1
    return p


def chebyshev_basis(X: Array, p: int) -> Array:
    """Φ[i, k] = Π_j T_{a_kj}(2·X[i, j] − 1) over the multi-indices a_k with |a_k| ≤ p.

    X has shape (n, d); Φ has shape (n, C(p + d, d)). The per-axis values come from
    ``chebvander`` (the three-term recurrence), never from monomials.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    A = total_degree_indices(d, p)
    V = C.chebvander(2.0 * X - 1.0, p)  # (n, d, p + 1)
    Phi = np.ones((n, len(A)))
    for j in range(d):
        Phi *= V[:, j, A[:, j]]
    return Phi


def _condition(Phi: Array) -> float:
    """2-norm condition number of Φ with unit columns."""
    s = np.linalg.svd(Phi / np.linalg.norm(Phi, axis=0), compute_uv=False)
    return float(s[0] / s[-1]) if s[-1] > 0 else np.inf


def chebyshev(
    X_train: Array, y_train: Array, n_params: int, X_eval: Array, max_cond: float = 100.0
) -> tuple[Array, int]:
    """Least-squares total-degree Chebyshev fit with at most ``n_params`` coefficients.

    The degree p is the largest with C(p + d, d) ≤ min(n_params, n_train), so the fit is
    never underdetermined, and with the column-scaled Chebyshev–Vandermonde matrix on the
    training points no worse conditioned than ``max_cond``; p = 0 (the mean) at least.

    The second cap is what keeps the fit stable on scattered data: with n uniform random
    points a degree-p fit is well conditioned only while roughly p² ≲ n in 1-D (Cohen,
    Davenport & Leviatan, Found. Comput. Math. 13, 2013); beyond, the condition number
    grows exponentially and the fit oscillates between the points. Measured with 1,024
    uniform points, 1-D: the condition number is 19 at p = 64, 690 at p = 96, 2.5e8 at
    p = 192, where the test RMSE on |x − ½| is 1.3e2 (4.5e-4 at p = 64). The condition
    number grows with p (adding columns), so p is found by bisection.

    Returns
    -------
    pred : array (n_eval,)
        The fitted polynomial at ``X_eval``.
    n_coef : int
        Coefficients used, C(p + d, d).
    """
    X_train = np.asarray(X_train, dtype=np.float64)
    n, d = X_train.shape
    lo, hi = 0, chebyshev_degree(d, n_params, n)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _condition(chebyshev_basis(X_train, mid)) <= max_cond:
            lo = mid
        else:
            hi = mid - 1
    coef = lstsq.solve(chebyshev_basis(X_train, lo), y_train)
    return chebyshev_basis(X_eval, lo) @ coef, len(coef)


# --------------------------------------------------------------------------- piecewise linear


def hat_basis(x: Array, width: int) -> Array:
    """Hat functions on the knots t_i = i/(width − 1): Φ[r, i] = max(0, 1 − |x_r − t_i|/h).

    x has shape (n,); Φ has shape (n, width). Outside [0,1] the end segments are
    extended linearly. ``width = 1`` is the constant function (Φ = 1).
    """
    x = np.asarray(x, dtype=np.float64)
    if width == 1:
        return np.ones((len(x), 1))
    h = 1.0 / (width - 1)
    j = np.clip(np.floor(x / h), 0, width - 2).astype(int)  # segment [t_j, t_{j+1}]
    lam = x / h - j
    Phi = np.zeros((len(x), width))
    rows = np.arange(len(x))
    Phi[rows, j] = 1.0 - lam
    Phi[rows, j + 1] = lam
    return Phi


def _smoothest_lstsq(Phi: Array, y: Array) -> Array:
    """The least-squares solution of Φc ≈ y with the smallest ‖Δ²c‖ (second differences).

    When a knot has no data in its support, Φ is rank deficient and the minimum-norm
    solution would pull that knot's value to 0; among all least-squares solutions this
    one bridges the gap linearly instead, as an interpolant would.
    """
    # the full V only when n < m: then U is small, and V's last rows span the null space
    U, s, Vt = scipy.linalg.svd(Phi, full_matrices=Phi.shape[0] < Phi.shape[1])
    rank = int(np.sum(s > s[0] * np.finfo(float).eps * max(Phi.shape))) if len(s) else 0
    c = Vt[:rank].T @ ((U[:, :rank].T @ y) / s[:rank])
    if rank == Phi.shape[1] or Phi.shape[1] < 3:
        return c
    N = Vt[rank:].T
    D2 = np.diff(np.eye(Phi.shape[1]), 2, axis=0)
    return c + N @ lstsq.solve(D2 @ N, -(D2 @ c))


def pwlinear(X_train: Array, y_train: Array, width: int, X_eval: Array) -> Array:
    """Continuous piecewise-linear least-squares fit on ``width`` uniform knots in [0,1].

    The knots are t_i = i/(width − 1), i = 0 … width − 1, for ``width ≥ 2``; ``width = 1``
    is a constant (the mean). The coefficients are the values at the knots, fitted to the
    data in the hat basis (F is known only through the samples; with dense noise-free data
    this is the interpolant up to the O(h²) shift of a least-squares fit). One ReLU layer
    of ``width`` units represents every such function (a linear part plus one kink per
    interior knot).

    Raises
    ------
    ValueError
        For inputs of dimension d > 1.
    """
    X_train = np.asarray(X_train, dtype=np.float64)
    X_eval = np.asarray(X_eval, dtype=np.float64)
    for X in (X_train, X_eval):
        if X.ndim != 2 or X.shape[1] != 1:
            d = X.shape[1] if X.ndim == 2 else X.ndim
            raise ValueError(f"pwlinear is defined for d = 1 only, got dimension d = {d}")
    if width < 1:
        raise ValueError(f"pwlinear needs width >= 1, got {width}")
    y = np.asarray(y_train, dtype=np.float64).reshape(-1)
    coef = _smoothest_lstsq(hat_basis(X_train[:, 0], width), y)
    return hat_basis(X_eval[:, 0], width) @ coef


# --------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class BaselineSize:
    """A baseline's size for one network: ``n_params`` is ``None`` when it does not apply."""

    n_params: int | None
    description: str


network_params = param_count


def baseline_sizes(sizes: list[int], n_train: int | None = None) -> dict[str, BaselineSize]:
    """Each baseline's parameter count for the network with layer sizes [d, h_1, …, 1].

    ``chebyshev`` gets the network's parameter count as its budget, capped by ``n_train``
    (the fit itself may use fewer, see :func:`chebyshev`); ``pwlinear`` gets the first
    hidden layer's width as its number of knots (2, a straight line, for a network
    without hidden layers); ``random_features`` is the network itself, with only its
    output layer fitted.
    """
    d, n = sizes[0], network_params(sizes)
    p = chebyshev_degree(d, n, n_train)
    k = comb(p + d, d)
    out = {
        "chebyshev": BaselineSize(
            k, f"Chebyshev total degree {p} on [0,1]^{d}: {k} coefficients (budget {n})"
        )
    }
    if d == 1:
        w = sizes[1] if len(sizes) > 2 else 2
        out["pwlinear"] = BaselineSize(
            w,
            f"piecewise linear on {w} uniform knots (ReLU units with their kinks held there)",
        )
    else:
        out["pwlinear"] = BaselineSize(None, f"piecewise linear skipped: d = {d} > 1")
    out["random_features"] = BaselineSize(
        n,
        f"same network ({n} parameters), random hidden layers, "
        f"output layer ({sizes[-2] + 1} coefficients) by least squares",
    )
    return out


# --------------------------------------------------------------------------- one run's baselines

NAMES = ("chebyshev", "pwlinear", "random_features")


#: the most knots of a ``pwlinear`` fit: its smoothest least-squares solve holds an SVD
#: of knots × knots (20,000 knots: 12.6 GB and six minutes)
PWLINEAR_MAX_KNOTS = 2048


def pwlinear_problem(d: int, knots: int) -> str | None:
    """Why ``pwlinear`` cannot be fitted for this network, or None when it can."""
    if d != 1:
        return f"pwlinear is for d = 1 only (target.dim is {d}); remove it"
    if knots > PWLINEAR_MAX_KNOTS:
        return (
            f"pwlinear fits at most {PWLINEAR_MAX_KNOTS:,} knots (its solve grows with their "
            f"square) and the first hidden layer has {knots:,} units; remove it"
        )
    return None


def applicable(d: int, knots: int = 2) -> list[str]:
    """The baselines that apply in dimension d to a first hidden layer of ``knots`` units
    (``pwlinear`` is 1-D only, and bounded in size)."""
    return [n for n in NAMES if n != "pwlinear" or pwlinear_problem(d, knots) is None]


def fit_all(exp, ds, names, rng: np.random.Generator) -> dict:
    """Every baseline in ``names`` for a validated experiment and its data set.

    Fitted on the training data (``y_train``, in F's units) and measured on the same
    dense test set as the network, at the network's size (:func:`baseline_sizes`).
    Returns ``{name: {"n_params", "rmse", "max_abs", "rel_l2"}}``.
    """
    from nnfit.engine import readout
    from nnfit.engine.network import Network
    from nnfit.experiment.metrics import errors, rms

    sizes = exp.sizes()
    budget = baseline_sizes(sizes, len(ds.X_train))
    out = {}
    for name in names:
        if name == "chebyshev":
            pred, n = chebyshev(ds.X_train, ds.y_train, network_params(sizes), ds.X_test)
        elif name == "pwlinear":
            n = budget["pwlinear"].n_params
            pred = pwlinear(ds.X_train, ds.y_train, n, ds.X_test)
        else:
            m = exp.model
            acts = (
                m.activation
                if isinstance(m.activation, list)
                else [m.activation] * (len(sizes) - 2)
            )
            net = Network.create(
                sizes,
                activation=[a if isinstance(a, str) else a.spec() for a in acts],
                init="domain",
                bias="spread",
                rng=rng,
            )
            shift, scale = float(np.mean(ds.y_train)), float(np.std(ds.y_train)) or 1.0
            readout.solve(net, ds.X_train, ((ds.y_train - shift) / scale)[:, None])
            pred = net.predict(ds.X_test)[0, :, 0] * scale + shift
            n = network_params(sizes)
        e = errors(pred, ds.F_test, rms(ds.F_train))
        out[name] = {"n_params": int(n), **{k: e[k] for k in ("rmse", "max_abs", "rel_l2")}}
    return out
