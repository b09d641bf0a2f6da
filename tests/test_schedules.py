import math

import pytest

from nnfit.engine.schedules import PARAMS, SCHEDULES


def test_values_by_hand():
    assert SCHEDULES["constant"](0.1, 50, 100) == 0.1
    assert SCHEDULES["step"](0.1, 99, 1000, step_size=100, gamma=0.5) == pytest.approx(0.1)
    assert SCHEDULES["step"](0.1, 250, 1000, step_size=100, gamma=0.5) == pytest.approx(0.025)
    assert SCHEDULES["exponential"](0.1, 2, 10, gamma=0.9) == pytest.approx(0.081)
    # the course's t0/(t + t1) with t0 = 5, t1 = 50 is lr0 = 0.1
    assert SCHEDULES["inverse_time"](0.1, 10, 100, t1=50) == pytest.approx(5 / 60)
    assert SCHEDULES["cosine"](0.1, 0, 100) == pytest.approx(0.1)
    assert SCHEDULES["cosine"](0.1, 50, 100) == pytest.approx(0.05)
    assert SCHEDULES["cosine"](0.1, 100, 100, lr_min=0.01) == pytest.approx(0.01)
    assert SCHEDULES["cosine"](0.1, 25, 100) == pytest.approx(0.05 * (1 + math.cos(math.pi / 4)))


def test_every_schedule_lists_its_parameters():
    assert set(PARAMS) == set(SCHEDULES)
    for name, params in PARAMS.items():
        SCHEDULES[name](0.1, 3, 10, **{k: p.default for k, p in params.items()})
        for key, p in params.items():
            assert p.check(key, p.default) == p.default
