"""Built-in target functions F on [0,1]^d: one registry, ``name -> Target``.

Each target maps X of shape (n, d) to F(X) of shape (n,). ``dim`` is the dimension it
is defined for, or ``None`` when it takes any d (the experiment's ``target.dim``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class Target:
    name: str
    dim: int | None  # None: any dimension
    default_dim: int
    formula: str
    fn: Callable[[Array], Array]
    smooth: bool = True


def franke_np(x, y):
    """Franke's function (Franke 1979), as used in the course's regression projects."""
    t1 = 0.75 * np.exp(-((9 * x - 2) ** 2) / 4 - ((9 * y - 2) ** 2) / 4)
    t2 = 0.75 * np.exp(-((9 * x + 1) ** 2) / 49 - (9 * y + 1) / 10)
    t3 = 0.5 * np.exp(-((9 * x - 7) ** 2) / 4 - ((9 * y - 3) ** 2) / 4)
    t4 = -0.2 * np.exp(-((9 * x - 4) ** 2) - (9 * y - 7) ** 2)
    return t1 + t2 + t3 + t4


def _sine(X):
    return np.sin(2 * np.pi * X[:, 0])


def _runge(X):
    return 1.0 / (1.0 + 25.0 * (2.0 * X[:, 0] - 1.0) ** 2)


def _step(X):
    return (X[:, 0] >= 0.5).astype(float)


def _abs(X):
    return np.abs(X[:, 0] - 0.5)


def _bump(X):
    return np.exp(-np.sum((X - 0.5) ** 2, axis=1) / (2 * 0.15**2))


def _sine_product(X):
    return np.prod(np.sin(np.pi * X), axis=1)


def _franke(X):
    return franke_np(X[:, 0], X[:, 1])


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("sine", 1, 1, "sin(2·π·x)", _sine),
        Target("runge", 1, 1, "1 / (1 + 25·(2x − 1)²)  (Runge's function on [0,1])", _runge),
        Target("step", 1, 1, "0 for x < ½, 1 for x ≥ ½  (discontinuous)", _step, smooth=False),
        Target("abs", 1, 1, "|x − ½|  (a kink)", _abs, smooth=False),
        Target("bump", None, 2, "exp(−‖x − ½‖² / (2·0.15²))  (Gaussian bump, any d)", _bump),
        Target("sine_product", None, 5, "Π_i sin(π·x_i)  (any d)", _sine_product),
        Target(
            "franke",
            2,
            2,
            "¾e^(−(9x−2)²/4 − (9y−2)²/4) + ¾e^(−(9x+1)²/49 − (9y+1)/10) "
            "+ ½e^(−(9x−7)²/4 − (9y−3)²/4) − ⅕e^(−(9x−4)² − (9y−7)²)",
            _franke,
        ),
    )
}
