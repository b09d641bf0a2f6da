"""Choices from the engine's tables: a name, or ``{name: …, params}`` with declared ranges.

Each registry-backed key of the experiment file (an activation, initialiser, loss,
optimizer or schedule) is validated against the table it names: allowed names, allowed
parameters for that name, and each parameter's declared range
(:class:`~nnfit.engine.params.Param`). The JSON Schema lists the parameters too.
"""

from __future__ import annotations

import difflib
import sys
import types
import typing
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from nnfit.engine.activations import ACTIVATIONS
from nnfit.engine.initializers import INITIALIZERS
from nnfit.engine.initializers import PARAMS as INIT_PARAMS
from nnfit.engine.losses import LOSSES
from nnfit.engine.optimizers import OPTIMIZERS
from nnfit.engine.schedules import PARAMS as SCHEDULE_PARAMS
from nnfit.experiment.messages import _AtKey, _Bad, shown
from nnfit.experiment.yamlfile import cut


def _lit(names):
    return Literal[tuple(names)]


ActivationName = _lit(ACTIVATIONS)


def _kinds(annotation) -> tuple[set, object]:
    """The plain types a field's annotation admits (through Annotated and unions; a
    Literal adds its values themselves), and the annotation of a list's items (None if it
    takes no list)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return _kinds(args[0])
    if origin in (typing.Union, types.UnionType):
        kinds, item = set(), None
        for a in args:
            k, i = _kinds(a)
            kinds |= k
            item = item if i is None else i
        return kinds, item
    if origin is Literal:
        return set(args), None
    if origin is list:
        return {list}, args[0] if args else None
    return ({annotation} if isinstance(annotation, type) else {object}), None


def _not_a_number(value, kinds: set) -> bool:
    """A true/false, a string or bytes where only numbers (perhaps None, or a named
    value such as 'full') are allowed: lax validation would take true as 1, "0.01" as
    0.01 and b"20" as 20."""
    numeric = bool(kinds & {int, float}) and object not in kinds
    if not numeric:
        return False
    if value is None:  # null where it is not allowed: one line naming both kinds
        return type(None) not in kinds
    if isinstance(value, bool | np.bool_):
        return bool not in kinds
    if isinstance(value, str):
        return str not in kinds and value not in kinds
    return isinstance(value, bytes)


def _number(kinds: set) -> str:
    number = "a whole number" if float not in kinds else "a number"
    named = sorted(repr(k) for k in kinds if isinstance(k, str))
    return " or ".join([number, *named])


class _NumbersAreNumbers(BaseModel):
    """Refuses true, false and strings for numeric keys (``epochs: true`` trained 1 epoch,
    ``lr: '0.01'`` was taken as a number), which lax validation would convert; integral
    floats stay allowed for integers (``n_train: 1e4``)."""

    @model_validator(mode="before")
    @classmethod
    def _numbers(cls, data):
        if not isinstance(data, dict):
            return data
        for key, value in data.items():
            field = cls.model_fields.get(key) if isinstance(key, str) else None
            if field is None:
                continue
            kinds, item = _kinds(field.annotation)
            if _not_a_number(value, kinds):
                raise _AtKey(key, f"must be {_number(kinds)}, got {shown(value)}")
            if type(value) is int and float in kinds and abs(value) > sys.float_info.max:
                raise _AtKey(  # pydantic says only "input should be a valid number"
                    key,
                    "must be a number within float64's range (about ±1.8e308), "
                    f"got {cut(str(value), 30)}",
                )
            if item is not None and isinstance(value, list):
                item_kinds, _ = _kinds(item)
                for v in value:
                    if _not_a_number(v, item_kinds):
                        raise _AtKey(
                            key, f"must list {_number(item_kinds)[2:]}s, got {shown(v)} in it"
                        )
        return data


class _Strict(_NumbersAreNumbers):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, allow_inf_nan=False)


class _Named(_NumbersAreNumbers):
    """``{name: ..., <params>}``: the params allowed, and their ranges, depend on the name.

    ``_params`` maps each name to its declared :class:`~nnfit.engine.params.Param` s; the
    resolved config lists every parameter, defaults included.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    # a class variable: pydantic would deep-copy a private attribute into every instance,
    # which made validating a large sweep grid several times slower
    _params: ClassVar[dict[str, dict]] = {}

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data):
        if isinstance(data, dict):
            name = data.get("name", cls.model_fields["name"].default)
            declared = cls._params.get(name) if isinstance(name, str) else None
            if declared:
                data = {**{k: p.default for k, p in declared.items()}, **data}
        return data

    @model_validator(mode="after")
    def _check_params(self):
        declared = self._params[self.name]  # type: ignore[attr-defined]
        fixed = [k for k in type(self).model_fields if k != "name" and self._takes(k)]
        for key, value in (self.model_extra or {}).items():
            if key not in declared:
                names = [*fixed, *declared]
                near = difflib.get_close_matches(key, names, n=1)
                hint = f"did you mean {near[0]!r}? " if near else ""
                raise _Bad(
                    f"{self.name} takes no parameter {key!r}"  # type: ignore[attr-defined]
                    f" ({hint}allowed: {', '.join(names) or 'none'})",
                    names,
                    key,
                    key=str(key),
                )
            about = declared[key].describe(key)
            if value is None or isinstance(value, bool):  # the engine would say None, True
                kind = "a whole number" if declared[key].integer else "a number"
                raise _Bad(
                    f"{key} must be {kind} ({about}), got {shown(value)}",
                    about,
                    value,
                    key=str(key),
                )
            try:
                self.model_extra[key] = declared[key].check(key, value)
            except ValueError as exc:
                raise _Bad(str(exc), about, value, key=str(key)) from None
        return self

    def _takes(self, field: str) -> bool:
        """Whether this choice uses a fixed field (listed as allowed in messages)."""
        return True

    def params(self) -> dict[str, float]:
        return dict(self.model_extra or {})

    def spec(self) -> dict:
        """``{"name": …, params…}`` as the engine takes it."""
        return {"name": self.name, **self.params()}


def _named_schema(table: dict[str, dict], takes=None):
    """JSON Schema of a choice: its name alone, or a section of its name and the
    parameters that name takes (and no other key, as the loader refuses them); the
    default's section may leave out the name (``init: {scale: 2}`` is domain's).
    ``takes(name, field)`` says which of the class's other fields a name uses."""

    def extra(schema: dict, cls) -> None:
        props = schema.get("properties", {})
        default = cls.model_fields["name"].default
        variants = []
        for name, declared in table.items():
            # a field the name does not take may still be null, as the loader allows
            fixed = {
                k: v if (takes or _all)(name, k) else {"type": "null"}
                for k, v in props.items()
                if k != "name"
            }
            keys = {k: p.json_schema() for k, p in declared.items()}
            variant = {
                "type": "object",
                "title": name,
                "properties": {"name": {"const": name}, **fixed, **keys},
                "additionalProperties": False,
            }
            if name != default:
                variant["required"] = ["name"]
            variants.append(variant)
        names = {"type": "string", "enum": list(table), "description": "a name alone"}
        title = schema.get("title")
        schema.clear()
        schema.update({"title": title, "anyOf": [names, *variants]})
        if isinstance(default, str):
            schema["default"] = default

    return ConfigDict(extra="allow", frozen=True, json_schema_extra=extra)


def _all(name: str, field: str) -> bool:
    return True


class ActivationConfig(_Named):
    model_config = _named_schema({n: a.params for n, a in ACTIVATIONS.items()})
    name: ActivationName
    _params: ClassVar[dict[str, dict]] = {n: a.params for n, a in ACTIVATIONS.items()}


class InitConfig(_Named):
    model_config = _named_schema(INIT_PARAMS)
    name: _lit(INITIALIZERS) = "domain"  # model.init's default: `init: {scale: 2}` is its
    _params: ClassVar[dict[str, dict]] = INIT_PARAMS


class LossConfig(_Named):
    model_config = _named_schema({n: loss.params for n, loss in LOSSES.items()})
    name: _lit(LOSSES) = "mse"
    _params: ClassVar[dict[str, dict]] = {n: loss.params for n, loss in LOSSES.items()}


class OptimizerConfig(_Named):
    model_config = _named_schema(
        {n: cls.params for n, cls in OPTIMIZERS.items()},
        takes=lambda name, field: field != "lr" or "lr" in OPTIMIZERS[name].honours,
    )
    name: _lit(OPTIMIZERS) = "adam"
    lr: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)] | None = None
    _params: ClassVar[dict[str, dict]] = {n: cls.params for n, cls in OPTIMIZERS.items()}

    @model_validator(mode="after")
    def _together(self):
        try:
            OPTIMIZERS[self.name].check_together(self.params())
        except ValueError as exc:
            raise _Bad(str(exc), "values that fit together", self.params()) from None
        return self

    @model_validator(mode="after")
    def _default_lr(self):
        if self.lr is None:
            object.__setattr__(self, "lr", OPTIMIZERS[self.name].default_lr)
        return self

    def _takes(self, field: str) -> bool:
        return field != "lr" or "lr" in OPTIMIZERS[self.name].honours

    @model_serializer(mode="wrap")
    def _without_unused_lr(self, handler):
        """No ``lr: null`` in a resolved config: lm and lbfgs take no learning rate."""
        out = handler(self)
        if self.lr is None and isinstance(out, dict):
            out.pop("lr", None)
        return out

    def spec(self) -> dict:
        lr = {} if self.lr is None else {"lr": self.lr}
        return {"name": self.name, **lr, **self.params()}


class ScheduleConfig(_Named):
    model_config = _named_schema(SCHEDULE_PARAMS)
    name: _lit(SCHEDULE_PARAMS) = "constant"
    _params: ClassVar[dict[str, dict]] = SCHEDULE_PARAMS


Activation = ActivationName | ActivationConfig
