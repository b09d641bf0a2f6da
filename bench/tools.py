"""One training loop per tool, each returning (seconds in the loop, final training MSE).

Every tool starts from the same weights and sees the same data; nnfit, the bare NumPy
loop and PyTorch also use the same per-epoch shuffles (scikit-learn shuffles with its
own generator and cannot be given ours).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from workloads import W4_SEEDS, initial_params, make_data, shuffle_rng, shuffles


def mse(g, y):
    return float(np.mean((np.ravel(g) - np.ravel(y)) ** 2))


# ---------------------------------------------------------------------------- nnfit


def _nnfit_net(spec, params, dtype="float64"):
    from nnfit.engine.network import Network

    n_layers = len(params)
    net = Network(spec["sizes"], [spec["act"]] * (n_layers - 1) + ["identity"], dtype)
    for (W, b), (W0, b0) in zip(net.params(), params, strict=True):
        W[...] = W0
        b[...] = b0
    return net


def _settings(spec):
    from nnfit.engine.loop import TrainSettings

    full = spec["batch"] >= spec["n"]
    return TrainSettings(
        optimizer=spec["optimizer"],
        lr=spec["lr"],
        epochs=spec["epochs"],
        batch_size=None if full else spec["batch"],
        patience=None,
    )


def nnfit(spec, dtype="float64"):
    """nnfit's own trainer, with its per-epoch bookkeeping (history, gradient norms)."""
    from nnfit.engine.loop import train

    X, y = make_data(spec)
    net = _nnfit_net(spec, initial_params(spec), dtype)
    res = train(net, X, y, settings=_settings(spec), rng=shuffle_rng())
    return res.wall_s, mse(net.predict(X), y)


def nnfit_float32(spec):
    return nnfit(spec, "float32")


def nnfit_ensemble(spec):
    """W4: W1 for several seeds as one stacked ensemble."""
    from nnfit.engine.stack import train_stack

    X, y = make_data(spec)
    nets = [_nnfit_net(spec, initial_params(spec, seed)) for seed in range(W4_SEEDS)]
    t0 = time.perf_counter()
    train_stack(
        nets, X, y, None, None, _settings(spec), [shuffle_rng(seed) for seed in range(W4_SEEDS)]
    )
    wall = time.perf_counter() - t0
    return wall / W4_SEEDS, float(np.mean([mse(n.predict(X), y) for n in nets]))


# ---------------------------------------------------------------------------- bare NumPy


def _act(name):
    if name == "tanh":
        return np.tanh, lambda z, a: 1 - a * a
    if name == "relu":
        return lambda z: np.maximum(z, 0), lambda z, a: z > 0
    return (lambda z: 1 / (1 + np.exp(-z))), lambda z, a: a * (1 - a)


def numpy_loop(spec, seed=0):
    """The loop one writes by hand: per-layer arrays, Adam (or GD) on each array."""
    X, y = make_data(spec)
    params = initial_params(spec, seed)
    Ws = [W.copy() for W, _ in params]
    bs_ = [b.copy() for _, b in params]
    f, df = _act(spec["act"])
    ms = [np.zeros_like(p) for p in Ws + bs_]
    vs = [np.zeros_like(p) for p in Ws + bs_]
    b1, b2, eps, lr, bs = 0.9, 0.999, 1e-8, spec["lr"], spec["batch"]
    L = len(Ws)
    adam = spec["optimizer"] == "adam"
    perms = shuffles(len(X), spec["epochs"], seed) if bs < len(X) else None
    t = 0
    t0 = time.perf_counter()
    for e in range(spec["epochs"]):
        Xs, ys = (X[perms[e]], y[perms[e]]) if perms is not None else (X, y)
        for i in range(0, len(X), bs):
            xb, yb = Xs[i : i + bs], ys[i : i + bs]
            acts, zs = [xb], []
            for l in range(L):
                z = acts[-1] @ Ws[l] + bs_[l]
                zs.append(z)
                if l < L - 1:
                    acts.append(f(z))
            r = zs[-1] - yb
            _loss = 0.5 * np.mean(r * r)
            delta = r / len(xb)
            gWs, gbs = [None] * L, [None] * L
            for l in range(L - 1, -1, -1):
                gWs[l] = acts[l].T @ delta
                gbs[l] = delta.sum(axis=0)
                if l:
                    delta = (delta @ Ws[l].T) * df(zs[l - 1], acts[l])
            t += 1
            if adam:
                c1, c2 = 1 - b1**t, 1 - b2**t
                for p, g, m, v in zip(Ws + bs_, gWs + gbs, ms, vs, strict=True):
                    m *= b1
                    m += (1 - b1) * g
                    v *= b2
                    v += (1 - b2) * g * g
                    p -= (lr / c1) * m / (np.sqrt(v / c2) + eps)
            else:
                for p, g in zip(Ws + bs_, gWs + gbs, strict=True):
                    p -= lr * g
    wall = time.perf_counter() - t0
    a = X
    for l in range(L):
        a = a @ Ws[l] + bs_[l]
        if l < L - 1:
            a = f(a)
    return wall, mse(a, y)


def numpy_seeds(spec):
    """W4 for the bare loop: the seeds one after another."""
    out = [numpy_loop(spec, seed) for seed in range(W4_SEEDS)]
    return sum(w for w, _ in out) / W4_SEEDS, float(np.mean([m for _, m in out]))


# ---------------------------------------------------------------------------- scikit-learn


def sklearn(spec):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    X, y = make_data(spec)
    params = initial_params(spec)
    act = {"tanh": "tanh", "relu": "relu", "sigmoid": "logistic"}[spec["act"]]
    full = spec["batch"] >= spec["n"]
    kw = (
        {"solver": "sgd", "momentum": 0.0, "nesterovs_momentum": False}
        if full
        else {"solver": "adam"}
    )
    model = MLPRegressor(
        hidden_layer_sizes=tuple(spec["sizes"][1:-1]),
        activation=act,
        batch_size=min(spec["batch"], spec["n"]),
        learning_rate_init=spec["lr"],
        alpha=0.0,
        shuffle=True,
        random_state=0,
        tol=0.0,
        n_iter_no_change=10**9,
        warm_start=True,
        max_iter=1,
        **kw,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X[:8], y[:8, 0])  # allocate, then start from the shared weights
        model.coefs_ = [W.copy() for W, _ in params]
        model.intercepts_ = [b.copy() for _, b in params]
        model.max_iter = spec["epochs"]
        t0 = time.perf_counter()
        model.fit(X, y[:, 0])
        wall = time.perf_counter() - t0
    return wall, mse(model.predict(X), y)


# ---------------------------------------------------------------------------- PyTorch


def torch_eager(spec):
    import torch

    X, y = make_data(spec)
    params = initial_params(spec)
    layers = []
    for i, (W, b) in enumerate(params):
        lin = torch.nn.Linear(W.shape[0], W.shape[1], dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(params) - 1:
            layers.append(
                {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid}[
                    spec["act"]
                ]()
            )
    model = torch.nn.Sequential(*layers)
    opt = (
        torch.optim.Adam(model.parameters(), lr=spec["lr"])
        if spec["optimizer"] == "adam"
        else torch.optim.SGD(model.parameters(), lr=spec["lr"])
    )
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    bs = spec["batch"]
    perms = shuffles(len(X), spec["epochs"]) if bs < len(X) else None
    t0 = time.perf_counter()
    for e in range(spec["epochs"]):
        if perms is not None:
            idx = torch.from_numpy(perms[e])
            Xs, ys = Xt[idx], yt[idx]
        else:
            Xs, ys = Xt, yt
        for i in range(0, len(X), bs):
            opt.zero_grad(set_to_none=True)
            r = model(Xs[i : i + bs]) - ys[i : i + bs]
            loss = 0.5 * (r * r).mean()
            loss.backward()
            opt.step()
    wall = time.perf_counter() - t0
    with torch.no_grad():
        return wall, mse(model(Xt).numpy(), y)


TOOLS = {
    "nnfit": nnfit,
    "nnfit-float32": nnfit_float32,
    "nnfit-stack": nnfit_ensemble,
    "numpy": numpy_loop,
    "numpy-seeds": numpy_seeds,
    "sklearn": sklearn,
    "torch": torch_eager,
}
