"""Text for the terminal: what a name may not do to the line it is printed on."""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and the marks that reorder text on a terminal (U+202E …)
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text) -> str:
    """``text`` with control characters escaped (``\\x1b``, ``\\n``, ``\\u202e``): a
    folder name cannot colour the terminal, reverse a line or break a table's row."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), str(text))


def count(n: int, noun: str) -> str:
    """``n`` with thousands separators and ``noun``, plural unless n is 1: "1 run",
    "2,048 runs"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def cut(text, limit: int = 40) -> str:
    """``text`` printable and at most ``limit`` characters (its end marked …)."""
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
