"""Learning-rate schedules: one registry, ``name -> lr(lr0, t, total, **params)``.

``t`` counts finished epochs (0 for the first), ``total`` is the epoch budget. The rate
is set once per epoch.

============  ==========================================================
constant      η₀
step          η₀·γ^⌊t / step_size⌋
exponential   η₀·γᵗ
inverse_time  η₀·t₁ / (t + t₁), the course's t₀ / (t + t₁) with t₀ = η₀·t₁
cosine        η_min + ½(η₀ − η_min)(1 + cos(π·t / total))
============  ==========================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable

from nnfit.engine.params import POSITIVE, Param


def constant(lr0, t, total):
    return lr0


def step(lr0, t, total, step_size=100, gamma=0.5):
    return lr0 * gamma ** (t // step_size)


def exponential(lr0, t, total, gamma=0.99):
    return lr0 * gamma**t


def inverse_time(lr0, t, total, t1=50.0):
    return lr0 * t1 / (t + t1)


def cosine(lr0, t, total, lr_min=0.0):
    frac = min(t / total, 1.0) if total else 1.0
    return lr_min + 0.5 * (lr0 - lr_min) * (1.0 + math.cos(math.pi * frac))


SCHEDULES: dict[str, Callable[..., float]] = {
    "constant": constant,
    "step": step,
    "exponential": exponential,
    "inverse_time": inverse_time,
    "cosine": cosine,
}

_GAMMA = Param(0.5, lo=0.0, hi=1.0, lo_open=True, doc="factor per decay")

#: Parameters a schedule accepts, declared with their ranges.
PARAMS: dict[str, dict[str, Param]] = {
    "constant": {},
    "step": {
        "step_size": Param(100, lo=1, hi=1e9, integer=True, doc="epochs between decays"),
        "gamma": _GAMMA,
    },
    "exponential": {"gamma": Param(0.99, lo=0.0, hi=1.0, lo_open=True, doc="factor per epoch")},
    "inverse_time": {"t1": Param(50.0, **POSITIVE, hi=1e12, doc="epochs to halve the rate")},
    "cosine": {"lr_min": Param(0.0, lo=0.0, hi=1e6, doc="rate at the last epoch")},
}
