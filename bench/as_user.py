"""nnfit as a user runs it: an experiment file, ``nnfit run`` (or ``nnfit sweep``) in
its own process, and the time per step read back from the run folder's metrics.json.

``wall_s`` there is the training loop with its per-epoch bookkeeping (history, gradient
norms, divergence checks) and nothing else: no start-up, data generation, evaluation or
plots. In a sweep whose seeds train as one stack it is the stack's time shared equally,
so ``wall_s / steps`` is the time per model step either way. Only keys of the
experiment file that README documents are used; nnfit draws its own data, weights and
shuffles, so its final MSE is close to, not equal to, the other tools'.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def experiment(name: str, spec: dict, dtype: str = "float64") -> dict:
    """The workload as an experiment file: no validation set, no early stopping,
    targets unscaled so the loss is the same C = ½·mean((g − y)²) as the other tools'."""
    sine = spec["target"] == "sine"
    return {
        "name": f"bench-{name.lower()}",
        "target": {"expr": "sin(2*pi*x)", "dim": 1} if sine else {"name": "franke"},
        "data": {"n_train": spec["n"], "n_val": 0, "n_test": 1024, "scale_y": "none", "seed": 0},
        "model": {
            "hidden": spec["sizes"][1:-1],
            "activation": spec["act"],
            "init": "he" if spec["act"] == "relu" else "glorot",
            "bias": 0.0,  # zero, as the other tools start (nnfit's default spreads them)
        },
        "training": {
            "loss": "mse",
            "optimizer": {"name": spec["optimizer"], "lr": spec["lr"]},
            "batch_size": "full" if spec["batch"] is None else spec["batch"],
            "epochs": spec["epochs"],
            "early_stopping": None,
            "dtype": dtype,
            "seed": 0,
        },
    }


def _cli(*args, cwd=ROOT):
    p = subprocess.run(
        [sys.executable, "-m", "nnfit", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if p.returncode != 0:
        lines = (p.stderr or p.stdout).strip().splitlines()
        raise RuntimeError(f"nnfit {args[0]} exited {p.returncode}: {lines[-1:] or ''}")


def _metrics(folder: Path) -> list[dict]:
    found = [json.loads(f.read_text()) for f in sorted(folder.rglob("metrics.json"))]
    if not found:
        raise RuntimeError(f"no metrics.json under {folder}")
    return found


def one(exp: dict, models: int = 1) -> tuple[float, int, float]:
    """Train once; (wall seconds per model, steps per model, mean final training MSE).
    ``models`` > 1 runs ``nnfit sweep --seeds models --jobs 1`` instead of ``nnfit run``."""
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "experiment.yaml"
        f.write_text(yaml.safe_dump(exp, sort_keys=False))
        out = Path(tmp) / "results"
        if models == 1:
            _cli("run", f, "--out", out, "--quiet")
        else:
            _cli("sweep", f, "--seeds", models, "--jobs", 1, "--out", out, "--quiet")
        runs = [m for m in _metrics(out) if "wall_s" in m]
    if len(runs) != models or any(m["status"] != "ok" for m in runs):
        raise RuntimeError(
            f"expected {models} finished runs, got {[m.get('status') for m in runs]}"
        )
    wall = sum(m["wall_s"] for m in runs) / models
    return wall, runs[0]["steps"], sum(m["train"]["mse"] for m in runs) / models


def measure(name: str, spec: dict, repeats: int, dtype: str = "float64", models: int = 1) -> dict:
    """One untimed warm-up run (file caches, bytecode), then ``repeats`` runs."""
    exp = experiment(name, spec, dtype)
    one(exp, models)
    walls, steps, final = [], 0, float("nan")
    for _ in range(repeats):
        wall, steps, final = one(exp, models)
        walls.append(wall)
    return {
        "times_s": walls,
        "steps": steps,
        "final_mse": final,
        # the largest of the nnfit processes: the whole command, imports and plots too
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
