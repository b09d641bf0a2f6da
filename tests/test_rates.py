"""The slope fit on synthetic errors of known slope."""

import numpy as np
import pytest

from nnfit.sweep.rates import describe, fit_slope

W = [1, 2, 4, 8, 16, 32, 64, 128]


def synthetic(k, floor=0.0, seeds=3, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    return [
        [(0.5 * w**k + floor) * np.exp(noise * rng.standard_normal()) for _ in range(seeds)]
        for w in W
    ]


@pytest.mark.parametrize("k", [-0.5, -1.0, -2.0])
def test_recovers_a_known_slope(k):
    fit = fit_slope(W, synthetic(k))
    assert fit["slope"] == pytest.approx(k, abs=0.03)
    assert fit["used"] == W and fit["dropped"] == [] and fit["n_seeds"] == 3
    assert 0 < fit["slope_std"] < 0.05


def test_flat_tail_is_left_out_and_said():
    # slope −2 until the error meets a floor of 1e-4 (reached near width 64)
    fit = fit_slope(W, synthetic(-2.0, floor=1e-4, noise=0.0))
    assert fit["slope"] == pytest.approx(-2.0, abs=0.15)
    assert fit["dropped"] == [128.0]
    # 64 → 128 still falls, at slope −1.1 against −1.9 before: not flat
    assert "falls more slowly from 128 on, left out" in describe(fit)
    fit = fit_slope([1, 2, 4, 8, 16], [[1.0], [0.25], [0.0625], [0.06], [0.0601]])
    assert fit["bend"] == "flat" and "flat from 8 on, left out" in describe(fit)
    errs = synthetic(-1.0, floor=1e-2, noise=0.0)  # the floor bends the curve from 32 on
    fit = fit_slope(W, errs)
    naive = np.polyfit(np.log(W), np.log([e[0] for e in errs]), 1)[0]
    assert fit["dropped"] == [128.0]
    assert abs(fit["slope"] + 1.0) < abs(naive + 1.0)


def test_a_tail_that_still_falls_is_not_called_flat():
    # slope −6 to width 16, then a six-fold fall to 32 (slope −2.6): left out as a bend,
    # but the summary called it "flat from 32 on"
    widths = [2, 4, 8, 16, 32, 64]
    errs = [[0.5 * w**-6.0] for w in widths[:4]] + [[0.5 * 16**-6.0 / 6], [0.5 * 16**-6.0 / 7]]
    fit = fit_slope(widths, errs)
    assert fit["used"] == [2.0, 4.0, 8.0, 16.0] and fit["bend"] == "slower"
    assert "falls more slowly from 32 on, left out" in describe(fit)


def test_exact_slope_without_noise_and_missing_seeds():
    errs = [[w**-1.0] for w in W]
    errs[3] = []  # a failed width
    fit = fit_slope(W, errs)
    assert fit["slope"] == pytest.approx(-1.0, abs=1e-12) and 8.0 not in fit["used"]
    assert fit["slope_std"] is None


def test_too_few_points():
    fit = fit_slope([1, 2], [[0.1], [0.2]])  # rising: nothing falls
    assert fit["slope"] is None and "too few" in describe(fit)


def test_two_falling_points_give_no_slope_three_do():
    # the printed "slope −21.33 ± 9.04 over widths 1–2" came from a line through two points
    fit = fit_slope([1, 2], [[0.5, 0.6], [1e-7, 3e-7]])
    assert fit["slope"] is None and fit["slope_std"] is None
    assert describe(fit) == "too few falling points for a slope (it needs 3)"
    fit = fit_slope([1, 2, 4], [[w**-1.5] for w in (1, 2, 4)])
    assert fit["slope"] == pytest.approx(-1.5, abs=1e-12) and fit["used"] == [1.0, 2.0, 4.0]


def test_a_curve_that_flattens_after_two_widths_has_no_slope():
    errs = [[0.1], [0.01], [0.0099], [0.0098], [0.0099]]  # falls once, then flat
    fit = fit_slope([1, 2, 4, 8, 16], errs)
    assert fit["slope"] is None and fit["used"] == [1.0, 2.0]
    assert fit["dropped"] == [4.0, 8.0, 16.0]


def test_a_flat_head_is_left_out_and_said():
    # square-wave random features: 0.48, 0.48, then falling; the fit over 1–256 was
    # pulled shallow by the widths too narrow to fit anything
    errs = [[0.48], [0.48], [0.44], [0.29], [0.2], [0.14], [0.1], [0.078]]
    fit = fit_slope(W, errs)
    assert fit["head"] == [1.0] and fit["used"] == W[1:]
    naive = np.polyfit(np.log(W[1:]), np.log([e[0] for e in errs[1:]]), 1)[0]
    assert fit["slope"] == pytest.approx(naive, abs=1e-12)
    assert describe(fit).endswith("(1 seed); width 1 left out (flat up to 2)")
    # never below MIN_POINTS: a flat head of three points leaves the fit its three
    fit = fit_slope([1, 2, 4, 8, 16], [[0.5], [0.5], [0.5], [0.1], [0.02]])
    assert fit["head"] == [1.0, 2.0] and fit["used"] == [4.0, 8.0, 16.0]
    assert "widths 1–2 left out (flat up to 4)" in describe(fit)


def test_a_spread_below_half_a_hundredth_is_not_printed_as_zero():
    errs = [[0.5 * w**-1.0 * (1 + 0.002 * s * np.log(w)) for s in (-1, 1)] for w in W]
    fit = fit_slope(W, errs)
    assert 0.0005 < fit["slope_std"] < 0.005
    assert f"± {fit['slope_std']:.3f} over" in describe(fit)
    fit = fit_slope(W, [[w**-1.0, 2 * w**-1.0] for w in W])  # the same slope per seed
    assert "slope -1.00 ± <0.001 over" in describe(fit)


def test_a_flat_stretch_inside_the_fitted_widths_is_said_beside_the_slope():
    # 0.122, 0.015, 0.0155, 0.0123, 0.0066 read "slope -0.87 over widths 1–16" with no
    # word of the flat 2 → 4, and the line passed at half the measured error at width 1
    from nnfit.study.view import slope_cell

    errs = [[0.122], [0.0150], [0.0155], [0.0153], [0.0066], [0.001]]
    fit = fit_slope([1, 2, 4, 8, 16, 32], errs)
    assert fit["flat"] == [[2.0, 8.0]]  # two flat steps, one stretch
    assert describe(fit) == "slope -1.09 over widths 1–32 (1 seed); flat from 2 to 8"
    assert slope_cell(fit) == "−1.09 (1–32, flat 2–8)"
    assert fit_slope([1, 2, 4, 8], [[1.0], [0.25], [0.06], [0.015]])["flat"] == []
