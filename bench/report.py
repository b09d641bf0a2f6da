"""The bench's ratios, goals and tables, from the rows the child processes measured."""

from __future__ import annotations

#: the floor each workload's rows are divided by
FLOOR = {"W1": "numpy", "W2": "numpy", "W3": "numpy", "W4": "numpy-batched"}

#: (goal, numerator (workload, tool), denominator (workload, tool), limit)
GOALS = [
    ("W1 nnfit run / floor", ("W1", "nnfit"), ("W1", "numpy"), 1.2),
    ("W2 nnfit run / floor", ("W2", "nnfit"), ("W2", "numpy"), 1.05),
    ("W3 nnfit run / floor's naive full-batch loop", ("W3", "nnfit"), ("W3", "numpy"), 0.35),
    (
        "W4 nnfit sweep, stacked / numpy-batched",
        ("W4", "nnfit-stack"),
        ("W4", "numpy-batched"),
        1.0,
    ),
    ("W1 nnfit run / jax-scan", ("W1", "nnfit"), ("W1", "jax-scan"), 3.0),
    ("W4 nnfit sweep, stacked / jax-vmap", ("W4", "nnfit-stack"), ("W4", "jax-vmap"), 2.5),
    ("W2 nnfit float32 / float64", ("W2", "nnfit-float32"), ("W2", "nnfit"), 0.7),
    ("W3 nnfit float32 / float64", ("W3", "nnfit-float32"), ("W3", "nnfit"), 0.7),
]
HELP_LIMIT_S = 0.3
#: a Levenberg–Marquardt iteration at this width reaches at least this share of the
#: GEMM rate measured in the same run
LM_WIDTH, LM_SHARE = 256, 0.5

DESCRIPTION = {
    "W1": "sin(2πx), 1,024 points, 1-64-1 tanh, Adam 1e-3, batch 32",
    "W2": "Franke, 4,096 points, 2-100-100-100-1 ReLU, Adam 1e-3, batch 64",
    "W3": "sin(2πx), 8,192 points, 1-2048-1 sigmoid, full-batch GD 1e-3",
    "W4": "W1 for 8 seeds (µs per model step)",
}
NOTES = {
    "numpy": "the floor (bench/floor.py)",
    ("W3", "numpy"): "the floor's naive full-batch loop",
    ("W4", "numpy"): "the floor, seeds one at a time",
    "numpy-batched": "the floor, 8 seeds as one stack",
    "numpy-chunk2t": "the floor, full batch in column blocks on 2 threads",
    "jax-scan": "jit + lax.scan over an epoch",
    "jax-vmap": "the scan epoch vmapped over the 8 seeds",
    "torch": "eager, torch.optim",
    "sklearn": "MLPRegressor (its own shuffles)",
    "nnfit": "nnfit run",
    "nnfit-float32": "nnfit run, dtype float32",
    "nnfit-stack": "nnfit sweep --seeds 8 --jobs 1",
}


def assemble(rows, extras, machine, missing, quick, repeats) -> dict:
    ok = {(r["workload"], r["tool"]): r for r in rows if "error" not in r}
    for r in rows:
        base = ok.get((r["workload"], FLOOR[r["workload"]]))
        if "error" not in r and base:
            r["ratio_to_floor"] = r["us_best"] / base["us_best"]
    goals = []
    for name, num, den, limit in GOALS:
        value = ok[num]["us_best"] / ok[den]["us_best"] if num in ok and den in ok else None
        goals.append(_goal(name, limit, value))
    lm = extras.get("lm")
    share = next(
        (r["share"] for r in lm if r["width"] == LM_WIDTH and r.get("geodesic", True)), None
    ) if isinstance(lm, list) else None  # fmt: skip
    goals.append(
        _goal(f"LM iteration at width {LM_WIDTH} / GEMM rate", LM_SHARE, share, at_least=True)
    )
    goals.append(_goal("nnfit --help (s)", HELP_LIMIT_S, extras.get("startup", {}).get("help_s")))
    return {
        "machine": machine,
        "quick": quick,
        "repeats": repeats,
        "missing_packages": missing,
        "rows": rows,
        "goals": goals,
        **extras,
    }


def _goal(name: str, limit: float, value, at_least: bool = False) -> dict:
    met = None if value is None else value >= limit if at_least else value <= limit
    return {"goal": name, "limit": limit, "value": value, "met": met, "at_least": at_least}


def _f(x, fmt):
    return "—" if x is None else format(x, fmt)


def _us(x):
    return "—" if x is None else f"{x:.0f}" if x >= 1000 else f"{x:.1f}"


def _lm(rows) -> list[str]:
    if not rows:
        return []
    if isinstance(rows, dict):
        return [f"Levenberg–Marquardt: failed ({rows.get('error')})", ""]
    n = rows[0]["n"]
    out = [
        f"**LM**: one accepted Levenberg–Marquardt iteration (1-w-1 tanh, {n:,} points: JᵀJ "
        "by syrk; per trial damping a Cholesky factorisation, two pairs of triangular solves "
        "and, with the geodesic acceleration (accel.), its pass and product; the passes), "
        "against a general product Jᵀ·K of the same shapes (2nP² flops; best of the BLAS's "
        "default threads and one; LM runs on one)",
        "",
        "| width | accel. | P | µs / iteration | trials | GFLOP/s | GEMM GFLOP/s | share of GEMM |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        out.append(
            f"| {r['width']} | {'yes' if r.get('geodesic', True) else 'no'} | {r['P']} | "
            f"{_us(r['us_per_iter'])} | {r['trials_per_iter']:.1f} | "
            f"{r['gflops']:.1f} | {r['gemm_gflops']:.1f} ({r['gemm_threads']} thr.) | "
            f"{r['share']:.2f} |"
        )
    return [*out, ""]


def _activation(result: dict) -> list[str]:
    """W1's tanh call next to the floor's and JAX's whole W1 step."""
    a = result.get("activation")
    if not a or "error" in a:
        return []
    w1 = [r for r in result["rows"] if r["workload"] == "W1" and "error" not in r]
    us = {r["tool"]: r["us_best"] for r in w1}
    found = ", ".join(a.get("simd", {}).get("found", [])) or "none"
    text = (
        f"**W1's activation** (bench/activation.py): one `np.tanh` on a step's (64, 32) block "
        f"takes {a['tanh_f64_us']:.1f} µs in float64 and {a['tanh_f32_us']:.1f} µs in float32 "
        f"on this CPU (NumPy's SIMD extensions found: {found})"
    )
    if "numpy" in us:
        text += f"; that one call is {a['tanh_f64_us'] / us['numpy']:.0%} of the floor's step"
        if "jax-scan" in us:
            text += (
                f", {a['tanh_f64_us'] / us['jax-scan']:.1f}× JAX's whole step, and the floor "
                f"is {us['numpy'] / us['jax-scan']:.1f}× JAX"
            )
    if "nnfit_f64_us" in a and a.get("nnfit_form") == "numpy":
        text += (
            f". nnfit's passes call `np.tanh` too, as NumPy has its AVX-512 loops here "
            f"(the exponential form 2/(1 + eᵘ) − 1 takes {a['nnfit_f64_us']:.1f} µs)"
        )
    elif "nnfit_f64_us" in a:
        text += (
            f". nnfit's passes compute it as 2/(1 + eᵘ) − 1 from weights scaled by −2, "
            f"{a['nnfit_f64_us']:.1f} µs on the same block"
        )
    return [text + ".", ""]


def _calls(rows) -> list[str]:
    if not rows or isinstance(rows, dict):
        return []
    out = [
        "**Calls per step** (bench/calls.py: NumPy calls incl. in-place operators, Python "
        "function calls incl. NumPy's dispatchers; W3: nnfit in row blocks, the floor naive; "
        "W4: per step of the stack of 8)",
        "",
        "| workload | floor NumPy | floor Python | nnfit NumPy | nnfit Python |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        f, m = r["floor"], r["nnfit"]
        out.append(
            f"| {r['workload']} | {f['np']:.1f} | {f['py']:.1f} | {m['np']:.1f} | {m['py']:.1f} |"
        )
    return [*out, ""]


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        "# make bench",
        "",
        f"{m['cpu']}, {m['cores']} cores; Python {m['python']}, NumPy {m['numpy']} "
        f"with {m['blas']}; {m['date']}, load average {_f(m['load_avg_1min'], '.1f')} "
        f"at the end.{' Quick mode: a tenth of the epochs.' if result['quick'] else ''}",
        "",
        f"µs per optimizer step, best (and median) of {result['repeats']} timed runs after a "
        "warm-up; × floor is best against best in this run; float64 unless said.",
        "",
    ]
    for wl, desc in DESCRIPTION.items():
        rows = [r for r in result["rows"] if r["workload"] == wl]
        if not rows:
            continue
        lines += [
            f"**{wl}**: {desc}",
            "",
            "| tool | µs/step | median | × floor | final MSE | compile s | peak RSS MB | what |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for r in rows:
            what = NOTES.get((wl, r["tool"]), NOTES.get(r["tool"], ""))
            if "error" in r:
                lines.append(f"| {r['tool']} | failed | | | | | | {r['error']} |")
                continue
            if r.get("blas_threads"):
                what += f"; BLAS {r['blas_threads']} thread{'s' if r['blas_threads'] > 1 else ''}"
                if r["blas_threads"] > 1 and r.get("us_one_thread"):
                    what += f" ({_us(r['us_one_thread'])} on one)"
            lines.append(
                f"| {r['tool']} | {_us(r['us_best'])} | {_us(r['us_median'])} | "
                f"{_f(r.get('ratio_to_floor'), '.2f')} | {r['final_mse']:.3e} | "
                f"{_f(r.get('compile_s'), '.2f')} | {r['peak_rss_mb']:.0f} | {what} |"
            )
        lines.append("")
    lines += _lm(result.get("lm")) + _calls(result.get("calls")) + _activation(result)
    lines += ["| goal | limit | measured | met |", "| --- | ---: | ---: | --- |"]
    for g in result["goals"]:
        met = {True: "yes", False: "**no**", None: "not measured"}[g["met"]]
        sign = "≥" if g.get("at_least") else "≤"
        lines.append(f"| {g['goal']} | {sign} {g['limit']:g} | {_f(g['value'], '.3g')} | {met} |")
    lines.append("")
    extras = []
    if "startup" in result:
        s = result["startup"]
        extras.append(f"start-up: `nnfit --help` {s['help_s']:.2f} s, `nnfit validate` "
                      f"{s['validate_s']:.2f} s (median)")  # fmt: skip
    if "sweep" in result:
        s = result["sweep"]
        extras.append(
            f"sweep of 32 runs: --jobs 1 {s['jobs1_s']:.1f} s, --jobs 2 {s['jobs2_s']:.1f} s "
            f"({s['speedup']:.2f}× throughput)"
        )
    cores = result["machine"]["cores"] or 1
    loaded = [
        f"{r['workload']} {r['tool']} ({r['load_after']:.1f})"
        for r in result["rows"]
        if (r.get("load_after") or 0) > cores
    ]
    if loaded:
        extras.append(
            f"load average above the {cores} cores right after: {', '.join(loaded)}; "
            "other processes shared the machine, so those figures (threaded ones most) "
            "are slower than on a quiet machine"
        )
    if result["missing_packages"]:
        extras.append(
            f"not installed, so not measured: {', '.join(result['missing_packages'])} "
            "(`pip install -e '.[bench]'`)"
        )
    lines += [f"- {e}" for e in extras]
    lines += ["", "## README's tables (`python bench/report.py` prints them again)", ""]
    return "\n".join(lines) + "\n" + readme(result)


#: README's columns: (heading, tool per workload; W4's nnfit and JAX are the stacked ones)
README_COLUMNS = [
    ("floor", {"W4": "numpy-batched"}, "numpy"),
    ("nnfit", {"W4": "nnfit-stack"}, "nnfit"),
    ("JAX", {"W4": "jax-vmap"}, "jax-scan"),
    ("PyTorch", {"W4": None}, "torch"),
    ("scikit-learn", {"W4": None}, "sklearn"),
]


def _thousands(x) -> str:
    return "" if x is None else f"{x:,.0f}" if x >= 1000 else f"{x:.1f}"


def readme(result: dict) -> str:
    """README's performance tables from one run: per workload the floor, nnfit and its
    ratio, float32 and its ratio to float64, JAX, PyTorch and scikit-learn (µs per step,
    best of the run's repeats); the LM iterations; the goals."""
    m = result["machine"]
    ok = {(r["workload"], r["tool"]): r["us_best"] for r in result["rows"] if "error" not in r}
    simd = (result.get("activation") or {}).get("simd", {}).get("found", [])
    avx = "with" if any(s.startswith("AVX512") for s in simd) else "without"
    blas = m["blas"].split(" (")[0]
    lines = [
        f"One run ({m['cpu']} {avx} AVX-512, {m['cores']} cores, Python {m['python']}, "
        f"NumPy {m['numpy']} with {blas}, {m['date']}, load average "
        f"{_f(m['load_avg_1min'], '.1f')} at the end). µs per optimizer step, best of "
        f"{result['repeats']}; float64 unless said:",
        "",
        "| workload | floor | nnfit | × floor | float32 | JAX | PyTorch | scikit-learn |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for wl in DESCRIPTION:
        us = {h: ok.get((wl, special.get(wl, tool))) for h, special, tool in README_COLUMNS}
        if us["floor"] is None and us["nnfit"] is None:
            continue
        ratio = _f(us["nnfit"] / us["floor"], ".2f") if us["floor"] and us["nnfit"] else ""
        f32, f64 = ok.get((wl, "nnfit-float32")), ok.get((wl, "nnfit"))
        single = f"{_thousands(f32)} ({f32 / f64:.2f}×)" if f32 and f64 else ""
        lines.append(
            f"| {wl} | {_thousands(us['floor'])} | {_thousands(us['nnfit'])} | {ratio} | "
            f"{single} | {_thousands(us['JAX'])} | {_thousands(us['PyTorch'])} | "
            f"{_thousands(us['scikit-learn'])} |"
        )
    lm = result.get("lm")
    if isinstance(lm, list) and lm:
        lines += [
            "",
            "| width | parameters | µs / iteration | trials | GFLOP/s | GEMM GFLOP/s | share |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in lm:
            width = f"{r['width']}" + ("" if r.get("geodesic", True) else ", no acceleration")
            lines.append(
                f"| {width} | {r['P']} | {_thousands(r['us_per_iter'])} | "
                f"{r['trials_per_iter']:.1f} | {r['gflops']:.1f} | {r['gemm_gflops']:.1f} | "
                f"{r['share']:.2f} |"
            )
    lines += ["", "| goal | limit | measured | met |", "| --- | ---: | ---: | --- |"]
    for g in result["goals"]:
        sign = "≥" if g.get("at_least") else "≤"
        unit = " s" if g["goal"].endswith("(s)") else ""
        name = g["goal"].removesuffix(" (s)")
        value = "—" if g["value"] is None else f"{g['value']:.2f}{unit}"
        met = {True: "yes", False: "no", None: "not measured"}[g["met"]]
        lines.append(f"| {name} | {sign} {g['limit']:g}{unit} | {value} | {met} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    path = Path(sys.argv[1] if sys.argv[1:] else Path(__file__).with_name("results.json"))
    print(readme(json.loads(path.read_text())), end="")
