"""Second-order training for small networks: L-BFGS and Levenberg–Marquardt.

Both work on the full batch and the flat parameter vector, and report through the same
:class:`~nnfit.train.History`, callback and early stopping as first-order training; one
"epoch" is one iteration (L-BFGS) or one accepted step (LM).

Levenberg–Marquardt minimises ½‖r‖² + ½·n·λ₂‖W‖² (the course's cost times n, so L2 is
Tikhonov regularisation of the weights) with r = g(X) − y. Each step solves
(JᵀJ + n·λ₂·D + μI) δ = −(Jᵀr + n·λ₂·D θ) by Cholesky, J the per-sample Jacobian from
backprop and D the weight mask. μ starts at 1e-3, shrinks ×0.1 after a step that lowers
the cost and grows ×10 after one that does not, and training stops when μ passes 1e10,
as in MATLAB's ``trainlm``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from nnfit.engine.loop import EpochInfo, History, TrainResult, TrainSettings, _Monitor
from nnfit.engine.network import Network

Array = np.ndarray


def jacobian_mb(n: int, n_params: int, itemsize: int = 8) -> float:
    """Memory of J (n × P) and JᵀJ (P × P), in MiB."""
    return (n * n_params + n_params * n_params) * itemsize / 2**20


class _Loop:
    """Bookkeeping shared by both methods: history, early stopping, callback, divergence."""

    def __init__(self, net, X, y, X_val, y_val, s: TrainSettings, callback):
        self.net, self.X, self.y, self.s, self.callback = net, X, y, s, callback
        self.X_val, self.y_val = X_val, y_val
        self.has_val = X_val is not None and len(X_val) > 0
        self.monitor_val = self.has_val and s.monitor == "val"
        self.mon = _Monitor(s.patience, s.min_delta)
        self.hist = History()
        self.t0 = time.perf_counter()
        self.epoch = 0
        self.reason = "epochs"

    def val_loss(self) -> float:
        return self.net.cost(self.X_val, self.y_val, self.s.loss) if self.has_val else math.nan

    def record(self, cost: float, **extra) -> bool:
        """Log the current state as an epoch; True when training should stop."""
        net = self.net
        net.loss_grad(self.X, self.y, self.s.loss, self.s.l1, self.s.l2)
        norms = net.layer_grad_norms()
        vl = self.val_loss()
        wall = time.perf_counter() - self.t0
        self.hist.append(self.epoch, cost, vl, math.nan, norms, wall, **extra)
        if self.epoch == 0:
            self.mon.update(vl if self.monitor_val else cost, 0, net.theta)
            return False
        stop = self.mon.update(vl if self.monitor_val else cost, self.epoch, net.theta)
        if self.callback is not None and self.callback(
            EpochInfo(self.epoch, self.s.epochs, cost, vl, math.nan, norms, wall, net)
        ):
            self.reason = "callback"
            return True
        if stop:
            self.reason = "early_stopping" if self.monitor_val else "converged"
        return stop

    def finish(self, status: str, steps: int) -> TrainResult:
        best = self.epoch
        s = self.s
        if (
            status == "ok"
            and s.restore_best
            and s.patience is not None
            and (self.mon.best_theta is not None)
        ):
            self.net.theta[...] = self.mon.best_theta
            best = self.mon.best_epoch
        reason = self.reason if status == "ok" else status
        return TrainResult(
            status, reason, self.epoch, steps, time.perf_counter() - self.t0, best, self.hist
        )


def train_lbfgs(net: Network, X, y, X_val, y_val, s: TrainSettings, callback) -> TrainResult:
    from scipy.optimize import minimize

    hp = {"m": 10, "gtol": 1e-12, "ftol": 1e-15, **s.optimizer_params}
    loop = _Loop(net, X, y, X_val, y_val, s, callback)
    start = net.cost(X, y, s.loss, s.l1, s.l2)
    loop.record(start)
    if s.epochs == 0 or not math.isfinite(start):
        return loop.finish("ok" if math.isfinite(start) else "diverged", 0)
    evals = [0]
    dtype = net.dtype

    def fun(theta):
        evals[0] += 1
        net.theta[...] = theta.astype(dtype, copy=False)
        c = net.loss_grad(X, y, s.loss, s.l1, s.l2)
        if not math.isfinite(c):  # the line search left the region where g is finite
            raise FloatingPointError
        return c, net.grad.astype(np.float64)

    best = {"theta": net.theta.copy()}

    def on_iter(intermediate_result):
        loop.epoch += 1
        net.theta[...] = intermediate_result.x
        best["theta"][...] = net.theta
        if loop.record(float(intermediate_result.fun)):
            raise StopIteration

    status = "ok"
    try:
        res = minimize(
            fun,
            net.theta.astype(np.float64),
            jac=True,
            method="L-BFGS-B",
            callback=on_iter,
            options={
                "maxiter": s.epochs,
                "maxfun": max(15000, 4 * s.epochs),
                "maxcor": int(hp["m"]),
                "gtol": hp["gtol"],
                "ftol": hp["ftol"],
            },
        )
        net.theta[...] = best["theta"]
        if loop.reason == "epochs" and loop.epoch < s.epochs and res.status != 1:
            loop.reason = "converged"  # scipy's own tolerance was met
    except FloatingPointError:
        net.theta[...] = best["theta"]
        status = "diverged"
    except KeyboardInterrupt:
        net.theta[...] = best["theta"]
        status = "interrupted"
    return loop.finish(status, evals[0])


def train_lm(net: Network, X, y, X_val, y_val, s: TrainSettings, callback) -> TrainResult:
    from scipy.linalg import solve_triangular

    hp = {
        "mu": 1e-3,
        "mu_dec": 0.1,
        "mu_inc": 10.0,
        "mu_max": 1e10,
        "max_jacobian_mb": 1024,
        **s.optimizer_params,
    }
    n, P = X.shape[0], net.n_params
    need = jacobian_mb(n, P)
    if need > hp["max_jacobian_mb"]:
        raise MemoryError(
            f"lm needs {need:,.0f} MiB for the Jacobian of {n} points × {P} parameters "
            f"(limit {hp['max_jacobian_mb']:,.0f}); use optimizer lbfgs, fewer points, or "
            "raise max_jacobian_mb"
        )
    lam = n * s.l2
    mask = np.zeros(P)
    mask[: net.n_weights] = 1.0
    yv = y.reshape(n)
    mu = float(hp["mu"])
    loop = _Loop(net, X, y, X_val, y_val, s, callback)

    def half_sse(theta_now) -> float:
        r = net.predict(X)[:, 0].astype(np.float64) - yv
        w = theta_now[: net.n_weights].astype(np.float64)
        return 0.5 * float(r @ r) + 0.5 * lam * float(w @ w)

    cost = half_sse(net.theta)
    start = cost
    limit = s.divergence_factor * max(start, 1e-300)
    loop.record(cost / n, mu=mu)
    status, steps = "ok", 0
    try:
        while loop.epoch < s.epochs and math.isfinite(cost):
            g, J = net.jacobian(X)
            J = J.astype(np.float64, copy=False)
            r = g[:, 0].astype(np.float64) - yv
            theta = net.theta.astype(np.float64)
            grad = J.T @ r + lam * mask * theta
            H = J.T @ J
            if lam:
                H[np.diag_indices(P)] += lam * mask
            accepted = False
            while mu <= hp["mu_max"]:
                A = H.copy()
                A[np.diag_indices(P)] += mu
                steps += 1
                try:
                    # numpy's Cholesky, not scipy's: numpy's BLAS threads are still spinning
                    # after JᵀJ, and a second BLAS library competing with them runs ~15x slower
                    L = np.linalg.cholesky(A)
                except np.linalg.LinAlgError:
                    mu *= hp["mu_inc"]
                    continue
                z = solve_triangular(L, -grad, lower=True, check_finite=False)
                delta = solve_triangular(L.T, z, lower=False, check_finite=False)
                net.theta[...] = theta + delta
                new = half_sse(net.theta)
                if new < cost:
                    cost, accepted = new, True
                    mu *= hp["mu_dec"]
                    break
                net.theta[...] = theta
                mu *= hp["mu_inc"]
            if not accepted:
                loop.reason = "converged"  # μ passed its limit: no step lowers the cost
                break
            if not cost < limit:
                status = "diverged"
                break
            loop.epoch += 1
            if loop.record(cost / n, mu=mu):
                break
    except KeyboardInterrupt:
        status = "interrupted"
    return loop.finish(status, steps)


METHODS = {"lbfgs": train_lbfgs, "lm": train_lm}
