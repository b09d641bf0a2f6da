"""Data sets for one experiment: sampled points, targets, noise and output scaling.

Training and validation points and their noise come from independent streams of
``data.seed`` (:mod:`nnfit.engine.seeds`), so a sweep over the training seed sees one
data set. The test set is dense, noise-free and never shares a point with the training
or validation set: a cell-centred grid for d ≤ 2, Sobol points from a stream of its own
(not ``data.seed``) beyond, and any point that coincides with a training or validation
point is dropped. Targets are scaled (``scale_y``) only for training; every reported
error is in F's own units.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nnfit.engine import seeds
from nnfit.experiment.formulas import compile_expr
from nnfit.experiment.targets import TARGETS

Array = np.ndarray


class DataError(ValueError):
    """The target cannot be evaluated on the sampled points, or ``key`` (a dotted config
    key; the target's when None) leaves a set without the points it needs."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key

    def located(self, exp) -> tuple[str, object]:
        """The dotted key this error is about, in ``exp``, and its value there."""
        key = self.key or ("target.expr" if exp.target.expr is not None else "target.name")
        given = exp
        for part in key.split("."):
            given = getattr(given, part)
        return key, given


def target_function(target) -> Callable[[Array], Array]:
    """F for a validated ``TargetConfig``: X (n, d) -> (n,)."""
    if target.expr is not None:
        return compile_expr(target.expr, target.dim)
    return TARGETS[target.name].fn


#: the most points a grid design may have (the config refuses a grid far above n_train;
#: this keeps a direct caller from allocating 2^40 rows)
MAX_GRID = 50_000_000
#: the largest |F| whose squared errors stay finite in float64 (1e154 squared overflows)
MAX_ABS_TARGET = 1e150
#: the least largest |F| of a target that is not 0: below it the squared errors (and
#: the spread that scales y) underflow to 0, and an error of 1e-200 would read as exact
MIN_ABS_TARGET = 1e-150
#: the largest |y| trained on unscaled in float32, whose squares overflow at 3.4e38
MAX_ABS_FLOAT32 = 1e18


def grid(n: int, d: int) -> Array:
    """A regular grid on [0,1]^d with m = max(2, round(n^(1/d))) points per axis."""
    m = max(2, round(n ** (1.0 / d)))
    if m**d > MAX_GRID:
        raise DataError(
            f"a grid in {d}-D with {m} points per axis has {m**d:,} points "
            f"(at most {MAX_GRID:,}); use sampling: sobol or uniform"
        )
    axes = np.meshgrid(*[np.linspace(0.0, 1.0, m)] * d, indexing="ij")
    return np.stack([a.ravel() for a in axes], axis=1)


def sample(n: int, d: int, method: str, rng: np.random.Generator) -> Array:
    if n == 0:
        return np.empty((0, d))
    if method == "uniform":
        return rng.uniform(size=(n, d))
    if method == "grid":
        return grid(n, d)
    if method == "sobol":
        from scipy.stats import qmc

        # draw the next power of two (Sobol's balance needs it) and keep the first n
        m = max(0, math.ceil(math.log2(n)))
        return qmc.Sobol(d, scramble=True, seed=rng).random_base2(m)[:n]
    raise ValueError(f"unknown sampling {method!r}")


#: the test set's own stream: fixed, never a data or training seed's
TEST = 0x7E57  # the test set's purpose tag (see nnfit.engine.seeds)


def midpoint_grid(n: int, d: int) -> Array:
    """Cell centres (i + ½)/m of a regular grid with m = max(1, round(n^(1/d))) per axis."""
    m = max(1, round(n ** (1.0 / d)))
    u = (np.arange(m) + 0.5) / m
    axes = np.meshgrid(*[u] * d, indexing="ij")
    return np.stack([a.ravel() for a in axes], axis=1)


def dense_points(n: int, d: int) -> Array:
    """Dense evaluation set: cell centres for d ≤ 2, scrambled Sobol points beyond."""
    if d <= 2:
        return midpoint_grid(n, d)
    return sample(n, d, "sobol", np.random.default_rng(seeds.root(0, TEST)))


def without(points: Array, *others: Array) -> Array:
    """``points`` less any row that also appears in one of ``others``."""
    seen = {row.tobytes() for o in others for row in np.ascontiguousarray(o, dtype=float)}
    if not seen:
        return points
    keep = [row.tobytes() not in seen for row in np.ascontiguousarray(points, dtype=float)]
    return points[np.asarray(keep, dtype=bool)]


def evaluate(F, X: Array, what: str) -> Array:
    """F(X), refusing values that are not finite with the first offending point."""
    with np.errstate(all="ignore"):
        y = np.asarray(F(X), dtype=float).reshape(len(X))
    bad = ~np.isfinite(y)
    if bad.any():
        i = int(np.argmax(bad))
        point = ", ".join(f"{v:.6g}" for v in X[i])
        if bad.all():  # the formula, not one point: 1/0, x % 0
            same = bool(np.isnan(y).all() or (y == y[i]).all())
            value = f"F = {y[i]} at each" if same else f"F = {y[i]} at ({point})"
            raise DataError(
                f"target is not finite at any of the {len(y):,} {what} points ({value})"
            )
        raise DataError(f"target is not finite at the {what} point ({point}): F = {y[i]}")
    return y


def _check_magnitude(*sets: tuple[Array, Array, str]) -> None:
    """Refuse a finite target too large to measure: its squared errors would overflow,
    and a run would be reported diverged for what is a property of F."""
    top = 0.0
    for F, X, what in sets:
        if not len(F):
            continue
        i = int(np.argmax(np.abs(F)))
        top = max(top, abs(float(F[i])))
        if abs(F[i]) > MAX_ABS_TARGET:
            point = ", ".join(f"{v:.6g}" for v in X[i][:8])
            raise DataError(
                f"target values reach {F[i]:.3g} (at the {what} point ({point})): squared "
                f"errors overflow float64 above {MAX_ABS_TARGET:.0e}; divide the formula by a "
                "constant"
            )
    if 0.0 < top < MIN_ABS_TARGET:
        raise DataError(
            f"target values are at most {top:.3g} in size: below {MIN_ABS_TARGET:.0e} their "
            "squared errors underflow to 0; multiply the formula by a constant"
        )


def _check_output_range(exp, y: Array) -> None:
    """Refuse an output activation whose values cannot reach the scaled targets (a
    sigmoid output under scale_y standard fitted only the positive half: test RMSE 0.51
    on sin(2πx), where scale_y minmax gives 4e-3)."""
    from nnfit.engine import activations

    out = exp.model.output
    name, params = (out, {}) if isinstance(out, str) else (out.name, out.params())
    if name == "identity" or not len(y):
        return
    lo, hi = activations.image(activations.get(name, **params))
    ymin, ymax = float(np.min(y)), float(np.max(y))
    tol = 1e-6 * max(1.0, hi - lo) if math.isfinite(hi - lo) else 1e-6
    if ymin >= lo - tol and ymax <= hi + tol:
        return
    kind = exp.data.scale_y
    fix = "data.scale_y: minmax (onto [0, 1])" if lo <= tol and hi >= 1 - tol else None
    fix = f"use {fix} or model.output: identity" if fix else "use model.output: identity"
    raise DataError(
        f"the output {name} takes values in [{lo:.3g}, {hi:.3g}] only, but the training "
        f"targets, scaled by data.scale_y {kind}, span [{ymin:.3g}, {ymax:.3g}]: it cannot "
        f"fit them; {fix}",
        key="model.output",
    )


@dataclass(frozen=True)
class Scaler:
    """y_scaled = (y − shift) / scale."""

    kind: str
    shift: float
    scale: float

    @classmethod
    def fit(cls, kind: str, y: Array) -> Scaler:
        if kind == "standard":
            shift, scale = float(np.mean(y)), float(np.std(y))
        elif kind == "minmax":
            shift, scale = float(np.min(y)), float(np.max(y) - np.min(y))
        else:
            shift, scale = 0.0, 1.0
        return cls(kind, shift, scale if scale > 0 else 1.0)

    def forward(self, y: Array) -> Array:
        return (y - self.shift) / self.scale

    def inverse(self, g: Array) -> Array:
        return g * self.scale + self.shift

    def to_json(self) -> dict:
        return {"kind": self.kind, "shift": self.shift, "scale": self.scale}


@dataclass(frozen=True)
class Dataset:
    """Points and targets in F's units; ``F_*`` are noise-free, ``y_*`` what is trained on."""

    X_train: Array
    y_train: Array
    F_train: Array
    X_val: Array
    y_val: Array
    F_val: Array
    X_test: Array
    F_test: Array
    scaler: Scaler


def build(exp) -> Dataset:
    """The data of a validated :class:`~nnfit.config.Experiment`."""
    cfg, d = exp.data, exp.target.dim
    F = target_function(exp.target)
    s_train, s_val, s_noise_train, s_noise_val = seeds.streams(cfg.seed, seeds.DATA, 4)
    X_train = sample(cfg.n_train, d, cfg.sampling, s_train)
    X_val = sample(cfg.n_val, d, "uniform", s_val)  # independent of the training design
    dense = dense_points(cfg.n_test, d)
    X_test = without(dense, X_train, X_val)
    if not len(X_test):  # no test error to report: the run would say 'diverged'
        raise DataError(
            f"each of the {len(dense)} test point(s) is a training or validation point, so "
            f"none is left to test on (given {cfg.n_test}); raise n_test",
            key="data.n_test",
        )
    F_train = evaluate(F, X_train, "training")
    F_val = evaluate(F, X_val, "validation")
    F_test = evaluate(F, X_test, "test")
    _check_magnitude(
        (F_train, X_train, "training"), (F_val, X_val, "validation"), (F_test, X_test, "test")
    )
    noise = cfg.noise
    y_train = F_train + noise * s_noise_train.standard_normal(len(F_train)) if noise else F_train
    y_val = F_val + noise * s_noise_val.standard_normal(len(F_val)) if noise else F_val
    scaler = Scaler.fit(cfg.scale_y, y_train)
    _check_output_range(exp, scaler.forward(y_train))
    if cfg.scale_y == "none" and exp.training.dtype == "float32" and len(y_train):
        top = float(np.max(np.abs(y_train)))
        if top > MAX_ABS_FLOAT32:
            raise DataError(
                f"target values reach {top:.3g}: unscaled (scale_y: none), their squares "
                "overflow float32; use scale_y: standard or dtype: float64"
            )
    return Dataset(X_train, y_train, F_train, X_val, y_val, F_val, X_test, F_test, scaler)
