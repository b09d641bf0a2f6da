"""The in-process tools: the NumPy floor, scikit-learn, PyTorch and JAX.

Each is a class built from a workload spec whose ``run(X, y, params_list, perms_list,
epochs)`` trains every model of ``params_list`` from those weights and returns the
trained [(W, b), ...] per model; ``compile_s`` is the compile time spent so far (JAX
only). Every tool minimises C = ½·mean((g − y)²) from the same weights on the same data
with the same shuffles, except scikit-learn, which shuffles with its own generator.
nnfit is not here: it is measured as a user runs it (:mod:`as_user`).
"""

from __future__ import annotations

import warnings

import floor


class Floor:
    """bench/floor.py: one model at a time (W3: the naive full-batch loop)."""

    compile_s = 0.0

    def __init__(self, spec: dict):
        self.spec = spec

    def run(self, X, y, params_list, perms_list, epochs):
        spec = dict(self.spec, epochs=epochs)
        return [floor.train(spec, X, y, p, q) for p, q in zip(params_list, perms_list, strict=True)]


class FloorStacked(Floor):
    """All models at once as one stack (each with its own shuffles)."""

    def run(self, X, y, params_list, perms_list, epochs):
        return floor.train_many(dict(self.spec, epochs=epochs), X, y, params_list, perms_list)


class FloorBlocked(Floor):
    """Full batch in cache-sized column blocks over two threads."""

    def run(self, X, y, params_list, perms_list, epochs):
        spec = dict(self.spec, epochs=epochs)
        return [floor.train_blocked(spec, X, y, p, threads=2, chunk=64) for p in params_list]


class Sklearn:
    """MLPRegressor from the shared weights: fitted once on a few points so that it
    allocates its state, then given our weights and refitted with warm_start. Its loss
    is also ½·mean(r²); full batch is solver="sgd" without momentum."""

    compile_s = 0.0

    def __init__(self, spec: dict):
        self.spec = spec

    def run(self, X, y, params_list, perms_list, epochs):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor

        spec = self.spec
        full = spec["batch"] is None
        solver = (
            {"solver": "sgd", "momentum": 0.0, "nesterovs_momentum": False, "shuffle": False}
            if full
            else {"solver": "adam", "shuffle": True}
        )
        out = []
        for seed, params in enumerate(params_list):
            model = MLPRegressor(
                hidden_layer_sizes=tuple(spec["sizes"][1:-1]),
                activation={"sigmoid": "logistic"}.get(spec["act"], spec["act"]),
                batch_size=len(X) if full else spec["batch"],
                learning_rate_init=spec["lr"],
                alpha=0.0,
                tol=0.0,
                n_iter_no_change=10**9,
                random_state=seed,
                warm_start=True,
                max_iter=1,
                **solver,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X[:8], y[:8, 0])
                model.coefs_ = [W.copy() for W, _ in params]
                model.intercepts_ = [b.copy() for _, b in params]
                model.max_iter = epochs
                model.fit(X, y[:, 0])
            out.append(list(zip(model.coefs_, model.intercepts_, strict=True)))
        return out


class Torch:
    """PyTorch eager, nn.Sequential, torch.optim.Adam (or SGD), default threads."""

    compile_s = 0.0

    def __init__(self, spec: dict):
        import torch

        self.torch, self.spec = torch, spec

    def _model(self, params):
        torch, act = self.torch, self.spec["act"]
        layers = []
        for i, (W, b) in enumerate(params):
            lin = torch.nn.Linear(*W.shape, dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W.T.copy()))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
            if i < len(params) - 1:
                layers.append(
                    {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}.get(act, torch.nn.Sigmoid)()
                )
        return torch.nn.Sequential(*layers)

    def run(self, X, y, params_list, perms_list, epochs):
        torch, spec = self.torch, self.spec
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        out = []
        for params, perms in zip(params_list, perms_list, strict=True):
            model = self._model(params)
            if spec["optimizer"] == "adam":
                opt = torch.optim.Adam(model.parameters(), lr=spec["lr"])
            else:
                opt = torch.optim.SGD(model.parameters(), lr=spec["lr"])
            batch = spec["batch"] or len(X)
            for e in range(epochs):
                if perms is None:
                    Xe, ye = Xt, yt
                else:
                    idx = torch.from_numpy(perms[e])
                    Xe, ye = Xt[idx], yt[idx]
                for i in range(0, len(X), batch):
                    opt.zero_grad(set_to_none=True)
                    r = model(Xe[i : i + batch]) - ye[i : i + batch]
                    (0.5 * (r * r).mean()).backward()
                    opt.step()
            lins = [m for m in model if isinstance(m, torch.nn.Linear)]
            out.append(
                [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in lins]
            )
        return out


def _jax(mode):
    def make(spec):
        from jax_tools import JaxTrainer

        return JaxTrainer(spec, mode)

    return make


#: tool → (trainer class, workloads it runs); W4 is W1 for several seeds
TOOLS = {
    "numpy": (Floor, ("W1", "W2", "W3", "W4")),
    "numpy-batched": (FloorStacked, ("W4",)),
    "numpy-chunk2t": (FloorBlocked, ("W3",)),
    "jax-scan": (_jax("scan"), ("W1", "W2", "W3")),
    "jax-vmap": (_jax("vmap"), ("W4",)),
    "torch": (Torch, ("W1", "W2", "W3")),
    "sklearn": (Sklearn, ("W1", "W2", "W3")),
}
#: the package each tool needs, for tools that are optional
NEEDS = {"jax-scan": "jax", "jax-vmap": "jax", "torch": "torch", "sklearn": "sklearn"}
