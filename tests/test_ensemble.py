"""Stacked ensembles: each model ends exactly where it would alone."""

import numpy as np
import pytest

from nnfit.engine.loop import TrainSettings, train
from nnfit.engine.network import Network
from nnfit.engine.stack import Stack, train_stack
from nnfit.experiment import config
from nnfit.sweep import grid as sweep


def data(n=128, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, 2))
    y = np.sin(3 * X[:, :1]) * X[:, 1:]
    Xv = rng.uniform(size=(32, 2))
    return X, y, Xv, np.sin(3 * Xv[:, :1]) * Xv[:, 1:]


def alone_and_stacked(
    settings, sizes=(2, 8, 6, 1), act=("tanh", "relu"), K=3, dtype="float64", val=True
):
    X, y, Xv, yv = data()
    if not val:
        Xv = yv = None
    alone, results = [], []
    for k in range(K):
        net = Network.create(
            list(sizes), activation=list(act), rng=np.random.default_rng(k), dtype=dtype, bias=0.05
        )
        results.append(
            train(net, X, y, Xv, yv, settings=settings, rng=np.random.default_rng(100 + k))
        )
        alone.append(net)
    nets = [
        Network.create(
            list(sizes), activation=list(act), rng=np.random.default_rng(k), dtype=dtype, bias=0.05
        )
        for k in range(K)
    ]
    stacked = train_stack(
        nets, X, y, Xv, yv, settings, [np.random.default_rng(100 + k) for k in range(K)]
    )
    return alone, results, nets, stacked


CASES = [
    TrainSettings(epochs=25, lr=0.01, patience=None),
    TrainSettings(epochs=60, lr=0.02, patience=4),  # models stop at different epochs
    TrainSettings(epochs=20, optimizer="nesterov", lr=0.01, batch_size=10, l1=1e-3, l2=1e-2),
    TrainSettings(epochs=20, optimizer="rmsprop", loss="huber", schedule="cosine"),
    TrainSettings(epochs=15, optimizer="adagrad", loss="mae", lr=0.05, batch_size=None),
    TrainSettings(epochs=15, optimizer="gd", lr=0.5, patience=3, monitor="train"),
    TrainSettings(epochs=30, optimizer="sgd", lr=1e4, patience=None),  # diverges
]


@pytest.mark.parametrize("settings", CASES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_each_model_ends_where_it_would_alone(settings, dtype):
    alone, results, nets, stacked = alone_and_stacked(settings, dtype=dtype)
    for a, r, s_net, s_res in zip(alone, results, nets, stacked, strict=True):
        assert np.array_equal(a.theta, s_net.theta)
        assert (r.status, r.stop_reason, r.epochs, r.best_epoch, r.steps) == (
            s_res.status,
            s_res.stop_reason,
            s_res.epochs,
            s_res.best_epoch,
            s_res.steps,
        )
        ca, cs = r.history.columns(), s_res.history.columns()
        for col in ca:  # a batch's mean may be summed in another order: 1e-15 apart at most
            if col != "wall_s":
                np.testing.assert_allclose(ca[col], cs[col], rtol=1e-14, atol=0)


def test_stopping_differs_between_models_in_the_early_stopping_case():
    _, results, _, stacked = alone_and_stacked(CASES[1])
    assert len({r.epochs for r in results}) > 1 and [r.epochs for r in stacked] == [
        r.epochs for r in results
    ]


def test_clipping_gives_the_same_weights():
    s = TrainSettings(epochs=10, lr=0.05, clip_norm=0.05, patience=None)
    alone, _, nets, _ = alone_and_stacked(s)
    for a, b in zip(alone, nets, strict=True):
        assert np.array_equal(a.theta, b.theta)


def test_a_stack_needs_one_shape():
    with pytest.raises(ValueError, match="one shape"):
        Stack([Network.create([1, 3, 1]), Network.create([1, 4, 1])])


def test_sweeps_plan_stacks_and_keep_results(write, tmp_path):
    p = write("""
        name: st
        target: {name: sine}
        data: {n_train: 64, n_val: 16, n_test: 200}
        model: {hidden: [4]}
        training: {epochs: 10, batch_size: 16, optimizer: {name: adam, lr: 0.01}}
        sweep:
          grid:
            model.hidden: [[2], [3]]
            training.seed: [0, 1, 2, 3]
    """)
    folder, grid, points = sweep.expand(p, [], None, None, tmp_path / "a")
    tasks = sweep.plan(points, jobs=2)
    assert sorted(len(t) for t in tasks) == [4, 4]
    assert len(sweep.plan(points[:4], jobs=2)) == 2  # split so both workers have work
    lm = sweep.plan(
        sweep.expand(p, ["training.optimizer={name: lm}"], None, None, tmp_path)[2], jobs=1
    )
    assert all(len(t) == 1 for t in lm)  # second-order runs are not stacked
    sweep.run(folder, grid, points, jobs=1, stack=True)
    folder_b, _, points_b = sweep.expand(p, [], None, None, tmp_path / "b")
    sweep.run(folder_b, grid, points_b, jobs=1, stack=False)
    for pa, pb in zip(points, points_b, strict=True):
        with np.load(pa.run_dir / "model.npz") as a, np.load(pb.run_dir / "model.npz") as b:
            assert all(np.array_equal(a[k], b[k]) for k in a.files)
    exp = config.from_dict({"target": {"expr": "x"}, "training": {"epsilon": 0.1}})
    assert not __import__("nnfit.experiment.runner").experiment.runner.stackable(exp)
