"""Grids of runs: expanding and validating the grid, workers (local or Dask), the summary,
fitted rates and the error-vs-width figure. Imports experiment and engine, never the CLI.

The package is also the function ``nnfit.sweep(config, widths=…, seeds=…, jobs=…)``
(:func:`nnfit.api.sweep`): importing a submodule binds ``nnfit.sweep`` to this package,
so the package itself is made callable rather than shadowing a function of that name.
"""

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        """Run a sweep from Python: see :func:`nnfit.api.sweep`."""
        from nnfit.api import sweep

        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
