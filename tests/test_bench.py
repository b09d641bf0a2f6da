"""The benchmark's floor must train exactly what a plain textbook loop trains.

The floor (bench/floor.py) folds biases, keeps activations feature-major, rescales
Adam's moments and sums blocked gradients in threads; any slip there would make every
ratio in ``make bench`` meaningless. Each case trains a tiny workload both ways from
the same weights and shuffles and compares the final training MSE (to 1e-12, some
hundred times the rounding noise such short runs accumulate) and the weights.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import floor
from workloads import initial_params, make_data, mse, shuffles

ACT = {
    "tanh": (np.tanh, lambda a: 1 - a**2),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda a: a * (1 - a)),
    "relu": (lambda z: np.maximum(z, 0), lambda a: (a > 0).astype(float)),
}


def reference(spec, X, y, params, perms):
    """Sample-major, one array per weight and bias, C = ½·mean((g − y)²), Adam as
    PyTorch writes it, every step allocating its temporaries."""
    f, df = ACT[spec["act"]]
    Ws = [W.copy() for W, _ in params]
    bs = [b.copy() for _, b in params]
    ms = [np.zeros_like(p) for p in Ws + bs]
    vs = [np.zeros_like(p) for p in Ws + bs]
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, spec["lr"]
    n, batch = len(X), spec["batch"] or len(X)
    t = 0
    for e in range(spec["epochs"]):
        order = perms[e] if perms is not None else np.arange(n)
        for i in range(0, n, batch):
            xb, yb = X[order[i : i + batch]], y[order[i : i + batch]]
            acts = [xb]
            for k, (W, b) in enumerate(zip(Ws, bs, strict=True)):
                z = acts[-1] @ W + b
                acts.append(f(z) if k < len(Ws) - 1 else z)
            delta = (acts[-1] - yb) / yb.size
            gW, gb = [None] * len(Ws), [None] * len(Ws)
            for k in range(len(Ws) - 1, -1, -1):
                gW[k], gb[k] = acts[k].T @ delta, delta.sum(axis=0)
                if k:
                    delta = (delta @ Ws[k].T) * df(acts[k])
            t += 1
            for p, g, m, v in zip(Ws + bs, gW + gb, ms, vs, strict=True):
                if spec["optimizer"] == "gd":
                    p -= lr * g
                    continue
                m[...] = b1 * m + (1 - b1) * g
                v[...] = b2 * v + (1 - b2) * g * g
                p -= lr / (1 - b1**t) * m / (np.sqrt(v / (1 - b2**t)) + eps)
    return list(zip(Ws, bs, strict=True))


TINY = {
    "tanh-adam": {"target": "sine", "n": 64, "sizes": [1, 8, 1], "act": "tanh",
                  "optimizer": "adam", "lr": 1e-2, "batch": 8, "epochs": 5},
    "relu-deep": {"target": "franke", "n": 96, "sizes": [2, 12, 10, 1], "act": "relu",
                  "optimizer": "adam", "lr": 1e-2, "batch": 16, "epochs": 4},
    "sigmoid-gd": {"target": "sine", "n": 128, "sizes": [1, 32, 1], "act": "sigmoid",
                   "optimizer": "gd", "lr": 0.2, "batch": None, "epochs": 30},
}  # fmt: skip


def check(spec, got, want, X, y):
    a, b = mse(got, X, y, spec["act"]), mse(want, X, y, spec["act"])
    assert a == pytest.approx(b, abs=1e-12)
    assert a < 0.97 * mse(initial_params(spec), X, y, spec["act"])  # it did train
    for (W, c), (W0, c0) in zip(got, want, strict=True):
        np.testing.assert_allclose(W, W0, rtol=0, atol=1e-10)
        np.testing.assert_allclose(c, c0, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", list(TINY))
def test_floor_trains_like_the_textbook_loop(name):
    spec = TINY[name]
    X, y = make_data(spec)
    params, perms = initial_params(spec), shuffles(spec)
    want = reference(spec, X, y, params, perms)
    check(spec, floor.train(spec, X, y, params, perms), want, X, y)


def test_stacked_models_train_like_each_alone():
    spec = TINY["tanh-adam"]
    X, y = make_data(spec)
    params = [initial_params(spec, seed) for seed in range(3)]
    perms = [shuffles(spec, seed) for seed in range(3)]
    got = floor.train_many(spec, X, y, params, perms)
    for p, q, g in zip(params, perms, got, strict=True):
        check(spec, g, reference(spec, X, y, p, q), X, y)


@pytest.mark.parametrize("threads", [1, 2])
def test_blocked_full_batch_trains_like_the_naive_loop(threads):
    spec = TINY["sigmoid-gd"]
    X, y = make_data(spec)
    params = initial_params(spec)
    got = floor.train_blocked(spec, X, y, params, threads=threads, chunk=16)
    check(spec, got, reference(spec, X, y, params, None), X, y)


def test_the_activation_line_puts_the_tanh_call_next_to_the_same_runs_steps():
    import activation
    import report

    assert activation.per_call_us("float64", number=20, repeat=2) > 0.0
    assert activation.per_call_us("float64", number=20, repeat=2, form="nnfit") > 0.0
    rows = [
        {"workload": "W1", "tool": "numpy", "us_best": 50.0},
        {"workload": "W1", "tool": "jax-scan", "us_best": 10.0},
        {"workload": "W2", "tool": "numpy", "us_best": 900.0},
    ]
    a = {"tanh_f64_us": 30.0, "tanh_f32_us": 6.0, "simd": {"found": ["X86_V3"]}}
    [line, blank] = report._activation({"activation": a, "rows": rows})
    assert "30.0 µs in float64 and 6.0 µs in float32" in line and "found: X86_V3" in line
    assert "60% of the floor's step, 3.0× JAX's whole step, and the floor is 5.0× JAX" in line
    assert blank == "" and report._activation({"activation": {"error": "x"}, "rows": rows}) == []
    exp = {**a, "nnfit_f64_us": 14.0, "nnfit_form": "exp"}
    [line, _] = report._activation({"activation": exp, "rows": rows})
    assert line.endswith(
        "5.0× JAX. nnfit's passes compute it as 2/(1 + eᵘ) − 1 from weights "
        "scaled by −2, 14.0 µs on the same block."
    )
    vector = {**a, "nnfit_f64_us": 4.8, "nnfit_form": "numpy"}
    [line, _] = report._activation({"activation": vector, "rows": rows})
    assert line.endswith("(the exponential form 2/(1 + eᵘ) − 1 takes 4.8 µs).")


def test_the_report_takes_the_default_lm_for_its_goal_and_shows_the_one_thread_floor():
    import report

    lm = [  # the row without the acceleration first: the goal must skip it
        {"width": 256, "geodesic": False, "n": 1024, "P": 769, "us_per_iter": 3e4,
         "trials_per_iter": 1.9, "gflops": 26.0, "gemm_gflops": 80.0, "gemm_threads": 2,
         "share": 0.31},
        {"width": 256, "geodesic": True, "n": 1024, "P": 769, "us_per_iter": 4e4,
         "trials_per_iter": 1.9, "gflops": 20.0, "gemm_gflops": 80.0, "gemm_threads": 2,
         "share": 0.25},
    ]  # fmt: skip
    row = {"workload": "W2", "tool": "numpy", "us_best": 317.0, "us_median": 330.0,
           "final_mse": 1e-3, "peak_rss_mb": 50, "blas_threads": 2,
           "us_one_thread": 369.4}  # fmt: skip
    machine = {"cpu": "x", "cores": 2, "python": "3.11", "numpy": "2", "blas": "b",
               "date": "d", "load_avg_1min": 0.5}  # fmt: skip
    result = report.assemble([row], {"lm": lm}, machine, [], False, 3)
    [goal] = [g for g in result["goals"] if g["goal"].startswith("LM iteration")]
    assert goal["value"] == 0.25 and goal["met"] is False
    text = report.markdown(result)
    assert "BLAS 2 threads (369.4 on one)" in text
    assert "| 256 | yes | 769 |" in text and "| 256 | no | 769 |" in text


def test_readme_tables_put_each_tool_in_its_column_and_state_the_machine():
    import report

    rows = [
        {"workload": "W1", "tool": "numpy", "us_best": 16.0},
        {"workload": "W1", "tool": "nnfit", "us_best": 18.0},
        {"workload": "W1", "tool": "jax-scan", "us_best": 6.0},
        {"workload": "W2", "tool": "numpy", "us_best": 300.0},
        {"workload": "W2", "tool": "nnfit", "us_best": 310.0},
        {"workload": "W2", "tool": "nnfit-float32", "us_best": 155.0},
        {"workload": "W2", "tool": "torch", "us_best": 1234.0},
        {"workload": "W4", "tool": "numpy", "us_best": 16.0},  # not W4's floor
        {"workload": "W4", "tool": "numpy-batched", "us_best": 10.0},
        {"workload": "W4", "tool": "nnfit-stack", "us_best": 11.0},
        {"workload": "W4", "tool": "jax-vmap", "us_best": 4.4},
    ]
    for r in rows:  # what results.md shows besides
        r.update(us_median=r["us_best"], final_mse=0.1, peak_rss_mb=50.0)
    rows.append({"workload": "W3", "tool": "sklearn", "error": "timed out"})
    machine = {"cpu": "AMD EPYC", "cores": 2, "python": "3.11.7", "numpy": "2.4.6",
               "blas": "openblas 0.3.31 (2 threads)", "date": "2026-12-07 15:00",
               "load_avg_1min": 0.4}  # fmt: skip
    lm = [{"width": 256, "geodesic": False, "n": 1024, "P": 769, "us_per_iter": 23819.0,
           "trials_per_iter": 2.1, "gflops": 39.4, "gemm_gflops": 86.6, "gemm_threads": 2,
           "share": 0.455}]  # fmt: skip
    simd = {"found": ["X86_V4", "AVX512_ICL"]}
    extras = {"lm": lm, "activation": {"simd": simd, "tanh_f64_us": 4.7, "tanh_f32_us": 1.6},
              "startup": {"help_s": 0.17, "validate_s": 0.5}}  # fmt: skip
    result = report.assemble(rows, extras, machine, [], False, 3)
    text = report.readme(result)
    assert text.startswith(
        "One run (AMD EPYC with AVX-512, 2 cores, Python 3.11.7, NumPy 2.4.6 with openblas "
        "0.3.31, 2026-12-07 15:00, load average 0.4 at the end). µs per optimizer step, best of 3"
    )
    assert "| W1 | 16.0 | 18.0 | 1.12 |  | 6.0 |  |  |" in text
    assert "| W2 | 300.0 | 310.0 | 1.03 | 155.0 (0.50×) |  | 1,234 |  |" in text
    assert "| W4 | 10.0 | 11.0 | 1.10 |  | 4.4 |  |  |" in text  # the stacked ones
    assert "| W3 |" not in text  # nothing but a failure measured
    assert "| 256, no acceleration | 769 | 23,819 | 2.1 | 39.4 | 86.6 | 0.46 |" in text
    assert "| W4 nnfit sweep, stacked / numpy-batched | ≤ 1 | 1.10 | no |" in text
    assert "| nnfit --help | ≤ 0.3 s | 0.17 s | yes |" in text
    assert "| LM iteration at width 256 / GEMM rate | ≥ 0.5 | — | not measured |" in text
    assert report.markdown(result).endswith(text)
