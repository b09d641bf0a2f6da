"""Dual numbers against derivatives known in closed form and finite differences."""

import numpy as np
import pytest

from nnfit.engine.autodiff import BINARY, UNARY, Dual, derivative, jvp

X = np.linspace(0.1, 2.0, 7) + 0.013  # off the integers, where floor jumps


@pytest.mark.parametrize("ufunc", list(UNARY), ids=lambda u: u.__name__)
def test_unary_rules_against_finite_differences(ufunc):
    h = 1e-6
    fd = (ufunc(X + h) - ufunc(X - h)) / (2 * h)
    assert np.allclose(derivative(ufunc, X), fd, atol=1e-6)


@pytest.mark.parametrize("ufunc", list(BINARY), ids=lambda u: u.__name__)
def test_binary_rules_against_finite_differences(ufunc):
    a, b = X, X[::-1] + 0.05
    h = 1e-6
    for which in (0, 1):
        e = [np.zeros_like(a), np.zeros_like(a)]
        e[which] = np.ones_like(a)
        out = ufunc(Dual(a, e[0]), Dual(b, e[1]))
        plus = ufunc(a + h * e[0], b + h * e[1])
        minus = ufunc(a - h * e[0], b - h * e[1])
        assert np.allclose(out.tangent, (plus - minus) / (2 * h), atol=1e-6)


def test_composite_expression():
    def f(x):
        return np.sin(x) * np.exp(x) / (1.0 + x * x)

    x = X
    expect = (np.cos(x) * np.exp(x) + np.sin(x) * np.exp(x)) / (1 + x * x) - np.sin(x) * np.exp(
        x
    ) * 2 * x / (1 + x * x) ** 2
    assert np.allclose(derivative(f, x), expect, rtol=1e-13)


def test_matmul_and_reductions_give_the_directional_derivative():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 3))
    w, v = rng.normal(size=3), rng.normal(size=3)
    value, tangent = jvp(lambda x: np.tanh(A @ x).sum(), w, v)
    grad = (1 - np.tanh(A @ w) ** 2) @ A
    assert float(value) == pytest.approx(np.tanh(A @ w).sum())
    assert float(tangent) == pytest.approx(grad @ v, rel=1e-13)
    d = Dual(np.ones((2, 2)), np.full((2, 2), 3.0))
    assert d.mean().tangent == 3.0 and d.T.shape == (2, 2)
    assert np.sum(d).tangent == 12.0


def test_comparisons_are_plain_and_unknown_ufuncs_fail_loudly():
    d = Dual(np.array([-1.0, 2.0]))
    assert (d > 0).tolist() == [False, True]
    with pytest.raises(TypeError, match="arccosh"):
        np.arccosh(d)
