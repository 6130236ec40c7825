"""What `nnlearn train` shows while and after it trains: the live bar fits the terminal, lines
that stay on screen, sparklines on their own scales with the best epoch marked, warnings in
plain words, and the run folder as the user would type it."""

from __future__ import annotations

import io
import re

import pytest
from conftest import CONFIGS, DATA, run_cli

from nnlearn.cli import _Progress, bar_layout, default_log_every, format_epoch_line
from nnlearn.plots.text import loss_sparklines
from nnlearn.runs.advice import (
    chance_level,
    look_alike_classes,
    not_converged,
    overfitting,
    overshooting,
    run_warnings,
)

LOGS = {"epoch": 1, "train_loss": 0.0001188, "train_accuracy": 0.98, "val_loss": 0.4884,
        "val_accuracy": 0.9583}


def _drive(width: int, logs: dict, epochs: int = 1000, done: int = 278) -> list[str]:
    """Render the bar at a fixed width into a string; return every line tqdm drew."""
    buf = io.StringIO()
    progress = _Progress(epochs, False, stream=buf, bar=True, width=width)
    progress.start(0)
    for epoch in range(1, done + 1):
        progress.update({**logs, "epoch": epoch})
    progress.bar.refresh()
    progress.close()
    return [line for line in re.split(r"[\r\n]", buf.getvalue()) if line.strip()]


@pytest.mark.parametrize("logs", [LOGS, {k: v for k, v in LOGS.items() if k != "train_accuracy"}])
def test_the_bar_fits_80_columns_with_every_metric_and_a_real_bar(logs):
    lines = _drive(80, logs)
    assert max(len(line) for line in lines) <= 80, lines
    bar_line = [line for line in lines if line.startswith("278/1000 |")][-1]
    cells = bar_line.split("|")[1]
    assert len(cells) >= 10, bar_line
    for name, key in (("loss", "train_loss"), ("vloss", "val_loss"), ("vacc", "val_accuracy"),
                      ("acc", "train_accuracy")):
        if key in logs:
            assert f"{name}={logs[key]:.4g}" in bar_line, bar_line


@pytest.mark.parametrize("width", [60, 45, 30, 20])
def test_the_bar_shrinks_gracefully_below_80_columns(width):
    lines = _drive(width, LOGS)
    bars = [line for line in lines if "|" in line]
    assert bars and max(len(line) for line in bars) <= width, bars
    assert bars[-1].startswith("278/1000 |")  # the count always stays


def test_narrower_terminals_drop_the_time_then_the_least_useful_metrics():
    wide, _ = bar_layout(120, 1000, LOGS)
    assert "{elapsed}" in wide and "acc=" in wide
    narrow, _ = bar_layout(80, 1000, LOGS)
    assert "{elapsed}" not in narrow and "vacc=" in narrow
    narrower, _ = bar_layout(45, 1000, LOGS)
    assert "vloss=" in narrower and "acc=" not in narrower


def test_the_terminal_width_comes_from_COLUMNS_when_not_fixed(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert _Progress(10, False)._width() == 80


@pytest.mark.parametrize("total,every", [(1, 1), (15, 1), (20, 2), (60, 5), (150, 10),
                                         (200, 20), (1000, 100), (2500, 200)])
def test_the_default_log_interval_gives_a_dozen_lines_or_so(total, every):
    assert default_log_every(total) == every
    assert -(-total // every) <= 15


def test_persistent_lines_every_n_epochs_first_and_last_without_a_terminal():
    buf = io.StringIO()
    progress = _Progress(23, False, log_every=5, stream=buf, bar=False)
    progress.start(0)
    for epoch in range(1, 24):
        progress.update({**LOGS, "epoch": epoch})
    progress.close()
    text = buf.getvalue()
    epochs = [int(m.group(1)) for m in re.finditer(r"^epoch (\d+)/23 ", text, re.MULTILINE)]
    assert epochs == [1, 5, 10, 15, 20, 23]


def test_the_epoch_early_stopping_ended_on_gets_its_line():
    buf = io.StringIO()
    progress = _Progress(200, False, log_every=50, stream=buf, bar=False)
    progress.start(0)
    for epoch in range(1, 38):
        progress.update({**LOGS, "epoch": epoch}, last=epoch == 37)
    assert buf.getvalue().splitlines()[-1].startswith("epoch 37/200 ")


def test_persistent_lines_name_train_metrics_when_the_history_has_them():
    line = format_epoch_line({**LOGS, "epoch": 3}, 10)
    assert line.startswith("epoch 3/10 ") and "train_accuracy=0.98" in line
    r2 = format_epoch_line({"epoch": 3, "train_loss": 1.0, "train_r2": 0.5, "val_r2": 0.25}, 10)
    assert "train_r2=0.5" in r2 and "val_r2=0.25" in r2


def test_train_with_stderr_redirected_keeps_lines_up_to_the_early_stopped_epoch(tmp_path):
    proc = run_cli("train", CONFIGS / "diabetes.yaml", "--out", tmp_path / "d", "--log-every",
                   "4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    found = re.finditer(r"^epoch (\d+)/\d+ ", proc.stderr, re.MULTILINE)
    epochs = [int(m.group(1)) for m in found]
    history = (tmp_path / "d" / "history.csv").read_text().splitlines()[1:]
    assert epochs[0] == 1 and epochs[-1] == len(history) < 200  # early stopping's last epoch
    assert all(e % 4 == 0 for e in epochs[1:-1]) and len(epochs) >= 4


# ------------------------------------------------------------------------------------------
# sparklines


def _history(train, val):
    return [{"epoch": i + 1, "train_loss": t, "val_loss": v}
            for i, (t, v) in enumerate(zip(train, val))]


def test_each_sparkline_has_its_own_range_so_a_small_rise_shows():
    train = [1000.0 / (i + 1) ** 2 for i in range(40)]
    val = [0.49 + 0.0025 * i for i in range(40)]  # rises by 20%, tiny next to the train loss
    lines = loss_sparklines(_history(train, val), width=40)
    spark = lines[1].split()[1]
    assert spark[0] == "▁" and spark[-1] == "█", lines  # the rise spans the whole height
    assert "own" in lines[0]


def test_the_lowest_val_loss_is_marked_under_its_epoch():
    val = [1.0, 0.6, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9]
    lines = loss_sparklines(_history([1.0] * 8, val), width=40)
    assert len(lines) == 3
    col = lines[2].index("↑")
    assert col == lines[1].index(lines[1].split()[1]) + 2  # under the third point, epoch 3
    assert "lowest val_loss 0.5 at epoch 3" in lines[2]
    falling = loss_sparklines(_history([1.0] * 4, [4.0, 3.0, 2.0, 1.0]))
    assert len(falling) == 2  # the last epoch is the best: nothing to mark


def test_restored_weights_are_said_with_the_reported_value():
    val = [0.3, 0.0641, 0.07, 0.0818]
    lines = loss_sparklines(_history([1, 0.5, 0.3, 0.2], val), restored_epoch=2, ascii=True)
    assert "epoch 2's weights were restored" in lines[2]
    assert "0.0641" in lines[2] and "0.0818" in lines[2] and lines[2].lstrip().startswith("^")
    # the best epoch was the last: nothing was put back, so nothing is said about restoring
    last = loss_sparklines(_history([1, 0.5, 0.3, 0.2], [0.3, 0.2, 0.1, 0.05]), restored_epoch=4)
    assert len(last) == 2, last


# ------------------------------------------------------------------------------------------
# warnings in plain words


def test_overfitting_is_warned_when_val_rises_while_train_falls():
    train = [1.0 / (i + 1) for i in range(30)]
    val = [0.5 - 0.02 * i for i in range(5)] + [0.42 + 0.01 * i for i in range(25)]
    text = overfitting(_history(train, val))
    assert text and text.startswith("overfitting") and "early stopping" in text
    assert overfitting(_history(train, sorted(val, reverse=True))) is None


def test_not_converged_is_warned_when_the_loss_still_falls_at_the_end():
    falling = [1.0 / (i + 1) for i in range(20)]
    assert "more epochs" in not_converged(_history(falling, falling))
    flat = [1.0] * 10 + [0.5] * 10
    assert not_converged(_history(flat, flat)) is None


def test_not_converged_is_not_warned_once_every_training_row_is_right():
    falling = [1.0 / (i + 1) for i in range(20)]
    done = {"stopped": "completed 20 epochs", "train": {"accuracy": 1.0}}
    assert run_warnings(_history(falling, falling), done) == []
    done["train"]["accuracy"] = 0.95
    assert [w.split(":")[0] for w in run_warnings(_history(falling, falling), done)] == [
        "not converged"]


def test_overshooting_is_warned_instead_of_the_trends_when_the_loss_rose():
    # a loss that jumps around far above where it began: a learning rate far too large, not
    # overfitting (val rising while train "falls" over the last epochs is noise here)
    train = [100.0, 150, 350, 440, 280, 300, 320, 200, 260, 330, 250, 150]
    val = [200.0, 140, 650, 270, 620, 15, 30, 40, 45, 50, 52, 54]
    history = [dict(row, lr=100.0) for row in _history(train, val)]
    text = overshooting(history)
    assert text.startswith("overshooting: the training loss rose, 100 in the first epoch")
    assert text.endswith("lower training.learning_rate, e.g. by 10x")
    assert run_warnings(history, {"stopped": "completed 12 epochs"}) == [text]
    falling = [1.0 / (i + 1) for i in range(20)]
    assert overshooting(_history(falling, falling)) is None
    noisy = [1.0, 0.5] + [0.4, 0.6] * 9  # ends below where it began: not overshooting
    assert overshooting(_history(noisy, noisy)) is None
    # continued from trained weights: starts at its lowest and wobbles a few per cent
    wobble = [0.026, 0.027, 0.025, 0.028, 0.027, 0.026, 0.027, 0.028, 0.027, 0.027]
    assert overshooting(_history(wobble, wobble)) is None


def test_class_names_that_differ_only_in_case_are_warned():
    metrics = {"train": {"classes": ["Setosa", "setosa", "versicolor", "virginica"]}}
    text = look_alike_classes(metrics)
    assert text.startswith("look-alike classes: 'Setosa' and 'setosa' differ only in case")
    assert run_warnings([], metrics) == [text]
    assert look_alike_classes({"train": {"classes": ["a", "b"]}}) is None
    assert look_alike_classes({"train": {"r2": 0.5}}) is None  # regression: no classes


def test_chance_level_accuracy_is_warned():
    metrics = {"train": {"accuracy": 0.6, "confusion_matrix": [[60, 0], [40, 0]]}}
    assert "chance level" in chance_level(metrics)
    metrics["train"]["accuracy"] = 0.9
    assert chance_level(metrics) is None


def test_restored_weights_and_early_stopping_silence_the_curve_warnings():
    train = [1.0 / (i + 1) for i in range(30)]
    val = [0.5 - 0.02 * i for i in range(5)] + [0.42 + 0.01 * i for i in range(25)]
    assert run_warnings(_history(train, val), {"stopped": "completed 30 epochs"})
    assert run_warnings(_history(train, val), {"restored_epoch": 5,
                                               "stopped": "early stopping: ..."}) == []


def test_train_prints_the_warnings_and_the_run_folder_relative_to_the_current_folder(tmp_path):
    import shutil

    shutil.copytree(CONFIGS, tmp_path / "configs")
    shutil.copytree(DATA, tmp_path / "data", ignore=shutil.ignore_patterns("*.py", "*.md"))
    proc = run_cli("train", "configs/moons.yaml", "--set", "training.learning_rate=2",
                   "--set", "training.epochs=30", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "warning: accuracy at chance level" in proc.stderr
    assert proc.stdout.splitlines()[-1] == "runs/moons"
    outside = run_cli("train", tmp_path / "configs" / "xor.yaml", "--out", tmp_path / "x",
                      "--quiet", cwd=tmp_path / "data")
    assert outside.stdout.splitlines()[-1] == str(tmp_path / "x")  # not ../x


def test_errors_show_paths_under_the_current_folder_relative(tmp_path):
    import shutil

    shutil.copytree(CONFIGS, tmp_path / "configs")
    shutil.copytree(DATA, tmp_path / "data", ignore=shutil.ignore_patterns("*.py", "*.md"))
    absolute = tmp_path / "runs" / "x"
    first = run_cli("train", "configs/xor.yaml", "--quiet", "--out", absolute, cwd=tmp_path)
    assert first.returncode == 0 and first.stdout.splitlines()[-1] == "runs/x"
    again = run_cli("train", "configs/xor.yaml", "--quiet", "--out", absolute, cwd=tmp_path)
    assert again.stderr.startswith("Error: runs/x: already exists"), again.stderr
    missing = run_cli("train", "configs/xor.yaml", "--set", "data.train=nothere.csv",
                      cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.startswith("Error: configs/nothere.csv:"), missing.stderr
    resume = run_cli("train", "--resume", absolute, cwd=tmp_path)
    assert resume.stderr.startswith("Error: runs/x: this run finished"), resume.stderr
    assert resume.stderr.rstrip().endswith("--init-from runs/x")
