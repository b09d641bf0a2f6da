"""Config loading: defaults, overrides, hashing, and one clear line per problem."""

import json
import math

import pytest

from nnfit.engine.activations import ACTIVATIONS
from nnfit.engine.optimizers import OPTIMIZERS
from nnfit.experiment import config


def test_defaults_are_filled_and_only_target_is_required(write):
    e = config.load(write("target: {expr: x**2}\n", "my exp.yaml"))
    rc = e.run_config()
    assert rc["name"] == "my_exp"
    assert rc["data"] == {
        "n_train": 1024,
        "n_val": 256,
        "n_test": 10000,
        "sampling": "uniform",
        "noise": 0.0,
        "scale_y": "standard",
        "seed": 0,
    }
    assert rc["model"]["hidden"] == [64]
    assert rc["model"]["init"] == "domain"
    assert rc["model"]["bias"] == "spread" and rc["baselines"] == []
    opt = rc["training"]["optimizer"]
    assert opt == {"name": "adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    assert rc["training"]["early_stopping"] == {"patience": 200, "min_delta": 0.0, "monitor": "val"}
    assert "sweep" not in rc
    with pytest.raises(config.ConfigError, match="target: required key is missing"):
        config.load(write("name: x\n"))


def test_two_dimensional_targets_get_a_200_by_200_test_grid():
    e = config.from_dict({"target": {"name": "franke"}})
    assert e.target.dim == 2 and e.data.n_test == 40_000


def test_overrides_are_parsed_as_yaml_and_change_the_hash(write):
    p = write("target: {expr: x}\ntraining: {optimizer: sgd}\n")
    base = config.load(p)
    e = config.load(
        p,
        [
            "training.optimizer.lr=0.5",
            "model.hidden=[3, 4]",
            "training.optimizer.name=momentum",
            "training.optimizer.momentum=0.8",
            "training.schedule=cosine",
        ],
    )
    assert e.training.optimizer.lr == 0.5 and e.model.hidden == [3, 4]
    assert e.training.optimizer.name == "momentum"
    assert e.training.optimizer.params() == {"momentum": 0.8}
    assert e.training.schedule.name == "cosine"
    assert e.config_hash() != base.config_hash()
    assert e.run_id() == f"w3x4-tanh-momentum-s0-{e.config_hash()[:8]}"


def test_the_hash_is_stable_and_independent_of_spelling(write):
    a = config.load(write("target: {expr: x}\nmodel: {hidden: [8]}\n", "a.yaml"))
    b = config.load(
        write(
            "name: a\nmodel:\n  hidden:\n    - 8\ntarget:\n  expr: x\n"
            "training: {optimizer: {name: adam, lr: 0.001}}\n",
            "b.yaml",
        )
    )
    assert a.config_hash() == b.config_hash()
    assert a.config_hash() == config.from_dict(a.run_config()).config_hash()


def test_one_value_spelt_as_an_integer_a_float_or_a_signed_zero_has_one_hash():
    def cfg(mu, geodesic, l2, beta1):
        return config.from_dict(
            {
                "name": "a",
                "target": {"name": "sine"},
                "model": {"hidden": [4], "bias": l2},
                "training": {"optimizer": {"name": "lm", "mu": mu, "geodesic": geodesic}, "l2": l2},
            }
        ), config.from_dict(
            {
                "target": {"name": "sine"},
                "training": {"optimizer": {"name": "adam", "beta1": beta1}},
            }
        )

    (lm_a, adam_a), (lm_b, adam_b) = cfg(1, 0, 0.0, 0), cfg(1.0, -0.0, -0.0, -0.0)
    assert lm_a.config_hash() == lm_b.config_hash()
    assert adam_a.config_hash() == adam_b.config_hash()
    assert lm_a.training.optimizer.params()["mu"] == 1.0
    assert isinstance(lm_a.training.optimizer.params()["mu"], float)


def test_registries_reach_the_schema():
    s = json.dumps(config.schema())
    for name in list(ACTIVATIONS) + list(OPTIMIZERS):
        assert f'"{name}"' in s


def test_per_layer_activations_and_parameters(write):
    e = config.load(
        write("""
        target: {name: sine}
        model:
          hidden: [4, 4, 4]
          activation: [relu, {name: leaky_relu, slope: 0.2}, {name: elu}]
          init: {name: normal, std: 0.5}
    """)
    )
    acts = e.model.activation
    assert acts[0] == "relu" and acts[1].params() == {"slope": 0.2}
    assert acts[2].params() == {"alpha": 1.0}  # defaults are written out
    assert e.model.init.params() == {"std": 0.5}


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        (
            "target: {expr: x}\nmodel: {hiden: [3]}\n",
            "2: model.hiden: unknown key (did you mean 'hidden'?",
        ),
        (
            "target: {expr: x}\ntraining:\n  optimizer: {name: adam, lrr: 1}\n",
            "3: training.optimizer.lrr: adam takes no parameter 'lrr' (did you mean 'lr'?",
        ),
        (  # lm takes no lr, so lr is not among what it allows
            "target: {expr: x}\ntraining:\n  optimizer: {name: lm, geodesc: 1}\n",
            "(did you mean 'geodesic'? allowed: mu, mu_dec,",
        ),
        (
            "target: {expr: x}\nmodel:\n  activation: tanhh\n",
            "3: model.activation: did you mean 'tanh'? allowed 'sigmoid'",
        ),
        (
            "target: {expr: x}\nmodel: {hidden: [4, -2]}\n",
            "2: model.hidden.1: input should be greater than or equal to 1, got -2",
        ),
        ("target: {name: franke, dim: 3}\n", "1: target: dim: franke is 2-dimensional, got 3"),
        (  # said "input should be a valid dictionary or instance of TargetConfig"
            "target: franke\n",
            "1: target: must be a section of keys (expr, name, dim), got 'franke'",
        ),
        ("target: {expr: x}\ndata: 5\n", "2: data: must be a section of keys (n_train,"),
        # the common mistakes of a first file: a key one section too high, a name's case,
        # a width for a list of widths, a name with a space
        (
            "target: {expr: x}\ntraining: {optimizer: sgd, lr: 0.1}\n",
            "2: training.lr: unknown key here (lr goes inside training.optimizer: "
            "optimizer: {name: sgd, lr: …})",
        ),
        (  # the file's own choice when it takes the key, else one that does
            "target: {expr: x}\ntraining: {optimizer: {name: sgd}, beta1: 0.8}\n",
            "training.beta1: unknown key here (beta1 goes inside training.optimizer: "
            "optimizer: {name: adam, beta1: …})",
        ),
        (  # a key of a sub-section before a near spelling (eps is not epochs), any case,
            # the section's default choice when the file names none
            "target: {expr: x}\ntraining: {EPS: 0.1}\n",
            "training.EPS: unknown key here (eps goes inside training.optimizer: "
            "optimizer: {name: adam, eps: …})",
        ),
        (
            "target: {expr: x}\nseed: 3\n",
            "seed: unknown key here (seed goes inside data: data: {seed: …} or inside "
            "training: training: {seed: …})",
        ),
        (
            "target: {expr: x}\ntraining: {loss: {name: huber}, delta: 0.5}\n",
            "training.delta: unknown key here (delta goes inside training.loss: "
            "loss: {name: huber, delta: …})",
        ),
        (
            "target: {expr: x}\ntraining: {patience: 5}\n",
            "training.patience: unknown key here (patience goes inside "
            "training.early_stopping: early_stopping: {patience: …})",
        ),
        (
            "target: {expr: x}\nmodel: {activation: ReLU}\n",
            "2: model.activation: did you mean 'relu'? allowed 'sigmoid'",
        ),
        (
            "target: {expr: x}\nmodel: {hidden: 64}\n",
            "model.hidden: must be a list, e.g. [64], got 64",
        ),
        (  # it suggested [-1] and ['64'], which are refused as well
            "target: {expr: x}\nmodel: {hidden: -1}\n",
            "model.hidden: must be a list (in brackets), got -1",
        ),
        (
            "target: {expr: x}\nmodel: {hidden: '64'}\n",
            "model.hidden: must be a list, e.g. [64], got '64'",
        ),
        (  # it said "got inf" of a value written as 1e400
            "target: {expr: x}\ntraining: {l2: 1e400}\n",
            "2: training.l2: 1e400 is above the largest float64 (about 1.8e308)",
        ),
        (  # it said "got 0.0" of a value written as 1.0e-999
            "target: {expr: x}\ntraining: {l2: 1.0e-999}\n",
            "2: training.l2: 1.0e-999 is nearer 0 than the smallest float64 (about 5e-324) "
            "and would read as 0",
        ),
        (  # it said "above the largest float64" of a number below the most negative
            "target: {expr: x}\ntraining: {l2: -1e400}\n",
            "2: training.l2: -1e400 is below the most negative float64 (about -1.8e308) and "
            "would read as -infinity",
        ),
        (  # a literal of 600 digits was printed whole, the reason cut off the line
            "target: {expr: x}\ntraining: {l2: 0." + "0" * 600 + "1}\n",
            "2: training.l2: 0." + "0" * 27 + "… is nearer 0 than the smallest float64",
        ),
        (  # YAML reads 1e400 as inf: it said "unknown name 'inf'", a name never written
            "target: {expr: 1e400}\n",
            "1: target.expr: 1e400 is above the largest float64 (about 1.8e308) and would "
            "read as infinity",
        ),
        (
            "target: {expr: x}\nname: my run\n",
            "2: name: must be ASCII letters, digits, '.', '_' and '-' only (no spaces), "
            "got 'my run'",
        ),
        (  # ü is a letter: it said "must be letters" of one
            "target: {expr: x}\nname: ünï\n",
            "2: name: must be ASCII letters, digits",
        ),
    ],
)
def test_messages_name_file_line_key_allowed_and_given(write, text, expect):
    p = write(text)
    with pytest.raises(config.ConfigError) as info:
        config.load(p)
    assert str(info.value).startswith(f"{p}:")
    assert expect in str(info.value)


@pytest.mark.parametrize(
    ("model", "expect"),
    [
        ("{init: {name: glorott}}", "model.init.name: did you mean 'glorot'?"),
        ("{init: {name: normal, std: -1}}", "model.init.std: "),
        ("{activation: {name: tanhh}}", "model.activation.name: did you mean 'tanh'?"),
        ("{activation: [relu, {name: elu, alfa: 1}]}", "model.activation.1.alfa: elu takes"),
    ],
)
def test_a_bad_key_inside_a_choice_mapping_is_one_line(write, model, expect):
    # the choice's bare-name branch of the union fails on the whole mapping too; that
    # second line ("allowed 'domain', …, got {'name': 'glorott'}") told nothing new
    p = write(f"target: {{expr: x}}\nmodel: {model}\n")
    with pytest.raises(config.ConfigError) as info:
        config.load(p)
    assert len(info.value.problems) == 1, str(info.value)
    assert expect in str(info.value)
    with pytest.raises(config.ConfigError) as info:  # the same through --set
        config.load(write("target: {expr: x}\n"), overrides=[f"model={model}"])
    assert len(info.value.problems) == 1, str(info.value)


@pytest.mark.parametrize(
    ("hidden", "activation", "seed", "label"),
    [
        ([16], "tanh", 0, "w16-tanh-adam-s0"),
        ([8, 4], ["relu", "tanh"], 3, "w8x4-relu.tanh-adam-s3"),
        ([], "tanh", 0, "w0-linear-adam-s0"),
        ([64] * 10, "relu", 1, "w64d10-relu-adam-s1"),
        (
            [4, 4],
            [{"name": "leaky_relu", "slope": 0.1}, "leaky_relu"],
            0,
            "w4x4-leaky_relu-adam-s0",
        ),
    ],
)
def test_run_ids_say_width_activation_optimizer_and_seed(hidden, activation, seed, label):
    e = config.from_dict(
        {
            "target": {"expr": "x"},
            "model": {"hidden": hidden, "activation": activation},
            "training": {"seed": seed},
        }
    )
    assert e.run_id() == f"{label}-{e.config_hash()[:8]}"
    assert len(e.run_id()) <= 60


@pytest.mark.parametrize(
    ("training", "how"),
    [
        ({"optimizer": "lm"}, "lm"),
        ({"optimizer": "lm", "output_layer": "lstsq"}, "lm-ls"),
        ({"optimizer": "adam", "output_layer": "lstsq"}, "adam-ls"),
        ({"output_layer": "lstsq", "epochs": 0}, "rf"),
    ],
)
def test_a_least_squares_output_layer_is_in_the_run_name(training, how):
    # plain LM and variable projection were both w8-tanh-lm-s0-…: told apart by hash only
    e = config.from_dict({"target": {"expr": "x"}, "model": {"hidden": [8]}, "training": training})
    assert e.run_id().rsplit("-", 1)[0] == f"w8-tanh-{how}-s0"


def test_runs_that_differ_in_activation_differ_in_name():
    a, b = (
        config.from_dict({"target": {"expr": "x"}, "model": {"activation": n}})
        for n in ("tanh", "relu")
    )
    assert a.run_id().rsplit("-", 1)[0] == "w64-tanh-adam-s0"
    assert b.run_id().rsplit("-", 1)[0] == "w64-relu-adam-s0"


QUICK = """\
# a comment first, so that the mapping starts on line 2
name: quick
target:
  expr: sin(2*pi*x)
model: {hidden: [8]}
training:
  optimizer: {name: adam, lr: 0.01}
  epochs: 5
"""


@pytest.mark.parametrize(
    ("sets", "expect"),
    [
        (
            ["training.epochs=-1"],
            "--set training.epochs: input should be greater than or equal to 0, got -1",
        ),
        (
            ["trainng.epochs=5"],
            "--set trainng.epochs: trainng: unknown key (did you mean 'training'?",
        ),
        (
            ["training.optimiser.lr=0.01"],
            "--set training.optimiser.lr: training.optimiser: unknown key "
            "(did you mean 'optimizer'?",
        ),
        (
            ["training.optimizer.lrr=1"],
            "--set training.optimizer.lrr: adam takes no parameter 'lrr'",
        ),
        (["model.activation=tanhh"], "--set model.activation: did you mean 'tanh'?"),
        (["target.expr=x^2"], "--set target.expr: use ** for powers"),
        (
            ["model.hidden=[4, 4]", "model.activation=[tanh]"],
            "--set model.hidden, --set model.activation: model: activation list needs one entry",
        ),
        (["target.expr.x=1"], "--set target.expr.x: target.expr is a value ('sin(2*pi*x)')"),
        (["a..b=1"], "--set a..b: 'a..b' has an empty part"),
        (
            ["training.epochs"],
            "--set training.epochs: expected KEY=VALUE, one argument with no space around '=', "
            "e.g. training.epochs=…",
        ),
    ],
)
def test_set_errors_name_the_override_not_a_line_of_the_file(write, sets, expect):
    p = write(QUICK, "quick.yaml")
    with pytest.raises(config.ConfigError) as info:
        config.load(p, sets)
    (line,) = info.value.problems
    assert line.startswith(expect), line
    assert "quick.yaml" not in line


def test_a_file_error_keeps_its_line_beside_an_unrelated_override(write):
    p = write(QUICK.replace("epochs: 5", "epochs: -5"), "quick.yaml")
    with pytest.raises(config.ConfigError) as info:
        config.load(p, ["training.optimizer.lr=0.5"])
    assert info.value.problems == [
        f"{p}:8: training.epochs: input should be greater than or equal to 0, got -5"
    ]
    with pytest.raises(config.ConfigError) as info:  # the override replaces the bad value
        config.load(p, ["training.epochs=-2"])
    assert info.value.problems[0].startswith("--set training.epochs: ")


def test_a_formula_error_is_reported_once_at_the_formula(write):
    p = write("name: f\ntarget:\n  expr: np.sin(2*np.pi*x)\n")
    with pytest.raises(config.ConfigError) as info:
        config.load(p)
    assert info.value.problems == [
        f"{p}:3: target.expr: write sin(...) without np. (functions are called by name) (column 1)"
    ]


def test_unknown_keys_point_at_the_key_not_the_value_below_it(write):
    p = write("target: {expr: x}\nmodel:\n  hiden:\n    - 3\n")
    with pytest.raises(config.ConfigError, match=r":3: model.hiden: unknown key"):
        config.load(p)


@pytest.mark.parametrize(
    ("line", "said"),
    [
        # a key that YAML reads as a boolean or number is named as the file spells it
        # (it said "training.early_stopping.True", Python's spelling)
        ("training: {early_stopping: {true: 3}}", "training.early_stopping.true: unknown key"),
        ("training: {Off: 3}", "training.Off: unknown key"),
        ("model: {0x10: 1}", "model.0x10: unknown key"),
        ("model: {1.50: 1}", "model.1.50: unknown key"),
        # a key that is no name at all says what it is (it said only "keys must be …")
        ("model: {null: 3}", "model: keys must be plain names, got null"),
        ("model: {~: 3}", "model: keys must be plain names, got null"),
        ("? [a, b]\n: 3", "keys must be plain names, got a list"),
        ("model: {? {a: 1} : 2}", "model: keys must be plain names, got a mapping"),
    ],
)
def test_a_key_is_named_as_the_file_writes_it(write, line, said):
    p = write(f"target: {{expr: x}}\n{line}\n")
    with pytest.raises(config.ConfigError) as info:
        config.load(p)
    assert info.value.problems[0].startswith(f"{p}:2: {said}"), info.value.problems


def test_a_key_the_optimizer_would_ignore_is_refused():
    base = {"target": {"expr": "x"}}
    bad = {
        "lr": {"optimizer": {"name": "lbfgs", "lr": 0.5}},
        "clip_norm": {"optimizer": "lbfgs", "clip_norm": 1e-9},
        "schedule": {"optimizer": "lm", "schedule": "cosine"},
        "batch_size": {"optimizer": "lbfgs", "batch_size": 4},
        "output_every": {"optimizer": "lm", "output_layer": "lstsq", "output_every": 5},
        "l1": {"optimizer": "lbfgs", "output_layer": "lstsq", "l1": 1e-3},
    }
    for key, training in bad.items():
        with pytest.raises(config.ConfigError) as exc:
            config.from_dict({**base, "training": training})
        assert key in str(exc.value) and "not used by optimizer" in str(exc.value)
    # one sentence: what it does not use, then what of those keys it does
    with pytest.raises(config.ConfigError) as exc:
        config.from_dict(
            {**base, "training": {"optimizer": "lbfgs", "schedule": "cosine", "batch_size": 4}}
        )
    assert str(exc.value).endswith(
        "training.schedule: not used by optimizer lbfgs, nor is batch_size; remove them "
        "(--set training.KEY=VALUE for each: schedule=constant, batch_size=full) "
        "or pick another optimizer"
    )
    # every one lm ignores, in a line short enough to be shown whole
    training = {"optimizer": {"name": "lm", "lr": 0.1}, "schedule": "step", "batch_size": 8}
    training.update(clip_norm=1.0, output_every=5, output_layer="lstsq")
    with pytest.raises(config.ConfigError) as exc:
        config.from_dict({**base, "training": training})
    line = str(exc.value)
    assert "lm, nor is schedule, batch_size, clip_norm or output_every;" in line
    assert "output_every=null) or pick another optimizer" in line and len(line) < 300
    with pytest.raises(
        config.ConfigError, match=r"gd \(of optimizer.lr, .* it uses only optimizer.lr, schedule,"
    ):
        config.from_dict({**base, "training": {"optimizer": "gd", "batch_size": 4}})
    # the defaults never count as given, and a resolved config validates again
    for name in ("lbfgs", "lm", "gd"):
        e = config.from_dict({**base, "training": {"optimizer": name}})
        assert e.training.batch_size == "full"
        assert config.from_dict(e.run_config()).config_hash() == e.config_hash()


def test_without_a_validation_set_early_stopping_says_it_watches_training():
    e = config.from_dict({"target": {"expr": "x"}, "data": {"n_val": 0}})
    assert e.run_config()["training"]["early_stopping"]["monitor"] == "train"
    with pytest.raises(config.ConfigError, match="monitor: val needs a validation set"):
        config.from_dict(
            {
                "target": {"expr": "x"},
                "data": {"n_val": 0},
                "training": {"early_stopping": {"monitor": "val"}},
            }
        )


def test_least_squares_output_and_baselines_are_checked():
    with pytest.raises(config.ConfigError, match=r"lstsq needs model\.output: identity"):
        config.from_dict(
            {
                "target": {"expr": "x"},
                "model": {"output": "tanh"},
                "training": {"output_layer": "lstsq"},
            }
        )
    with pytest.raises(config.ConfigError, match="baselines: pwlinear is for d = 1 only"):
        config.from_dict({"target": {"name": "bump", "dim": 3}, "baselines": ["pwlinear"]})
    with pytest.raises(config.ConfigError, match="l2"):
        config.from_dict({"target": {"expr": "x"}, "training": {"l2": -1e-3}})
    auto = config.from_dict({"target": {"name": "bump", "dim": 3}, "baselines": "auto"})
    assert auto.baselines == ["chebyshev", "random_features"]
    one_d = config.from_dict({"target": {"expr": "x"}, "baselines": "auto"})
    assert one_d.baselines == ["chebyshev", "pwlinear", "random_features"]
    # a ridge solve is dense in the output weights: bounded where training follows it
    lsq = {"target": {"expr": "x"}, "training": {"output_layer": "lstsq"}}
    with pytest.raises(config.ConfigError, match="lstsq solves for 5,001 output weights"):
        config.from_dict({**lsq, "model": {"hidden": [5000]}})
    assert config.from_dict({**lsq, "model": {"hidden": [4096]}})
    rf = {**lsq, "training": {"output_layer": "lstsq", "epochs": 0}}
    assert config.from_dict({**rf, "model": {"hidden": [20000]}})  # no ridge: n × m only
    # pwlinear's solve grows with the square of its knots: bounded, and left out of auto
    wide = {"target": {"expr": "x"}, "model": {"hidden": [2049]}}
    assert config.from_dict({**wide, "baselines": "auto"}).baselines == [
        "chebyshev",
        "random_features",
    ]
    with pytest.raises(config.ConfigError, match="pwlinear fits at most 2,048 knots"):
        config.from_dict({**wide, "baselines": ["pwlinear"]})
    assert config.from_dict({**wide, "model": {"hidden": [2048]}, "baselines": ["pwlinear"]})


def test_numbers_no_float_holds_and_numpy_scalars(write):
    # an integer beyond any float was an OverflowError with a traceback, and the message
    # of one just inside printed all its digits
    big = "1" + "0" * 400
    p = write(f"target: {{name: runge}}\ntraining:\n  optimizer: {{name: lm, geodesic: {big}}}\n")
    with pytest.raises(config.ConfigError) as info:
        config.load(p)
    assert str(info.value).endswith(
        "3: training.optimizer.geodesic: geodesic must be finite (0 ≤ geodesic ≤ 10), "
        "got an integer of about 401 digits"
    )
    import numpy as np

    from nnfit.engine.params import Param

    assert Param(0.75, lo=0.0, hi=10.0).check("g", np.float32(0.5)) == 0.5
    assert Param(3, lo=1, integer=True).check("m", np.int64(4)) == 4
    with pytest.raises(ValueError, match="must be a number"):
        Param(1.0).check("g", np.bool_(True))


def test_a_resolved_config_names_no_learning_rate_for_optimizers_without_one():
    for name, has_lr in (("lm", False), ("lbfgs", False), ("adam", True)):
        e = config.from_dict({"target": {"name": "sine"}, "training": {"optimizer": name}})
        opt = e.run_config()["training"]["optimizer"]
        assert ("lr" in opt) is has_lr, opt
        assert config.from_dict(e.run_config()).config_hash() == e.config_hash()


def test_a_bad_parameter_of_a_named_choice_is_one_line_at_its_own_key(write):
    p = write("target: {name: sine}\nmodel:\n  activation:\n    name: leaky_relu\n    slope: 2\n")
    with pytest.raises(config.ConfigError) as info:
        config.load(p)
    assert str(info.value) == (
        f"{p}:5: model.activation.slope: slope must satisfy 0 ≤ slope < 1, got 2"
    )
    assert len(info.value.problems) == 1 and info.value.problems[0].key == "model.activation.slope"


@pytest.mark.parametrize(
    "body, expect",
    [
        ("data: {n_train: true}", "2: data.n_train: must be a whole number, got true"),
        ("model: {hidden: [8, true]}", "2: model.hidden: must list whole numbers, got true in it"),
        ("model: {bias: false}", "2: model.bias: must be a number or 'spread', got false"),
        ("model: {bias: '0.01'}", "2: model.bias: must be a number or 'spread', got '0.01'"),
        (
            "training: {batch_size: '20'}",
            "2: training.batch_size: must be a whole number or 'full', got '20'",
        ),
        ("training: {epochs: '20'}", "2: training.epochs: must be a whole number, got '20'"),
        (
            "training: {optimizer: {name: adam, lr: '0.01'}}",
            "2: training.optimizer.lr: must be a number",
        ),
        ("training: {l2: true}", "2: training.l2: must be a number, got true"),
        ("data: {n_train: 32.5}", "2: data.n_train: must be a whole number, got 32.5"),
        # a file's true and null are shown as the file writes them (it said True, None)
        ("baselines: true", "2: baselines: expected a list of chebyshev, pwlinear, "),
        ("baselines: [chebyshev, null]", "2: baselines: entry 2: allowed chebyshev"),
        # inside a list or section too (it said [True, None]), and .inf as YAML writes it
        (
            "training: {epochs: [true, {a: null}]}",
            "2: training.epochs: input should be a valid integer, got [true, {'a': null}]",
        ),
        # null where no null is allowed names what is (it said "allowed 'spread'")
        ("model: {bias: null}", "2: model.bias: must be a number or 'spread', got null"),
        (
            "training: {batch_size: null}",
            "2: training.batch_size: must be a whole number or 'full', got null",
        ),
        # a whole number past float64 (it said "input should be a valid number")
        (
            "data: {noise: 1" + "0" * 400 + "}",
            "2: data.noise: must be a number within float64's range (about ±1.8e308), got 1000",
        ),
        ("training: {l2: .inf}", "2: training.l2: input should be a finite number, got .inf"),
        (
            "baselines: [pwlinear, chebyshev, pwlinear]",
            "2: baselines: pwlinear is listed twice; list each baseline once",
        ),
        (
            "training: {optimizer: {name: adam, beta1: null}}",
            "2: training.optimizer.beta1: beta1 must be a number (0 ≤ beta1 < 1), got null",
        ),
        (
            "model: {activation: {name: leaky_relu, slope: true}}",
            "2: model.activation.slope: slope must be a number (0 ≤ slope < 1), got true",
        ),
    ],
)
def test_true_false_and_strings_are_not_numbers(write, body, expect):
    # lax validation took them for 1, 0 and 0.01: data.n_train: true trained on one point
    p = write(f"target: {{name: sine}}\n{body}\n")
    with pytest.raises(config.ConfigError) as info:
        config.load(p)
    assert str(info.value).startswith(f"{p}:{expect}")
    if "baselines" in body and "pwlinear" not in body:
        assert str(info.value).endswith("got true" if "true" in body else "got null")


@pytest.mark.parametrize(("text", "got"), [("null", "null"), ("- 1", "a list"), ("7", "a number")])
def test_a_file_that_is_not_a_mapping_says_what_it_holds_in_yaml_words(write, text, got):
    # it said "got NoneType", "got list"
    p = write(text + "\n")
    with pytest.raises(config.ConfigError) as info:
        config.load(p)
    assert str(info.value) == f"{p}: expected a mapping of keys (target:, model:, …), got {got}"


def test_numpy_true_is_not_a_number_from_python_either():
    import numpy as np

    for training, expect in (
        ({"epochs": np.bool_(True)}, "training.epochs: must be a whole number, got np.True_"),
        ({"l2": np.bool_(False)}, "training.l2: must be a number, got np.False_"),
    ):
        with pytest.raises(config.ConfigError) as info:
            config.from_dict({"target": {"name": "sine"}, "training": training})
        assert str(info.value).endswith(expect)
    e = config.from_dict({"target": {"name": "sine"}, "training": {"epochs": np.int64(3)}})
    assert e.training.epochs == 3


def test_integral_floats_stay_whole_numbers(write):
    e = config.load(write("target: {name: sine}\ndata: {n_train: 1e3}\ntraining: {epochs: 20.0}\n"))
    assert e.data.n_train == 1000 and e.training.epochs == 20


def test_a_key_given_twice_in_a_set_value_is_refused_as_in_a_file():
    # {name: lm, name: adam} silently trained adam: PyYAML keeps the last of two keys
    from nnfit.experiment.yamlfile import parse_set

    with pytest.raises(config.ConfigError) as info:
        parse_set("training.optimizer={name: lm, name: adam}")
    assert str(info.value) == "--set training.optimizer: key 'name' given twice"
    assert parse_set("training.optimizer={name: lm, mu: 2}")[1] == {"name": "lm", "mu": 2}


def test_a_set_key_given_twice_is_refused(write):
    from conftest import TINY

    # the later one won unseen
    path = write(TINY)
    with pytest.raises(config.ConfigError) as info:
        config.load(path, ["training.epochs=5", "training.epochs=10"])
    assert str(info.value) == "--set training.epochs: given twice (5 and 10); give it once"
    # it said "(None and None)", Python's spelling of YAML's null
    with pytest.raises(config.ConfigError) as info:
        config.load(path, ["training.early_stopping=null", "training.early_stopping=null"])
    assert str(info.value).endswith("given twice (null and null); give it once")
    assert config.load(path, ["training.epochs=5", "training.seed=1"]).training.epochs == 5


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (["training={epochs: 4}", "training.epochs=3"], "--set training.epochs sets"),
        (["training.optimizer.name=sgd", "training.optimizer=adam"], "--set training.optimizer"),
        (["training.optimizer={name: sgd, lr: 1}", "training.optimizer.lr=2"], "sets training"),
    ],
)
def test_a_key_set_twice_through_a_section_is_refused(write, given, said):
    # one of the two values was lost unseen
    from conftest import TINY

    with pytest.raises(config.ConfigError) as info:
        config.load(write(TINY), given)
    assert str(info.value).startswith(f"--set {given[0].split('=')[0]}: ")
    assert said in str(info.value) and str(info.value).endswith("too; give the value once")


@pytest.mark.parametrize("order", [1, -1])
@pytest.mark.parametrize(
    "lr",
    [
        "training.optimizer.lr=0.5",
        "training={optimizer: {lr: 0.5}}",
        "training.optimizer={lr: 0.5}",
    ],
)
def test_the_more_specific_set_key_stays_whatever_the_order(write, order, lr):
    # the section given after replaced lr 0.5 (sgd is another choice than adam); a
    # section holding lr was applied first for its shorter key, and lost lr too
    from conftest import TINY

    given = [lr, "training.optimizer={name: sgd}"][::order]
    e = config.load(write(TINY), given)
    assert (e.training.optimizer.name, e.training.optimizer.lr) == ("sgd", 0.5)


def test_a_set_section_merges_into_the_file_section(write):
    path = write("target: {name: sine}\ntraining: {optimizer: {name: adam, lr: 0.2, beta1: 0.5}}\n")
    e = config.load(path, ["training.optimizer={lr: 0.3}"])
    assert (e.training.optimizer.name, e.training.optimizer.lr) == ("adam", 0.3)
    assert e.training.optimizer.beta1 == 0.5
    # another choice brings its own keys: adam's beta1 does not carry over to sgd
    e = config.load(path, ["training.optimizer={name: sgd}"])
    assert e.training.optimizer.name == "sgd" and e.training.optimizer.lr == 0.01
    # a name alone is the same choice, or another one
    e = config.load(path, ["training.optimizer=adam"])
    assert (e.training.optimizer.lr, e.training.optimizer.beta1) == (0.2, 0.5)
    assert config.load(path, ["training.optimizer=sgd"]).training.optimizer.lr == 0.01
    # a formula in place of a built-in target is another choice too
    e = config.load(path, ["target={expr: x**2}"])
    assert (e.target.expr, e.target.name) == ("x**2", None)


@pytest.mark.parametrize(
    ("given", "expect"),
    [
        ("model.init.scale=2", None),
        ("model.init={scale: 2}", None),
        ("model.init.std=0.1", "--set model.init.std: domain takes no parameter 'std'"),
        ("model.activation.alfa=1", "--set model.activation.alfa: tanh takes no parameter"),
        ("model.output.alpha=1", "--set model.output.alpha: identity takes no parameter"),
    ],
)
def test_a_key_under_a_default_choice_is_the_default_choices(write, given, expect):
    # the file leaves init at its default: model.init.scale=2 failed with "model.init.name:
    # required key is missing", blamed on a line of the file
    path = write("target: {name: sine}\nmodel: {hidden: [4]}\n")
    if expect is None:
        e = config.load(path, [given])
        assert e.model.init.name == "domain" and e.model.init.params() == {"scale": 2.0}
        return
    with pytest.raises(config.ConfigError) as info:
        config.load(path, [given])
    assert str(info.value).startswith(expect)


def test_the_schema_takes_an_init_section_without_a_name():
    # the loader took `init: {scale: 2}` as domain's while the schema, for editors,
    # still required a name
    import jsonschema

    init = config.schema()["$defs"]["InitConfig"]
    default = config.ModelConfig.model_fields["init"].default
    assert init["default"] == default == "domain"
    [unnamed] = [v for v in init["anyOf"][1:] if "name" not in v.get("required", [])]
    assert unnamed["properties"]["name"] == {"const": default}
    data = {"target": {"name": "sine"}, "model": {"init": {"scale": 2}}}
    jsonschema.validate(data, config.schema())


@pytest.mark.parametrize(
    "given", [["target.expr=x0+x1"], ["target={expr: x0+x1}"], ["target={expr: x0+x1, dim: 2}"]]
)
def test_a_formula_over_a_formula_keeps_its_dimension(write, given):
    # a formula is one choice: another formula over it kept no dim, and x1 was refused as
    # a variable of a 1-D target
    path = write("target: {expr: x0*x1, dim: 2}\n")
    e = config.load(path, given)
    assert (e.target.expr, e.target.dim) == ("x0+x1", 2)
    # a built-in name over a formula brings its own dimension
    assert config.load(path, ["target.name=sine"]).target.dim == 1
    assert config.load(path, ["target={expr: x, dim: 3}"]).target.dim == 3


@pytest.mark.parametrize(
    ("value", "expect"),
    [
        ("!!int x", "YAML tags (!!int) are not supported"),
        ("!!float 3", "YAML tags (!!float) are not supported"),
        # it said Python's "Exceeds the limit (4300 digits) for integer string conversion"
        ("1" * 5000, "1" * 29 + "… is a whole number of 5,000 digits, too long to read (at"),
        ("0x" + "f" * 5000, "0x" + "f" * 27 + "… is a whole number of 5,000 digits"),
        # a negative one is far below, not "far above", any value a file takes
        (
            "-" + "9" * 5000,
            "-" + "9" * 28 + "… is a whole number of 5,000 digits, too long to "
            "read (at most 4,300), and far below any",
        ),
        ("{<<: {name: adam, name: lm}}", "YAML merge keys (<<) are not supported"),
        ("[&a 1, *a]", "YAML aliases (*name) are not supported"),
    ],
)
def test_set_values_take_plain_yaml_only_as_files_do(value, expect):
    # !!int x was a ValueError traceback; a merge kept the last of two names
    from nnfit.experiment.yamlfile import parse_set

    with pytest.raises(config.ConfigError) as info:
        parse_set(f"training.epochs={value}")
    assert str(info.value).startswith("--set training.epochs: " + expect), str(info.value)


def test_a_merge_sign_as_a_value_is_text():
    # `name: <<` was "could not determine a constructor for the tag merge"; in YAML 1.2
    # << is text, and a merge key only where a mapping's key is one (refused above)
    from nnfit.experiment.yamlfile import dump_yaml, load_yaml

    assert load_yaml("a: <<\nb: [<<, x]\n") == {"a": "<<", "b": ["<<", "x"]}
    assert load_yaml(dump_yaml({"a": "<<"})) == {"a": "<<"}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"init": "domain"}, {"init": {"name": "domain", "scale": 1}}),
        ({"activation": "tanh"}, {"activation": ["tanh"]}),
        ({"hidden": [8, 8]}, {"hidden": [8, 8], "activation": ["tanh", {"name": "tanh"}]}),
        ({"activation": "leaky_relu"}, {"activation": {"name": "leaky_relu", "slope": 0.01}}),
        ({"output": "identity"}, {"output": {"name": "identity"}}),
    ],
)
def test_one_network_spelled_two_ways_has_one_hash(a, b):
    # {name: domain} and domain gave two run folders, so a resumed sweep trained it twice
    ea = config.from_dict({"target": {"name": "sine"}, "model": a})
    eb = config.from_dict({"target": {"name": "sine"}, "model": b})
    assert ea.config_hash() == eb.config_hash()
    assert eb.run_config()["model"] == ea.run_config()["model"]
    assert config.from_dict(eb.run_config()).config_hash() == eb.config_hash()


def test_networks_that_differ_keep_their_own_hash():
    base = {"target": {"name": "sine"}}
    hashes = {
        config.from_dict({**base, "model": m}).config_hash()
        for m in (
            {"activation": "leaky_relu"},
            {"activation": {"name": "leaky_relu", "slope": 0.02}},
            {"hidden": [8, 8], "activation": ["tanh", "relu"]},
            {"hidden": [8, 8], "activation": ["relu", "tanh"]},
            {"hidden": [8, 8]},
            {"init": {"name": "domain", "scale": 2}},
        )
    }
    assert len(hashes) == 6


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("010", 10),  # YAML 1.1: octal 8
        ("017", 17),  # 1.1: 15
        ("1:30", "1:30"),  # 1.1: base 60, 90
        ("0:0.5", "0:0.5"),
        ("yes", "yes"),  # 1.1: True
        ("off", "off"),
        ("10_000", 10000),
        ("0x1F", 31),
        ("0o17", 15),
        ("1e-8", 1e-8),
        ("-.inf", -math.inf),
        ("2024-01-01", "2024-01-01"),
        ("True", True),
    ],
)
def test_plain_scalars_read_as_yaml_1_2_core_not_1_1(text, value):
    # hidden: [010] trained a width of 8, epochs: 1:30 ninety epochs, activation: yes
    # was reported as True
    from nnfit.experiment.yamlfile import load_yaml

    assert load_yaml(f"v: {text}") == {"v": value}


def test_yaml_1_1_spellings_are_refused_where_a_number_is_meant(write):
    with pytest.raises(config.ConfigError) as info:
        config.load(write("target: {name: sine}\ntraining: {epochs: 1:30}\n"))
    assert str(info.value).endswith("training.epochs: must be a whole number, got '1:30'")
    with pytest.raises(config.ConfigError, match=r"activation: allowed.*got 'yes'"):
        config.load(write("target: {name: sine}\nmodel: {activation: yes}\n"))
    assert config.load(write("target: {name: sine}\nmodel: {hidden: [010]}\n")).model.hidden == [10]


def test_a_cosine_floor_above_the_learning_rate_is_refused(write):
    # lr_min: 1 with lr 1e-3 was accepted, and the rate rose to 0.75 mid-run
    with pytest.raises(config.ConfigError) as info:
        config.load(
            write("target: {name: sine}\ntraining: {schedule: {name: cosine, lr_min: 1}}\n")
        )
    assert str(info.value).endswith(
        "training.schedule.lr_min: must be at most the learning rate (0.001), got 1: the rate "
        "would rise instead of decay"
    )
    ok = config.load(
        write("target: {name: sine}\ntraining: {schedule: {name: cosine, lr_min: 1e-4}}\n")
    )
    assert ok.training.schedule.params()["lr_min"] == 1e-4


def test_a_loss_is_a_named_choice_as_an_optimizer_is(write):
    # training.loss.delta over `loss: huber` was "a value, not a section"; mae over
    # {huber, delta: 2} was "mae takes no parameter 'delta'"
    path = write("target: {name: sine}\ntraining: {loss: huber}\n")
    assert config.load(path, ["training.loss.delta=3"]).training.loss.delta == 3.0
    path = write("target: {name: sine}\ntraining: {loss: {name: huber, delta: 2.0}}\n")
    assert config.load(path, ["training.loss={name: mae}"]).training.loss.name == "mae"
    assert config.load(path, ["training.loss=huber"]).training.loss.delta == 2.0


def test_a_key_another_optimizer_ignores_says_how_to_unset_it_and_that_works(write):
    # switching to lm by --set was a dead end: the file's schedule could not be removed
    path = write(
        "target: {name: sine}\n"
        "training: {optimizer: adam, schedule: {name: cosine}, batch_size: 32}\n"
    )
    with pytest.raises(config.ConfigError) as info:
        config.load(path, ["training.optimizer=lm"])
    hint = str(info.value).split("remove them (--set training.KEY=VALUE for each: ")[1]
    hint = hint.split(")")[0]
    assert hint == "schedule=constant, batch_size=full"
    sets = [f"training.{s}" for s in hint.split(", ")]
    assert config.load(path, ["training.optimizer=lm", *sets]).training.optimizer.name == "lm"


@pytest.mark.parametrize(
    ("given", "want"),
    [
        ("training.optimizer.name=sgd", {"name": "sgd", "lr": 0.01}),
        ("training.optimizer.name=nesterov", {"name": "nesterov", "lr": 0.01, "momentum": 0.9}),
        ("training.optimizer.name=momentum", {"name": "momentum", "lr": 0.2, "momentum": 0.8}),
    ],
)
def test_a_choice_named_by_its_dotted_name_brings_its_own_keys(write, given, want):
    # `optimizer.name=nesterov` kept the file's momentum 0.8 where `optimizer=nesterov`
    # gave 0.9, and `optimizer.name=sgd` over a file's momentum failed on its keys
    path = write(
        "target: {name: sine}\ntraining: {optimizer: {name: momentum, lr: 0.2, momentum: 0.8}}\n"
    )
    dotted = config.load(path, [given]).training.optimizer.model_dump()
    name = given.split("=")[1]
    assert (
        dotted == config.load(path, [f"training.optimizer={name}"]).training.optimizer.model_dump()
    )
    assert {k: dotted[k] for k in want} == want
    # a key beside the name stays, whatever the order
    for sets in ([given, "training.optimizer.lr=0.5"], ["training.optimizer.lr=0.5", given]):
        assert config.load(path, sets).training.optimizer.lr == 0.5


def test_an_empty_set_value_is_refused(write):
    # `--set training.optimizer.lr=` (an empty shell variable) reset lr to its default
    from conftest import TINY

    with pytest.raises(config.ConfigError, match=r"^--set training\.epochs: no value after '='"):
        config.load(write(TINY), ["training.epochs="])


def test_an_error_inside_a_set_section_names_the_key_in_it(write):
    # "--set training: unknown key (did you mean 'epochs'?…)" never named the key given
    from conftest import TINY

    with pytest.raises(config.ConfigError) as info:
        config.load(write(TINY), ["training={epoch: 3}"])
    assert str(info.value).startswith("--set training: training.epoch: unknown key")
    with pytest.raises(config.ConfigError) as info:
        config.load(write(TINY), ["training.epoch=3"])
    assert str(info.value).startswith("--set training.epoch: unknown key")


def test_a_dotted_name_over_a_section_without_one_brings_the_choice_s_own_keys(write):
    # over the implicit adam's beta1: "sgd takes no parameter 'beta1'"; the section form worked
    path = write("target: {name: sine}\ntraining: {optimizer: {lr: 0.02, beta1: 0.8}}\n")
    dotted = config.load(path, ["training.optimizer.name=sgd"]).training.optimizer
    assert dotted == config.load(path, ["training.optimizer={name: sgd}"]).training.optimizer


@pytest.mark.parametrize(
    "given", [["target.name=runge", "target.expr=x"], ["target={name: runge}", "target.expr=x"]]
)
def test_a_target_named_and_given_a_formula_by_set_is_refused(write, given):
    # the one applied last won unseen
    from conftest import TINY

    with pytest.raises(config.ConfigError, match="names the target too; give one of"):
        config.load(write(TINY), given)


def test_one_set_section_with_a_name_and_a_formula_says_so(write):
    # said "given twice ({…} and {…})", the same mapping twice
    from conftest import TINY

    with pytest.raises(config.ConfigError) as info:
        config.load(write(TINY), ["target={expr: x, name: sine}"])
    assert str(info.value) == "--set target: gives target.name and target.expr; give one of them"
    # config.yaml's own spelling of a formula is one: a null name is no name
    path = write("target: {expr: x0*x1, dim: 2}\n")
    e = config.load(path, ["target={expr: x0, name: null}"])
    assert (e.target.expr, e.target.dim) == ("x0", 2)
    assert e.config_hash() == config.load(path, ["target={expr: x0}"]).config_hash()


def test_float32_lm_records_what_it_runs_and_refuses_what_it_cannot():
    # float32 runs go without the geodesic acceleration and keep the ridge ≥ 1e-8: the
    # resolved config said geodesic 0.75 and ridge_min 1e-14, and a given 0.5 or 1e-12
    # was taken and overridden unseen
    base = {"target": {"name": "sine"}, "training": {"optimizer": "lm", "dtype": "float32"}}
    e = config.from_dict(base)
    opt = e.run_config()["training"]["optimizer"]
    assert opt["geodesic"] == 0.0 and opt["ridge_min"] == 1e-8 and opt["ridge"] == 1e-6
    assert config.from_dict(e.run_config()).config_hash() == e.config_hash()
    double = config.from_dict({**base, "training": {"optimizer": "lm"}})
    assert double.run_config()["training"]["optimizer"]["geodesic"] == 0.75
    for key, value in (("geodesic", 0.5), ("ridge_min", 1e-12), ("ridge", 1e-9)):
        t = {"optimizer": {"name": "lm", key: value}, "dtype": "float32", "output_layer": "lstsq"}
        with pytest.raises(config.ConfigError) as err:
            config.from_dict({**base, "training": t}, "f.yaml")
        (line,) = err.value.problems
        assert line.startswith(f"f.yaml: training.optimizer.{key}: float32") and "float64" in line
    ok = {"optimizer": {"name": "lm", "geodesic": 0, "ridge_min": 1e-6}, "dtype": "float32"}
    ok["output_layer"] = "lstsq"  # the ridge is the least-squares output layer's
    opt = config.from_dict({**base, "training": ok}).run_config()["training"]["optimizer"]
    assert opt["geodesic"] == 0 and opt["ridge_min"] == 1e-6


@pytest.mark.parametrize(
    ("key", "value", "names"),
    [
        ("optimizer", None, "gd, sgd, momentum"),
        ("optimizer", 5, "gd, sgd, momentum"),
        ("schedule", [1], "constant, step, exponential"),
        ("loss", True, "mse, mae, huber"),
    ],
)
def test_a_choice_that_is_neither_a_name_nor_a_section_says_it_takes_both(key, value, names):
    # it said "must be a section of keys (name, lr)" of optimizer: null, and named lr,
    # which lm refuses
    with pytest.raises(config.ConfigError) as exc:
        config.from_dict({"target": {"expr": "x"}, "training": {key: value}})
    text = str(exc.value)
    assert f"training.{key}: must be a name ({names}" in text
    assert "or a section {name: …, …}, got " in text and "section of keys" not in text


def test_lms_ridge_needs_a_least_squares_output_layer_and_ridge_min_at_most_ridge():
    # both were accepted and changed nothing, or could not be met, unsaid
    def training(**opt):
        return {"target": {"name": "sine"}, "training": {"optimizer": {"name": "lm", **opt}}}

    for key in ("ridge", "ridge_min"):
        with pytest.raises(config.ConfigError, match=rf"optimizer\.{key}: .*output_layer: lstsq"):
            config.from_dict(training(**{key: 0.5}))
    config.from_dict(training(ridge=1e-6, ridge_min=1e-14))  # the defaults, as written back
    for dtype in ("float32", "float64"):  # a resolved config reads back as it was
        exp = config.from_dict(
            {**training(), "training": {**training()["training"], "dtype": dtype}}
        )
        again = config.from_dict(exp.model_dump(mode="json"))
        assert again.training.optimizer.params() == exp.training.optimizer.params()
        switched = exp.model_dump(mode="json")  # float32's config run in float64
        switched["training"]["dtype"] = "float64"
        config.from_dict(switched)
    lstsq = training(ridge=1e-3, ridge_min=1.0)
    lstsq["training"]["output_layer"] = "lstsq"
    with pytest.raises(config.ConfigError, match="ridge_min must be at most ridge"):
        config.from_dict(lstsq)
    lstsq["training"]["optimizer"]["ridge"] = 0.0  # no ridge: it starts at ridge_min
    config.from_dict(lstsq)
