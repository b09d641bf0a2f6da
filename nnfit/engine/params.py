"""Declared hyperparameters: a default, a type and a range, checked in one place.

Every parameter of every registry entry (an activation's slope, a loss's δ, Adam's β₂, a
schedule's step size, an initialiser's std) is a :class:`Param`. The experiment file's
validation, its JSON Schema and its error messages all come from these declarations, so
a value is checked the same way wherever it is given, and NaN, ±inf or a zero step size
never reach the maths.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np


def _given(value) -> str:
    """A value as given, but an integer of more digits than a message can hold as such
    (Python refuses to print one of more than 4,300 digits at all)."""
    if isinstance(value, int) and abs(value) >= 10**24:
        return f"an integer of about {int(abs(value).bit_length() * math.log10(2)) + 1} digits"
    return repr(value)


@dataclass(frozen=True)
class Param:
    """A number with a default and an interval ``lo (<|≤) x (<|≤) hi``.

    ``integer`` parameters take whole numbers only (a float such as 4.0 is accepted
    and becomes 4). Every parameter must be finite.
    """

    default: float
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    doc: str = ""

    def describe(self, name: str = "x") -> str:
        """The allowed range in words, e.g. ``0 ≤ beta2 < 1``."""
        kind = "a whole number" if self.integer else "a finite number"
        if self.lo is None and self.hi is None:
            return f"{name}: {kind}"
        left = "" if self.lo is None else f"{self.lo:g} {'<' if self.lo_open else '≤'} "
        right = "" if self.hi is None else f" {'<' if self.hi_open else '≤'} {self.hi:g}"
        return f"{left}{name}{right}"

    def check(self, name: str, value) -> float | int:
        """Return ``value`` as a number, or raise ValueError naming the range."""
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a number ({self.describe(name)}), got {value!r}")
        value = int(value) if isinstance(value, numbers.Integral) else float(value)
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int beyond any float
            finite = False
        if not finite:
            raise ValueError(f"{name} must be finite ({self.describe(name)}), got {_given(value)}")
        if self.integer and float(value) != int(value):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        low_bad = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        high_bad = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
        if low_bad or high_bad:  # the value as given: int(1e236) would print 237 digits
            raise ValueError(f"{name} must satisfy {self.describe(name)}, got {_given(value)}")
        # one value, one spelling: 1, 1.0 and -0.0 versus 0.0 would otherwise give one
        # experiment several config hashes (and run ids that resume cannot match)
        return int(value) if self.integer else float(value) + 0.0

    def json_schema(self) -> dict:
        out: dict = {"type": "integer" if self.integer else "number", "default": self.default}
        if self.lo is not None:
            out["exclusiveMinimum" if self.lo_open else "minimum"] = self.lo
        if self.hi is not None:
            out["exclusiveMaximum" if self.hi_open else "maximum"] = self.hi
        if self.doc:
            out["description"] = self.doc
        return out


class UnknownChoice(KeyError, ValueError):
    """A name a registry does not have, or a parameter its entry does not take.

    A ValueError, as every other bad value given to the engine is, and a KeyError (a
    name looked up) for code that catches that; its message is the plain sentence, not
    a KeyError's quoted repr."""

    __str__ = Exception.__str__


def lookup(family: str, name, table: dict):
    """``table[name]``, or an :class:`UnknownChoice` naming the family and its names."""
    if not isinstance(name, str) or name not in table:
        raise UnknownChoice(f"unknown {family} {name!r} (allowed: {', '.join(table)})")
    return table[name]


def bind(family: str, name: str, declared: dict[str, Param], given: dict) -> dict:
    """Check ``given`` against ``declared`` and fill the defaults.

    Raises
    ------
    UnknownChoice
        For a parameter ``name`` does not take (a KeyError and a ValueError).
    ValueError
        For a value outside its declared range.
    """
    extra = set(given) - set(declared)
    if extra:
        allowed = ", ".join(declared) or "no parameters"
        got = ", ".join(sorted(map(str, extra)))
        raise UnknownChoice(f"{family} {name!r} takes {allowed}; got {got}")
    return {k: p.check(k, given.get(k, p.default)) for k, p in declared.items()}


def spec(value, family: str = "choice") -> tuple[str, dict]:
    """``"adam"`` or ``{"name": "adam", "lr": 0.01}`` → ``("adam", {"lr": 0.01})``."""
    if isinstance(value, str):
        return value, {}
    if not isinstance(value, dict) or "name" not in value:
        raise UnknownChoice(
            f"{family} must be a name or a dict with its 'name' and parameters, got {value!r}"
        )
    value = dict(value)
    return value.pop("name"), value


# common ranges
POSITIVE = {"lo": 0.0, "lo_open": True}
UNIT_OPEN = {"lo": 0.0, "hi": 1.0, "hi_open": True}  # 0 ≤ x < 1
