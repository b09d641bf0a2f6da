"""``make bench``: nnfit against a bare NumPy loop, scikit-learn and PyTorch, in one run.

Each (tool, workload) pair runs in its own process (imports and thread pools apart),
is warmed up once and timed as the best of ``--repeat`` runs; the table gives µs per
optimizer step, the ratio to the bare NumPy loop and the final training MSE (so speed
is never bought with a wrong answer). Also measured: float32 against float64, the
stacked ensemble (W4), sweep throughput with --jobs 2 against --jobs 1, start-up times
and the peak memory of W3. Writes bench/results.json and bench/results.md.

    python bench/bench.py [--repeat 3] [--tools nnfit,numpy,sklearn,torch] [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from workloads import W4_SEEDS, WORKLOADS  # noqa: E402

PLAN = [
    ("W1", ["nnfit", "nnfit-float32", "numpy", "sklearn", "torch"]),
    ("W2", ["nnfit", "numpy", "sklearn", "torch"]),
    ("W3", ["nnfit", "numpy", "sklearn", "torch"]),
    ("W4", ["nnfit-stack", "numpy-seeds"]),
]


def steps_of(spec) -> int:
    return spec["epochs"] * -(-spec["n"] // spec["batch"])


def measure(tool: str, workload: str, repeat: int) -> dict:
    """In a child process: warm up, then the best of ``repeat`` timed runs."""
    from tools import TOOLS

    spec = dict(WORKLOADS["W1" if workload == "W4" else workload])
    warm = dict(spec, epochs=1)
    TOOLS[tool](warm)
    best, final = float("inf"), None
    for _ in range(repeat):
        wall, final = TOOLS[tool](spec)
        best = min(best, wall)
    return {
        "tool": tool,
        "workload": workload,
        "steps": steps_of(spec),
        "us_per_step": best / steps_of(spec) * 1e6,
        "final_mse": final,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child(tool, workload, repeat) -> dict | None:
    p = subprocess.run(
        [sys.executable, __file__, "--one", tool, workload, "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        check=False,
    )
    if p.returncode != 0:
        print(f"  {tool} {workload} failed: {p.stderr.strip().splitlines()[-1:]}", flush=True)
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def sweep_throughput() -> dict:
    """Wall time of one sweep (32 independent runs, about 20 s on one core) with --jobs 1
    and --jobs 2; the ratio is the throughput gained by the second worker."""
    text = """
name: bench-sweep
target: {name: runge}
data: {n_train: 1024, n_val: 0, n_test: 2000}
model: {hidden: [32], activation: tanh}
training: {optimizer: {name: adam, lr: 0.005}, batch_size: 32, epochs: 500,
           early_stopping: null}
sweep:
  grid:
    model.hidden: [[8], [12], [16], [24], [32], [40], [48], [64]]
    training.optimizer.lr: [0.001, 0.002, 0.005, 0.01]
"""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "s.yaml"
        f.write_text(text)
        for jobs in (1, 2):
            t0 = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "nnfit",
                    "sweep",
                    str(f),
                    "--jobs",
                    str(jobs),
                    "--out",
                    str(Path(tmp) / f"r{jobs}"),
                    "--quiet",
                ],
                check=True,
                capture_output=True,
            )
            out[f"jobs{jobs}_s"] = time.perf_counter() - t0
    out["speedup"] = out["jobs1_s"] / out["jobs2_s"]
    return out


def startup() -> dict:
    def best_of(args, n=5):
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "nnfit", *args], capture_output=True, check=False)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    return {
        "help_s": best_of(["--help"]),
        "validate_s": best_of(["validate", str(ROOT / "experiments" / "quick.yaml")]),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tools", default="nnfit,numpy,sklearn,torch")
    ap.add_argument("--one", nargs=2, metavar=("TOOL", "WORKLOAD"), help=argparse.SUPPRESS)
    ap.add_argument("--skip-sweep", action="store_true")
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure(*args.one, args.repeat)))
        return
    allowed = set(args.tools.split(","))
    have = {t for t in ("sklearn", "torch") if importlib.util.find_spec(t) is not None}
    rows = []
    for wl, tools in PLAN:
        for tool in tools:
            family = tool.split("-")[0]
            if family not in allowed or (family in ("sklearn", "torch") and family not in have):
                continue
            print(f"{wl} {tool} …", flush=True)
            r = child(tool, wl, args.repeat)
            if r:
                rows.append(r)
    base = {r["workload"]: r["us_per_step"] for r in rows if r["tool"].startswith("numpy")}
    for r in rows:
        r["ratio_to_numpy"] = (
            r["us_per_step"] / base[r["workload"]] if r["workload"] in base else None
        )
    extra = {"startup": startup(), "cpu_count": os.cpu_count()}
    if not args.skip_sweep:
        extra["sweep"] = sweep_throughput()
    get = {(r["workload"], r["tool"]): r for r in rows}

    def ratio(a, b):
        if a in get and b in get:
            return get[a]["us_per_step"] / get[b]["us_per_step"]
        return None

    goals = [
        ("W1 nnfit / bare NumPy ≤ 1.2", ratio(("W1", "nnfit"), ("W1", "numpy")), 1.2),
        ("W2 nnfit / bare NumPy ≤ 1.1", ratio(("W2", "nnfit"), ("W2", "numpy")), 1.1),
        ("W1 nnfit / scikit-learn ≤ 0.2", ratio(("W1", "nnfit"), ("W1", "sklearn")), 0.2),
        ("W1 nnfit / PyTorch ≤ 0.1", ratio(("W1", "nnfit"), ("W1", "torch")), 0.1),
        ("W3 nnfit / bare NumPy ≤ 0.35", ratio(("W3", "nnfit"), ("W3", "numpy")), 0.35),
        ("W4 stacked / one at a time ≤ 0.6", ratio(("W4", "nnfit-stack"), ("W1", "nnfit")), 0.6),
        ("W1 float32 / float64 ≤ 0.8", ratio(("W1", "nnfit-float32"), ("W1", "nnfit")), 0.8),
        ("sweep --jobs 2 throughput ≥ 1.8×", extra.get("sweep", {}).get("speedup"), -1.8),
        ("nnfit --help ≤ 0.4 s", extra["startup"]["help_s"], 0.4),
        ("nnfit validate ≤ 0.8 s", extra["startup"]["validate_s"], 0.8),
    ]
    lines = [
        "| workload | tool | µs/step | ratio to bare NumPy | final MSE | peak RSS MB |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        rn = "—" if r["ratio_to_numpy"] is None else f"{r['ratio_to_numpy']:.2f}"
        lines.append(
            f"| {r['workload']} | {r['tool']} | {r['us_per_step']:.1f} | {rn} | "
            f"{r['final_mse']:.3e} | {r['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        f"W4 is W1 for {W4_SEEDS} seeds; its µs/step is per model.",
        "",
        "| goal | measured | met |",
        "| --- | ---: | --- |",
    ]
    verdicts = []
    for name, value, limit in goals:
        if value is None:
            lines.append(f"| {name} | not measured | — |")
            continue
        met = value >= -limit if limit < 0 else value <= limit
        verdicts.append({"goal": name, "value": value, "met": met})
        lines.append(f"| {name} | {value:.3g} | {'yes' if met else 'no'} |")
    (HERE / "results.json").write_text(
        json.dumps({"rows": rows, "goals": verdicts, **extra}, indent=2) + "\n"
    )
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
