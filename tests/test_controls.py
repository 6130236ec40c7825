"""Training controls, end to end through ``runs.train``: early stopping, the learning rate used
per epoch, class and sample weights, per-layer configuration, gradient clipping, and the digits
comparison of Adam with SGD + momentum. (The optimizers' and schedules' formulas are tested on
their own in test_optimizers.py and test_schedules.py; here we check that a run uses them.)"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import CONFIGS, assert_clean_error, run_cli

from nnlearn.errors import ConfigError
from nnlearn.nn.training import Callback
from nnlearn.runs import run as runs
from nnlearn.runs.config import load_config

#: The documented way to train digits with Adam (docs/training.md shows the same command).
DIGITS_ADAM = ("training.optimizer=adam", "training.learning_rate=0.001")


def _train(cfg: dict, tmp_path: Path, **kwargs) -> tuple[runs.RunResult, list[dict], dict]:
    result = runs.train(cfg, out=tmp_path / "run", **kwargs)
    history = runs.read_history(result.run_dir / runs.HISTORY_FILE)
    metrics = json.loads((result.run_dir / runs.METRICS_FILE).read_text())
    return result, history, metrics


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------
# early stopping


def test_early_stopping_restores_the_best_weights_and_records_why(tmp_path):
    cfg = load_config(CONFIGS / "diabetes.yaml")  # early_stopping: {monitor: val_loss, patience: 15}
    result, history, metrics = _train(cfg, tmp_path)
    best = min(history, key=lambda row: row["val_loss"])  # the first of equal minima
    assert len(history) == metrics["epochs"] < cfg["training"]["epochs"]
    assert best["epoch"] < len(history), "the best epoch must not be the last, or nothing is restored"
    assert metrics["best_epoch"] == metrics["restored_epoch"] == best["epoch"]
    assert metrics["stopped"] == (
        f"early stopping: val_loss did not improve for 15 epochs "
        f"(best {best['val_loss']:.6g} at epoch {int(best['epoch'])})")
    # The saved model, loaded back, has the best epoch's validation loss, not the last one's.
    model, run_cfg = runs.load_run(result.run_dir)
    p = runs.prepare(run_cfg)  # the same seed: the same validation rows
    val = runs.evaluate(model, p.train_table, rows=p.val_idx)
    assert val["loss"] == pytest.approx(best["val_loss"], rel=1e-12, abs=0)
    assert val["loss"] != pytest.approx(history[-1]["val_loss"], rel=1e-6)
    assert metrics["val"]["loss"] == pytest.approx(best["val_loss"], rel=1e-12, abs=0)


def test_early_stopping_on_a_metric_to_maximise(tmp_path):
    cfg = load_config(CONFIGS / "iris.yaml",
                      ["training.early_stopping={monitor: val_accuracy, patience: 5}"])
    assert cfg["training"]["early_stopping"]["mode"] == "max"
    _, history, metrics = _train(cfg, tmp_path)
    accuracies = [row["val_accuracy"] for row in history]
    first_best = accuracies.index(max(accuracies)) + 1  # improvement must be strict
    assert metrics["best_epoch"] == first_best
    assert len(history) == first_best + 5
    assert metrics["stopped"].startswith("early stopping: val_accuracy did not improve for 5")
    assert metrics["val"]["accuracy"] == max(accuracies)


def test_early_stopping_on_a_metric_that_was_never_a_number_stops_with_a_message():
    from types import SimpleNamespace

    from nnlearn.nn.training import EarlyStopping

    es = EarlyStopping("val_loss", patience=2, restore_best_weights=False)
    trainer = SimpleNamespace(stop_reason=None)
    for epoch in (1, 2):
        es.on_epoch_end(trainer, {"epoch": epoch, "val_loss": math.nan})
    assert trainer.stop_reason == ("early stopping: val_loss did not improve for 2 epochs "
                                   "(no value was a number)")


@pytest.mark.parametrize("config,task", [("iris.yaml", "classification"),
                                         ("diabetes.yaml", "regression")])
def test_the_monitors_the_config_offers_are_what_a_run_logs(tmp_path, config, task):
    from nnlearn.runs.config import EPOCH_METRICS, MONITOR_NAMES

    cfg = load_config(CONFIGS / config, ["training.epochs=1"])
    _, history, _ = _train(cfg, tmp_path)
    logged = {k[len("val_"):] for k in history[0] if k.startswith("val_")} - {"loss"}
    assert logged == set(EPOCH_METRICS[task])
    assert {f"train_{m}" for m in logged} <= set(history[0])
    assert {"val_loss", "train_loss", *(f"val_{m}" for m in logged)} <= set(MONITOR_NAMES)


def _regression_csv(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    lines = ["a,b,y"] + [f"{a:.3f},{b:.3f},{a + 2 * b:.3f}" for a, b in rng.random((rows, 2))]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("training,rows,key,words", [
    # task auto: the data says regression only once it is read
    ("early_stopping: {monitor: val_accuracy}", 40, "training.early_stopping.monitor",
     "classification metric but the task is regression"),
    ("schedule: {name: plateau, monitor: val_accuracy}", 40, "training.schedule.monitor",
     "classification metric but the task is regression"),
    # val_fraction 0.2 of one row holds none back
    ("epochs: 3", 1, "training.early_stopping.monitor", "too few rows to hold one back"),
])
def test_a_monitor_the_run_would_not_compute_is_refused_before_training(tmp_path, training,
                                                                       rows, key, words):
    _regression_csv(tmp_path / "r.csv", rows)
    (tmp_path / "c.yaml").write_text(f"data: {{train: r.csv, target: y}}\n"
                                     f"training: {{{training}}}\n")
    with pytest.raises(ConfigError, match=words) as err:
        runs.prepare(load_config(tmp_path / "c.yaml"))
    assert err.value.key == key
    proc = run_cli("train", tmp_path / "c.yaml", "--out", tmp_path / "run")
    assert_clean_error(proc, 2, key, words)
    assert not (tmp_path / "run").exists()  # refused before a run folder was made


def test_without_early_stopping_the_run_says_it_completed(tmp_path):
    cfg = load_config(CONFIGS / "iris.yaml", ["training.epochs=4"])
    _, history, metrics = _train(cfg, tmp_path)
    assert len(history) == 4
    assert metrics["stopped"] == "completed 4 epochs"
    assert metrics["best_epoch"] is None and metrics["restored_epoch"] is None


# ------------------------------------------------------------------------------------------
# the learning rate actually used, per epoch, in history.csv


def _cosine(base: float, e: int, total: int, warmup: int, min_lr: float) -> float:
    if e < warmup:
        return base * (e + 1) / warmup
    return min_lr + (base - min_lr) * (1 + math.cos(math.pi * (e - warmup) / (total - warmup))) / 2


SCHEDULE_FORMULAS = {
    "constant": lambda b, e: b,
    "{name: step, step_size: 3, gamma: 0.5}": lambda b, e: b * 0.5 ** (e // 3),
    "{name: exponential, gamma: 0.8}": lambda b, e: b * 0.8**e,
    "{name: cosine, warmup_epochs: 3, min_lr: 0.001}": lambda b, e: _cosine(b, e, 12, 3, 0.001),
    "{name: invscaling, power_t: 0.5}": lambda b, e: b / (e + 1) ** 0.5,
}


@pytest.mark.parametrize("schedule", list(SCHEDULE_FORMULAS))
def test_history_lr_column_equals_the_schedule_formula(schedule, tmp_path):
    base = 0.05
    cfg = load_config(CONFIGS / "iris.yaml", [f"training.schedule={schedule}", "training.epochs=12",
                                              f"training.learning_rate={base}"])
    _, history, _ = _train(cfg, tmp_path)
    used = [row["lr"] for row in history]
    expected = [SCHEDULE_FORMULAS[schedule](base, e) for e in range(12)]  # epoch e, 0-based
    assert used == pytest.approx(expected, rel=1e-12, abs=0)


def test_history_lr_column_follows_the_plateau_rule(tmp_path):
    factor, patience, cooldown, min_lr, base = 0.5, 1, 1, 0.002, 0.01
    cfg = load_config(CONFIGS / "diabetes.yaml", [
        (f"training.schedule={{name: plateau, factor: {factor}, patience: {patience}, "
         f"cooldown: {cooldown}, min_lr: {min_lr}, min_delta: 0.0}}"),
        "training.early_stopping=null", "training.epochs=40", f"training.learning_rate={base}"])
    _, history, _ = _train(cfg, tmp_path)
    # The documented rule, replayed on the run's own val_loss column.
    lr, best, bad, cool = base, math.inf, 0, 0
    expected = []
    for row in history:
        expected.append(lr)
        if row["val_loss"] < best:
            best, bad = row["val_loss"], 0
        else:
            bad += 1
        if cool > 0:
            cool, bad = cool - 1, 0
        if bad > patience:
            lr, cool, bad = max(lr * factor, min_lr), cooldown, 0
    used = [row["lr"] for row in history]
    assert used == pytest.approx(expected, rel=1e-12, abs=0)
    assert len(set(used)) >= 3 and min(used) == min_lr  # the rule was really exercised


# ------------------------------------------------------------------------------------------
# class weights and sample weights


def _imbalanced_csv(path: Path, *, binary: bool = False) -> Path:
    """100 rows, two features and a weight column; classes a/b/c in 60/25/15 (or 0/1 in 70/30)."""
    rng = np.random.default_rng(123)
    labels = ["0"] * 70 + ["1"] * 30 if binary else ["a"] * 60 + ["b"] * 25 + ["c"] * 15
    lines = ["x1,x2,w,label"]
    for i, label in enumerate(labels):
        offset = "abc01".index(label) % 3
        x1, x2 = rng.normal(offset, 1.0), rng.normal(-offset, 1.0)
        lines.append(f"{x1!r},{x2!r},{rng.uniform(0.5, 2.0)!r},{label}")
    return _write(path, "\n".join(lines) + "\n")


def _weights_config(tmp_path: Path, training: str, data: str = "", *, binary: bool = False):
    csv = _imbalanced_csv(tmp_path / "d.csv", binary=binary)
    text = (f"seed: 3\ndata: {{train: {csv.name}, target: label, val_fraction: 0, "
            f"features: [x1, x2]{data}}}\nmodel: {{hidden: [5]}}\n"
            f"training: {{epochs: 1, batch_size: full, {training}}}\n")
    return load_config(_write(tmp_path / "c.yaml", text))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_balanced_class_weights_weight_the_loss_as_computed_by_hand(tmp_path):
    cfg = _weights_config(tmp_path, "class_weight: balanced")
    p = runs.prepare(cfg)  # the run's own starting point: same seed, same initial weights
    y = p.train.y
    counts = {0: 60, 1: 25, 2: 15}
    w = np.array([100 / (3 * counts[int(c)]) for c in y])  # n / (n_classes * n_c)
    np.testing.assert_allclose(p.train.w, w, rtol=1e-15)
    per_sample = -_log_softmax(p.model.network.predict(p.train.x))[np.arange(len(y)), y]
    hand = float(np.sum(w * per_sample) / len(y))  # sum_i w_i l_i / n
    _, history, _ = _train(cfg, tmp_path)
    # Full batch: the first epoch's loss is the loss of the initial weights.
    assert history[0]["train_loss"] == pytest.approx(hand, rel=1e-12)
    assert hand != pytest.approx(per_sample.mean(), rel=1e-3)  # the weights made a difference


def test_class_weight_mapping_with_integer_labels_weights_binary_cross_entropy(tmp_path):
    cfg = _weights_config(tmp_path, "class_weight: {1: 3}", binary=True)
    assert cfg["training"]["class_weight"] == {"1": 3.0}
    p = runs.prepare(cfg)
    y = p.train.y.astype(float)
    w = np.where(y == 1, 3.0, 1.0)  # unlisted class 0 keeps weight 1
    np.testing.assert_array_equal(p.train.w, w)
    z = p.model.network.predict(p.train.x)[:, 0]
    per_sample = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))  # BCE with logits
    hand = float(np.mean(w * per_sample))
    _, history, _ = _train(cfg, tmp_path)
    assert history[0]["train_loss"] == pytest.approx(hand, rel=1e-12)


def test_unknown_label_in_class_weight_names_the_key_and_the_label(tmp_path):
    cfg = _weights_config(tmp_path, "class_weight: {a: 2, zebra: 5}")
    with pytest.raises(ConfigError) as exc:
        runs.prepare(cfg)
    assert exc.value.key == "training.class_weight.zebra"
    assert "'zebra'" in str(exc.value) and "a, b, c" in str(exc.value)
    proc = run_cli("train", tmp_path / "c.yaml", "--out", tmp_path / "run")
    assert_clean_error(proc, 2, "training.class_weight", "zebra")
    assert not (tmp_path / "run").exists()


def test_sample_weights_from_a_column(tmp_path):
    cfg = _weights_config(tmp_path, "loss: auto", ", sample_weight: w")
    column = np.loadtxt(tmp_path / "d.csv", delimiter=",", skiprows=1, usecols=2)
    p = runs.prepare(cfg)
    assert p.model.feature_names == ["x1", "x2"]  # the weight column is not a feature
    np.testing.assert_array_equal(p.train.w, column[p.train_idx])
    y = p.train.y
    per_sample = -_log_softmax(p.model.network.predict(p.train.x))[np.arange(len(y)), y]
    hand = float(np.sum(column[p.train_idx] * per_sample) / len(y))
    _, history, _ = _train(cfg, tmp_path)
    assert history[0]["train_loss"] == pytest.approx(hand, rel=1e-12)


def test_sample_and_class_weights_multiply(tmp_path):
    cfg = _weights_config(tmp_path, "class_weight: {c: 4}", ", sample_weight: w")
    column = np.loadtxt(tmp_path / "d.csv", delimiter=",", skiprows=1, usecols=2)
    p = runs.prepare(cfg)
    class_w = np.where(p.train.y == 2, 4.0, 1.0)
    np.testing.assert_allclose(p.train.w, column[p.train_idx] * class_w, rtol=1e-15)


# ------------------------------------------------------------------------------------------
# per-layer configuration


def test_per_layer_config_builds_the_architecture_asked_for(tmp_path):
    cfg = load_config(CONFIGS / "iris.yaml", [
        "model.hidden=[64,32,8]", "model.activation=relu", "model.dropout=0.1",
        ("model.layers=[{units: 64, activation: tanh, dropout: 0.25, init: he}, "
         "{units: 32, activation: elu, dropout: 0, init: xavier}, {units: 8}]"),
        "training.epochs=1"])
    result, _, _ = _train(cfg, tmp_path)
    expected = [
        {"type": "dense", "in": 4, "out": 64, "init": "he"}, {"type": "tanh"},
        {"type": "dropout", "rate": 0.25},
        {"type": "dense", "in": 64, "out": 32, "init": "xavier"}, {"type": "elu"},
        {"type": "dense", "in": 32, "out": 8, "init": "he"}, {"type": "relu"},  # model defaults
        {"type": "dropout", "rate": 0.1},
        {"type": "dense", "in": 8, "out": 3, "init": "he"},  # the output follows the last layer
    ]
    for network in (runs.prepare(cfg).model.network, runs.load_run(result.run_dir)[0].network):
        specs = [{k: v for k, v in layer.spec().items() if k in ("type", "in", "out", "init",
                                                                  "rate")}
                 for layer in network.layers]
        assert specs == expected
    # The initial weights follow each layer's init: He is normal with std sqrt(2 / fan_in),
    # Xavier is uniform within sqrt(6 / (fan_in + fan_out)).
    w = runs.prepare(cfg).model.network.get_weights()
    assert np.std(w["dense_1.W"]) == pytest.approx(math.sqrt(2 / 4), rel=0.15)
    limit = math.sqrt(6 / (64 + 32))
    assert np.abs(w["dense_2.W"]).max() <= limit
    assert np.std(w["dense_2.W"]) == pytest.approx(limit / math.sqrt(3), rel=0.1)
    assert np.abs(w["dense_1.W"]).max() > limit  # not Xavier's range


# ------------------------------------------------------------------------------------------
# gradient clipping in a run


class GradientSpy(Callback):
    """Records the gradients straight out of backprop and the ones the optimizer steps with."""

    def on_train_begin(self, trainer):
        self.raw, self.used = [], []
        network, optimizer = trainer.network, trainer.optimizer
        backward, step = network.backward, optimizer.step

        def spy_backward(*args, **kwargs):
            out = backward(*args, **kwargs)
            self.raw.append([p.grad.copy() for p in optimizer.params])
            return out

        def spy_step():
            self.used.append([p.grad.copy() for p in optimizer.params])
            step()

        network.backward, optimizer.step = spy_backward, spy_step


def _global_norm(grads: list[np.ndarray]) -> float:
    return math.sqrt(sum(float(np.sum(g * g)) for g in grads))


def test_clip_grad_norm_in_a_run(tmp_path):
    max_norm = 0.05
    cfg = load_config(CONFIGS / "iris.yaml", [f"training.clip_grad_norm={max_norm}",
                                              "training.epochs=3"])
    spy = GradientSpy()
    _train(cfg, tmp_path, callbacks=[spy])
    assert len(spy.raw) == len(spy.used) > 0
    clipped = 0
    for raw, used in zip(spy.raw, spy.used):
        norm = _global_norm(raw)
        if norm > max_norm:  # scaled together, direction kept
            clipped += 1
            for r, u in zip(raw, used):
                np.testing.assert_allclose(u, r * (max_norm / norm), rtol=1e-12, atol=0)
        else:
            for r, u in zip(raw, used):
                np.testing.assert_array_equal(u, r)
    assert clipped > 0


def test_clip_grad_value_in_a_run(tmp_path):
    clip = 0.01
    cfg = load_config(CONFIGS / "iris.yaml", [f"training.clip_grad_value={clip}",
                                              "training.epochs=3"])
    spy = GradientSpy()
    _train(cfg, tmp_path, callbacks=[spy])
    assert len(spy.raw) == len(spy.used) > 0
    assert any(np.abs(g).max() > clip for raw in spy.raw for g in raw)
    for raw, used in zip(spy.raw, spy.used):
        for r, u in zip(raw, used):
            np.testing.assert_array_equal(u, np.clip(r, -clip, clip))


# ------------------------------------------------------------------------------------------
# the digits comparison (docs/training.md shows these numbers)


@pytest.mark.parametrize("overrides", [(), DIGITS_ADAM], ids=["sgd-momentum", "adam"])
def test_digits_reaches_96_percent_with_sgd_momentum_and_with_adam(overrides, tmp_path):
    cfg = load_config(CONFIGS / "digits.yaml", list(overrides))
    expected = "adam" if overrides else "sgd"
    assert cfg["training"]["optimizer"]["name"] == expected
    if expected == "sgd":
        assert cfg["training"]["optimizer"]["momentum"] == 0.9
    result = runs.train(cfg, out=tmp_path / "run")
    assert result.metrics["test"]["accuracy"] >= 0.96, result.metrics["test"]
