"""The experiment file: YAML in, a validated, frozen :class:`Experiment` out.

Validation happens once, here; everything downstream trusts its input. Every problem
becomes a :class:`ConfigError` whose lines read ``FILE:LINE: key.path: what is wrong
(allowed …, got …)``. Line numbers come from the YAML node marks; YAML aliases are
refused (so an alias bomb cannot expand), and allowed names come from the engine's
registries, so adding an activation or optimizer needs no change here.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from nnfit.engine.initializers import INITIALIZERS
from nnfit.engine.loop import VARPRO_L1
from nnfit.engine.losses import LOSSES
from nnfit.engine.network import param_count
from nnfit.engine.optimizers import OPTIMIZERS
from nnfit.experiment import limits
from nnfit.experiment.baselines import NAMES as BASELINES
from nnfit.experiment.baselines import applicable, pwlinear_problem
from nnfit.experiment.choices import (
    Activation,
    ActivationConfig,
    InitConfig,
    LossConfig,
    OptimizerConfig,
    ScheduleConfig,
    _lit,
    _Strict,
)
from nnfit.experiment.formulas import ExprError, compile_expr
from nnfit.experiment.messages import _AtKey, format_errors, shown
from nnfit.experiment.targets import TARGETS
from nnfit.experiment.yamlfile import (  # noqa: F401  (ConfigError and the reading helpers live on here)
    ConfigError,
    Located,
    Override,
    Problem,
    apply_overrides,
    kind,
    parse_set,
    parse_yaml,
    read_text,
)

MAX_PARAMS = 20_000_000  # a network larger than this is refused before allocation
MAX_DIM = 64
MAX_WIDTH = 1_000_000  # units in one hidden layer
MAX_MEMORY_MB = 4096  # estimated data, parameter and buffer memory of one run
#: the most output weights solved with a ridge: 4,097 on 1,024 points take about 20 s
MAX_RIDGE_WEIGHTS = 4097


Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+$", max_length=100)]


class TargetConfig(_Strict):
    expr: Annotated[str, Field(max_length=2000)] | None = None
    name: _lit(TARGETS) | None = None
    dim: Annotated[int, Field(ge=1, le=MAX_DIM)] | None = None

    @field_validator("expr", mode="before")
    @classmethod
    def _number_is_a_formula(cls, v):
        # `expr: 1` is YAML's number 1, and a constant is a formula too
        if isinstance(v, int | float) and not isinstance(v, bool):
            if not math.isfinite(v):  # 1e400 or .inf read as a number: no formula 'inf'
                raise ValueError(f"read as the number {v!r}, which is not finite; F must be finite")
            return repr(v)
        return v

    @model_validator(mode="after")
    def _one_source(self):
        if (self.expr is None) == (self.name is None):
            raise ValueError("give exactly one of target.expr or target.name")
        if self.name is not None:
            t = TARGETS[self.name]
            if self.dim is None:
                object.__setattr__(self, "dim", t.default_dim)
            elif t.dim is not None and self.dim != t.dim:
                raise ValueError(f"dim: {self.name} is {t.dim}-dimensional, got {self.dim}")
        elif self.dim is None:
            object.__setattr__(self, "dim", 1)
        if self.expr is not None:
            try:
                compile_expr(self.expr, self.dim)
            except ExprError as exc:
                raise _AtKey("expr", str(exc)) from None
        return self


class DataConfig(_Strict):
    n_train: Annotated[int, Field(ge=1, le=10_000_000)] = 1024
    n_val: Annotated[int, Field(ge=0, le=10_000_000)] = 256
    n_test: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    sampling: Literal["uniform", "grid", "sobol"] = "uniform"
    noise: Annotated[float, Field(ge=0, le=1e6)] = 0.0
    scale_y: Literal["standard", "minmax", "none"] = "standard"
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0


class ModelConfig(_Strict):
    hidden: list[Annotated[int, Field(ge=1, le=MAX_WIDTH)]] = Field(
        default_factory=lambda: [64], max_length=1000
    )
    activation: Activation | list[Activation] = "tanh"
    output: Activation = "identity"
    init: _lit(INITIALIZERS) | InitConfig = "domain"
    bias: Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)] | Literal["spread"] = (
        "spread"
    )

    @field_validator("activation", "output", "init", mode="before")
    @classmethod
    def _default_name(cls, v, info):
        # a section without a name is the default's (`init: {scale: 2}` is domain's, as
        # `optimizer: {lr: 0.1}` is adam's): `--set model.init.scale=2` on a file that
        # leaves init at its default failed with "model.init.name: required key"
        default = cls.model_fields[info.field_name].default
        if isinstance(v, dict) and "name" not in v and isinstance(default, str):
            return {"name": default, **v}
        return v

    @model_validator(mode="after")
    def _activation_list(self):
        if isinstance(self.activation, list) and len(self.activation) != len(self.hidden):
            raise ValueError(
                f"activation list needs one entry per hidden layer ({len(self.hidden)}), "
                f"got {len(self.activation)}"
            )
        return self


class EarlyStoppingConfig(_Strict):
    patience: Annotated[int, Field(ge=1)] = 200
    min_delta: Annotated[float, Field(ge=0)] = 0.0
    monitor: Literal["val", "train"] = "val"


Number = Annotated[float, Field(allow_inf_nan=False)]


class TrainingConfig(_Strict):
    loss: LossConfig = Field(default_factory=LossConfig)
    optimizer: OptimizerConfig = Field(default_factory=lambda: OptimizerConfig(lr=1e-3))
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    batch_size: Annotated[int, Field(ge=1)] | Literal["full"] = 32
    epochs: Annotated[int, Field(ge=0, le=10_000_000)] = 2000
    l1: Annotated[Number, Field(ge=0, le=1e6)] = 0.0
    l2: Annotated[Number, Field(ge=0, le=1e6)] = 0.0
    clip_norm: Annotated[Number, Field(gt=0)] | None = None
    early_stopping: EarlyStoppingConfig | None = Field(default_factory=EarlyStoppingConfig)
    epsilon: Annotated[Number, Field(gt=0)] | None = None
    output_layer: Literal["trained", "lstsq"] = "trained"
    output_every: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    dtype: Literal["float64", "float32"] = "float64"
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0

    @field_validator("optimizer", "schedule", "loss", mode="before")
    @classmethod
    def _name_string(cls, v, info):
        if isinstance(v, str):
            return {"name": v}
        if v is None or isinstance(v, bool | int | float | list):
            # pydantic said "must be a section of keys (name, lr)", of a key that takes a
            # name too, and lists lr for lm, which refuses it
            section = cls.model_fields[info.field_name].annotation
            names = typing.get_args(section.model_fields["name"].annotation)
            raise ValueError(
                f"must be a name ({', '.join(names)}) or a section {{name: …, …}}, got {shown(v)}"
            )
        return v

    @model_validator(mode="before")
    @classmethod
    def _ridge_needs_lstsq(cls, data):
        """lm's ridge and ridge_min are the least-squares output layer's: given with a
        trained one they changed nothing, unsaid. The values a resolved config.yaml
        writes pass (the defaults, and float32's ridge_min)."""
        if not isinstance(data, dict) or data.get("output_layer", "trained") == "lstsq":
            return data
        opt = data.get("optimizer")
        if isinstance(opt, dict) and opt.get("name") == "lm":
            method = OPTIMIZERS["lm"]
            # what a resolved config writes, in either precision (float32 fills its
            # ridge_min; the file may since have been switched to float64)
            fills = method.in_precision({}, "float32")[0]
            for key in ("ridge", "ridge_min"):
                if key in opt and opt[key] not in (method.params[key].default, fills.get(key)):
                    raise _AtKey(
                        f"optimizer.{key}",
                        "is the least-squares output layer's ridge: it needs "
                        "training.output_layer: lstsq; remove it or set output_layer: lstsq",
                    )
        return data

    @model_validator(mode="before")
    @classmethod
    def _precision(cls, data):
        """The optimizer's parameters for the dtype (lm in float32: no geodesic
        acceleration, the ridge ≥ 1e-8) fill its defaults, so that the resolved config
        says what runs; a value given against them is refused, not overridden."""
        if not isinstance(data, dict) or data.get("dtype") not in ("float32", "float64"):
            return data
        opt = data.get("optimizer")
        opt = {"name": opt} if isinstance(opt, str) else opt
        name = opt.get("name", "adam") if isinstance(opt, dict) else None
        if not isinstance(name, str) or name not in OPTIMIZERS:
            return data
        fills, problems = OPTIMIZERS[name].in_precision(opt, data["dtype"])
        for key, message in problems:
            raise _AtKey(f"optimizer.{key}", message)
        if fills:
            data = {**data, "optimizer": {**fills, **opt}}
        return data

    @model_validator(mode="after")
    def _honoured(self):
        """Every key given must be one the optimizer uses: none is silently ignored."""
        method = OPTIMIZERS[self.optimizer.name]
        if method.full_batch and "batch_size" not in self.model_fields_set:
            object.__setattr__(self, "batch_size", "full")  # what it does: say so
        inert = {
            "lr": self.optimizer.lr is None,
            "schedule": self.schedule.name == "constant",
            "batch_size": self.batch_size == "full",
            "clip_norm": self.clip_norm is None,
            "l1": not self.l1,
            "output_every": self.output_every is None,
        }
        unused = [k for k, free in inert.items() if not free and k not in method.honours]
        if unused:
            named = {k: "optimizer.lr" if k == "lr" else k for k in inert}  # as the file has them
            key = named[unused[0]]
            used = [named[k] for k in inert if k in method.honours]
            keys = ", ".join(named[k] for k in list(inert)[:-1]) + f" and {named[list(inert)[-1]]}"
            uses = f"of {keys} it uses {'only ' + ', '.join(used) if used else 'none'}"
            neutral = {
                "lr": "optimizer.lr=null",
                "schedule": "schedule=constant",
                "batch_size": "batch_size=full",
                "clip_norm": "clip_norm=null",
                "l1": "l1=0",
                "output_every": "output_every=null",
            }
            if len(unused) == 1:
                fix = f"remove it (on the command line: --set training.{neutral[unused[0]]})"
                what = f" ({uses})"
            else:  # one --set each, said once; the keys it does not use are the news
                each = ", ".join(neutral[k] for k in unused)
                fix = f"remove them (--set training.KEY=VALUE for each: {each})"
                what = ""
            also = (
                f", nor is {', '.join(named[k] for k in unused[1:-1])}"
                f"{' or ' if unused[2:] else ''}{named[unused[-1]]}"
                if unused[1:]
                else ""
            )
            raise _AtKey(
                key,
                f"not used by optimizer {method.name}{also}{what}; {fix} or pick another optimizer",
            )
        if method.least_squares and not LOSSES[self.loss.name].least_squares:
            raise ValueError(
                f"optimizer {method.name} is Gauss–Newton on squared residuals: it needs loss "
                f"mse (got {self.loss.name}); use lbfgs otherwise"
            )
        if method.varpro and self.output_layer == "lstsq" and self.l1:
            raise _AtKey("l1", VARPRO_L1.format(name=method.name))
        if self.output_every is not None and self.output_layer != "lstsq":
            raise ValueError("training.output_every needs training.output_layer: lstsq")
        if self.output_layer == "lstsq" and not LOSSES[self.loss.name].least_squares:
            raise ValueError(
                f"training.output_layer: lstsq minimises squared errors: it needs loss mse "
                f"(got {self.loss.name}); use output_layer: trained"
            )
        lr_min, lr = self.schedule.params().get("lr_min"), self.optimizer.lr
        if lr_min is not None and lr is not None and lr_min > lr:
            raise _AtKey(
                "schedule.lr_min",
                f"must be at most the learning rate ({lr:g}), got {lr_min:g}: the rate "
                "would rise instead of decay",
            )
        return self


class SweepConfig(_Strict):
    grid: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("grid", mode="before")
    @classmethod
    def _no_grid(cls, v):
        if isinstance(v, dict):  # model: {hidden: …} under grid, or --set sweep.grid.model.…
            for k, section in v.items():
                if isinstance(section, dict) and section and isinstance(k, str):
                    inner = next(iter(section))
                    raise ValueError(
                        f"a grid's keys are dotted names, as in grid: {{{k}.{inner}: […]}}, "
                        f"not a section {k}: under it"
                    )
        return {} if v is None else v  # grid: null is no grid, as sweep: null is no sweep


BaselineName = _lit(BASELINES)


class Experiment(_Strict):
    name: Name = "experiment"
    target: TargetConfig
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    baselines: list[BaselineName] | Literal["auto"] | None = None
    sweep: SweepConfig | None = None

    @field_validator("baselines", mode="before")
    @classmethod
    def _baseline_names(cls, v):
        # one message per mistake (the union would report the list's and "auto"'s)
        allowed = f"{', '.join(BASELINES)} (or auto instead of a list)"
        if isinstance(v, str) and v != "auto":
            near = f" (write [{v}])" if v in BASELINES else ""
            raise ValueError(f"expected a list of {allowed}, got {v!r}{near}")
        if v is not None and not isinstance(v, str | list | tuple):
            raise ValueError(f"expected a list of {allowed}, got {shown(v)}")
        if isinstance(v, list | tuple):
            for i, item in enumerate(v):
                if item not in BASELINES:
                    near = difflib.get_close_matches(str(item).lower(), BASELINES, n=1)
                    hint = f"did you mean {near[0]!r}? " if near else ""
                    raise ValueError(f"entry {i + 1}: {hint}allowed {allowed}, got {shown(item)}")
        return v

    @field_validator("name")
    @classmethod
    def _folder_name(cls, v: str) -> str:
        # "." and ".." are the results folder and its parent; other hidden names would
        # be skipped when runs are listed, like nnfit's own temporary folders
        if v.startswith("."):
            raise ValueError(f"the name is a folder name and may not start with '.', got {v!r}")
        return v

    @model_validator(mode="after")
    def _bounded(self):
        try:
            limits.check_experiment(self)
        except limits.KeyedError as exc:
            raise _AtKey(exc.key, str(exc)) from None
        return self

    @model_validator(mode="after")
    def _resolve(self):
        dim = self.target.dim
        b = self.baselines
        knots = self.model.hidden[0] if self.model.hidden else 2
        if b is None or b == "auto":  # auto: every baseline that applies (a sweep's default)
            object.__setattr__(self, "baselines", [] if b is None else applicable(dim, knots))
        elif "pwlinear" in b and pwlinear_problem(dim, knots):
            raise _AtKey("baselines", pwlinear_problem(dim, knots))
        elif len(set(b)) != len(b):
            twice = next(n for n in b if b.count(n) > 1)
            raise _AtKey("baselines", f"{twice} is listed twice; list each baseline once")
        if self.data.n_test is None:
            n_test = 40_000 if dim == 2 else 10_000
            object.__setattr__(self.data, "n_test", n_test)
        sizes = [dim, *self.model.hidden, 1]
        n_params = param_count(sizes)
        if n_params > MAX_PARAMS:
            raise ValueError(
                f"model.hidden {self.model.hidden} gives {n_params:,} parameters "
                f"(at most {MAX_PARAMS:,})"
            )
        need = estimate_mb(self, n_params)
        if need > MAX_MEMORY_MB:
            raise ValueError(
                f"this run would need about {need:,.0f} MiB (data {self.data.n_train:,} + "
                f"{self.data.n_val:,} + {self.data.n_test:,} points in {dim}-D, "
                f"{n_params:,} parameters; at most {MAX_MEMORY_MB:,} MiB): use fewer points "
                "or narrower layers"
            )
        t = self.training
        if t.output_layer == "lstsq":
            why = lstsq_problem(self.data.n_train, sizes[-2] + 1, t.epochs > 0 or t.l2 > 0)
            if why:
                raise _AtKey("training.output_layer", why)
        es = t.early_stopping
        if es is not None and es.monitor == "val" and self.data.n_val == 0:
            if "monitor" in es.model_fields_set:
                raise ValueError(
                    "training.early_stopping.monitor: val needs a validation set "
                    "(data.n_val is 0); use monitor: train or set data.n_val"
                )
            # without a validation set, early stopping watches the training cost: say so
            object.__setattr__(es, "monitor", "train")
        if t.output_layer == "lstsq" and _name(self.model.output) != "identity":
            raise ValueError(
                "training.output_layer: lstsq needs model.output: identity "
                f"(got {_name(self.model.output)})"
            )
        opt = t.optimizer
        if opt.name == "lm":
            from nnfit.engine.gauss_newton import too_large

            why = too_large(self.data.n_train, n_params, opt.params()["max_jacobian_mb"])
            if why:
                raise _AtKey("training.optimizer", f"{why}; use lbfgs instead")
        return self

    # ---------------------------------------------------------------- derived views
    def run_config(self) -> dict:
        """The resolved config of one run: every default filled, without ``sweep``; −0.0
        written as 0.0, so that one experiment has one hash."""
        out = _unsigned_zeros(self.model_dump(mode="json", exclude={"sweep"}))
        _one_spelling(out["model"])
        return out

    def config_hash(self) -> str:
        blob = json.dumps(self.run_config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def run_id(self) -> str:
        """A readable label and 8 hex of the config hash, e.g. ``w16-tanh-adam-s0-3fa2c1d8``.

        The label says width, activation, optimizer (``-ls`` after it where the output
        layer is solved by least squares; ``rf`` for random features: no training, the
        output layer by least squares) and seed, so that the runs of a
        sweep over any of them can be told apart by name; the hash keeps names unique.
        """
        hidden = self.model.hidden
        widths = "x".join(map(str, hidden)) or "0"
        if len(widths) > 12:
            widths = f"{max(hidden)}d{len(hidden)}"  # e.g. 64d10: 10 layers, widest 64
        acts = (
            self.model.activation
            if isinstance(self.model.activation, list)
            else [self.model.activation]
        )
        names = [a if isinstance(a, str) else a.name for a in acts]
        # unique, in layer order; a model without hidden layers has no activation to name
        act = ".".join(dict.fromkeys(names)) if hidden else "linear"
        t = self.training
        how = t.optimizer.name
        if t.output_layer == "lstsq":  # lm-ls: variable projection, beside plain lm
            how = "rf" if t.epochs == 0 else f"{how}-ls"
        label = f"w{widths}-{act}-{how}-s{t.seed}"
        label = re.sub(r"[^A-Za-z0-9._-]", "_", label)[:50].rstrip("-._")
        return f"{label}-{self.config_hash()[:8]}"

    def sizes(self) -> list[int]:
        return [self.target.dim, *self.model.hidden, 1]


def _unsigned_zeros(value):
    """``value`` with every float −0.0 as 0.0 (x + 0.0 is x for any other float)."""
    if isinstance(value, float):
        return value + 0.0
    if isinstance(value, dict):
        return {k: _unsigned_zeros(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsigned_zeros(v) for v in value]
    return value


def _bare(choice, table: dict):
    """A named choice at its declared defaults as its bare name."""
    if not isinstance(choice, dict):
        return choice
    declared = table.get(choice["name"], {})
    defaults = {k: p.check(k, p.default) for k, p in declared.items()}
    given = {k: v for k, v in choice.items() if k != "name"}
    return choice["name"] if given == defaults else choice


def _one_spelling(model: dict) -> None:
    """One spelling of each model choice, so that one network has one hash:
    ``{name: domain}``, ``{name: domain, scale: 1.0}`` and ``domain`` are ``domain``, and
    ``[tanh, tanh]``, ``[tanh]`` and ``{name: tanh}`` are ``tanh``."""
    model["init"] = _bare(model["init"], InitConfig._params)
    model["output"] = _bare(model["output"], ActivationConfig._params)
    acts = model["activation"]
    acts = [
        _bare(a, ActivationConfig._params) for a in (acts if isinstance(acts, list) else [acts])
    ]
    model["activation"] = acts[0] if acts and all(a == acts[0] for a in acts) else acts


def _name(activation) -> str:
    return activation if isinstance(activation, str) else activation.name


def estimate_mb(exp: Experiment, n_params: int) -> float:
    """Memory of one run before anything is allocated: the data sets (X, F, y), parameters
    with gradient and optimizer state, and the per-batch buffers of the widest layer."""
    d = exp.data
    points = d.n_train + d.n_val + d.n_test
    data = points * (exp.target.dim + 3) * 8
    params = n_params * 8 * 6
    bs = exp.training.batch_size
    rows = min(d.n_train if bs == "full" else bs, 8192)  # large full batches go in blocks
    width = max([1, *exp.model.hidden])
    buffers = rows * width * 8 * 4 * (len(exp.model.hidden) + 1)
    return (data + params + buffers) / 2**20


def lstsq_problem(n: int, m: int, ridge: bool) -> str | None:
    """Why a least-squares output layer of ``m`` weights on ``n`` points cannot be
    solved here, or None. The solve is dense: n·m numbers, (n + m)·m with a ridge
    (``ridge``: training follows, or l2 > 0), which also solves as often as it trains,
    (n + m)·m² operations each, none of which a signal can interrupt."""
    need = lstsq_mb(n, m, ridge)
    if need > MAX_MEMORY_MB:
        return (
            f"lstsq solves for {m:,} output weights on {n:,} points, about {need:,.0f} MiB; "
            f"at most {MAX_MEMORY_MB:,} MiB: use fewer points or a narrower last hidden layer"
        )
    if ridge and m > MAX_RIDGE_WEIGHTS:
        return (
            f"lstsq solves for {m:,} output weights on {n:,} points with a ridge (as it "
            "does when training follows or l2 > 0), each solve a dense factorisation no "
            f"Ctrl-C interrupts; at most {MAX_RIDGE_WEIGHTS:,} weights: use a narrower last "
            "hidden layer, or epochs: 0 and l2: 0"
        )
    return None


def lstsq_mb(n: int, m: int, ridge: bool = True) -> float:
    """Memory of a least-squares output layer: the system of n rows, with a ridge
    [Φ; √λ·I] of n + m, by m columns, and LAPACK's copy of it (see
    :func:`nnfit.engine.lstsq.solve`)."""
    return 2 * (n + (m if ridge else 0)) * m * 8 / 2**20


# ------------------------------------------------------------------------ entry points


def from_dict(data: Any, source: str = "<config>", loc: Located | None = None) -> Experiment:
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{source}: expected a mapping of keys (target:, model:, …), got {kind(data)}"]
        )
    limits.HISTORY_MB.value()  # a bad NNFIT_MAX_HISTORY_MB is the variable's fault
    try:
        return Experiment.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source, loc, Experiment, data)) from None


def load(path: str | Path, overrides=()) -> Experiment:
    """Read, override and validate an experiment file.

    ``overrides`` are ``"key.path=value"`` strings (value parsed as YAML). The default
    ``name`` is the file's stem.
    """
    data, loc = load_raw(path, overrides)
    return from_dict(data, str(path), loc)


def refuse_sweep(loc: Located, hint: str) -> None:
    """A run's overrides may not give a sweep: a file's ``sweep:`` section is for a
    sweep, and one given to a run would be ignored unseen."""
    for o in loc.overrides:
        away = o.value is None and o.path in (("sweep",), ("sweep", "grid"))
        if o.path[0] == "sweep" and not away:  # sweep=null takes it away: allowed
            raise ConfigError([f"{o.where}: {hint}"])


def load_raw(path: str | Path, overrides=()) -> tuple[Any, Located]:
    """The file's plain data with ``overrides`` applied, and its line map (not validated)."""
    source = str(path)
    data, loc = parse_yaml(read_text(path), source)
    if isinstance(data, dict) and "name" not in data:
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(path).stem) or "experiment"
        data["name"] = stem
    if isinstance(data, dict) and overrides:
        loc.baseline = copy.deepcopy(data)
        apply_overrides(data, overrides, source, loc)
    return data, loc


def schema() -> dict:
    """The experiment file's JSON Schema (draft 2020-12, which pydantic writes)."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema"} | (
        Experiment.model_json_schema()
    )
