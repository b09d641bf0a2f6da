"""nnfit's defaults against scikit-learn's MLPRegressor at the same budget.

Six public targets (sin(2πx), Runge, |x − ½|, a step, Franke in 2-D, a wide Gaussian
in 5-D), three activations, one hidden layer of 64 units, seeds 0–2. nnfit runs an
experiment file with only the target, the layer, the activation and the seed (every
other key at its default); MLPRegressor gets the same training points, the same width,
activation, epoch budget (all of it: no stop on its training loss), batch size and
learning rate (Adam), and its own defaults otherwise. Both are measured on nnfit's
dense test set. Prints the median test RMSE of each and their ratio.

    python bench/vs_sklearn.py [--seeds 3] [--targets sine,runge,...] [--acts tanh,...]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nnfit.experiment import config, data, runner

TARGETS = {
    "sine": {"name": "sine"},
    "runge": {"name": "runge"},
    "abs": {"name": "abs"},
    "step": {"name": "step"},
    "franke": {"name": "franke"},
    # a smooth 5-D function whose values do not vanish over most of the cube
    "gauss5": {
        "expr": "exp(-((x0-0.5)**2 + (x1-0.5)**2 + (x2-0.5)**2 + (x3-0.5)**2 + (x4-0.5)**2))",
        "dim": 5,
    },
}
SKLEARN_ACT = {"tanh": "tanh", "sigmoid": "logistic", "relu": "relu"}


def nnfit_rmse(target: dict, act: str, seed: int) -> tuple[float, config.Experiment]:
    exp = config.from_dict(
        {"target": target, "model": {"hidden": [64], "activation": act}, "training": {"seed": seed}}
    )
    return runner.execute(exp, plots=False).metrics["test"]["rmse"], exp


def sklearn_rmse(exp: config.Experiment, act: str, seed: int) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    ds = data.build(exp)
    t = exp.training
    model = MLPRegressor(
        hidden_layer_sizes=tuple(exp.model.hidden),
        activation=SKLEARN_ACT[act],
        solver="adam",
        learning_rate_init=t.optimizer.lr,
        batch_size=t.batch_size,
        max_iter=t.epochs,
        tol=0.0,  # the whole budget: no stop on a stalled training loss
        n_iter_no_change=t.epochs,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(ds.X_train, ds.y_train)
    g = model.predict(ds.X_test)
    return float(np.sqrt(np.mean((g - ds.F_test) ** 2)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--acts", default="tanh,sigmoid,relu")
    args = ap.parse_args(argv)
    print(f"{'target':8s} {'act':8s} {'nnfit':>10s} {'sklearn':>10s} {'ratio':>7s}  seconds")
    worst = 0.0
    for name in args.targets.split(","):
        for act in args.acts.split(","):
            t0 = time.perf_counter()
            ours, theirs = [], []
            for seed in range(args.seeds):
                r, exp = nnfit_rmse(TARGETS[name], act, seed)
                ours.append(r)
                theirs.append(sklearn_rmse(exp, act, seed))
            a, b = float(np.median(ours)), float(np.median(theirs))
            worst = max(worst, a / b)
            print(
                f"{name:8s} {act:8s} {a:10.2e} {b:10.2e} {a / b:7.2f}  "
                f"{time.perf_counter() - t0:.0f}",
                flush=True,
            )
    print(f"largest ratio nnfit / sklearn: {worst:.2f} (goal ≤ 1.0)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
