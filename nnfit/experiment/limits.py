"""Bounds on every size a user controls, checked before any work starts.

A grid of a million points, ``--seeds 100000000``, ``--jobs 10000``, a grid design in
40 dimensions or ten million epochs of history would each run for minutes or exhaust
memory before failing. Each bound here has a default and an environment variable that
raises it; an error names the size, the limit and that variable, in one line.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from nnfit.experiment.yamlfile import ConfigError


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def physical_mb() -> float:
    """The machine's memory in MiB (4 GiB when it cannot be read)."""
    from nnfit.engine.gauss_newton import physical_mb as read

    return read() or 4096.0


@dataclass(frozen=True)
class Limit:
    """A bound with its environment variable; ``default`` may depend on the machine."""

    env: str
    what: str
    default: object  # a number, or a function giving one
    #: the most the variable may raise it to (the size of a C int, or of memory, beyond:
    #: 10^20 jobs was an OverflowError from multiprocessing, 10^10 seeds a MemoryError)
    ceiling: int = 2**53

    def value(self) -> int:
        raw = os.environ.get(self.env, "").strip()
        if raw:
            if not re.fullmatch(r"[0-9]+", raw) or int(raw) < 1:  # no full-width digits
                raise LimitError(f"{self.env}={raw[:40]!r}: expected a positive whole number")
            if len(raw) > 30 or int(raw) > self.ceiling:
                raise LimitError(
                    f"{self.env}={raw[:40]}: at most {self.ceiling:,} {self.what.split(',')[0]}"
                )
            return int(raw)
        d = self.default() if callable(self.default) else self.default
        return max(1, int(d))

    def hint(self) -> str:
        return f"set {self.env} to raise the limit"

    def check(self, n: float, where: str, says: str) -> None:
        """Raise LimitError when ``n`` is above the limit: ``WHERE: SAYS (at most …)``."""
        top = self.value()
        if n > top:
            what = self.what  # "MiB, 80% of this machine": the default's, not the variable's
            if os.environ.get(self.env, "").strip():
                what = f"{what.split(',')[0]}, as {self.env} says"
            raise LimitError(f"{where}: {says} (at most {top:,} {what}; {self.hint()})")


class LimitError(ConfigError):
    """A size above its bound: bad input, in one printable line."""

    def __init__(self, message: str):
        super().__init__([message])


GRID_POINTS = Limit("NNFIT_MAX_GRID_POINTS", "runs", 10_000, ceiling=1_000_000)
JOBS = Limit("NNFIT_MAX_JOBS", "jobs, two per core", lambda: 2 * cores(), ceiling=1024)
SWEEP_MB = Limit("NNFIT_MAX_MEMORY_MB", "MiB, 80% of this machine", lambda: 0.8 * physical_mb())
HISTORY_MB = Limit("NNFIT_MAX_HISTORY_MB", "MiB", 512)

#: bytes a history row takes per model: epoch, losses, lr, time and a norm per layer
#: (Python floats in lists, measured at about 280 bytes for two layers)
HISTORY_ROW_BYTES = 200
HISTORY_LAYER_BYTES = 40


def history_mb(epochs: int, layers: int, models: int = 1) -> float:
    """Memory of the per-epoch history of ``models`` trained for ``epochs``."""
    row = HISTORY_ROW_BYTES + HISTORY_LAYER_BYTES * layers
    return (epochs + 1) * row * models / 2**20


def grid_design(n: int, d: int) -> tuple[int, int]:
    """(points per axis, points) of the regular design ``sampling: grid`` draws for n."""
    m = max(2, round(n ** (1.0 / d)))
    return m, m**d


def check_experiment(exp) -> None:
    """Bounds of one run that the config's own fields do not express.

    Raises ``KeyedError`` naming the key at fault.
    """
    d, n = exp.target.dim, exp.data.n_train
    if exp.data.sampling == "grid":
        m, total = grid_design(n, d)
        if total > 2 * n:
            raise KeyedError(
                "data.sampling",
                f"grid in {d}-D has at least 2 points per axis, {m}^{d} = {total:,} points, "
                f"far more than n_train {n:,}; use sampling: sobol or uniform",
            )
    layers = len(exp.model.hidden) + 1
    need = history_mb(exp.training.epochs, layers)
    try:
        HISTORY_MB.check(
            need,
            "training.epochs",
            f"{exp.training.epochs:,} epochs keep a history of about {math.ceil(need):,} MiB",
        )
    except LimitError as exc:
        raise KeyedError("training.epochs", exc.problems[0].split(": ", 1)[1]) from None


class KeyedError(ValueError):
    """A problem that belongs to one dotted key of the experiment."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key
