"""Time one optimizer step of nnfit against other tools, side by side in one run.

Every tool trains the same network from the same initial weights on the same data with
the same shuffles, each in its own process (so that imports and thread pools do not
interfere), and reports µs per optimizer step (best of ``--repeat`` runs) and the final
training MSE (so that speed is never bought with a wrong answer).

    python bench/bench.py                      # W1 and W2, nnfit and the bare loop
    python bench/bench.py --tools nnfit,numpy --workloads W1 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from workloads import WORKLOADS, initial_params, make_data, shuffles  # noqa: E402

# ------------------------------------------------------------------------------ tools


def run_nnfit(spec, X, y, params, perms):
    from nnfit.network import Network
    from nnfit.optimizers import make

    n_layers = len(params)
    net = Network(spec["sizes"], [spec["act"]] * (n_layers - 1) + ["identity"])
    for (W, b), (W0, b0) in zip(net.params(), params, strict=True):
        W[...] = W0
        b[...] = b0
    opt = make(spec["optimizer"], net.n_params, net.dtype, net.n_weights)
    bs, lr = spec["batch"], spec["lr"]
    theta, grad = net.theta, net.grad
    t0 = time.perf_counter()
    for perm in perms:
        Xs, ys = X[perm], y[perm]
        for i in range(0, len(X), bs):
            net.loss_grad(Xs[i : i + bs], ys[i : i + bs])
            opt.step(theta, grad, lr)
    wall = time.perf_counter() - t0
    return wall, float(np.mean((net.predict(X) - y) ** 2))


def run_numpy(spec, X, y, params, perms):
    """A bare hand-written loop: per-layer arrays, Adam on each array."""
    Ws = [W.copy() for W, _ in params]
    bs_ = [b.copy() for _, b in params]
    act = spec["act"]
    ms = [np.zeros_like(p) for p in Ws + bs_]
    vs = [np.zeros_like(p) for p in Ws + bs_]
    b1, b2, eps, lr, bs = 0.9, 0.999, 1e-8, spec["lr"], spec["batch"]
    L = len(Ws)
    t = 0
    t0 = time.perf_counter()
    for perm in perms:
        Xs, ys = X[perm], y[perm]
        for i in range(0, len(X), bs):
            xb, yb = Xs[i : i + bs], ys[i : i + bs]
            acts = [xb]
            zs = []
            for l in range(L):
                z = acts[-1] @ Ws[l] + bs_[l]
                zs.append(z)
                if l < L - 1:
                    acts.append(np.tanh(z) if act == "tanh" else np.maximum(z, 0))
            r = zs[-1] - yb
            _loss = 0.5 * np.mean(r * r)
            delta = r / len(xb)
            gWs, gbs = [None] * L, [None] * L
            for l in range(L - 1, -1, -1):
                gWs[l] = acts[l].T @ delta
                gbs[l] = delta.sum(axis=0)
                if l:
                    delta = delta @ Ws[l].T
                    delta *= (1 - acts[l] ** 2) if act == "tanh" else (zs[l - 1] > 0)
            t += 1
            c1, c2 = 1 - b1**t, 1 - b2**t
            for p, g, m, v in zip(Ws + bs_, gWs + gbs, ms, vs, strict=True):
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * g * g
                p -= (lr / c1) * m / (np.sqrt(v / c2) + eps)
    wall = time.perf_counter() - t0
    a = X
    for l in range(L):
        a = a @ Ws[l] + bs_[l]
        if l < L - 1:
            a = np.tanh(a) if act == "tanh" else np.maximum(a, 0)
    return wall, float(np.mean((a - y) ** 2))


TOOLS = {"nnfit": run_nnfit, "numpy": run_numpy}


def measure(tool: str, workload: str, repeat: int) -> dict:
    """Run in this process: best of ``repeat`` timed runs after one warm-up."""
    spec = WORKLOADS[workload]
    X, y = make_data(spec)
    params = initial_params(spec)
    perms = shuffles(len(X), spec["epochs"])
    steps = spec["epochs"] * -(-len(X) // spec["batch"])
    TOOLS[tool](spec, X, y, params, perms[:1])  # warm-up: buffers, caches, imports
    best, mse = float("inf"), None
    for _ in range(repeat):
        wall, mse = TOOLS[tool](spec, X, y, params, perms)
        best = min(best, wall)
    return {
        "tool": tool,
        "workload": workload,
        "us_per_step": best / steps * 1e6,
        "steps": steps,
        "final_mse": mse,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tools", default="nnfit,numpy")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--one", nargs=2, metavar=("TOOL", "WORKLOAD"), help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(HERE / "results.json"))
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure(*args.one, args.repeat)))
        return
    rows = []
    for wl in args.workloads.split(","):
        for tool in args.tools.split(","):
            out = subprocess.run(
                [sys.executable, __file__, "--one", tool, wl, "--repeat", str(args.repeat)],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = {r["workload"]: r["us_per_step"] for r in rows if r["tool"] == "numpy"}
    lines = [
        "| workload | tool | µs/step | ratio to bare NumPy | final MSE |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        ratio = r["us_per_step"] / base[r["workload"]] if r["workload"] in base else float("nan")
        r["ratio_to_numpy"] = ratio
        lines.append(
            f"| {r['workload']} | {r['tool']} | {r['us_per_step']:.1f} | "
            f"{ratio:.2f} | {r['final_mse']:.3e} |"
        )
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    Path(args.out).with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
