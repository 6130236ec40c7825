"""Training diagnostics: diagnostics.csv per layer and epoch, and warnings that fire on runs
broken on purpose (and stay quiet on the bundled lessons)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import CONFIGS, run_cli

from nnlearn.runs import run as runs
from nnlearn.runs.config import load_config
from nnlearn.runs.diagnostics import COLUMNS, Diagnostics
from nnlearn.runs.trainstate import load_trainer_state, trainer_state


def _fit(config: str, *overrides: str, before_fit=None):
    p = runs.prepare(load_config(CONFIGS / config, [*overrides, "training.diagnostics=true"]))
    if before_fit is not None:
        before_fit(p)
    p.trainer.fit(p.train, p.val, p.cfg["training"]["epochs"])
    return p, next(cb for cb in p.trainer.callbacks if isinstance(cb, Diagnostics))


def test_exploding_run_is_flagged_and_diagnostics_csv_written(tmp_path):
    # learning rate 100x the lesson's: the loss climbs and the gradients grow
    out = tmp_path / "run"
    proc = run_cli("train", CONFIGS / "xor.yaml", "--set", "training.learning_rate=50",
                   "--set", "training.epochs=40", "--diagnostics", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "warning: exploding gradients: the gradient norm of dense_1" in proc.stderr
    assert "warning: learning rate far too large" in proc.stderr
    with open(out / "diagnostics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == 40 * 2  # epochs x Dense layers
    assert [r["layer"] for r in rows[:2]] == ["dense_1", "dense_2"]
    assert rows[0]["activation"] == "tanh" and rows[1]["activation"] == "output"
    assert rows[0]["dead_fraction"] == "" and rows[0]["saturated_fraction"] != ""
    grads = [float(r["grad_norm"]) for r in rows if r["layer"] == "dense_1"]
    assert max(grads) > 10 * grads[0]


def test_dead_relu_run_is_flagged():
    def kill(p):
        # every first-layer ReLU starts (and stays) dead: z = x·W + b < 0 for every row
        p.trainer.network.layers[0].b.value[...] = -1e3

    _, diag = _fit("moons.yaml", "training.epochs=3", before_fit=kill)
    dead = diag.metric("dead_fraction")
    assert dead[-1, 0] == 1.0
    assert any(w.startswith("dead ReLUs: 100% of dense_1's units") for w in diag.warnings())


def test_a_too_high_learning_rate_kills_relus_in_a_real_run():
    _, diag = _fit("moons.yaml", "training.learning_rate=2", "training.epochs=30")
    warnings = diag.warnings()
    assert any(w.startswith("dead ReLUs") for w in warnings), warnings
    assert any(w.startswith("learning rate far too large") for w in warnings), warnings


def test_learning_rate_far_too_small_is_flagged():
    _, diag = _fit("iris.yaml", "training.learning_rate=1e-6", "training.epochs=5")
    assert [w.split(":")[0] for w in diag.warnings()] == ["learning rate far too small"]


def test_vanishing_gradients_in_a_deep_sigmoid_network():
    _, diag = _fit("moons.yaml", "model.hidden=[32, 32, 32, 32, 32, 32]",
                   "model.activation=sigmoid", "training.epochs=4")
    assert any(w.startswith("vanishing gradients: relative to its weights, dense_1")
               for w in diag.warnings())


def test_saturated_tanh_on_raw_inputs():
    _, diag = _fit("iris.yaml", "data.standardize=false", "training.epochs=5")
    assert any(w.startswith("saturated tanh") for w in diag.warnings())


@pytest.mark.parametrize("config", ["xor.yaml", "iris.yaml", "diabetes.yaml"])
def test_healthy_lessons_raise_no_warning(config):
    _, diag = _fit(config)
    assert diag.warnings() == []


def test_diagnostics_do_not_change_training():
    with_diag, _ = _fit("iris.yaml", "training.epochs=10")
    p = runs.prepare(load_config(CONFIGS / "iris.yaml", ["training.epochs=10"]))
    p.trainer.fit(p.train, p.val, 10)
    for name, value in p.trainer.network.get_weights().items():
        np.testing.assert_array_equal(with_diag.trainer.network.get_weights()[name], value)


def test_resume_continues_the_same_records():
    _, whole = _fit("iris.yaml", "training.epochs=6")
    first, _ = _fit("iris.yaml", "training.epochs=3")
    arrays, meta = trainer_state(first.trainer)
    again = runs.prepare(load_config(CONFIGS / "iris.yaml",
                                     ["training.epochs=6", "training.diagnostics=true"]))
    load_trainer_state(again.trainer, arrays, meta)
    again.trainer.fit(again.train, again.val, 6)
    resumed = next(cb for cb in again.trainer.callbacks if isinstance(cb, Diagnostics))
    assert resumed.to_csv() == whole.to_csv()


def test_diverged_run_still_writes_diagnostics(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("train", CONFIGS / "diabetes.yaml", "--set", "model.activation=identity",
                   "--set", "training.learning_rate=1", "--set", "training.batch_size=full",
                   "--set", "training.early_stopping=null", "--diagnostics", "--out", out)
    assert proc.returncode == 3, proc.stderr
    assert (out / "diagnostics.csv").read_text().startswith(",".join(COLUMNS))
