"""Input points for ``nnfit predict``: ``--x`` values and CSV files read in chunks.

A CSV file is read twice, never whole: a first pass checks every row (exactly ``dim``
finite numbers; an optional header line first, the inputs' names in any order) and
counts the points outside the unit cube, a second yields the points in chunks of
:data:`CHUNK` rows. Problems are :class:`~nnfit.experiment.data.DataError` naming the
file and line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnfit.experiment.data import DataError
from nnfit.experiment.yamlfile import cut, underflows

Array = np.ndarray

CHUNK = 65_536
MAX_LINE = 100_000  # characters; a longer line is not a row of at most 64 numbers


def _show(text: str, limit: int = 40) -> str:
    return repr(cut(text, limit))


#: a number as written in a CSV file or on the command line: digits, an optional point
#: and exponent, or nan/inf (refused later as not finite); not Python's wider float()
#: syntax (1_000, full-width digits)
NUMBER = re.compile(
    r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(nan|inf|infinity)", re.I
)
#: a column name of a header line
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ .()\[\]-]*")


def whole_numbers(text: str, limit: int = 9) -> list[int] | None:
    """'1,4,16' → [1, 4, 16]; None unless every part is plain digits (at most ``limit``
    of them past leading zeros): int() would also take ' 3', '+3', '1_0', another
    script's digits, and fail on a number of 4,301 digits."""
    parts = text.split(",")
    if not all(re.fullmatch(rf"0*[0-9]{{1,{limit}}}", p) for p in parts):
        return None
    return [int(p.lstrip("0") or "0") for p in parts]  # int() reads at most 4,300 digits


def _numbers(parts: list[str]) -> list[float] | None:
    parts = [p.strip() for p in parts]
    if not all(NUMBER.fullmatch(p) for p in parts):
        return None
    return [float(p) for p in parts]


def _bad(parts: list[str]) -> str:
    """The first field that is not a number, in words."""
    j, p = next((j, p.strip()) for j, p in enumerate(parts) if _numbers([p]) is None)
    if not p:
        return f"column {j + 1} is empty"
    return f"{_show(p)} is not a number{_separator(p)}"


def _separator(field: str) -> str:
    """'; columns are separated by commas, not a tab' for a field of numbers or names
    that another separator joins; else ''."""
    for sep, name in (("\t", "a tab"), (";", "a semicolon")):
        pieces = [q.strip().strip('"') for q in field.split(sep)]
        if sep in field and all(_numbers([q]) is not None or NAME.fullmatch(q) for q in pieces):
            return f"; columns are separated by commas, not {name}"
    return ""


def parse_x(items: list[str], dim: int) -> Array:
    """One point per ``--x`` (``--x 0.1,0.2`` is one point in 2-D), shape (n, dim)."""
    rows = []
    for item in items:
        parts = item.split(",")
        vals = _numbers(parts)
        if vals is None:
            raise DataError(f"--x {cut(item)}: {_bad(parts)}; expected numbers separated by commas")
        if len(vals) != dim:
            what = "coordinate" if dim == 1 else "coordinates"
            more = "; give one point per --x, e.g. --x 0.1 --x 0.25" if dim == 1 else ""
            raise DataError(
                f"--x {cut(item)}: the model takes {dim} {what} per point, got {len(vals)}{more}"
            )
        if not all(math.isfinite(v) for v in vals):
            raise DataError(f"--x {cut(item)}: coordinates must be finite numbers")
        tiny = next((p for p, v in zip(parts, vals, strict=True) if v == 0 and underflows(p)), None)
        if tiny is not None:  # 1e-400 would read as 0, as an experiment file says too
            raise DataError(
                f"--x {cut(item)}: {cut(tiny.strip(), 30)} is nearer 0 than the smallest "
                "float64 (about 5e-324) and would read as 0"
            )
        rows.append(vals)
    return np.asarray(rows, dtype=float).reshape(-1, dim)


@dataclass
class Scan:
    """What the first pass over a CSV file found."""

    rows: int = 0
    outside: int = 0
    first_outside: tuple | None = None
    #: the input names of the file's header (x, y, z or x0, x1, …) in the model's order
    names: list[str] | None = None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        # utf-8-sig: a byte-order mark at the start is not part of the first field
        fh = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115  (closed below)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with fh:
        i = 0
        while True:
            try:
                line = fh.readline(MAX_LINE + 1)
            except UnicodeDecodeError:
                raise DataError(f"{path}:{i + 1}: not UTF-8 text") from None
            except OSError as exc:
                raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
            if not line:
                return
            i += 1
            if len(line) > MAX_LINE and not line.endswith("\n"):
                raise DataError(f"{path}:{i}: line longer than {MAX_LINE:,} characters")
            yield i, line.strip()


def _fields(line: str) -> list[str]:
    """The fields of one CSV line, quotes read as CSV writes them (``"x0","x1"``, a
    header from a spreadsheet or pandas)."""
    if '"' not in line:
        return line.split(",")
    import csv

    return next(csv.reader([line]), [""])


def _n_columns(n: int) -> str:
    return f"{n} column{'' if n == 1 else 's'}"


def _row(path: Path, i: int, line: str, dim: int) -> list[float] | None:
    """The numbers of one line; None for a header on the first line."""
    if line.count('"') % 2:  # CSV doubles a quote inside a field, so a closed one is even
        raise DataError(f'{path}:{i}: a quote (") is opened and not closed')
    parts = _fields(line)
    vals = _numbers(parts)
    if vals is None:
        # a header is a first line of names only (x0,x1); anything else is a row with a
        # typo, and is said to be one rather than skipped
        named = [NAME.fullmatch(p.strip()) for p in parts]
        if (
            i == 1
            and any(named)
            and all(m or not p.strip() for m, p in zip(named, parts, strict=True))
        ):
            # names and an empty column (x0,x1, with a trailing comma): 'x0' was said to
            # be no number
            empty = next((j for j, p in enumerate(parts) if not p.strip()), None)
            if empty is not None:
                raise DataError(f"{path}:1: column {empty + 1} of the header is empty")
        if i == 1 and all(named):
            if len(parts) != dim:
                raise DataError(
                    f"{path}:1: the header has {_n_columns(len(parts))}, the model takes {dim}"
                )
            return None
        raise DataError(f"{path}:{i}: {_bad(parts)}")
    if len(vals) != dim:
        raise DataError(f"{path}:{i}: {_n_columns(len(vals))}, the model takes {dim}")
    for j, v in enumerate(vals):
        if not math.isfinite(v):
            raise DataError(f"{path}:{i}: column {j + 1} is {parts[j].strip()}, not finite")
        if v == 0 and underflows(parts[j]):
            raise DataError(
                f"{path}:{i}: column {j + 1} is {cut(parts[j].strip(), 30)}, nearer 0 than the "
                "smallest float64 (about 5e-324), and would read as 0"
            )
    return vals


def _names(dim: int) -> list[list[str]]:
    """The header names a model's inputs may have: x0 … x{d−1}, or x, y, z up to 3-D."""
    out = [[f"x{i}" for i in range(dim)]]
    if dim <= 3:
        out.append(["x", "y", "z"][:dim])
    return out


def _columns(path: Path, line: str, dim: int) -> tuple[list[int], list[str]]:
    """For a header line, the column of each input coordinate (names in any order), and
    the names in the model's order."""
    given = [p.strip().lower() for p in _fields(line)]
    for names in _names(dim):
        if sorted(given) == sorted(names):
            return [given.index(n) for n in names], names
    expected = " or ".join(", ".join(n) for n in _names(dim))
    raise DataError(
        f"{path}:1: the header names {cut(', '.join(given))}; the model's inputs are "
        f"{expected} (in any order), or leave the header out"
    )


def _points(path: Path, dim: int, found: Scan | None = None) -> Iterator[list[float]]:
    """The points of a CSV file in the model's coordinate order, one row at a time; a
    header's names go into ``found``."""
    cols = None
    for i, line in _lines(path):
        if not line:
            continue
        vals = _row(path, i, line, dim)
        if vals is None:
            cols, names = _columns(path, line, dim)
            if found is not None:
                found.names = names
            continue
        yield vals if cols is None else [vals[c] for c in cols]


def scan_csv(path: Path, dim: int) -> Scan:
    """Check every row of a CSV file of points; count the points outside [0, 1]^dim."""
    s = Scan()
    for vals in _points(path, dim, s):
        s.rows += 1
        if any(v < 0 or v > 1 for v in vals):
            s.outside += 1
            s.first_outside = s.first_outside or tuple(vals)
    if not s.rows:
        raise DataError(f"{path}: no points in the file")
    return s


def csv_chunks(
    path: Path, dim: int, chunk: int | None = None, found: Scan | None = None
) -> Iterator[Array]:
    """The points of a CSV file (checked by :func:`scan_csv`), ``chunk`` rows at a time."""
    chunk = chunk or CHUNK
    rows: list[list[float]] = []
    for vals in _points(path, dim, found):
        rows.append(vals)
        if len(rows) == chunk:
            yield np.asarray(rows, dtype=float)
            rows = []
    if rows:
        yield np.asarray(rows, dtype=float)


def read_csv(path: Path, dim: int) -> tuple[Scan, Iterator[Array] | list[Array]]:
    """:func:`scan_csv` and :func:`csv_chunks` of a CSV file of points: two passes over a
    regular file, one over anything else (a pipe, ``/dev/stdin``, ``<(…)``), which can be
    read only once and is held in memory."""
    try:
        regular = Path(path).is_file()
    except OSError:
        regular = False
    if regular:
        return scan_csv(path, dim), csv_chunks(path, dim)
    found = Scan()
    chunks = list(csv_chunks(path, dim, found=found))
    if not chunks:
        raise DataError(f"{path}: no points in the file")
    X = np.vstack(chunks)
    scan = scan_points(X)
    scan.names = found.names
    return scan, [X]


def outside_note(n_outside: int, n: int, first, dim: int) -> str | None:
    """A warning when points lie outside [0, 1]^d, where every model here was trained."""
    if not n_outside:
        return None
    cube = "[0, 1]" if dim == 1 else f"[0, 1]^{dim}"
    shown = ", ".join(f"{v:g}" for v in first[:8]) + (", …" if len(first) > 8 else "")
    return (
        f"warning: {n_outside} of {n} points lie outside {cube}, where the model was trained "
        f"(first: {shown}); its values there are extrapolation"
    )


def scan_points(X: Array) -> Scan:
    """The same counts as :func:`scan_csv` for points already in memory."""
    outside = np.any((X < 0) | (X > 1), axis=1)
    n = int(outside.sum())
    first = tuple(X[int(np.argmax(outside))].tolist()) if n else None
    return Scan(rows=len(X), outside=n, first_outside=first)
