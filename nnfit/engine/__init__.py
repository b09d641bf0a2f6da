"""The maths of nnfit: networks, activations, losses, optimizers, the training loop.

Arrays in, arrays out, an ``np.random.Generator`` passed in; no files, no printing.
Imports NumPy, SciPy and threadpoolctl only, never the experiment, sweep or CLI layers.
"""
