"""nnfit.Regressor: scikit-learn's whole check list, the fitted scaling, the seed streams,
multi-output, meta-estimators, parameter errors, and life without scikit-learn."""

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_friedman1
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import nnfit
from nnfit.estimator_base import r2_score as own_r2

ROOT = Path(__file__).resolve().parent.parent

CHECKS = """
import json, time
import sklearn
from sklearn.utils.estimator_checks import check_estimator
import nnfit
t0 = time.perf_counter()
results = check_estimator(nnfit.Regressor(), on_fail=None, on_skip=None)
print(json.dumps({"sklearn": sklearn.__version__, "seconds": time.perf_counter() - t0,
                  "results": [[r["check_name"], r["status"], str(r["exception"] or "")]
                              for r in results]}))
"""


def test_check_estimator_runs_every_check_and_each_passes():
    # scikit-learn runs its array-API check only with SCIPY_ARRAY_API set before SciPy
    # is imported, hence a fresh interpreter
    env = {**os.environ, "SCIPY_ARRAY_API": "1", "PYTHONPATH": str(ROOT)}
    p = subprocess.run(
        [sys.executable, "-c", CHECKS], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    statuses = {name: status for name, status, _ in out["results"]}
    assert [r for r in out["results"] if r[1] != "passed"] == []  # no failure, skip or xfail
    assert len(out["results"]) >= 50 and "check_regressors_train" in statuses
    assert "check_regressor_multioutput" in statuses  # the multi-output tag is set
    assert out["seconds"] < 60


def test_the_scaling_is_fitted_state_and_undone_by_predict():
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(200, 2))
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2
    a, b = np.array([1000.0, 0.001]), np.array([-5.0, 3.0])
    r1 = nnfit.Regressor(random_state=0, epochs=100).fit(X, y)
    r2 = nnfit.Regressor(random_state=0, epochs=100).fit(X * a + b, 7 * y - 2)
    assert np.allclose(r2.x_min_, X.min(axis=0) * a + b, rtol=1e-12)
    assert np.allclose(r2.x_scale_, np.ptp(X, axis=0) * a, rtol=1e-12)
    assert r2.y_mean_ == pytest.approx([7 * y.mean() - 2]) and r2.y_scale_ == pytest.approx(
        [7 * y.std()]
    )
    # the network sees the same numbers (to rounding), so the fits agree, also outside
    # the training range
    Xt = rng.uniform(-0.2, 1.2, size=(50, 2))
    assert np.allclose(r2.predict(Xt * a + b), 7 * r1.predict(Xt) - 2, rtol=0, atol=1e-9)
    assert r1.score(X, y) > 0.95
    # a standardising pipeline in front changes nothing either
    pipe = make_pipeline(StandardScaler(), clone(r1)).fit(X, y)
    assert np.allclose(pipe.predict(Xt), r1.predict(Xt), rtol=0, atol=1e-9)
    # a constant column maps to 0
    Xc = np.column_stack([X[:, 0], np.full(len(X), 5.0)])
    rc = nnfit.Regressor(random_state=0, epochs=5).fit(Xc, y)
    assert rc.x_scale_[1] == 1.0 and rc.x_min_[1] == 5.0


def test_an_int_random_state_gives_the_streams_of_training_seed():
    from nnfit.engine.network import Network
    from nnfit.engine.train import train
    from nnfit.experiment.runner import settings_from, streams

    rng = np.random.default_rng(5)
    X = rng.uniform(-2, 3, size=(90, 3))
    y = np.cos(X).sum(axis=1)
    reg = nnfit.Regressor(hidden=(7, 5), epochs=30, random_state=4).fit(X, y)
    _, training, _ = reg._validated()
    init, shuffle, _ = streams(4)
    net = Network.create([3, 7, 5, 1], init="domain", bias="spread", rng=[init])
    Xs = (X - reg.x_min_) / reg.x_scale_
    Ys = ((y - reg.y_mean_) / reg.y_scale_)[:, None]
    (res,) = train(net, Xs, Ys, settings=settings_from(training), rngs=[shuffle])
    for (W, b), W_reg, b_reg in zip(net.params(0), reg.coefs_, reg.intercepts_, strict=True):
        assert np.array_equal(W, W_reg) and np.array_equal(b, b_reg)
    assert reg.n_iter_ == res.epochs
    # the same seed twice: the same model; another seed: another
    again = nnfit.Regressor(hidden=(7, 5), epochs=30, random_state=4).fit(X, y)
    assert np.array_equal(again.predict(X), reg.predict(X))
    other = nnfit.Regressor(hidden=(7, 5), epochs=30, random_state=5).fit(X, y)
    assert not np.array_equal(other.predict(X), reg.predict(X))


@pytest.mark.parametrize(
    ("y", "w", "said"),
    [
        ([1.0, 2.0], None, "different numbers of samples: 3 and 2"),
        ([1.0, 2.0, np.nan], None, "y contains NaN"),
        ([1.0, 2.0, 3.0], [-1.0, 1.0, 1.0], "≥ 0 with a positive sum"),
        ([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], "≥ 0 with a positive sum"),
        ([1.0, 2.0, 3.0], [np.nan, 1.0, 1.0], r"sample_weight contains NaN\.$"),
        ([1.0, 2.0, np.inf], None, "y contains infinity"),
        ([1.0, 2.0, 3.0], [1.0, 1.0], r"shape \(3,\), got \(2,\)"),
    ],
)
def test_the_own_score_refuses_what_it_cannot_weigh(y, w, said):
    # without scikit-learn: negative or NaN weights and a NaN y gave R² 0.0, zero
    # weights a ZeroDivisionError, a y one short NumPy's reshape error
    with pytest.raises(ValueError, match=said):
        own_r2(y, [1.0, 2.0, 2.5], w)
    assert own_r2([1.0, 2.0, 3.0], [1.0, 2.0, 2.5]) == pytest.approx(0.875)


def test_multi_output():
    rng = np.random.default_rng(2)
    X = rng.uniform(size=(300, 2))
    Y = np.column_stack([np.sin(3 * X[:, 0]), 100 * X[:, 0] * X[:, 1]])
    reg = nnfit.Regressor(random_state=0).fit(X, Y)
    assert reg.n_outputs_ == 2 and reg.coefs_[-1].shape == (64, 2)
    G = reg.predict(X)
    assert G.shape == (300, 2)
    per_output = [r2_score(Y[:, j], G[:, j]) for j in range(2)]
    assert min(per_output) > 0.99
    assert reg.score(X, Y) == pytest.approx(np.mean(per_output), rel=1e-12)
    assert own_r2(Y, G) == pytest.approx(r2_score(Y, G), rel=1e-12)
    w = rng.uniform(size=300)
    assert own_r2(Y, G, w) == pytest.approx(r2_score(Y, G, sample_weight=w), rel=1e-12)
    # y of shape (n, 1) keeps its shape; (n,) gives (n,)
    assert nnfit.Regressor(epochs=3).fit(X, Y[:, :1]).predict(X).shape == (300, 1)
    assert nnfit.Regressor(epochs=3).fit(X, Y[:, 0]).predict(X).shape == (300,)


def test_grid_search_picks_the_learning_rate_that_fits():
    rng = np.random.default_rng(3)
    X = rng.uniform(size=(150, 1))
    y = np.sin(2 * np.pi * X[:, 0])
    search = GridSearchCV(
        nnfit.Regressor(epochs=40, n_iter_no_change=None, random_state=0),
        {"lr": [1e-5, 1e-2]},
        cv=3,
    ).fit(X, y)
    assert search.best_params_ == {"lr": 1e-2}
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > 0.99 and scores[0] < 0.8


def test_loss_curve_n_iter_and_the_kept_epoch():
    rng = np.random.default_rng(4)
    X = rng.uniform(size=(120, 2))
    y = X[:, 0] * X[:, 1]
    full = nnfit.Regressor(epochs=25, n_iter_no_change=None, random_state=0).fit(X, y)
    assert full.n_iter_ == 25 == len(full.loss_curve_) and full.stop_reason_ == "epochs"
    assert full.validation_loss_curve_ is None and full.loss_curve_[-1] < full.loss_curve_[0]
    # patience on the training cost: the best epoch's weights are kept
    plateau = nnfit.Regressor(epochs=400, n_iter_no_change=3, tol=1e-3, random_state=0)
    plateau.fit(X, y)
    assert plateau.stop_reason_ == "converged" and plateau.n_iter_ < 400
    # the last epoch that beat the best by more than tol, then 3 epochs of patience
    assert plateau.n_iter_ == plateau.best_epoch_ + 3
    assert plateau.loss_curve_[plateau.best_epoch_ - 1] <= min(plateau.loss_curve_) + 1e-3
    # early stopping on a held-out tenth
    es = nnfit.Regressor(epochs=400, early_stopping=True, n_iter_no_change=5, random_state=0)
    es.fit(X, y)
    assert len(es.validation_loss_curve_) == es.n_iter_ == len(es.loss_curve_)
    assert es.best_epoch_ == 1 + int(np.argmin(es.validation_loss_curve_))
    with pytest.raises(ValueError, match="1 sample"):
        nnfit.Regressor(early_stopping=True).fit(X[:1], y[:1])


def test_full_batch_and_least_squares_settings():
    rng = np.random.default_rng(6)
    X = rng.uniform(-1, 1, size=(200, 1))
    y = np.abs(X[:, 0])
    for kwargs in ({"optimizer": "lbfgs"}, {"optimizer": "lm", "epochs": 50}):
        reg = nnfit.Regressor(hidden=(16,), random_state=0, **kwargs).fit(X, y)
        assert reg.score(X, y) > 0.999, kwargs
    lstsq = nnfit.Regressor(output_layer="lstsq", optimizer="lbfgs", epochs=100, random_state=0)
    assert lstsq.fit(X, y).score(X, y) > 0.999


def test_parameters_are_checked_in_fit_with_the_files_messages():
    X, y = np.random.default_rng(0).uniform(size=(20, 2)), np.arange(20.0)
    cases = [
        ({"activation": "tanhh"}, "activation", "tanhh", "did you mean 'tanh'?"),
        ({"lr": -1.0}, "lr", -1.0, "greater than 0"),
        ({"hidden": (8, 0)}, "hidden", 0, "greater than or equal to 1"),
        ({"optimizer": {"name": "adam", "bta2": 0.9}}, "optimizer", "bta2", "beta2"),
        ({"optimizer": "lbfgs", "batch_size": 16}, "batch_size", 16, "not used by optimizer"),
        ({"n_iter_no_change": 0}, "n_iter_no_change", 0, "greater than or equal to 1"),
        ({"early_stopping": "yes"}, "early_stopping", "yes", "True or False"),
        ({"validation_fraction": 1.5}, "validation_fraction", 1.5, "(0, 1)"),
        ({"random_state": -1}, "random_state", -1, "≥ 0"),
    ]
    for params, key, given, text in cases:
        reg = nnfit.Regressor(**params)  # never raises in __init__ or set_params
        assert reg.get_params()[next(iter(params))] == next(iter(params.values()))
        with pytest.raises(nnfit.ConfigError) as info:
            reg.fit(X, y)
        e = info.value
        assert (e.key, e.given) == (key, given) and text in str(e), str(e)
        assert str(e).startswith(f"Regressor: {key}: ")
    with pytest.raises(nnfit.ConfigError) as info:
        nnfit.Regressor(activation="tanhh").fit(X, y)
    assert "relu" in info.value.allowed
    # one line per parameter: hidden='64' had a second one suggesting ['64']
    with pytest.raises(nnfit.ConfigError) as info:
        nnfit.Regressor(hidden="64").fit(X, y)
    assert str(info.value) == "Regressor: hidden: must be an int or a tuple of ints, got '64'"


def test_an_unused_parameter_is_said_as_the_parameters_that_unset_it():
    # it told a Python user "on the command line: --set training.optimizer.lr=null"
    X, y = np.random.default_rng(0).uniform(size=(20, 1)), np.arange(20.0)
    with pytest.raises(nnfit.ConfigError) as one:
        nnfit.Regressor(optimizer="lbfgs", lr=0.1).fit(X, y)
    assert "(of lr, schedule, batch_size" in str(one.value)
    assert "remove it (lr=None) or pick another optimizer" in str(one.value)
    with pytest.raises(nnfit.ConfigError) as several:
        nnfit.Regressor(optimizer="lm", lr=0.1, schedule="cosine", batch_size=16).fit(X, y)
    said = str(several.value)
    assert "(lr=None, schedule='constant', batch_size='full')" in said and "--set" not in said
    nnfit.Regressor(optimizer="lm", schedule="constant", batch_size="full", epochs=2).fit(X, y)


def test_the_estimator_refuses_what_the_file_refuses_across_sections():
    # a rising cosine schedule trained (R² 0.36), and a 6,000-wide least-squares layer
    # ran 74 s in a solve no Ctrl-C stops, where the command line refuses both
    X = np.random.default_rng(0).uniform(size=(200, 1))
    y = np.sin(3 * X[:, 0])
    rising = {"name": "cosine", "lr_min": 5.0}
    with pytest.raises(
        nnfit.ConfigError, match="schedule: lr_min: must be at most the learning"
    ) as e:
        nnfit.Regressor(lr=0.001, schedule=rising, epochs=2).fit(X, y)
    assert e.value.key == "schedule"
    with pytest.raises(nnfit.ConfigError, match="6,001 output weights on 200 points with a r") as e:
        nnfit.Regressor(hidden=(6000,), epochs=2, output_layer="lstsq").fit(X, y)
    # one line naming the parameter, as the other checks of the estimator give
    assert str(e.value).startswith("Regressor: output_layer: lstsq solves for 6,001")
    assert e.value.key == "output_layer" and isinstance(e.value, ValueError)
    wide = nnfit.Regressor(hidden=(600,), epochs=0, output_layer="lstsq", random_state=0)
    assert wide.fit(X, y).score(X, y) > 0.999  # no ridge, no training: one quick solve


@pytest.mark.parametrize(
    ("factor", "says"),
    [
        (1e200, "values reach .* overflow float64 above 1e[+]150"),
        (1e300, "values reach .* overflow float64 above 1e[+]150"),
        (1e-200, "values are at most .* below 1e-150 .* underflow"),
    ],
)
def test_values_that_overflow_are_refused_as_the_command_line_refuses_them(factor, says):
    X = np.random.default_rng(0).uniform(size=(20, 1))
    with pytest.raises(nnfit.ConfigError, match=f"Regressor: y: {says}"):
        nnfit.Regressor(hidden=(4,), epochs=3).fit(X, np.sin(X[:, 0]) * factor)
    wide = np.r_[X, -X] * 1.7e308
    with pytest.raises(nnfit.ConfigError, match="Regressor: X: a column spans more"):
        nnfit.Regressor(hidden=(4,), epochs=3).fit(wide, np.r_[X[:, 0], X[:, 0]])


def test_a_diverging_fit_warns_and_keeps_finite_weights():
    X = np.linspace(0, 1, 50)[:, None]
    with pytest.warns(RuntimeWarning, match=r"diverged in epoch \d+ "):
        reg = nnfit.Regressor(optimizer="sgd", lr=50.0, epochs=20, random_state=0).fit(X, X[:, 0])
    assert reg.stop_reason_ == "diverged" and all(np.isfinite(W).all() for W in reg.coefs_)
    assert np.isfinite(reg.predict(X)).all()


def test_friedman_default_beats_mlp_at_the_same_budget():
    # bench/friedman.py at 2,000 points and 3 seeds is the measurement; this is its
    # smaller guard (1,000 points, one seed)
    X, y = make_friedman1(n_samples=1000, random_state=0)
    ref = nnfit.Regressor(random_state=0)
    ours = cross_val_score(ref, X, y, cv=3).mean()
    mlp = MLPRegressor(
        hidden_layer_sizes=ref.hidden,
        activation=ref.activation,
        solver=ref.optimizer,
        max_iter=ref.epochs,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the ConvergenceWarning at max_iter
        theirs = cross_val_score(mlp, X, y, cv=3).mean()
    assert ours > 0.85 and ours >= theirs


WITHOUT = """
import sys
sys.modules["sklearn"] = None  # as if scikit-learn were not installed
import numpy as np
import nnfit
X = np.linspace(0, 1, 40)[:, None]
y = np.sin(3 * X[:, 0])
reg = nnfit.Regressor()
try:
    reg.predict(X)
except ValueError as exc:
    print(type(exc).__name__)
print(reg.set_params(lr=0.01, random_state=0) is reg, repr(reg))
print(sorted(reg.get_params()) == sorted(nnfit.Regressor().get_params()))
try:
    reg.set_params(epoch=3)
except ValueError as exc:
    print("rejected", "epoch" in str(exc))
g = reg.fit(X, y).predict(X)
r2 = 1 - np.sum((y - g) ** 2) / np.sum((y - y.mean()) ** 2)
print(abs(reg.score(X, y) - r2) < 1e-12, r2 > 0.9, sys.modules["sklearn"] is None)
"""


def test_the_estimator_works_without_scikit_learn():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WITHOUT)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "NotFittedError",
        "True Regressor(lr=0.01, random_state=0)",
        "True",
        "rejected True",
        "True True True",
    ]


def test_lm_with_several_outputs_is_one_clear_error():
    X = np.random.default_rng(0).uniform(size=(40, 2))
    with pytest.raises(
        ValueError, match=r"^Regressor: optimizer: 'lm' fits one output and y has 2 columns"
    ):
        nnfit.Regressor(optimizer="lm").fit(X, np.c_[X[:, 0], X[:, 1]])


class _Frame:
    """What the estimator reads of a data frame: named columns and the values."""

    def __init__(self, values, columns):
        self.values, self.columns = np.asarray(values), list(columns)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)

    def __len__(self):
        return len(self.values)


def test_feature_names_are_kept_and_checked_as_scikit_learn_does():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(40, 2))
    y = X[:, 0] - X[:, 1]
    reg = nnfit.Regressor(epochs=3, random_state=0).fit(_Frame(X, ["a", "b"]), y)
    assert list(reg.feature_names_in_) == ["a", "b"] and reg.n_features_in_ == 2
    named = reg.predict(_Frame(X, ["a", "b"]))
    with pytest.raises(ValueError, match=r"should match.*\['a', 'b'\].*\['b', 'a'\]"):
        reg.predict(_Frame(X, ["b", "a"]))
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        plain = reg.predict(X)
    assert named.shape == (40,) and np.array_equal(named, plain)
    # refitted on a plain array: no names kept, and names given later are warned about
    reg.fit(X, y)
    assert not hasattr(reg, "feature_names_in_")
    with pytest.warns(UserWarning, match="fitted without feature names"):
        reg.predict(_Frame(X, ["a", "b"]))
    # columns that are not all strings are no names (scikit-learn's rule)
    assert not hasattr(nnfit.Regressor(epochs=1).fit(_Frame(X, [0, 1]), y), "feature_names_in_")


def test_text_masked_and_dates_are_refused_by_fit():
    """Numbers stored as text fitted, masked entries were trained on, dates became
    counts."""
    X = np.linspace(0, 1, 20)[:, None]
    y = X[:, 0]
    reg = nnfit.Regressor(epochs=2)
    with pytest.raises(ValueError, match="X must hold numbers, got dtype object"):
        reg.fit(X.astype(str).astype(object), y)
    with pytest.raises(ValueError, match="X has masked entries"):
        reg.fit(np.ma.masked_array(X, mask=X > 0.5), y)
    with pytest.raises(ValueError, match="X must hold numbers, got dtype datetime64"):
        reg.fit(X.astype("datetime64[D]"), y)


def test_an_iterator_of_widths_a_negative_tol_and_a_missing_layer_are_refused():
    """hidden=iter(...) fitted once and gave the second fit no layers; tol=-5 was taken
    when no early stopping read it; a layer taken out of coefs_ predicted 0."""
    X = np.linspace(0, 1, 20)[:, None]
    y = X[:, 0]
    with pytest.raises(nnfit.ConfigError, match=r"hidden: must be an int or a tuple of ints"):
        nnfit.Regressor(hidden=iter([4]), epochs=2).fit(X, y)
    with pytest.raises(nnfit.ConfigError, match=r"tol: must be a number ≥ 0, got -5"):
        nnfit.Regressor(tol=-5, n_iter_no_change=None, epochs=2).fit(X, y)
    with pytest.raises(nnfit.ConfigError, match=r"tol:"):
        nnfit.Regressor(tol=-5, n_iter_no_change=3, epochs=2).fit(X, y)
    reg = nnfit.Regressor(hidden=np.array([4]), epochs=2, tol=np.float32(0.0)).fit(X, y)
    del reg.coefs_[0], reg.intercepts_[0]
    with pytest.raises(ValueError, match="need 2 layers of weights, got 1"):
        reg.predict(X)


def test_a_learning_rate_given_twice_is_refused_and_a_fraction_that_leaves_nothing_named():
    # lr=0.01 overwrote optimizer={"name": "adam", "lr": 0.5} without a word
    X = np.linspace(0, 1, 40).reshape(-1, 1)
    y = np.sin(X[:, 0])
    twice = nnfit.Regressor(optimizer={"name": "adam", "lr": 0.5}, lr=0.01, epochs=2)
    with pytest.raises(nnfit.ConfigError) as exc:
        twice.fit(X, y)
    assert str(exc.value) == "Regressor: lr: given twice, 0.01 and optimizer's lr 0.5; give one"
    nnfit.Regressor(optimizer={"name": "adam", "lr": 0.5}, epochs=2).fit(X, y)  # once: fine
    # the message spoke of needing 2 samples when 40 were given
    full = nnfit.Regressor(early_stopping=True, validation_fraction=0.99, epochs=2)
    with pytest.raises(
        ValueError, match=r"^Regressor: validation_fraction: 0.99 holds out all 40 samples"
    ):
        full.fit(X, y)


def test_a_network_too_large_for_memory_is_refused_before_allocation():
    X = np.random.default_rng(0).uniform(size=(2000, 1))
    y = np.sin(X[:, 0])
    with pytest.raises(ValueError, match=r"10,000,400,001 parameters \(at most 20,000,000\)"):
        nnfit.Regressor(hidden=(100000, 100000), epochs=1).fit(X, y)  # NumPy: 74.5 GiB
    with pytest.raises(ValueError, match=r"batches of 2,000 rows would need about [\d,]+ MiB"):
        nnfit.Regressor(hidden=(10**6,), batch_size="full", optimizer="gd", epochs=1).fit(X, y)


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"lr": float("nan")}, "lr: input should be a finite number, got nan"),
        ({"hidden": (True,)}, "hidden: must list whole numbers, got True in it"),
        ({"activation": None}, "got None"),
        # the key was named twice, an index bare, and the optimizer's name as a sub-key
        ({"random_state": True}, "Regressor: random_state: must be None, an int"),
        ({"hidden": (8, float("nan"))}, "hidden: item 2: input should be a finite number"),
        ({"optimizer": None}, "Regressor: optimizer: allowed 'gd'"),
    ],
)
def test_parameters_are_shown_as_python_writes_them(params, says):
    # they read ".nan", "true" and "null": a YAML file's spelling, not the caller's
    X = np.linspace(0, 1, 8)[:, None]
    with pytest.raises(nnfit.ConfigError) as info:
        nnfit.Regressor(**params).fit(X, X[:, 0])
    assert says in str(info.value)
