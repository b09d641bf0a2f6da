"""The floor: the fastest plain-NumPy training loop we know how to write by hand.

Every NumPy engine pays at least this much per step, so ``make bench`` divides by it.
What makes it fast, in order of what it saves on small networks:

* Feature-major blocks. Layer l keeps its activations as ``H[l]`` of shape
  (f_l + 1, rows) whose last row is ones, and its weights as ``[Wᵀ | b]`` of shape
  (f_out, f_in + 1), so one product ``z = [Wᵀ | b] @ H`` includes the bias and the
  bias gradient is the last column of ``D @ Hᵀ``. The first f_l rows of ``H`` are
  contiguous, so activation ufuncs run as one flat loop.
* One flat parameter vector θ; the layers are views into it, and so are the layers of
  the flat gradient. The optimizer is a handful of in-place ufunc calls on the whole
  vector: Adam takes eight, whatever the depth.
* Nothing is allocated per step: every call writes through ``out=``. The gradient is
  left unscaled (Σ over the rows of r·∂g/∂θ); the factor s = 1/(rows·n_out) of
  C = ½·mean(r²) goes into the learning rate (GD) or into Adam's ε (Adam is invariant
  to the scale of g but for ε: ε → ε/s gives the very same steps).
* The data are kept feature-major as columns [x; 1; y]; each epoch's shuffle is one
  ``np.take(..., axis=1, out=)`` into a preallocated buffer whose mini-batches are
  views made once.
* A layer with one output unit back-propagates by a broadcast multiply (an outer
  product), which costs less than a matrix product; with one hidden layer that outer
  product is folded into the small matrices instead and never formed.

Full batch (W3) comes as the naive loop (the whole batch at once, which streams every
activation through memory several times per step) and blocked: column blocks small
enough to stay in cache, split over two threads with BLAS on one thread each, one
gradient row per block summed at the end.

Every trainer takes [(W (fan_in, fan_out), b), ...], the data (n, d), (n, n_out) and
the per-epoch permutations, and returns the trained [(W, b), ...].
"""

from __future__ import annotations

import itertools
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# ------------------------------------------------------------------ activations in place


def _tanh(z):
    np.tanh(z, out=z)


def _tanh_deriv(a, t):  # t = 1 - a²
    np.multiply(a, a, out=t)
    np.subtract(1.0, t, out=t)


def _sigmoid(u):  # given u = -z: 1 / (1 + e^u); dividing into 1.0 beats np.reciprocal
    np.exp(u, out=u)
    np.add(u, 1.0, out=u)
    np.divide(1.0, u, out=u)


def _sigmoid_deriv(a, t):  # t = a (1 - a)
    np.subtract(1.0, a, out=t)
    np.multiply(t, a, out=t)


def _relu(z):
    np.maximum(z, 0.0, out=z)


def _relu_deriv(a, t):  # t = [a > 0]
    np.greater(a, 0.0, out=t)


#: name → (f in place, f'(z) written into t from the activation a = f(z), sign). The
#: forward gets sign·z: the sigmoid takes −z from negated weights (a small matrix)
#: rather than spend a pass negating the (width, rows) block.
ACTIVATIONS = {
    "tanh": (_tanh, _tanh_deriv, 1),
    "sigmoid": (_sigmoid, _sigmoid_deriv, -1),
    "relu": (_relu, _relu_deriv, 1),
}

# ------------------------------------------------------------------ flat parameters


def n_params(sizes) -> int:
    return sum(o * (i + 1) for i, o in itertools.pairwise(sizes))


def blocks(flat, sizes):
    """Views of ``flat`` (..., P) as the layers' [Wᵀ | b], each (..., f_out, f_in + 1)."""
    out, at = [], 0
    lead = flat.shape[:-1]
    for i, o in itertools.pairwise(sizes):
        out.append(flat[..., at : at + o * (i + 1)].reshape(*lead, o, i + 1))
        at += o * (i + 1)
    return out


def pack(params, block_list):
    for blk, (W, b) in zip(block_list, params, strict=True):
        blk[..., :-1] = np.swapaxes(W, -1, -2)
        blk[..., -1] = b


def unpack(block_list):
    return [(np.swapaxes(blk[..., :-1], -1, -2).copy(), blk[..., -1].copy()) for blk in block_list]


# ------------------------------------------------------------------ forward and backward


class Net:
    """Preallocated buffers for ``rows`` columns of one model, or of a stack of models
    when θ has a leading axis (then every product is a batched ``np.matmul``)."""

    def __init__(self, sizes, act: str, theta, rows: int):
        lead, dt = theta.shape[:-1], theta.dtype
        self.sizes = list(sizes)
        self.Wb = blocks(theta, sizes)
        self.W = [np.swapaxes(w[..., :-1], -1, -2) for w in self.Wb]  # (f_in, f_out) views
        self.H = [np.ones((*lead, f + 1, rows), dt) for f in sizes[1:-1]]
        self.T = [np.empty((*lead, f, rows), dt) for f in sizes[1:-1]]
        self.rank1 = len(self.Wb) == 2 and sizes[-1] == 1
        if self.rank1:  # no D_0 (see _backprop_rank1), but x ⊙ r
            self.D = [None, np.empty((*lead, 1, rows), dt)]
            self.rx = np.empty((*lead, sizes[0] + 1, rows), dt)
        else:
            self.D = [np.empty((*lead, f, rows), dt) for f in sizes[1:]]
        self.mm = np.matmul if lead else np.dot  # np.dot costs less per call on 2-D
        self.act = ACTIVATIONS[act]
        # the hidden layers' weights as the forward uses them: negated copies if sign < 0
        self.Wf = [np.empty_like(w) for w in self.Wb[:-1]] if self.act[2] < 0 else self.Wb[:-1]

    def backprop(self, grad):
        """A function ``(x, xT, y)`` that writes Σ_rows r·∂g/∂θ (r = g − y) into the
        flat ``grad``; x (d + 1, rows) carries the ones row, xT is its transpose, y
        (n_out, rows). Returns the residual block r.

        dC/d[Wᵀ | b]_l = D_l @ H_{l-1}ᵀ,  D_{l-1} = (W_l @ D_l) ⊙ f'(z_{l-1}).
        """
        if self.rank1:
            return self._backprop_rank1(grad)
        mm, sub, mul = self.mm, np.subtract, np.multiply
        fwd, deriv, sign = self.act
        gWb = blocks(grad, self.sizes)
        H, D, T, W, Wb = self.H, self.D, self.T, self.W, self.Wb
        L = len(Wb)
        hidden = [(self.Wf[l], H[l][..., :-1, :], H[l]) for l in range(L - 1)]
        negate = list(zip(Wb[:-1], self.Wf, strict=True)) if sign < 0 else []
        last, out = Wb[-1], D[-1]
        steps = [
            (
                D[l],
                np.swapaxes(H[l - 1], -1, -2),
                gWb[l],
                mul if self.sizes[l + 1] == 1 else mm,  # an outer product: broadcast
                W[l],
                D[l - 1],
                H[l - 1][..., :-1, :],
                T[l - 1],
            )
            for l in range(L - 1, 0, -1)
        ]
        first, D0 = gWb[0], D[0]

        def run(x, xT, y):
            for src, dst in negate:
                np.negative(src, out=dst)
            a = x
            for Wl, z, h in hidden:
                mm(Wl, a, out=z)
                fwd(z)
                a = h
            mm(last, a, out=out)
            sub(out, y, out=out)
            for d, hT, g, prop, Wl, d_prev, a_prev, t in steps:
                mm(d, hT, out=g)
                prop(Wl, d, out=d_prev)
                deriv(a_prev, t)
                mul(d_prev, t, out=d_prev)
            mm(D0, xT, out=first)
            return out

        return run

    def _backprop_rank1(self, grad):
        """One hidden layer and one output: D_0 = (w ⊗ r) ⊙ f'(z_0) is rank one times
        f', so dC/d[Wᵀ | b]_0 = diag(w)·(f'(z_0) @ (x ⊙ r)ᵀ) never forms D_0, which
        saves two passes over the (width, rows) block."""
        mm, sub, mul = self.mm, np.subtract, np.multiply
        fwd, deriv, sign = self.act
        g0, g1 = blocks(grad, self.sizes)
        W0b, W1b = self.Wb
        W0f = self.Wf[0]
        w = self.W[1]
        h = self.H[0]
        a, hT, t, out = h[..., :-1, :], np.swapaxes(h, -1, -2), self.T[0], self.D[1]
        rx = self.rx
        rxT = np.swapaxes(rx, -1, -2)

        def run(x, xT, y):
            if sign < 0:
                np.negative(W0b, out=W0f)
            mm(W0f, x, out=a)
            fwd(a)
            mm(W1b, h, out=out)
            sub(out, y, out=out)
            mm(out, hT, out=g1)
            deriv(a, t)
            mul(x, out, out=rx)
            mm(t, rxT, out=g0)
            mul(g0, w, out=g0)
            return out

        return run


# ------------------------------------------------------------------ optimizers


def adam(theta, grad_pair, lr: float, scale: float, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam (PyTorch's form) on the flat θ, for gradients scale·u with u written into
    ``grad_pair[0]``; ``grad_pair[1]`` is scratch for u². Returns ``step()``.

    The moments are kept as m̃ = m/(1 − β1) and ṽ = v/(1 − β2) of u, so both update
    in two calls ([m̃; ṽ] ← [β1; β2]·[m̃; ṽ] + [u; u²]); then
    θ ← θ − k_t·m̃ / (√ṽ + e_t) with k_t = lr·(1 − β1)/(1 − β1^t)·√((1 − β2^t)/(1 − β2))
    and e_t = ε/scale·√((1 − β2^t)/(1 − β2)), which is lr·m̂/(√v̂ + ε) for the gradient.
    """
    shape = (2,) + (1,) * theta.ndim
    betas = np.array([beta1, beta2], theta.dtype).reshape(shape)
    moments = np.zeros_like(grad_pair)
    m, v, g, g2 = moments[0], moments[1], grad_pair[0], grad_pair[1]
    t_buf = np.empty_like(theta)
    mul, add, sqrt, div, sub = np.multiply, np.add, np.sqrt, np.divide, np.subtract
    count = [0]

    def step():
        count[0] += 1
        t = count[0]
        c2 = math.sqrt((1.0 - beta2**t) / (1.0 - beta2))
        k = lr * (1.0 - beta1) / (1.0 - beta1**t) * c2
        mul(g, g, out=g2)
        mul(moments, betas, out=moments)
        add(moments, grad_pair, out=moments)
        sqrt(v, out=t_buf)
        add(t_buf, eps / scale * c2, out=t_buf)
        div(m, t_buf, out=t_buf)
        mul(t_buf, k, out=t_buf)
        sub(theta, t_buf, out=theta)

    return step


def gd(theta, grad, lr: float, scale: float):
    """θ ← θ − lr·scale·u for the unscaled gradient u in ``grad``. Returns ``step()``."""
    c = lr * scale

    def step():
        np.multiply(grad, c, out=grad)
        np.subtract(theta, grad, out=theta)

    return step


# ------------------------------------------------------------------ trainers


def _records(X, y, dtype):
    """Columns [x | 1 | y], feature-major: (d + 1 + n_out, n)."""
    n, d = X.shape
    R = np.empty((d + 1 + y.shape[1], n), dtype)
    R[:d], R[d], R[d + 1 :] = X.T, 1.0, y.T
    return R


def _optimizer(spec, theta, pair, rows, n_out):
    scale = 1.0 / (rows * n_out)
    if spec["optimizer"] == "adam":
        return adam(theta, pair, spec["lr"], scale)
    return gd(theta, pair[0], spec["lr"], scale)


def _setup(spec, params_list, dtype):
    sizes = spec["sizes"]
    stacked = len(params_list) > 1
    lead = (len(params_list),) if stacked else ()
    theta = np.zeros((*lead, n_params(sizes)), dtype)
    views = blocks(theta, sizes)
    for k, params in enumerate(params_list):
        pack(params, [v[k] for v in views] if stacked else views)
    return theta, views, stacked


def _result(views, stacked, count):
    if not stacked:
        return [unpack(views)]
    return [unpack([v[k] for v in views]) for k in range(count)]


def train_many(spec, X, y, params_list, perms_list, dtype="float64"):
    """Minibatch (or naive full-batch) training of one model, or of several stacked.

    ``params_list`` holds one parameter list per model; ``perms_list`` one (epochs, n)
    array of permutations per model (None for full batch). Several models train at
    once as a stack with the same data, each with its own shuffles.
    """
    sizes, n, d = spec["sizes"], X.shape[0], X.shape[1]
    n_out = y.shape[1]
    theta, views, stacked = _setup(spec, params_list, dtype)
    rows = n if spec["batch"] is None else spec["batch"]
    pair = np.zeros((2, *theta.shape), dtype)
    step = _optimizer(spec, theta, pair, rows, n_out)
    run = Net(sizes, spec["act"], theta, rows).backprop(pair[0])
    R = _records(X, y, dtype)
    if spec["batch"] is None:
        x, yt = R[: d + 1], R[d + 1 :]
        for _ in range(spec["epochs"]):
            run(x, x.T, yt)
            step()
        return _result(views, stacked, len(params_list))
    order = np.stack(perms_list) if stacked else perms_list[0]  # ([S,] epochs, n)
    if stacked:
        order = np.ascontiguousarray(order.swapaxes(0, 1))  # (epochs, S, n)
    buf = np.empty((R.shape[0], *theta.shape[:-1], n), dtype)  # (k, [S,] n)
    batches = []
    for i in range(0, n - rows + 1, rows):
        x = np.moveaxis(buf[: d + 1, ..., i : i + rows], 0, -2)  # ([S,] d + 1, rows)
        batches.append(
            (x, np.swapaxes(x, -1, -2), np.moveaxis(buf[d + 1 :, ..., i : i + rows], 0, -2))
        )
    take = np.take
    for e in range(spec["epochs"]):
        take(R, order[e], axis=1, out=buf)
        for x, xT, yb in batches:
            run(x, xT, yb)
            step()
    return _result(views, stacked, len(params_list))


def train(spec, X, y, params, perms, dtype="float64"):
    """One model: ``train_many`` for a list of one."""
    return train_many(spec, X, y, [params], [perms], dtype)[0]


def train_blocked(spec, X, y, params, threads: int = 2, chunk: int = 64, dtype="float64"):
    """Full-batch GD in column blocks of ``chunk`` points, spread over ``threads``
    Python threads (NumPy and BLAS release the GIL; BLAS is held to one thread so the
    two do not fight). Threads take the next block as they come free, so one that the
    system holds up does not hold up the step; each block writes its gradient into its
    own row of a (blocks, P) array, so one sum gives the full-batch gradient, the same
    whichever thread did which block.
    """
    from threadpoolctl import threadpool_limits

    sizes, (n, d) = spec["sizes"], X.shape
    if n % chunk:
        raise ValueError(f"n = {n} is not a multiple of chunk = {chunk}")
    theta, views, _ = _setup(spec, [params], dtype)
    R = _records(X, y, dtype)
    blocks_in = [
        (R[: d + 1, i : i + chunk], R[: d + 1, i : i + chunk].T, R[d + 1 :, i : i + chunk])
        for i in range(0, n, chunk)
    ]
    rows_g = np.zeros((len(blocks_in), theta.size), dtype)
    grad = np.zeros(theta.size, dtype)
    step = gd(theta, grad, spec["lr"], 1.0 / (n * y.shape[1]))
    lanes = []  # per thread: its own buffers, one bound pass per block
    for _ in range(threads):
        net = Net(sizes, spec["act"], theta, chunk)
        lanes.append([net.backprop(g) for g in rows_g])
    jobs = list(zip(*lanes, blocks_in, strict=True))  # (pass of lane 0, ..., inputs)
    queue = [iter(())]

    def lane(k):
        for job in queue[0]:  # a shared iterator: each block is taken once
            job[k](*job[-1])

    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(max(1, threads - 1)) as pool:
        for _ in range(spec["epochs"]):
            queue[0] = iter(jobs)
            pending = [pool.submit(lane, k) for k in range(1, threads)]
            lane(0)
            for p in pending:
                p.result()
            np.sum(rows_g, axis=0, out=grad)
            step()
    return unpack(views)
