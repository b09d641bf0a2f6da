"""Chebyshev and piecewise-linear baselines against independent references."""

from math import comb

import numpy as np
import pytest
from numpy.polynomial import chebyshev as C

from nnfit.experiment.baselines import (
    baseline_sizes,
    chebyshev,
    chebyshev_degree,
    pwlinear,
    total_degree_indices,
)


def test_chebyshev_1d_equals_numpy_chebfit():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(300, 1))
    y = np.exp(np.sin(3 * x[:, 0])) + 0.01 * rng.normal(size=300)
    x_eval = np.linspace(0, 1, 1001)[:, None]
    pred, n_coef = chebyshev(x, y, 16, x_eval)
    assert n_coef == 16
    ref = C.chebval(2 * x_eval[:, 0] - 1, C.chebfit(2 * x[:, 0] - 1, y, 15))
    assert np.max(np.abs(pred - ref)) < 1e-10


@pytest.mark.parametrize(("d", "p"), [(1, 5), (2, 6), (3, 4), (5, 3)])
def test_total_degree_indices(d, p):
    A = total_degree_indices(d, p)
    assert A.shape == (comb(p + d, d), d)
    assert A.sum(axis=1).max() == p and A.min() == 0
    assert len({tuple(a) for a in A}) == len(A)


def test_chebyshev_2d_uses_total_degree():
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(400, 2))
    Xe = rng.uniform(size=(500, 2))
    deg5 = lambda X: X[:, 0] ** 2 * X[:, 1] ** 3 + X[:, 0]  # noqa: E731
    # 30 coefficients allowed: total degree 6 has C(8, 2) = 28, degree 7 would need 36
    pred, n_coef = chebyshev(X, deg5(X), 30, Xe)
    assert n_coef == 28
    assert np.max(np.abs(pred - deg5(Xe))) < 1e-10
    # a tensor basis with 28 ≈ 5.3² coefficients would stop at degree 4 per axis: x⁶ is
    # in the total-degree space, x⁷ is not
    pred6 = chebyshev(X, X[:, 0] ** 6, 30, Xe)[0]
    pred7 = chebyshev(X, X[:, 0] ** 7, 30, Xe)[0]
    assert np.max(np.abs(pred6 - Xe[:, 0] ** 6)) < 1e-10
    assert np.max(np.abs(pred7 - Xe[:, 0] ** 7)) > 1e-4
    assert chebyshev(X, deg5(X), 27, Xe)[1] == 21
    # never underdetermined: 15 points allow degree 4 (15 terms) at most
    assert chebyshev_degree(2, 30, n_train=15) == 4
    assert chebyshev(X[:15], deg5(X[:15]), 30, Xe)[1] <= 15


def test_chebyshev_degree_stays_where_the_fit_is_stable():
    # 1,024 scattered points and a budget of 385 coefficients: degree 384 would be a fit
    # with condition number far beyond 1e10 (measured: |x − ½| test RMSE 1e2 at p = 192)
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(1024, 1))
    xe = np.linspace(0, 1, 5001)[:, None]
    f = lambda x: np.abs(x[:, 0] - 0.5)  # noqa: E731
    pred, n_coef = chebyshev(x, f(x), 385, xe)
    assert 32 < n_coef < 128
    assert np.sqrt(np.mean((pred - f(xe)) ** 2)) < 1e-3


def test_pwlinear_reproduces_a_piecewise_linear_function_on_the_knots():
    rng = np.random.default_rng(3)
    knots = np.linspace(0, 1, 9)
    values = rng.normal(size=9)
    x = rng.uniform(size=(500, 1))
    xe = np.linspace(0, 1, 2001)[:, None]
    pred = pwlinear(x, np.interp(x[:, 0], knots, values), 9, xe)
    assert np.max(np.abs(pred - np.interp(xe[:, 0], knots, values))) < 1e-12


def test_pwlinear_bridges_knots_without_data():
    # no data in (0.3, 0.7): several knots are not determined by the data; the fit of a
    # line must still be that line, not pulled to 0 there
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.uniform(0, 0.3, 200), rng.uniform(0.7, 1, 200)])[:, None]
    xe = np.linspace(0, 1, 1001)[:, None]
    pred = pwlinear(x, 2 * x[:, 0] + 1, 16, xe)
    assert np.max(np.abs(pred - (2 * xe[:, 0] + 1))) < 1e-12


def test_pwlinear_error_falls_as_h_squared_on_a_sine():
    # dense noise-free data: the fit is the L2 projection onto the hat functions. On a
    # quadratic piece its error is F''·(s(h − s)/2 − h²/12), so the sup error is
    # h²/12·max|F''|, between the interpolant's h²/8 and h²/16, and it quarters when h
    # halves. The O(h²) relative corrections are 1.5 % at h = 1/8 (measured), hence 5 %.
    x = np.linspace(0, 1, 8001)[:, None]
    F = np.sin(2 * np.pi * x[:, 0])
    F2 = (2 * np.pi) ** 2
    errs = []
    for width in (9, 17, 33, 65):  # h = 1/8 … 1/64
        h = 1 / (width - 1)
        e = np.max(np.abs(pwlinear(x, F, width, x) - F))
        assert h**2 / 16 * F2 < e < h**2 / 8 * F2
        errs.append(e)
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    np.testing.assert_allclose(ratios, 4.0, rtol=0.05)


def test_pwlinear_width_one_is_the_mean_and_higher_d_is_refused():
    rng = np.random.default_rng(5)
    x = rng.uniform(size=(50, 1))
    y = rng.normal(size=50)
    np.testing.assert_allclose(pwlinear(x, y, 1, x[:3]), np.full(3, y.mean()), rtol=1e-12)
    with pytest.raises(ValueError, match="d = 2"):
        pwlinear(rng.uniform(size=(50, 2)), y, 8, rng.uniform(size=(5, 2)))


def test_baseline_sizes():
    s = baseline_sizes([1, 64, 1], n_train=1024)
    assert (s["chebyshev"].n_params, s["pwlinear"].n_params) == (193, 64)
    assert s["random_features"].n_params == 193
    assert baseline_sizes([1, 64, 1], n_train=100)["chebyshev"].n_params == 100
    assert baseline_sizes([1, 1])["pwlinear"].n_params == 2  # a linear model: a line
    s3 = baseline_sizes([3, 8, 8, 1])
    assert s3["pwlinear"].n_params is None and "d = 3" in s3["pwlinear"].description
    assert s3["chebyshev"].n_params == comb(6 + 3, 3)  # 113 parameters: degree 6, 84 terms
