"""Target formulas: Python expression syntax compiled over a whitelist, never evaluated.

``compile_expr("sin(2*pi*x)", dim=1)`` parses the text with :mod:`ast`, checks every
node against the whitelist below and builds a tree of closures over NumPy functions.
Nothing is passed to ``eval`` or ``exec``; attribute access, subscripts other than
``x[i]``, calls of anything but the listed functions, lambdas, comprehensions and
names outside the list are :class:`ExprError`. Numbers become float64 and evaluation is
vectorised over arrays, so ``9**9**9`` is ``inf`` (reported as not finite), not a hang.

Variables: ``x0 … x{d−1}``; ``x``, ``y``, ``z`` for the first three when d ≤ 3;
``x[i]`` for column i. Constants: ``pi``, ``e``.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

import numpy as np

Array = np.ndarray

MAX_LENGTH = 2000
MAX_DEPTH = 60
MAX_NODES = 2000


class ExprError(ValueError):
    """A formula that cannot be compiled; the message says what and where."""


def _f(x):
    return np.asarray(x, dtype=float)


FUNCTIONS: dict[str, tuple[int, Callable]] = {
    # name: (number of arguments, implementation)
    "sin": (1, np.sin),
    "cos": (1, np.cos),
    "tan": (1, np.tan),
    "arcsin": (1, np.arcsin),
    "arccos": (1, np.arccos),
    "arctan": (1, np.arctan),
    "sinh": (1, np.sinh),
    "cosh": (1, np.cosh),
    "tanh": (1, np.tanh),
    "exp": (1, np.exp),
    "log": (1, np.log),
    "log2": (1, np.log2),
    "log10": (1, np.log10),
    "sqrt": (1, np.sqrt),
    "abs": (1, np.abs),
    "sign": (1, np.sign),
    "floor": (1, np.floor),
    "ceil": (1, np.ceil),
    "minimum": (2, np.minimum),
    "maximum": (2, np.maximum),
    "heaviside": (2, np.heaviside),
    "arctan2": (2, np.arctan2),
    "where": (3, lambda c, a, b: np.where(c != 0, a, b)),
    "clip": (3, np.clip),
}

CONSTANTS = {"pi": math.pi, "e": math.e}

_BINOPS = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.Pow: np.power,
    ast.Mod: np.mod,
}
_UNARY = {ast.USub: np.negative, ast.UAdd: np.positive}
_COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def variable_names(dim: int) -> list[str]:
    names = [f"x{i}" for i in range(dim)]
    if dim <= 3:
        names += ["x", "y", "z"][:dim]
    return names


class _Compiler:
    def __init__(self, text: str, dim: int):
        self.text, self.dim = text, dim
        self.nodes = 0

    def fail(self, node, msg):
        col = getattr(node, "col_offset", None)
        where = f" at column {col + 1}" if col is not None else ""
        raise ExprError(f"{msg}{where}")

    def build(self, node, depth=0) -> Callable[[Array], Array]:
        self.nodes += 1
        if depth > MAX_DEPTH:
            self.fail(node, f"formula nested deeper than {MAX_DEPTH} levels")
        if self.nodes > MAX_NODES:
            raise ExprError(f"formula has more than {MAX_NODES} terms")
        d = depth + 1
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                self.fail(node, f"only numbers are allowed as constants, got {node.value!r}")
            value = float(node.value)
            return lambda X: value
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                self.fail(node, f"operator {type(node.op).__name__} is not allowed")
            a, b = self.build(node.left, d), self.build(node.right, d)
            return lambda X: op(_f(a(X)), b(X))
        if isinstance(node, ast.UnaryOp):
            op = _UNARY.get(type(node.op))
            if op is None:
                self.fail(node, f"operator {type(node.op).__name__} is not allowed")
            a = self.build(node.operand, d)
            return lambda X: op(_f(a(X)))
        if isinstance(node, ast.Compare):
            return self.compare(node, d)
        if isinstance(node, ast.Call):
            return self.call(node, d)
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        if isinstance(node, ast.Attribute):
            self.fail(node, "attribute access is not allowed")
        self.fail(node, f"{type(node).__name__} is not allowed in a formula")
        raise AssertionError  # unreachable

    def name(self, node: ast.Name):
        n = node.id
        if n in CONSTANTS:
            value = CONSTANTS[n]
            return lambda X: value
        if n in variable_names(self.dim):
            i = int(n[1:]) if n[1:].isdigit() else "xyz".index(n)
            return lambda X: X[:, i]
        if n in FUNCTIONS:
            self.fail(node, f"{n} is a function; call it as {n}(...)")
        hint = ", ".join(variable_names(self.dim))
        self.fail(node, f"unknown name {n!r} (variables: {hint}; constants: pi, e)")
        raise AssertionError

    def compare(self, node: ast.Compare, d):
        ops = []
        for op in node.ops:
            fn = _COMPARE.get(type(op))
            if fn is None:
                self.fail(node, f"comparison {type(op).__name__} is not allowed")
            ops.append(fn)
        parts = [self.build(node.left, d)] + [self.build(c, d) for c in node.comparators]

        def run(X):
            vals = [_f(p(X)) for p in parts]
            out = np.ones(np.broadcast(*vals).shape, dtype=bool)
            for fn, a, b in zip(ops, vals, vals[1:], strict=False):
                out &= fn(a, b)
            return out.astype(float)

        return run

    def call(self, node: ast.Call, d):
        if not isinstance(node.func, ast.Name):
            self.fail(node, "only the listed functions may be called, by name")
        name = node.func.id
        if name not in FUNCTIONS:
            allowed = ", ".join(sorted(FUNCTIONS))
            self.fail(node, f"function {name!r} is not allowed (allowed: {allowed})")
        if node.keywords:
            self.fail(node, f"{name}() takes no keyword arguments")
        arity, fn = FUNCTIONS[name]
        if len(node.args) != arity or any(isinstance(a, ast.Starred) for a in node.args):
            self.fail(node, f"{name}() takes {arity} argument(s), got {len(node.args)}")
        args = [self.build(a, d) for a in node.args]
        return lambda X: fn(*[_f(a(X)) for a in args])

    def subscript(self, node: ast.Subscript):
        if not (isinstance(node.value, ast.Name) and node.value.id == "x"):
            self.fail(node, "only x[i] may be subscripted")
        idx = node.slice
        if not (isinstance(idx, ast.Constant) and type(idx.value) is int):
            self.fail(node, "x[i] needs a whole-number index")
        i = idx.value
        if not 0 <= i < self.dim:
            self.fail(node, f"x[{i}] is outside the dimension {self.dim} (x[0]..x[{self.dim - 1}])")
        return lambda X: X[:, i]


def compile_expr(text: str, dim: int) -> Callable[[Array], Array]:
    """Compile ``text`` into ``F(X) -> (n,)`` for X of shape (n, dim).

    Raises
    ------
    ExprError
        For anything outside the whitelist, a syntax error, or a formula too long or
        too deeply nested.
    """
    if not isinstance(text, str):
        raise ExprError(f"formula must be a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"formula is {len(text)} characters long (at most {MAX_LENGTH})")
    if not text.strip():
        raise ExprError("formula is empty")
    # bound the nesting before the parser sees it: deep nesting can exhaust its stack
    depth = peak = 0
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        peak = max(peak, depth)
    if peak > MAX_DEPTH:
        raise ExprError(f"formula nested deeper than {MAX_DEPTH} levels")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        raise ExprError(f"syntax error{col}: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ExprError(f"formula cannot be parsed: {type(exc).__name__}") from None
    comp = _Compiler(text, dim)
    try:
        body = comp.build(tree.body)
    except RecursionError:
        raise ExprError(f"formula nested deeper than {MAX_DEPTH} levels") from None

    def F(X: Array) -> Array:
        X = np.asarray(X, dtype=float)
        with np.errstate(all="ignore"):
            out = _f(body(X))
        return np.broadcast_to(out, (X.shape[0],)).astype(float)

    return F
