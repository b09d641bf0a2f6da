"""L-BFGS and Levenberg–Marquardt against scikit-learn's MLPRegressor(solver="lbfgs").

Same data, width, iteration cap; median over 3 seeds of the test RMS error on a dense
grid and of the training time. scikit-learn is run twice: with its defaults (tol 1e-4,
alpha 1e-4) and with the same problem as nnfit (no penalty, tol 0).

    python bench/second_order.py [--iters 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from nnfit.engine.loop import TrainSettings  # noqa: E402
from nnfit.engine.network import Network  # noqa: E402
from nnfit.engine.train import train  # noqa: E402
from nnfit.experiment.targets import TARGETS  # noqa: E402

PROBLEMS = {
    "runge 1-10-1": {"target": "runge", "d": 1, "n": 256, "width": 10},
    "franke 2-20-1": {"target": "franke", "d": 2, "n": 1000, "width": 20},
}


def data(spec, seed):
    rng = np.random.default_rng(100 + seed)
    F = TARGETS[spec["target"]].fn
    X = rng.uniform(size=(spec["n"], spec["d"]))
    m = 10000 if spec["d"] == 1 else 100
    if spec["d"] == 1:
        Xt = np.linspace(0, 1, m)[:, None]
    else:
        u = np.linspace(0, 1, m)
        Xt = np.stack([a.ravel() for a in np.meshgrid(u, u)], axis=1)
    return X, F(X), Xt, F(Xt)


def rmse(g, f):
    return float(np.sqrt(np.mean((np.ravel(g) - f) ** 2)))


def run_nnfit(method, spec, seed, iters, output_layer="trained"):
    X, y, Xt, ft = data(spec, seed)
    net = Network.create(
        [spec["d"], spec["width"], 1], activation="tanh", rng=np.random.default_rng(seed)
    )
    s = TrainSettings(
        optimizer=method, epochs=iters, early_stopping=None, output_layer=output_layer
    )
    t0 = time.perf_counter()
    train(net, X, y[:, None], settings=s)
    return rmse(net.predict(Xt)[0, :, 0], ft), time.perf_counter() - t0


def run_sklearn(spec, seed, iters, tuned):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    X, y, Xt, ft = data(spec, seed)
    kw = {"alpha": 0.0, "tol": 0.0} if tuned else {}
    model = MLPRegressor(
        hidden_layer_sizes=(spec["width"],),
        activation="tanh",
        solver="lbfgs",
        max_iter=iters,
        random_state=seed,
        **kw,
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return rmse(model.predict(Xt), ft), time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=1000)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args(argv)
    tools = {
        "nnfit lm": lambda s, seed: run_nnfit("lm", s, seed, args.iters),
        "nnfit lm, output_layer lstsq": lambda s, seed: run_nnfit(
            "lm", s, seed, args.iters, "lstsq"
        ),
        "nnfit lbfgs": lambda s, seed: run_nnfit("lbfgs", s, seed, args.iters),
        "sklearn lbfgs (defaults)": lambda s, seed: run_sklearn(s, seed, args.iters, False),
        "sklearn lbfgs (alpha 0, tol 0)": lambda s, seed: run_sklearn(s, seed, args.iters, True),
    }
    rows = []
    for pname, spec in PROBLEMS.items():
        for tname, fn in tools.items():
            res = [fn(spec, seed) for seed in range(args.seeds)]
            err = float(np.median([r[0] for r in res]))
            wall = float(np.median([r[1] for r in res]))
            rows.append({"problem": pname, "tool": tname, "test_rmse": err, "seconds": wall})
    lines = [
        "| problem | tool | test RMSE (median) | ratio to sklearn defaults | s (median) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        ref = next(
            x
            for x in rows
            if x["problem"] == r["problem"] and x["tool"] == "sklearn lbfgs (defaults)"
        )
        r["ratio"] = r["test_rmse"] / ref["test_rmse"]
        lines.append(
            f"| {r['problem']} | {r['tool']} | {r['test_rmse']:.3e} | "
            f"{r['ratio']:.3f} | {r['seconds']:.2f} |"
        )
    (HERE / "second_order.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"iteration cap {args.iters}, {args.seeds} seeds")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
