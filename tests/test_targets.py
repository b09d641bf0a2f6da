import numpy as np
import pytest

from nnfit.experiment.targets import TARGETS, franke_np


def test_franke_known_values():
    # F(0, 0) by hand from the four exponentials
    expect = (
        0.75 * np.exp(-1 - 1)
        + 0.75 * np.exp(-1 / 49 - 0.1)
        + 0.5 * np.exp(-49 / 4 - 9 / 4)
        - 0.2 * np.exp(-16 - 49)
    )
    assert franke_np(0.0, 0.0) == pytest.approx(expect, rel=1e-14)
    assert franke_np(2 / 9, 2 / 9) == pytest.approx(1.2, abs=0.05)  # the main peak


@pytest.mark.parametrize("name", list(TARGETS))
def test_every_target_is_finite_on_the_cube(name):
    t = TARGETS[name]
    d = t.dim or t.default_dim
    X = np.random.default_rng(0).uniform(size=(500, d))
    y = t.fn(X)
    assert y.shape == (500,) and np.all(np.isfinite(y))


def test_values_of_the_one_dimensional_targets():
    x = np.array([[0.0], [0.25], [0.5], [1.0]])
    assert np.allclose(TARGETS["sine"].fn(x), [0, 1, 0, 0], atol=1e-15)
    assert np.allclose(TARGETS["runge"].fn(x), [1 / 26, 1 / (1 + 25 / 4), 1, 1 / 26])
    assert TARGETS["step"].fn(x).tolist() == [0, 0, 1, 1]
    assert np.allclose(TARGETS["abs"].fn(x), [0.5, 0.25, 0, 0.5])
    assert TARGETS["bump"].fn(np.full((1, 2), 0.5))[0] == 1.0
    assert TARGETS["sine_product"].fn(np.full((1, 5), 0.5))[0] == pytest.approx(1.0)
