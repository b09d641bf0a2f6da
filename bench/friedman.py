"""nnfit.Regressor against scikit-learn's MLPRegressor on Friedman #1, by cross_val_score.

make_friedman1 (2,000 points, 10 inputs of which 5 matter, noise-free unless --noise),
5-fold cross-validated R² of the default Regressor and of MLPRegressor with the same
hidden layer, activation, optimizer and epoch budget (max_iter = epochs), everything
else at its defaults; then MLPRegressor with nnfit's batch size too, to show what the
batch size accounts for. Each line is the median over 3 seeds of the mean R² over the
folds, and of the wall time of the whole cross-validation.

    python bench/friedman.py [--n 2000] [--noise 0.0] [--jobs 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sklearn.datasets import make_friedman1  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.neural_network import MLPRegressor  # noqa: E402

import nnfit  # noqa: E402

SEEDS = (0, 1, 2)


def candidates() -> dict:
    """name → (estimator factory of a seed): nnfit's default and its sklearn twins."""
    ref = nnfit.Regressor()
    same = {
        "hidden_layer_sizes": tuple(ref.hidden),
        "activation": ref.activation,
        "solver": ref.optimizer,
        "max_iter": ref.epochs,
    }
    return {
        "nnfit.Regressor()": lambda s: nnfit.Regressor(random_state=s),
        "MLPRegressor (same layer, activation, optimizer, epochs)": lambda s: MLPRegressor(
            **same, random_state=s
        ),
        "MLPRegressor (… and batch_size 32)": lambda s: MLPRegressor(
            **same, batch_size=32, random_state=s
        ),
    }


def measure(make, X, y, jobs: int) -> tuple[float, float]:
    """Median over the seeds of the mean R² over 5 folds, and of the wall time."""
    scores, times = [], []
    for seed in SEEDS:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            # MLPRegressor warns when max_iter ends its training: that is the budget
            warnings.simplefilter("ignore", ConvergenceWarning)
            r2 = cross_val_score(make(seed), X, y, cv=5, n_jobs=jobs)
        times.append(time.perf_counter() - t0)
        scores.append(float(r2.mean()))
    return statistics.median(scores), statistics.median(times)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    X, y = make_friedman1(n_samples=args.n, noise=args.noise, random_state=0)
    print(f"Friedman #1: {args.n} points, noise {args.noise}; 5-fold R², median of 3 seeds")
    out = {}
    for name, make in candidates().items():
        r2, wall = measure(make, X, y, args.jobs)
        out[name] = r2
        print(f"{name:58s} R² {r2:.4f}   {wall:6.1f} s")
    return out


if __name__ == "__main__":
    main()
