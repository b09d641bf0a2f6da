"""Pictures of one run: the fit, the loss curves, the gradient norms per layer.

Each ``*_figure`` function returns a :class:`matplotlib.figure.Figure` on its own Agg
canvas; pyplot's global state and the session's backend are never touched, so a
notebook calling them keeps its own. :func:`render` turns them into PNG bytes.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from nnfit.engine.network import Network
from nnfit.engine.optimizers import OPTIMIZERS, OUTPUT_BOUND, SOLVE_L2
from nnfit.experiment.canvas import (
    CHARS_PER_INCH,
    clip_line,
    finish,
    legend_below,
    new_figure,
    png,
    zero_floor,
)
from nnfit.experiment.messages import kept_epoch, kept_weights
from nnfit.experiment.rundir import predict

# ------------------------------------------------------------------------- titles


def target_text(exp) -> str:
    """'F(x) = sin(2·π·x)': the formula of a built-in target, or the file's expression."""
    from nnfit.experiment.targets import TARGETS

    t = exp.target
    args = {1: "x", 2: "x, y"}.get(t.dim, "x")
    if t.expr is not None:
        return f"F({args}) = {t.expr}"
    formula = TARGETS[t.name].formula.replace("any d", f"d = {t.dim}")
    return f"F({args}) = {formula}"


def network_text(exp) -> str:
    """'network 1-64-1, tanh · adam': architecture, activations and optimizer."""
    m = exp.model
    acts = m.activation if isinstance(m.activation, list) else [m.activation]
    names = "/".join(dict.fromkeys(a if isinstance(a, str) else a.name for a in acts))
    arch = "-".join(map(str, exp.sizes()))
    t = exp.training
    penalty = f", {p}" if (p := _penalty(exp)) else ""
    if t.output_layer != "lstsq":
        return f"network {arch}, {names} · {t.optimizer.name}{penalty}"
    if t.epochs == 0:  # no optimizer ran
        return f"network {arch}, {names} · hidden layers as drawn, output by least squares"
    if OPTIMIZERS[t.optimizer.name].varpro:
        how = "output solved at every step (variable projection)"
    elif t.output_every:
        how = f"output solved every {t.output_every:,} epochs and at the end"
    else:
        how = "output solved at the start and the end"
    return f"network {arch}, {names} · {t.optimizer.name}{penalty}, {how}"


def describe(exp, width_in: float = 8.0) -> str:
    """The title: the target's formula (on two lines where one does not hold it), then
    the network and optimizer."""
    return f"{wrap_formula(target_text(exp), width_in)}\n{network_text(exp)}"


def wrap_formula(text: str, width_in: float) -> str:
    """A formula in at most two lines of the figure's width, broken before a + or −
    outside any bracket; what still does not fit is cut with '…' (Franke's function was
    cut after a third of it)."""
    n = int(width_in * CHARS_PER_INCH)
    if len(text) <= n:
        return text
    depth, breaks = 0, []
    for i, c in enumerate(text):
        depth += c in "([{"
        depth -= c in ")]}"
        if depth == 0 and text[i : i + 3] in (" + ", " − ", " - ") and 0 < i <= n:
            breaks.append(i)
    if not breaks:
        return clip_line(text, width_in)
    cut = breaks[-1]
    return f"{text[:cut]}\n{clip_line('   ' + text[cut + 1 :], width_in)}"


# ---------------------------------------------------------------------------- fit


def _network(record) -> tuple[Network, dict]:
    meta = record.model["meta"]
    n = len(meta["sizes"]) - 1
    layers = [(record.model[f"W{l}"], record.model[f"b{l}"]) for l in range(n)]
    return Network.from_arrays(meta, layers), meta


def fit_figure(exp, record, ds) -> Figure:
    """F against the network g: a curve (d = 1), heat maps (d = 2), slices (d > 2)."""
    from nnfit.experiment.data import target_function

    net, meta = _network(record)
    F = target_function(exp.target)
    d = exp.target.dim
    g_test = predict(net, meta, ds.X_test)
    rmse = float(np.sqrt(np.mean((g_test - ds.F_test) ** 2)))
    sup = float(np.max(np.abs(g_test - ds.F_test)))
    score = f"test RMSE {rmse:.3e}, sup error {sup:.3e}"  # as the run table prints them
    if getattr(record, "status", "ok") == "diverged":  # g is not what training ended on
        best = getattr(record, "best_epoch", None)
        kept = kept_weights(best, exp.training.output_layer == "lstsq")
        score += f"\ndiverged: g is {kept}"
    if d == 1:
        fig = _fit_1d(exp, F, net, meta, ds, score)
    elif d == 2:
        fig = _fit_2d(F, net, meta, score)
    else:
        fig = _fit_slices(F, net, meta, ds, d, g_test, score)
    fig.suptitle(describe(exp, fig.get_figwidth()), fontsize=9)
    finish(fig)
    return fig


def _fit_1d(exp, F, net, meta, ds, score) -> Figure:
    fig = new_figure(8.5, 6.2)
    ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    x = np.linspace(0, 1, 2001)[:, None]
    f, g = F(x), predict(net, meta, x)
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
        zorder=3,  # over the curves: under them, most of the points were hidden
        label="training points"
        + (f", F + noise of σ {noise:g}" if (noise := exp.data.noise) else "")
        + (f" (1 in {step})" if step > 1 else ""),
    )
    ax.set_ylabel("F(x) and g(x)")
    ax.set_title(score, fontsize=9)
    err = np.abs(g - f)
    floor = zero_floor(err)
    ax2.semilogy(x[:, 0], np.maximum(err, floor), color="tab:purple", lw=1, label="|g − F|")
    ax2.set_xlabel("x")
    ax2.set_ylabel("|g(x) − F(x)|")
    handles, labels = ax.get_legend_handles_labels()
    legend_below(fig, [*handles, ax2.lines[0]], [*labels, "error |g − F| (lower panel)"], 4)
    return fig


def _fit_2d(F, net, meta, score) -> Figure:
    fig = new_figure(13, 4.6)
    axes = fig.subplots(1, 3)
    m = 120
    u = np.linspace(0, 1, m)
    xx, yy = np.meshgrid(u, u, indexing="xy")
    X = np.column_stack([xx.ravel(), yy.ravel()])
    f, g = F(X).reshape(m, m), predict(net, meta, X).reshape(m, m)
    lo, hi = float(min(f.min(), g.min())), float(max(f.max(), g.max()))
    err = np.abs(g - f)
    top = float(err.max()) if np.isfinite(err).all() else math.nan
    # four decades of |g − F| in log colours: in linear ones a peak at one corner left
    # the rest black
    spread = LogNorm(top * 1e-4, top) if top > 0 else Normalize(None, None)
    # the drawn grid reaches the edges of the square, which the test points do not
    where = f"{score}\n|g − F| up to the edges: max {top:.3e}"
    panels = (
        (f, "target F", "F(x, y)", "viridis", Normalize(lo, hi)),
        (g, "network g", "g(x, y)", "viridis", Normalize(lo, hi)),
        (np.maximum(err, top * 1e-4) if top > 0 else err, where, "|g − F|", "magma", spread),
    )
    for ax, (z, title, unit, cmap, norm) in zip(axes, panels, strict=True):
        im = ax.imshow(z, origin="lower", extent=(0, 1, 0, 1), norm=norm, cmap=cmap)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        fig.colorbar(im, ax=ax, shrink=0.85).set_label(unit)
    return fig


def _fit_slices(F, net, meta, ds, d, g_test, score) -> Figure:
    """One panel per coordinate (the others at ½), then g against F on test points."""
    n = d + 1
    ncols = n if n <= 4 else (3 if n <= 9 else 4)
    nrows = math.ceil(n / ncols)
    fig = new_figure(3.3 * ncols, 2.7 * nrows + 1.0)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    t = np.linspace(0, 1, 401)
    for i in range(d):
        X = np.full((len(t), d), 0.5)
        X[:, i] = t
        ax = axes[i]
        ax.plot(t, F(X), color="black", lw=1.5, label="target F")
        ax.plot(t, predict(net, meta, X), color="tab:red", ls="--", label="network g")
        ax.set_xlabel(f"x{i}  (the others at ½)")
        ax.set_ylabel("F and g")
        if i:
            ax.sharey(axes[0])
    ax = axes[d]
    keep = slice(0, 2000)
    ft, gt = ds.F_test[keep], g_test[keep]
    ax.scatter(ft, gt, s=3, alpha=0.35, color="tab:blue", label="test points")
    lo, hi = float(ft.min()), float(ft.max())
    ax.plot([lo, hi], [lo, hi], color="black", lw=1, label="g = F")
    shown = f"{len(ft):,} of the {len(ds.F_test):,}" if len(ft) < len(ds.F_test) else f"{len(ft):,}"
    ax.set_xlabel(f"F at {shown} test points")
    ax.set_ylabel("network g")
    ax.set_title(score, fontsize=8)
    for extra in axes[n:]:
        extra.remove()
    handles = [*axes[0].lines[:2], ax.collections[0], ax.lines[0]]
    labels = [
        "target F",
        "network g",
        "test points (g against F)",
        "g = F (a perfect fit)",
    ]
    legend_below(fig, handles, labels, 4)
    return fig


# --------------------------------------------------------------------------- loss


def loss_units(exp, record) -> str:
    """The loss axis's label: the history is in F's units (the runner converted it), but
    for Huber, whose δ lives in the network's scaled units."""
    s = (record.model.get("meta", {}) if record.model else {}).get("scale_y") or {}
    scale, shift = float(s.get("scale", 1.0)), float(s.get("shift", 0.0))
    loss = exp.training.loss.name
    if loss == "mse":
        return "½·mean (g − y)²  [F's units²]"
    if loss == "mae":
        return "mean |g − y|  [F's units]"
    centred = f"y − {shift:.3g}" if shift >= 0 else f"y + {-shift:.3g}"
    return f"{loss} loss of y scaled to ({centred}) / {scale:.3g}"


def _penalty(exp) -> str:
    t = exp.training
    parts = [f"{k.upper()} {v:g}" for k, v in (("l1", t.l1), ("l2", t.l2)) if v]
    return " + ".join(parts)


def _with_penalty(label: str) -> str:
    """The loss axis's label when the training cost adds an L1/L2 penalty to the loss."""
    loss, units = label.split("  [", 1) if "  [" in label else (label, "")
    return f"{loss}, cost + penalty" + (f"  [{units}" if units else "")


#: why training stopped, in words (``RunRecord.stop_reason``)
STOPS = {
    "epochs": "ran to the epoch limit",
    "early_stopping": "early stopping: the validation loss stopped improving",
    # a minimum of the training cost, not a good fit (LM stuck at 0.26 said the same)
    "converged": "converged: the training cost stopped improving (a minimum, maybe a local one)",
    "diverged": "diverged: the cost blew up",
    "interrupted": "interrupted (Ctrl-C)",
    "callback": "stopped by the caller",
}


def _closing_solve_note(exp) -> str:
    """Why a first-order run's closing solve can sit far below those before it: they
    keep a floor on the ridge and a bound on the output weights, it does not."""
    if OPTIMIZERS[exp.training.optimizer.name].varpro:  # lm, lbfgs: variable projection
        return ""
    return (
        f",\nexactly (l2 {exp.training.l2:g}); those before it keep l2 ≥ {SOLVE_L2:g} and output "
        f"weights ≤ {OUTPUT_BOUND:g}"
    )


def _whole_decades(ax, values) -> None:
    """A log axis whose values span less than a decade shows the decades around them: a
    random-features run's two points (1.00e-23 and 0.95e-23) filled the panel, a 5 %
    difference drawn as a fall, under tick labels 9.5e-24 and 1e-23."""
    v = values[np.isfinite(values) & (values > 0)]
    if v.size == 0 or v.max() / v.min() >= 10:
        return
    lo, hi = math.floor(math.log10(v.min())), math.ceil(math.log10(v.max()))
    ax.set_ylim(10.0**lo, 10.0 ** max(hi, lo + 1))


def _one_epoch(ax) -> None:
    """An axis for a history of one row: its epoch alone, not matplotlib's −0.04 … 0.04."""
    x = ax.get_lines()[0].get_xdata()[0] if ax.get_lines() else 0
    ax.set_xlim(x - 1, x + 1)
    ax.set_xticks([x])


def loss_figure(exp, record) -> Figure:
    """Training and validation loss per epoch, the kept epoch marked, the lr if it moves."""
    h = record.history
    ep = np.asarray(h["epoch"], dtype=float)
    lr = np.asarray([v if v is not None else np.nan for v in h.get("lr", [])], dtype=float)
    set_lr = lr[np.isfinite(lr)]  # a final least-squares solve's row has no rate
    moves = set_lr.size > 1 and np.ptp(set_lr) > 1e-12 * np.abs(set_lr).max()
    fig = new_figure(8.5, 5.8 if moves else 4.8)
    if moves:
        ax, ax_lr = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    else:
        ax, ax_lr = fig.subplots(1, 1), None
    ylabel = loss_units(exp, record)
    penalty = _penalty(exp)
    if penalty:  # the training cost adds it; the validation loss does not
        ylabel = _with_penalty(ylabel)
    train = np.asarray(h["train_loss"], dtype=float)
    val = np.asarray([v if v is not None else np.nan for v in h["val_loss"]], dtype=float)
    solved = np.asarray([v == 1.0 for v in h.get("output_solved", [])], dtype=bool)
    best = getattr(record, "best_epoch", None)
    # a closing solve for hidden layers restored from an earlier epoch is of that epoch:
    # its diamond goes there, and the curves end on the last epoch trained (they dipped
    # at their end, at an epoch whose weights g does not have)
    at, curve, closing = ep.copy(), slice(None), None
    if ep.size > 1 and solved.size == ep.size and solved[-1] and ep[-1] == ep[-2]:
        closing = int(best if best is not None and best < ep[-1] else ep[-1])
        at[-1], curve = closing, slice(0, -1)
    train_label = (f"training cost C (incl. {penalty} penalty)" if penalty else "training loss") + (
        ", on the whole training set"  # one batch an epoch (lm, lbfgs, gd, or asked for)
        if exp.training.batch_size == "full" or ep.size == 1
        else ", mean over the epoch's batches"
    )
    dot = {"marker": "o", "ms": 5} if ep.size < 3 else {}  # a line of one point draws nothing
    ax.semilogy(ep[curve], train[curve], color="tab:blue", label=train_label, **dot)
    has_val = bool(np.isfinite(val).any())
    if has_val:
        ax.semilogy(ep[curve], val[curve], color="tab:orange", label="validation loss", **dot)
    if solved.size == ep.size and solved.any():
        ax.semilogy(
            at[solved],
            train[solved],
            ls="none",
            marker="D",
            ms=4,
            mfc="none",
            color="black",
            zorder=3,
            label="output layer solved by least squares (training cost after it)"
            + (
                f"; the last, at the end, for epoch {closing:,}'s hidden layers"
                + _closing_solve_note(exp)
                if closing is not None
                else ""
            ),
        )
    opt = exp.training.optimizer
    varpro = opt.name == "lm" and exp.training.output_layer == "lstsq"
    if varpro and ep.size > 1 and train[1] > train[0]:  # the rise after epoch 0, by design
        ridge, floor = opt.params()["ridge"], opt.params()["ridge_min"]
        ax.plot(
            [],
            [],
            ls="none",
            label=f"from epoch 1 solved at every step under LM's ridge ({ridge:g}, halved "
            f"each step\ndown to {floor:g}): at first above epoch 0's exact solve",
        )
    marked = best is not None and ep.size and best < ep[-1]
    if marked:
        es = exp.training.early_stopping
        on_val = has_val and (es is None or es.monitor == "val")
        what = kept_epoch(on_val, es.min_delta if es is not None else 0.0)
        ax.axvline(
            best,
            color="tab:green",
            ls="--",
            lw=1.2,
            label=f"epoch {best:,}: {what}, weights restored",
        )
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    _whole_decades(ax, np.concatenate([train, val]))
    stop = getattr(record, "stop_reason", "") or ""
    epochs = int(ep[-1]) if ep.size else 0
    if ep.size and np.ptp(ep) == 0:  # one row, or epoch 0 and a solve after it
        _one_epoch(ax)
    else:  # epochs are whole: a short run's axis read 2.5, 7.5, 12.5
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if epochs == 0 and exp.training.output_layer == "lstsq" and stop != "diverged":
        ax.set_title("no training: the output layer solved once by least squares", fontsize=9)
    elif stop == "diverged":  # the epoch it diverged in and whose weights g has
        kept = kept_weights(best, exp.training.output_layer == "lstsq")
        ax.set_title(
            f"{epochs:,} epoch{'' if epochs == 1 else 's'} completed; diverged in epoch "
            f"{epochs + 1:,} (the cost blew "
            f"up)\nkept: {kept}{' (marked)' if marked else ''}",
            fontsize=9,
        )
    else:
        ax.set_title(f"{epochs:,} epochs; {STOPS.get(stop, stop)}", fontsize=9)
    if ax_lr is not None:
        ax_lr.plot(ep, lr, color="tab:gray")
        if set_lr.min() > 0 and 30 < set_lr.max() / set_lr.min() < 1e4:  # a decay, not a fall to 0
            ax_lr.set_yscale("log")
        ax_lr.set_ylabel("learning rate")
        ax_lr.set_xlabel("epoch")
        ax_lr.grid(alpha=0.3)
    else:
        ax.set_xlabel("epoch")
    handles, labels = ax.get_legend_handles_labels()
    legend_below(fig, handles, labels, 2)
    fig.suptitle(describe(exp, fig.get_figwidth()), fontsize=9)
    finish(fig)
    return fig


# ---------------------------------------------------------------------- gradients


def running_median(values, window: int):
    """Centred running median of log10(values) over ``window`` epochs, as values again.

    Non-positive entries (a dead layer) are ignored; the window shrinks at the ends.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    v = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.where(v > 0, np.log10(v), np.nan)
    if window <= 1 or v.size < 3:
        return 10**lg
    half = window // 2
    padded = np.concatenate([np.full(half, np.nan), lg, np.full(half, np.nan)])
    win = sliding_window_view(padded, 2 * half + 1)
    out = np.full(v.size, np.nan)
    ok = np.isfinite(win).any(axis=1)
    out[ok] = np.nanmedian(win[ok], axis=1)
    return 10**out


def gradients_figure(exp, record) -> Figure:
    """Gradient norm of each layer per epoch, smoothed, and the first-to-last ratio."""
    h = record.history
    ep = np.asarray(h["epoch"], dtype=float)
    keys = sorted((k for k in h if k.startswith("grad_norm_")), key=lambda k: int(k[10:]))
    L = len(keys)
    # an output layer solved by least squares has no gradient to speak of (rounding, or
    # the ridge's): the ratio is taken to the last layer that is trained
    solved = exp.training.output_layer == "lstsq" and L > 1
    T = L - 1 if solved else L
    window = max(1, round(ep.size / 25))
    fig = new_figure(9.5, 6.2 if T > 1 else 4.6)
    if T > 1:
        ax, ax_r = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 1]})
    else:
        ax, ax_r = fig.subplots(1, 1), None
    cmap = colormaps["viridis"]
    dot = {"marker": "o", "ms": 5} if ep.size < 3 else {}  # a line of one point draws nothing
    smooth = []
    for l, k in enumerate(keys):
        c = cmap(0.85 * l / max(1, L - 1))
        raw = np.asarray(h[k], dtype=float)
        if window > 1:
            ax.plot(ep, np.where(raw > 0, raw, np.nan), color=c, lw=0.6, alpha=0.25)
        s = running_median(raw, window)
        smooth.append(s)
        name = f"layer {l + 1}"
        if l == 0 and L > 1:
            name += " (input side)"
        elif l == L - 1:
            name += " (output, solved)" if solved else " (output)"
        ax.plot(ep, s, color=c, lw=1.8, label=name, **dot)
    ax.set_yscale("log")
    ax.set_ylabel("‖∂C/∂(W, b)‖ of the layer")
    ax.grid(alpha=0.3)
    if window > 1:
        how = f"dark: running median over {window} epochs; light: each epoch"
        marks = sum(v == 1.0 for v in h.get("output_solved", []))
        if marks > 1:  # first-order training with solves between its epochs
            how += (
                "\nrows at a solve of the output layer: the full batch's gradient after it "
                "(the output layer's is near 0)"
            )
    elif ep.size == 1:
        how = "one evaluation, at the weights as they end (no epochs ran)"
        _one_epoch(ax)
    elif ep.size and np.ptp(ep) == 0:
        how = "epoch 0 only, before and after a solve of the output layer"
        _one_epoch(ax)
    else:
        how = "each epoch"
    ax.set_title(how, fontsize=9)
    handles, labels = ax.get_legend_handles_labels()
    if ax_r is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = smooth[0] / smooth[T - 1]
        ax_r.plot(ep, ratio, color="black", lw=1.5, **dot)
        ax_r.axhline(1.0, color="tab:gray", ls=":", lw=1)
        ax_r.set_yscale("log")
        ax_r.set_ylabel(f"layer 1 / layer {T}")
        ax_r.set_xlabel("epoch")
        ax_r.grid(alpha=0.3)
        end = ratio[np.isfinite(ratio)]
        note = f"{end[0]:.2g} at the start, {end[-1]:.2g} at the end" if end.size else "—"
        med = float(np.median(end)) if end.size else 1.0
        more = []  # on a line of its own: with it one line ran past the axes, cut with '…'
        if med < 1e-2:
            more.append(f"median {med:.2g} ≪ 1: gradients vanish toward the input")
        elif med > 1e2:
            more.append(f"median {med:.2g} ≫ 1: gradients grow toward the input")
        if solved:
            more.append(f"layer {L}, the output, is solved")
        title = f"‖∇ layer 1‖ / ‖∇ layer {T}‖: {note}"
        ax_r.set_title("\n".join([title, "; ".join(more)] if more else [title]), fontsize=9)
        handles.append(Line2D([], [], color="tab:gray", ls=":"))
        labels.append("ratio 1 (lower panel)")
    else:
        ax.set_xlabel("epoch")
    # beside the upper panel, so it reads top to bottom from the input to the output layer
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.suptitle(describe(exp, fig.get_figwidth()), fontsize=9)
    finish(fig)
    return fig


# ------------------------------------------------------------------------- render

#: the figures of a run, by file name
FIGURES = ("fit.png", "loss.png", "gradients.png")


def figure(name: str, exp, record, ds) -> Figure:
    """One of :data:`FIGURES` for a finished run (its record holds the model)."""
    if name == "fit.png":
        return fit_figure(exp, record, ds)
    if name == "loss.png":
        return loss_figure(exp, record)
    if name == "gradients.png":
        return gradients_figure(exp, record)
    raise KeyError(f"no figure {name!r}; there are {', '.join(FIGURES)}")


def figures(exp, record, ds) -> dict[str, Figure]:
    """Every figure of a finished run, by file name."""
    return {name: figure(name, exp, record, ds) for name in FIGURES}


def render(exp, record, ds) -> tuple[dict[str, bytes], list[str]]:
    """fit.png, loss.png and gradients.png as PNG bytes, and warnings for any that failed.

    Rendering happens where the run happened (a worker may have no shared disk); the
    driver only writes the bytes.
    """
    import warnings

    out: dict[str, bytes] = {}
    problems: list[str] = []
    if not record.model:
        return out, problems
    for name in FIGURES:
        try:
            # matplotlib's own notes (a log axis of a constant target's zero error) are
            # about the picture, not the run: they would print as two-line warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                out[name] = png(figure(name, exp, record, ds))
        except Exception as exc:  # a failing plot is a warning; the metrics survive
            problems.append(f"{name} not written: {type(exc).__name__}: {exc}")
    return out, problems
