"""Every example in experiments/ shows what its comment says: the figure that matters."""

import numpy as np
import pytest

from nnfit.experiment import config, runner

EXAMPLES = "experiments"


def run(name, *sets, ok=True):
    rec = runner.execute(config.load(f"{EXAMPLES}/{name}.yaml", list(sets)), plots=False)
    assert rec.status == "ok" or not ok, rec.error
    return rec.metrics, rec


def test_quick():
    m, rec = run("quick")
    assert m["test"]["rmse"] < 2e-3 and rec.stop_reason == "early_stopping"


def test_a_relu_kink_sits_on_the_kink():
    relu, _ = run("abs-relu-nesterov")
    tanh, _ = run("abs-relu-nesterov", "model.activation=tanh")
    assert relu["test"]["rmse"] < 4e-4 < 5e-3 < tanh["test"]["rmse"] < 3e-2


def test_per_layer_activations():
    m, _ = run("deep-mixed-activations")
    assert m["test"]["rmse"] < 3e-3


def test_franke():
    m, _ = run("franke-2d-relu")
    assert m["test"]["rmse"] < 6e-3 and m["test"]["max_abs"] < 0.06


def test_gradient_descent_runs_until_the_cost_stabilises_and_falls_every_step():
    _, rec = run("gd-full-batch")
    cost = np.array(rec.history["train_loss"])
    assert rec.stop_reason == "converged" and len(cost) > 1000
    assert np.all(np.diff(cost) <= 0)
    _, wild = run("gd-full-batch", "training.optimizer.lr=0.5", ok=False)
    assert wild.status == "diverged" and wild.stop_reason == "diverged"
    # it keeps its best epoch (the start: the cost rose from the first step), not the
    # last finite one, whose test RMSE was 6.3e2
    cost = np.array(wild.history["train_loss"])
    assert wild.best_epoch == 0 and cost[-1] > 100 * cost[0]
    assert wild.metrics["test"]["rmse"] < 1.0


def test_l1_prunes():
    m, _ = run("noisy-sine-l1-l2")
    plain, _ = run("noisy-sine-l1-l2", "training.l1=0", "training.l2=0")
    assert m["weights"]["frac_small"] > 0.55 > 0.45 > plain["weights"]["frac_small"] > 0.2


def test_sigmoids_with_levenberg_marquardt_and_momentum():
    m, _ = run("runge-sigmoid")
    slow, _ = run("runge-sigmoid", "training.optimizer={name: momentum, lr: 0.05}")
    assert m["test"]["rmse"] < 1e-4 and slow["test"]["rmse"] > 1e-2


def test_five_dimensions_are_thinly_covered():
    five, _ = run("sine-product-5d")
    two, _ = run("sine-product-5d", "target.dim=2")
    assert two["test"]["rmse"] < 4e-3 and 3e-2 < five["test"]["rmse"] < 8e-2
    assert five["train"]["rmse"] < 0.5 * five["test"]["rmse"]


def test_a_polynomial_activation_cannot_approximate():
    square, _ = run("square-activation-fails")
    tanh, _ = run("square-activation-fails", "model.activation=tanh")
    assert square["test"]["rmse"] > 0.4 and tanh["test"]["rmse"] < 3e-3


def test_a_jump_keeps_the_sup_error_at_one_half():
    m, _ = run("step-tanh-sgd")
    assert m["test"]["rmse"] < 0.1 and m["test"]["max_abs"] >= 0.49


@pytest.mark.parametrize("name", ["runge-sigmoid"])
def test_examples_with_a_sweep_validate(name):
    from nnfit.sweep import grid

    _, _, points = grid.expand(f"{EXAMPLES}/{name}.yaml")
    assert len(points) == 5
