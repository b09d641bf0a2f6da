"""The JSON Schema `nnfit schema` prints, for editors: it takes what the loader takes."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from nnfit.experiment import config

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "experiments").rglob("*.yaml"))
VALIDATOR = jsonschema.Draft202012Validator(config.schema())


def _readme_experiments() -> list[dict]:
    """README's YAML blocks that are whole experiment files (they have a target)."""
    text = (ROOT / "README.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    return [b for b in blocks if isinstance(b, dict) and "target" in b]


def _errors(data) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(data)]


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(config.schema())
    assert config.schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_file_passes_the_schema(path):
    assert _errors(yaml.safe_load(path.read_text())) == []


def test_readme_files_pass_the_schema():
    found = _readme_experiments()
    assert len(found) >= 2
    for data in found:
        assert _errors(data) == []


@pytest.mark.parametrize(
    "training",
    [  # the short forms README writes: the schema wanted an object for each
        {"loss": "mse", "optimizer": "sgd", "schedule": "cosine"},
        {"optimizer": {"lr": 0.01}},  # adam's, named or not
        {"optimizer": {"name": "lm", "mu": 2.0}},
        {"optimizer": {"name": "lbfgs", "lr": None}},  # no rate, said as null
    ],
)
def test_the_schema_takes_what_the_loader_takes(training):
    data = {"target": {"name": "sine"}, "model": {"init": "he"}, "training": training}
    config.from_dict(data, "x.yaml")
    assert _errors(data) == []


@pytest.mark.parametrize(
    ("section", "value"),
    [  # the loader refuses each; the schema let them pass (additionalProperties: true)
        ("model", {"activation": {"name": "tanh", "foo": 1}}),
        ("model", {"activation": {"name": "tanh", "slope": 0.1}}),  # leaky_relu's
        ("training", {"optimizer": {"name": "lbfgs", "lr": 0.01}}),  # lbfgs takes none
        ("training", {"optimizer": {"name": "sgd", "mu": 1.0}}),  # lm's
        ("model", {"init": {"name": "he", "scale": 2}}),  # domain's
    ],
)
def test_the_schema_refuses_a_parameter_of_another_choice(section, value):
    data = {"target": {"name": "sine"}, section: value}
    with pytest.raises(config.ConfigError):
        config.from_dict(data, "x.yaml")
    assert _errors(data)
