"""``make bench``: nnfit as users run it, against a NumPy floor, JAX, PyTorch and
scikit-learn, every figure a ratio measured in the same run.

Each timed run of a (tool, workload) pair runs in its own process (imports and thread
pools apart) after a short untimed warm-up (JAX compiles there; its compile time is
reported apart); a workload's tools take their ``--repeat`` runs in turn, so that a
load that comes and goes on a shared machine meets them alike. Best and median are
kept; ratios use the best. The floor is bench/floor.py (W3: its naive full-batch loop;
W4: its stacked loop), run with the BLAS on its default threads and on one, whichever
is faster. nnfit is timed through ``nnfit run`` / ``nnfit sweep`` on an experiment file
(``wall_s / steps`` from metrics.json). Final training MSEs are shown so that speed is
never bought with a wrong answer. Also measured: a Levenberg–Marquardt iteration
against a plain GEMM of the same size (bench/lm.py), NumPy and Python calls per step
(bench/calls.py), W1's tanh call alone in float64 and float32 (bench/activation.py),
sweep throughput with --jobs 2 against --jobs 1, start-up times and peak memory. Writes
bench/results.json and bench/results.md.

    python bench/bench.py [--repeat 3] [--tools numpy,jax,torch,sklearn,nnfit] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import report  # noqa: E402
from workloads import W4_SEEDS, make_data, mse, spec_of, steps_per_epoch  # noqa: E402

PLAN = [
    ("W1", ["numpy", "jax-scan", "torch", "sklearn", "nnfit"]),
    ("W2", ["numpy", "jax-scan", "torch", "sklearn", "nnfit", "nnfit-float32"]),
    ("W3", ["numpy", "numpy-chunk2t", "jax-scan", "torch", "sklearn", "nnfit", "nnfit-float32"]),
    ("W4", ["numpy", "numpy-batched", "jax-vmap", "nnfit-stack"]),
]
OPTIONAL = {"jax": "jax", "torch": "torch", "sklearn": "sklearn"}


def _in_process(tool: str, workload: str, repeats: int, quick: bool) -> dict:
    from threadpoolctl import threadpool_info, threadpool_limits
    from tools import TOOLS
    from workloads import initial_params, shuffles

    spec = spec_of(workload, quick)
    seeds = range(W4_SEEDS) if workload == "W4" else range(1)
    X, y = make_data(spec)
    params = [initial_params(spec, s) for s in seeds]
    perms = [shuffles(spec, s) for s in seeds]
    trainer = TOOLS[tool][0](spec)
    # the floor tries the BLAS on its default threads and on one, repeats interleaved;
    # the others run as they come (a limit set through threadpoolctl slows PyTorch down)
    settings = [None]
    if tool in ("numpy", "numpy-batched"):
        blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        settings = [max(blas, default=1), 1] if max(blas, default=1) > 1 else [None]
    warm = min(2, spec["epochs"])
    times = {s: [] for s in settings}
    for rep in range(repeats + 1):
        for s in settings:
            with threadpool_limits(s, user_api="blas") if s else contextlib.nullcontext():
                t0 = time.perf_counter()
                trained = trainer.run(X, y, params, perms, warm if rep == 0 else spec["epochs"])
                if rep:
                    times[s].append(time.perf_counter() - t0)
    best = min(settings, key=lambda s: min(times[s]))
    return {
        "times_s": times[best],
        "steps": spec["epochs"] * steps_per_epoch(spec),
        "final_mse": statistics.fmean(mse(p, X, y, spec["act"]) for p in trained),
        "compile_s": trainer.compile_s or None,
        "blas_threads": best,
        # nnfit keeps small products on one thread (a thread count chosen by timing would
        # change the weights' last bits from run to run), so this is shown beside the best
        "one_thread_s": min(times[1]) if 1 in times else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "versions": _versions(tool),
    }


def _versions(tool: str) -> dict:
    import numpy

    out = {"numpy": numpy.__version__}
    for family, module in OPTIONAL.items():
        if tool.startswith(family):
            mod = __import__(module)
            out[module] = mod.__version__
    return out


def measure(tool: str, workload: str, repeats: int, quick: bool) -> dict:
    """In the child process: the tool's timed runs on the workload, per model step."""
    spec = spec_of(workload, quick)
    if tool.startswith("nnfit"):
        import as_user

        dtype = "float32" if tool == "nnfit-float32" else "float64"
        models = W4_SEEDS if workload == "W4" else 1
        r = as_user.measure(workload, spec, repeats, dtype, models)
    else:
        r = _in_process(tool, workload, repeats, quick)
    models = W4_SEEDS if workload == "W4" and tool != "nnfit-stack" else 1
    per = r["steps"] * models
    return {
        "tool": tool,
        "workload": workload,
        "us_best": min(r["times_s"]) / per * 1e6,
        "us_median": statistics.median(r["times_s"]) / per * 1e6,
        "us_one_thread": r["one_thread_s"] / per * 1e6 if r.get("one_thread_s") else None,
        **r,
    }


def interleaved(workload: str, tools: list[str], repeats: int, quick: bool, timeout: float):
    """Each tool's timed runs on one workload, one child process (warm-up and one timed
    run) per repeat, the tools taken in turn (back and forth): a load that comes and
    goes meets every tool alike, so the ratios of one run compare like with like."""
    runs: dict[str, list[dict]] = {t: [] for t in tools}
    for rep in range(repeats):
        for tool in tools if rep % 2 == 0 else tools[::-1]:
            if runs[tool] and "error" in runs[tool][-1]:
                continue
            r = child(tool, workload, 1, quick, timeout)
            if "error" in r:
                print(f"  {tool} failed: {r['error']}", flush=True)
            runs[tool].append(r)
    return [merge(runs[t]) for t in tools]


def merge(runs: list[dict]) -> dict:
    """One row from a tool's child runs: all their times, the best run's details."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    best = min(ok, key=lambda r: r["us_best"])
    per = best["us_best"] / (min(best["times_s"]) * 1e6)  # 1 / model steps
    times = [t for r in ok for t in r["times_s"]]
    return {
        **best,
        "times_s": times,
        "us_median": statistics.median(times) * per * 1e6,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
        "us_one_thread": min(
            (r["us_one_thread"] for r in ok if r.get("us_one_thread")), default=None
        ),
        "load_after": max((r.get("load_after") or 0.0) for r in ok),
    }


def child(tool: str, workload: str, repeats: int, quick: bool, timeout: float) -> dict:
    r = _child(tool, workload, repeats, quick, timeout)
    # other processes on the machine: a row measured under load is marked in the report
    r["load_after"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return r


def _child(tool: str, workload: str, repeats: int, quick: bool, timeout: float) -> dict:
    args = [sys.executable, __file__, "--one", tool, workload, "--repeat", str(repeats)]
    try:
        p = subprocess.run(
            [*args, *(["--quick"] if quick else [])],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"tool": tool, "workload": workload, "error": f"timed out after {timeout:.0f} s"}
    if p.returncode != 0:
        last = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"tool": tool, "workload": workload, "error": last[0][:300]}
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- extras


def _nnfit(*args, check=True):
    subprocess.run(
        [sys.executable, "-m", "nnfit", *map(str, args)], cwd=ROOT, capture_output=True, check=check
    )


def sweep_throughput(quick: bool) -> dict:
    """Wall time of one 32-point sweep (about 20 s on one core; a tenth with --quick)
    with --jobs 1 and --jobs 2: the ratio is what the second worker gains."""
    epochs = 50 if quick else 500
    text = f"""
name: bench-sweep
target: {{name: runge}}
data: {{n_train: 1024, n_val: 0, n_test: 2000}}
model: {{hidden: [32], activation: tanh}}
training: {{optimizer: {{name: adam, lr: 0.005}}, batch_size: 32, epochs: {epochs},
           early_stopping: null}}
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
            _nnfit("sweep", f, "--jobs", jobs, "--out", Path(tmp) / f"r{jobs}", "--quiet")
            out[f"jobs{jobs}_s"] = time.perf_counter() - t0
    out["speedup"] = out["jobs1_s"] / out["jobs2_s"]
    return out


def script(name: str, *args: str, timeout: float = 1800) -> list | dict:
    """The JSON line a bench/ script prints with --json, run in its own process."""
    p = subprocess.run(
        [sys.executable, str(HERE / name), "--json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if p.returncode != 0:
        last = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": last[0][:300]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def startup(n: int) -> dict:
    def median_of(*args):
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            _nnfit(*args, check=False)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    return {
        "help_s": median_of("--help"),
        "validate_s": median_of("validate", ROOT / "experiments" / "quick.yaml"),
    }


def machine() -> dict:
    import numpy
    from threadpoolctl import threadpool_info

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = [
        f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "blas": ", ".join(blas) or "unknown",
        "platform": platform.platform(),
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


# ---------------------------------------------------------------------------- driver


def plan(selected: set[str]) -> list[tuple[str, str]]:
    """The (workload, tool) pairs to run: tools whose family was selected and whose
    package is installed."""
    pairs = []
    for wl, tools in PLAN:
        for tool in tools:
            family = tool.split("-")[0]
            if family not in selected:
                continue
            module = OPTIONAL.get(family)
            if module and importlib.util.find_spec(module) is None:
                continue
            pairs.append((wl, tool))
    return pairs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per pair (default 3)")
    ap.add_argument("--tools", default="numpy,jax,torch,sklearn,nnfit", help="tool families")
    ap.add_argument("--quick", action="store_true", help="a tenth of the epochs, one repeat")
    ap.add_argument("--skip-sweep", action="store_true", help="no --jobs throughput sweep")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per pair")
    ap.add_argument("--one", nargs=2, metavar=("TOOL", "WORKLOAD"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    repeats = 1 if args.quick else args.repeat
    if args.one:
        print(json.dumps(measure(*args.one, repeats, args.quick)))
        return 0
    selected = set(args.tools.split(","))
    missing = sorted(m for f, m in OPTIONAL.items() if importlib.util.find_spec(m) is None)
    rows = []
    t_start = time.perf_counter()
    pairs = plan(selected)
    for wl in dict.fromkeys(w for w, _ in pairs):
        tools = [t for w, t in pairs if w == wl]
        print(f"{wl}: {', '.join(tools)} …", flush=True)
        rows += interleaved(wl, tools, repeats, args.quick, args.timeout)
    extras = {}
    if "nnfit" in selected:
        print("lm iteration …", flush=True)
        extras["lm"] = script("lm.py", "--iters", "5" if args.quick else "20")
        print("calls per step …", flush=True)
        extras["calls"] = script("calls.py")
        extras["startup"] = startup(2 if args.quick else 5)
        if not args.skip_sweep:
            extras["sweep"] = sweep_throughput(args.quick)
    if "numpy" in selected:
        extras["activation"] = script("activation.py")
    result = report.assemble(rows, extras, machine(), missing, args.quick, repeats)
    result["total_s"] = time.perf_counter() - t_start
    text = report.markdown(result)
    (HERE / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (HERE / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
