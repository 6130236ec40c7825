"""Pictures a new user looks at: legends beside (never over) the axes, a sweep's seeds as one
band per variant, early stopping's best epoch, train and val curves of the metric, ROC and
precision-recall for two classes, residuals for regression, and text charts that cover the
first value."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import CONFIGS, run_cli

from nnlearn.plots import png as plotting
from nnlearn.plots.text import line_chart
from nnlearn.runs import run as runs
from nnlearn.runs.config import dump_config, load_config

pytest.importorskip("matplotlib")


def _fake_run(folder: Path, *, seed: int = 0, epochs: int = 12, restored: int | None = None,
              train_metric: bool = False, **overrides: str) -> Path:
    """A run folder written by hand: config.yaml, history.csv and metrics.json."""
    cfg = load_config(CONFIGS / "iris.yaml", [f"seed={seed}",
                                               *(f"{k}={v}" for k, v in overrides.items())])
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(dump_config(cfg))
    rng = np.random.default_rng(seed)
    cols = ["epoch", "train_loss", *(["train_accuracy"] if train_metric else []),
            "val_loss", "val_accuracy", "lr"]
    lines = [",".join(cols)]
    for e in range(1, epochs + 1):
        row = {"epoch": e, "train_loss": 1 / e + 0.01 * rng.random(),
               "train_accuracy": 1 - 0.5 / e, "val_loss": 1 / e + 0.02 * e + 0.01 * seed,
               "val_accuracy": 1 - 0.6 / e, "lr": 0.05}
        lines.append(",".join(repr(float(row[c])) if c != "epoch" else str(e) for c in cols))
    (folder / "history.csv").write_text("\n".join(lines) + "\n")
    (folder / "metrics.json").write_text(json.dumps({"status": "ok", "epochs": epochs,
                                                     "restored_epoch": restored}))
    return folder


def _check_layout(curves) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig, legend = plotting.curves_figure(curves)
        fig.canvas.draw()
    assert not [w for w in caught if "constrained_layout" in str(w.message)]
    renderer = fig.canvas.get_renderer()
    box, page = legend.get_window_extent(renderer), fig.bbox
    assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1, (box, page)
    assert page.y0 - 1 <= box.y0 and box.y1 <= page.y1 + 1, (box, page)
    for ax in fig.axes:
        tight = ax.get_tightbbox(renderer)  # the axes with its tick labels and "epoch"
        assert not box.overlaps(tight), (box, tight)
        assert page.x0 - 1 <= tight.x0 and tight.x1 <= page.x1 + 1
        assert page.y0 - 1 <= tight.y0 and tight.y1 <= page.y1 + 1


def test_long_legend_labels_wrap_below_the_axes_and_never_cover_them(tmp_path):
    a = _fake_run(tmp_path / "a")
    b = _fake_run(tmp_path / "b", **{"model.hidden": "[64,32]", "model.activation": "relu",
                                     "training.learning_rate": "0.001", "data.val_fraction": "0.3",
                                     "training.batch_size": "64", "training.epochs": "99",
                                     "training.weight_decay": "0.001", "model.dropout": "0.1"})
    curves = plotting.curves_data([a, b])
    assert max(len(r.label) for r in curves.runs) > 110  # too long for one line
    _check_layout(curves)
    _, legend = plotting.curves_figure(curves)
    texts = [t.get_text() for t in legend.get_texts()]
    assert any("\n" in t for t in texts)
    assert all(len(line) <= 8 * plotting._CHARS_PER_INCH for t in texts for line in t.split("\n"))


def test_single_run_and_short_labels_keep_the_usual_size(tmp_path):
    one = plotting.curves_data([_fake_run(tmp_path / "one")])
    _check_layout(one)
    fig, _ = plotting.curves_figure(one)
    assert tuple(fig.get_size_inches()) == (8.0, 3.2)


def _sweep(tmp_path: Path) -> Path:
    for lr in ("0.1", "1.0"):
        for seed in (0, 1, 2):
            _fake_run(tmp_path / "sw" / f"lr{lr}-s{seed}", seed=seed,
                      **{"training.learning_rate": lr})
    return tmp_path / "sw"


def test_a_sweep_folder_is_one_band_per_variant_over_its_seeds(tmp_path):
    curves = plotting.curves_data([_sweep(tmp_path)])
    assert [(label, len(m)) for label, m in curves.groups] == [
        ("learning_rate=0.1 (3 seeds)", 3), ("learning_rate=1 (3 seeds)", 3)]
    _check_layout(curves)
    fig, legend = plotting.curves_figure(curves)
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[:2] == ["learning_rate=0.1 (3 seeds)", "learning_rate=1 (3 seeds)"]
    assert "min-max over seeds" in labels
    loss_ax = fig.axes[0]
    assert len(loss_ax.lines) == 4  # 2 variants x (train, val): means, not 12 runs
    members = [curves.runs[i] for i in curves.groups[0][1]]
    mean = np.mean([r.series["val_loss"] for r in members], axis=0)
    drawn = next(ln.get_ydata() for ln in loss_ax.lines if ln.get_linestyle() == "--")
    np.testing.assert_allclose(drawn, mean)
    assert len(loss_ax.collections) == 4  # one min-max band per line


def test_the_best_epoch_of_an_early_stopped_run_is_marked(tmp_path):
    run = _fake_run(tmp_path / "es", restored=5)
    curves = plotting.curves_data([run])
    assert curves.runs[0].best_epoch == 5
    fig, legend = plotting.curves_figure(curves)
    marks = [ln for ln in fig.axes[0].lines if ln.get_marker() == "o"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [5]
    assert marks[0].get_ydata()[0] == curves.runs[0].series["val_loss"][4]
    assert "best epoch (weights kept)" in [t.get_text() for t in legend.get_texts()]
    plain = plotting.curves_figure(plotting.curves_data([_fake_run(tmp_path / "p")]))[0]
    assert not [ln for ln in plain.axes[0].lines if ln.get_marker() == "o"]


def test_train_and_val_curves_of_the_metric_when_history_has_both(tmp_path):
    curves = plotting.curves_data([_fake_run(tmp_path / "tm", train_metric=True)])
    assert curves.metric_columns == ["train_accuracy", "val_accuracy"]
    fig, _ = plotting.curves_figure(curves)
    styles = sorted(ln.get_linestyle() for ln in fig.axes[1].lines)
    assert styles == ["-", "--"]
    text = plotting.text_curves([tmp_path / "tm"])
    assert "train_accuracy" in text and "val_accuracy" in text


# ------------------------------------------------------------------------------------------
# ROC, precision-recall, residuals


def _brute_auc(scores, truth) -> float:
    pos, neg = scores[truth == 1], scores[truth == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def _brute_ap(scores, truth) -> float:
    ap, last_recall = 0.0, 0.0
    for t in sorted(set(scores), reverse=True):
        chosen = scores >= t
        tp = (chosen & (truth == 1)).sum()
        recall, precision = tp / (truth == 1).sum(), tp / chosen.sum()
        ap += (recall - last_recall) * precision
        last_recall = recall
    return ap


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_and_average_precision_match_their_definitions(seed):
    rng = np.random.default_rng(seed)
    truth = (rng.random(60) < 0.4).astype(float)
    scores = np.round(rng.random(60) + 0.5 * truth, 1)  # rounded: plenty of ties
    fpr, tpr, precision, recall, auc, ap = plotting.roc_curves(scores, truth)
    assert math.isclose(auc, _brute_auc(scores, truth), rel_tol=1e-12)
    assert math.isclose(ap, _brute_ap(scores, truth), rel_tol=1e-12)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.all(np.diff(recall) >= 0) and recall[-1] == 1
    assert np.all((precision >= 0) & (precision <= 1))
    assert precision[-1] == truth.mean()  # every row chosen: precision is the prevalence


def test_perfect_and_reversed_scores():
    truth = np.array([0, 0, 1, 1.0])
    assert plotting.roc_curves(np.array([0.1, 0.2, 0.8, 0.9]), truth)[4] == 1.0
    assert plotting.roc_curves(np.array([0.9, 0.8, 0.2, 0.1]), truth)[4] == 0.0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("trained")
    for name, config in (("moons", "moons.yaml"), ("dia", "diabetes.yaml")):
        runs.train(load_config(CONFIGS / config, ["training.epochs=4"]), out=base / name)
    return base


def test_roc_and_residual_pngs_through_the_command(trained, tmp_path):
    for run, flag in (("moons", "--roc"), ("dia", "--residuals")):
        out = tmp_path / f"{run}.png"
        proc = run_cli("plot", trained / run, flag, "-o", out)
        assert proc.returncode == 0, proc.stderr
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_roc_data_uses_the_models_probabilities(trained):
    model, cfg = runs.load_run(trained / "moons")
    from nnlearn.data import read_csv

    table = read_csv(cfg["data"]["test"], target=model.target, features=model.feature_names)
    roc = plotting.roc_data(model, table)
    truth = (model.encoder.transform(table.y, lines=table.lines, path=table.path) == 1)
    p = model.predict_proba(table.X)[:, 1]
    assert math.isclose(roc.auc, _brute_auc(p, truth.astype(float)), rel_tol=1e-12)
    assert roc.positive == str(model.classes[1])


def test_residual_data_is_the_models_predictions_in_target_units(trained):
    model, cfg = runs.load_run(trained / "dia")
    from nnlearn.data import read_csv

    table = read_csv(cfg["data"]["test"], target=model.target, features=model.feature_names)
    r = plotting.residual_data(model, table)
    np.testing.assert_allclose(r.predicted, model.predict_values(table.X)[:, 0])
    np.testing.assert_allclose(r.actual, table.y.astype(float))
    metrics = runs.evaluate(model, table)
    assert math.isclose(r.r2, metrics["r2"], rel_tol=1e-9)


@pytest.mark.parametrize("run,flag,words", [
    ("dia", "--confusion", ["regression", "--residuals"]),
    ("moons", "--residuals", ["classification", "--confusion"]),
])
def test_the_wrong_picture_for_the_task_says_what_to_use(trained, run, flag, words):
    proc = run_cli("plot", trained / run, flag)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr


def test_roc_needs_two_classes(tmp_path):
    run = tmp_path / "iris"
    runs.train(load_config(CONFIGS / "iris.yaml", ["training.epochs=2"]), out=run)
    proc = run_cli("plot", run, "--roc")
    assert proc.returncode == 2 and "two classes" in proc.stderr and "--confusion" in proc.stderr


# ------------------------------------------------------------------------------------------
# text charts


def test_the_y_axis_of_a_text_chart_includes_the_first_value():
    values = [1.23] + [0.8 - 0.005 * i for i in range(149)]
    chart = line_chart({"train_loss": values}, width=60, height=12)
    top = chart.splitlines()[0].split("|")[0].strip()
    assert float(top) == 1.23


def test_a_constant_series_is_labelled_once():
    chart = line_chart({"loss": [1.092e173]}, width=60, height=12)
    labels = [line.split("|")[0].strip() for line in chart.splitlines() if "|" in line]
    assert [t for t in labels if t] == ["1.092e+173"]


def test_hand_made_history_yaml_is_valid(tmp_path):
    run = _fake_run(tmp_path / "x")
    assert yaml.safe_load((run / "config.yaml").read_text())["seed"] == 0


def test_text_curves_of_a_sweep_draw_one_mean_per_variant(tmp_path):
    text = plotting.text_curves([_sweep(tmp_path)])
    loss = text.split("\n\n")[0]
    entries = [line.strip() for line in loss.splitlines() if "(mean)" in line]
    assert len(entries) == 4  # 2 variants x (train_loss, val_loss), not 12 runs
    assert any("learning_rate=0.1 (3 seeds) val_loss (mean)" in e for e in entries)
