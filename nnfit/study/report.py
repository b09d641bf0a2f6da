"""``make reproduce``: run every sweep in experiments/reproduce/ and write REPORT.md.

Each section of the report shows one figure, says in a sentence what it shows, and gives
the numbers behind it (read back from the sweeps' summary.json and runs' files, never
typed in). Finished points are kept, so an interrupted study resumes where it stopped.

    python -m nnfit.study [--experiments DIR] [--out DIR] [--jobs N]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from pathlib import Path

from nnfit.experiment.rundir import atomic_write, read_metrics
from nnfit.sweep import grid as sweep
from nnfit.sweep.rates import describe


def f3(v) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3g}"


def mean(row, metric):
    return row[metric]["mean"]


def rows_where(summary, **match):
    return [r for r in summary["groups"] if all(r["point"].get(k) == v for k, v in match.items())]


def figure(folder: Path, root: Path) -> str:
    for name in ("error_vs_width.png", "errors.png"):
        if (folder / name).exists():
            return f"![{folder.parent.name}]({(folder / name).relative_to(root)})"
    return "(no figure: no run finished)"


def table(rows, columns) -> str:
    head = "| " + " | ".join(c for c, _ in columns) + " |"
    sep = "| " + " | ".join("---" for _ in columns) + " |"
    body = ["| " + " | ".join(fn(r) for _, fn in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def width_columns():
    return [
        ("width", lambda r: str(r["width"])),
        ("params", lambda r: str(r["n_params"])),
        (
            "test RMSE (mean ± std)",
            lambda r: f"{f3(mean(r, 'test_rmse'))} ± {f3(r['test_rmse']['std'])}",
        ),
        ("sup error", lambda r: f3(mean(r, "test_max_abs"))),
        ("train MSE", lambda r: f3(mean(r, "train_mse"))),
        ("seeds ok", lambda r: f"{r['n_ok']}/{r['n_ok'] + r['n_failed']}"),
    ]


def slope_line(summary, series: str) -> str:
    for f in summary.get("slopes", []):
        if f["series"] == series:
            return describe(f)
    return "no slope"


def best(rows, metric="test_rmse"):
    ok = [r for r in rows if mean(r, metric) is not None]
    return min(ok, key=lambda r: mean(r, metric)) if ok else None


# ------------------------------------------------------------------------ sections


def s_cybenko(
    s,
    folder,
    root,
    title="## 1. One hidden layer of sigmoids (Cybenko 1989)",
    label="Levenberg–Marquardt",
):
    out = [f"{title}\n\n{figure(folder, root)}\n"]
    for target in ("sine", "runge"):
        rows = sorted(rows_where(s, **{"target.name": target}), key=lambda r: r["width"])
        if not rows:
            continue
        b = best(rows)
        series = sweep.series_key(rows[0], s["grid"])
        wide = rows[-1]
        gap = (mean(wide, "train_mse") or math.nan) / (mean(wide, "test_rmse") or 1) ** 2
        out.append(
            f"**{target}, {label}.** The test RMS error falls from "
            f"{f3(mean(rows[0], 'test_rmse'))} at width {rows[0]['width']} to "
            f"{f3(mean(b, 'test_rmse'))} at width {b['width']}; {slope_line(s, series)}. "
            f"At width {wide['width']} train MSE / test MSE = {f3(gap)}: "
            + (
                "train and test agree, so where the curve flattens it is the optimizer "
                "that stops, not the theorem."
                if gap > 0.5
                else "the training error is far below the test error: too few points."
            )
            + "\n"
        )
        out.append(table(rows, width_columns()) + "\n")
    out.append(
        "Reference slopes: −½ (Barron's rate for the RMS error) and −2 (best "
        "piecewise-linear fit of a smooth 1-D function). The theorem promises that "
        "some width reaches any ε; the table shows how far training gets.\n"
    )
    return out


def s_cybenko_adam(s, folder, root):
    return s_cybenko(s, folder, root, "### 1b. The same networks trained by Adam", "Adam")


def s_activations(s, folder, root):
    acts = s["grid"]["model.activation"]
    widths = sorted({r["width"] for r in s["groups"]})
    out = [
        f"## 2. Activations (Hornik 1991; Leshno, Lin, Pinkus, Schocken 1993)\n\n"
        f"{figure(folder, root)}\n"
    ]
    rows = []
    for a in acts:
        by_w = {r["width"]: r for r in rows_where(s, **{"model.activation": a})}
        rows.append((a, by_w))
    wmax = widths[-1]
    good = [
        (a, mean(bw[wmax], "test_rmse"))
        for a, bw in rows
        if a not in ("identity", "square") and wmax in bw and mean(bw[wmax], "test_rmse")
    ]
    lin = {
        a: mean(bw[wmax], "test_rmse")
        for a, bw in rows
        if a in ("identity", "square") and wmax in bw
    }
    if good and lin:
        worst_good = max(good, key=lambda t: t[1])
        out.append(
            f"At width {wmax} every non-polynomial activation reaches a test RMS error of at "
            f"most {f3(worst_good[1])} ({worst_good[0]} is the worst of them), while the "
            f"linear model stays at {f3(lin.get('identity'))} and x² at "
            f"{f3(lin.get('square'))}: a one-hidden-layer network of a polynomial activation "
            "is itself a polynomial of that degree, whatever its width.\n"
        )
    head = [("activation", lambda t: t[0])] + [
        (f"width {w}", lambda t, w=w: f3(mean(t[1][w], "test_rmse")) if w in t[1] else "—")
        for w in widths
    ]
    out.append("Test RMS error (mean over seeds):\n\n" + table(rows, head) + "\n")
    return out


def s_step(s, folder, root):
    rows = sorted(s["groups"], key=lambda r: r["width"])
    sups = [mean(r, "test_max_abs") for r in rows if mean(r, "test_max_abs") is not None]
    out = [f"## 3. A discontinuous target: a square wave\n\n{figure(folder, root)}\n"]
    if rows and sups:
        out.append(
            f"The L2 (RMS) error falls from {f3(mean(rows[0], 'test_rmse'))} to "
            f"{f3(mean(best(rows), 'test_rmse'))} ({slope_line(s, 'all')}), but the sup "
            f"error stays between {f3(min(sups))} and {f3(max(sups))}: beside a jump of height "
            "1 a continuous g is at least ½ from F on one side, so the sup error cannot fall "
            "below ½ at any width (Cybenko's theorem needs a continuous F).\n"
        )
    out.append(table(rows, width_columns()) + "\n")
    return out


def s_dimension(s, folder, root):
    dims = s["grid"]["target.dim"]
    widths = sorted({r["width"] for r in s["groups"]})
    out = [
        f"## 4. Dimension: one budget, d = {', '.join(map(str, dims))}\n\n{figure(folder, root)}\n"
    ]
    rows = [(d, {r["width"]: r for r in rows_where(s, **{"target.dim": d})}) for d in dims]
    w = widths[-1]
    vals = [(d, mean(bw[w], "test_rel_l2")) for d, bw in rows if w in bw]
    if vals:
        out.append(
            f"With 2,048 points and width {w}, the relative L2 error is "
            + ", ".join(f"{f3(v)} in {d}-D" for d, v in vals)
            + ": the same budget covers [0,1]^d ever more thinly as d grows (Mhaskar's "
            "n^(−s/d)), while Barron's bound, for functions smooth enough in Fourier terms, "
            "does not depend on d.\n"
        )
    head = (
        [("d", lambda t: str(t[0]))]
        + [
            (
                f"width {w} rel. L2",
                lambda t, w=w: f3(mean(t[1][w], "test_rel_l2")) if w in t[1] else "—",
            )
            for w in widths
        ]
        + [
            (
                f"width {widths[-1]} train MSE",
                lambda t: f3(mean(t[1][widths[-1]], "train_mse")) if widths[-1] in t[1] else "—",
            )
        ]
    )
    out.append(table(rows, head) + "\n")
    return out


def s_franke(s, folder, root):
    rows = sorted(s["groups"], key=lambda r: r["width"])
    b = best(rows)
    out = [f"### 4b. Franke's function in 2-D\n\n{figure(folder, root)}\n"]
    if b:
        out.append(
            f"The test RMS error falls from {f3(mean(rows[0], 'test_rmse'))} at width 1 "
            f"to {f3(mean(b, 'test_rmse'))} at width {b['width']}; "
            f"{slope_line(s, 'all')}.\n"
        )
    out.append(table(rows, width_columns()) + "\n")
    return out


def s_depth(s, folder, root):
    rows = sorted(s["groups"], key=lambda r: r["depth"])
    b = best(rows)
    out = [f"## 5. Depth against width at equal parameter count\n\n{figure(folder, root)}\n"]
    if b:
        out.append(
            f"About 300 parameters each; the lowest test error, "
            f"{f3(mean(b, 'test_rmse'))}, comes from hidden layers {b['hidden']} "
            f"({b['n_params']} parameters).\n"
        )
    out.append(
        table(
            rows,
            [
                ("hidden", lambda r: str(r["hidden"])),
                ("params", lambda r: str(r["n_params"])),
                (
                    "test RMSE (mean ± std)",
                    lambda r: f"{f3(mean(r, 'test_rmse'))} ± {f3(r['test_rmse']['std'])}",
                ),
                ("sup error", lambda r: f3(mean(r, "test_max_abs"))),
                ("train MSE", lambda r: f3(mean(r, "train_mse"))),
            ],
        )
        + "\n"
    )
    return out


def _grad_ratio(run_dir: Path, epochs: int = 10) -> float | None:
    """Mean over the first epochs of ‖∂C/∂layer 0‖ / ‖∂C/∂last layer‖."""
    p = run_dir / "history.csv"
    if not p.exists():
        return None
    with p.open() as fh:
        rows = list(csv.DictReader(fh))[: epochs + 1]
    layers = sorted(
        (k for k in rows[0] if k.startswith("grad_norm_")), key=lambda k: int(k.rsplit("_", 1)[1])
    )
    ratios = [float(r[layers[0]]) / float(r[layers[-1]]) for r in rows if float(r[layers[-1]]) > 0]
    return sum(ratios) / len(ratios) if ratios else None


def s_vanishing(s, folder, root):
    out = ["### 5b. Vanishing gradients in a deep network\n"]
    rows = []
    for g in s["groups"]:
        act = g["point"].get("model.activation")
        runs = sorted((r for r in g["runs"] if r["status"] == "ok"), key=lambda r: r["seed"])
        ratios = [_grad_ratio(folder / r["run"]) for r in runs]
        ratios = [x for x in ratios if x is not None]
        rows.append(
            (
                act,
                sum(ratios) / len(ratios) if ratios else None,
                g,
                runs[0]["run"] if runs else None,
            )
        )
    for act, _, _, run in rows:
        if run and (folder / run / "gradients.png").exists():
            rel = (folder / run / "gradients.png").relative_to(root)
            out.append(f"![{act}]({rel})\n")
    sig = next((r for r in rows if r[0] == "sigmoid"), None)
    if sig and sig[1] is not None:
        others = ", ".join(f"{a} {f3(x)}" for a, x, _, _ in rows if a != "sigmoid")
        out.append(
            f"Eight hidden layers of 16: over the first ten epochs the gradient reaching the "
            f"first layer is {f3(sig[1])} times the last layer's with sigmoids (σ' ≤ ¼ at "
            f"every layer), against {others}.\n"
        )
    out.append(
        table(
            rows,
            [
                ("activation", lambda t: t[0]),
                ("‖∇ layer 0‖ / ‖∇ last layer‖ (first 10 epochs)", lambda t: f3(t[1])),
                ("test RMSE after 300 epochs", lambda t: f3(mean(t[2], "test_rmse"))),
            ],
        )
        + "\n"
    )
    return out


def s_optimizers(s, folder, root):
    out = [f"## 6. Optimizers on one problem\n\n{figure(folder, root)}\n"]
    rows = []
    for g in s["groups"]:
        opt = g["point"]["training.optimizer"]
        walls = [(read_metrics(folder / r["run"]) or {}).get("wall_s") for r in g["runs"]]
        walls = [w for w in walls if w is not None]
        rows.append((opt, g, sum(walls) / len(walls) if walls else None))
    rows.sort(key=lambda t: mean(t[1], "test_rmse") or math.inf)
    if rows:
        first, last = rows[0], rows[-1]
        out.append(
            f"Same network, data and 1,000 epochs: {first[0]['name']} reaches a test RMS "
            f"error of {f3(mean(first[1], 'test_rmse'))}, {last[0]['name']} "
            f"{f3(mean(last[1], 'test_rmse'))}.\n"
        )
    out.append(
        table(
            rows,
            [
                ("optimizer", lambda t: ", ".join(f"{k} {v}" for k, v in t[0].items())),
                (
                    "test RMSE (mean ± std)",
                    lambda t: f"{f3(mean(t[1], 'test_rmse'))} ± {f3(t[1]['test_rmse']['std'])}",
                ),
                ("sup error", lambda t: f3(mean(t[1], "test_max_abs"))),
                ("train MSE", lambda t: f3(mean(t[1], "train_mse"))),
                ("seconds", lambda t: f3(t[2])),
            ],
        )
        + "\n"
    )
    return out


def s_regularization(s, folder, root):
    out = [f"## 7. L1 against L2 on noisy data\n\n{figure(folder, root)}\n"]
    rows = [
        r for r in s["groups"] if r["point"]["training.l1"] == 0 or r["point"]["training.l2"] == 0
    ]
    rows.sort(
        key=lambda r: (
            r["point"]["training.l1"] > 0,
            r["point"]["training.l1"],
            r["point"]["training.l2"],
        )
    )
    none = next(
        (r for r in rows if r["point"]["training.l1"] == 0 and r["point"]["training.l2"] == 0), None
    )
    l1s = [r for r in rows if r["point"]["training.l1"] > 0]
    l2s = [r for r in rows if r["point"]["training.l2"] > 0]
    if none and l1s and l2s:
        b1, b2 = best(l1s), best(l2s)
        sp1 = max(l1s, key=lambda r: mean(r, "weights_frac_small") or 0)
        out.append(
            f"Without a penalty: test RMS error {f3(mean(none, 'test_rmse'))}. "
            f"The best L1 (λ = {b1['point']['training.l1']}) "
            f"gives {f3(mean(b1, 'test_rmse'))}, the best L2 (λ = "
            f"{b2['point']['training.l2']}) {f3(mean(b2, 'test_rmse'))}. L1 at λ = "
            f"{sp1['point']['training.l1']} leaves "
            f"{f3(100 * (mean(sp1, 'weights_frac_small') or 0))}% of the weights below 10⁻³ "
            f"of the largest, against {f3(100 * (mean(none, 'weights_frac_small') or 0))}% "
            "without a penalty: L1 prunes, L2 only shrinks.\n"
        )
    out.append(
        table(
            rows,
            [
                ("l1", lambda r: str(r["point"]["training.l1"])),
                ("l2", lambda r: str(r["point"]["training.l2"])),
                ("test RMSE", lambda r: f3(mean(r, "test_rmse"))),
                ("train MSE (against F)", lambda r: f3(mean(r, "train_mse"))),
                ("weights below 10⁻³·max", lambda r: f3(mean(r, "weights_frac_small"))),
                ("sum of abs. weights", lambda r: f3(mean(r, "weights_l1"))),
            ],
        )
        + "\n"
    )
    return out


SECTIONS = {
    "1-cybenko": s_cybenko,
    "1b-cybenko-adam": s_cybenko_adam,
    "2-activations": s_activations,
    "3-step": s_step,
    "4-dimension": s_dimension,
    "4b-franke": s_franke,
    "5-depth": s_depth,
    "5b-vanishing": s_vanishing,
    "6-optimizers": s_optimizers,
    "7-regularization": s_regularization,
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Run the reproduce study and write REPORT.md.")
    ap.add_argument("--experiments", type=Path, default=Path("experiments/reproduce"))
    ap.add_argument("--out", type=Path, default=Path("results/reproduce"))
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    parts = [
        "# Reproduce: the universal approximation theorem, by experiment\n",
        "Written by `make reproduce`; every number below is read from the runs in this "
        "folder. Three seeds per point; bands and ± are over seeds.\n",
    ]
    failed = 0
    for f in sorted(args.experiments.glob("*.yaml")):
        folder, grid, points = sweep.expand(f, out_root=args.out)
        print(f"{f.stem}: {len(points)} runs → {folder}", flush=True)
        res = sweep.run(folder, grid, points, jobs=args.jobs, resume=True)
        failed += res.n_failed
        section = SECTIONS.get(points[0].exp.name)
        if section is not None:
            parts += section(res.summary, folder, args.out)
        if res.interrupted:
            return 130
    minutes = (time.perf_counter() - t0) / 60
    parts.append(
        f"---\nWall time of this study: {minutes:.1f} min with {args.jobs} jobs; "
        f"{failed} runs failed.\n"
    )
    atomic_write(args.out / "REPORT.md", "\n".join(parts).encode())
    print(f"report: {args.out / 'REPORT.md'} ({minutes:.1f} min)")
    (args.out / "study.json").write_text(json.dumps({"minutes": minutes, "failed": failed}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
