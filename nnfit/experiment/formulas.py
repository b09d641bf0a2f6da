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
import difflib
import math
import operator
import re
from collections.abc import Callable

import numpy as np

from nnfit.experiment.yamlfile import cut, underflows

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


# what a formula written for Python, NumPy or a calculator usually means instead
_SAY_INSTEAD = {
    ast.BitXor: "use ** for powers (^ is not allowed), e.g. x**2",
    ast.FloorDiv: "write floor(a / b) (// is not allowed)",
    ast.BitAnd: "multiply conditions for 'and', e.g. (x > 0.2) * (x < 0.6) (& is not allowed)",
    ast.BitOr: "use maximum(a, b) for 'or' of conditions (| is not allowed)",
    ast.MatMult: "@ is not allowed: a formula works on one point at a time",
    ast.LShift: "<< is not allowed; write x * 2**k",
    ast.RShift: ">> is not allowed; write x / 2**k",
    ast.Invert: "~ is not allowed; write 1 - (condition) for 'not'",
    ast.Not: "'not' is not allowed; write 1 - (condition)",
}
_OTHER_NAMES = {  # names from other languages and libraries, and what to write here
    "ln": "log",
    "asin": "arcsin",
    "acos": "arccos",
    "atan": "arctan",
    "atan2": "arctan2",
    "max": "maximum",
    "min": "minimum",
    "fabs": "abs",
    "step": "heaviside",
    "sgn": "sign",
    "pow": "a ** b",
    "power": "a ** b",
    "square": "x**2",
    "exponential": "exp",
}
_MODULES = ("np", "numpy", "math", "cmath", "scipy", "sp", "jnp", "torch", "sympy")
MAX_MESSAGE = 240  # a message stays one readable line, whatever the formula


def _suggest(name: str, choices) -> str:
    if name in _OTHER_NAMES:
        other = _OTHER_NAMES[name]
        return f" (write {other})" if "*" in other else f" (did you mean {other}?)"
    near = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {near[0]}?)" if near else ""


def variable_names(dim: int) -> list[str]:
    names = [f"x{i}" for i in range(dim)]
    if dim <= 3:
        names += ["x", "y", "z"][:dim]
    return names


class _Compiler:
    def __init__(self, text: str, dim: int):
        self.text, self.dim = text, dim
        self.nodes = 0

    def fail(self, node, msg, col: int | None = None):
        col = getattr(node, "col_offset", None) if col is None else col
        where = f" (column {col + 1})" if col is not None else ""
        if len(msg) > MAX_MESSAGE:
            msg = msg[: MAX_MESSAGE - 1] + "…"
        raise ExprError(f"{msg}{where}")

    def op_column(self, node: ast.BinOp) -> int | None:
        """The column of a binary operator itself, which the node's own offset is not."""
        left, right = node.left, node.right
        if left.end_lineno != 1 or right.lineno != 1:
            return None
        gap = self.text[left.end_col_offset : right.col_offset]
        m = re.search(r"[^\s()]", gap)
        return left.end_col_offset + m.start() if m else None

    def refuse_op(self, node, op):
        default = f"operator {type(op).__name__} is not allowed"
        col = self.op_column(node) if isinstance(node, ast.BinOp) else None
        self.fail(node, _SAY_INSTEAD.get(type(op), default), col)

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
            try:
                value = float(node.value)
            except OverflowError:  # an integer of hundreds of digits
                digits = len(str(node.value))  # at most MAX_LENGTH: str() is cheap
                self.fail(node, f"the number with {digits} digits is too large for a float")
            written = ast.get_source_segment(self.text, node) or ""
            tiny = value == 0 and underflows(written)
            written = cut(written, 30)  # hundreds of digits would push the reason off
            if tiny:
                self.fail(node, f"{written} is nearer 0 than the smallest float64 (about 5e-324)")
            if math.isinf(value):  # 1e400 reads as inf
                self.fail(node, f"{written} is above the largest float64 (about 1.8e308)")
            return lambda X: value
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                self.refuse_op(node, node.op)
            a, b = self.build(node.left, d), self.build(node.right, d)
            return lambda X: op(_f(a(X)), b(X))
        if isinstance(node, ast.UnaryOp):
            op = _UNARY.get(type(node.op))
            if op is None:
                self.refuse_op(node, node.op)
            a = self.build(node.operand, d)
            return lambda X: op(_f(a(X)))
        if isinstance(node, ast.Compare):
            return self.compare(node, d)
        if isinstance(node, ast.Call):
            return self.call(node, d)
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        if isinstance(node, ast.Attribute):
            self.attribute(node)
        if isinstance(node, ast.IfExp):
            self.fail(
                node, "write where(condition, a, b) instead of 'a if condition else b' (IfExp)"
            )
        if isinstance(node, ast.BoolOp):
            self.fail(
                node,
                "'and'/'or' are not allowed (BoolOp): multiply conditions for 'and', "
                "use maximum(a, b) for 'or'",
            )
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
        names = variable_names(self.dim)
        hint = _suggest(n, [*names, *CONSTANTS, *FUNCTIONS])
        if n.lower() in names:
            hint = f" (did you mean {n.lower()}?)"
        if re.fullmatch(r"x\d+", n):
            hint = f" (the target is {self.dim}-D; set target.dim for more variables)"
        elif n in ("x", "y", "z") and self.dim > 3:
            last = f"x{self.dim - 1}"
            hint = f" (x, y, z name the variables up to 3-D; in {self.dim}-D write x0 … {last})"
        # as written: Python reads identifiers in NFKC form, so xᵢ arrives as xi
        written = ast.get_source_segment(self.text, node) or n
        shown = repr(n) if written == n else f"{written!r} (read as {n!r})"
        self.fail(
            node, f"unknown name {shown}{hint}; variables: {', '.join(names)}; constants: pi, e"
        )
        raise AssertionError

    def attribute(self, node: ast.Attribute):
        base = node.value
        if isinstance(base, ast.Name) and base.id in _MODULES:
            attr = node.attr
            if attr in FUNCTIONS:
                self.fail(
                    node, f"write {attr}(...) without {base.id}. (functions are called by name)"
                )
            if attr in CONSTANTS:
                self.fail(node, f"write {attr} without {base.id}. (constants are used by name)")
            hint = _suggest(attr, FUNCTIONS) or f"; functions: {', '.join(sorted(FUNCTIONS))}"
            self.fail(node, f"{base.id}.{attr} is not available: call functions by name{hint}")
        self.fail(node, "attribute access (a.b) is not allowed")

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
            out = np.ones(np.broadcast_shapes(*(np.shape(v) for v in vals)), dtype=bool)
            for fn, a, b in zip(ops, vals, vals[1:], strict=False):
                out &= fn(a, b)
            return out.astype(float)

        return run

    def call(self, node: ast.Call, d):
        if isinstance(node.func, ast.Attribute):
            self.attribute(node.func)
        if isinstance(node.func, ast.Constant):
            self.fail(node, "multiplication needs *: write 2*(...), not 2(...)")
        if not isinstance(node.func, ast.Name):
            self.fail(node, "only the listed functions may be called, by name")
        name = node.func.id
        if name not in FUNCTIONS:
            hint = _suggest(name, FUNCTIONS) or f"; allowed: {', '.join(sorted(FUNCTIONS))}"
            self.fail(node, f"function {name!r} is not allowed{hint}")
        if node.keywords:
            self.fail(node, f"{name}() takes no keyword arguments")
        arity, fn = FUNCTIONS[name]
        if any(isinstance(a, ast.Starred) for a in node.args):
            self.fail(node, f"{name}() takes its arguments written out, not unpacked with *")
        if len(node.args) != arity:
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


def _syntax_hint(text: str) -> str:
    """'2x' or '2 pi': a number followed by a name is a missing '*'."""
    for m in re.finditer(r"(?<![\w.])(\d+\.?\d*)\s*([A-Za-z_]\w*)", text):
        if not re.fullmatch(r"[eE]\d*", m.group(2)):  # 1e3 is a number
            return f" (multiplication needs *: write {m.group(1)}*{m.group(2)})"
    return ""


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
        col = f" (column {exc.offset})" if exc.offset else ""
        raise ExprError(f"syntax error: {exc.msg}{_syntax_hint(text)}{col}") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ExprError(f"formula cannot be parsed: {type(exc).__name__}") from None
    comp = _Compiler(text.strip(), dim)
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
