"""Pictures of one run: the fit, the loss curves, the gradient norms per layer.

Matplotlib runs headless (Agg) and is imported only here, so commands that draw
nothing start fast. Figures are rendered to PNG bytes; the results module writes them.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from nnfit.engine.network import Network
from nnfit.experiment.rundir import predict


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def describe(exp) -> str:
    t = exp.target
    target = t.expr if t.expr is not None else t.name
    m = exp.model
    acts = m.activation if isinstance(m.activation, list) else [m.activation]
    names = "/".join(a if isinstance(a, str) else a.name for a in acts)
    arch = "-".join(map(str, exp.sizes()))
    return f"F = {target}   ·   {arch} {names}, {exp.training.optimizer.name}"


def fit_figure(exp, net, meta, ds):
    from nnfit.experiment.data import target_function

    d = exp.target.dim
    F = target_function(exp.target)
    if d == 1:
        x = np.linspace(0, 1, 2001)[:, None]
        f, g = F(x), predict(net, meta, x)
        fig, (ax, ax2) = plt.subplots(
            2, 1, figsize=(8, 6.5), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
        )
        ax.plot(x[:, 0], f, color="black", lw=1.5, label="target F")
        ax.plot(x[:, 0], g, color="tab:red", lw=1.2, ls="--", label="network g")
        n = len(ds.X_train)
        step = max(1, n // 400)
        ax.scatter(
            ds.X_train[::step, 0],
            ds.y_train[::step],
            s=6,
            color="tab:blue",
            alpha=0.5,
            label="training points" + (f" (1 in {step})" if step > 1 else ""),
        )
        ax.set_ylabel("value")
        ax.legend(loc="best", fontsize=8)
        err = np.abs(g - f)
        ax2.semilogy(x[:, 0], np.maximum(err, 1e-16), color="tab:purple", lw=1)
        ax2.set_xlabel("x")
        ax2.set_ylabel("|g − F|")
        ax2.set_title(f"sup error {err.max():.3g}", fontsize=9)
    elif d == 2:
        m = 120
        u = np.linspace(0, 1, m)
        xx, yy = np.meshgrid(u, u, indexing="xy")
        X = np.column_stack([xx.ravel(), yy.ravel()])
        f, g = F(X).reshape(m, m), predict(net, meta, X).reshape(m, m)
        fig, axes = plt.subplots(1, 3, figsize=(13, 4))
        lo, hi = float(min(f.min(), g.min())), float(max(f.max(), g.max()))
        for ax, z, title in ((axes[0], f, "target F"), (axes[1], g, "network g")):
            im = ax.imshow(z, origin="lower", extent=(0, 1, 0, 1), vmin=lo, vmax=hi, cmap="viridis")
            ax.set_title(title)
            fig.colorbar(im, ax=ax, shrink=0.8)
        im = axes[2].imshow(np.abs(g - f), origin="lower", extent=(0, 1, 0, 1), cmap="magma")
        axes[2].set_title(f"|g − F| (max {np.abs(g - f).max():.3g})")
        fig.colorbar(im, ax=axes[2], shrink=0.8)
        for ax in axes:
            ax.set_xlabel("x")
            ax.set_ylabel("y")
    else:
        axes_n = min(d, 4)
        fig, axes = plt.subplots(1, axes_n + 1, figsize=(3.4 * (axes_n + 1), 3.6))
        t = np.linspace(0, 1, 401)
        for i in range(axes_n):
            X = np.full((len(t), d), 0.5)
            X[:, i] = t
            axes[i].plot(t, F(X), color="black", label="F")
            axes[i].plot(t, predict(net, meta, X), color="tab:red", ls="--", label="g")
            axes[i].set_xlabel(f"x{i} (others at ½)")
        axes[0].legend(fontsize=8)
        Xt = ds.X_test[:2000]
        ft, gt = ds.F_test[:2000], predict(net, meta, Xt)
        ax = axes[-1]
        ax.scatter(ft, gt, s=3, alpha=0.4)
        lo, hi = float(ft.min()), float(ft.max())
        ax.plot([lo, hi], [lo, hi], color="black", lw=1)
        ax.set_xlabel("F (test points)")
        ax.set_ylabel("g")
        ax.set_title("predicted against true")
    fig.suptitle(describe(exp), fontsize=10)
    return fig


def loss_figure(exp, history):
    fig, ax = plt.subplots(figsize=(7, 4))
    ep = history["epoch"]
    ax.semilogy(ep, history["train_loss"], label="train cost")
    val = [v if v == v else np.nan for v in history["val_loss"]]
    if not np.all(np.isnan(val)):
        ax.semilogy(ep, val, label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{exp.training.loss.name} (scaled units)")
    ax.set_title(describe(exp), fontsize=9)
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return fig


def gradients_figure(exp, history):
    fig, ax = plt.subplots(figsize=(7, 4))
    layers = sorted(k for k in history if k.startswith("grad_norm_"))
    for k in layers:
        vals = np.maximum(np.asarray(history[k], dtype=float), 1e-300)
        ax.semilogy(history["epoch"], vals, label=f"layer {k.rsplit('_', 1)[1]}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("‖∂C/∂(W, b)‖ per layer")
    ax.set_title("gradient norms (layer 0 is nearest the input)\n" + describe(exp), fontsize=9)
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3, which="both")
    return fig


def render(exp, record, ds) -> tuple[dict[str, bytes], list[str]]:
    """fit.png, loss.png and gradients.png as PNG bytes, and warnings for any that failed.

    Rendering happens where the run happened (a worker may have no shared disk); the
    driver only writes the bytes.
    """
    figures: dict[str, bytes] = {}
    warnings: list[str] = []
    if not record.model:
        return figures, warnings
    meta = record.model["meta"]
    n = len(meta["sizes"]) - 1
    net = Network.from_arrays(
        meta, [(record.model[f"W{l}"], record.model[f"b{l}"]) for l in range(n)]
    )
    for name, make in (
        ("fit.png", lambda: fit_figure(exp, net, meta, ds)),
        ("loss.png", lambda: loss_figure(exp, record.history)),
        ("gradients.png", lambda: gradients_figure(exp, record.history)),
    ):
        try:
            figures[name] = png(make())
        except Exception as exc:  # a failing plot is a warning; the metrics survive
            plt.close("all")
            warnings.append(f"{name} not written: {type(exc).__name__}: {exc}")
    return figures, warnings
