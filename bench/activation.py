"""What W1's activation alone costs: ``np.tanh`` on one step's (64, 32) block.

A W1 step (1-64-1 tanh, batch 32) evaluates tanh on 2,048 values once; everything else
is a dozen small products and ufuncs whose cost is mostly NumPy's per call. Where
NumPy's float64 tanh runs one value at a time (while float32 takes the vector units),
that one call is most of the floor's step, and no NumPy loop can be faster than it; a
compiled step (JAX) has its own vectorised tanh. This script measures the call in
float64 and float32, the same way the floor makes it (``np.tanh(z, out=z)`` on a
contiguous block), nnfit's exponential form of it in float64, and NumPy's SIMD
extensions, so that ``make bench`` can put the W1 ratios next to them.

    python bench/activation.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def per_call_us(
    dtype: str, shape=(64, 32), number: int = 2000, repeat: int = 5, form: str = "numpy"
) -> float:
    """Best µs per ``np.tanh(z, out=z)`` on ``shape`` values of the spread a layer sees;
    with ``form="nnfit"`` the training passes' 2/(1 + e^u) − 1 instead, on u = −2z (the
    pass takes u from weights scaled once a step)."""
    z = np.random.default_rng(0).normal(0.0, 2.0, size=shape).astype(dtype)
    buf = np.empty_like(z)
    if form == "nnfit":
        from nnfit.engine.activations import TANH_EXP

        c, g = TANH_EXP
        z = z * z.dtype.type(c)

        def call():
            np.copyto(buf, z)
            g(buf, buf)
    else:

        def call():
            np.copyto(buf, z)  # the same inputs every call, not tanh(tanh(…))
            np.tanh(buf, out=buf)

    def copy_only():
        np.copyto(buf, z)

    t = min(timeit.repeat(call, number=number, repeat=repeat)) / number
    c = min(timeit.repeat(copy_only, number=number, repeat=repeat)) / number
    return max(t - c, 0.0) * 1e6


def simd() -> dict:
    """NumPy's SIMD extensions: what it was built for and what this CPU has."""
    try:
        from numpy._core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # pragma: no cover - NumPy < 2
        return {}
    return {
        "baseline": list(__cpu_baseline__),
        "found": [f for f in __cpu_dispatch__ if features.get(f)],
        "not_found": [f for f in __cpu_dispatch__ if not features.get(f)],
    }


def measure() -> dict:
    from nnfit.engine.activations import ACTIVATIONS

    f64, f32 = per_call_us("float64"), per_call_us("float32")
    ours = per_call_us("float64", form="nnfit")
    return {
        "shape": [64, 32],
        "tanh_f64_us": f64,
        "tanh_f32_us": f32,
        "nnfit_f64_us": ours,
        "nnfit_form": "exp" if ACTIVATIONS["tanh"].fast_scaled else "numpy",
        "simd": simd(),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="one JSON line (for bench.py)")
    args = ap.parse_args(argv)
    r = measure()
    if args.json:
        print(json.dumps(r))
        return 0
    print(
        f"np.tanh on (64, 32): float64 {r['tanh_f64_us']:.1f} µs, float32 "
        f"{r['tanh_f32_us']:.1f} µs; 2/(1 + e^u) − 1 in float64 {r['nnfit_f64_us']:.1f} µs "
        f"(nnfit's passes use {'it' if r['nnfit_form'] == 'exp' else 'np.tanh'} here); "
        f"SIMD found: {', '.join(r['simd'].get('found', []))}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
