"""JAX trainers: one jitted epoch as a ``lax.scan`` over its mini-batches, and the same
epoch ``vmap``-ped over a stack of seeds.

Compilation (trace, lower, XLA compile) is timed on its own through
``jax.jit(f).lower(...).compile()`` and reported apart from training time. Adam follows
PyTorch's formula and the loss is C = ½·mean((g − y)²), as in every other tool.
"""

from __future__ import annotations

import time

import numpy as np


class JaxTrainer:
    """``mode`` is "scan" (one model at a time; full batch: the whole run in one
    ``lax.fori_loop``) or "vmap" (all models of the stack at once)."""

    def __init__(self, spec: dict, mode: str = "scan", dtype: str = "float64"):
        import jax

        jax.config.update("jax_enable_x64", dtype == "float64")
        import jax.numpy as jnp
        from jax import lax

        self.jax, self.jnp, self.lax = jax, jnp, lax
        self.spec, self.mode = spec, mode
        self.compiled, self.compile_s = {}, 0.0
        self._define()

    def _define(self):
        jax, jnp, lax, spec = self.jax, self.jnp, self.lax, self.spec
        act = {"tanh": jnp.tanh, "relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid}[spec["act"]]
        lr, batch = spec["lr"], spec["batch"]
        b1, b2, eps = 0.9, 0.999, 1e-8
        tree = jax.tree_util.tree_map

        def predict(params, x):
            for W, b in params[:-1]:
                x = act(x @ W + b)
            W, b = params[-1]
            return x @ W + b

        def cost(params, x, y):
            return 0.5 * jnp.mean((predict(params, x) - y) ** 2)

        grad = jax.grad(cost)

        def adam_step(state, xy):
            params, m, v, t = state
            g = grad(params, *xy)
            t = t + 1
            m = tree(lambda m_, g_: b1 * m_ + (1 - b1) * g_, m, g)
            v = tree(lambda v_, g_: b2 * v_ + (1 - b2) * g_ * g_, v, g)
            k, c2 = lr / (1 - b1**t), jnp.sqrt(1 - b2**t)
            params = tree(lambda p, m_, v_: p - k * m_ / (jnp.sqrt(v_) / c2 + eps), params, m, v)
            return (params, m, v, t), None

        def epoch(state, X, Y, perm):
            shape = (X.shape[0] // batch, batch)
            xs = (X[perm].reshape(*shape, X.shape[1]), Y[perm].reshape(*shape, Y.shape[1]))
            return lax.scan(adam_step, state, xs)[0]

        def full_batch(params, X, Y, steps):
            def gd(_, p):
                return tree(lambda p_, g_: p_ - lr * g_, p, grad(p, X, Y))

            return lax.fori_loop(0, steps, gd, params)

        self.fns = {
            "epoch": epoch,
            "epoch_vmap": jax.vmap(epoch, in_axes=(0, None, None, 0)),
            "full_batch": full_batch,
        }

    def _compiled(self, name, *args):
        if name not in self.compiled:
            t0 = time.perf_counter()
            fn = self.jax.jit(self.fns[name], donate_argnums=(0,))
            self.compiled[name] = fn.lower(*args).compile()
            self.compile_s += time.perf_counter() - t0
        return self.compiled[name]

    def _state(self, params):
        jnp = self.jnp
        p = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
        zeros = [(jnp.zeros_like(W), jnp.zeros_like(b)) for W, b in p]
        return (p, zeros, [(z.copy(), c.copy()) for z, c in zeros], jnp.zeros((), p[0][0].dtype))

    def run(self, X, y, params_list, perms_list, epochs):
        jnp = self.jnp
        Xd, Yd = jnp.asarray(X), jnp.asarray(y)
        if self.spec["batch"] is None:
            out = []
            for params in params_list:
                p = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
                steps = jnp.int32(epochs)
                p = self._compiled("full_batch", p, Xd, Yd, steps)(p, Xd, Yd, steps)
                out.append([(np.asarray(W), np.asarray(b)) for W, b in p])
            return out
        if self.mode == "vmap":
            states = [self._state(p) for p in params_list]
            state = self.jax.tree_util.tree_map(lambda *a: jnp.stack(a), *states)
            order = np.stack(perms_list, axis=1)  # (epochs, S, n)
            f = self._compiled("epoch_vmap", state, Xd, Yd, jnp.asarray(order[0]))
            for e in range(epochs):
                state = f(state, Xd, Yd, jnp.asarray(order[e]))
            p = [(np.asarray(W), np.asarray(b)) for W, b in state[0]]
            return [[(W[k], b[k]) for W, b in p] for k in range(len(params_list))]
        out = []
        for params, perms in zip(params_list, perms_list, strict=True):
            state = self._state(params)
            f = self._compiled("epoch", state, Xd, Yd, jnp.asarray(perms[0]))
            for e in range(epochs):
                state = f(state, Xd, Yd, jnp.asarray(perms[e]))
            out.append([(np.asarray(W), np.asarray(b)) for W, b in state[0]])
        return out
