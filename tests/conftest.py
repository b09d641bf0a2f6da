import signal
import textwrap
from pathlib import Path

import pytest
from hypothesis import settings

# Ctrl-C as at a terminal, however the suite was started: a shell script's background
# job starts with SIGINT ignored, which nnfit keeps (and so would every child started here)
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# the same examples on every run: a property test that fails, fails every time
settings.register_profile("nnfit", derandomize=True, database=None)
settings.load_profile("nnfit")


@pytest.fixture
def write(tmp_path):
    """Write a YAML experiment file (dedented) and return its path."""

    def _write(text: str, name: str = "exp.yaml") -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text))
        return p

    return _write


TINY = """
name: tiny
target: {expr: sin(2*pi*x), dim: 1}
data: {n_train: 64, n_val: 16, n_test: 200}
model: {hidden: [8], activation: tanh}
training: {epochs: 20, batch_size: 16, optimizer: {name: adam, lr: 0.01}}
"""


@pytest.fixture(scope="module")
def made_run(tmp_path_factory):
    """A finished run of TINY (no figures), written once per module; its file is
    ``made_run.parents[2] / "t.yaml"``."""
    from nnfit.experiment import config, rundir, runner

    base = tmp_path_factory.mktemp("made")
    (base / "t.yaml").write_text(TINY)
    exp = config.load(base / "t.yaml")
    run_dir = base / "res" / exp.name / exp.run_id()
    rundir.write_run(runner.execute(exp, plots=False), run_dir)
    return run_dir
