"""Validation errors as one line each: file, line, key, what is allowed, what was given.

Pydantic reports errors per location; this module turns them into lines that name the
file and line of the key (from the YAML line map), or the ``--set`` / sweep-grid entry
that caused the problem, keeps the most telling error of a union's branches, hints at
near names, and cuts long values short.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import math
import re
from typing import Any

from pydantic import ValidationError

from nnfit.experiment.yamlfile import Located, Override, Problem


class _AtKey(ValueError):
    """A check of a whole section whose error belongs to one key of it (reported there)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


class _Bad(ValueError):
    """A value error that knows what was allowed and what was given (for ConfigError),
    and, raised for a whole section, the ``key`` of it that it belongs to."""

    def __init__(self, message: str, allowed, given, key: str | None = None):
        super().__init__(message)
        self.allowed, self.given = allowed, given
        if key is not None:
            self.key = key


def _fields_at(root, loc) -> list[str]:
    """The keys allowed at a location, for 'did you mean' hints."""
    model: Any = root
    for part in loc:
        if isinstance(part, int) or not hasattr(model, "model_fields"):
            return []
        field = model.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        candidates = [a for a in getattr(ann, "__args__", (ann,)) if hasattr(a, "model_fields")]
        if not candidates:
            return []
        model = candidates[0]
    return list(getattr(model, "model_fields", {}))


def _inside(root, section: tuple, key: str, data) -> str | None:
    """Where an unknown ``key`` of ``section`` belongs, when it is a key of one of the
    section's own sub-sections (``training.lr`` is ``training.optimizer.lr``): a hint
    with an example of the sub-section, the file's own choice in it if it takes the key."""
    model: Any = root
    for part in section:
        field = getattr(model, "model_fields", {}).get(part)
        ann = field.annotation if field is not None else None
        model = next(
            (a for a in getattr(ann, "__args__", (ann,)) if hasattr(a, "model_fields")), None
        )
        data = data.get(part) if isinstance(data, dict) else None
    found = []
    for name, field in getattr(model, "model_fields", {}).items():
        ann = field.annotation
        sub = next(
            (a for a in getattr(ann, "__args__", (ann,)) if hasattr(a, "model_fields")), None
        )
        if sub is None:
            continue
        choices = getattr(sub, "_params", None) or {}
        fields = {k.lower(): k for k in sub.model_fields if k != "name"}
        params = {k.lower(): k for ps in choices.values() for k in ps}
        real = fields.get(key.lower()) or params.get(key.lower())  # LR is lr
        if real is None:
            continue
        takers = [c for c, ps in choices.items() if real in ps]
        if real in sub.model_fields:
            takers = takers or list(choices) or [None]
        given = data.get(name) if isinstance(data, dict) else None
        given = given.get("name") if isinstance(given, dict) else given
        if given is None and "name" in sub.model_fields:  # the section's default choice
            given = sub.model_fields["name"].default
        choice = given if given in takers else takers[0]
        head = f"name: {choice}, " if choice is not None else ""
        where = ".".join(map(str, (*section, name)))
        found.append((real, f"{where}: {name}: {{{head}{real}: …}}"))
    if not found:
        return None
    # seed is data's and training's: both are said
    return f"{found[0][0]} goes inside " + " or inside ".join(text for _, text in found)


def _clean_loc(loc) -> tuple:
    # pydantic adds union branch names ("function-after[...]", "literal[...]", "list[...]",
    # "constrained-float"): none is a key of the file
    return tuple(
        p for p in loc if isinstance(p, int) or not re.search(r"[\[\]]|^constrained-", str(p))
    )


#: values are shown as Python writes them (None, True, nan), for the estimator's
#: parameters, which are Python's and not a file's (see :func:`python_values`)
_PYTHON = contextvars.ContextVar("python_values", default=False)


@contextlib.contextmanager
def python_values():
    """Within it, :func:`shown` writes values as Python does."""
    token = _PYTHON.set(True)
    try:
        yield
    finally:
        _PYTHON.reset(token)


def shown(value, depth: int = 0) -> str:
    """A value given in a file, for a message, as YAML writes it: null, true, .inf,
    [1, null], {'a': true} (a file never shows Python's None and True), in lists and
    sections too; anything else as its repr. Inside :func:`python_values`, as Python
    writes it."""
    if _PYTHON.get() and depth <= 20:
        return repr(value)
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    if depth > 20:  # a message shows the start of a value only
        return "…"
    if isinstance(value, list | tuple):
        return f"[{', '.join(shown(v, depth + 1) for v in value)}]"
    if isinstance(value, dict):
        items = (f"{shown(k, depth + 1)}: {shown(v, depth + 1)}" for k, v in value.items())
        return f"{{{', '.join(items)}}}"
    return repr(value)


def _short(value, limit: int = 60) -> str:
    text = shown(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}…{text[-3:]}"


def _rank(err: dict) -> float:
    """Lower is more telling, for the branches of a union that all failed."""
    if err["type"].endswith("_type"):
        return 2.0
    if err["type"] == "literal_error" and not isinstance(err.get("input"), str):
        return 1.0
    return 0.0


#: a pattern of the schema in words
PATTERNS = {"^[A-Za-z0-9._-]+$": "must be ASCII letters, digits, '.', '_' and '-' only (no spaces)"}


def _near(given: str, allowed: list[str]) -> str:
    """'did you mean …? ' for a name that differs from an allowed one only in case, or
    is close to one; else ''."""
    same = [a for a in allowed if a.lower() == given.lower()]
    near = same or difflib.get_close_matches(given.lower(), allowed, n=1)
    return f"did you mean {near[0]!r}? " if near else ""


def _describe(err: dict) -> str:
    t, ctx, got = err["type"], err.get("ctx") or {}, _Short(err.get("input"))
    if t == "extra_forbidden":
        return "unknown key"
    if t == "literal_error":
        expected = ctx.get("expected", "")
        hint = _near(str(got.value), re.findall(r"'([^']*)'", expected))
        return f"{hint}allowed {expected}, got {got!r}"
    if t == "missing":
        return "required key is missing"
    if t in ("model_type", "dict_type"):  # pydantic's text names its own class
        return f"must be a section of keys, got {got!r}"
    if t == "value_error":
        return str(ctx.get("error", err["msg"]))
    if t == "int_parsing_size":  # "unable to parse input string as an integer, exceeded …"
        return f"must be a whole number below 2**63 (9223372036854775807), got {got!r}"
    if t == "int_from_float":  # pydantic's own text says "got a number with a fractional part"
        return f"must be a whole number, got {got!r}"
    if t == "list_type" and isinstance(got.value, int | float | str):
        v = got.value
        if isinstance(v, str) and v.isascii() and v.isdigit() and int(v) > 0:
            v = int(v)  # hidden: '64' (a string) would be refused in the list too
        if type(v) is int and v > 0:
            return f"must be a list, e.g. [{v}], got {got!r}"
        return f"must be a list (in brackets), got {got!r}"
    if t == "string_pattern_mismatch" and ctx.get("pattern") in PATTERNS:
        return f"{PATTERNS[ctx['pattern']]}, got {got!r}"
    msg = err["msg"]
    return f"{msg[0].lower()}{msg[1:]}, got {got!r}"


class _Short:
    """Formats like its value's repr, cut short: a 200,000-character formula is not echoed."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return _short(self.value)

    def __str__(self):
        return _short(self.value)


def _path_and_text(err: dict) -> tuple[tuple, str]:
    path, cause = _clean_loc(err["loc"]), (err.get("ctx") or {}).get("error")
    if isinstance(cause, _AtKey | _Bad) and getattr(cause, "key", None):
        path = (*path, *cause.key.split("."))
    return path, _describe(err)


def _baseline_problems(root, loc: Located) -> set | None:
    """The (key path, text) problems of the data before its overrides, or None if unknown."""
    if not isinstance(loc.baseline, dict):
        return None
    try:
        root.model_validate(loc.baseline)
    except ValidationError as exc:
        return {_path_and_text(e) for e in exc.errors()}
    return set()


def _blame(path: tuple, text: str, loc: Located | None, baseline) -> list[Override]:
    """The overrides an error comes from: the one that set the value at ``path`` (or
    above it), else those set below ``path`` if the problem is new with them."""
    if loc is None or not loc.overrides:
        return []
    direct = [o for o in loc.overrides if path[: len(o.path)] == o.path]
    if direct:
        return direct[-1:]  # the last one applied set the value
    below = [o for o in loc.overrides if o.path[: len(path)] == path]
    if below and (baseline is None or (path, text) not in baseline):
        return below
    return []


_BOUNDS = (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"))


def _allowed_given(root, err: dict, path: tuple) -> tuple:
    """What the key takes and what it was given, for the fields of a :class:`Problem`."""
    kind, ctx, given = err["type"], err.get("ctx") or {}, err.get("input")
    cause = ctx.get("error")
    if kind == "extra_forbidden":
        return _fields_at(root, path[:-1]), path[-1]
    if kind == "literal_error":
        return re.findall(r"'([^']*)'", ctx.get("expected", "")), given
    bounds = [f"{op} {ctx[k]}" for k, op in _BOUNDS if k in ctx]
    if bounds:
        return " and ".join(bounds), given
    if isinstance(cause, _AtKey) and isinstance(given, dict):
        for part in cause.key.split("."):
            given = given.get(part) if isinstance(given, dict) else None
    return getattr(cause, "allowed", None), getattr(cause, "given", given)


def _line_at(where: str, source: str) -> int | None:
    """The line of ``FILE:LINE`` when FILE is ``source`` (a sweep-grid entry), else None."""
    head, _, tail = where.rpartition(":")
    return int(tail) if head == source and tail.isdigit() else None


def format_errors(
    exc: ValidationError, source: str, loc: Located | None, root, data=None
) -> list[Problem]:
    """One line per problem: ``FILE:LINE: key.path: what is wrong (allowed …, got …)``,
    or the ``--set``/grid entry that caused it. ``root`` is the validated model class,
    ``data`` what it was given (for hints that name the file's own choices)."""
    out, seen = [], set()
    # keep the file's order of keys; within a key, the most telling branch first
    errs = exc.errors()
    order = {_clean_loc(e["loc"]): i for i, e in reversed(list(enumerate(errs)))}
    errs = sorted(errs, key=lambda e: (order[_clean_loc(e["loc"])], _rank(e)))
    # a union whose mapping branch failed on one of its keys also fails its scalar branch
    # on the whole mapping: the key inside tells what is wrong, the whole value does not
    deeper = {_clean_loc(e["loc"])[:i] for e in errs for i in range(len(_clean_loc(e["loc"])))}
    errs = [e for e in errs if not (_rank(e) > 0 and _clean_loc(e["loc"]) in deeper)]
    baseline: set | None = None
    baseline_done = False
    for err in errs:
        path, text = _path_and_text(err)
        key = ".".join(map(str, path)) or "(top level)"
        # a union reports one error per branch: keep the most specific per key (the key
        # of the branch, before a section's check names one of its own keys)
        branch = _clean_loc(err["loc"])
        if branch in seen:
            continue
        seen.add(branch)
        if err["type"] == "extra_forbidden":
            allowed = _fields_at(root, path[:-1])
            # a key of a sub-section before a near spelling: eps is adam's, not epochs
            inside = _inside(root, path[:-1], str(path[-1]), data)
            hint = "" if inside else _near(str(path[-1]), allowed)
            if inside:
                text = f"unknown key here ({inside})"
            else:
                text = f"unknown key ({hint}allowed: {', '.join(allowed)})"
        elif err["type"] in ("model_type", "dict_type") and _fields_at(root, path):
            keys = ", ".join(_fields_at(root, path))
            text = f"must be a section of keys ({keys}), got {_Short(err.get('input'))!r}"
        if loc is not None and loc.overrides and not baseline_done:
            baseline, baseline_done = _baseline_problems(root, loc), True
        allowed, given = _allowed_given(root, err, path)
        blamed = _blame(path, _describe(err), loc, baseline)
        if blamed:
            line = _line_at(blamed[-1].where, source)
            message = _override_message(blamed, path, key, text, err["type"])
            out.append(Problem(message, source, line, key, allowed, given, text))
            continue
        line = loc.line(path) if loc is not None else None
        line = line if isinstance(line, int) else None
        where = f"{source}:{line}" if line else source
        out.append(Problem(f"{where}: {key}: {text}", source, line, key, allowed, given, text))
    return out


#: a check's hint for the file's reader, which a value given by --set does not need:
#: "remove it" is then to leave out that --set
_COMMAND_LINE_HINT = re.compile(r" \(on the command line: --set [^)]*\)")


def _override_message(blamed: list[Override], path, key: str, text: str, kind: str) -> str:
    last = blamed[-1]  # of several, the one applied last is the most specific
    if last.what:  # a sweep-grid entry: its own line, then which point
        where = last.key_where if kind == "extra_forbidden" and last.key_where else last.where
        return f"{where}: {last.what}: {key}: {text}"
    text = _COMMAND_LINE_HINT.sub("", text)
    first = blamed[0]
    if len(blamed) == 1 and path == first.path and first.given in ("", key):
        return f"{first.where}: {text}"  # (a key inside a section given is named too)
    if len(blamed) == 1 and first.given == key:  # a mapping given for the key: it names it
        return f"{first.where}: {text}"
    where = ", ".join(o.where for o in blamed)
    if not path:  # a check of the whole experiment: its text names the keys
        return f"{where}: {text}"
    return f"{where}: {key}: {text}"


def kept_epoch(on_val: bool, min_delta: float = 0.0) -> str:
    """What early stopping kept: "lowest validation loss", or with a ``min_delta`` (later
    epochs may be lower by less) "last to lower the training cost by more than 1e-06"."""
    watched = "validation loss" if on_val else "training cost"
    if min_delta:
        return f"last to lower the {watched} by more than {min_delta:g}"
    return f"lowest {watched}"


def kept_weights(best: int | None, solved: bool) -> str:
    """Whose weights a diverged run's errors are: "epoch 7's weights", "the weights as
    initialised", or with a least-squares output layer (the closing solve is for the
    kept hidden layers) "the hidden weights as initialised, with the output layer solved for
    them"."""
    if not solved:
        return f"epoch {best:,}'s weights" if best else "the weights as initialised"
    hidden = f"epoch {best:,}'s hidden weights" if best else "the hidden weights as initialised"
    return hidden + ", with the output layer solved for them"
