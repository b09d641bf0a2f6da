"""``train``: one call that trains a network's K models with any method of the table.

Arrays and generators in, :class:`~nnfit.engine.loop.TrainResult` per model out; the
network is updated in place. Progress reaches the caller through callbacks (see
:mod:`nnfit.engine.loop`); Ctrl-C ends training with ``status="interrupted"`` and the
weights of the last finished epoch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nnfit.engine import readout
from nnfit.engine.loop import VARPRO_L1, Callback, Session, TrainResult, TrainSettings
from nnfit.engine.network import Network, numbers
from nnfit.engine.optimizers import make, schedule
from nnfit.engine.params import spec
from nnfit.engine.passes import Problem, TrainSet, one_blas_thread

Array = np.ndarray


def train(
    net: Network,
    X: Array,
    y: Array,
    X_val: Array | None = None,
    y_val: Array | None = None,
    settings: TrainSettings | None = None,
    rngs: np.random.Generator | Sequence[np.random.Generator] | None = None,
    callbacks: Sequence[Callback] = (),
) -> list[TrainResult]:
    """Train ``net``'s models in place on (X, y); one result per model.

    Parameters
    ----------
    X, y : arrays of shape (n, d) and (n, out)
        Training set, in the units the network sees (any scaling already applied).
    X_val, y_val : arrays or None
        Validation set for the val curve and early stopping.
    rngs : generator or one per model
        Sources of each model's per-epoch shuffles.
    callbacks : callables
        Called with an :class:`~nnfit.engine.loop.EpochEvent` after every epoch; returning True
        stops every model, one bool per model stops those that are True; None or False
        goes on. Anything else is a TypeError.
    """
    s = settings or TrainSettings()
    name, hyper = spec(s.optimizer, "optimizer")
    hyper.pop("lr", None)
    method = make(name, **hyper)
    schedule(s.schedule)  # its name and parameters now, not at the first epoch
    _honoured(name, method, s)
    for key, message in method.in_precision(hyper, net.dtype)[1]:
        raise ValueError(f"optimizer {name}: {key}: {message}")
    if net.k > 1 and not method.stackable:
        raise ValueError(f"{name} trains one model at a time, not a stack of {net.k}")
    loss = s.loss_fn()
    if method.least_squares and not loss.least_squares:
        raise ValueError(f"{name} is Gauss–Newton on squared residuals: it needs loss mse")
    if rngs is None:
        rngs = [np.random.default_rng(k) for k in range(net.k)]
    elif isinstance(rngs, np.random.Generator):
        rngs = [rngs]
    if not isinstance(rngs, list | tuple) or not all(
        isinstance(r, np.random.Generator) for r in rngs
    ):
        raise ValueError(f"rngs must be a numpy Generator or a list of them, got {rngs!r}")
    if len(rngs) != net.k:
        raise ValueError(f"need one generator per model ({net.k}), got {len(rngs)}")
    callbacks = [callbacks] if callable(callbacks) else list(callbacks)
    if not all(callable(c) for c in callbacks):
        raise ValueError(f"callbacks must be functions of the epoch, got {callbacks!r}")
    X, y = _rows(net, X, y, "X", "y")
    rows = None if method.full_batch else s.rows(len(X))
    data = TrainSet(X, y, net.dtype, net.k, rows)
    problem = Problem(net, data, loss, s.l1, s.l2, rngs)
    if (X_val is None) != (y_val is None):  # one alone was no validation, silently
        raise ValueError("give X_val and y_val together, or neither")
    val = None
    if X_val is not None and len(X_val):
        val = _rows(net, X_val, y_val, "X_val", "y_val")
    session = Session(net, s, val, callbacks)
    # a model whose values overflow gives inf and then NaN, which the divergence checks
    # stop it for (status diverged): NumPy's warnings would only repeat that, on stderr
    quiet = np.errstate(over="ignore", invalid="ignore")
    try:
        with quiet:
            try:
                method.run(session, problem)
            except KeyboardInterrupt:
                session.interrupt()
            results = session.finish()
            # not after Ctrl-C (the user asked to stop), nor before any epoch was recorded
            # (stopped during the first solve)
            stopped = any(r.status == "interrupted" or not r.history.epoch for r in results)
            # on one BLAS thread, as the methods' own solves: OpenBLAS rounds a product or
            # a QR differently on two, and the weights must not depend on the machine's
            # thread count (a sweep worker pins one)
            with one_blas_thread():
                if s.output_layer == "lstsq" and s.epochs > 0 and not stopped:
                    _final_solve(net, problem, session, results)
                if session.start_aside is not None and not stopped:
                    _start_if_lower(net, problem, session, results)
    finally:
        problem.close()
    return results


def _honoured(name: str, method, s: TrainSettings) -> None:
    """Refuse a setting the method would ignore (lm took l1 = 10 and trained as without
    it), as the experiment file does; TrainSettings' own defaults count as not given."""
    given = {
        "lr": isinstance(s.optimizer, dict) and s.optimizer.get("lr") is not None,
        "schedule": spec(s.schedule, "schedule") != ("constant", {}),
        "batch_size": s.batch_size not in (None, "full", TrainSettings.batch_size),
        "clip_norm": s.clip_norm is not None,
        "l1": bool(s.l1),
        "output_every": s.output_every is not None,
    }
    unused = [k for k, on in given.items() if on and k not in method.honours]
    if unused:
        uses = ", ".join(k for k in given if k in method.honours)
        uses = (
            f"of the training settings it uses only {uses}"
            if uses
            else f"it uses none of the training settings {', '.join(given)}"
        )
        raise ValueError(f"{name} does not use {', '.join(unused)} ({uses})")
    if method.varpro and s.output_layer == "lstsq" and s.l1:
        raise ValueError("l1: " + VARPRO_L1.format(name=name))
    if s.output_every is not None and s.output_layer != "lstsq":
        raise ValueError(
            "output_every re-solves a least-squares output layer: it needs "
            f"output_layer 'lstsq', got {s.output_layer!r}"
        )


def _rows(net: Network, X, y, x_name: str, y_name: str) -> tuple[Array, Array]:
    """X as (n, d) and y as (n, out) in the network's dtype, finite; else a ValueError
    naming the shapes (a mismatch failed deep in a product, or trained on NaN until it
    was called a divergence). A 1-D X is a column when the network takes one input, a
    1-D y when it gives one output."""
    d, out = net.sizes[0], net.sizes[-1]
    X = numbers(X, net.dtype, x_name)
    y = numbers(y, net.dtype, y_name) if y is not None else None
    if X.ndim == 1 and d == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[1] != d or not len(X):
        raise ValueError(f"{x_name} must have shape (n, {d}), n ≥ 1, got {X.shape}")
    n = len(X)
    if y is not None and y.ndim == 1 and out == 1 and y.size == n:
        y = y[:, None]
    if y is None or y.shape != (n, out):
        shape = None if y is None else y.shape
        raise ValueError(
            f"{y_name} must have shape ({n}, {out}) as {x_name} has {n} rows, got {shape}"
        )
    for name, a in ((x_name, X), (y_name, y)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} has values that are not finite (NaN or ±inf)")
    return X, y


def _start_if_lower(net: Network, problem: Problem, session: Session, results) -> None:
    """Early stopping's end, but never above the start it set aside: each model whose
    start had the lower monitored loss (validation, else training) ends on its start's
    weights, ``best_epoch`` 0 (variable projection from a random-features model that it
    does not improve on)."""
    value, start = session.start_aside
    now = session.val_loss() if session.monitor_val else problem.full_cost()
    for k, res in enumerate(results):
        if res.status in ("ok", "diverged") and value[k] < now[k]:
            net.theta[k] = start[k]
            res.best_epoch = 0


def _final_solve(net: Network, problem: Problem, session: Session, results) -> None:
    """A least-squares output layer, solved for the final hidden weights: the exact
    minimiser of the cost given them (first-order training solves it only now and then,
    variable projection with LM under a ridge). Kept per model where it lowers the
    training cost, and under early stopping on validation where it does not raise the
    validation loss (solved exactly, the output weights of nearly dependent features can
    fit the training points far better and the rest far worse); the cost after it is
    logged as a last history row."""
    before = net.theta.copy()
    try:
        old = problem.full_cost()
        early = session.patience is not None and session.monitor_val
        val_old = session.val_loss() if early else None
        readout.solve(net, problem.X, problem.Y, session.settings.l2)
        cost = problem.full_cost()
        worse = ~(cost <= old)
        if val_old is not None:
            worse |= ~(session.val_loss() <= val_old)
        if worse.any():
            net.theta[worse] = before[worse]
            cost = np.where(worse, old, cost)
            problem.full_cost()  # the gradient of the weights kept, for the norms
    except KeyboardInterrupt:  # keep the trained weights as they were
        net.theta[...] = before
        for res in results:
            res.status = res.stop_reason = "interrupted"
        return
    vl = session.val_loss()
    norms = net.layer_norms(problem.grad)
    for k, res in enumerate(results):
        h = res.history
        if _repeats(h, res.epochs, cost[k], vl[k]):  # no step taken: the start is the end
            continue
        h.append(res.epochs, cost[k], vl[k], math.nan, norms[k], h.wall_s[-1], output_solved=1.0)


def _repeats(h, epoch: int, train: float, val: float) -> bool:
    """The history's last row already has this epoch and these losses (variable
    projection that took no step: its epoch 0 is the exact solve the end repeats)."""

    def same(a, b) -> bool:
        return a == b or (math.isnan(a) and math.isnan(b))

    return (
        bool(h.epoch)
        and h.epoch[-1] == epoch
        and same(h.train_loss[-1], float(train))
        and (same(h.val_loss[-1], float(val)))
    )
