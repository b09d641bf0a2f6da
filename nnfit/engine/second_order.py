"""Second-order training for small networks: L-BFGS and Levenberg–Marquardt.

Both work on the full batch of one model and report to the same
:class:`~nnfit.engine.loop.Session` as first-order training; an epoch is one iteration
(L-BFGS) or one accepted step (LM).

Levenberg–Marquardt minimises ½‖r‖² + ½·n·λ₂‖W‖² (the course's cost times n, so L2 is
Tikhonov regularisation of the weights) with r = g(X) − y. Each step solves
(JᵀJ + n·λ₂·D + μI) δ = −(Jᵀr + n·λ₂·D θ) by Cholesky, J the per-sample Jacobian from
backprop and D the weight mask; JᵀJ is formed once per accepted step and reused while μ
grows. μ shrinks ×1/3 after a step that lowers the cost and doubles after one that does
not (Transtrum & Sethna's "delayed gratification"; MATLAB's ``trainlm`` takes ×0.1 and
×10, which ``mu_dec: 0.1, mu_inc: 10`` restores); training stops when μ passes 1e10, as
in trainlm. With ×0.1 and ×10 every other trial was rejected and μ swung past the
damping the valley wanted: Runge, 8 tanh units, 300 steps, test RMSE median of 10 seeds
6.5e-6 (variable projection 8.0e-6); with ×1/3 and ×2, 3.1e-6 (4.1e-6), for 2.5 trials a
step instead of 2.0. μ starts at 1 (trainlm: 1e-3): plain LM ends the same from either
(3.1e-6), while variable projection's first, nearly undamped steps from 1e-3 jump into
poor basins (6.2e-5).

``gain_ratio: 1`` scales μ by the gain ratio ρ instead, the decrease a step made over
the decrease its quadratic model predicted (Nielsen 1999; Madsen, Nielsen & Tingleff
2004): after a good step μ ← μ·max(``mu_dec``, 1 − (2ρ − 1)³), after a bad one μ ← μ·ν with
ν = ``mu_inc``, doubled at each further rejection in a row. It tries about half as many
dampings a step (Runge, 8 units, 300 steps: 1.3 against 2.5, 30 % less time, the same
3.1e-6), but each step goes less far while the model predicts poorly, and at a budget of
100 steps variable projection falls short: median 9.4e-4 against 2.1e-5 (16 units:
1.6e-8 against 2.5e-8). So the fixed factors are the default.

Each step is geodesically accelerated (Transtrum & Sethna 2012): with δ the LM step, a
second solve with the same factor gives a = −(JᵀJ + D)⁻¹Jᵀr'', r'' the residuals' second
derivative along δ by a finite difference (one more evaluation), and the step is δ + ½a
when ‖a‖ ≤ ``geodesic``·‖δ‖ (else δ); in float64 only. It follows the curved valleys in which
plain LM creeps: Runge, 8 tanh units, 300 steps, test RMSE median of 10 seeds 4.5e-5 →
3.1e-6 (variable projection 1.8e-3 → 4.1e-6).

With ``output_layer: lstsq`` both become variable projection (Golub & Pereyra 1973;
Newman, Ruthotto et al., "Train like a (Var)Pro", 2021): they see only the hidden
parameters, and the output layer is the least-squares solution for them at every
evaluation. LM then uses Kaufman's Jacobian (the hidden-parameter Jacobian projected off
the span of the output features). Its output layer carries a Tikhonov ridge that starts
at ``ridge`` and halves after every accepted step down to ``ridge_min``: solved exactly
from the start, the output weights of nearly dependent features are huge and cancel,
and LM stalls in that corner (Runge, width 16: test RMSE 2.3e-3 without the ridge,
6.8e-8 with it; plain LM 5.1e-5). In float32 the ridge stays at 1e-8 or above
(:data:`F32_RIDGE_MIN`).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from nnfit.engine import lstsq, readout
from nnfit.engine.gauss_newton import Jacobian, Normal, Threads, too_large
from nnfit.engine.loop import Method, Session
from nnfit.engine.params import POSITIVE, Param
from nnfit.engine.passes import Problem, one_blas_thread

Array = np.ndarray


class _Stop(Exception):
    """Ends SciPy's iterations from inside its callback or objective."""


class LBFGS(Method):
    """L-BFGS-B (SciPy) on the flat parameter vector with backprop's gradient."""

    name = "lbfgs"
    full_batch = True
    stackable = False
    varpro = True
    default_lr = None
    honours = frozenset({"l1"})
    params: ClassVar = {
        "m": Param(10, lo=1, hi=1000, integer=True, doc="correction pairs kept"),
        "gtol": Param(1e-12, lo=0.0, hi=1.0, doc="stop when the projected gradient is below"),
        "ftol": Param(1e-15, lo=0.0, hi=1.0, doc="stop when the relative decrease is below"),
    }

    def run(self, session: Session, problem: Problem) -> None:
        with one_blas_thread():  # small products: see optimizers._blas_limit
            self._run(session, problem)

    def _run(self, session: Session, problem: Problem) -> None:
        from scipy.optimize import minimize

        net, s = problem.net, session.settings
        varpro = s.output_layer == "lstsq"
        hidden = net.offsets[-2]  # the output block comes last in theta
        theta = net.theta[0]
        dtype = net.dtype

        def evaluate(x) -> float:
            """Set the parameters (and, with varpro, solve the output layer); cost."""
            if varpro:
                theta[:hidden] = x.astype(dtype, copy=False)
                readout.solve(net, problem.X, problem.Y, s.l2)
            else:
                theta[...] = x.astype(dtype, copy=False)
            return float(problem.full_cost()[0])

        def fun(x):
            c = evaluate(x)
            if not math.isfinite(c):  # the line search left the region where g is finite
                session.check(np.array([c]))
                raise _Stop
            g = problem.grad[0].astype(np.float64)
            return c, g[:hidden] if varpro else g

        if varpro:  # epoch 0's row follows that solve, as a first-order method's does
            readout.solve(net, problem.X, problem.Y, s.l2)
        problem.begin(session, math.nan, **({"output_solved": 1.0} if varpro else {}))
        if session.settings.epochs == 0 or not session.active.any():
            return
        x0 = theta[:hidden] if varpro else theta

        def on_iter(intermediate_result):
            evaluate(intermediate_result.x)  # the gradient at the accepted point, for norms
            cost = np.array([float(intermediate_result.fun)])
            if session.check(cost) or session.end_epoch(
                cost, net.layer_norms(problem.grad), math.nan
            ):
                raise StopIteration

        evals = [0]

        def counted(x):
            evals[0] += 1
            return fun(x)

        try:
            res = minimize(
                counted,
                x0.astype(np.float64),
                jac=True,
                method="L-BFGS-B",
                callback=on_iter,
                options={
                    "maxiter": s.epochs,
                    "maxfun": max(15000, 4 * s.epochs),
                    "maxcor": int(self.hyper["m"]),
                    "gtol": self.hyper["gtol"],
                    "ftol": self.hyper["ftol"],
                },
            )
            converged = session.epoch < s.epochs and res.status != 1  # SciPy's tolerance
        except _Stop:
            converged = False
        session.steps[0] = evals[0]
        if session.active.any():  # back from the line search's last trial to the iterate
            evaluate(session.last_good[0][:hidden] if varpro else session.last_good[0])
            if converged:
                session.stop_all("converged")


#: the smallest damping, the smallest normal float64
MU_MIN = float(np.finfo(np.float64).tiny)
#: the finite-difference step, along δ, of the geodesic acceleration's r'' (Transtrum's)
FD_STEP = 0.1
#: variable projection in float32 keeps its ridge at least this: below it the output
#: weights of nearly dependent features cancel beyond float32's digits and LM stops on
#: rounding (Runge, 8 tanh units, seeds 0–2, damping ×0.1 and ×10: "converged" at test
#: RMSE 9e-4 to 1.3e-2 after 24–43 steps with 1e-14, 6.6e-6 to 6.9e-6 with 1e-8; where
#: 1e-14 was harmless it costs up to a factor 2: sine, 64 units, 1.6e-7 against 8.7e-8)
F32_RIDGE_MIN = 1e-8


class LM(Method):
    """Levenberg–Marquardt on the residuals, damping ×1/3 after a good step and ×2 after a
    bad one, or by the gain ratio (see the module docstring)."""

    name = "lm"
    full_batch = True
    stackable = False
    varpro = True
    least_squares = True
    default_lr = None
    honours = frozenset()
    params: ClassVar = {
        "mu": Param(1.0, **POSITIVE, hi=1e10, doc="initial damping"),
        "mu_dec": Param(
            1 / 3, lo=0.0, hi=1.0, lo_open=True, hi_open=True, doc="after a good step (the least)"
        ),
        # from 1.5: a factor near 1 takes millions of trials to climb from a tiny μ to mu_max
        "mu_inc": Param(2.0, lo=1.5, hi=1e6, doc="after a bad step (the first, by the gain)"),
        "gain_ratio": Param(
            0, lo=0, hi=1, integer=True, doc="0: fixed factors; 1: μ follows the gain ratio"
        ),
        "mu_max": Param(1e10, **POSITIVE, hi=1e300, doc="stop when the damping passes this"),
        "max_jacobian_mb": Param(1024.0, **POSITIVE, hi=1e7, doc="refuse a larger J and JᵀJ"),
        "ridge": Param(1e-6, lo=0.0, hi=1e6, doc="variable projection: output-layer ridge"),
        "ridge_min": Param(1e-14, lo=0.0, hi=1e6, doc="… halved each accepted step down to"),
        "geodesic": Param(
            0.75, lo=0.0, hi=10.0, doc="geodesic acceleration: largest ‖a‖/‖δ‖ used; 0 = off"
        ),
    }

    @classmethod
    def check_together(cls, hyper: dict) -> None:
        if hyper["mu"] > hyper["mu_max"]:  # no step would be tried: an untrained "converged"
            raise ValueError(
                f"mu must be at most mu_max ({hyper['mu_max']:g}), got {hyper['mu']:g}"
            )
        # the ridge halves from ridge down to ridge_min (ridge 0: from ridge_min)
        if 0 < hyper["ridge"] < hyper["ridge_min"]:
            raise ValueError(
                f"ridge_min must be at most ridge ({hyper['ridge']:g}): the output layer's "
                f"ridge halves from ridge down to it; got {hyper['ridge_min']:g}"
            )

    @classmethod
    def in_precision(cls, given: dict, dtype) -> tuple[dict, list[tuple[str, str]]]:
        """float32 goes without the geodesic acceleration and keeps the ridge at least
        :data:`F32_RIDGE_MIN`: a value given against that is refused, not overridden."""
        if np.dtype(dtype) != np.float32:
            return {}, []

        def number(v) -> bool:
            return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

        problems = []
        if number(given.get("geodesic")) and given["geodesic"] != 0:
            problems.append((
                "geodesic",
                "float32 runs go without the geodesic acceleration (its finite difference "
                f"needs float64 residuals): allowed 0, or dtype float64; got {given['geodesic']:g}",
            ))  # fmt: skip
        for key in ("ridge", "ridge_min"):
            if number(given.get(key)) and given[key] < F32_RIDGE_MIN:
                problems.append((
                    key,
                    f"float32 keeps the output layer's ridge at {F32_RIDGE_MIN:g} or above "
                    f"(below it LM stops on rounding): allowed ≥ {F32_RIDGE_MIN:g}, or dtype "
                    f"float64; got {given[key]:g}",
                ))  # fmt: skip
        floor = max(cls.params["ridge_min"].default, F32_RIDGE_MIN)
        return {"geodesic": 0.0, "ridge_min": floor}, problems

    def run(self, session: Session, problem: Problem) -> None:
        threads = Threads()
        try:
            with threads.everything():
                self._run(session, problem, threads)
        finally:
            threads.close()

    def _run(self, session: Session, problem: Problem, threads: Threads) -> None:
        net, s, hp = problem.net, session.settings, self.hyper
        X, yv = problem.X, problem.Y[:, 0].astype(np.float64)
        n = len(X)
        varpro = s.output_layer == "lstsq"
        P = net.offsets[-2] if varpro else net.n_params
        why = too_large(n, P, hp["max_jacobian_mb"])
        if why:
            more = ", or raise it" if "max_jacobian_mb" in why else ""
            raise MemoryError(f"{why}; use optimizer lbfgs or fewer points{more}")
        theta = net.theta[0]
        lam = n * s.l2
        mask = net.weight_mask[:P].astype(np.float64)
        out_mask = np.diag(net.weight_mask[P:].astype(np.float64))  # output weights, not bias
        y_aug = np.concatenate([yv, np.zeros(len(out_mask))])
        floor = float(hp["ridge_min"])  # varpro's Tikhonov on the output layer, shrinking
        if net.dtype == np.float32:
            floor = max(floor, F32_RIDGE_MIN)
        ridge = [max(float(hp["ridge"]), floor)]
        lin = Jacobian(net, X)
        Jt = np.zeros((P, len(y_aug) if varpro else n))  # Jᵀ: rows along the samples
        normal = Normal(P, threads.pool, threads.ahead)
        last = {}  # the residual (and varpro's basis U) of the last evaluation

        def evaluate(x) -> float:
            """Set θ = x (varpro: the hidden part, and the output layer solved for it);
            ½‖r‖² + ½λ‖w‖² there. With variable projection the output layer is solved
            with a ridge and the residual taken from the same basis U of the augmented
            system, so that r ⟂ U exactly (the projected Jacobian and r agree)."""
            theta[:P] = x
            if varpro:  # Φ = [features | 1] is the last hidden layer's [a; 1], transposed
                with np.errstate(over="ignore", invalid="ignore"):
                    lin.forward(net.n_layers - 1)
                aug = np.vstack([lin.A[-1].T, math.sqrt(lam + ridge[0]) * out_mask])
                try:
                    parts = lstsq.basis(aug)
                except lstsq.NotFinite:  # the features overflow here: no step to take
                    last["r"] = np.full(len(y_aug), math.nan)
                    return math.inf
                net.blocks[-1][0] = lstsq.coefficients(parts, y_aug)[None, :]
                U = last["U"] = parts.U
                r = U @ (U.T @ y_aug) - y_aug
            else:
                r = lin.forward().astype(np.float64) - yv
            last["r"] = r
            w = x * mask
            return 0.5 * float(r @ r) + 0.5 * lam * float(w @ w)

        def gradient(x) -> Array:
            """J into Jt at the last evaluation, x, and the gradient Jᵀr + λ·D·x there
            (J of the residuals: Kaufman's, projected off U, with varpro)."""
            if varpro:  # the evaluation left the hidden activations at x
                Jt[:, n:] = 0.0
                lin.fill(Jt, P)
                U = last["U"]
                np.subtract(Jt, (Jt @ U) @ U.T, out=Jt)
            else:
                lin.fill(Jt, P)
            return Jt @ last["r"] + lam * mask * x

        def accelerated(x, delta, grad, damping) -> Array:
            """δ + ½a, Transtrum & Sethna's geodesic acceleration (2012): a solves the
            same damped system for −Jᵀr'', r'' = (2/h)·((r(x + hδ) − r)/h − Jδ) the
            residuals' second derivative along δ by a finite difference; δ alone when
            ‖a‖ > geodesic·‖δ‖ or r'' is not finite. Jᵀr'' needs one product with J:
            Jᵀr is the gradient less the penalty's, and JᵀJδ = −grad − damping·δ."""
            evaluate(x + FD_STEP * delta)
            r_h = last["r"]
            if not np.isfinite(r_h).all():
                return delta
            Jtr = grad - lam * mask * x
            b = (2.0 / FD_STEP) * ((Jt @ r_h - Jtr) / FD_STEP + grad + damping * delta)
            a = normal.solve(-b)
            if not np.linalg.norm(a) <= accel * np.linalg.norm(delta):
                return delta
            return delta + 0.5 * a

        mu, nu = float(hp["mu"]), float(hp["mu_inc"])
        x = theta[:P].astype(np.float64)
        cost = evaluate(x)
        if varpro and not math.isfinite(cost):  # features not finite from the start
            problem.begin(session, math.nan, mu=mu)
            session.check(np.array([math.inf]))
            return
        if P == 0:  # no hidden layer: the solved output layer is the whole model
            problem.begin(session, math.nan, mu=mu)
            session.stop_all("converged")
            return
        # as the session's: against the larger of the start and predicting 0 everywhere
        limit = s.divergence_factor * max(cost, 0.5 * float(yv @ yv), 1e-300)
        steps, grad = 0, gradient(x)
        damping, following = np.empty(P), np.empty(P)
        penalty = lam * mask  # the L2 term of every trial's damping
        formed = False
        solved = {}
        if varpro:  # epoch 0 is the random-features model: the output layer solved exactly
            readout.solve(net, problem.X, problem.Y, s.l2)
            solved = {"output_solved": 1.0}
        problem.begin(session, math.nan, mu=mu, **solved)
        if varpro:
            # the ridge's first steps rise above that start by design: early stopping's end
            # is compared with it, not held to its loss (see Session.set_start_aside)
            session.set_start_aside()
            if s.epochs == 0 or not session.active.any():
                return  # no epochs: the random-features model is the run's
            cost = evaluate(x)  # back to the ridge's own output layer
        # the finite difference needs the residuals' float64 digits: float32 residuals give
        # an r'' of rounding noise (Runge, 8 units: stuck at 2.3e-4 to 3e-4 after 57–90
        # steps, against 1.1e-4 to 2.1e-4 in 300 without it), so float32 runs go without
        accel = float(hp["geodesic"]) if net.dtype == np.float64 else 0.0
        gain = bool(hp["gain_ratio"])
        for _ in session.epochs():
            if not formed:  # JᵀJ once per accepted step, when another step follows
                normal.form(Jt)
                formed = True
            accepted = False
            while mu <= hp["mu_max"]:
                steps += 1
                np.add(penalty, mu, out=damping)
                if normal.ahead is None:
                    ok = normal.factor(damping)
                else:  # the damping of the next trial, should this one be rejected,
                    # factored on a lane of its own beside this one's
                    np.add(penalty, mu * nu, out=following)
                    if normal.ready(damping):
                        ok = normal.factor(damping)
                        normal.speculate(following)
                    else:
                        normal.speculate(following)
                        ok = normal.factor(damping)
                if not ok:  # JᵀJ + D not positive definite: damp more
                    mu *= hp["mu_inc"]
                    continue
                delta = normal.solve(-grad)
                if gain:  # the decrease the quadratic model predicts for the LM step δ,
                    # H = JᵀJ + λD and (H + μI)δ = −g: −gᵀδ − ½δᵀHδ = ½(μ‖δ‖² − gᵀδ)
                    predicted = 0.5 * (mu * float(delta @ delta) - float(grad @ delta))
                if accel:
                    delta = accelerated(x, delta, grad, damping)
                new = evaluate(x + delta)
                if new < cost:
                    if gain:  # Nielsen's rule: the better the model predicted, the less μ
                        rho = (cost - new) / predicted if predicted > 0 else 1.0
                        factor = max(hp["mu_dec"], 1.0 - (2.0 * rho - 1.0) ** 3)
                    else:
                        factor = hp["mu_dec"]
                    cost, accepted, nu = new, True, float(hp["mu_inc"])
                    x = x + delta
                    # never 0 (an underflow), from which ×mu_inc would never climb back
                    mu = max(mu * factor, MU_MIN)
                    if varpro and ridge[0] > floor:
                        ridge[0] = max(0.5 * ridge[0], floor)
                        cost = evaluate(x)
                    break
                mu *= nu
                if gain:  # each further rejection in a row doubles the factor
                    nu *= 2.0
            if not accepted:
                evaluate(x)  # back from the last trial
                session.stop_all("converged")  # μ passed its limit: no step lowers the cost
                break
            session.steps[0] = steps
            if session.check(np.array([cost if cost < limit else math.inf])):
                break
            grad, formed = gradient(x), False
            if varpro:  # the output layer's gradient too (nonzero under the ridge)
                c, norms = problem.full_cost(), net.layer_norms(problem.grad)
            else:  # C = cost/n and ∂C/∂θ = gradient/n from the step's own pass and J
                c, norms = np.array([cost / n]), net.layer_norms(grad[None, :] / n)
            if session.end_epoch(c, norms, math.nan, mu=mu):
                break
        session.steps[0] = steps
