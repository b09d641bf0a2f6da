"""The benchmark workloads: same data, initial weights and shuffles for every tool."""

from __future__ import annotations

import numpy as np

from nnfit.network import Network
from nnfit.targets import franke_np

WORKLOADS = {
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
}


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


def shuffles(n: int, epochs: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(epochs)]
