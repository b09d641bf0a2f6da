"""The benchmark workloads: same data, initial weights and shuffles for every tool."""

from __future__ import annotations

import numpy as np

from nnfit.engine.network import Network
from nnfit.experiment.targets import franke_np

WORKLOADS = {
    # minibatch Adam on a small network: Python overhead per step decides
    "W1": {
        "target": "sine",
        "n": 1024,
        "sizes": [1, 64, 1],
        "act": "tanh",
        "optimizer": "adam",
        "lr": 1e-3,
        "batch": 32,
        "epochs": 20,
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
        "epochs": 3,
    },
    # full-batch gradient descent on one wide layer: memory traffic decides
    "W3": {
        "target": "sine",
        "n": 8192,
        "sizes": [1, 2048, 1],
        "act": "sigmoid",
        "optimizer": "gd",
        "lr": 1e-3,
        "batch": 8192,
        "epochs": 10,
    },
}
#: W4 is W1 for this many seeds
W4_SEEDS = 8


def make_data(spec: dict, seed: int = 0):
    rng = np.random.default_rng(seed)
    d = spec["sizes"][0]
    X = rng.uniform(size=(spec["n"], d))
    y = np.sin(2 * np.pi * X) if spec["target"] == "sine" else franke_np(X[:, 0], X[:, 1])
    return X, np.reshape(y, (-1, 1))


def initial_params(spec: dict, seed: int = 0):
    init = "he" if spec["act"] == "relu" else "glorot"
    net = Network.create(
        spec["sizes"], activation=spec["act"], init=init, rng=np.random.default_rng(seed)
    )
    return [(W.copy(), b.copy()) for W, b in net.params()]


def shuffle_rng(seed: int = 0) -> np.random.Generator:
    """The generator whose permutation(n) per epoch every tool uses (nnfit's trainer too)."""
    return np.random.default_rng(1000 + seed)


def shuffles(n: int, epochs: int, seed: int = 0):
    rng = shuffle_rng(seed)
    return [rng.permutation(n) for _ in range(epochs)]
