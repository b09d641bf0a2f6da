"""Spread biases put every first-layer unit inside the domain; random features fit."""

import numpy as np
import pytest
from scipy import stats

from nnfit.features import default_scale, random_features, spread_bias


def test_spread_bias_centres_are_uniform_in_the_unit_interval():
    rng = np.random.default_rng(0)
    W = rng.normal(0, 10, size=(1, 4000))
    b = spread_bias(W, rng)
    centres = -b / W[0]  # where w·x + b = 0
    assert centres.min() >= 0 and centres.max() <= 1
    assert stats.kstest(centres, "uniform").pvalue > 1e-3


@pytest.mark.parametrize("d", [2, 5])
def test_spread_bias_hyperplanes_cross_the_cube(d):
    W = np.random.default_rng(1).normal(size=(d, 500))
    b = spread_bias(W, np.random.default_rng(2))
    # the same draws give the centres c_j: w_j·c_j + b_j = 0 with c_j in [0,1]^d
    c = np.random.default_rng(2).uniform(size=(d, 500))
    np.testing.assert_allclose(np.sum(W * c, axis=0) + b, 0.0, atol=1e-12)
    # and, without the centres: w_j·x + b_j changes sign on the cube
    lo = b + np.minimum(W, 0).sum(axis=0)
    hi = b + np.maximum(W, 0).sum(axis=0)
    assert np.all((lo <= 0) & (hi >= 0))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tanh_width_64_random_features_reach_the_issue_goals(seed):
    # one tanh layer of 64, default scale, output by least squares: ≤ 1e-8 test RMSE on
    # sin(2πx) and ≤ 1e-5 on Runge (bench/random_features_scale.py: worst of 10 seeds
    # 1.7e-11 and 2.6e-6)
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(1024, 1))
    xt = np.linspace(0, 1, 10_000)[:, None]
    for F, goal in [
        (lambda x: np.sin(2 * np.pi * x[:, 0]), 1e-8),
        (lambda x: 1 / (1 + 25 * (2 * x[:, 0] - 1) ** 2), 1e-5),
    ]:
        g = random_features(x, F(x), xt, 64, np.tanh, rng, default_scale("tanh", 1))
        assert np.sqrt(np.mean((g - F(xt)) ** 2)) <= goal


def test_relu_random_features_do_not_depend_on_the_scale():
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(200, 2))
    y = np.sin(3 * x[:, 0]) * x[:, 1]
    relu = lambda z: np.maximum(z, 0)  # noqa: E731
    g1, g7 = (random_features(x, y, x, 32, relu, np.random.default_rng(4), s) for s in (1.0, 7.0))
    np.testing.assert_allclose(g1, g7, atol=1e-10)


def test_default_scale_keeps_the_slope_per_unit_across_dimensions():
    assert default_scale("tanh", 1) == 10.0
    assert default_scale("tanh", 4) == 5.0
    assert default_scale("sigmoid", 1) == 2 * default_scale("tanh", 1)
