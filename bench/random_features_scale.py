"""Which first-layer weight scale makes random features with spread biases accurate?

One hidden layer, w_ij ~ N(0, s²) (``raw``) or N(0, s²/d) (``sqrt_d``), spread biases
b_j = −w_j·c_j, output layer by least squares (nnfit.engine.lstsq). Test RMSE on a dense set,
median and worst over seeds, for tanh, sigmoid and ReLU on six public targets.

    python bench/random_features_scale.py [--widths 8,16,64,256] [--scales 1,3,10,30,100]
                                          [--seeds 3] [--n-train 1024] [--json OUT]
                                          [--targets sine,runge,...] [--acts tanh,...]

The defaults in nnfit.engine.initializers.DOMAIN_SLOPE were chosen with the above and with
``--targets sine,runge --acts tanh,sigmoid --widths 32,64,128 --scales 5,7,10,14,20,28,40
--seeds 10``.

Also checks that mapping the inputs from [0,1] to [−1,1] (centres then uniform in
[−1,1]^d) is the same model as doubling s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import qmc

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from nnfit.engine import lstsq  # noqa: E402
from nnfit.engine.initializers import spread_bias  # noqa: E402
from nnfit.experiment.targets import TARGETS  # noqa: E402

ACTIVATIONS = {
    "tanh": np.tanh,
    "sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)),
    "relu": lambda z: np.maximum(z, 0.0),
}
PROBLEMS = [("sine", 1), ("runge", 1), ("abs", 1), ("step", 1), ("franke", 2), ("sine_product", 5)]


def dense(d: int) -> np.ndarray:
    """The dense test set: 10,000 grid points for d ≤ 2, 2^14 scrambled Sobol points above."""
    if d == 1:
        return np.linspace(0.0, 1.0, 10_000)[:, None]
    if d == 2:
        g = np.linspace(0.0, 1.0, 100)
        return np.stack([a.ravel() for a in np.meshgrid(g, g, indexing="ij")], axis=1)
    return qmc.Sobol(d, scramble=True, seed=0).random_base2(14)


def fit_rmse(act, X, y, Xt, yt, W, b, interval=(0.0, 1.0)):
    lo, hi = interval
    feats = [act((lo + (hi - lo) * Z) @ W + b) for Z in (X, Xt)]
    Phi, Phit = (np.hstack([f, np.ones((len(f), 1))]) for f in feats)
    coef = lstsq.solve(Phi, y)
    return float(np.sqrt(np.mean((Phit @ coef - yt) ** 2)))


def sweep(args):
    rows = []
    for target, d in PROBLEMS:
        if target not in args.targets:
            continue
        F = TARGETS[target].fn
        Xt = dense(d)
        yt = F(Xt)
        modes = ["raw"] if d == 1 else ["raw", "sqrt_d"]
        for act_name in args.acts:
            act = ACTIVATIONS[act_name]
            for mode in modes:
                for s in args.scales:
                    std = s if mode == "raw" else s / np.sqrt(d)
                    for width in args.widths:
                        errs = []
                        for seed in range(args.seeds):
                            data_rng, feat_rng = (
                                np.random.default_rng(q)
                                for q in np.random.SeedSequence(seed).spawn(2)
                            )
                            X = data_rng.uniform(size=(args.n_train, d))
                            W = feat_rng.normal(0.0, std, size=(d, width))
                            b = spread_bias(W, feat_rng)
                            errs.append(fit_rmse(act, X, F(X), Xt, yt, W, b))
                        key = {"target": target, "d": d, "act": act_name, "mode": mode}
                        rows.append({**key, "s": s, "width": width, "rmse": errs})
    return rows


def interval_check(args):
    """tanh, width 64: inputs in [−1,1] at scale s against inputs in [0,1] at s and 2s."""
    out = []
    for target in ("sine", "runge"):
        F = TARGETS[target].fn
        Xt = dense(1)
        yt = F(Xt)
        for s in args.scales:
            res = {"[0,1] s": [], "[-1,1] s": [], "[0,1] 2s": []}
            for seed in range(args.seeds):
                data_rng, feat_rng = (
                    np.random.default_rng(q) for q in np.random.SeedSequence(seed).spawn(2)
                )
                X = data_rng.uniform(size=(args.n_train, 1))
                W = feat_rng.normal(0.0, s, size=(1, 64))
                c = feat_rng.uniform(size=(1, 64))
                # centres uniform in [0,1] map to 2c − 1, uniform in [−1,1]
                b01, b11, b2s = -(W * c)[0], -(W * (2 * c - 1))[0], -(2 * W * c)[0]
                res["[0,1] s"].append(fit_rmse(np.tanh, X, F(X), Xt, yt, W, b01))
                res["[-1,1] s"].append(fit_rmse(np.tanh, X, F(X), Xt, yt, W, b11, (-1.0, 1.0)))
                res["[0,1] 2s"].append(fit_rmse(np.tanh, X, F(X), Xt, yt, 2 * W, b2s))
            out.append((target, s, {k: float(np.median(v)) for k, v in res.items()}))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--widths", default="8,16,64,256")
    p.add_argument("--scales", default="1,3,10,30,100")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--n-train", type=int, default=1024)
    p.add_argument("--targets", default=",".join(t for t, _ in PROBLEMS))
    p.add_argument("--acts", default=",".join(ACTIVATIONS))
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    args.widths = [int(w) for w in args.widths.split(",")]
    args.scales = [float(s) for s in args.scales.split(",")]
    args.targets, args.acts = args.targets.split(","), args.acts.split(",")

    t0 = time.perf_counter()
    rows = sweep(args)
    print(f"test RMSE, median (worst) over {args.seeds} seeds, n_train = {args.n_train}\n")
    print("| target | act | w ~ | s | " + " | ".join(f"width {w}" for w in args.widths) + " |")
    print("|---" * (4 + len(args.widths)) + "|")
    key = None
    for r in rows:
        if (r["target"], r["act"], r["mode"], r["s"]) == key:
            continue
        key = (r["target"], r["act"], r["mode"], r["s"])
        cells = [q["rmse"] for q in rows if (q["target"], q["act"], q["mode"], q["s"]) == key]
        std = "N(0,s²)" if r["mode"] == "raw" else "N(0,s²/d)"
        txt = " | ".join(f"{np.median(e):.1e} ({max(e):.1e})" for e in cells)
        print(f"| {r['target']} | {r['act']} | {std} | {r['s']:g} | {txt} |")

    checks = interval_check(args) if {"sine", "runge"} <= set(args.targets) else []
    if checks:
        print("\ntanh width 64, median test RMSE: inputs mapped to [−1,1] vs [0,1]\n")
        print("| target | s | [0,1], s | [−1,1], s | [0,1], 2s |\n|---|---|---|---|---|")
    for target, s, res in checks:
        vals = " | ".join(f"{v:.2e}" for v in res.values())
        print(f"| {target} | {s:g} | {vals} |")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "interval": checks}, indent=1))


if __name__ == "__main__":
    main()
