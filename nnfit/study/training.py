"""Section 7: training itself — vanishing gradients in a deep sigmoid network, optimizers
on one problem, L1 against L2 on noisy data.
"""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import numpy as np

from nnfit.experiment.canvas import finish, new_figure
from nnfit.experiment.rundir import read_metrics
from nnfit.study.report import Context, Part, table
from nnfit.study.view import Sweep, fmt, med, ok_runs, spread
from nnfit.sweep.labels import value_text

FILES = ("7-vanishing", "7-optimizers", "7-regularization")
EARLY = 10  # epochs over which the gradient norms are averaged


def layer_norms(run_dir: Path, epochs: int = EARLY) -> list[float] | None:
    """Mean gradient norm per layer (input layer first) over the first epochs."""
    p = run_dir / "history.csv"
    if not p.is_file():
        return None
    with p.open() as fh:
        rows = list(csv.DictReader(fh))[1 : epochs + 1]  # epoch 0 is the initial network
    cols = sorted((k for k in rows[0] if k.startswith("grad_norm_")), key=lambda k: int(k[10:]))
    return [statistics.fmean(float(r[c]) for r in rows) for c in cols] if rows else None


def _vanishing(s: Sweep) -> list[tuple[str, list[float], float]]:
    """(activation, per-layer norms of the median seed, first/last ratio median of seeds)."""
    out = []
    for g in s.groups:
        act = g["point"].get("model.activation", s.config("model.activation"))
        norms = [layer_norms(s.folder / r["run"]) for r in ok_runs(g)]
        norms = [n for n in norms if n]
        if not norms:
            continue
        ratios = [n[0] / n[-1] for n in norms if n[-1] > 0]
        mid = sorted(norms, key=lambda n: n[0] / n[-1] if n[-1] > 0 else math.inf)[len(norms) // 2]
        out.append(
            (act if isinstance(act, str) else value_text(act), mid, statistics.median(ratios))
        )
    return out


def _opt_rows(s: Sweep) -> list[tuple[str, dict, float]]:
    rows = []
    for g in s.groups:
        opt = g["point"].get("training.optimizer", s.config("training.optimizer"))
        walls = [(read_metrics(s.folder / r["run"]) or {}).get("wall_s") for r in ok_runs(g)]
        walls = [w for w in walls if w is not None]
        rows.append((value_text(opt), g, statistics.median(walls) if walls else math.nan))
    return sorted(rows, key=lambda t: med(t[1]) if math.isfinite(med(t[1])) else math.inf)


def _reg(s: Sweep):
    l1s = sorted({g["point"].get("training.l1", 0.0) for g in s.groups})
    l2s = sorted({g["point"].get("training.l2", 0.0) for g in s.groups})
    cell = {
        (g["point"].get("training.l1", 0.0), g["point"].get("training.l2", 0.0)): g
        for g in s.groups
    }
    return l1s, l2s, cell


def figure_training(ctx: Context, van: Sweep, opt: Sweep, reg: Sweep) -> str:
    fig = new_figure(15.0, 5.4)
    ax_v, ax_o, ax_r = fig.subplots(1, 3, width_ratios=[1, 1.15, 1])
    for act, norms, _ in _vanishing(van):
        ax_v.plot(range(1, len(norms) + 1), norms, marker="o", ms=3.5, label=act)
    ax_v.set_yscale("log")
    ax_v.set_xlabel("layer (1 = next to the input)", fontsize=9)
    ax_v.set_ylabel(f"gradient norm, mean of epochs 1–{EARLY}", fontsize=9)
    ax_v.set_title(
        f"{len(van.config('model.hidden'))} hidden layers of "
        f"{van.config('model.hidden')[0]}: gradient per layer",
        fontsize=9,
    )
    ax_v.grid(alpha=0.3)
    ax_v.legend(fontsize=8, loc="best", framealpha=0.9)
    rows = _opt_rows(opt)
    y = np.arange(len(rows))[::-1]
    for yi, (_, g, _) in zip(y, rows, strict=True):
        lo, hi = spread(g)
        ax_o.hlines(yi, lo, hi, color="tab:blue", lw=3, alpha=0.35)
        ax_o.plot(med(g), yi, "o", color="tab:blue")
    ax_o.set_yticks(y, [f"{name}\n({fmt(w)} s)" for name, _, w in rows], fontsize=8)
    ax_o.set_xscale("log")
    ax_o.grid(alpha=0.3, axis="x")
    ax_o.set_xlabel("test RMS error (dot: median; bar: best to worst seed)", fontsize=9)
    ax_o.set_title(
        f"optimizers, {opt.config('training.epochs'):,} epochs (seconds a run)", fontsize=9
    )
    l1s, l2s, cell = _reg(reg)
    grid = np.array([[med(cell[(a, b)]) if (a, b) in cell else np.nan for b in l2s] for a in l1s])
    im = ax_r.imshow(np.log10(grid), cmap="viridis_r", origin="lower", aspect="auto")
    for i in range(len(l1s)):
        for j in range(len(l2s)):
            ax_r.text(
                j,
                i,
                fmt(grid[i, j]),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if np.log10(grid[i, j]) > np.nanmean(np.log10(grid)) else "black",
            )
    ax_r.set_xticks(range(len(l2s)), [f"{v:g}" for v in l2s], fontsize=8)
    ax_r.set_yticks(range(len(l1s)), [f"{v:g}" for v in l1s], fontsize=8)
    ax_r.set_xlabel("L2 penalty λ₂", fontsize=9)
    ax_r.set_ylabel("L1 penalty λ₁", fontsize=9)
    ax_r.set_title("noisy data: test RMS error (median of seeds)", fontsize=9)
    fig.colorbar(im, ax=ax_r, label="log10 test RMS error", shrink=0.9)
    fig.suptitle("Training: vanishing gradients, optimizers, L1 and L2", fontsize=11)
    finish(fig)
    return ctx.figure("7-training", fig, "gradient norms per layer, optimizers, penalties")


def section_7(ctx: Context) -> Part:
    van, opt, reg = (ctx.sweeps[f] for f in FILES)
    blocks = [figure_training(ctx, van, opt, reg), ""]
    v = _vanishing(van)
    sig = next((r for r in v if r[0] == "sigmoid"), None)
    others = ", ".join(f"{a} {fmt(r)}" for a, _, r in v if a != "sigmoid")
    n_layers = len(van.config("model.hidden"))
    blocks.append(
        "**Vanishing gradients.** Theory: σ'(z) ≤ ¼ for the logistic sigmoid, so each layer "
        "can shrink the backpropagated gradient by 4 or more; ReLU (slope 1) and tanh "
        "(slope ≤ 1, 1 at 0) shrink it far less (Glorot & Bengio 2010). Measured over "
        f"epochs 1–{EARLY}, {n_layers} hidden layers: the gradient reaching the first layer is "
        + (
            f"{fmt(sig[2])} times the output layer's with sigmoids, against {others}."
            if sig
            else "—."
        )
        + "\n"
    )
    blocks.append(
        table(
            ["activation", "‖∇ first layer‖ / ‖∇ last layer‖", "test RMS error"],
            [
                [
                    a,
                    r,
                    med(
                        next(
                            g
                            for g in van.groups
                            if value_text(
                                g["point"].get("model.activation", van.config("model.activation"))
                            )
                            == a
                        )
                    ),
                ]
                for a, _, r in v
            ],
        )
        + "\n"
    )
    rows = _opt_rows(opt)
    if rows:
        first, last = rows[0], rows[-1]
        blocks.append(
            f"**Optimizers.** Same network, data, initial weights and "
            f"{opt.config('training.epochs'):,} epochs (an epoch is one pass for first-order "
            "methods, one iteration for lbfgs and lm): "
            f"**{first[0]}** reaches a test RMS error of {fmt(med(first[1]))}, **{last[0]}** "
            f"{fmt(med(last[1]))}. Theory: on a small least-squares problem a Gauss–Newton "
            "step (lm) uses the curvature that first-order methods only creep along.\n"
        )
    blocks.append(
        table(
            ["optimizer", "test RMS (median)", "best seed", "worst seed", "sup error", "seconds"],
            [[n, med(g), *spread(g), med(g, "test_max_abs"), w] for n, g, w in rows],
        )
        + "\n"
    )
    cell = _reg(reg)[2]
    none = cell.get((0.0, 0.0))
    line = [g for (a, b), g in cell.items() if (a == 0) != (b == 0)]
    b1 = min((g for (a, b), g in cell.items() if a > 0 and b == 0), key=med, default=None)
    b2 = min((g for (a, b), g in cell.items() if b > 0 and a == 0), key=med, default=None)
    sparse = max(
        (g for (a, b), g in cell.items() if a > 0 and b == 0),
        key=lambda g: med(g, "weights_frac_small"),
        default=None,
    )
    twin = cell.get((0.0, sparse["point"]["training.l1"])) if sparse else None
    if none and b1 and b2 and sparse:
        blocks.append(
            f"**L1 and L2.** {reg.config('data.n_train')} noisy points (σ = "
            f"{reg.config('data.noise')}), {reg.config('model.hidden')[0]} units: without a "
            f"penalty the test RMS error is {fmt(med(none))}; the best L1 (λ₁ = "
            f"{b1['point']['training.l1']:g}) gives {fmt(med(b1))}, the best L2 (λ₂ = "
            f"{b2['point']['training.l2']:g}) {fmt(med(b2))}. L1 at λ₁ = "
            f"{sparse['point']['training.l1']:g} leaves "
            f"{fmt(100 * med(sparse, 'weights_frac_small'))}% of the weights below 10⁻³ of "
            f"the largest, against {fmt(100 * med(none, 'weights_frac_small'))}% without a "
            "penalty"
            + (
                f" and {fmt(100 * med(twin, 'weights_frac_small'))}% with L2 at the same λ"
                if twin
                else ""
            )
            + ". Theory: both penalties pull the fit away from the noise (the test error "
            "falls); the L1 penalty's constant pull sets small weights exactly to zero, "
            "L2's proportional pull only shrinks them.\n"
        )
    line.sort(
        key=lambda g: (
            g["point"].get("training.l1", 0) > 0,
            g["point"].get("training.l1", 0),
            g["point"].get("training.l2", 0),
        )
    )
    blocks.append(
        table(
            [
                "λ₁",
                "λ₂",
                "test RMS",
                "train MSE (against F)",
                "weights < 10⁻³·max",
                "sum of abs. weights",
            ],
            [
                [
                    f"{g['point'].get('training.l1', 0):g}",
                    f"{g['point'].get('training.l2', 0):g}",
                    med(g),
                    med(g, "train_mse"),
                    med(g, "weights_frac_small"),
                    med(g, "weights_l1"),
                ]
                for g in ([none] if none else []) + line
            ],
        )
        + "\n"
    )
    head = (f"sigmoid first/last-layer gradient {fmt(sig[2])} ({others}); " if sig else "") + (
        f"{rows[0][0]} best at {fmt(med(rows[0][1]))}, {rows[-1][0]} worst at "
        f"{fmt(med(rows[-1][1]))}"
        if rows
        else ""
    )
    if none and b1 and b2:
        head += f"; noisy data: no penalty {fmt(med(none))}, L1 {fmt(med(b1))}, L2 {fmt(med(b2))}"
    return Part(blocks, head + ".")
