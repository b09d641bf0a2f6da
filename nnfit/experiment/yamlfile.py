"""The experiment file as text: reading it, YAML with a line for every key, overrides.

Everything here works on plain data; :mod:`nnfit.config` validates it. YAML aliases are
refused at their first reuse, so an alias bomb never expands, and the number of nodes
is bounded before anything walks them. Numbers read as in YAML 1.2 and JSON: ``1e-8``
is a float (YAML 1.1 would read it as a string), in files, ``--set`` values and grids,
and ``2024-01-01`` is a string (YAML 1.2 has no dates).
"""

from __future__ import annotations

import copy
import errno
import math
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 1_000_000
#: how long a pipe given as a file may take to deliver its first bytes
PIPE_WAIT_S = 5
MAX_NODES = 20_000


# what may not reach a message line raw: C0 and C1 controls (a newline, an escape), DEL
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def cut(text: str, limit: int = 40) -> str:
    """``text`` at most ``limit`` characters, its end marked …"""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def underflows(text: str) -> bool:
    """Whether a number written as ``text`` that reads as 0 is not a 0 written (1e-400
    reads as 0; 0e-400 and 0.000 are zeros)."""
    return re.search(r"[1-9]", text.lower().replace("_", "").split("e")[0]) is not None


def kind(value, json: bool = False) -> str:
    """What a file holds where a mapping was expected, in its own format's words."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, list):
        return "an array" if json else "a list"
    if isinstance(value, str):
        return "a string" if json else "text"
    if isinstance(value, int | float):
        return "a number"
    return f"a {type(value).__name__}"


def short_path(name) -> str:
    """A path for a message line: a long one keeps its start and its end, and a control
    character in it is written escaped (``\\n``), so that a folder's name cannot break
    the line."""
    name = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), str(name))
    return name if len(name) <= 100 else f"{name[:40]}…{name[-40:]}"


def missing(path, kind: str = "file") -> str | None:
    """Why ``path`` cannot be looked at (no such file, a link that leads back to
    itself), or None if it can."""
    try:
        os.stat(path)
    except FileNotFoundError:
        dangling = os.path.islink(path)
        return f"no such {kind}" + (" (a symbolic link to nothing)" if dangling else "")
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link in it leads back to itself"
        return exc.strerror or str(exc)
    except ValueError as exc:  # a NUL in the name
        return str(exc)
    return None


class Problem(str):
    """One problem: the printable line, and its parts where known (else None).

    ``file`` and ``line`` locate it, ``key`` is the dotted key path, ``allowed`` what the
    key takes (a list of names or keys, or a range in words), ``given`` the value found,
    ``message`` the line without its location and key.
    """

    file: str | None
    line: int | None
    key: str | None
    allowed: Any
    given: Any
    message: str

    def __new__(
        cls, text: str, file=None, line=None, key=None, allowed=None, given=None, message=None
    ):
        self = super().__new__(cls, text)
        self.file, self.line, self.key = file, line, key
        self.allowed, self.given = allowed, given
        self.message = text if message is None else message
        return self


class ConfigError(ValueError):
    """Bad input: each entry of ``problems`` is one printable line (a :class:`Problem`).

    ``file``, ``line``, ``key``, ``allowed`` and ``given`` are those of the first problem.
    """

    def __init__(self, problems: list[str]):
        self.problems = [p if isinstance(p, Problem) else Problem(p) for p in problems]
        super().__init__("\n".join(self.problems))

    def __reduce__(self):
        return type(self), (self.problems,)

    @property
    def file(self) -> str | None:
        return self.problems[0].file if self.problems else None

    @property
    def line(self) -> int | None:
        return self.problems[0].line if self.problems else None

    @property
    def key(self) -> str | None:
        return self.problems[0].key if self.problems else None

    @property
    def allowed(self):
        return self.problems[0].allowed if self.problems else None

    @property
    def given(self):
        return self.problems[0].given if self.problems else None


# ------------------------------------------------------------------------ YAML with lines


class Unsupported(yaml.MarkedYAMLError):
    """YAML that is well formed but that experiment files do not allow (tags, aliases, merges)."""

    def __init__(self, problem: str, mark):
        super().__init__(problem=problem, problem_mark=mark)


_MERGE = "tag:yaml.org,2002:merge"


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader, for plain data only, with YAML 1.2's floats.

    An exponent needs no dot or sign: YAML 1.1 reads ``1e-8`` and ``1.0e5`` as strings
    while ``1.0e-5`` is a number; here all three are floats, like the same text in JSON
    or Python. A key given twice in one mapping is an error (PyYAML keeps the last).
    Explicit tags (``!!int x``, ``!!binary``), aliases (``*name``) and merge keys (``<<``)
    are refused before anything is built, so a value means what it reads as, and a
    value a constructor cannot build (``2024-13-45``) is a YAML error, not a crash.
    """

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise Unsupported(
                "YAML aliases (*name) are not supported; write the value out",
                self.peek_event().start_mark,
            )
        tag = getattr(self.peek_event(), "tag", None)  # None unless written in the text
        node = super().compose_node(parent, index)
        node.written_tag = tag
        return node

    def refuse_tags(self, node) -> None:
        """Refuse a tag written in the text (``!!int 5`` as well as ``!!int x``), or a
        merge key among a mapping's keys."""
        tag = getattr(node, "written_tag", None)
        if tag is not None:
            raise Unsupported(
                f"YAML tags ({tag.replace('tag:yaml.org,2002:', '!!')}) are not "
                "supported; write the value plainly (quoted, for a string)",
                node.start_mark,
            )
        if isinstance(node, yaml.MappingNode):
            for k, _ in node.value:
                if k.tag == _MERGE:
                    raise Unsupported(
                        "YAML merge keys (<<) are not supported; write the keys out",
                        k.start_mark,
                    )

    def construct_object(self, node, deep=False):
        self.refuse_tags(node)
        try:
            return super().construct_object(node, deep)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            text = node.value if len(node.value) <= 40 else f"{node.value[:20]}…{node.value[-8:]}"
            why = str(exc).split(";")[0]  # Python's int limit adds a hint about sys.set_…
            raise Unsupported(f"{text!r} cannot be read: {why}", node.start_mark) from None

    def construct_mapping(self, node, deep=False):
        seen = set()
        for k, _ in node.value:
            if not isinstance(k, yaml.ScalarNode):
                continue  # refused by Located; a plain load builds it as PyYAML does
            key = self.construct_object(k, deep=True)
            if isinstance(key, str | int | float | bool):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} given twice", k.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep)


# Plain scalars resolve as in YAML 1.2's core schema (and JSON), not YAML 1.1: no dates
# (`2024-01-01` is a string; 1.1 built a datetime.date no key takes), no octal by a
# leading zero (`010` is 10, not 8), no base 60 (`1:30` is a string, not 90), only
# true/false as booleans (`yes`, `no`, `on`, `off` are strings), and `1e-8` is a float
# (1.1 read it as a string). Underscores between digits stay allowed: `10_000`.
_Y = "tag:yaml.org,2002:"
_DIGITS = r"[0-9](?:_?[0-9])*"
_RESOLVERS = [
    (_Y + "bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (_Y + "int", rf"^[-+]?{_DIGITS}$|^0o[0-7]+$|^0x[0-9a-fA-F]+$", "-+0123456789"),
    (
        _Y + "float",
        rf"^[-+]?(?:\.{_DIGITS}|{_DIGITS}(?:\.(?:{_DIGITS})?)?)(?:[eE][-+]?[0-9]+)?$"
        r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$",
        "-+.0123456789",
    ),
]
Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag not in {_Y + t for t in ("bool", "int", "float", "timestamp")}
    ]
    for first, resolvers in Loader.yaml_implicit_resolvers.items()
}
for _tag, _rx, _first in _RESOLVERS:
    Loader.add_implicit_resolver(_tag, re.compile(_rx), list(_first))


def _construct_int(loader, node) -> int:
    text = loader.construct_scalar(node).replace("_", "")
    body = text.lstrip("+-")
    digits = len(body.removeprefix("0o").removeprefix("0x").lstrip("0"))
    limit = sys.get_int_max_str_digits() or math.inf
    if digits > limit:  # int() would refuse it in words about sys.set_int_max_str_digits
        raise Unsupported(
            f"{cut(text, 30)} is a whole number of {digits:,} digits, too long to read "
            f"(at most {limit:,}), and far {'below' if text.startswith('-') else 'above'} any "
            "value an experiment file takes",
            node.start_mark,
        )
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text)  # decimal, leading zeros and all


def _construct_float(loader, node) -> float:
    text = loader.construct_scalar(node).replace("_", "")
    special = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}
    if text.lower() in special:
        return special[text.lower()]
    v = float(text)
    shown = cut(text, 30)  # hundreds of digits would push the reason off the line
    if math.isinf(v):  # 1e400: a number written, not .inf
        far = "above the largest" if v > 0 else "below the most negative"
        raise Unsupported(
            f"{shown} is {far} float64 (about {math.copysign(1.8, v)}e308) and would read "
            f"as {'' if v > 0 else '-'}infinity",
            node.start_mark,
        )
    if v == 0 and underflows(text):
        raise Unsupported(
            f"{shown} is nearer 0 than the smallest float64 (about 5e-324) and would read as 0",
            node.start_mark,
        )
    return v


Loader.add_constructor(_Y + "int", _construct_int)
Loader.add_constructor(_Y + "float", _construct_float)
# `<<` is a merge key only among a mapping's keys, where it is refused (YAML 1.1 merges
# are not 1.2); as a value it is the text it reads as, as in YAML 1.2
Loader.add_constructor(_MERGE, yaml.SafeLoader.construct_scalar)


class Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper quoting every string that :class:`Loader` would read as
    something else (``'0o17'``, ``'1e5'``), so that a written config reads back as it was."""


Dumper.yaml_implicit_resolvers = Loader.yaml_implicit_resolvers


def dump_yaml(data) -> str:
    """YAML text of plain data, keys in their order, read back by :func:`load_yaml` as is."""
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=False)


#: the deepest lists and mappings a config built in Python may nest (no experiment needs
#: more than a few; past some hundreds Python's own stack gives out)
MAX_NESTING = 100


def plain_data(value, where: str, _open: frozenset = frozenset(), key: str | None = None):
    """A copy of ``value`` as the plain data a YAML file gives (numbers, strings, None,
    lists and string-keyed mappings), for configs built in Python. ``where`` names it in
    a message, ``key`` (``where`` if not given) is the error's key path.

    NumPy scalars and arrays become numbers and lists, tuples lists; anything else (a
    set, a date, an object, a list that contains itself) is a :class:`ConfigError`
    naming where it is.
    """
    from collections.abc import Mapping

    import numpy as np

    here = where or "config"
    key = here if key is None else key
    plain = "numbers, strings, lists and mappings"

    def refused(allowed, given, text):
        return ConfigError([Problem(f"{here}: {text}", None, None, key, allowed, given, text)])

    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic | np.ndarray) and value.dtype.kind in "biuf":
        return plain_data(value.tolist(), where, _open, key)
    if isinstance(value, list | tuple | Mapping):
        if len(_open) >= MAX_NESTING:  # a RecursionError from Python's stack, below
            text = f"nested deeper than {MAX_NESTING} levels"
            top = here.split(".")[0].split("[")[0]
            problem = Problem(
                f"{top}: {text}", None, None, top, f"at most {MAX_NESTING}", None, text
            )
            raise ConfigError([problem])
        if id(value) in _open:
            raise refused(
                f"{plain} that do not contain themselves", type(value).__name__, "contains itself"
            )
        inner = _open | {id(value)}
        if not isinstance(value, Mapping):
            return [
                plain_data(v, f"{where}[{i}]", inner, f"{key}[{i}]") for i, v in enumerate(value)
            ]
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise refused("string keys", k, f"keys must be strings, got {k!r}")
            sub = f"{where}.{k}" if where else k
            out[k] = plain_data(v, sub, inner, f"{key}.{k}" if where else k)
        return out
    raise refused(plain, value, f"a {type(value).__name__} is not plain data; use {plain}")


def load_yaml(text: str):
    """Plain data from YAML text read with :class:`Loader` (no line numbers)."""
    return yaml.load(text, Loader=Loader)  # Loader is a SafeLoader


@dataclass(frozen=True)
class Override:
    """A value set on top of the file: by ``--set KEY=VALUE``, or by a sweep-grid entry.

    ``where`` is what an error caused by it names first: ``"--set training.epochs"``, or
    ``"exp.yaml:12"`` for a grid entry, with ``key_where`` the line of the grid key itself
    (for an unknown key) and ``what`` the entry, e.g. ``"sweep point training.seed=0"``.
    """

    path: tuple
    where: str
    what: str = ""
    key_where: str = ""
    value: Any = None  # what was given (for --set and overrides)
    given: str = ""  # the key as given, where ``path`` is one inside it (a section's key)


class Located:
    """Plain data from a YAML node tree, with the line of every key path.

    ``lines`` maps a key path to the line of its key (the line a reader looks at); list
    items map to their own line. ``overrides`` records what was set on top of the file,
    so that an error caused by an override names the override, not a line of the file.
    """

    def __init__(self, source: str):
        self.source = source
        self.lines: dict[tuple, int] = {}
        self.count = 0
        self.overrides: list[Override] = []
        self.baseline: Any = None  # the data before the overrides, to tell their errors apart

    def build(self, node, loader, path=()):
        self.count += 1
        if self.count > MAX_NODES:
            raise ConfigError([_about(self.source, f"more than {MAX_NODES} YAML nodes")])
        self.lines[path] = node.start_mark.line + 1
        try:
            return self._build(node, loader, path)
        except Unsupported as exc:
            if not path:
                raise
            where, line = ".".join(map(str, path)), exc.problem_mark.line + 1
            text = f"{self.source}:{line}: {where}: {exc.problem}"
            raise ConfigError(
                [Problem(text, self.source, line, where, given=node.value, message=exc.problem)]
            ) from None

    def _not_a_name(self, k, key, path) -> Problem:
        """A key that is null, a date, a list or a mapping, named as the file gives it."""
        line = k.start_mark.line + 1
        if isinstance(k, yaml.ScalarNode):
            given = "null" if key is None else k.value
        else:
            given = "a list" if isinstance(k, yaml.SequenceNode) else "a mapping"
        where = ".".join(map(str, path))
        text = f"keys must be plain names, got {given}"
        head = f"{self.source}:{line}: {where}: " if where else f"{self.source}:{line}: "
        return Problem(head + text, self.source, line, where or None, "plain names", given, text)

    def _build(self, node, loader, path):
        loader.refuse_tags(node)  # tags and merge keys; the composer refuses aliases
        if isinstance(node, yaml.MappingNode):
            out = {}
            for k, v in node.value:
                key = loader.construct_object(k) if isinstance(k, yaml.ScalarNode) else None
                if not isinstance(key, str | int | float | bool) or key is None:
                    raise ConfigError([self._not_a_name(k, key, path)])
                # as the file spells it: `true: 3` is the key "true", not Python's "True"
                key = key if isinstance(key, str) else k.value
                if key in out:
                    where = ".".join(map(str, (*path, key)))
                    line = k.start_mark.line + 1
                    raise ConfigError(
                        [
                            Problem(
                                f"{self.source}:{line}: {where}: key given twice",
                                self.source,
                                line,
                                where,
                                given=key,
                                message="key given twice",
                            )
                        ]
                    )
                out[key] = self.build(v, loader, (*path, key))
                # the key's own line: a block value starts on the line below it
                self.lines[(*path, key)] = k.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, loader, (*path, i)) for i, v in enumerate(node.value)]
        return loader.construct_object(node)

    def line(self, loc) -> int | None:
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get(())


def parse_yaml(text: str, source: str) -> tuple[Any, Located]:
    loc = Located(source)
    loader = None
    try:
        loader = Loader(text)  # the reader already refuses control characters
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(
                [_about(source, "the file is empty (a mapping with target: is needed)")]
            )
        return loc.build(node, loader), loc
    except Unsupported as exc:
        line = exc.problem_mark.line + 1
        problem = Problem(f"{source}:{line}: {exc.problem}", source, line, message=exc.problem)
        raise ConfigError([problem]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        at = f"{source}:{line}" if line else source
        text = f"YAML syntax error: {exc.problem or exc}"
        if "another document" in text:  # PyYAML: "but found another document"
            text = "a second YAML document (after '---'): an experiment file holds one"
        raise ConfigError([Problem(f"{at}: {text}", source, line, message=text)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([_about(source, f"YAML error: {str(exc).splitlines()[0]}")]) from None
    except RecursionError:
        raise ConfigError([_about(source, "YAML nested too deeply")]) from None
    finally:
        if loader is not None:
            loader.dispose()


def _about(file, text: str) -> Problem:
    """A problem of a whole file (no line, no key)."""
    return Problem(f"{short_path(file)}: {text}", str(file), message=text)


def _read_stream(p: Path) -> bytes:
    """At most MAX_FILE_BYTES + 1 bytes of a pipe or device (``<(…)``, /dev/stdin).

    Opened without waiting, where a plain open of a FIFO waits for a writer forever; a
    writer then has PIPE_WAIT_S to come (a pipe that nothing writes to is refused), and
    reads wait for the data of a writer that is there."""
    import select

    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    try:
        poll = select.poll()
        poll.register(fd, select.POLLIN)
        if not poll.poll(PIPE_WAIT_S * 1000):
            raise ConfigError([_about(p, f"nothing was written to it within {PIPE_WAIT_S} s")])
        os.set_blocking(fd, True)
        chunks, total = [], 0
        while total <= MAX_FILE_BYTES:
            chunk = os.read(fd, min(1 << 16, MAX_FILE_BYTES + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: str | Path) -> str:
    p = Path(path)
    why = missing(p)
    if why and str(path) == "-":  # as predict's --csv - : say how, rather than take a pipe
        why += " (for the experiment on standard input, give /dev/stdin)"
    if why:
        raise ConfigError([_about(p, why)])
    if p.is_dir():
        raise ConfigError([_about(p, "is a directory, not an experiment file")])
    try:
        st = p.stat()
        if stat.S_ISREG(st.st_mode):
            size = st.st_size
            if size > MAX_FILE_BYTES:
                raise ConfigError(
                    [_about(p, f"file is {size:,} bytes (at most {MAX_FILE_BYTES:,})")]
                )
            raw = p.read_bytes()
        else:
            raw = _read_stream(p)
            if len(raw) > MAX_FILE_BYTES:
                raise ConfigError([_about(p, f"gives more than {MAX_FILE_BYTES:,} bytes")])
    except OSError as exc:
        raise ConfigError([_about(p, f"cannot read: {exc.strerror}")]) from None
    if b"\x00" in raw:
        raise ConfigError([_about(p, "binary file, not YAML")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([_about(p, "not UTF-8 text")]) from None


# ------------------------------------------------------------------------ overrides

_NAMED = ("optimizer", "schedule", "init", "activation", "output", "loss")


def key_problem(dotted) -> str | None:
    """Why ``dotted`` is not a dotted key path like ``training.optimizer.lr``, or None."""
    if not isinstance(dotted, str):
        return f"a key must be text, got {dotted!r}"
    if dotted != dotted.strip() or " " in dotted:
        return f"{dotted!r} has a space in it"
    parts = dotted.split(".")
    if any(not p for p in parts):
        return f"{dotted!r} has an empty part (two dots, or a dot at an end)"
    bad = sorted({c for c in dotted if not re.fullmatch(r"[A-Za-z0-9_.]", c)})
    if bad:
        return f"{dotted!r} has characters other than letters, digits, _ and .: {''.join(bad)!r}"
    return None


def set_path(data: dict, dotted: str, value, where: str) -> None:
    """Set ``data[a][b][c] = value`` for ``dotted = "a.b.c"``; errors start with ``where``."""
    problem = key_problem(dotted)
    if problem:
        raise ConfigError([f"{where}: {problem}; write a dotted key like training.optimizer.lr"])
    keys = dotted.split(".")
    node = data
    for i, k in enumerate(keys[:-1]):
        nxt = node.get(k)
        if nxt is None:
            nxt = node[k] = {}
        if isinstance(nxt, str) and k in _NAMED:
            nxt = node[k] = {"name": nxt}
        if not isinstance(nxt, dict):
            here = ".".join(keys[: i + 1])
            raise ConfigError(
                [f"{where}: {here} is a value ({_brief(nxt)}), not a section with keys under it"]
            )
        node = nxt
    last = keys[-1]
    if names_choice(dotted) and node.get(last) != value and not _formulas(node, {last: value}):
        node.clear()  # another choice brings its own keys, as `optimizer: {name: sgd}` does
    node[last] = merged(node.get(last), value, last)


def _formulas(old: dict, new: dict) -> bool:
    """Whether a target's formula is given over a formula: that is the same choice, a
    formula, whose other keys (its ``dim``) stay, where a built-in name brings its own."""
    return old.get("expr") is not None and new.get("expr") is not None and not new.get("name")


def choice_ids(key: str) -> tuple[str, ...]:
    """The keys that name a choice given at ``key``."""
    return ("name", "expr") if key == "target" else ("name",) if key in _NAMED else ()


def names_choice(dotted: str) -> bool:
    """Whether the dotted key names a choice (``training.optimizer.name``,
    ``target.expr``): its value decides which keys may stand beside it."""
    head, _, last = dotted.rpartition(".")
    return last in choice_ids(head.rpartition(".")[2])


def merged(old, new, key: str):
    """``new`` given over ``old`` at ``key``: a section given over a section is merged key
    by key (``training: {epochs: 5}`` keeps the file's optimizer), except a choice given
    another name (``optimizer: {name: sgd}`` over adam, ``target: {expr: x}`` over a
    built-in target), which brings its own keys.

    The result shares nothing with ``new`` (a later key must not change the value given).
    """
    if key in _NAMED and isinstance(new, str) and isinstance(old, dict):
        new = {"name": new}  # a name alone: `init: domain` over {name: domain, scale: 2}
    if isinstance(old, str) and key in _NAMED and isinstance(new, dict):
        old = {"name": old}
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return copy.deepcopy(new)
    ids = choice_ids(key)
    given = {k: new[k] for k in ids if k in new}
    if (
        given
        and {k: old[k] for k in ids if k in old} != given
        and not (key == "target" and _formulas(old, new))
    ):
        return copy.deepcopy(new)
    out = dict(old)
    for k, v in new.items():
        out[k] = merged(old.get(k), v, k)
    return out


def leaves(key: str, value) -> list[str]:
    """The dotted keys that ``value`` given at ``key`` sets: a section's own keys (it is
    merged in), a choice's name, else ``key`` itself."""
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in leaves(f"{key}.{k}", v)]
    if isinstance(value, str) and key.rsplit(".", 1)[-1] in _NAMED:
        return [f"{key}.name"]  # `optimizer: sgd` is `optimizer: {name: sgd}`
    return [key]


def _units(key: str, value) -> list[tuple[str, Any]]:
    """``value`` given at ``key`` as the (key, value) pairs that set it one at a time: a
    section is its keys (it is merged in), except a choice that names itself
    (``optimizer: {name: sgd, lr: 0.1}`` brings its own keys, so it stays whole) and a
    section whose keys are dotted (``sweep.grid``'s)."""
    ids = choice_ids(key.rsplit(".", 1)[-1])
    if (
        not isinstance(value, dict)
        or not value
        or any(k in value for k in ids)
        or any(not isinstance(k, str) or key_problem(k) or "." in k for k in value)
    ):
        return [(key, value)]
    return [unit for k, v in value.items() for unit in _units(f"{key}.{k}", v)]


def outer_first(pairs: list) -> list[tuple[str, Any, str]]:
    """(key, value, key given) in the order to apply them: each section split into its
    keys, and a key before the keys inside it, so that the more specific value is the one
    that stays (``training.optimizer.lr=0.5`` and ``training.optimizer={name: sgd}`` give
    sgd at 0.5 in either order, as does ``training={optimizer: {lr: 0.5}}``)."""
    units = [(k, v, key) for key, value in pairs for k, v in _units(key, value)]
    # a choice's name before its keys: `optimizer.name=sgd` clears adam's
    return sorted(units, key=lambda u: (u[0].count("."), not names_choice(u[0])))


def check_once(pairs, where=lambda key: f"--set {key}") -> None:
    """No key is set twice by the (key, value) ``pairs``, directly or inside a section
    (``training={epochs: 4}`` beside ``training.epochs=3``): one would be lost unseen, as
    a key given twice in a file would. ``where(key)`` names a key in the error. A
    target's name and expr are one choice: each replaces the other."""
    seen: dict[str, tuple[str, Any, str]] = {}
    for key, value in pairs:
        for leaf in leaves(key, value):
            one = leaf[: -len("expr")] + "name" if leaf.endswith("target.expr") else leaf
            if one in seen:
                (k, v, first) = seen[one]
                if k == key and first != leaf:  # one section with both
                    if isinstance(value, dict) and None in (value.get("name"), value.get("expr")):
                        continue  # config.yaml's own spelling: {expr: x0, name: null}
                    raise ConfigError(
                        [f"{where(key)}: gives target.name and target.expr; give one of them"]
                    )
                if k == key:
                    raise ConfigError(
                        [
                            f"{where(key)}: given twice ({yaml_brief(v)} and "
                            f"{yaml_brief(value)}); give it once"
                        ]
                    )
                if one != leaf or first != one:  # target.expr against target.name
                    raise ConfigError(
                        [
                            f"{where(k)}: {where(key)} names the target too; give one of "
                            "target.name or target.expr"
                        ]
                    )
                raise ConfigError(
                    [f"{where(k)}: {where(key)} sets {leaf} too; give the value once"]
                )
            seen[one] = (key, value, leaf)


def yaml_brief(value, limit: int = 40) -> str:
    """A value as it is written in YAML (null, true, 'text'), cut to ``limit``."""
    text = yaml.dump(value, Dumper=Dumper, default_flow_style=True, width=math.inf)
    return cut(text.removesuffix("\n...\n").strip(), limit)


def _brief(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:36] + "…"


def parse_set(item: str, label=lambda key: f"--set {key}") -> tuple[str, Any]:
    """``key.path=value`` with the value parsed as YAML; ``label(key)`` names it in a
    message (``--set key``; ``overrides['key=value']`` from Python)."""

    def refused(key, allowed, given, text):
        where = label(key)
        return ConfigError([Problem(f"{where}: {text}", None, None, key, allowed, given, text)])

    if not isinstance(item, str) or "=" not in item:
        named = isinstance(item, str) and 0 < len(item.strip()) <= 60 and item.isprintable()
        example = f"{item.strip()}=…" if named else "training.epochs=5"
        raise refused(
            item,
            "KEY=VALUE",
            item,
            f"expected KEY=VALUE, one argument with no space around '=', e.g. {example}",
        )
    key, raw = item.split("=", 1)
    key = key.strip()
    if not raw.strip():  # an empty shell variable, most likely; null is written as null
        text = "no value after '='; give one (null for none, '' for text)"
        raise refused(key, "a YAML value", raw, text)
    try:
        value = load_yaml(raw)
    except (yaml.constructor.ConstructorError, Unsupported) as exc:
        raise refused(key, "plain YAML (no tags or aliases)", raw, exc.problem) from None
    except yaml.YAMLError:
        raise refused(key, "a YAML value", raw, f"value {raw!r} is not valid YAML") from None
    except RecursionError:  # [[[…]]] two thousand deep: PyYAML's composer recurses
        text = f"value nested deeper than {MAX_NESTING} levels"
        raise refused(key, f"at most {MAX_NESTING} levels", None, text) from None
    return key, value


def apply_overrides(data: dict, overrides, source: str, loc: Located | None = None) -> dict:
    """Apply ``--set`` overrides (``"key=value"`` strings or ``(key, value)`` pairs).

    A key given twice is an error (the later one would win unseen, as a key given twice
    in a file is one).
    """
    pairs = [parse_set(item) if isinstance(item, str) else item for item in overrides or ()]
    check_once(pairs)
    for key, value, given in outer_first(pairs):
        set_path(data, key, value, f"--set {given}")
        if loc is not None:
            loc.overrides.append(
                Override(tuple(key.split(".")), f"--set {given}", value=value, given=given)
            )
    return data
