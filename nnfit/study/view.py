"""A finished sweep as the study reads it: grid points by setting, medians over seeds.

The sweep's ``summary.json`` holds, per grid point, every run's errors and baselines;
the study reports the median over seeds (three seeds: the middle one, robust to one
run that went astray) with the best and worst seed as the band.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from nnfit.experiment.targets import TARGETS
from nnfit.sweep.rates import fit_slope, slope_spread


@dataclass
class Sweep:
    """One sweep of the study: its file's stem, folder, summary, points and timing."""

    stem: str
    folder: Path
    summary: dict
    points: list = field(default_factory=list)  # nnfit.sweep.grid.Point, in grid order
    wall_s: float = 0.0
    cpu_s: float = 0.0

    @property
    def groups(self) -> list[dict]:
        return self.summary["groups"]

    def where(self, **match) -> list[dict]:
        """Grid points whose value of each dotted key (``__`` for ``.``) equals ``match``."""
        want = {k.replace("__", "."): v for k, v in match.items()}
        return [g for g in self.groups if all(g["point"].get(k) == v for k, v in want.items())]

    def by(self, key: str) -> dict:
        """Grid points by their value of ``key`` (first-seen order), each list by width."""
        out: dict = {}
        for g in self.groups:
            out.setdefault(_hashable(g["point"].get(key)), []).append(g)
        return {k: sorted(v, key=lambda g: g["width"]) for k, v in out.items()}

    def exp(self, group: dict):
        """The validated experiment of a grid point's first seed."""
        for p in self.points:
            if {k: v for k, v in p.values if not k.endswith(".seed")} == group["point"]:
                return p.exp
        raise KeyError(f"{self.stem}: no point {group['point']}")

    def run_dir(self, group: dict, seed_rank: int = 1) -> Path | None:
        """The folder of the run ranked ``seed_rank`` by test RMS error (0 best, 1 median)."""
        runs = sorted(ok_runs(group), key=lambda r: r["test_rmse"])
        if not runs:
            return None
        return self.folder / runs[min(seed_rank, len(runs) - 1)]["run"]

    def config(self, key: str):
        """A value of the base config (dotted key), e.g. ``data.n_train``."""
        node = self.points[0].exp.run_config()
        for part in key.split("."):
            node = node[part]
        return node


def _hashable(v):
    return (
        tuple(v) if isinstance(v, list) else (repr(sorted(v.items())) if isinstance(v, dict) else v)
    )


def ok_runs(group: dict) -> list[dict]:
    return [r for r in group["runs"] if r["status"] == "ok"]


def med(group: dict, metric: str = "test_rmse") -> float:
    """Median over the seeds that finished ok (NaN when none did)."""
    vals = [r[metric] for r in ok_runs(group) if r.get(metric) is not None]
    return statistics.median(vals) if vals else math.nan


def spread(group: dict, metric: str = "test_rmse") -> tuple[float, float]:
    """(best, worst) seed."""
    vals = [r[metric] for r in ok_runs(group) if r.get(metric) is not None]
    return (min(vals), max(vals)) if vals else (math.nan, math.nan)


def run_baseline(run: dict, name: str, metric: str = "rmse") -> float | None:
    """One run's baseline test error (``rmse``, ``max_abs``, ``rel_l2``), None if absent."""
    return ((run.get("baselines") or {}).get(name) or {}).get(metric)


def baseline(group: dict, name: str, metric: str = "rmse") -> float:
    """Median over seeds of a baseline's test error."""
    vals = [v for r in ok_runs(group) if (v := run_baseline(r, name, metric)) is not None]
    return statistics.median(vals) if vals else math.nan


def baseline_size(group: dict, name: str) -> int | None:
    for r in ok_runs(group):
        b = (r.get("baselines") or {}).get(name)
        if b:
            return b.get("n_params")
    return None


def target_label(target) -> str:
    """A grid value of ``target`` (or a formula) in words: 'sin(2·π·x)', 'Runge 1/(1 + …)'."""
    if isinstance(target, dict):
        if target.get("name"):
            t = TARGETS[target["name"]]
            return t.formula.split("  (")[0].replace("·π·", "π").replace("2·π", "2π")
        target = target.get("expr", "")
    return formula_text(str(target))


def formula_text(expr: str) -> str:
    """'sin(6*pi*x) + exp(-((x - 0.6)/0.02)**2/2)' → 'sin(6πx) + exp(−((x − 0.6)/0.02)²/2)'."""
    text = expr.replace("**2", "²").replace("*pi*", "π").replace("pi*", "π").replace("*pi", "π")
    text = text.replace("**", "^").replace("*", "·").replace("-", "−").replace("sqrt", "√")
    return re.sub(r"√\(([0-9.]+)\)", r"√\1", text)


def bound(v, up: bool = False, digits: int = 2) -> str:
    """:func:`fmt` of a bound, rounded outward (down, or ``up``), so that it still holds
    as printed: a least value of 0.5168 is '0.51', not '0.52'."""
    if v is None or not math.isfinite(v) or v == 0:
        return fmt(v, digits)
    step = 10.0 ** (math.floor(math.log10(abs(v))) - digits + 1)
    q = v / step
    q = math.ceil(q - 1e-9) if up else math.floor(q + 1e-9)  # a bound already round stays
    return fmt(q * step, digits)


def fmt(v, digits: int = 2) -> str:
    """A number for a table or sentence: '3.2e-08', '0.41', '3,822', '—' for a missing
    value."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if v == 0:
        return "0"
    if isinstance(v, int):
        return f"{v:,}"
    a = abs(float(f"{v:.{digits - 1}e}"))  # as rounded: 0.00999 reads 0.010, not 1.0e-2
    if 1e-2 <= a < 1e3:
        # '#': the digits kept, so that 0.6 beside 0.67 reads 0.60
        return f"{v:#.{digits}g}" if a < 1 else f"{v:.{digits + 1}g}"
    if 1e3 <= a < 1e6:  # a factor or a count: 3,822 rather than 3.8e+3
        return f"{v:,.0f}"
    return f"{v:.{digits - 1}e}".replace("e-0", "e-").replace("e+0", "e+")


def upper_first(text: str) -> str:
    """The first letter a capital, the rest as it is ('random features: …' → 'Random …')."""
    return text[:1].upper() + text[1:]


def slope_fit(groups: list[dict], value) -> dict:
    """The slope of log(error) against log(width) over the widths where it still falls
    (:func:`nnfit.sweep.rates.fit_slope`), ``value(run)`` the error of one seed's run
    (None where it has none)."""
    widths = [g["width"] for g in groups]
    return fit_slope(widths, [[value(r) for r in ok_runs(g)] for g in groups])


def slope_cell(fit: dict) -> str:
    """'−2.01 ± 0.03 (2–64, width 1 flat, then slower)': the slope, its seeds' spread, the
    widths fitted, a flat head, flat stretches inside ('flat 2–4') and a bend left out."""
    if fit.get("slope") is None:
        return "—"
    text = f"{fit['slope']:.2f}".replace("-", "−") + slope_spread(fit)
    used = fit["used"]
    text += f" ({used[0]:g}–{used[-1]:g}"
    if head := fit.get("head"):
        text += (
            f", width {head[0]:g} flat" if len(head) == 1 else f", {head[0]:g}–{head[-1]:g} flat"
        )
    for a, b in fit.get("flat") or ():  # a flat stretch inside the fitted widths
        text += f", flat {a:g}–{b:g}"
    if fit.get("dropped"):
        text += ", then " + ("flat" if fit.get("bend", "flat") == "flat" else "slower")
    return text + ")"


def span(values: list[float]) -> str:
    """'−1.1 to −1.9' (or one value), from the shallowest slope to the steepest."""
    lo, hi = min(values), max(values)
    out = f"{hi:.1f}" if f"{lo:.1f}" == f"{hi:.1f}" else f"{hi:.1f} to {lo:.1f}"
    return out.replace("-", "−")
