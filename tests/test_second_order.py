"""L-BFGS and Levenberg–Marquardt: Jacobian, monotone cost, teacher recovery, limits."""

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest

from nnfit.engine import losses, optimizers
from nnfit.engine.gradcheck import check_jacobian
from nnfit.engine.loop import TrainSettings
from nnfit.engine.network import Network
from nnfit.engine.train import train
from nnfit.experiment import config, runner

MSE = losses.get("mse")


def opts(method, epochs, patience=None, **kw):
    es = None if patience is None else {"patience": patience, "min_delta": 0.0, "monitor": "val"}
    return TrainSettings(optimizer=method, epochs=epochs, early_stopping=es, **kw)


@pytest.mark.parametrize("act", [["tanh", "relu"], ["sigmoid", "softplus"], ["gelu", "sin"]])
def test_jacobian_against_finite_differences(act):
    net = Network.create([2, 5, 4, 1], activation=act, rng=np.random.default_rng(0), bias=0.1)
    X = np.random.default_rng(1).uniform(size=(9, 2))
    assert check_jacobian(net, X) < 1e-7
    g, J = net.jacobian(X)
    assert J.shape == (9, net.n_params)
    np.testing.assert_allclose(g, net.predict(X)[0, :, 0], rtol=1e-13)


def test_a_wrong_jacobian_is_caught(monkeypatch):
    net = Network.create([1, 4, 1], rng=np.random.default_rng(0))
    X = np.random.default_rng(1).uniform(size=(6, 1))
    orig = Network.jacobian

    def broken(self, X):
        g, J = orig(self, X)
        J[:, 0] *= 1.5
        return g, J

    monkeypatch.setattr(Network, "jacobian", broken)
    assert check_jacobian(net, X) > 1e-3


def teacher_problem(seed=5, n=200):
    rng = np.random.default_rng(seed)
    teacher = Network.create([1, 4, 1], activation="tanh", rng=rng, init="normal")
    X = rng.uniform(size=(n, 1))
    return teacher, X, teacher.predict(X)[0]


def test_lm_recovers_a_teacher_network():
    rng = np.random.default_rng(6)
    teacher = Network.create([2, 3, 1], activation="tanh", rng=rng, init="normal", bias=0.3)
    X = rng.uniform(-1, 1, size=(300, 2))
    student = Network.create([2, 3, 1], activation="tanh", rng=np.random.default_rng(2))
    [res] = train(student, X, teacher.predict(X)[0], settings=opts("lm", 300))
    Xt = np.random.default_rng(0).uniform(-1, 1, size=(2000, 2))
    rel = np.linalg.norm(student.predict(Xt) - teacher.predict(Xt)) / np.linalg.norm(
        teacher.predict(Xt)
    )
    # a zero-residual problem: Gauss–Newton converges fast, μ falls, then no step helps
    assert res.status == "ok" and res.stop_reason == "converged" and res.epochs < 300
    assert rel < 1e-6
    mu = res.history.extra["mu"]
    assert len(mu) == len(res.history) and mu[0] == 1.0


def runge_problem(n=512):
    def runge(x):
        return 1.0 / (1.0 + 25.0 * (2.0 * x - 1.0) ** 2)

    X = np.random.default_rng(0).uniform(size=(n, 1))
    Xt = (np.arange(4000)[:, None] + 0.5) / 4000
    return X, runge(X), Xt, runge(Xt)


def lm_rmse(output_layer="trained", seed=0, epochs=300, **hyper):
    X, y, Xt, yt = runge_problem()
    net = Network.create([1, 8, 1], activation="tanh", rng=np.random.default_rng(seed))
    s = opts({"name": "lm", **hyper}, epochs, output_layer=output_layer)
    [res] = train(net, X, y, settings=s)
    return float(np.sqrt(np.mean((net.predict(Xt)[0] - yt) ** 2))), res


@pytest.mark.parametrize("seed", [0, 1])
def test_geodesic_acceleration_follows_the_valley_plain_lm_creeps_along(seed):
    # Runge, 8 tanh units, 300 steps: without the acceleration LM creeps at ~1e-4
    plain, _ = lm_rmse(seed=seed, geodesic=0.0)
    accelerated, res = lm_rmse(seed=seed)
    assert plain > 5e-5
    assert accelerated < 0.2 * plain
    assert all(b <= a for a, b in itertools.pairwise(res.history.train_loss))


@pytest.mark.parametrize("output_layer", ["trained", "lstsq"])
def test_the_gain_ratio_rule_tries_fewer_dampings_for_the_same_error(output_layer):
    # Runge, 8 tanh units, 300 steps, seeds 0–9: fixed ×1/3 and ×2 tried 2.5 dampings a
    # step, the gain ratio 1.3 (1.4 with variable projection), at the same median error
    # (plain 3.07e-6 both; variable projection 4.1e-6 and 4.4e-6)
    fixed, r_fixed = lm_rmse(output_layer)
    gain, r_gain = lm_rmse(output_layer, gain_ratio=1)
    trials = [r.steps / r.epochs for r in (r_fixed, r_gain)]
    assert min(r_fixed.epochs, r_gain.epochs) > 150  # variable projection converges first
    assert trials[0] > 2.2 and trials[1] < 1.6, trials
    assert gain < 1.5 * fixed and gain < 1e-5, (gain, fixed)


def test_a_rejected_acceleration_leaves_no_trace():
    # every a is refused (‖a‖ > 1e-300·‖δ‖): the probes set θ and the output layer, and
    # each is undone, so the run is plain LM's bit for bit
    for output_layer in ("trained", "lstsq"):
        off, r_off = lm_rmse(output_layer, epochs=40, geodesic=0.0)
        refused, r_ref = lm_rmse(output_layer, epochs=40, geodesic=1e-300)
        assert refused == off
        assert r_ref.history.train_loss == r_off.history.train_loss


@pytest.mark.parametrize("method", ["lm", "lbfgs"])
def test_every_accepted_step_lowers_the_cost(method):
    _, X, y = teacher_problem(seed=3)
    net = Network.create([1, 6, 1], activation="tanh", rng=np.random.default_rng(0))
    [res] = train(net, X, y + 0.01, settings=opts(method, 60, l2=1e-4))
    costs = res.history.train_loss
    assert res.epochs == 60 and len(costs) == 61
    assert all(b <= a for a, b in itertools.pairwise(costs))
    assert costs[-1] < 0.05 * costs[0]
    # the reported cost is the course's C = ½·mean(r²) + l2·½·ΣW² at the final weights
    assert costs[-1] == pytest.approx(net.cost(X, y + 0.01, MSE, l2=1e-4)[0], rel=1e-9)


def test_lbfgs_stops_early_on_validation():
    _, X, y = teacher_problem(seed=4)
    Xv = np.random.default_rng(9).uniform(size=(50, 1))
    net = Network.create([1, 30, 1], activation="tanh", rng=np.random.default_rng(0))
    [res] = train(
        net,
        X,
        y + np.random.default_rng(0).normal(0, 0.1, y.shape),
        Xv,
        np.sin(Xv),
        settings=opts("lbfgs", 5000, patience=10),
    )
    assert res.stop_reason == "early_stopping" and res.epochs < 5000
    assert res.epochs - res.best_epoch == 10


def test_lm_refuses_a_jacobian_too_large_and_non_squared_losses():
    base = {"target": {"expr": "x"}, "training": {"optimizer": {"name": "lm"}}}
    with pytest.raises(
        config.ConfigError,
        match=r"MiB for J \(100,000 points × 6,001 parameters\), JᵀJ \(6,001 × 6,001\) and its "
        r"factor, "
        r"above max_jacobian_mb 1,024; use lbfgs",
    ):
        config.from_dict({**base, "data": {"n_train": 100000}, "model": {"hidden": [2000]}})
    # a raised limit does not lift the machine's memory: 64 points and 100,000 units
    # asked for 671 GiB at the first step (exit 3); a tiny limit is not shown as 0
    from nnfit.engine import gauss_newton

    memory = gauss_newton.physical_mb()
    width = int(math.sqrt(memory * 2**20 / 8) / 3) + 10  # JᵀJ alone above the memory
    big = {"name": "lm", "max_jacobian_mb": 1e7}
    data = {"n_train": 64, "n_val": 8, "n_test": 100}
    with pytest.raises(config.ConfigError) as exc:
        config.from_dict(
            {**base, "data": data, "model": {"hidden": [width]}, "training": {"optimizer": big}}
        )
    assert f"above this machine's {memory:,.0f} MiB; use lbfgs" in str(exc.value)
    assert "training.optimizer: lm would need" in str(exc.value)
    with pytest.raises(config.ConfigError, match=r"need 2\.08 MiB .*above max_jacobian_mb 1e-09"):
        config.from_dict(
            {**base, "training": {"optimizer": {"name": "lm", "max_jacobian_mb": 1e-9}}}
        )
    # the estimate covers what LM allocates: Jᵀ, JᵀJ and its factor (it left one P × P
    # out, so a run checked just under the machine's memory needed twice that)
    n, P = 1024, 193
    normal = gauss_newton.Normal(P)
    held = np.zeros((P, n)).nbytes + normal.G.nbytes + normal.C.nbytes
    assert gauss_newton.jacobian_mb(n, P) * 2**20 >= held
    with pytest.raises(config.ConfigError, match="needs loss mse"):
        config.from_dict({**base, "training": {"optimizer": "lm", "loss": "huber"}})
    e = config.from_dict({**base, "model": {"hidden": [8]}})
    assert e.training.optimizer.params()["max_jacobian_mb"] == 1024


def test_lbfgs_and_lm_run_from_the_cli(write, tmp_path):
    from typer.testing import CliRunner

    from nnfit.cli import app
    from nnfit.experiment import rundir as results

    p = write("""
        target: {name: runge}
        data: {n_train: 128, n_val: 32, n_test: 500}
        model: {hidden: [8]}
        training: {optimizer: lm, epochs: 100}
    """)
    for name in ("lm", "lbfgs"):
        r = CliRunner().invoke(
            app,
            [
                "run",
                str(p),
                "--out",
                str(tmp_path / name),
                "--quiet",
                "--set",
                f"training.optimizer.name={name}",
            ],
        )
        assert r.exit_code == 0, r.output
        (run,) = results.find_runs(tmp_path / name)
        m = results.read_metrics(run)
        assert m["status"] == "ok" and m["test"]["rmse"] < 0.05
        assert {"fit.png", "loss.png", "gradients.png"} <= {f.name for f in run.iterdir()}
    head = (run.parent.parent.parent / "lm").glob("**/history.csv")
    assert "mu" in next(head).read_text().splitlines()[0]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lm_jacobian_normal_matrix_and_damped_solve_are_the_dense_algebra(dtype):
    from nnfit.engine.gauss_newton import Jacobian, Normal

    net = Network.create(
        [2, 5, 4, 1], ["tanh", "sigmoid"], rng=np.random.default_rng(0), bias=0.1, dtype=dtype
    )
    X = np.random.default_rng(1).uniform(size=(30, 2)).astype(dtype)
    g_ref, J_ref = net.jacobian(X)
    lin = Jacobian(net, X)
    Jt = np.zeros((net.n_params, 30))
    # the same products summed in another order, and tanh and sigmoid through e^u (as the
    # training passes), a few float32 ulps from np.tanh
    tol = 5e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(lin.forward(), g_ref, rtol=tol, atol=tol * np.abs(g_ref).max())
    lin.fill(Jt, net.n_params)
    np.testing.assert_allclose(Jt, J_ref.T, rtol=tol, atol=tol * np.abs(J_ref).max())
    hidden = net.offsets[-2]  # variable projection: the output layer's rows left alone
    Jh = np.full((hidden + 3, 30), 7.0)
    lin.fill(Jh, hidden)
    np.testing.assert_allclose(Jh[:hidden], Jt[:hidden], rtol=0, atol=0)
    assert np.all(Jh[hidden:] == 7.0)
    normal = Normal(net.n_params)
    normal.form(Jt)
    H = Jt @ Jt.T
    np.testing.assert_allclose(np.tril(normal.H), np.tril(H), rtol=1e-12, atol=1e-12 * H.max())
    damping = np.linspace(1e-3, 1.0, net.n_params)
    assert normal.factor(damping)
    b = np.random.default_rng(2).normal(size=net.n_params)
    x = normal.solve(b.copy())
    np.testing.assert_allclose(x, np.linalg.solve(H + np.diag(damping), b), rtol=1e-8)
    assert not normal.factor(np.full(net.n_params, -1e6))  # not positive definite: refused


@pytest.mark.parametrize("output_layer", ["trained", "lstsq"])
def test_lm_weights_do_not_depend_on_the_blas_threads(output_layer):
    # OpenBLAS's syrk, potrf and QR round differently on one thread and on two: JᵀJ of a
    # large network is formed on two lanes in fixed blocks, the rest on one thread, so
    # that a run, a sweep worker (which pins one) and a rerun agree to the bit
    from threadpoolctl import threadpool_limits

    from nnfit.engine import gauss_newton

    rng = np.random.default_rng(1)
    X = rng.uniform(size=(1024, 1))
    y = np.sin(2 * np.pi * X)
    s = TrainSettings(
        optimizer={"name": "lm"}, epochs=4, early_stopping=None, output_layer=output_layer
    )
    width = 256  # P = 769 (variable projection: 512), JᵀJ in two blocks
    assert 2 * width + 1 >= gauss_newton.SPLIT_FROM
    ends = []
    for threads in (1, 2, 2, 1):
        with threadpool_limits(threads, user_api="blas"):
            assert gauss_newton.Threads().lanes == threads
            net = Network.create([1, width, 1], rng=np.random.default_rng(0), bias="spread")
            [res] = train(net, X, y, settings=s)
        assert res.epochs == 4
        ends.append(net.theta.copy())
    for other in ends[1:]:
        np.testing.assert_array_equal(other, ends[0])


def test_the_next_trials_factor_made_ahead_is_the_one_made_in_turn():
    # a rejected trial's next damping is factored on a lane of its own beside this one's
    # (SciPy's potrf wrapper holds the GIL, so LAPACK's is called through ctypes)
    from concurrent.futures import ThreadPoolExecutor

    from nnfit.engine import gauss_newton

    assert gauss_newton._POTRF is not None  # else no factor is made ahead
    P = gauss_newton.AHEAD_FROM
    Jt = np.random.default_rng(0).normal(size=(P, 2 * P))
    with ThreadPoolExecutor(1) as pool, ThreadPoolExecutor(1) as ahead:
        alone, beside = gauss_newton.Normal(P), gauss_newton.Normal(P, pool, ahead)
        for normal in (alone, beside):
            normal.form(Jt)
        first, second = np.full(P, 1.0), np.full(P, 2.0)
        beside.speculate(second)  # as a trial starts: the next damping, then its own
        assert beside.ready(second) and not beside.ready(first) and not alone.ready(second)
        assert beside.factor(first) and alone.factor(first)
        np.testing.assert_array_equal(np.tril(beside.C), np.tril(alone.C))
        assert beside.factor(second) and alone.factor(second)  # the one made ahead
        assert not beside.ready(second)  # taken
        np.testing.assert_array_equal(np.tril(beside.C), np.tril(alone.C))
        beside.speculate(np.full(P, -1e9))  # not positive definite, ahead as here
        assert not beside.factor(np.full(P, -1e9))
        assert beside.factor(first) and alone.factor(first)  # after it, afresh
        np.testing.assert_array_equal(np.tril(beside.C), np.tril(alone.C))


def test_lm_on_two_lanes_takes_the_factors_made_ahead(monkeypatch):
    from threadpoolctl import threadpool_limits

    from nnfit.engine import gauss_newton

    taken = []
    factor = gauss_newton.Normal.factor

    def counted(self, damping):
        taken.append(self.ready(damping))
        return factor(self, damping)

    monkeypatch.setattr(gauss_newton.Normal, "factor", counted)
    X = np.random.default_rng(1).uniform(size=(512, 1))
    s = TrainSettings(optimizer={"name": "lm"}, epochs=10, early_stopping=None)
    with threadpool_limits(2, user_api="blas"):
        net = Network.create([1, 100, 1], rng=np.random.default_rng(0))  # P = 301
        [res] = train(net, X, np.sin(2 * np.pi * X), settings=s)
    assert res.steps > res.epochs  # some trials were rejected
    assert sum(taken) == res.steps - res.epochs  # each next one's factor was made ahead


def test_float32_lm_goes_without_the_acceleration():
    # float32 residuals make the finite difference's r'' rounding noise: the default
    # must then take plain LM's steps, bit for bit
    X, y, _, _ = runge_problem(n=256)
    runs = []
    for given in ({}, {"geodesic": 0.0}):
        net = Network.create([1, 8, 1], rng=np.random.default_rng(0), dtype="float32")
        s = opts({"name": "lm", **given}, 30)
        [res] = train(net, X, y, settings=s)
        runs.append((net.theta.copy(), res.history.train_loss))
    assert runs[0][0].dtype == np.float32
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_float32_variable_projection_keeps_a_ridge_its_digits_can_carry():
    # with the float64 floor (1e-14) float32 VarPro stopped "converged" after 43 steps at
    # test RMSE 1.1e-2 (Runge, 8 units, seed 0): its output weights cancelled beyond
    # float32's digits. The float32 floor of 1e-8 reaches 2.1e-5 (float64: 8.5e-6).
    from nnfit.engine.second_order import F32_RIDGE_MIN

    errors = {}
    for dtype in ("float32", "float64"):
        training = {"optimizer": "lm", "output_layer": "lstsq", "epochs": 300, "dtype": dtype}
        e = config.from_dict(
            {"target": {"name": "runge"}, "model": {"hidden": [8]}, "training": training}
        )
        errors[dtype] = runner.execute(e, plots=False).metrics["test"]["rmse"]
    assert F32_RIDGE_MIN == 1e-8
    assert errors["float32"] < 5e-5 and errors["float64"] < 2e-5


def test_lm_values_each_in_range_but_not_together_are_refused(write):
    p = write("target: {name: runge}\ntraining:\n  optimizer: {name: lm, mu: 100, mu_max: 1}\n")
    with pytest.raises(config.ConfigError) as info:
        config.load(p)
    assert "3: training.optimizer: mu must be at most mu_max (1), got 100" in str(info.value)
    with pytest.raises(ValueError, match="mu must be at most mu_max"):
        optimizers.make("lm", mu=2.0, mu_max=1.5)


def test_a_damping_that_underflows_climbs_back():
    # μ ×1e-300 twice reached 0.0, from which ×mu_inc never climbed: the next rejected
    # step looped for ever. In a child process, so that a regression fails, not hangs.
    code = (
        "import numpy as np\n"
        "from nnfit.engine.loop import TrainSettings\n"
        "from nnfit.engine.network import Network\n"
        "from nnfit.engine.train import train\n"
        "X = np.linspace(0, 1, 50)[:, None]\n"
        "net = Network.create([1, 1], rng=np.random.default_rng(0))\n"
        "s = TrainSettings(optimizer={'name': 'lm', 'mu_dec': 1e-300}, epochs=20,"
        " early_stopping=None)\n"
        "[res] = train(net, X, 2 * X + 1, settings=s)\n"
        "print(res.stop_reason, min(res.history.extra['mu']) > 0)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["converged", "True"]


def test_lm_in_float32_refuses_the_acceleration_and_a_ridge_it_would_override():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(32, 1))
    y = np.sin(2 * np.pi * X)
    for opt, said in (
        ({"name": "lm", "geodesic": 0.5}, "geodesic: float32 runs go without"),
        ({"name": "lm", "ridge_min": 1e-12}, "ridge_min: float32 keeps"),
    ):
        net = Network.create([1, 4, 1], rng=np.random.default_rng(0), dtype="float32")
        s = TrainSettings(optimizer=opt, epochs=3, output_layer="lstsq")
        with pytest.raises(ValueError, match=said):
            train(net, X, y, settings=s)
    net = Network.create([1, 4, 1], rng=np.random.default_rng(0), dtype="float32")
    [res] = train(net, X, y, settings=TrainSettings(optimizer="lm", epochs=3))
    assert res.status == "ok" and res.epochs == 3


def test_the_estimator_refuses_an_lm_too_large_before_fitting_and_names_jtj():
    # 60 points × 60,001 parameters: JᵀJ is 27 GiB, J 29 MB; fit raised MemoryError
    # naming only "the Jacobian"
    import nnfit

    X = np.linspace(0, 1, 60)[:, None]
    reg = nnfit.Regressor(hidden=(20000,), optimizer="lm")
    with pytest.raises(ValueError, match=r"J \(60 points × 60,001 parameters\), JᵀJ"):
        reg.fit(X, np.sin(X[:, 0]))


def test_variable_projection_that_takes_no_step_logs_epoch_0_once():
    # with no ridge every trial of 200 units was refused: the final solve then repeated
    # epoch 0's row, two identical rows of epoch 0 in history.csv
    opt = {"name": "lm", "ridge": 0.0, "ridge_min": 0.0}
    e = config.from_dict(
        {
            "target": {"name": "sine"},
            "model": {"hidden": [200]},
            "training": {"optimizer": opt, "output_layer": "lstsq", "epochs": 20},
        }
    )
    rec = runner.execute(e, plots=False)
    assert rec.epochs == 0 and rec.steps > 0
    assert rec.history["epoch"] == [0]
    # where steps were taken the end's solve is a row of its own
    X = np.linspace(0, 1, 256)[:, None]
    net = Network.create([1, 8, 1], rng=np.random.default_rng(0), bias="spread")
    s = TrainSettings(optimizer="lm", epochs=3, output_layer="lstsq", early_stopping=None)
    [res] = train(net, X, np.sin(2 * np.pi * X), settings=s)
    assert res.history.epoch == [0, 1, 2, 3, 3]
