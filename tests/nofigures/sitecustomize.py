"""For command-line tests in subprocesses that are about files and signals, not figures:
with this folder on PYTHONPATH, nnfit draws no figures (matplotlib is not even imported),
which saves seconds per process."""

import sys
import types

stub = types.ModuleType("nnfit.experiment.plots")
stub.render = lambda exp, record, ds: ({}, [])
sys.modules["nnfit.experiment.plots"] = stub
