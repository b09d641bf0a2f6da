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

#: Parameters a schedule accepts, with their defaults.
PARAMS: dict[str, dict[str, float]] = {
    "constant": {},
    "step": {"step_size": 100, "gamma": 0.5},
    "exponential": {"gamma": 0.99},
    "inverse_time": {"t1": 50.0},
    "cosine": {"lr_min": 0.0},
}
