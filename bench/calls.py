"""NumPy and Python calls per training step: the floor against nnfit's engine.

On small networks the time of a step is its number of calls times NumPy's cost per
call, so the counts say where a step's time goes before any clock does. Counted over a
short run of each workload, the run's set-up (one epoch) subtracted, per step:

* NumPy calls: every ufunc and the array functions a training loop uses (``dot``,
  ``matmul``, ``take``, …) are wrapped in the ``numpy`` namespace before the code under
  test binds them, and in-place operators on arrays (``a *= b``) are counted from the
  executed lines (an augmented assignment whose target is an ndarray);
* Python calls: function calls traced with ``sys.settrace`` (the wrappers excluded;
  NumPy's own Python-level dispatchers, one per ``np.dot``, included).

nnfit is run in process through ``nnfit.engine.train.train`` (what ``nnfit run`` calls),
with its per-epoch bookkeeping; the counts are the same with the clock off.

    python bench/calls.py [--workloads W1,W2,W3,W4] [--json]
"""

from __future__ import annotations

import argparse
import ast
import collections
import json
import linecache
import sys
import threading
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
COUNT: collections.Counter = collections.Counter()
FUNCTIONS = {"dot", "matmul", "take", "copyto", "zeros", "empty", "ones", "full", "asarray",
             "stack", "einsum", "flatnonzero", "nonzero", "concatenate", "zeros_like",
             "empty_like", "where", "broadcast_to", "sum", "all", "any", "moveaxis"}  # fmt: skip


class _Ufunc:
    """A ufunc that counts its calls (and those of its methods: reduce, …)."""

    def __init__(self, ufunc):
        self._ufunc = ufunc

    def __call__(self, *args, **kwargs):
        COUNT["np"] += 1
        return self._ufunc(*args, **kwargs)

    def __getattr__(self, name):
        attr = getattr(self._ufunc, name)
        if not callable(attr):
            return attr

        def method(*args, **kwargs):
            COUNT["np"] += 1
            return attr(*args, **kwargs)

        return method


def _function(f):
    def counted(*args, **kwargs):
        COUNT["np"] += 1
        return f(*args, **kwargs)

    return counted


WRAPPERS = {"__call__", "method", "counted", "__getattr__"}


def instrument() -> None:
    """Wrap NumPy's ufuncs and array functions; call before importing the code measured."""
    for name in dir(np):
        obj = getattr(np, name)
        if isinstance(obj, np.ufunc):
            setattr(np, name, _Ufunc(obj))
        elif name in FUNCTIONS:
            setattr(np, name, _function(obj))


_AUG: dict[str, dict[int, str]] = {}


def _augmented(filename: str) -> dict[int, str]:
    """Line → target of each augmented assignment in a file."""
    if filename not in _AUG:
        lines = {}
        try:
            tree = ast.parse("".join(linecache.getlines(filename)))
        except (SyntaxError, ValueError):
            tree = None
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.AugAssign):
                lines[node.lineno] = ast.unparse(node.target)
        _AUG[filename] = lines
    return _AUG[filename]


def _trace(frame, event, arg):
    if event == "call":
        if frame.f_code.co_name not in WRAPPERS:
            COUNT["py"] += 1
        return _trace
    if event == "line":
        target = _augmented(frame.f_code.co_filename).get(frame.f_lineno)
        if target is not None:
            try:
                value = eval(target, frame.f_globals, frame.f_locals)  # a name or attribute
            except Exception:
                value = None
            if isinstance(value, np.ndarray):
                COUNT["np"] += 1
    return _trace


def count(fn) -> dict:
    COUNT.clear()
    threading.settrace(_trace)  # the full batch's second lane too
    sys.settrace(_trace)
    try:
        fn()
    finally:
        sys.settrace(None)
        threading.settrace(None)
    return dict(COUNT)


def per_step(workload: str) -> dict:
    import floor
    from workloads import W4_SEEDS, initial_params, make_data, shuffles, spec_of, steps_per_epoch

    from nnfit.engine.loop import TrainSettings
    from nnfit.engine.network import Network
    from nnfit.engine.train import train

    K = W4_SEEDS if workload == "W4" else 1
    spec = spec_of(workload, quick=True)
    X, y = make_data(spec)

    def floor_run(epochs):
        s = dict(spec, epochs=epochs)
        params = [initial_params(s, k) for k in range(K)]
        perms = [shuffles(s, k) for k in range(K)]
        return lambda: floor.train_many(s, X, y, params, perms)

    def nnfit_run(epochs):
        net = Network.create(
            spec["sizes"],
            activation=spec["act"],
            init="he" if spec["act"] == "relu" else "glorot",
            rng=[np.random.default_rng(k) for k in range(K)],
        )
        s = TrainSettings(
            optimizer={"name": spec["optimizer"], "lr": spec["lr"]},
            batch_size=spec["batch"] or "full",
            epochs=epochs,
            early_stopping=None,
        )
        rngs = [np.random.default_rng(10 + k) for k in range(K)]
        return lambda: train(net, X, y, settings=s, rngs=rngs)

    steps = (spec["epochs"] - 1) * steps_per_epoch(spec)
    out = {"workload": workload, "models": K}
    for name, run in (("floor", floor_run), ("nnfit", nnfit_run)):
        run(1)()  # imports and first-call caches out of the count
        full, one = count(run(spec["epochs"])), count(run(1))
        out[name] = {k: (full.get(k, 0) - one.get(k, 0)) / steps for k in ("np", "py")}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="W1,W2,W3,W4")
    ap.add_argument("--json", action="store_true", help="one JSON line (for bench.py)")
    args = ap.parse_args(argv)
    instrument()
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    rows = [per_step(w) for w in args.workloads.split(",")]
    if args.json:
        print(json.dumps(rows))
        return 0
    print("| workload | floor NumPy | floor Python | nnfit NumPy | nnfit Python |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        f, n = r["floor"], r["nnfit"]
        print(
            f"| {r['workload']} | {f['np']:.1f} | {f['py']:.1f} | {n['np']:.1f} | {n['py']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
