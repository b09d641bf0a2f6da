"""Every activation's hand-written derivative against dual numbers and finite differences."""

import numpy as np
import pytest

from nnfit.engine import activations as acts
from nnfit.engine.autodiff import derivative

# kinks: where the left and right derivatives differ, the subgradient is a convention
KINKED = {"relu", "leaky_relu", "selu"}
Z = np.concatenate([np.linspace(-8.0, 8.0, 161), [-30.0, -1e-3, 0.0, 1e-3, 30.0, 300.0]])


@pytest.mark.parametrize("name", list(acts.ACTIVATIONS))
def test_derivative_matches_dual_numbers(name):
    f, df = acts.ACTIVATIONS[name].f, acts.ACTIVATIONS[name].df
    z = Z[Z != 0.0] if name in KINKED else Z
    hand = df(z, f(z))
    assert np.allclose(hand, derivative(f, z), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(acts.ACTIVATIONS))
def test_derivative_matches_finite_differences(name):
    f, df = acts.ACTIVATIONS[name].f, acts.ACTIVATIONS[name].df
    z = np.linspace(-6.0, 6.0, 121) + 0.0137  # stays off the kink at 0
    h = 1e-6
    fd = (f(z + h) - f(z - h)) / (2 * h)
    assert np.max(np.abs(df(z, f(z)) - fd)) < 1e-7


@pytest.mark.parametrize("name", sorted(KINKED))
def test_kink_subgradient_lies_between_one_sided_derivatives(name):
    f, df = acts.ACTIVATIONS[name].f, acts.ACTIVATIONS[name].df
    zero = np.zeros(1)
    left, right = derivative(f, np.array([-1e-12]))[0], derivative(f, np.array([1e-12]))[0]
    value = df(zero, f(zero))[0]
    assert min(left, right) - 1e-9 <= value <= max(left, right) + 1e-9
    assert derivative(f, zero)[0] == value  # dual numbers follow the same convention


@pytest.mark.parametrize("name", list(acts.ACTIVATIONS))
def test_large_inputs_stay_finite_and_keep_dtype(name):
    f, df = acts.ACTIVATIONS[name].f, acts.ACTIVATIONS[name].df
    z = np.array([-700.0, -50.0, 50.0, 700.0], dtype=np.float32)
    with np.errstate(over="ignore") if name == "square" else np.errstate():
        a = f(z)
        d = df(z, a)
    assert a.dtype == np.float32 and d.dtype == np.float32
    if name != "square":
        assert np.all(np.isfinite(a)) and np.all(np.isfinite(d))


def test_known_values():
    z = np.array([-1.0, 0.0, 2.0])
    assert np.allclose(acts.sigmoid(z), 1 / (1 + np.exp(-z)))
    assert np.allclose(acts.relu(z), [0, 0, 2])
    assert np.allclose(acts.leaky_relu(z, slope=0.1), [-0.1, 0, 2])
    assert np.allclose(acts.elu(z), [np.exp(-1) - 1, 0, 2])
    assert np.allclose(acts.softplus(z), np.log1p(np.exp(z)))
    assert np.allclose(acts.silu(z), z / (1 + np.exp(-z)))
    assert acts.gelu(np.array([1.0]))[0] == pytest.approx(0.8413447460685429)
    assert np.allclose(acts.square(z), z * z)


def test_parameters_are_bound_and_checked():
    act = acts.get("leaky_relu", slope=0.2)
    f, df = act.f, act.df
    z = np.array([-2.0, 3.0])
    assert np.allclose(f(z), [-0.4, 3.0])
    assert np.allclose(df(z, f(z)), [0.2, 1.0])
    assert np.allclose(derivative(f, z), [0.2, 1.0])
    assert acts.get("elu", alpha=2.0).f(np.array([-np.inf]))[0] == -2.0
    with pytest.raises(ValueError, match="slope"):
        acts.get("leaky_relu", slope=1.0)
    with pytest.raises(ValueError, match="finite"):
        acts.get("elu", alpha=float("nan"))
    with pytest.raises(ValueError, match="slope"):
        acts.get("tanh", slope=1.0)
    with pytest.raises(ValueError, match="allowed"):
        acts.get("tanhh")


@pytest.mark.parametrize("name", list(acts.ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_in_place_variants_give_the_same_numbers(name, dtype):
    act = acts.ACTIVATIONS[name]
    z = np.linspace(-5, 5, 41).astype(dtype).reshape(41, 1)
    a = act.f(z)
    out = z.copy() if not act.needs_z else np.empty_like(z)
    act.forward_(out if not act.needs_z else z, out)
    np.testing.assert_array_equal(out, a)
    d = np.cos(z)
    expect = d * act.df(z, a)
    # with needs_z False training overwrites z by a: the derivative must come from a alone
    act.backward_(d, a if not act.needs_z else z, a, np.empty_like(z))
    np.testing.assert_array_equal(d, expect)


@pytest.mark.parametrize("name", [n for n, a in acts.ACTIVATIONS.items() if a.fast_deriv])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_derivative_and_scaled_forward_of_the_training_passes(name, dtype):
    """σ' written alone equals the factor backward_ multiplies by, and f computed from
    c·z (the pass scales the weights by c) equals f(z): to the bit, but for the
    exponential forms of the sigmoid and the tanh, which differ from f by rounding (the
    sigmoid's tanh form loses relative digits in the lower tail: all within 2 eps of 1)."""
    act = acts.ACTIVATIONS[name]
    z = np.linspace(-5, 5, 41).astype(dtype).reshape(41, 1)
    a = act.f(z)
    out = np.empty_like(z)
    act.fast_deriv(z, a, out)
    np.testing.assert_array_equal(out, act.df(z, a))
    scaled = acts.TANH_EXP if name == "tanh" else act.fast_scaled  # tanh's on every CPU
    if scaled is not None:
        c, g = scaled
        g(z * dtype(c), out)
        np.testing.assert_allclose(out, a, rtol=0, atol=2 * np.finfo(dtype).eps)
        wide = np.linspace(-800, 800, 1601).astype(dtype)
        with np.errstate(over="ignore"):
            g(-wide, wide.copy())  # no error where e^u overflows: σ is 0 there


def test_the_training_passes_take_np_tanh_where_numpy_has_its_avx512_loops():
    """The exponential form only where NumPy's float64 tanh runs a value at a time: with
    the AVX-512 loops np.tanh was 2.7 against 4.4 µs on a (64, 32) block (float32 0.9
    against 3.4), without them 15.5 against 8.7."""
    assert acts.numpy_tanh_is_vectorised({"X86_V4": True})
    assert acts.numpy_tanh_is_vectorised({"AVX512_SKX": True, "X86_V4": False})
    assert not acts.numpy_tanh_is_vectorised({"X86_V3": True, "AVX2": True, "X86_V4": False})
    assert not acts.numpy_tanh_is_vectorised({"ASIMD": True})
    tanh = acts.ACTIVATIONS["tanh"]
    assert tanh.fast_scaled == (None if acts.numpy_tanh_is_vectorised() else acts.TANH_EXP)


def test_the_tanh_of_the_training_passes_saturates_exactly_and_keeps_zero():
    """2/(1 + e^u) − 1 with u = −2z: ±1 exactly where e^u over- or underflows, 0 at 0,
    NaN through, and within 4e-16 of np.tanh on a dense range in float64."""
    c, g = acts.TANH_EXP
    z = np.array([-np.inf, -800.0, -30.0, 0.0, 30.0, 800.0, np.inf, np.nan])
    out = np.empty_like(z)
    with np.errstate(over="ignore"):
        g(c * z, out)
    np.testing.assert_array_equal(out, [-1.0, -1.0, -1.0, 0.0, 1.0, 1.0, 1.0, np.nan])
    dense = np.linspace(-20, 20, 400_001)
    g(c * dense, out := np.empty_like(dense))
    assert np.abs(out - np.tanh(dense)).max() <= 4e-16
