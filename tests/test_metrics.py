import math

import numpy as np
import pytest

from nnfit.experiment.metrics import errors, weight_stats


def test_errors_by_hand():
    F = np.array([1.0, 2.0, 3.0, 4.0])
    g = np.array([1.0, 2.5, 2.0, 4.0])
    m = errors(g, F)
    assert m["mse"] == pytest.approx((0.25 + 1.0) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt(1.25 / 4))
    assert m["mae"] == pytest.approx(1.5 / 4)
    assert m["max_abs"] == 1.0
    assert m["rel_l2"] == pytest.approx(math.sqrt(1.25) / math.sqrt(30))
    assert m["r2"] == pytest.approx(1 - 1.25 / 5.0)


def test_empty_and_constant_targets():
    assert all(math.isnan(v) for v in errors(np.array([]), np.array([])).values())
    m = errors(np.array([1.0, 1.0]), np.zeros(2))
    assert math.isnan(m["rel_l2"]) and math.isnan(m["r2"]) and m["max_abs"] == 1.0


def test_a_set_where_f_is_zero_to_rounding_has_no_relative_error():
    # one test point at sin(π) = 1.2e-16: rel_l2 printed 1.2e15 beside r2's "—"
    F = np.array([np.sin(np.pi)])
    assert errors(F + 1e-3, F)["rel_l2"] > 1e12  # alone, ‖F‖ > 0 is all it knows
    m = errors(F + 1e-3, F, scale=0.7)
    assert math.isnan(m["rel_l2"]) and m["max_abs"] == pytest.approx(1e-3)
    # a small F that is not zero keeps its relative error
    m = errors(np.array([2e-6]), np.array([1e-6]), scale=0.7)
    assert m["rel_l2"] == pytest.approx(1.0)


def test_weight_stats_by_hand():
    w = np.array([[0.5, -2.0], [1e-4, 0.0]])
    s = weight_stats(w)
    assert s["l1"] == pytest.approx(2.5001) and s["max"] == 2.0
    assert s["l2"] == pytest.approx(math.sqrt(0.25 + 4 + 1e-8))
    assert s["frac_small"] == 0.5  # 1e-4 and 0 are below 1e-3 · 2
