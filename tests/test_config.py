"""Tests for nnlearn.runs.config: defaults, every class of error, overrides, dump/load round trips."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from nnlearn.errors import ConfigError
from nnlearn.runs.config import (
    ACTIVATION_NAMES,
    INIT_NAMES,
    LOSS_NAMES,
    MONITOR_NAMES,
    OPTIMIZER_PARAMS,
    SCHEDULE_PARAMS,
    apply_overrides,
    defaults,
    dump_config,
    load_config,
    resolve,
    set_dotted,
    yaml_load,
)

MINIMAL = "data:\n  train: train.csv\n  target: y\n"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "config.md"


def write(folder: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def base(**sections: dict) -> dict:
    """A minimal valid raw mapping with extra sections merged in."""
    raw: dict = {"data": {"train": "train.csv", "target": "y"}}
    for name, values in sections.items():
        if isinstance(values, dict) and isinstance(raw.get(name), dict):
            raw[name] = {**raw[name], **values}
        else:
            raw[name] = values
    return raw


def res(raw: dict) -> dict:
    return resolve(raw, base_dir=Path("/cfgdir"), source="cfg.yaml")


def error(raw: dict) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        res(raw)
    return info.value


# ---------------------------------------------------------------------------------- defaults


def test_minimal_config_fills_every_documented_default(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg["seed"] is None
    assert cfg["data"] == {
        "train": str(tmp_path / "train.csv"), "test": None, "target": "y", "task": "auto",
        "features": None, "val_fraction": 0.2, "standardize": True, "standardize_target": True,
        "sample_weight": None, "categorical": [], "missing": "refuse", "unknown_category": "error",
        "allow_many_classes": False,
    }
    assert cfg["model"] == {
        "hidden": [64], "activation": "relu", "dropout": 0.0, "init": "auto",
        "layers": [{"units": 64, "activation": "relu", "dropout": 0.0, "init": "he"}],
    }
    assert cfg["training"] == {
        "epochs": 300, "batch_size": 32, "batching": "minibatch", "learning_rate": 0.01,
        "optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": False},
        "schedule": {"name": "constant"}, "loss": "auto", "weight_decay": 0.001,
        "clip_grad_norm": None, "clip_grad_value": None,
        "early_stopping": {"monitor": "val_loss", "mode": "min", "patience": 50,
                           "min_delta": 0.0, "restore_best_weights": True},
        "class_weight": None, "checkpoint_every": 0, "dtype": "float64",
        "diagnostics": False, "snapshots": 0, "shuffle": True, "threads": None,
    }
    assert cfg["output"] == {"dir": None}
    assert list(cfg) == ["seed", "data", "model", "training", "output"]


def test_defaults_are_a_minimal_config_without_its_required_keys(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    cfg["data"]["train"] = cfg["data"]["target"] = None
    assert defaults() == cfg
    changed = defaults(["training.epochs=7", "data.val_fraction=0"])
    assert changed["training"]["epochs"] == 7
    assert changed["training"]["early_stopping"] is None  # nothing held back to watch
    mine = defaults()
    mine["model"]["hidden"].append(8)  # a new dict each call: changing one leaves the next alone
    assert defaults()["model"]["hidden"] == cfg["model"]["hidden"]


def test_empty_sections_mean_all_defaults() -> None:
    assert res(base(model=None, training=None))["model"]["hidden"] == [64]


def test_float_defaults_are_floats_and_ints_become_floats() -> None:
    cfg = res(base(training={"learning_rate": 1, "weight_decay": 0}, model={"dropout": 0}))
    assert type(cfg["training"]["learning_rate"]) is float
    assert type(cfg["training"]["weight_decay"]) is float
    assert type(cfg["model"]["dropout"]) is float


def test_resolve_does_not_modify_its_input_and_is_idempotent() -> None:
    raw = base(training={"optimizer": "adam", "early_stopping": True},
               model={"layers": [{"units": 4}]})
    snapshot = repr(raw)
    once = res(raw)
    assert repr(raw) == snapshot
    assert res(once) == once


# ---------------------------------------------------------------------------------- paths


def test_relative_paths_are_resolved_against_the_config_folder(tmp_path: Path,
                                                                monkeypatch) -> None:
    folder = tmp_path / "project" / "configs"
    path = write(folder, "data: {train: data/train.csv, test: ../test.csv, target: y}\n"
                         "output: {dir: runs/a}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(os.path.relpath(path, elsewhere))
    assert cfg["data"]["train"] == str(folder / "data" / "train.csv")
    assert cfg["data"]["test"] == str(tmp_path / "project" / "test.csv")
    assert cfg["output"]["dir"] == str(folder / "runs" / "a")


def test_absolute_and_home_paths(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cfg = res(base(data={"train": "~/t.csv", "test": "/abs/x.csv"}))
    assert cfg["data"]["train"] == str(tmp_path / "home" / "t.csv")
    assert cfg["data"]["test"] == "/abs/x.csv"


@pytest.mark.parametrize("value", ["", "  ", 3, ["a.csv"], None])
def test_train_path_must_be_a_non_empty_string(value) -> None:
    err = error(base(data={"train": value}))
    assert err.key == "data.train"


# ---------------------------------------------------------------------------------- file level


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n"])
def test_empty_file_reports_the_missing_required_key(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert info.value.key == "data.train"
    assert "missing required key" in str(info.value)
    assert str(tmp_path / "cfg.yaml") in str(info.value)


def test_missing_target_is_reported() -> None:
    err = error({"data": {"train": "t.csv"}})
    assert err.key == "data.target" and "missing" in err.problem


@pytest.mark.parametrize("text,kind", [("- a\n- b\n", "a list"), ("42\n", "42"),
                                        ("just text\n", "'just text'")])
def test_non_mapping_top_level_is_refused(tmp_path: Path, text: str, kind: str) -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping") as info:
        load_config(write(tmp_path, text))
    assert kind in str(info.value)


def test_resolve_refuses_a_non_mapping() -> None:
    with pytest.raises(ConfigError, match="top level"):
        resolve([1, 2], base_dir=Path("."))  # type: ignore[arg-type]


@pytest.mark.parametrize("text,line,column", [
    ("data:\n  train: a\n   target: b\n", 3, 10),     # bad indentation: ':' not allowed here
    ("a: 1\nb: [1, 2\nc: 3\n", 3, 2),                  # unclosed flow list
    ("a: 'open\n", 2, 1),                              # unclosed quote, found at end of input
    ("a:\n\tb: 1\n", 2, 1),                            # tab indentation
])
def test_yaml_syntax_errors_give_one_based_line_and_column(tmp_path: Path, text: str,
                                                          line: int, column: int) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert f"line {line}, column {column}:" in str(info.value)
    assert info.value.path == str(tmp_path / "cfg.yaml")


def test_duplicate_keys_are_refused_with_their_line(tmp_path: Path) -> None:
    text = MINIMAL + "training:\n  epochs: 3\n  epochs: 4\n"
    with pytest.raises(ConfigError, match=r"line 6, column 3: found duplicate key 'epochs'"):
        load_config(write(tmp_path, text))


def test_merge_keys_may_be_overridden_without_a_duplicate_error() -> None:
    loaded = yaml_load("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n", "t")
    assert loaded["other"] == {"x": 1, "y": 3}


def test_non_printable_character_is_located() -> None:
    with pytest.raises(ConfigError, match=r"line 2, column 4: character U\+0001"):
        yaml_load("a: 1\nb: \x01\n", "t")


def test_constructor_value_errors_become_config_errors() -> None:
    # PyYAML raises a bare ValueError for these; the config must not.
    for text in ("a: !!int abc\n", "a: !!float x\n", "a: " + "1" * 5000 + "\n",
                 "[" * 5000 + "]" * 5000):
        with pytest.raises(ConfigError):
            yaml_load(text, "t")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="folder"):
        load_config(tmp_path)


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_bytes(b"data:\n  target: \xff\xfe\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(path)


def test_error_without_source_has_no_file_prefix() -> None:
    with pytest.raises(ConfigError) as info:
        resolve({"data": {"train": "a"}}, base_dir=Path("."))
    assert str(info.value).startswith("data.target:")


# ---------------------------------------------------------------------------------- floats


@pytest.mark.parametrize("text,value", [
    ("1e-3", 0.001), ("1E5", 1e5), (".5", 0.5), ("-.5", -0.5), ("1.0e-3", 0.001),
    ("2.5E+3", 2500.0), ("1e3", 1000.0), ("-2e-2", -0.02), ("1.", 1.0), ("1_000.5", 1000.5),
])
def test_scientific_and_short_floats_load_as_floats(text: str, value: float) -> None:
    loaded = yaml_load(f"x: {text}", "t")["x"]
    assert type(loaded) is float and loaded == pytest.approx(value)


@pytest.mark.parametrize("text,value", [
    ("12", 12), ("1e", "1e"), ("e3", "e3"), ("1e3x", "1e3x"), ("0x10", 16), ("1_000", 1000),
    ("2024-01-31", "2024-01-31"), ("'1e-3'", "1e-3"), ("true", True), ("null", None),
])
def test_other_scalars_keep_their_yaml_meaning(text: str, value) -> None:
    assert yaml_load(f"x: {text}", "t")["x"] == value
    assert type(yaml_load(f"x: {text}", "t")["x"]) is type(value)


def test_learning_rate_written_1e_minus_3_is_accepted(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL + "training:\n  learning_rate: 1e-3\n"))
    assert cfg["training"]["learning_rate"] == 0.001


# ---------------------------------------------------------------------------------- unknown keys


@pytest.mark.parametrize("raw,key,suggestion", [
    (base(training={"learnig_rate": 0.1}), "training.learnig_rate", "learning_rate"),
    (base(datta={}), "datta", "data"),
    (base(model={"hiden": [3]}), "model.hiden", "hidden"),
    (base(model={"layers": [{"units": 3}, {"unit": 4}]}), "model.layers[1].unit", "units"),
    (base(training={"optimizer": {"name": "adam", "bta1": 0.5}}),
     "training.optimizer.bta1", "beta1"),
    (base(training={"schedule": {"name": "step", "stepsize": 5}}),
     "training.schedule.stepsize", "step_size"),
    (base(training={"early_stopping": {"patiense": 3}}),
     "training.early_stopping.patiense", "patience"),
    (base(training={"epochs": 3}, epochs=3), "epochs", "training.epochs"),
    (base(model={"learning_rate": 0.1}), "model.learning_rate", "training.learning_rate"),
])
def test_unknown_keys_name_their_dotted_path_and_suggest(raw: dict, key: str,
                                                         suggestion: str) -> None:
    err = error(raw)
    assert err.key == key
    assert "unknown" in err.problem
    assert f"did you mean {suggestion!r}?" in err.problem


def test_unknown_key_far_from_everything_lists_the_valid_keys() -> None:
    err = error(base(output={"zzzz": 1}))
    assert err.key == "output.zzzz" and "did you mean" not in err.problem
    assert err.hint == "valid keys in output: dir"


def test_non_string_keys_are_unknown_keys() -> None:
    err = error(base(data={1: "x"}))
    assert err.key == "data.1" and "unknown key 1" in err.problem


def test_parameter_of_another_optimizer_points_at_its_owner() -> None:
    err = error(base(training={"optimizer": {"name": "adam", "momentum": 0.9}}))
    assert err.key == "training.optimizer.momentum"
    assert "sgd, rmsprop" in err.hint and "adam takes beta1, beta2, eps" in err.hint


# ---------------------------------------------------------------------------- types and ranges


@pytest.mark.parametrize("raw,key", [
    (base(seed=-(10**5000)), "seed"),
    (base(training={"learning_rate": 10**5000}), "training.learning_rate"),
    (base(training={"epochs": -(10**5000)}), "training.epochs"),
    (base(training={"class_weight": {10**5000: 1}}), "training.class_weight"),
])
def test_integers_too_long_to_print_are_still_config_errors(raw: dict, key: str) -> None:
    # Python refuses str() of ints over 4300 digits; the message must not need it.
    err = error(raw)
    assert err.key == key


@pytest.mark.parametrize("raw,key", [
    (base(training={"epochs": True}), "training.epochs"),
    (base(training={"learning_rate": True}), "training.learning_rate"),
    (base(training={"batch_size": False}), "training.batch_size"),
    (base(seed=True), "seed"),
    (base(model={"dropout": False}), "model.dropout"),
    (base(model={"hidden": [8, True]}), "model.hidden[1]"),
    (base(training={"threads": True}), "training.threads"),
    (base(training={"optimizer": {"momentum": True}}), "training.optimizer.momentum"),
    (base(training={"class_weight": {"a": True}}), "training.class_weight.a"),
])
def test_booleans_are_not_numbers(raw: dict, key: str) -> None:
    err = error(raw)
    assert err.key == key
    assert "boolean" in err.problem


@pytest.mark.parametrize("raw,key,expected", [
    (base(training={"learning_rate": 0}), "training.learning_rate", "> 0"),
    (base(training={"learning_rate": -1e-3}), "training.learning_rate", "> 0"),
    (base(training={"learning_rate": float("inf")}), "training.learning_rate", "> 0"),
    (base(training={"learning_rate": float("nan")}), "training.learning_rate", "> 0"),
    (base(training={"learning_rate": 10**400}), "training.learning_rate", "> 0"),
    (base(training={"learning_rate": "0.1"}), "training.learning_rate", "> 0"),
    (base(training={"epochs": 0}), "training.epochs", "integer >= 1"),
    (base(training={"epochs": 2.5}), "training.epochs", "integer >= 1"),
    (base(training={"epochs": 3.0}), "training.epochs", "integer >= 1"),
    (base(training={"batch_size": 0}), "training.batch_size", "'full'"),
    (base(training={"batch_size": "all"}), "training.batch_size", "'full'"),
    (base(data={"val_fraction": 1.0}), "data.val_fraction", "[0, 1)"),
    (base(data={"val_fraction": -0.1}), "data.val_fraction", "[0, 1)"),
    (base(model={"dropout": 1}), "model.dropout", "[0, 1)"),
    (base(model={"hidden": [8, 0]}), "model.hidden[1]", "integer >= 1"),
    (base(model={"hidden": 8}), "model.hidden", "list of integers"),
    (base(seed=-1), "seed", "integer >= 0 or null"),
    (base(seed=1.5), "seed", "integer >= 0 or null"),
    (base(training={"threads": 0}), "training.threads", "integer >= 1 or null"),
    (base(training={"checkpoint_every": -1}), "training.checkpoint_every", "integer >= 0"),
    (base(training={"weight_decay": -0.1}), "training.weight_decay", ">= 0"),
    (base(training={"clip_grad_norm": 0}), "training.clip_grad_norm", "> 0 or null"),
    (base(training={"clip_grad_value": -1}), "training.clip_grad_value", "> 0 or null"),
    (base(training={"optimizer": {"momentum": 1.0}}), "training.optimizer.momentum", "[0, 1)"),
    (base(training={"optimizer": {"name": "adam", "beta2": 1.5}}),
     "training.optimizer.beta2", "[0, 1)"),
    (base(training={"optimizer": {"name": "adam", "eps": 0}}), "training.optimizer.eps", "> 0"),
    (base(training={"schedule": {"name": "step", "step_size": 0}}),
     "training.schedule.step_size", "integer >= 1"),
    (base(training={"schedule": {"name": "step", "gamma": 0}}),
     "training.schedule.gamma", "(0, 1]"),
    (base(training={"schedule": {"name": "plateau", "factor": 1}}),
     "training.schedule.factor", "(0, 1)"),
    (base(training={"schedule": {"name": "cosine", "warmup_epochs": -1}}),
     "training.schedule.warmup_epochs", "integer >= 0"),
    (base(training={"early_stopping": {"patience": -1}}),
     "training.early_stopping.patience", "integer >= 0"),
    (base(training={"early_stopping": {"restore_best_weights": 1}}),
     "training.early_stopping.restore_best_weights", "true or false"),
    (base(training={"early_stopping": "yes"}), "training.early_stopping", "mapping"),
    (base(training={"class_weight": {"a": 0}}), "training.class_weight.a", "> 0"),
    (base(training={"class_weight": {}}), "training.class_weight", "at least one"),
    (base(training={"shuffle": "no"}), "training.shuffle", "true or false"),
    (base(data={"standardize": 1}), "data.standardize", "true or false"),
    (base(data={"target": 5}), "data.target", "column name"),
    (base(data={"features": []}), "data.features", "non-empty"),
    (base(data={"features": "a"}), "data.features", "list of column names"),
    (base(data={"features": ["a", "b", "a"]}), "data.features[2]", "twice"),
    (base(data="train.csv"), "data", "mapping"),
    (base(model={"layers": [{"activation": "tanh"}]}), "model.layers[0].units", "missing"),
    (base(model={"layers": [8]}), "model.layers[0]", "mapping"),
    (base(model={"layers": [{"units": 2, "dropout": 1.5}]}), "model.layers[0].dropout",
     "[0, 1)"),
])
def test_values_out_of_type_or_range_name_key_and_expectation(raw: dict, key: str,
                                                              expected: str) -> None:
    err = error(raw)
    assert err.key == key
    assert expected in err.problem


@pytest.mark.parametrize("raw,key,choices", [
    (base(model={"activation": "rellu"}), "model.activation", ACTIVATION_NAMES),
    (base(model={"init": "glorot"}), "model.init", ("auto", *INIT_NAMES)),
    (base(data={"task": "classify"}), "data.task", ("auto", "classification", "regression")),
    (base(training={"loss": "l2"}), "training.loss", ("auto", *LOSS_NAMES)),
    (base(training={"dtype": "float16"}), "training.dtype", ("float64", "float32")),
    (base(training={"batching": "mini"}), "training.batching",
     ("full", "minibatch", "stochastic")),
    (base(training={"optimizer": "adamax"}), "training.optimizer", tuple(OPTIMIZER_PARAMS)),
    (base(training={"optimizer": {"name": "Adam"}}), "training.optimizer.name",
     tuple(OPTIMIZER_PARAMS)),
    (base(training={"schedule": "linear"}), "training.schedule", tuple(SCHEDULE_PARAMS)),
    (base(training={"early_stopping": {"monitor": "val_acc"}}),
     "training.early_stopping.monitor", MONITOR_NAMES),
    (base(model={"layers": [{"units": 3, "activation": "swish"}]}),
     "model.layers[0].activation", ACTIVATION_NAMES),
])
def test_enum_errors_list_every_choice(raw: dict, key: str, choices: tuple) -> None:
    err = error(raw)
    assert err.key == key
    for choice in choices:
        assert choice in err.problem


def test_a_bare_width_is_shown_as_the_list_it_should_be() -> None:
    assert error(base(model={"hidden": 16})).hint == "one hidden layer of 16 units is [16]"
    assert error(base(model={"hidden": 0})).hint is None  # [0] would be wrong too


def test_enum_near_miss_gets_a_suggestion() -> None:
    assert "did you mean 'relu'?" in error(base(model={"activation": "rellu"})).problem
    assert "did you mean 'adam'?" in error(base(training={"optimizer": "Adam"})).problem
    # another case is the same word, whatever a spelling distance says ('Relu' is nearer 'elu')
    assert "did you mean 'relu'?" in error(base(model={"activation": "Relu"})).problem
    assert "did you mean 'leaky_relu'?" in error(base(model={"activation": "LEAKY_RELU"})).problem


# ---------------------------------------------------------------------------------- cross-key rules


@pytest.mark.parametrize("task,loss", [("classification", "mse"), ("classification", "mae"),
                                       ("regression", "cross_entropy"), ("regression", "bce")])
def test_loss_that_does_not_fit_the_task_is_refused(task: str, loss: str) -> None:
    err = error(base(data={"task": task}, training={"loss": loss}))
    assert err.key == "training.loss"
    assert task in err.problem and loss in err.problem


@pytest.mark.parametrize("task,loss", [("classification", "bce"), ("regression", "mae"),
                                       ("auto", "mse"), ("regression", "auto")])
def test_loss_that_fits_the_task_is_kept(task: str, loss: str) -> None:
    cfg = res(base(data={"task": task}, training={"loss": loss}))
    assert (cfg["data"]["task"], cfg["training"]["loss"]) == (task, loss)


@pytest.mark.parametrize("batching,batch_size", [("stochastic", 32), ("full", 32),
                                                  ("minibatch", 1), ("minibatch", "full"),
                                                  ("stochastic", "full"), ("full", 1)])
def test_batching_contradicting_an_explicit_batch_size_names_both(batching: str,
                                                                  batch_size) -> None:
    err = error(base(training={"batching": batching, "batch_size": batch_size}))
    assert "training.batching" in str(err) and "training.batch_size" in err.problem


@pytest.mark.parametrize("training,batching,batch_size", [
    ({}, "minibatch", 32),
    ({"batch_size": 1}, "stochastic", 1),
    ({"batch_size": "full"}, "full", "full"),
    ({"batch_size": 64}, "minibatch", 64),
    ({"batching": "full"}, "full", "full"),
    ({"batching": "stochastic"}, "stochastic", 1),
    ({"batching": "minibatch"}, "minibatch", 32),
    ({"batching": "minibatch", "batch_size": 8}, "minibatch", 8),
    ({"batching": "stochastic", "batch_size": 1}, "stochastic", 1),
])
def test_batching_and_batch_size_are_filled_consistently(training: dict, batching: str,
                                                         batch_size) -> None:
    cfg = res(base(training=training))["training"]
    assert (cfg["batching"], cfg["batch_size"]) == (batching, batch_size)


def test_cosine_warm_up_must_be_shorter_than_training() -> None:
    err = error(base(training={"epochs": 10, "schedule": {"name": "cosine", "warmup_epochs": 10}}))
    assert err.key == "training.schedule.warmup_epochs" and "fewer" in str(err)
    cfg = res(base(training={"epochs": 10, "schedule": {"name": "cosine", "warmup_epochs": 9}}))
    assert cfg["training"]["schedule"]["warmup_epochs"] == 9


def test_nesterov_needs_momentum() -> None:
    err = error(base(training={"optimizer": {"name": "sgd", "nesterov": True}}))
    assert err.key == "training.optimizer.nesterov"
    cfg = res(base(training={"optimizer": {"nesterov": True, "momentum": 0.9}}))
    assert cfg["training"]["optimizer"] == {"name": "sgd", "momentum": 0.9, "nesterov": True}


def test_target_and_weight_columns_cannot_be_features() -> None:
    assert error(base(data={"features": ["a", "y"]})).key == "data.features"
    assert error(base(data={"features": ["a", "w"], "sample_weight": "w"})).key == \
        "data.features"
    assert error(base(data={"sample_weight": "y"})).key == "data.sample_weight"


def test_class_weight_needs_classification() -> None:
    err = error(base(data={"task": "regression"}, training={"class_weight": "balanced"}))
    assert err.key == "training.class_weight"
    assert error(base(training={"loss": "mse", "class_weight": {"a": 2}})).key == \
        "training.class_weight"


def test_validation_monitors_need_a_validation_split() -> None:
    err = error(base(data={"val_fraction": 0}, training={"early_stopping": True}))
    assert err.key == "training.early_stopping.monitor"
    cfg = res(base(data={"val_fraction": 0},
                   training={"early_stopping": {"monitor": "train_loss"}}))
    assert cfg["training"]["early_stopping"]["monitor"] == "train_loss"


def test_monitor_must_fit_the_task() -> None:
    err = error(base(data={"task": "regression"},
                     training={"early_stopping": {"monitor": "val_accuracy"}}))
    assert err.key == "training.early_stopping.monitor"
    err = error(base(training={"loss": "cross_entropy",
                               "schedule": {"name": "plateau", "monitor": "val_r2"}}))
    assert err.key == "training.schedule.monitor"


def test_min_lr_above_learning_rate_is_refused() -> None:
    err = error(base(training={"learning_rate": 0.01,
                               "schedule": {"name": "cosine", "min_lr": 0.1}}))
    assert err.key == "training.schedule.min_lr"


# ---------------------------------------------------------------------------------- structured keys


def test_optimizer_names_expand_to_every_parameter() -> None:
    for name, params in OPTIMIZER_PARAMS.items():
        cfg = res(base(training={"optimizer": name}))
        assert cfg["training"]["optimizer"] == {"name": name, **params}


def test_optimizer_mapping_fills_the_rest_and_defaults_to_sgd() -> None:
    cfg = res(base(training={"optimizer": {"name": "rmsprop", "rho": 0.5}}))
    assert cfg["training"]["optimizer"] == {"name": "rmsprop", "rho": 0.5, "eps": 1e-8,
                                            "momentum": 0.0}
    cfg = res(base(training={"optimizer": {"momentum": 0.5}}))
    assert cfg["training"]["optimizer"]["name"] == "sgd"


def test_schedules_expand_and_plateau_mode_is_resolved() -> None:
    for name, params in SCHEDULE_PARAMS.items():
        cfg = res(base(training={"schedule": name}))
        expected = {"name": name, **params}
        if name == "plateau":
            expected["mode"] = "min"  # auto -> min for val_loss
        assert cfg["training"]["schedule"] == expected
    cfg = res(base(training={"schedule": {"name": "plateau", "monitor": "val_accuracy"}}))
    assert cfg["training"]["schedule"]["mode"] == "max"


@pytest.mark.parametrize("value,expected", [
    (None, None), (False, None),
    (True, {"monitor": "val_loss", "mode": "min", "patience": 50, "min_delta": 0.0,
            "restore_best_weights": True}),
    ({"monitor": "val_accuracy", "patience": 3},
     {"monitor": "val_accuracy", "mode": "max", "patience": 3, "min_delta": 0.0,
      "restore_best_weights": True}),
    ({"monitor": "val_mae", "mode": "min", "min_delta": 1},
     {"monitor": "val_mae", "mode": "min", "patience": 50, "min_delta": 1.0,
      "restore_best_weights": True}),
])
def test_early_stopping_resolves_to_null_or_a_full_mapping(value, expected) -> None:
    assert res(base(training={"early_stopping": value}))["training"]["early_stopping"] == expected


def test_early_stopping_defaults_are_the_classes_and_true_is_the_default() -> None:
    # One source: what a config leaves out is EarlyStopping's own default, so `true`, `{}` and
    # writing nothing (with a validation split) all mean the same early stopping.
    import inspect

    from nnlearn.nn.training import EarlyStopping

    params = inspect.signature(EarlyStopping.__init__).parameters
    unwritten = res(base())["training"]["early_stopping"]
    assert unwritten == res(base(training={"early_stopping": True}))["training"]["early_stopping"]
    assert unwritten == res(base(training={"early_stopping": {}}))["training"]["early_stopping"]
    for key in ("monitor", "patience", "min_delta", "restore_best_weights"):
        assert unwritten[key] == params[key].default, key


@pytest.mark.parametrize("monitor,mode", [("val_loss", "max"), ("val_mae", "max"),
                                          ("val_accuracy", "min"), ("val_r2", "min")])
def test_early_stopping_mode_against_the_monitor_is_refused(monitor: str, mode: str) -> None:
    err = error(base(training={"early_stopping": {"monitor": monitor, "mode": mode}}))
    assert err.key == "training.early_stopping.mode"


def test_class_weight_labels_become_strings() -> None:
    cfg = res(base(training={"class_weight": {0: 1, "cat": 2.5}}))
    assert cfg["training"]["class_weight"] == {"0": 1.0, "cat": 2.5}
    assert res(base(training={"class_weight": "balanced"}))["training"]["class_weight"] == \
        "balanced"
    assert error(base(training={"class_weight": {1: 1, "1": 2}})).key == \
        "training.class_weight.1"
    assert error(base(training={"class_weight": {1.5: 1}})).key == "training.class_weight.1.5"


def test_init_auto_picks_he_for_relu_family_and_xavier_otherwise() -> None:
    for activation in ACTIVATION_NAMES:
        cfg = res(base(model={"hidden": [3], "activation": activation}))
        expected = "xavier" if activation in ("sigmoid", "tanh", "identity") else "he"
        assert cfg["model"]["layers"] == [
            {"units": 3, "activation": activation, "dropout": 0.0, "init": expected}]
    cfg = res(base(model={"hidden": [3], "activation": "tanh", "init": "he"}))
    assert cfg["model"]["layers"][0]["init"] == "he"


def test_explicit_layers_take_model_level_defaults_and_replace_hidden() -> None:
    cfg = res(base(model={"activation": "tanh", "dropout": 0.1, "layers": [
        {"units": 32}, {"units": 8, "activation": "relu", "dropout": 0, "init": "xavier"}]}))
    assert cfg["model"]["hidden"] == [32, 8]
    assert cfg["model"]["layers"] == [
        {"units": 32, "activation": "tanh", "dropout": 0.1, "init": "xavier"},
        {"units": 8, "activation": "relu", "dropout": 0.0, "init": "xavier"}]


def test_empty_hidden_and_empty_layers_mean_no_hidden_layer() -> None:
    assert res(base(model={"hidden": []}))["model"]["layers"] == []
    assert res(base(model={"layers": []}))["model"]["hidden"] == []


def test_hidden_contradicting_layers_names_both() -> None:
    err = error(base(model={"hidden": [4], "layers": [{"units": 3}]}))
    assert err.key == "model.hidden" and "model.layers" in err.problem
    # agreeing values are fine (a dumped config has both)
    assert res(base(model={"hidden": [3], "layers": [{"units": 3}]}))["model"]["hidden"] == [3]


# ---------------------------------------------------------------------------------- overrides


@pytest.mark.parametrize("override,path,value", [
    ("training.learning_rate=1e-3", ("training", "learning_rate"), 0.001),
    ("model.hidden=[8,8]", ("model", "hidden"), [8, 8]),
    ("seed=3", ("seed",), 3),
    ("seed=", ("seed",), None),
    ("data.target=label", ("data", "target"), "label"),
    ("data.target = a=b ", ("data", "target"), "a=b"),
    ("training.early_stopping=true", ("training", "early_stopping", "patience"), 50),
])
def test_override_values_are_parsed_as_yaml(tmp_path: Path, override: str, path: tuple,
                                            value) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), [override])
    got = cfg
    for part in path:
        got = got[part]
    assert got == value


def test_override_with_a_mapping_value(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), ["training.optimizer={name: adam, beta1: 0.8}"])
    assert cfg["training"]["optimizer"] == {"name": "adam", "beta1": 0.8, "beta2": 0.999,
                                            "eps": 1e-8}


@pytest.mark.parametrize("text", [MINIMAL, MINIMAL + "training:\n  optimizer: sgd\n",
                                  MINIMAL + "training:\n  optimizer: {name: sgd}\n"])
def test_override_of_an_optimizer_parameter_expands_a_name(tmp_path: Path, text: str) -> None:
    cfg = load_config(write(tmp_path, text), ["training.optimizer.momentum=0.9",
                                              "training.optimizer.nesterov=true"])
    assert cfg["training"]["optimizer"] == {"name": "sgd", "momentum": 0.9, "nesterov": True}


def test_override_of_a_schedule_and_early_stopping_parameter(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "training:\n  schedule: step\n  early_stopping: false\n")
    cfg = load_config(path, ["training.schedule.gamma=0.5",
                             "training.early_stopping.patience=2"])
    assert cfg["training"]["schedule"] == {"name": "step", "step_size": 10, "gamma": 0.5}
    assert cfg["training"]["early_stopping"]["patience"] == 2


def test_later_overrides_win(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), ["seed=1", "seed=2"])
    assert cfg["seed"] == 2


@pytest.mark.parametrize("override,key,fragment", [
    ("trainig.epochs=3", "trainig", "did you mean 'training'?"),
    ("training.epoch=3", "training.epoch", "did you mean 'epochs'?"),
    ("training.optimizer.bta1=0.5", "training.optimizer.bta1", "did you mean 'beta1'?"),
    ("epochs=3", "epochs", "did you mean 'training.epochs'?"),
    ("training.epochs.x=1", "training.epochs.x", "no sub-keys"),
    ("seed.x=1", "seed.x", "no sub-keys"),
    ("model.layers.0.units=3", "model.layers.0.units", "whole list"),
])
def test_override_with_an_unknown_key_names_the_override(tmp_path: Path, override: str,
                                                         key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, MINIMAL), [override])
    assert info.value.key == key
    assert fragment in info.value.problem
    assert f"override {override!r}" in str(info.value)


@pytest.mark.parametrize("override", ["training.epochs", "", "=3", "training..epochs=3",
                                      "training.epochs=[1", "data.test=x: y: z"])
def test_malformed_overrides_are_config_errors(override: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(base(), [override])
    assert repr(override) in str(info.value)


def test_override_value_is_validated_like_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, MINIMAL), ["training.epochs=0"])
    assert info.value.key == "training.epochs"


def test_override_into_a_non_mapping_section_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides({"training": 5}, ["training.epochs=3"])
    assert info.value.key == "training"
    with pytest.raises(ConfigError) as info:
        apply_overrides({"training": {"optimizer": 5}}, ["training.optimizer.momentum=0.1"])
    assert info.value.key == "training.optimizer"


def test_overrides_return_a_copy_and_leave_the_input_alone() -> None:
    raw = base(training={"optimizer": "sgd"})
    snapshot = repr(raw)
    out = apply_overrides(raw, ["training.optimizer.momentum=0.5", "data.target=z"])
    assert repr(raw) == snapshot
    assert out["training"]["optimizer"] == {"name": "sgd", "momentum": 0.5}
    assert out["data"]["target"] == "z"
    assert apply_overrides(raw, []) is not raw


def test_set_dotted_takes_typed_values_with_the_same_rules() -> None:
    raw = base()
    out = set_dotted(raw, "training.optimizer.beta1", 0.5)
    optimizer = out["training"]["optimizer"]  # the default optimizer mapping, plus beta1
    assert optimizer["beta1"] == 0.5 and optimizer["name"] == "sgd"
    assert "training" not in raw
    assert set_dotted(raw, "model.hidden", (4, 2))["model"]["hidden"] == (4, 2)
    with pytest.raises(ConfigError) as info:
        set_dotted(raw, "training.learning_rat", 0.1)
    assert "did you mean 'learning_rate'?" in info.value.problem
    with pytest.raises(ConfigError, match="top level"):
        set_dotted([], "seed", 1)  # type: ignore[arg-type]


def test_sweep_style_values_resolve_to_plain_python_types() -> None:
    from fractions import Fraction

    cfg = res(set_dotted(base(), "training.learning_rate", Fraction(1, 4)))
    assert type(cfg["training"]["learning_rate"]) is float
    cfg = res(set_dotted(base(), "model.hidden", (4, 2)))
    assert cfg["model"]["hidden"] == [4, 2]


# ---------------------------------------------------------------------------------- dumping


ROUND_TRIP_CASES = [
    MINIMAL,
    MINIMAL + "seed: 7\nmodel:\n  layers:\n    - {units: 5, activation: tanh, dropout: 0.2}\n"
              "    - {units: 3}\n",
    MINIMAL + "training:\n  optimizer: {name: adamw, eps: 1e-6}\n  schedule: plateau\n"
              "  early_stopping: {monitor: val_accuracy}\n  class_weight: {0: 1, '1': 3}\n"
              "  batching: full\n  clip_grad_norm: 5\n",
    ("data:\n  train: t.csv\n  target: '1e3'\n  features: ['yes', 'null', '0x10', 'a: b', "
     "'2024-01-01', '.5', 'ü']\n  task: classification\n"),
    MINIMAL + "model:\n  hidden: []\n  activation: gelu\n  init: xavier\n"
              "training: {batch_size: 1, loss: mse, schedule: {name: cosine, warmup_epochs: 3}}\n",
]


@pytest.mark.parametrize("text", ROUND_TRIP_CASES)
def test_dump_then_load_gives_the_same_config(tmp_path: Path, text: str) -> None:
    cfg = load_config(write(tmp_path, text))
    dumped = dump_config(cfg)
    again = load_config(write(tmp_path / "other", dumped))
    assert again == cfg


def test_setting_one_sub_key_keeps_the_other_sub_keys_of_the_default() -> None:
    default = res(base())["training"]
    raw = apply_overrides(base(), ["training.optimizer.nesterov=true",
                                   "training.early_stopping.patience=3"])
    training = res(raw)["training"]
    assert training["optimizer"] == {**default["optimizer"], "nesterov": True}
    assert training["early_stopping"] == {**default["early_stopping"], "patience": 3}
    # an explicit null is no default: the sub-key starts an early stopping of its own
    raw = apply_overrides(base(training={"early_stopping": None}),
                          ["training.early_stopping.patience=3"])
    assert res(raw)["training"]["early_stopping"]["patience"] == 3


def test_default_early_stopping_is_off_when_no_rows_are_held_back() -> None:
    assert res(base())["training"]["early_stopping"] is not None
    assert res(base(data={"val_fraction": 0.0}))["training"]["early_stopping"] is None
    # asked for in the file, it still needs a validation split
    with pytest.raises(ConfigError, match="needs a validation set"):
        res(base(data={"val_fraction": 0.0}, training={"early_stopping": {"patience": 5}}))


def test_dump_lists_keys_in_schema_order_and_stays_readable(tmp_path: Path) -> None:
    text = dump_config(load_config(write(tmp_path, MINIMAL)))
    tops = [line.split(":")[0] for line in text.splitlines() if re.match(r"^\w", line)]
    assert tops == ["seed", "data", "model", "training", "output"]
    training = text[text.index("training:"):]
    positions = [training.index(f"\n  {k}:") for k in ("epochs", "batch_size", "learning_rate",
                                                        "optimizer", "loss", "threads")]
    assert positions == sorted(positions)
    assert re.search(r"^  hidden: \[\d+(, \d+)*\]$", text, re.MULTILINE)  # a list on one line
    assert "&" not in text and "!!" not in text


def test_dump_orders_a_shuffled_dict() -> None:
    cfg = res(base())
    shuffled = {k: cfg[k] for k in reversed(list(cfg))}
    shuffled["data"] = {k: cfg["data"][k] for k in reversed(list(cfg["data"]))}
    assert dump_config(shuffled) == dump_config(cfg)


def test_dump_writes_derivable_layers_as_null_and_keeps_the_others() -> None:
    derived = dump_config(res(base(model={"hidden": [4]})))
    assert "layers: null" in derived
    custom = dump_config(res(base(model={"layers": [{"units": 4, "activation": "tanh"}]})))
    assert "activation: tanh" in custom and "layers: null" not in custom


def test_dump_writes_derivable_batching_as_null() -> None:
    for training in ({"batching": "stochastic"}, {"batch_size": "full"}, {}):
        assert "batching: null" in dump_config(res(base(training=training)))


def test_dumped_config_still_accepts_batch_size_overrides(tmp_path: Path) -> None:
    dumped = dump_config(load_config(write(tmp_path, MINIMAL)))
    cfg = load_config(write(tmp_path / "d", dumped), ["training.batch_size=1"])
    assert cfg["training"]["batching"] == "stochastic"


def test_dumped_config_still_accepts_a_hidden_override(tmp_path: Path) -> None:
    dumped = dump_config(load_config(write(tmp_path, MINIMAL)))
    cfg = load_config(write(tmp_path / "d", dumped), ["model.hidden=[8]"])
    assert cfg["model"]["layers"] == [{"units": 8, "activation": "relu", "dropout": 0.0,
                                       "init": "he"}]


# ---------------------------------------------------------------------------------- docs


def _schema_keys() -> list[str]:
    cfg = res(base())
    keys = ["seed"]
    for section in ("data", "model", "training", "output"):
        keys += [f"{section}.{k}" for k in cfg[section]]
    return keys


def test_every_key_is_documented_exactly_once() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for key in _schema_keys():
        headings = re.findall(rf"^### `{re.escape(key)}`", docs, flags=re.MULTILINE)
        assert len(headings) == 1, f"{key} has {len(headings)} headings in docs/config.md"
    for params in (*OPTIMIZER_PARAMS.values(), *SCHEDULE_PARAMS.values()):
        for param in params:
            assert f"`{param}`" in docs, param


def _docs_yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_full_annotated_example_in_docs_loads_and_sets_every_key(tmp_path: Path) -> None:
    docs = DOCS.read_text(encoding="utf-8")
    full = docs[docs.index("## Full annotated example"):]
    block = re.search(r"```yaml\n(.*?)```", full, flags=re.DOTALL).group(1)
    raw = yaml_load(block, "docs")
    for key in _schema_keys():
        section, _, name = key.partition(".")
        assert (name in raw[section]) if name else (section in raw), f"{key} not in example"
    load_config(write(tmp_path, block))


def _merged(into: dict, extra: dict) -> dict:
    out = dict(into)
    for key, value in extra.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merged(out[key], value) if both else value
    return out


def test_every_yaml_example_in_docs_resolves() -> None:
    blocks = _docs_yaml_blocks()
    assert len(blocks) >= len(_schema_keys())
    for block in blocks:
        res(_merged(base(), yaml_load(block, "docs")))


@pytest.mark.parametrize("file_training,override,batching,batch_size", [
    ("batch_size: 32", "training.batching=stochastic", "stochastic", 1),
    ("batch_size: 32", "training.batching=full", "full", "full"),
    ("batch_size: 16", "training.batching=minibatch", "minibatch", 16),
    ("batch_size: full", "training.batching=minibatch", "minibatch", 32),
    ("batching: full", "training.batch_size=8", "minibatch", 8),
    ("batching: stochastic", "training.batch_size=full", "full", "full"),
])
def test_an_override_of_batching_or_batch_size_wins_over_the_file(
        tmp_path: Path, file_training: str, override: str, batching: str, batch_size) -> None:
    path = write(tmp_path, MINIMAL + f"training:\n  {file_training}\n")
    cfg = load_config(path, [override])
    assert (cfg["training"]["batching"], cfg["training"]["batch_size"]) == (batching, batch_size)


def test_overriding_both_batching_keys_still_must_agree(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    with pytest.raises(ConfigError, match="training.batching"):
        load_config(path, ["training.batching=stochastic", "training.batch_size=32"])
    with pytest.raises(ConfigError, match="training.batching"):  # and the file alone, too
        load_config(write(tmp_path, MINIMAL + "training: {batching: full, batch_size: 4}\n",
                          name="b.yaml"))
