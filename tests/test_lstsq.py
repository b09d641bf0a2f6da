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
