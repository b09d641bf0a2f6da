"""What a width can represent against what training finds, per target: one table.

For each target and width (one hidden tanh layer, seeds 0–2, test RMSE median): plain
Levenberg–Marquardt, variable projection + LM, Adam with every other key at its default
(all three with the same budget of epochs as the file gives), random features (hidden
layer as initialised, output layer by least squares), and the Chebyshev and
piecewise-linear baselines at the network's size.

    python bench/approximation.py [--targets sine,runge] [--widths 1,2,4,...,256]
                                  [--seeds 3] [--lm-epochs 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nnfit.experiment import config, runner

METHODS = {
    "plain LM": {"optimizer": "lm"},
    "VarPro-LM": {"optimizer": "lm", "output_layer": "lstsq"},
    "Adam": {},
    "random features": {"output_layer": "lstsq", "epochs": 0},
}


def median_rmse(target: str, width: int, training: dict, seeds: int, baselines=()):
    exps = [
        config.from_dict(
            {
                "target": {"name": target},
                "model": {"hidden": [width], "activation": "tanh"},
                "training": {**training, "seed": s},
                "baselines": list(baselines),
            }
        )
        for s in range(seeds)
    ]
    recs = (
        runner.execute_stack(exps, plots=False)
        if runner.stackable(exps[0])
        else [runner.execute(e, plots=False) for e in exps]
    )
    rmse = float(np.median([r.metrics["test"]["rmse"] for r in recs]))
    base = {n: recs[0].metrics["baselines"][n]["rmse"] for n in baselines}
    return rmse, base


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="sine,runge")
    ap.add_argument("--widths", default="1,2,4,8,16,32,64,128,256")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--lm-epochs", type=int, default=300)
    args = ap.parse_args(argv)
    cols = [*METHODS, "Chebyshev", "piecewise linear"]
    for target in args.targets.split(","):
        print(f"\n{target}: test RMSE, median of {args.seeds} seeds (tanh, one hidden layer)")
        print("| width | " + " | ".join(cols) + " | seconds |")
        print("| ---: | " + " | ".join("---:" for _ in cols) + " | ---: |")
        for w in map(int, args.widths.split(",")):
            t0 = time.perf_counter()
            row = {}
            for name, training in METHODS.items():
                if "optimizer" in training:
                    training = {**training, "epochs": args.lm_epochs}
                extra = ("chebyshev", "pwlinear") if name == "random features" else ()
                row[name], base = median_rmse(target, w, training, args.seeds, extra)
                if extra:
                    row["Chebyshev"], row["piecewise linear"] = base["chebyshev"], base["pwlinear"]
            cells = " | ".join(f"{row[c]:.1e}" for c in cols)
            print(f"| {w} | {cells} | {time.perf_counter() - t0:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
