"""What :class:`nnfit.Regressor` takes from scikit-learn's conventions, without needing it.

The base classes (scikit-learn's when it is installed, stand-ins that follow the same
conventions otherwise), the input checks with the messages its estimator checks expect,
R², and the seeding of a fit.
"""

from __future__ import annotations

import inspect

import numpy as np

from nnfit.engine import seeds

try:  # optional: the estimator works without scikit-learn, and it is not a dependency
    from sklearn.base import BaseEstimator, RegressorMixin
    from sklearn.exceptions import NotFittedError
except ImportError:

    class NotFittedError(ValueError, AttributeError):
        """predict before fit."""

    class BaseEstimator:
        """``get_params``/``set_params``/repr by scikit-learn's conventions."""

        @classmethod
        def _get_param_names(cls) -> list[str]:
            sig = inspect.signature(cls.__init__)
            return sorted(p for p in sig.parameters if p != "self")

        def get_params(self, deep: bool = True) -> dict:
            out = {}
            for name in self._get_param_names():
                value = getattr(self, name)
                if deep and hasattr(value, "get_params") and not isinstance(value, type):
                    out.update({f"{name}__{k}": v for k, v in value.get_params().items()})
                out[name] = value
            return out

        def set_params(self, **params):
            names = self._get_param_names()
            for key, value in params.items():
                if key not in names:
                    raise ValueError(
                        f"Invalid parameter {key!r} for estimator {self}. "
                        f"Valid parameters are: {names!r}."
                    )
                setattr(self, key, value)
            return self

        def __repr__(self) -> str:
            defaults = inspect.signature(type(self).__init__).parameters
            changed = [
                f"{k}={v!r}"
                for k, v in self.get_params(deep=False).items()
                if not _same(v, defaults[k].default)
            ]
            return f"{type(self).__name__}({', '.join(changed)})"

    class RegressorMixin:
        def score(self, X, y, sample_weight=None) -> float:
            """R² of ``predict(X)`` against y (averaged over outputs)."""
            return r2_score(y, self.predict(X), sample_weight)


Array = np.ndarray


def _same(a, b) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return a is b


def r2_score(y, g, sample_weight=None) -> float:
    """1 − Σw(y − g)² / Σw(y − ȳ)² per output, averaged; 1 (or 0) where y is constant and
    predicted exactly (or not), as scikit-learn reports it."""
    g = np.asarray(g, dtype=float).reshape(len(g), -1)
    y = check_y(y, len(g)).reshape(len(g), -1)  # the X passed to predict has len(g) rows
    w = np.ones(len(y)) if sample_weight is None else _dense(sample_weight, "sample_weight")
    if w.shape != (len(y),):
        raise ValueError(f"sample_weight must have shape ({len(y)},), got {w.shape}")
    _finite(w, "sample_weight")
    if (w < 0).any() or not w.sum() > 0:
        raise ValueError("sample_weight must be ≥ 0 with a positive sum")
    w = w[:, None]
    res = np.sum(w * (y - g) ** 2, axis=0)
    tot = np.sum(w * (y - np.average(y, axis=0, weights=w[:, 0])) ** 2, axis=0)
    r2 = np.where(tot > 0, 1.0 - res / np.where(tot > 0, tot, 1.0), np.where(res == 0, 1.0, 0.0))
    return float(np.mean(r2))


# ------------------------------------------------------------------------ input checks


def _dense(A, what: str) -> Array:
    """``A`` as a float64 array: sparse, complex and non-numeric input refused."""
    if A is None:
        raise ValueError(f"requires {what} to be passed, but the target {what} is None")
    if type(A).__module__.startswith("scipy.sparse"):
        raise TypeError(
            f"sparse input is not supported: nnfit's networks take dense arrays; "
            f"convert {what} with .toarray()"
        )
    if isinstance(A, np.ma.MaskedArray) and np.ma.is_masked(A):
        raise ValueError(f"{what} has masked entries; fill or drop them first")
    A = np.asarray(A)
    if A.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {what} has dtype {A.dtype}")
    text = A.dtype.kind == "O" and any(isinstance(v, str | bytes) for v in A.flat)
    if A.dtype.kind in "USVMm" or text:  # text read as numbers, dates as counts
        raise ValueError(f"{what} must hold numbers, got dtype {A.dtype}")
    return A.astype(np.float64)  # a dict in an object array raises TypeError here


def _finite(A: Array, what: str) -> None:
    if not np.isfinite(A).all():  # scikit-learn's words, for what is there
        kind = "NaN" if np.isnan(A).any() else "infinity or a value too large for float64"
        raise ValueError(f"Input {what} contains {kind}.")


def feature_names(X) -> Array | None:
    """The column names of a data frame whose columns are all named by strings (what
    scikit-learn keeps as ``feature_names_in_``); None for anything else."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = list(columns)
    if not names or not all(isinstance(c, str) for c in names):
        return None
    return np.asarray(names, dtype=object)


def check_names(fitted: Array | None, X, name: str) -> None:
    """As scikit-learn: other names than at fit are an error; names on one side only, a
    warning."""
    import warnings

    given = feature_names(X)
    if fitted is None and given is None:
        return
    if fitted is None:
        warnings.warn(
            f"X has feature names, but {name} was fitted without feature names", stacklevel=3
        )
    elif given is None:
        warnings.warn(
            f"X does not have valid feature names, but {name} was fitted with feature names",
            stacklevel=3,
        )
    elif list(given) != list(fitted):
        raise ValueError(
            "The feature names should match those that were passed during fit: "
            f"fitted with {list(fitted)}, got {list(given)}"
        )


def check_X(X, n_features: int | None = None, name: str = "Regressor") -> Array:
    """X as a float64 (n, d) array with n, d ≥ 1 and finite entries."""
    X = _dense(X, "X")
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D array X of shape (n_samples, n_features), got shape {X.shape}. "
            "Reshape your data either using X.reshape(-1, 1) if it has a single feature "
            "or X.reshape(1, -1) if it is a single sample."
        )
    for axis, what in ((0, "sample"), (1, "feature")):
        if X.shape[axis] < 1:
            raise ValueError(
                f"Found array with 0 {what}(s) (shape={X.shape}) while a minimum of 1 is required."
            )
    _finite(X, "X")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features, but {name} is expecting {n_features} features as input."
        )
    return X


def check_y(y, n: int) -> Array:
    """y as a float64 array of shape (n,) or (n, k), finite."""
    y = _dense(y, "y")
    if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] < 1):
        raise ValueError(f"y should be a 1d array of shape (n,) or (n, k), got shape {y.shape}")
    if len(y) != n:
        raise ValueError(f"X and y have different numbers of samples: {n} and {len(y)}")
    _finite(y, "y")
    return y


def seed_sequence(random_state) -> np.random.SeedSequence:
    """The root of a fit's random streams: an int seeds it (as ``training.seed`` does),
    None draws fresh entropy, a Generator or RandomState is drawn from."""
    if random_state is None:
        return np.random.SeedSequence()
    if isinstance(random_state, int | np.integer) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be ≥ 0, got {random_state}")
        return seeds.root(int(random_state), seeds.TRAINING)
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(2**63)))
    if isinstance(random_state, np.random.RandomState):
        return np.random.SeedSequence(int(random_state.randint(2**31)))
    raise ValueError(
        f"random_state must be None, an int, a numpy Generator or RandomState, got {random_state!r}"
    )
