import subprocess
import sys

import numpy as np
import pytest

from nnfit.experiment import config
from nnfit.experiment.data import DataError, Scaler, build, dense_points, grid, sample


def exp(**data):
    return config.from_dict({"target": {"expr": "sin(2*pi*x)"}, "data": data})


def test_sampling_methods():
    rng = np.random.default_rng(0)
    assert sample(100, 3, "uniform", rng).shape == (100, 3)
    g = grid(100, 2)
    assert g.shape == (100, 2) and set(np.unique(g[:, 0])) == set(np.linspace(0, 1, 10))
    s = sample(100, 4, "sobol", rng)
    assert s.shape == (100, 4) and s.min() >= 0 and s.max() < 1
    # Sobol points fill the cube more evenly than uniform ones: compare the worst gap in 1-D
    gaps = np.diff(np.sort(sample(256, 1, "sobol", rng)[:, 0]))
    assert gaps.max() < 2.5 / 256


def test_dense_points():
    assert dense_points(10_000, 1).shape == (10_000, 1)
    assert dense_points(40_000, 2).shape == (40_000, 2)
    p = dense_points(5000, 6)
    assert p.shape == (5000, 6) and np.array_equal(p, dense_points(5000, 6))


def test_build_noise_scaling_and_seed():
    e = exp(n_train=500, n_val=100, noise=0.1, scale_y="standard", seed=3)
    ds = build(e)
    assert ds.X_train.shape == (500, 1) and ds.X_val.shape == (100, 1)
    assert np.allclose(ds.F_train, np.sin(2 * np.pi * ds.X_train[:, 0]))
    assert 0.07 < np.std(ds.y_train - ds.F_train) < 0.13
    z = ds.scaler.forward(ds.y_train)
    assert abs(z.mean()) < 1e-12 and np.std(z) == pytest.approx(1.0)
    assert np.allclose(ds.scaler.inverse(z), ds.y_train)
    again = build(e)
    assert np.array_equal(again.X_train, ds.X_train) and np.array_equal(again.y_val, ds.y_val)
    assert ds.X_test.shape == (10_000, 1)


def test_minmax_and_none_scalers():
    y = np.array([2.0, 4.0, 6.0])
    assert Scaler.fit("minmax", y).forward(y).tolist() == [0, 0.5, 1]
    assert Scaler.fit("none", y).forward(y).tolist() == [2, 4, 6]
    assert Scaler.fit("standard", np.ones(3)).scale == 1.0  # a constant target


def test_a_target_not_finite_names_a_point():
    e = config.from_dict({"target": {"expr": "log(x - 0.5)"}, "data": {"sampling": "grid"}})
    with pytest.raises(DataError, match=r"not finite at the training point \(0\)"):
        build(e)


def test_a_test_set_left_empty_is_refused_naming_n_test(write):
    # the one test point (x = 0.5) was also a grid training point: it was dropped, the
    # test mse of no points was NaN, and the run that trained fine said 'diverged'
    cfg = {
        "target": {"expr": "sin(2*pi*x)"},
        "data": {"n_train": 3, "sampling": "grid", "n_val": 0, "n_test": 1},
        "model": {"hidden": [4]},
        "training": {"epochs": 5},
    }
    with pytest.raises(DataError, match=r"none is left to test on \(given 1\)") as exc:
        build(config.from_dict(cfg))
    assert exc.value.key == "data.n_test"
    assert len(build(config.from_dict({**cfg, "data": {**cfg["data"], "n_test": 2}})).X_test) == 2
    text = "target: {expr: sin(2*pi*x)}\ndata: {n_train: 3, sampling: grid, n_test: 1}\n"
    p = subprocess.run(
        [sys.executable, "-m", "nnfit", "run", str(write(text)), "--no-figures", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2 and p.stdout == ""
    [line] = p.stderr.splitlines()
    assert line.startswith("error: ") and line.endswith(
        "exp.yaml:2: data.n_test: each of the 1 test point(s) is a training or validation "
        "point, so none is left to test on (given 1); raise n_test"
    )
