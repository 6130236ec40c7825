"""nnlearn compare: config differences and metric differences of run folders."""

from __future__ import annotations

import json

import pytest
from conftest import CONFIGS, assert_clean_error, run_cli

from nnlearn.errors import DivergedError, NnlearnError
from nnlearn.runs import run as runs
from nnlearn.runs.config import load_config
from nnlearn.sweeps.compare import compare_runs, format_comparison


def _train(folder, name, *overrides):
    cfg = load_config(CONFIGS / "xor.yaml", ("training.epochs=20", *overrides))
    return runs.train(cfg, out=folder / name).run_dir


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    a = _train(folder, "a")
    b = _train(folder, "b", "training.learning_rate=0.1", "seed=5")
    return a, b


def test_only_the_keys_that_differ_are_listed(two_runs):
    a, b = two_runs
    c = compare_runs([a, b])
    assert dict(c.config) == {"seed": [1, 5], "training.learning_rate": [0.5, 0.1]}
    assert c.labels == ["a", "b"]


def test_metrics_side_by_side_with_the_change(two_runs):
    a, b = two_runs
    c = compare_runs([a, b])
    ma = json.loads((a / "metrics.json").read_text())
    mb = json.loads((b / "metrics.json").read_text())
    metrics = dict(c.metrics)
    assert metrics["train_loss"] == [ma["train"]["loss"], mb["train"]["loss"]]
    assert metrics["test_accuracy"] == [ma["test"]["accuracy"], mb["test"]["accuracy"]]
    assert metrics["status"] == ["ok", "ok"]
    assert "val_loss" not in metrics  # xor has no validation split
    assert c.change["train_loss"] == mb["train"]["loss"] - ma["train"]["loss"]
    assert c.change["status"] is None


def test_identical_configs_say_so(tmp_path):
    a, b = _train(tmp_path, "a"), _train(tmp_path, "b")
    c = compare_runs([a, b])
    assert c.config == []
    assert all(x == y for _, (x, y) in c.metrics)  # same config + seed: the same run
    assert format_comparison(c).startswith("config: identical")


def test_three_runs_and_a_diverged_one(tmp_path, two_runs):
    cfg = load_config(CONFIGS / "diabetes.yaml", ("training.learning_rate=10", "training.epochs=2"))
    with pytest.raises(DivergedError):
        runs.train(cfg, out=tmp_path / "bad")
    c = compare_runs([*two_runs, tmp_path / "bad"])
    metrics = dict(c.metrics)
    assert metrics["status"] == ["ok", "ok", "diverged"]
    assert metrics["train_loss"][2] is None
    assert "diverged" in metrics["error"][2]
    assert c.change is None  # B - A only for two runs
    assert dict(c.config)["data.task"] == ["classification", "classification", "regression"]


def test_folders_with_the_same_name_get_distinct_labels(tmp_path):
    a = _train(tmp_path / "x", "run")
    b = _train(tmp_path / "y", "run", "seed=2")
    assert compare_runs([a, b]).labels == ["x/run", "y/run"]


def test_not_a_run_folder_is_an_error(tmp_path, two_runs):
    with pytest.raises(NnlearnError, match="no config.yaml"):
        compare_runs([two_runs[0], tmp_path])


def test_cli_compare_text_and_json(two_runs):
    a, b = two_runs
    proc = run_cli("compare", a, b)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["config", "key", "a", "b"]
    assert lines[1].split() == ["seed", "1", "5"]
    assert any(line.split()[:3] == ["training.learning_rate", "0.5", "0.1"] for line in lines)
    assert "change (B - A)" in proc.stdout
    data = json.loads(run_cli("compare", a, b, "--json").stdout)
    assert data["config"]["training.learning_rate"] == [0.5, 0.1]
    assert data["runs"] == [str(a), str(b)]
    assert set(data["change"]) == set(data["metrics"])


def test_cli_compare_needs_two_run_folders(two_runs, tmp_path):
    assert_clean_error(run_cli("compare", two_runs[0]), 2, "at least two")
    assert_clean_error(run_cli("compare", two_runs[0], tmp_path), 2, "no config.yaml")
