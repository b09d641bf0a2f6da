"""nnfit: experiments that show how well feed-forward networks approximate functions.

The engine can be used without the command line::

    import numpy as np
    from nnfit import Network
    from nnfit import TrainSettings
    from nnfit.engine import loop as train

    rng = np.random.default_rng(0)
    X = rng.uniform(size=(256, 1))
    y = np.sin(2 * np.pi * X)
    net = Network.create([1, 32, 1], activation="tanh", rng=rng)
    result = train(net, X, y, settings=TrainSettings(epochs=500), rng=rng)
    g = net.predict(X)
"""

__version__ = "0.1.0"

__all__ = ["History", "Network", "TrainResult", "TrainSettings", "__version__", "train"]

_LAZY = {
    "Network": "nnfit.engine.network",
    "History": "nnfit.engine.loop",
    "TrainResult": "nnfit.engine.loop",
    "TrainSettings": "nnfit.engine.loop",
    "train": "nnfit.engine.loop",
}


def __getattr__(name):
    # imported on first use, so that `nnfit --help` does not pay for NumPy and SciPy
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nnfit' has no attribute {name!r}")
