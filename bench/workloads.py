"""The benchmark workloads and what every in-process tool shares: data, weights, shuffles.

Pure NumPy on purpose: nothing here imports nnfit, whose internals may change; nnfit is
measured through its command line (:mod:`as_user`), with the same workload written as an
experiment file.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

WORKLOADS = {
    # minibatch Adam on a small network: the cost per NumPy call decides
    "W1": {
        "target": "sine",
        "n": 1024,
        "sizes": [1, 64, 1],
        "act": "tanh",
        "optimizer": "adam",
        "lr": 1e-3,
        "batch": 32,
        "epochs": 100,
    },
    # minibatch Adam, three hidden layers of 100: the matrix products start to count
    "W2": {
        "target": "franke",
        "n": 4096,
        "sizes": [2, 100, 100, 100, 1],
        "act": "relu",
        "optimizer": "adam",
        "lr": 1e-3,
        "batch": 64,
        "epochs": 20,
    },
    # full-batch gradient descent on one wide layer: memory traffic decides
    "W3": {
        "target": "sine",
        "n": 8192,
        "sizes": [1, 2048, 1],
        "act": "sigmoid",
        "optimizer": "gd",
        "lr": 1e-3,
        "batch": None,
        "epochs": 20,
    },
}
#: W4 is W1 for this many seeds, with this many epochs
W4_SEEDS = 8
W4_EPOCHS = 50


def spec_of(workload: str, quick: bool = False) -> dict:
    """The workload's settings; W4 is W1's network. ``quick`` keeps a tenth of the epochs."""
    spec = dict(WORKLOADS["W1" if workload == "W4" else workload])
    if workload == "W4":
        spec["epochs"] = W4_EPOCHS
    if quick:
        spec["epochs"] = max(2, spec["epochs"] // 10)
    return spec


def steps_per_epoch(spec: dict) -> int:
    return 1 if spec["batch"] is None else spec["n"] // spec["batch"]


def franke(x, y):
    """Franke's function on [0, 1]², as DESIGN.md defines it."""
    return (
        0.75 * np.exp(-((9 * x - 2) ** 2) / 4 - (9 * y - 2) ** 2 / 4)
        + 0.75 * np.exp(-((9 * x + 1) ** 2) / 49 - (9 * y + 1) / 10)
        + 0.5 * np.exp(-((9 * x - 7) ** 2) / 4 - (9 * y - 3) ** 2 / 4)
        - 0.2 * np.exp(-((9 * x - 4) ** 2) - (9 * y - 7) ** 2)
    )


def make_data(spec: dict, seed: int = 0, dtype="float64"):
    """Uniform points on [0, 1]^d and the target, shapes (n, d) and (n, 1)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(spec["n"], spec["sizes"][0]))
    y = np.sin(2 * np.pi * X[:, :1]) if spec["target"] == "sine" else franke(X[:, :1], X[:, 1:2])
    return X.astype(dtype), y.astype(dtype)


def initial_params(spec: dict, seed: int = 0, dtype="float64"):
    """[(W (fan_in, fan_out), b (fan_out,)), ...]: He-normal for ReLU, else Glorot-uniform;
    zero biases."""
    rng = np.random.default_rng(100 + seed)
    sizes, out = spec["sizes"], []
    for fan_in, fan_out in itertools.pairwise(sizes):
        if spec["act"] == "relu":
            W = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
        else:
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            W = rng.uniform(-limit, limit, size=(fan_in, fan_out))
        out.append((W.astype(dtype), np.zeros(fan_out, dtype)))
    return out


def shuffles(spec: dict, seed: int = 0):
    """One permutation of the training points per epoch, (epochs, n); None for full batch."""
    if spec["batch"] is None:
        return None
    rng = np.random.default_rng(200 + seed)
    return np.stack([rng.permutation(spec["n"]) for _ in range(spec["epochs"])])


def mse(params, X, y, act: str) -> float:
    """mean((g(X) - y)²) in float64, the same evaluation for every tool."""
    f = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0)}.get(
        act, lambda z: 1.0 / (1.0 + np.exp(-z))
    )
    a = np.asarray(X, np.float64)
    for i, (W, b) in enumerate(params):
        a = a @ np.asarray(W, np.float64) + np.asarray(b, np.float64)
        if i < len(params) - 1:
            a = f(a)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.mean((a - np.asarray(y, np.float64)) ** 2))
