"""The formula compiler: what it computes, and everything it refuses."""

import time

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nnfit.experiment.formulas import ExprError, compile_expr

X1 = np.linspace(0, 1, 11)[:, None]
X3 = np.random.default_rng(0).uniform(size=(20, 3))


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("sin(2*pi*x)", np.sin(2 * np.pi * X1[:, 0])),
        ("x0**2 - 3*x0 + 1", X1[:, 0] ** 2 - 3 * X1[:, 0] + 1),
        ("heaviside(x - 0.5, 1)", (X1[:, 0] >= 0.5).astype(float)),
        ("where(x < 0.3, -1, abs(x - 0.5))", np.where(X1[:, 0] < 0.3, -1, np.abs(X1[:, 0] - 0.5))),
        ("(x > 0.2) * (x <= 0.6)", ((X1[:, 0] > 0.2) & (X1[:, 0] <= 0.6)).astype(float)),
        ("0.2 < x < 0.6", ((X1[:, 0] > 0.2) & (X1[:, 0] < 0.6)).astype(float)),
        ("clip(3*x, 0.5, 2) % 1", np.clip(3 * X1[:, 0], 0.5, 2) % 1),
        ("e**-x + minimum(x, 0.4)", np.exp(-X1[:, 0]) + np.minimum(X1[:, 0], 0.4)),
        ("7", np.full(11, 7.0)),
        ("-x", -X1[:, 0]),
    ],
)
def test_values(text, expect):
    assert np.allclose(compile_expr(text, 1)(X1), expect)


def test_variables_in_several_dimensions():
    F = compile_expr("x*y + z - x[0] + x2", 3)
    assert np.allclose(F(X3), X3[:, 0] * X3[:, 1] + X3[:, 2] - X3[:, 0] + X3[:, 2])
    with pytest.raises(ExprError, match="unknown name 'y'"):
        compile_expr("x5 + y", 6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('true')", "attribute access"),
        ("__import__('os')", "'__import__' is not allowed"),
        ("x.__class__", "attribute"),
        ("().__class__.__bases__[0]", "only x"),
        ("open('/etc/passwd')", "not allowed"),
        ("lambda: 1", "Lambda"),
        ("[i for i in range(3)]", "not allowed"),
        ("x[0:1]", "whole-number index"),
        ("y[0]", "only x"),
        ("x[5]", "outside the dimension"),
        ("foo + 1", "unknown name 'foo'"),
        ("sin", "is a function"),
        ("sin(x, x)", "takes 1 argument"),
        ("sin(x=1)", "keyword"),
        # read as 0 and as inf: F ≡ 0 passed, unsaid
        ("sin(2*pi*x)*1e-400", "1e-400 is nearer 0 than the smallest float64"),
        ("x*1e400", "1e400 is above the largest float64"),
        ("x*0." + "0" * 500 + "1", "0." + "0" * 27 + "… is nearer 0 than"),
        # it said "maximum() takes 2 argument(s), got 2"
        ("maximum(x, *[1])", "written out, not unpacked with"),
        ("'a' + x", "only numbers"),
        ("True + x", "only numbers"),
        ("x if x else 1", "IfExp"),
        ("x and 1", "BoolOp"),
        ("x // 2", "//"),
        ("x +", "syntax error"),
        ("", "empty"),
        ("(" * 5000 + "x" + ")" * 5000, "characters long"),
        ("(" * 100 + "x" + ")" * 100, "nested deeper"),
        ("+".join(["x"] * 200_000), "characters long"),
        ("-" * 1500 + "x", "nested deeper"),
    ],
)
def test_refused(text, message):
    t0 = time.perf_counter()
    with pytest.raises(ExprError, match=message):
        compile_expr(text, 1)
    assert time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x^2", "use ** for powers (^ is not allowed), e.g. x**2 (column 2)"),
        ("sin(x)^2", "use ** for powers (^ is not allowed), e.g. x**2 (column 7)"),
        ("np.sin(2*np.pi*x)", "write sin(...) without np. (functions are called by name)"),
        ("sin(2*np.pi*x)", "write pi without np. (constants are used by name) (column 7)"),
        ("math.exp(-x)", "write exp(...) without math. (functions are called by name)"),
        ("sin(2*math.pi*x)", "write pi without math. (constants are used by name)"),
        ("np.power(x, 2)", "np.power is not available: call functions by name (write a ** b)"),
        ("sine(x)", "function 'sine' is not allowed (did you mean sin?) (column 1)"),
        ("ln(x)", "function 'ln' is not allowed (did you mean log?)"),
        ("atan(x)", "did you mean arctan?"),
        ("pow(x, 2)", "function 'pow' is not allowed (write a ** b)"),
        ("pii*x", "unknown name 'pii' (did you mean pi?)"),
        ("X + 1", "unknown name 'X' (did you mean x?)"),
        # Python reads names in NFKC form: the message names the one written too
        ("sin(xᵢ)", "unknown name 'xᵢ' (read as 'xi') (did you mean x?)"),
        ("x1 + x", "unknown name 'x1' (the target is 1-D; set target.dim for more variables)"),
        ("2x", "syntax error: invalid decimal literal (multiplication needs *: write 2*x)"),
        ("sin(2 pi x)", "(multiplication needs *: write 2*pi)"),
        ("2(x + 1)", "multiplication needs *: write 2*(...), not 2(...)"),
        ("x if x > 0.5 else 0", "write where(condition, a, b) instead of"),
        ("(x > 0.2) & (x < 0.6)", "multiply conditions for 'and'"),
    ],
)
def test_mistakes_get_a_hint_that_says_what_to_write(text, message):
    with pytest.raises(ExprError) as info:
        compile_expr(text, 1)
    assert message in str(info.value)
    assert len(str(info.value)) < 250


def test_an_unknown_function_without_a_near_name_lists_the_allowed_ones():
    with pytest.raises(ExprError, match=r"function 'qqq' is not allowed; allowed: abs, arccos"):
        compile_expr("qqq(x)", 1)


def test_huge_powers_are_inf_not_a_hang():
    t0 = time.perf_counter()
    out = compile_expr("9**9**9", 1)(X1)
    assert np.all(np.isinf(out)) and time.perf_counter() - t0 < 1.0


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="x()+-*/%.,0123456789 sincoexpltahwr_[]<>=!'\"abdfgjkmquvyz", max_size=80))
def test_never_executes_and_only_raises_its_error(text):
    try:
        F = compile_expr(text, 1)
    except ExprError:
        return
    out = F(X1)  # whatever compiles evaluates to an array of the right length
    assert out.shape == (11,)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.sampled_from(["x", "pi", "2", "0.5"]),
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from("+-*/"), inner).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
            st.tuples(st.sampled_from(["sin", "exp", "tanh", "abs"]), inner).map(
                lambda t: f"{t[0]}({t[1]})"
            ),
        ),
        max_leaves=20,
    )
)
def test_generated_formulas_match_numpy(text):
    env = {"x": X1[:, 0], "pi": np.pi, "sin": np.sin, "exp": np.exp, "tanh": np.tanh, "abs": np.abs}
    with np.errstate(all="ignore"):
        try:  # reference only; Python's own floats raise where NumPy gives inf or nan
            expect = np.broadcast_to(eval(text, {"__builtins__": {}}, env), (11,))
        except (ZeroDivisionError, OverflowError):
            assume(False)
    got = compile_expr(text, 1)(X1)
    assert np.allclose(got, expect, equal_nan=True)


def test_a_chain_of_a_hundred_comparisons_is_evaluated():
    # np.broadcast takes at most 64 arrays: x<x<…<x (101 operands) was a ValueError
    X = np.linspace(0, 1, 5)[:, None]
    assert np.array_equal(compile_expr("x<" * 100 + "x", 1)(X), np.zeros(5))
    assert np.array_equal(compile_expr("x<=" * 100 + "x", 1)(X), np.ones(5))
