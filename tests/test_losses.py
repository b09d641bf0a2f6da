"""Losses and weight penalties: values by hand, derivatives against dual numbers."""

import numpy as np
import pytest

from nnfit.engine.autodiff import jvp
from nnfit.engine.losses import LOSSES, REGULARIZERS, get

R = np.array([-3.0, -1.0, -0.4, 0.0, 0.25, 0.9, 2.5, 40.0])


def test_values_by_hand():
    r = np.array([1.0, -3.0])
    assert LOSSES["mse"].value(r) == pytest.approx(0.5 * (1 + 9) / 2)
    assert LOSSES["mae"].value(r) == pytest.approx(2.0)
    # huber, δ = 1: ½·1² for |r| = 1, 1·(3 − ½) for |r| = 3
    assert LOSSES["huber"].value(r) == pytest.approx((0.5 + 2.5) / 2)
    # δ = 2: ½·1² and 2·(3 − 1)
    assert get("huber", delta=2.0).value(r) == pytest.approx((0.5 + 4.0) / 2)
    w = np.array([0.5, -2.0])
    assert REGULARIZERS["l1"][0](w, 0.1) == pytest.approx(0.25)
    assert REGULARIZERS["l2"][0](w, 0.1) == pytest.approx(0.5 * 0.1 * 4.25)


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_gradient_against_forward_mode_and_finite_differences(name):
    loss, dloss = LOSSES[name].value, LOSSES[name].grad
    r = R[R != 0.0].reshape(-1, 1)
    rng = np.random.default_rng(1)
    for _ in range(5):
        v = rng.standard_normal(r.shape)
        _, exact = jvp(loss, r, v)
        assert float(np.sum(dloss(r) * v)) == pytest.approx(float(exact), rel=1e-12, abs=1e-15)
    h = 1e-6
    fd = np.array(
        [(loss(r + h * e) - loss(r - h * e)) / (2 * h) for e in np.eye(len(r))[:, :, None]]
    )
    assert np.allclose(dloss(r).ravel(), fd, atol=1e-8)


@pytest.mark.parametrize("name", list(REGULARIZERS))
def test_penalty_gradient_against_forward_mode(name):
    pen, dpen = REGULARIZERS[name]
    w = R[R != 0.0]
    v = np.random.default_rng(2).standard_normal(w.shape)
    _, exact = jvp(lambda x: pen(x, 0.3), w, v)
    assert float(dpen(w, 0.3) @ v) == pytest.approx(float(exact), rel=1e-12)


def test_l1_subgradient_is_zero_at_zero():
    assert REGULARIZERS["l1"][1](np.zeros(3), 0.5).tolist() == [0.0, 0.0, 0.0]


def test_loss_parameters_are_checked():
    with pytest.raises(ValueError, match="delta"):
        get("huber", delta=0.0)
    with pytest.raises(ValueError, match="delta"):
        get("mse", delta=1.0)
    assert LOSSES["mse"].least_squares and not LOSSES["huber"].least_squares
