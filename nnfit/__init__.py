"""nnfit: experiments that show how well feed-forward networks approximate functions.

From Python (README, "nnfit from Python")::

    import nnfit

    run = nnfit.run("experiments/quick.yaml")       # or a dict with the file's keys
    run.metrics["test"]["rmse"], run.fit_figure()
    s = nnfit.sweep("experiments/quick.yaml", widths=[4, 16, 64], seeds=2)
    s.rows, s.figure()
    model = nnfit.load("results/quick-sine/w64-tanh-adam-s0-beb358db")
    model.predict([[0.1], [0.25]])

    reg = nnfit.Regressor(hidden=(64,)).fit(X, y)   # a scikit-learn estimator

The engine alone: ``nnfit.Network``, ``nnfit.TrainSettings``, ``nnfit.train``.
"""

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "History",
    "Interrupted",
    "Model",
    "Network",
    "Regressor",
    "ResultsError",
    "Run",
    "Sweep",
    "TrainResult",
    "TrainSettings",
    "__version__",
    "load",
    "run",
    "sweep",
    "train",
]

_LAZY = {
    "run": "nnfit.api",
    "load": "nnfit.api",
    "Run": "nnfit.api",
    "Model": "nnfit.api",
    "Sweep": "nnfit.api",
    "ConfigError": "nnfit.experiment.yamlfile",
    "ResultsError": "nnfit.experiment.runfiles",
    "Interrupted": "nnfit.experiment.shield",
    "Regressor": "nnfit.estimator",
    "Network": "nnfit.engine.network",
    "History": "nnfit.engine.loop",
    "TrainResult": "nnfit.engine.loop",
    "TrainSettings": "nnfit.engine.loop",
    "train": "nnfit.engine.train",
}


def __getattr__(name):
    # imported on first use, so that `nnfit --help` does not pay for NumPy and SciPy
    import importlib

    if name == "sweep":  # the subpackage, callable as nnfit.api.sweep (see its docstring)
        return importlib.import_module("nnfit.sweep")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nnfit' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *__all__})
