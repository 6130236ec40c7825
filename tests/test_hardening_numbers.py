"""Valid-looking numbers that overflow later, and scale traps: every number is bounded where it
enters (config, sweep file, command line), a network too big for memory is refused before it is
allocated, a schedule never produces a non-finite rate, and an ID-like target is refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import CONFIGS, assert_clean_error, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlearn.errors import ConfigError, DataError
from nnlearn.nn.schedules import make_schedule
from nnlearn.runs import config as config_module
from nnlearn.runs import run as runs
from nnlearn.runs.config import load_config

ENV = {"NNLEARN_THREADS": "1"}
HUGE = "1" + "0" * 400


def xor(*sets: str) -> dict:
    return load_config(CONFIGS / "xor.yaml", list(sets))


@pytest.mark.parametrize("override, key", [
    (f"training.epochs={HUGE}", "training.epochs"),
    ("training.epochs=10000001", "training.epochs"),
    ("training.schedule={name: invscaling, power_t: 200}", "training.schedule.power_t"),
    (f"model.hidden=[{10**11}]", "model.hidden[0]"),
    (f"model.layers=[{{units: {10**11}}}]", "model.layers[0].units"),
    (f"training.batch_size={2**40}", "training.batch_size"),
    (f"seed={HUGE}", "seed"),
    ("training.threads=100000", "training.threads"),
    ("training.learning_rate=1e308", "training.learning_rate"),
    (f"training.schedule={{name: cosine, warmup_epochs: {HUGE}}}",
     "training.schedule.warmup_epochs"),
    (f"training.schedule={{name: step, step_size: {HUGE}}}", "training.schedule.step_size"),
    (f"training.early_stopping={{patience: {HUGE}, monitor: train_loss}}",
     "training.early_stopping.patience"),
    (f"training.checkpoint_every={HUGE}", "training.checkpoint_every"),
])
def test_numbers_too_large_to_use_are_refused_where_they_enter(override, key):
    with pytest.raises(ConfigError) as info:
        xor(override)
    assert info.value.key == key


@pytest.mark.parametrize("command", ["train", "summary", "gradcheck", "explain"])
def test_a_400_digit_epoch_count_with_cosine_is_exit_2_in_every_command(command, tmp_path):
    args = [command, CONFIGS / "xor.yaml", "--set", f"training.epochs={HUGE}",
            "--set", "training.schedule=cosine"]
    if command == "train":
        args += ["--out", tmp_path / "run"]
    proc = run_cli(*args, env=ENV, timeout=120)
    assert_clean_error(proc, 2, "training.epochs", "at most")
    assert not (tmp_path / "run").exists()


def test_a_network_too_big_for_memory_is_refused_with_its_size_in_bytes(monkeypatch):
    monkeypatch.setattr(runs, "_memory_bytes", lambda: 10**9)
    cfg = xor("model.hidden=[100000, 100000]")  # 10**10 weights: 80 GB in float64
    with pytest.raises(ConfigError, match="bytes") as info:
        runs.prepare(cfg)
    assert info.value.key == "model.hidden"
    n_params = (2 + 1) * 100_000 + (100_000 + 1) * 100_000 + (100_000 + 1) * 1
    assert f"{n_params:,} parameters ({8 * n_params:,} bytes" in str(info.value)
    runs.prepare(xor("model.hidden=[64, 64]"))  # a network that fits is built


def test_activations_for_every_row_count_towards_the_memory_needed(monkeypatch):
    monkeypatch.setattr(runs, "_memory_bytes", lambda: 10**6)
    runs.check_network_size(2, [100], 1, np.float64, rows=100)  # 20 kB of activations
    with pytest.raises(ConfigError, match="on 10,000 rows"):
        runs.check_network_size(2, [100], 1, np.float64, rows=10_000)  # 16 MB


def test_summary_refuses_a_network_that_does_not_fit_before_allocating():
    width = config_module.MAX_UNITS  # allowed as a width; 10**14 weights are not
    proc = run_cli("summary", CONFIGS / "xor.yaml", "--set",
                   f"model.hidden=[{width}, {width}]", env=ENV, timeout=120)
    assert_clean_error(proc, 2, "bytes", "model.hidden")


def test_network_size_counts_weights_and_biases():
    assert runs.check_network_size(2, [4], 1, np.float64) == (2 + 1) * 4 + (4 + 1) * 1
    assert runs.check_network_size(3, [], 2, np.float32) == (3 + 1) * 2


@pytest.mark.parametrize("eps", ["nan", "inf", "-inf", "0", "-1", "2"])
def test_gradcheck_refuses_a_step_that_is_not_a_small_finite_number(eps):
    proc = run_cli("gradcheck", CONFIGS / "xor.yaml", "--eps", eps, "--json", env=ENV,
                   timeout=120)
    assert_clean_error(proc, 2, "--eps")


def test_gradcheck_json_is_strict_json():
    proc = run_cli("gradcheck", CONFIGS / "xor.yaml", "--json", env=ENV, timeout=120)
    assert proc.returncode == 0, proc.stderr
    json.loads(proc.stdout, parse_constant=lambda name: pytest.fail(f"{name} in --json"))


def test_json_output_turns_non_finite_numbers_into_null():
    from nnlearn.cli import _finite_or_null

    got = _finite_or_null({"a": [1.0, math.nan, {"b": math.inf}], "c": (-math.inf, 2)})
    assert got == {"a": [1.0, None, {"b": None}], "c": [None, 2]}


EPOCHS = st.integers(1, config_module.MAX_EPOCHS)


@st.composite
def schedules(draw):
    """A schedule as a valid config can describe it, with its epoch count and base rate."""
    epochs = draw(EPOCHS)
    lr = draw(st.floats(1e-300, config_module.MAX_LEARNING_RATE))
    name = draw(st.sampled_from(["constant", "step", "exponential", "cosine", "invscaling"]))
    spec: dict = {"name": name}
    if name == "step":
        spec.update(step_size=draw(st.integers(1, config_module.MAX_EPOCHS)),
                    gamma=draw(st.floats(1e-300, 1.0)))
    elif name == "exponential":
        spec["gamma"] = draw(st.floats(1e-300, 1.0))
    elif name == "cosine":
        spec.update(warmup_epochs=draw(st.integers(0, epochs - 1)), min_lr=0.0)
    elif name == "invscaling":
        spec["power_t"] = draw(st.floats(0.0, 10.0))
    raw = {"data": {"train": "x.csv", "target": "y"},
           "training": {"epochs": epochs, "learning_rate": lr, "schedule": spec}}
    cfg = config_module.resolve(raw, base_dir=CONFIGS)  # only what a config accepts
    return cfg["training"], epochs


@settings(max_examples=200, deadline=None)
@given(drawn=schedules(), where=st.floats(0.0, 1.0))
def test_a_schedule_a_config_accepts_never_gives_a_non_finite_rate(drawn, where):
    training, epochs = drawn
    schedule = make_schedule(training["schedule"], training["learning_rate"], epochs)
    for epoch in (0, int(where * (epochs - 1)), epochs - 1, epochs):
        rate = schedule.lr_at(epoch)
        assert math.isfinite(rate) and rate >= 0, (training["schedule"], epoch, rate)


# ------------------------------------------------------------------------------------------
# sweep files


@pytest.mark.parametrize("body, where", [
    ("grid: {" + ", ".join(f"training.{k}: [{', '.join(['1'] * 20)}]" for k in
                           ("epochs", "checkpoint_every", "threads", "batch_size")) + "}",
     "grid"),
    ("random: {trials: " + HUGE + ", space: {training.learning_rate: {uniform: [0.1, 1]}}}",
     "random.trials"),
    ("random: {trials: 2, seed: " + HUGE + ", space: {training.learning_rate: "
     "{uniform: [0.1, 1]}}}", "random.seed"),
    ("seeds: [0, " + HUGE + "]", "seeds[1]"),
])
def test_a_sweep_that_plans_too_much_is_refused_before_expanding(tmp_path, body, where):
    from nnlearn.sweeps.sweep import load_sweep

    path = tmp_path / "big.yaml"
    path.write_text(f"base: {CONFIGS / 'xor.yaml'}\n{body}\n")
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    assert info.value.key == where


# ------------------------------------------------------------------------------------------
# an ID-like target


def _id_table(tmp_path, n: int = 40):
    rng = np.random.default_rng(0)
    lines = ["x1,x2,id"] + [f"{a:.3f},{b:.3f},user{i}" for i, (a, b) in
                            enumerate(rng.normal(size=(n, 2)))]
    (tmp_path / "ids.csv").write_text("\n".join(lines) + "\n")
    cfg = tmp_path / "ids.yaml"
    cfg.write_text("data: {train: ids.csv, target: id, val_fraction: 0}\n"
                   "training: {epochs: 1}\n")
    return cfg


def test_a_target_with_more_classes_than_half_the_rows_is_refused(tmp_path):
    cfg = _id_table(tmp_path)
    with pytest.raises(DataError, match="40 classes for 40 rows") as info:
        runs.prepare(load_config(cfg))
    assert "allow_many_classes" in info.value.hint
    proc = run_cli("train", cfg, "--out", tmp_path / "run", env=ENV, timeout=120)
    assert_clean_error(proc, 2, "ids.csv", "'id'", "allow_many_classes")


def test_a_numeric_target_with_one_stray_cell_names_that_cell(tmp_path):
    # the stray 'n/a' makes the inferred task classification, with a class per value; the
    # message must point at the cell, not ask whether the column is an ID
    rng = np.random.default_rng(0)
    rows = [f"{a:.3f},{a * 3 + 0.5:.3f}" for a in rng.normal(size=40)]
    rows[6] = rows[6].split(",")[0] + ",n/a"
    (tmp_path / "reg.csv").write_text("x,y\n" + "\n".join(rows) + "\n")
    (tmp_path / "reg.yaml").write_text("data: {train: reg.csv, target: y, val_fraction: 0}\n")
    with pytest.raises(DataError) as info:
        runs.prepare(load_config(tmp_path / "reg.yaml"))
    assert (info.value.line, info.value.column) == (8, "y")
    assert "non-numeric value 'n/a'" in str(info.value)
    assert str(info.value).endswith("the target looked like 40 classes for 40 rows")


def test_allow_many_classes_lets_the_config_insist(tmp_path):
    cfg = _id_table(tmp_path)
    p = runs.prepare(load_config(cfg, ["data.allow_many_classes=true"]))
    assert p.model.network.n_outputs == 40


def test_half_the_rows_as_classes_is_still_accepted(tmp_path):
    cfg = _id_table(tmp_path)
    rows = (tmp_path / "ids.csv").read_text().splitlines()
    relabelled = [rows[0]] + [r.rsplit(",", 1)[0] + f",c{i % 20}" for i, r in
                              enumerate(rows[1:])]
    (tmp_path / "ids.csv").write_text("\n".join(relabelled) + "\n")
    assert runs.prepare(load_config(cfg)).model.network.n_outputs == 20


@pytest.mark.parametrize("args", [
    ("train", CONFIGS / "xor.yaml", "--threads", "100000"),
    ("sweep", CONFIGS / "sweeps" / "learning-rate.yaml", "--threads", "100000"),
    ("sweep", CONFIGS / "sweeps" / "learning-rate.yaml", "--workers", str(10**30)),
])
def test_thread_and_worker_counts_on_the_command_line_are_bounded(tmp_path, args):
    proc = run_cli(*args, "--out", tmp_path / "out", env=ENV, timeout=60)
    assert_clean_error(proc, 2, args[2])
    assert not (tmp_path / "out").exists()


def test_a_container_memory_limit_lower_than_the_machine_counts(tmp_path, monkeypatch):
    unlimited, limited = tmp_path / "max", tmp_path / "limit"
    unlimited.write_text("max\n")
    limited.write_text("1048576\n")
    monkeypatch.setattr(runs, "_CGROUP_LIMITS", (str(unlimited), str(tmp_path / "none")))
    machine = runs._memory_bytes()
    assert machine is None or machine > 2**20
    monkeypatch.setattr(runs, "_CGROUP_LIMITS", (str(unlimited), str(limited)))
    if machine is not None:
        assert runs._memory_bytes() == 2**20
