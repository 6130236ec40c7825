"""One source of truth: the config accepts exactly the names the lesson's registries hold, with
the defaults the classes declare, and names are matched the same way in both places."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from nnlearn.errors import ConfigError
from nnlearn.nn.activations import ACTIVATIONS, DEFAULT_INIT
from nnlearn.nn.layers import INITIALIZERS, Parameter
from nnlearn.nn.losses import LOSSES
from nnlearn.nn.optimizers import OPTIMIZERS, make_optimizer
from nnlearn.nn.schedules import SCHEDULES, make_schedule
from nnlearn.runs.config import resolve

BASE = {"data": {"train": "train.csv", "target": "y"}}


def _resolved(**training) -> dict:
    raw = {**BASE, "training": training}
    return resolve(raw, base_dir=Path("."))["training"]


def _public_settings(obj, names) -> dict:
    return {n: getattr(obj, n) for n in names}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_config_fills_each_optimizer_with_the_class_defaults(name):
    cls = OPTIMIZERS[name]
    spec = _resolved(optimizer=name)["optimizer"]
    settings = {k: v for k, v in spec.items() if k != "name"}
    signature = inspect.signature(cls.__init__).parameters
    defaults = {k: signature[k].default for k in settings}
    assert settings == defaults
    # The resolved spec builds the same optimizer as the class with no settings at all.
    p = [Parameter("w", np.zeros(3))]
    built = make_optimizer(spec, p, lr=0.1, weight_decay=0.0)
    plain = cls(p, lr=0.1)
    assert _public_settings(built, settings) == _public_settings(plain, settings)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_config_fills_each_schedule_with_the_class_defaults(name):
    spec = _resolved(schedule=name, epochs=20)["schedule"]
    settings = {k: v for k, v in spec.items() if k not in ("name", "mode")}
    built = make_schedule(spec, 0.1, 20)
    plain = make_schedule(name, 0.1, 20)
    assert _public_settings(built, settings) == _public_settings(plain, settings)
    signature = inspect.signature(SCHEDULES[name].__init__).parameters
    assert set(spec) - {"name"} == set(signature) - {"self", "base_lr", "total_epochs"}


def test_plateau_defaults_are_the_same_in_the_class_and_the_config():
    spec = _resolved(schedule="plateau")["schedule"]
    s = make_schedule("plateau", 0.1, 10)
    assert (spec["factor"], spec["patience"]) == (s.factor, s.patience)


def test_config_accepts_exactly_the_registered_names():
    from nnlearn.runs import config

    assert set(config.ACTIVATION_NAMES) == set(ACTIVATIONS)
    assert set(config.LOSS_NAMES) == set(LOSSES)
    assert set(config.INIT_NAMES) == set(INITIALIZERS)
    assert set(config.OPTIMIZER_PARAMS) == set(OPTIMIZERS)
    assert set(config.SCHEDULE_PARAMS) == set(SCHEDULES)
    assert {n for n in LOSSES if LOSSES[n].task == "classification"} == \
        set(config.CLASSIFICATION_LOSSES)


@pytest.mark.parametrize("name", ["Adam", "SGD", "Cosine"])
def test_names_are_matched_exactly_in_the_library_and_the_config(name):
    p = [Parameter("w", np.zeros(3))]
    registry_kind = "schedule" if name == "Cosine" else "optimizer"
    with pytest.raises(ConfigError):
        _resolved(**{registry_kind: name})
    # the library looks names up in the same registries, exactly
    with pytest.raises(KeyError):
        if registry_kind == "optimizer":
            make_optimizer(name, p, lr=0.1, weight_decay=0.0)
        else:
            make_schedule(name, 0.1, 10)


def _doc_table(heading: str) -> list[list[str]]:
    """The rows of the first table under ``heading`` in docs/config.md, cells stripped."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "config.md").read_text()
    section = text.split(f"\n{heading}\n", 1)[1]
    lines = section.split("\n\n| ", 1)[1].splitlines()
    rows = []
    for line in ["| " + lines[0], *lines[1:]]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows[2:]  # after the header and its rule


def _documented_defaults(heading: str, name_column: bool) -> dict[str, dict[str, object]]:
    """{name: {setting: default}} as the docs' table states them (one name per row group)."""
    out: dict[str, dict[str, object]] = {}
    name = ""
    for row in _doc_table(heading):
        if name_column:
            name = row.pop(0).strip("`") or name
        setting, default = row[0], row[1]
        out.setdefault(name, {})
        if setting in ("—", "") or default.startswith("as "):
            continue  # no setting; or "as adam", checked below through the registry
        out[name][setting.strip("`")] = yaml.safe_load(default)
    return out


def test_the_docs_state_the_defaults_the_classes_declare():
    from nnlearn.runs import config

    documented = _documented_defaults("### `training.optimizer`", name_column=True)
    for name, defaults in config.OPTIMIZER_PARAMS.items():
        if name == "adamw":  # documented "as adam"
            assert defaults == config.OPTIMIZER_PARAMS["adam"]
            continue
        assert documented[name] == defaults, name
    documented = _documented_defaults("### `training.schedule`", name_column=True)
    assert documented == config.SCHEDULE_PARAMS
    documented = _documented_defaults("### `training.early_stopping`", name_column=False)[""]
    assert documented == {k: v for k, (v, _) in config._early_stopping_spec().items()}


def _config_md() -> str:
    return (Path(__file__).resolve().parent.parent / "docs" / "config.md").read_text()


def _names(text: str) -> list[str]:
    return re.findall(r"`([a-z_0-9]+)`", text)


def test_the_docs_name_lists_are_the_registries_in_their_order():
    text = _config_md()
    # "One of `relu`, `leaky_relu`, ...": the prose of model.activation and training.loss
    activation = text.split("\n### `model.activation`\n", 1)[1].split(".\n", 1)[0]
    assert _names(activation) == list(ACTIVATIONS)
    loss = text.split("\n### `training.loss`\n", 1)[1].split(". Default", 1)[0]
    assert _names(loss) == ["auto", *LOSSES]
    # which init `auto` gives each activation
    init = text.split("\n### `model.init`\n", 1)[1].split("\n\n", 1)[0].replace("\n", " ")
    he, xavier = re.search(r"`auto` picks `he` for (.*?), and `xavier` for (.*?), separately",
                           init).groups()
    assert _names(he) == [a for a, i in DEFAULT_INIT.items() if i == "he"]
    assert _names(xavier) == [a for a, i in DEFAULT_INIT.items() if i == "xavier"]
    # the one-line comments of the full config example
    example = {m.group(1): m.group(2) for m in re.finditer(
        r"^ +(activation|init|loss): \S+ +# (.*)$", text, re.MULTILINE)}
    assert example["activation"].split(" | ") == list(ACTIVATIONS)
    assert example["init"].split(" | ") == ["auto", *INITIALIZERS]
    assert example["loss"].split(" | ") == ["auto", *LOSSES]
    names = re.search(r"optimizer: +# or just a name: (.*)$", text, re.MULTILINE).group(1)
    assert names.split(" | ") == list(OPTIMIZERS)
