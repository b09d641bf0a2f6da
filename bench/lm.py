"""A Levenberg–Marquardt iteration against a plain GEMM of the same size.

One hidden tanh layer of width w (P = 3w + 1 parameters) on 1,024 points of
sin(2πx): nnfit's ``lm`` runs a fixed number of accepted iterations (no early
stopping), timed by the training loop's own clock. Its arithmetic per iteration is
JᵀJ (``syrk``, n·P(P + 1) flops); per trial damping one Cholesky factorisation P³/3,
two pairs of triangular solves 4P² and, for the geodesic acceleration, one more forward
pass and a product Jᵀr (about 4nP); and the passes of the accepted point (about 6nP); the
reference is a general product of the same shapes, Jᵀ·K (2nP² flops; NumPy would
compute ``J.T @ J`` itself by ``syrk``), on the BLAS NumPy uses, best of its default
threads and one (LM pins both BLAS libraries to one thread). Both are averages over
back-to-back work (an LM run's iterations, ~0.2 s of products), best of three samples
taken in turn, so that both see the same machine. The rate is flops over time for both.

    python bench/lm.py [--widths 16,64,256] [--n 1024] [--iters 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nnfit.engine.loop import TrainSettings  # noqa: E402
from nnfit.engine.network import Network  # noqa: E402
from nnfit.engine.train import train  # noqa: E402


def _gemm_sample(J, K, out, threads: int) -> float:
    """Seconds per product Jᵀ·K, averaged over products back to back for about 0.2 s (as
    an LM run averages over its iterations)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads, user_api="blas"):
        t0 = time.perf_counter()
        np.dot(J.T, K, out=out)
        count = max(3, int(0.2 / max(time.perf_counter() - t0, 1e-6)))
        t0 = time.perf_counter()
        for _ in range(count):
            np.dot(J.T, K, out=out)
        return (time.perf_counter() - t0) / count


def measure(
    width: int, n: int, iters: int, repeats: int = 3, geodesic: float | None = None
) -> dict:
    """Best time per accepted LM iteration over ``repeats`` runs (after a warm-up), and
    the best GEMM rate of samples taken between them, so both see the same machine."""
    from threadpoolctl import threadpool_info

    rng = np.random.default_rng(1)
    X = rng.uniform(size=(n, 1))
    y = np.sin(2 * np.pi * X)
    opt = {"name": "lm"} if geodesic is None else {"name": "lm", "geodesic": geodesic}
    s = TrainSettings(optimizer=opt, epochs=iters, early_stopping=None)
    P = 3 * width + 1
    J, K = rng.normal(size=(n, P)), rng.normal(size=(n, P))  # two: J.T @ J would be syrk
    out = np.empty((P, P))
    default = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    settings = sorted({default, 1})
    best, gemm = None, {t: math.inf for t in settings}
    for rep in range(repeats + 1):
        net = Network.create([1, width, 1], activation="tanh", rng=np.random.default_rng(0))
        [res] = train(net, X, y, settings=s)
        row = {"us": res.wall_s / max(res.epochs, 1) * 1e6, "iters": res.epochs}
        row["trials"] = res.steps / max(res.epochs, 1)
        for t in settings:
            gemm[t] = min(gemm[t], _gemm_sample(J, K, out, t))
        if rep and (best is None or row["us"] < best["us"]):
            best = row
    threads = min(settings, key=lambda t: gemm[t])
    rate = 2 * n * P * P / gemm[threads] / 1e9
    per_trial = P**3 / 3 + (4 * P * P + 4 * n * P if geodesic != 0 else 2 * P * P)
    flops = n * P * (P + 1) + best["trials"] * per_trial + 6 * n * P
    lm_rate = flops / (best["us"] / 1e6) / 1e9
    return {
        "width": width,
        "geodesic": geodesic != 0,
        "n": n,
        "P": P,
        "us_per_iter": best["us"],
        "trials_per_iter": best["trials"],
        "gflops": lm_rate,
        "gemm_gflops": rate,
        "gemm_threads": threads,
        "share": lm_rate / rate,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="16,64,256")
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--json", action="store_true", help="one JSON line (for bench.py)")
    args = ap.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    rows = [measure(w, args.n, args.iters) for w in widths]
    # the widest again without the geodesic acceleration, whose extra pass is few flops
    rows.append(measure(max(widths), args.n, args.iters, geodesic=0.0))
    if args.json:
        print(json.dumps(rows))
        return 0
    print("| width | acceleration | P | µs / iteration | trials | GFLOP/s | GEMM GFLOP/s | share |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['width']} | {'yes' if r['geodesic'] else 'no'} | {r['P']} | "
            f"{r['us_per_iter']:.0f} | {r['trials_per_iter']:.1f} | "
            f"{r['gflops']:.2f} | {r['gemm_gflops']:.2f} | {r['share']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
