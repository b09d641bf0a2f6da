"""Forward and backward passes for training: Σρ and its gradient on one batch.

Activations are stored feature-major, (width + 1, rows) per model with a last row of
ones, so each layer is one matrix product [W_lᵀ | b_l] @ [a_{l−1}; 1] with its bias
folded in, and every activation array is contiguous for the ufuncs that follow. Every
buffer is allocated once per batch size and a step allocates nothing (but a loss
without a fast path, whose ρ and ρ' return new arrays). With one model the arrays are
2-D, with K models 3-D (one batched product per layer for all of them); the arithmetic
per model is the same, so a stack ends bit for bit where each model would alone.

A pass leaves the gradient of the *sum* Σρ, without the 1/rows of the cost: first-order
methods fold that factor into their constants (exact for the learning rate, and for
Adam's ε), which saves a pass over the residuals. Squared residuals are valued by one
dot product. With one hidden layer and one output the first layer's gradient is
diag(w)·(σ'(z) @ (x ⊙ r)ᵀ), which never forms its (width, rows) δ. Each step is a
closure over its buffers, compiled once: a handful of Python calls around the NumPy
ones (see ``make bench`` for the counts).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nnfit.engine.losses import Loss
from nnfit.engine.network import Network

Array = np.ndarray


def _lead(net: Network):
    """Strip the model axis of one network, so its products are plain 2-D ones."""
    return (lambda a: a[0]) if net.k == 1 else (lambda a: a)


def _forward_fn(act) -> Callable:
    if act.fast_forward is not None:
        return act.fast_forward
    return lambda z, out: np.copyto(out, act.f(z))


def _backward_fn(act) -> Callable:
    if act.fast_backward is not None:
        return act.fast_backward
    return lambda d, z, a, tmp: np.multiply(d, act.df(z, a), out=d)


class Pass:
    """Σρ and its gradient for ``net`` on batches of ``rows`` samples.

    ``bind(grad, vals, ratio)`` returns ``fn(x, xT, y)`` for the feature-major input
    with its ones row ``x`` (…, d + 1, rows), the same as rows ``xT`` and the targets
    ``y`` (…, out, rows), each with a leading model axis or shared by all models. It
    writes ratio·∂Σρ/∂θ into ``grad`` (K, P) and returns a number c, in units of
    Σρ/``half`` (``half`` = ½ for squared residuals, whose Σr² is one dot, else 1):
    with one model its value, with K models an upper bound of every model's value,
    which it writes into ``vals`` (K,); c is NaN when any of them is.
    """

    def __init__(self, net: Network, rows: int, loss: Loss, grad: Array | None = None):
        sq = _lead(net)
        lead = () if net.k == 1 else (net.k,)
        dt, sizes = net.dtype, net.sizes
        L = net.n_layers
        self.net, self.rows = net, rows
        self.k, self.L, self.loss, self.acts = net.k, L, loss, net.activations
        self.Wt = [sq(b) for b in net.blocks]
        self.WnT = [w[..., :, :-1].swapaxes(-1, -2) for w in self.Wt]
        self.H = [np.ones((*lead, sizes[l + 1] + 1, rows), dt) for l in range(L - 1)]
        self.HT = [h.swapaxes(-1, -2) for h in self.H]
        self.A = [h[..., :-1, :] for h in self.H] + [np.empty((*lead, sizes[-1], rows), dt)]
        self.Z = [
            np.empty_like(a) if act.needs_z else a for a, act in zip(self.A, self.acts, strict=True)
        ]
        self.D = [np.empty((*lead, s, rows), dt) for s in sizes[1:]]
        self.T = [np.empty((*lead, s, rows), dt) for s in sizes[1:]]
        self.half = 0.5 if loss.least_squares else 1.0
        self.identity_out = net.specs[-1].name == "identity"
        first = self.acts[0]
        self.rank1 = (
            L == 2
            and sizes[-1] == 1
            and first.fast_backward is not None
            and first.fast_deriv is not None
        )
        if self.rank1:
            # x ⊙ r: a wide layer's product takes it fastest as contiguous rows (3× at
            # width 2,048), a narrow one's multiply fastest written along the rows
            self.rows_major = sizes[1] * rows >= 8192
            shape = (rows, sizes[0] + 1) if self.rows_major else (sizes[0] + 1, rows)
            self.rx = np.empty((*lead, *shape), dt)
        self.ones = np.ones(net.k, dt)
        self.vals = np.zeros(net.k, dt)
        if grad is not None:
            self.fn = self.bind(grad, self.vals)

    def forward(self, x: Array) -> Array:
        """The network's output (…, out, rows) for the input ``x``; keeps z and a."""
        a = x
        for l in range(self.L):
            np.matmul(self.Wt[l], a, out=self.Z[l])
            self.acts[l].forward_(self.Z[l], self.A[l])
            a = self.H[l] if l < self.L - 1 else self.A[l]
        return a

    def run(self, x: Array, xT: Array, y: Array) -> Array:
        """Σρ per model (K,) float64, with ∂Σρ/∂θ in the buffer given at construction."""
        with np.errstate(over="ignore"):
            c = self.fn(x, xT, y)
        if self.k == 1 and self.loss.least_squares:
            return np.array([self.half * float(c)])
        return self.half * self.vals.astype(np.float64)

    # ------------------------------------------------------------------ compiled steps

    def bind(self, grad: Array, vals: Array, ratio: float = 1.0) -> Callable:
        """The step function writing into ``grad`` (K, P) and ``vals`` (K,)."""
        sq = _lead(self.net)
        G = [sq(b) for b in self.net.block_views(grad)]
        make = self._rank1 if self.rank1 else self._layers
        return make(G, vals, ratio, self._residual(vals))

    def _hidden(self, l: int) -> tuple:
        """How layer l's activation is applied: (W, Wc, c, f, z, a). With c set, f takes
        c·z: from weights scaled into Wc when that is the smaller array, else from z
        scaled in place."""
        W, z, a, act = self.Wt[l], self.Z[l], self.A[l], self.acts[l]
        if act.fast_scaled is not None and not act.needs_z:  # z is overwritten by f(z)
            c, g = act.fast_scaled
            Wc = np.empty_like(W) if self.net.sizes[l] + 1 <= self.rows else None
            return W, Wc, c, g, z, a
        return W, None, None, _forward_fn(act), z, a

    def _residual(self, vals: Array) -> Callable:
        """r = g − y into D[-1] from the output's z, its value, and r ← ρ'(r)·σ_L'(z_L):
        the general case (the common one, squares through an identity, is inlined)."""
        K, loss, r = self.k, self.loss, self.D[-1]
        z, out = self.Z[-1], self.A[-1]
        f = None if self.identity_out else _forward_fn(self.acts[-1])
        back = None if self.identity_out else _backward_fn(self.acts[-1])
        tmp, rf, ones = self.T[-1], r.reshape(-1), self.ones
        r3, r3T, vals3 = r.reshape(K, 1, -1), r.reshape(K, -1, 1), vals.reshape(K, 1, 1)
        squares, rho, drho = loss.least_squares, loss.rho, loss.drho

        def residual(y):
            if f is not None:
                f(z, out)
            np.subtract(out, y, out=r)
            if squares and K == 1:
                c = np.dot(rf, rf)
            elif squares:
                np.matmul(r3, r3T, out=vals3)
                c = np.dot(vals, ones)
            else:
                np.add.reduce(rho(r).reshape(K, -1), axis=1, out=vals)
                np.copyto(r, drho(r))
                c = vals[0] if K == 1 else vals.max()
            if back is not None:
                back(r, z, out, tmp)
            return c

        return residual

    def _squares(self, vals: Array) -> tuple:
        """What the inlined value of squares through an identity output needs:
        (inline?, one model?, r flat, r as (K, 1, rows), as (K, rows, 1), vals (K, 1, 1))."""
        K, r = self.k, self.D[-1]
        inline = self.loss.least_squares and self.identity_out
        return (
            inline,
            K == 1,
            r.reshape(-1),
            r.reshape(K, 1, -1),
            r.reshape(K, -1, 1),
            vals.reshape(K, 1, 1),
        )

    def _layers(self, G, vals, ratio, residual) -> Callable:
        L, sizes = self.L, self.net.sizes
        mm = np.dot if self.k == 1 else np.matmul  # np.dot costs less per call on 2-D
        mul, sub, dot, ones = np.multiply, np.subtract, np.dot, self.ones
        hidden = [(*self._hidden(l), self.H[l]) for l in range(L - 1)]
        Wout, zout, r = self.Wt[-1], self.Z[-1], self.D[-1]
        inline, single, rf, r3, r3T, vals3 = self._squares(vals)
        scaled = ratio != 1.0
        back = [
            (
                self.D[l],
                self.HT[l - 1],
                G[l],
                mul if sizes[l + 1] == 1 else mm,  # an outer product: a broadcast
                self.WnT[l],
                self.D[l - 1],
                _backward_fn(self.acts[l - 1]),
                self.Z[l - 1],
                self.A[l - 1],
                self.T[l - 1],
            )
            for l in range(L - 1, 0, -1)
        ]
        D0, G0 = self.D[0], G[0]

        def run(x, xT, y):
            a = x
            for W, Wc, c, f, z, act, h in hidden:
                if Wc is not None:
                    mul(W, c, out=Wc)
                    mm(Wc, a, out=z)
                else:
                    mm(W, a, out=z)
                    if c is not None:
                        mul(z, c, out=z)
                f(z, act)  # act: layer l's activations, the first rows of h
                a = h
            mm(Wout, a, out=zout)
            if inline:
                sub(zout, y, out=r)
                if single:
                    v = dot(rf, rf)
                else:
                    np.matmul(r3, r3T, out=vals3)  # a dot per model, as alone
                    v = dot(vals, ones)  # all ≥ 0: their sum bounds each
            else:
                v = residual(y)
            if scaled:
                mul(r, ratio, out=r)
            for d, hT, g, prop, WnT, d_prev, bwd, z, a_prev, t in back:
                mm(d, hT, out=g)
                prop(WnT, d, out=d_prev)
                bwd(d_prev, z, a_prev, t)
            mm(D0, xT, out=G0)
            return v

        return run

    def _rank1(self, G, vals, ratio, residual) -> Callable:
        """One hidden layer, one output: ∂/∂[W_0ᵀ | b_0] = diag(w)·(σ'(z_0) @ (x ⊙ r)ᵀ)."""
        mm = np.dot if self.k == 1 else np.matmul
        mul, sub, dot, ones = np.multiply, np.subtract, np.dot, self.ones
        W0, Wc, c, f, z, a = self._hidden(0)
        W1, zout, h, hT = self.Wt[1], self.Z[1], self.H[0], self.HT[0]
        r, t = self.D[-1], self.T[0]
        rT = r.swapaxes(-1, -2)
        inline, single, rf, r3, r3T, vals3 = self._squares(vals)
        scaled = ratio != 1.0
        deriv = self.acts[0].fast_deriv
        w = self.WnT[1]  # (…, width, 1): the output weights as a column
        rows_major, rx = self.rows_major, self.rx
        rxT = rx if rows_major else rx.swapaxes(-1, -2)
        G0, G1 = G

        def run(x, xT, y):
            if Wc is not None:
                mul(W0, c, out=Wc)
                mm(Wc, x, out=z)
            else:
                mm(W0, x, out=z)
                if c is not None:
                    mul(z, c, out=z)
            f(z, a)
            mm(W1, h, out=zout)
            if inline:
                sub(zout, y, out=r)
                if single:
                    v = dot(rf, rf)
                else:
                    np.matmul(r3, r3T, out=vals3)  # a dot per model, as alone
                    v = dot(vals, ones)  # all ≥ 0: their sum bounds each
            else:
                v = residual(y)
            if scaled:
                mul(r, ratio, out=r)
            mm(r, hT, out=G1)
            deriv(z, a, t)
            if rows_major:
                mul(xT, rT, out=rxT)
            else:
                mul(x, r, out=rx)
            mm(t, rxT, out=G0)
            mul(G0, w, out=G0)
            return v

        return run
