"""The experiment file as text: reading it, YAML with a line for every key, overrides.

Everything here works on plain data; :mod:`nnfit.config` validates it. YAML aliases are
refused at their first reuse, so an alias bomb never expands, and the number of nodes
is bounded before anything walks them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 20_000


class ConfigError(ValueError):
    """Bad input: each entry of ``problems`` is one printable line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


# ------------------------------------------------------------------------ YAML with lines


class Located:
    """Plain data from a YAML node tree, with the line of every key path."""

    def __init__(self, source: str):
        self.source = source
        self.lines: dict[tuple, int] = {}
        self.count = 0
        self.seen: set[int] = set()

    def build(self, node, loader, path=()):
        # an alias makes the composer hand out the same node again: refuse it before
        # anything is expanded, so "billion laughs" files cost nothing
        if id(node) in self.seen:
            raise ConfigError(
                [
                    f"{self.source}:{node.start_mark.line + 1}: YAML aliases "
                    "(*name) are not supported; write the value out"
                ]
            )
        self.seen.add(id(node))
        self.count += 1
        if self.count > MAX_NODES:
            raise ConfigError([f"{self.source}: more than {MAX_NODES} YAML nodes"])
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out = {}
            for k, v in node.value:
                key = loader.construct_object(k) if isinstance(k, yaml.ScalarNode) else None
                if not isinstance(key, str | int | float | bool) or key is None:
                    raise ConfigError(
                        [f"{self.source}:{k.start_mark.line + 1}: keys must be plain names"]
                    )
                key = str(key)
                if key in out:
                    where = ".".join(map(str, (*path, key)))
                    raise ConfigError(
                        [f"{self.source}:{k.start_mark.line + 1}: {where}: key given twice"]
                    )
                out[key] = self.build(v, loader, (*path, key))
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
        loader = yaml.SafeLoader(text)  # the reader already refuses control characters
        node = loader.get_single_node()
        if node is None:
            raise ConfigError([f"{source}: the file is empty (a mapping with target: is needed)"])
        return loc.build(node, loader), loc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError([f"{source}{line}: YAML syntax error: {exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: YAML error: {str(exc).splitlines()[0]}"]) from None
    except RecursionError:
        raise ConfigError([f"{source}: YAML nested too deeply"]) from None
    finally:
        if loader is not None:
            loader.dispose()


def read_text(path: str | Path) -> str:
    p = Path(path)
    if not p.exists():
        raise ConfigError([f"{p}: no such file"])
    if p.is_dir():
        raise ConfigError([f"{p}: is a directory, not an experiment file"])
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError([f"{p}: file is {size:,} bytes (at most {MAX_FILE_BYTES:,})"])
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read: {exc.strerror}"]) from None
    if b"\x00" in raw:
        raise ConfigError([f"{p}: binary file, not YAML"])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"{p}: not UTF-8 text"]) from None


# ------------------------------------------------------------------------ overrides


def _set_path(data: dict, dotted: str, value, source: str):
    keys = dotted.split(".")
    if not all(re.fullmatch(r"[A-Za-z0-9_]+", k) for k in keys):
        raise ConfigError([f"--set {dotted}: not a dotted key path like training.optimizer.lr"])
    node = data
    for k in keys[:-1]:
        nxt = node.get(k)
        if nxt is None:
            nxt = node[k] = {}
        if isinstance(nxt, str) and k in ("optimizer", "schedule", "init", "activation"):
            nxt = node[k] = {"name": nxt}
        if not isinstance(nxt, dict):
            raise ConfigError([f"--set {dotted}: {k} is not a mapping in {source}"])
        node = nxt
    node[keys[-1]] = value


def parse_set(item: str) -> tuple[str, Any]:
    """``key.path=value`` with the value parsed as YAML."""
    if "=" not in item:
        raise ConfigError([f"--set {item}: expected KEY=VALUE, e.g. training.optimizer.lr=0.01"])
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise ConfigError([f"--set {key}: value {raw!r} is not valid YAML"]) from None
    return key.strip(), value


def apply_overrides(data: dict, overrides, source: str, loc: Located | None = None) -> dict:
    for item in overrides or ():
        key, value = parse_set(item) if isinstance(item, str) else item
        _set_path(data, key, value, source)
        if loc is not None:
            loc.lines[tuple(key.split("."))] = "--set"
    return data
