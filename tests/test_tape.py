"""Reverse mode on a tape against backprop, forward mode and derivatives known by hand."""

import numpy as np
import pytest

from nnfit.engine import activations as acts
from nnfit.engine import autodiff, tape
from nnfit.engine.autodiff import BINARY, UNARY, Dual
from nnfit.engine.losses import LOSSES, get
from nnfit.engine.network import ActivationSpec, Network, pack
from nnfit.engine.passes import gradient

HUBER_DELTA = 1.0

RNG = np.random.default_rng(0)
X = RNG.uniform(size=(20, 2))
Y = 1.5 * RNG.normal(size=(20, 1))  # residuals on both sides of Huber's δ
L1, L2 = 0.01, 0.02


def spec(name):
    """The activation with parameters away from their defaults, so binding them is tested."""
    return ActivationSpec.parse(
        {
            "name": name,
            **{k: 0.5 * p.default + 0.1 for k, p in acts.ACTIVATIONS[name].params.items()},
        }
    )


def network(name):
    s = spec(name)
    return Network.create(
        [2, 5, 4, 1], activation=s, output=s, rng=np.random.default_rng(1), bias=0.1
    )


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b))))


# --------------------------------------------------------------------------- the network


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("name", list(acts.ACTIVATIONS))
def test_reverse_mode_equals_backprop(name, loss):
    net = network(name)
    _, grad = gradient(net, X, Y, get(loss))
    assert np.all(net.layer_norms(grad) > 1e-6)  # no layer dead: the data term is tested
    # without the penalties too, or their λ·sign(W) would drown a small data gradient
    for l1, l2 in ((0.0, 0.0), (L1, L2)):
        cost, grad = gradient(net, X, Y, get(loss), l1, l2)
        value, g = tape.network_grad(net.params(), X, Y, net.functions, loss, l1, l2)
        assert value == pytest.approx(cost[0], rel=1e-14)
        for a, b in zip(net.offsets, net.offsets[1:], strict=False):  # per layer
            assert rel(g[a:b], grad[0, a:b]) <= 1e-12


def test_huber_sees_both_of_its_pieces():
    r = network("tanh").predict(X)[0] - Y
    assert np.any(np.abs(r) < HUBER_DELTA) and np.any(np.abs(r) > HUBER_DELTA)


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("name", list(acts.ACTIVATIONS))
def test_reverse_mode_equals_forward_mode_along_random_directions(name, loss):
    net = network(name)
    params = net.params()
    _, g = tape.network_grad(params, X, Y, net.functions, loss, L1, L2)
    rng = np.random.default_rng(2)
    for _ in range(3):
        v = [(rng.standard_normal(W.shape), rng.standard_normal(b.shape)) for W, b in params]
        duals = [(Dual(W, vW), Dual(b, vb)) for (W, b), (vW, vb) in zip(params, v, strict=True)]
        jvp = tape.network_cost(duals, X, Y, net.functions, loss, L1, L2).tangent
        flat_v = pack(v)
        assert float(g @ flat_v) == pytest.approx(float(jvp), rel=1e-12)


def test_a_wrong_derivative_rule_is_caught(monkeypatch):
    net = network("tanh")
    _, grad = gradient(net, X, Y, get("mse"))
    monkeypatch.setitem(UNARY, np.tanh, lambda x, y: 1.0 - y)
    _, g = tape.network_grad(net.params(), X, Y, net.functions, "mse")
    assert rel(g, grad[0]) > 1e-2


# --------------------------------------------------------------------------- derivative rules


@pytest.mark.parametrize("name", list(acts.ACTIVATIONS))
def test_activation_derivatives_match_the_registry_at_ties_too(name):
    # z = 0 is where relu, leaky_relu, elu and selu take their subgradient
    z = np.concatenate([np.linspace(-3.0, 3.0, 13), [0.0, 0.37, -2.2]])
    act = spec(name).activation()
    f, df = act.f, act.df
    _, (g,) = tape.grad(lambda x: f(x).sum(), z)
    # different formulas for one derivative (a + α against α·e^z): a few ulps apart
    np.testing.assert_allclose(g, df(z, f(z)), rtol=1e-14, atol=0)


@pytest.mark.parametrize("ufunc", list(UNARY), ids=lambda u: u.__name__)
def test_unary_rules_agree_with_forward_mode(ufunc):
    x = np.linspace(0.1, 2.0, 7) + 0.013
    _, (g,) = tape.grad(lambda v: ufunc(v).sum(), x)
    assert np.array_equal(g, autodiff.derivative(ufunc, x))


@pytest.mark.parametrize("ufunc", list(BINARY), ids=lambda u: u.__name__)
def test_binary_rules_agree_with_forward_mode(ufunc):
    a = np.linspace(0.1, 2.0, 6).reshape(2, 3) + 0.013
    b = np.array([0.7, 1.2, 0.3])  # broadcast over a's rows
    _, (ga, gb) = tape.grad(lambda u, v: ufunc(u, v).sum(), a, b)
    ones = np.ones_like(a)
    dual_a = ufunc(Dual(a, ones), b).tangent
    dual_b = np.stack([ufunc(a, Dual(b, e)).tangent.sum() for e in np.eye(3)])
    np.testing.assert_allclose(ga, dual_a, rtol=1e-15)
    np.testing.assert_allclose(gb, dual_b, rtol=1e-15)


def test_broadcasting_in_add_is_undone_by_summing():
    rng = np.random.default_rng(3)
    x, b, c, s = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(3, 1)), 0.5
    C = rng.normal(size=(3, 4))
    _, (gx, gb, gc, gs) = tape.grad(lambda *v: (C * (v[0] + v[1] + v[2] + v[3])).sum(), x, b, c, s)
    assert gx.shape == (3, 4) and gb.shape == (4,) and gc.shape == (3, 1) and gs.shape == ()
    np.testing.assert_allclose(gx, C, rtol=1e-15)
    np.testing.assert_allclose(gb, C.sum(axis=0), rtol=1e-14)
    np.testing.assert_allclose(gc, C.sum(axis=1, keepdims=True), rtol=1e-14)
    assert float(gs) == pytest.approx(C.sum(), rel=1e-14)


def test_matmul_adjoints():
    rng = np.random.default_rng(4)
    A, B, C = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=(3, 2))
    _, (gA, gB) = tape.grad(lambda a, b: (C * (a @ b)).sum(), A, B)
    np.testing.assert_allclose(gA, C @ B.T, rtol=1e-14)  # Ā = C̄ Bᵀ
    np.testing.assert_allclose(gB, A.T @ C, rtol=1e-14)  # B̄ = Aᵀ C̄
    # 1-d operands, promoted as matmul promotes them
    x, u = rng.normal(size=4), rng.normal(size=3)
    _, (gA, gx) = tape.grad(lambda a, v: (u * (a @ v)).sum(), A, x)
    np.testing.assert_allclose(gA, np.outer(u, x), rtol=1e-14)
    np.testing.assert_allclose(gx, A.T @ u, rtol=1e-14)
    _, (gx,) = tape.grad(lambda v: v @ v, x)
    np.testing.assert_allclose(gx, 2 * x, rtol=1e-15)
    # a stack of matrices times one matrix: B̄ sums over the stack
    S, D = rng.normal(size=(5, 3, 4)), rng.normal(size=(5, 3, 2))
    _, (gB,) = tape.grad(lambda b: (D * (S @ b)).sum(), B)
    np.testing.assert_allclose(gB, np.einsum("sij,sik->jk", S, D), rtol=1e-13)


def test_reductions():
    rng = np.random.default_rng(5)
    x, w, u = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(3, 1))
    cases = [
        (lambda v: (w * v.sum(axis=0)).sum(), np.broadcast_to(w, (3, 4))),
        (lambda v: (u * v.sum(axis=1, keepdims=True)).sum(), np.broadcast_to(u, (3, 4))),
        (lambda v: (w * np.add.reduce(v)).sum(), np.broadcast_to(w, (3, 4))),  # axis 0
        (lambda v: np.add.reduce(v * v, axis=None), 2 * x),
        (lambda v: np.sum(v) + 3.0 * np.mean(v), np.full((3, 4), 1.25)),
        (lambda v: (w * v.mean(axis=0)).sum(), np.broadcast_to(w / 3, (3, 4))),
    ]
    for f, expect in cases:
        _, (g,) = tape.grad(f, x)
        np.testing.assert_allclose(g, expect, rtol=1e-15)


def test_indexing_reshape_and_transpose_route_adjoints_back():
    theta = np.arange(10.0)
    C = np.arange(6.0).reshape(3, 2)
    _, (g,) = tape.grad(lambda t: (C * t[2:8].reshape(2, 3).T).sum(), theta)
    assert g.tolist() == [0, 0, *C.T.ravel().tolist(), 0, 0]
    _, (g,) = tape.grad(lambda t: t[[1, 1, 3]].sum(), theta)  # a repeated index counts twice
    assert g.tolist() == [0, 2, 0, 1, 0, 0, 0, 0, 0, 0]


def test_shared_and_unused_inputs():
    x, unused = np.array([1.0, -2.0, 3.0]), np.ones(2)
    value, (g, g_unused) = tape.grad(lambda v, _: (v * v).sum(), x, unused)
    assert float(value) == 14.0 and g.tolist() == [2.0, -4.0, 6.0]
    assert g_unused.tolist() == [0.0, 0.0]


def test_misuse_fails_loudly():
    (x,) = tape.variables(np.ones(3))
    with pytest.raises(ValueError, match="scalar"):
        (x * 2.0).backward()
    with pytest.raises(TypeError, match="arccosh"):
        np.arccosh(x)
    with pytest.raises(ValueError, match="different tapes"):
        x + tape.Var(np.ones(3))
    assert (x > 0).tolist() == [True, True, True]  # comparisons carry no derivative


# --------------------------------------------------------------------------- worked example


def test_the_sigmoid_chain_equals_the_hand_formula():
    ex = tape.example_sigmoid_chain()
    assert ex["tape"] == ex["hand"]  # the README's numbers: the same to the last bit
    # elsewhere σ through tanh and σ(1 − σ) round apart by an ulp or two (derivatives ≤ ¼)
    for point in [dict(x=-1.5, w1=0.3, w2=-0.3), dict(x=2.0, w1=-2.0, b1=1.0, w2=2.0)]:
        other = tape.example_sigmoid_chain(**point)
        for k, hand in other["hand"].items():
            assert other["tape"][k] == pytest.approx(hand, rel=0, abs=1e-15)
    # and the hand formula is the derivative: central differences agree to O(h²)
    h, base = 1e-6, dict(x=0.5, w1=1.5, b1=-0.5, w2=-2.0, b2=0.25)

    def f(**kw):
        return tape.example_sigmoid_chain(**{**base, **kw})["f"]

    for k in ("w1", "b1", "w2", "b2"):
        fd = (f(**{k: base[k] + h}) - f(**{k: base[k] - h})) / (2 * h)
        assert ex["hand"][k] == pytest.approx(fd, rel=1e-8)
