"""``nnfit.Regressor``: nnfit's networks and training as a scikit-learn estimator.

``fit``/``predict``/``score`` with ``get_params``/``set_params``, so it works in
``Pipeline``, ``GridSearchCV`` and ``cross_val_score`` and passes scikit-learn's
``check_estimator``. scikit-learn is not needed to use it: when installed, the class
derives from its ``RegressorMixin`` and ``BaseEstimator`` (what its checks and
meta-estimators look for: tags, ``clone``, the HTML repr); without it, from stand-ins
that follow the same conventions (:mod:`nnfit.estimator_base`): parameters are the
``__init__`` arguments, stored as given and checked in ``fit``.

The data are scaled as the command line's are: X onto [0, 1]^d by the training minimum
and maximum (the domain the initialisers and every experiment assume), y to mean 0 and
standard deviation 1 per output. Both scalings are part of the fitted state
(``x_min_``, ``x_scale_``, ``y_mean_``, ``y_scale_``) and undone by ``predict``.
"""

from __future__ import annotations

import itertools
import re
import warnings
from numbers import Real

import numpy as np

from nnfit.estimator_base import (
    BaseEstimator,
    NotFittedError,
    RegressorMixin,
    check_names,
    check_X,
    check_y,
    feature_names,
    seed_sequence,
)

Array = np.ndarray

#: validation keys (of the file's model and training sections) that have a parameter
#: of another name
_PARAMS = {
    "optimizer.lr": "lr",
    "early_stopping": "n_iter_no_change",
    "early_stopping.patience": "n_iter_no_change",
    "early_stopping.min_delta": "tol",
}


#: a key of the file's training section in a message, e.g. training.optimizer.lr
_FILE_KEY = re.compile(r"training\.((?:optimizer\.)?\w+)")


#: the command line's way to unset a training key, in a message the file's checks give
_SET_HINT = re.compile(
    r"\((?:on the command line: --set training\.|--set training\.KEY=VALUE for each: )([^)]*)\)"
)


def _as_params(message: str) -> str:
    """A message's --set hint as the parameters that do the same ("(lr=None)"), and
    the optimizer's lr by its parameter's name."""

    def each(m):
        pairs = [p.split("=", 1) for p in m.group(1).replace("training.", "").split(", ")]
        out = []
        for key, value in pairs:
            value = {"null": "None"}.get(value, value)
            if not re.fullmatch(r"None|[-+.\deE]+", value):
                value = repr(value)
            out.append(f"{_param(key)}={value}")
        return f"({', '.join(out)})"

    return _SET_HINT.sub(each, message).replace("optimizer.lr", "lr")


def _refused(param: str, message: str):
    """A ConfigError of the estimator's, as its parameter checks raise: one line naming
    the parameter (a ValueError, as scikit-learn's own parameter errors are)."""
    from nnfit.experiment.yamlfile import ConfigError, Problem

    line = f"Regressor: {param}: {message}"
    return ConfigError([Problem(line, None, None, param, None, None, message)])


def _param(key: str) -> str:
    """The parameter that sets a key of the model or training section."""
    return _PARAMS.get(key, key.split(".")[0])


class Regressor(RegressorMixin, BaseEstimator):
    """A feed-forward network trained by nnfit's engine, as a scikit-learn regressor.

    Parameters take the experiment file's names and values (``nnfit schema``); they are
    checked in ``fit`` with the file's validation and messages.

    Parameters
    ----------
    hidden : tuple of int, default (64,)
        Hidden widths; ``()`` is a linear model.
    activation : str, dict or list, default "tanh"
        One activation (``"relu"``, ``{"name": "leaky_relu", "slope": 0.1}``) or one per
        hidden layer.
    optimizer : str or dict, default "adam"
        A name, or ``{"name": …, params}`` (``{"name": "adam", "beta2": 0.99}``); lbfgs
        and lm train on the full batch.
    lr : float or None
        Learning rate; None takes the optimizer's default (1e-3 for adam).
    epochs : int, default 500
        Upper bound on the epochs (MLPRegressor's ``max_iter``). Shorter than the
        file's 2000, with a shorter patience, so that cross-validation loops stay quick.
    batch_size : int, "full" or "auto"
        "auto": 32 for mini-batch optimizers, the full batch for full-batch ones.
    l1, l2 : float
        Penalties λ₁·Σ|W| and λ₂·½·ΣW² on the weights (not the biases), in the cost
        C = ½·mean((g − y)²) + … of the standardised y.
    loss, schedule, init, bias, output_layer
        As in the file, with its defaults: ``mse`` (or ``mae``, ``huber``); a
        learning-rate schedule; the initialiser (``domain``: first-layer slopes for
        inputs in [0, 1]^d); the initial bias (``spread``: units centred inside the
        domain); ``"trained"`` or ``"lstsq"`` (the output layer by least squares).
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the data and stop when its loss has not
        fallen by more than ``tol`` for ``n_iter_no_change`` epochs; otherwise the same
        test runs on the training cost. Either way the best epoch's weights are kept.
    n_iter_no_change : int or None, default 20
        Patience in epochs; None runs every epoch.
    random_state : None, int, Generator or RandomState
        An int gives the streams of ``training.seed``: the same initial weights and
        shuffles as a run of that seed.

    Attributes
    ----------
    coefs_, intercepts_ : lists of arrays
        W_l (fan_in, fan_out) and b_l, acting on the scaled data.
    x_min_, x_scale_, y_mean_, y_scale_ : arrays
        The scalings: the network sees (X − x_min_)/x_scale_ and predicts
        (y − y_mean_)/y_scale_.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Training cost after each epoch, of the standardised y (times ``y_scale_**2``:
        y's units); ``validation_loss_curve_`` the held-out cost (None without early
        stopping).
    best_epoch_ : int
        The epoch whose weights were kept.
    stop_reason_ : str
        epochs, early_stopping, converged, diverged or interrupted.
    """

    def __init__(
        self,
        hidden=(64,),
        activation="tanh",
        optimizer="adam",
        lr=None,
        epochs=500,
        batch_size="auto",
        l1=0.0,
        l2=0.0,
        loss="mse",
        schedule="constant",
        init="domain",
        bias="spread",
        output_layer="trained",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=20,
        tol=0.0,
        random_state=None,
    ):
        self.hidden = hidden
        self.activation = activation
        self.optimizer = optimizer
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.l1 = l1
        self.l2 = l2
        self.loss = loss
        self.schedule = schedule
        self.init = init
        self.bias = bias
        self.output_layer = output_layer
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state

    # ------------------------------------------------------------------ configuration

    def _sections(self) -> tuple[dict, dict]:
        """The parameters as the file's ``model`` and ``training`` sections."""
        from nnfit.engine.optimizers import OPTIMIZERS

        hidden = self.hidden
        if isinstance(hidden, int | np.integer) and not isinstance(hidden, bool):
            hidden = [hidden]
        elif isinstance(hidden, tuple | list | np.ndarray):
            hidden = list(hidden)
        model = {"hidden": hidden, "activation": self.activation, "init": self.init}
        model["bias"] = self.bias
        opt = dict(self.optimizer) if isinstance(self.optimizer, dict) else {"name": self.optimizer}
        if self.lr is not None:
            opt["lr"] = self.lr
        training = {
            "loss": self.loss,
            "optimizer": opt,
            "schedule": self.schedule,
            "epochs": self.epochs,
            "l1": self.l1,
            "l2": self.l2,
            "output_layer": self.output_layer,
        }
        method = OPTIMIZERS.get(opt.get("name")) if isinstance(opt.get("name"), str) else None
        if self.batch_size != "auto":
            training["batch_size"] = self.batch_size
        elif method is not None and not method.full_batch:
            training["batch_size"] = 32
        if self.n_iter_no_change is None:
            training["early_stopping"] = None
        else:
            monitor = "val" if self.early_stopping else "train"
            training["early_stopping"] = {
                "patience": self.n_iter_no_change,
                "min_delta": self.tol,
                "monitor": monitor,
            }
        return model, training

    def _validated(self):
        """The checked ``model`` and ``training`` sections and the seed sequence; a
        ConfigError naming the parameters otherwise."""
        from pydantic import ValidationError

        from nnfit.experiment import config
        from nnfit.experiment.messages import format_errors, python_values
        from nnfit.experiment.yamlfile import ConfigError, Problem

        name = type(self).__name__
        problems = []
        model, training = self._sections()

        def bad(param, allowed, given, message=None):
            message = message or f"must be {allowed}, got {given!r}"
            problems.append(
                Problem(f"{name}: {param}: {message}", None, None, param, allowed, given, message)
            )

        if not isinstance(self.early_stopping, bool | np.bool_):
            bad("early_stopping", "True or False", self.early_stopping)
        if not isinstance(self.hidden, int | np.integer | tuple | list | np.ndarray) or isinstance(
            self.hidden, bool
        ):
            # an iterator would be used up by the first fit and give no layers to the next
            bad("hidden", "an int or a tuple of ints", self.hidden)
        opt = self.optimizer
        if isinstance(opt, dict) and opt.get("lr") is not None and self.lr is not None:
            # the parameter overwrote the optimizer's own, silently
            message = f"given twice, {self.lr!r} and optimizer's lr {opt['lr']!r}; give one"
            bad("lr", "one learning rate", self.lr, message)
        tol = self.tol
        unchecked = self.n_iter_no_change is None  # else early_stopping.min_delta checks it
        if unchecked and (isinstance(tol, bool) or not (isinstance(tol, Real) and tol >= 0)):
            bad("tol", "a number ≥ 0", tol)
        vf = self.validation_fraction
        if isinstance(vf, bool) or not (isinstance(vf, float | int) and 0 < vf < 1):
            bad("validation_fraction", "a number in (0, 1)", vf)
        root = None
        try:
            root = seed_sequence(self.random_state)
        except ValueError as exc:
            allowed = "None, an int ≥ 0, a numpy Generator or RandomState"
            bad("random_state", allowed, self.random_state, str(exc).removeprefix("random_state "))
        said = {p.key for p in problems}  # a parameter refused above is not refused again
        sections = []
        for cls, section in ((config.ModelConfig, model), (config.TrainingConfig, training)):
            try:
                with python_values():  # None, True and nan, as the caller wrote them
                    sections.append(cls.model_validate(section))
            except ValidationError as exc:
                with python_values():
                    found = format_errors(exc, name, None, cls)
                for p in found:
                    if p.key in (None, "(top level)"):
                        # a check of the whole section: it names the file's keys
                        named = [_param(k) for k in _FILE_KEY.findall(p.message)]
                        message = _FILE_KEY.sub(lambda m: _param(m.group(1)), p.message)
                        key = named[0] if named else None
                        problems.append(
                            Problem(f"{name}: {message}", None, None, key, None, None, message)
                        )
                    elif _param(p.key) not in said:
                        param, message = _param(p.key), _as_params(p.message)
                        sub = p.key[len(param) + 1 :] if p.key.startswith(f"{param}.") else ""
                        if sub.isdigit():  # an item of hidden, counted from 1
                            message = f"item {int(sub) + 1}: {message}"
                        elif sub and sub != "name" and p.key not in _PARAMS and sub not in message:
                            message = f"{sub}: {message}"  # schedule's lr_min, named
                        bad(param, p.allowed, p.given, message)
        if problems:
            raise ConfigError(problems)
        return (*sections, root)

    # ------------------------------------------------------------------ fit and predict

    def fit(self, X, y):
        """Train on X (n, d) and y (n,) or (n, k); returns self."""
        from nnfit.engine.network import Network
        from nnfit.engine.optimizers import OPTIMIZERS
        from nnfit.engine.train import train
        from nnfit.experiment.runner import settings_from

        model, training, root = self._validated()
        names = feature_names(X)
        X = check_X(X)
        y = check_y(y, len(X))
        Y = y.reshape(len(y), -1)
        _check_range(X, Y)
        n, k = len(X), Y.shape[1]
        _check_size([X.shape[1], *model.hidden, k], n, training.batch_size)
        if training.optimizer.name == "lm":  # as the command line refuses it, before fitting
            from nnfit.engine.gauss_newton import too_large

            sizes = [X.shape[1], *model.hidden, k]
            P = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
            why = too_large(n, P, training.optimizer.params()["max_jacobian_mb"])
            if why:
                raise _refused("optimizer", f"{why}; use optimizer lbfgs or fewer units")
        if training.output_layer == "lstsq":  # as the command line refuses it
            from nnfit.experiment.config import lstsq_problem

            why = lstsq_problem(
                n,
                model.hidden[-1] + 1 if model.hidden else X.shape[1] + 1,
                training.epochs > 0 or training.l2 > 0,
            )
            if why:
                raise _refused(
                    "output_layer", why.replace("epochs: 0 and l2: 0", "epochs=0 and l2=0")
                )
        method = training.optimizer.name
        if k > 1 and OPTIMIZERS[method].least_squares:  # its Jacobian is of one output
            raise _refused(
                "optimizer",
                f"{method!r} fits one output and y has {k} columns; fit one Regressor per "
                "column, or use lbfgs or a first-order optimizer",
            )
        # the streams of training.seed (initial weights, shuffles; the third is the
        # baselines'), then the validation split's
        s_init, s_shuffle, _, s_split = (np.random.default_rng(s) for s in root.spawn(4))
        val = np.empty(0, dtype=int)
        if self.early_stopping:
            n_val = max(1, round(self.validation_fraction * n))
            if n < 2:
                raise _refused(
                    "early_stopping",
                    f"needs at least 2 samples to hold some out; got {n} sample(s)",
                )
            if n - n_val < 1:
                raise _refused(
                    "validation_fraction",
                    f"{self.validation_fraction!r} holds out all {n} samples, leaving none "
                    "to train on; lower it",
                )
            val = np.sort(s_split.permutation(n)[:n_val])
        tr = np.setdiff1d(np.arange(n), val)
        self.n_features_in_, self.n_outputs_ = X.shape[1], k
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):  # refitted on an array
            del self.feature_names_in_
        self._y_1d = y.ndim == 1
        self.x_min_ = X[tr].min(axis=0)
        self.x_scale_ = _nonzero(X[tr].max(axis=0) - self.x_min_)
        self.y_mean_ = Y[tr].mean(axis=0)
        self.y_scale_ = _nonzero(Y[tr].std(axis=0))
        Xs, Ys = (X - self.x_min_) / self.x_scale_, (Y - self.y_mean_) / self.y_scale_
        net = Network.create(
            [X.shape[1], *model.hidden, k],
            activation=_spec(model.activation),
            init=_spec(model.init),
            bias=model.bias,
            rng=[s_init],
        )
        held = (Xs[val], Ys[val]) if len(val) else (None, None)
        (res,) = train(
            net, Xs[tr], Ys[tr], *held, settings=settings_from(training), rngs=[s_shuffle]
        )
        params = net.params(0)
        self.coefs_ = [np.array(W) for W, _ in params]
        self.intercepts_ = [np.array(b) for _, b in params]
        self._meta = net.meta()
        h = res.history
        self.n_iter_ = res.epochs
        self.loss_curve_ = h.train_loss[1 : 1 + res.epochs]
        self.validation_loss_curve_ = h.val_loss[1 : 1 + res.epochs] if len(val) else None
        self.best_epoch_ = res.best_epoch
        self.stop_reason_ = res.stop_reason
        if res.status == "diverged":
            warnings.warn(
                f"training diverged in epoch {res.epochs + 1} (the cost became non-finite or "
                f"exploded); the weights are those of epoch {res.best_epoch}: lower lr",
                RuntimeWarning,
                stacklevel=2,
            )
        elif res.status == "interrupted" and res.stop_reason == "interrupted":
            from nnfit.experiment.shield import Interrupted

            # Ctrl-C: the caller's loop (a grid search) stops too, this fit kept
            raise Interrupted(self, "fit (the weights are the last finished epoch's)")
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "coefs_")

    def predict(self, X) -> Array:
        """g(X) in y's units: (n,) when fitted on y of shape (n,), else (n, k)."""
        from nnfit.engine.network import Network

        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit first."
            )
        check_names(getattr(self, "feature_names_in_", None), X, type(self).__name__)
        X = check_X(X, self.n_features_in_, type(self).__name__)
        net = Network.from_arrays(self._meta, list(zip(self.coefs_, self.intercepts_, strict=True)))
        g = net.predict((X - self.x_min_) / self.x_scale_)[0] * self.y_scale_ + self.y_mean_
        return g[:, 0] if self._y_1d else g

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.sparse = False
        return tags


def _check_range(X, Y) -> None:
    """Refuse values whose scaling or squared errors overflow, as the command line does."""
    from nnfit.experiment.data import MAX_ABS_TARGET, MIN_ABS_TARGET
    from nnfit.experiment.yamlfile import ConfigError

    top = float(np.max(np.abs(Y))) if Y.size else 0.0
    if top > MAX_ABS_TARGET:
        raise ConfigError(
            [
                f"Regressor: y: values reach {top:.3g}; squared errors overflow float64 "
                f"above {MAX_ABS_TARGET:.0e}: divide y by a constant"
            ]
        )
    if 0.0 < top < MIN_ABS_TARGET:
        raise ConfigError(
            [
                f"Regressor: y: values are at most {top:.3g} in size; below "
                f"{MIN_ABS_TARGET:.0e} their squared errors underflow to 0: multiply y by a "
                "constant"
            ]
        )
    with np.errstate(over="ignore"):
        span = np.max(X, axis=0) - np.min(X, axis=0) if X.size else np.zeros(1)
    if not np.all(np.isfinite(span)):
        raise ConfigError(["Regressor: X: a column spans more than float64 holds; rescale it"])


def _check_size(sizes: list[int], n: int, batch_size) -> None:
    """The command line's bounds, before anything is allocated: at most MAX_PARAMS
    parameters, and MAX_MEMORY_MB for them (with gradient and optimizer state) and one
    batch's buffers (hidden=(100000, 100000) was NumPy's 'Unable to allocate 74.5 GiB')."""
    from nnfit.experiment.config import MAX_MEMORY_MB, MAX_PARAMS

    n_params = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
    if n_params > MAX_PARAMS:
        raise _refused(
            "hidden",
            f"the network {'-'.join(map(str, sizes))} has {n_params:,} parameters "
            f"(at most {MAX_PARAMS:,})",
        )
    rows = min(n if batch_size == "full" else batch_size, n, 8192)
    mb = (n_params * 48 + rows * max(sizes) * 32 * (len(sizes) - 1) + n * sizes[0] * 16) / 2**20
    if mb > MAX_MEMORY_MB:
        raise _refused(
            "hidden",
            f"training {'-'.join(map(str, sizes))} on batches of {rows:,} rows would need "
            f"about {mb:,.0f} MiB (at most {MAX_MEMORY_MB:,}); use narrower layers or a "
            "smaller batch_size",
        )


def _nonzero(scale: Array) -> Array:
    """A scale of 0 (a constant column) becomes 1, so that the column maps to 0."""
    return np.where(scale > 0, scale, 1.0)


def _spec(value):
    """A validated activation, init (or list of them) as the engine takes it."""
    if isinstance(value, list):
        return [_spec(v) for v in value]
    return value if isinstance(value, str) else value.spec()
