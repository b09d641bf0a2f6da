"""The least-squares solver against NumPy and the closed-form ridge solution."""

import numpy as np
import pytest

from nnfit.engine.lstsq import solve


def problem(n, m, k=None, seed=0):
    rng = np.random.default_rng(seed)
    Phi = rng.normal(size=(n, m)) * rng.uniform(0.1, 10.0, size=m)  # unequal column scales
    Y = rng.normal(size=(n,) if k is None else (n, k))
    return Phi, Y


@pytest.mark.parametrize("k", [None, 3])
def test_matches_numpy_on_a_well_conditioned_problem(k):
    Phi, Y = problem(60, 8, k)
    c = solve(Phi, Y)
    assert c.shape == ((8,) if k is None else (8, 3))
    np.testing.assert_allclose(c, np.linalg.lstsq(Phi, Y, rcond=None)[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("masked", [False, True])
def test_ridge_matches_the_closed_form(masked):
    Phi, Y = problem(40, 6, k=2, seed=1)
    Phi[:, -1] = 1.0  # a bias column
    lam = 3.0
    mask = np.ones(6, bool)
    if masked:
        mask[-1] = False
    c = solve(Phi, Y, ridge=lam, weights_mask=mask if masked else None)
    exact = np.linalg.solve(Phi.T @ Phi + lam * np.diag(mask.astype(float)), Phi.T @ Y)
    np.testing.assert_allclose(c, exact, rtol=1e-10, atol=1e-12)


def test_a_ridge_on_a_column_of_almost_no_norm_leaves_the_rest_of_the_fit():
    # a softplus unit driven off the data (its column 1e-19 everywhere) gave the scaled
    # system a ridge row of 1e16: the cutoff then cut every singular value of the data,
    # and the fit was the mean (SGD + l1 with the output re-solved every 50 epochs)
    x = np.linspace(0, 1, 200)
    Phi = np.column_stack(
        [np.tanh(4 * x - k) for k in range(4)] + [1e-19 * (1 + x), np.ones_like(x)]
    )
    Y = np.sin(2 * np.pi * x)
    mask = np.ones(6, bool)
    mask[-1] = False
    lam = 200 * 1e-8
    c = solve(Phi, Y, ridge=lam, weights_mask=mask)
    exact = np.linalg.solve(Phi.T @ Phi + lam * np.diag(mask.astype(float)), Phi.T @ Y)
    np.testing.assert_allclose(Phi @ c, Phi @ exact, rtol=0, atol=1e-9)
    assert np.mean((Phi @ c - Y) ** 2) < 0.02 * np.var(Y)  # the mean alone: 1 × var


def test_duplicate_columns_split_the_coefficient():
    # minimum norm: a duplicated unit shares its coefficient equally with its copy
    Phi, Y = problem(50, 5, seed=2)
    c_full = solve(Phi, Y)
    c = solve(np.hstack([Phi, Phi[:, :1]]), Y)
    np.testing.assert_allclose(c[[0, -1]], [c_full[0] / 2] * 2, rtol=1e-10)
    np.testing.assert_allclose(c[1:5], c_full[1:], rtol=1e-10)


def test_saturated_features_give_the_fit_of_the_reduced_basis():
    # tanh units with slopes 1e6 are ±1 on the data, copies of the constant column
    rng = np.random.default_rng(3)
    x = rng.uniform(size=200)
    y = np.sin(2 * np.pi * x)
    smooth = np.tanh(np.outer(x - 0.5, [1.0, 2.0, 3.0]))
    steep = np.tanh(1e6 * np.outer(x - 0.5, [1.0, -1.0]) + 1e7)  # centre far left of the data
    one = np.ones((200, 1))
    c = solve(np.hstack([smooth, steep, one]), y)
    reduced = np.hstack([smooth, one])
    residual = np.hstack([smooth, steep, one]) @ c - y
    np.testing.assert_allclose(residual, reduced @ solve(reduced, y) - y, atol=1e-12)
    assert np.all(np.abs(c) < 1e3)


def test_a_dead_unit_gets_a_zero_coefficient():
    Phi, Y = problem(30, 4, seed=4)
    Phi[:, 2] = 0.0
    c = solve(Phi, Y)
    assert c[2] == 0.0
    np.testing.assert_allclose(c[[0, 1, 3]], solve(Phi[:, [0, 1, 3]], Y), rtol=1e-10)


def test_underdetermined_gives_the_minimum_norm_interpolant_in_scaled_variables():
    Phi, Y = problem(5, 20, seed=5)
    c = solve(Phi, Y)
    np.testing.assert_allclose(Phi @ c, Y, atol=1e-12)
    D = np.linalg.norm(Phi, axis=0)
    np.testing.assert_allclose(c, np.linalg.pinv(Phi / D) @ Y / D, rtol=1e-9)


def test_float32_inputs_are_solved_in_float64():
    Phi, Y = problem(80, 10, seed=6)
    Phi32, Y32 = Phi.astype(np.float32), Y.astype(np.float32)
    c = solve(Phi32, Y32)
    assert c.dtype == np.float64
    exact = np.linalg.lstsq(Phi32.astype(float), Y32.astype(float), rcond=None)[0]
    np.testing.assert_allclose(c, exact, rtol=1e-10)


def test_bad_input_names_the_problem():
    Phi, Y = problem(10, 3)
    with pytest.raises(ValueError, match="ridge"):
        solve(Phi, Y, ridge=-1.0)
    with pytest.raises(ValueError, match="Y must have shape"):
        solve(Phi, Y[:5])
    with pytest.raises(ValueError, match="weights_mask"):
        solve(Phi, Y, ridge=1.0, weights_mask=np.ones(2, bool))


def _tanh_features(n=400, m=30, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=n)
    w = rng.normal(0.0, 10.0, size=m)
    return np.hstack([np.tanh(np.outer(x, w) - w * rng.uniform(size=m)), np.ones((n, 1))]), x


@pytest.mark.parametrize("ridge", [1e-4, 0.0])
def test_the_basis_of_variable_projection_fits_as_solve_does(ridge):
    """QR when no singular value would be cut (a ridge block under Φ), the SVD of R when
    some are (30 steep tanh features alone: cond 1e14): either way U is orthonormal, the
    residual is orthogonal to it, and the coefficients are solve()'s."""
    from nnfit.engine.lstsq import basis, coefficients

    Phi, x = _tanh_features()
    y = np.sin(2 * np.pi * x)
    m = Phi.shape[1]
    aug = np.vstack([Phi, np.sqrt(ridge) * np.eye(m)[:-1]]) if ridge else Phi
    y_aug = np.concatenate([y, np.zeros(m - 1)]) if ridge else y
    parts = basis(aug)
    assert (parts.R is not None) is (ridge > 0)  # the path taken
    U = parts.U
    np.testing.assert_allclose(U.T @ U, np.eye(U.shape[1]), atol=1e-12)
    r = U @ (U.T @ y_aug) - y_aug
    assert np.abs(U.T @ r).max() < 1e-12
    c = coefficients(parts, y_aug)
    mask = np.r_[np.ones(m - 1), 0.0]
    ref = solve(Phi, y, ridge=ridge, weights_mask=mask)
    np.testing.assert_allclose(Phi @ c, Phi @ ref, atol=1e-9)
    if ridge:  # a unique solution: the coefficients themselves agree
        np.testing.assert_allclose(c, ref, rtol=1e-6, atol=1e-8)


def test_a_duplicated_feature_takes_the_svd_and_splits_its_coefficient():
    from nnfit.engine.lstsq import basis, coefficients

    Phi, x = _tanh_features(m=5)
    Phi = np.hstack([Phi[:, :1], Phi])  # feature 0 twice
    parts = basis(Phi)
    assert parts.R is None and parts.U.shape[1] == Phi.shape[1] - 1
    c = coefficients(parts, np.cos(3 * x))
    assert c[0] == pytest.approx(c[1], rel=1e-8)
