"""Pictures of runs: the data behind each plot, the PNGs, the missing-matplotlib error, and the
`plot` command and `train`'s closing sparkline end to end."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import CONFIGS, DATA, ROOT, assert_clean_error, run_cli

from nnlearn.cli import cli
from nnlearn.data import read_csv
from nnlearn.errors import NnlearnError, install_hint
from nnlearn.plots import png as plotting
from nnlearn.runs import run as runs
from nnlearn.runs.config import load_config

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    head = Path(path).read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def history_columns(path: Path) -> dict[str, list[float]]:
    """history.csv read independently of nnlearn: column -> floats (NaN for empty cells)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {c: [float(r[c]) if r[c] != "" else math.nan for r in rows] for c in rows[0]}


def _train(out: Path, config: str = "moons.yaml", *overrides: str) -> Path:
    cfg = load_config(CONFIGS / config, ("training.epochs=6", *overrides))
    return runs.train(cfg, out=out).run_dir


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """A sweep-like folder: moons trained with two learning rates, one run per subfolder."""
    base = tmp_path_factory.mktemp("sweep")
    _train(base / "lr-0.1", "moons.yaml", "training.learning_rate=0.1")
    _train(base / "lr-1.0", "moons.yaml", "training.learning_rate=1.0")
    return base


@pytest.fixture(scope="module")
def moons_run(sweep) -> Path:
    return sweep / "lr-0.1"


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("iris") / "run", "iris.yaml")


@pytest.fixture(scope="module")
def diabetes_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("diabetes") / "run", "diabetes.yaml")


def _assert_equal_series(actual: np.ndarray, expected: list[float], what: str) -> None:
    np.testing.assert_array_equal(actual, np.array(expected), err_msg=what)


# ------------------------------------------------------------------------------------------
# learning curves: the data


def test_curves_data_equals_history_csv(moons_run):
    curves = plotting.curves_data([moons_run])
    expected = history_columns(moons_run / "history.csv")
    (run,) = curves.runs
    assert run.run_dir == moons_run and run.label == "lr-0.1"
    assert set(run.series) == set(expected)
    for column, values in expected.items():
        _assert_equal_series(run.series[column], values, column)
    _assert_equal_series(run.epoch, [1, 2, 3, 4, 5, 6], "epoch")
    assert curves.loss_columns == ["train_loss", "val_loss"]
    # the metric panel has the train and the validation curve
    assert curves.metric == "accuracy"
    assert curves.metric_columns == ["train_accuracy", "val_accuracy"]


def test_a_sweep_folder_plots_all_its_runs_labelled_by_what_differs(sweep):
    curves = plotting.curves_data([sweep])
    assert [r.run_dir.name for r in curves.runs] == ["lr-0.1", "lr-1.0"]
    assert [r.label for r in curves.runs] == ["learning_rate=0.1", "learning_rate=1"]
    assert curves.differs == ["training.learning_rate"]
    for run in curves.runs:
        expected = history_columns(run.run_dir / "history.csv")
        for column, values in expected.items():
            _assert_equal_series(run.series[column], values, f"{run.run_dir.name} {column}")
    # naming the runs one by one gives the same picture data
    one_by_one = plotting.curves_data([sweep / "lr-0.1", sweep / "lr-1.0"])
    assert [r.label for r in one_by_one.runs] == [r.label for r in curves.runs]


def test_run_labels_name_only_the_keys_every_run_has_and_fall_back_to_folder_names():
    sgd = {"seed": 0, "training": {"learning_rate": 0.1,
                                   "optimizer": {"name": "sgd", "momentum": 0.9}},
           "output": {"dir": "a"}}
    adam = {"seed": 0, "training": {"learning_rate": 0.1,
                                    "optimizer": {"name": "adam", "beta1": 0.9}},
            "output": {"dir": "b"}}
    labels, differs = plotting.run_labels([sgd, adam], ["a", "b"])
    assert labels == ["optimizer=sgd", "optimizer=adam"]
    assert "training.optimizer.momentum" in differs and "output.dir" not in differs
    same = plotting.run_labels([sgd, dict(sgd, output={"dir": "c"})], ["x", "y"])
    assert same == (["x", "y"], [])
    assert plotting.run_labels([sgd, None], ["x", "y"])[0] == ["x", "y"]


def test_expand_runs_sorts_naturally_and_refuses_a_folder_without_runs(tmp_path):
    for name in ("run-10", "run-2", "run-1"):
        (tmp_path / "sw" / name).mkdir(parents=True)
        (tmp_path / "sw" / name / "history.csv").write_text("epoch,train_loss\n1,0.5\n")
    found = plotting.expand_runs([tmp_path / "sw"])
    assert [p.name for p in found] == ["run-1", "run-2", "run-10"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(NnlearnError, match="no run folders"):
        plotting.expand_runs([tmp_path / "empty"])


def test_metric_option_picks_the_second_panel(moons_run, diabetes_run):
    assert plotting.curves_data([moons_run], metric="val_accuracy").metric_columns == [
        "train_accuracy", "val_accuracy"]
    assert plotting.curves_data([moons_run], metric="lr").metric_columns == ["lr"]
    assert plotting.curves_data([moons_run], metric="loss").metric_columns == []
    with pytest.raises(NnlearnError, match="no metric 'rmse'.*accuracy"):
        plotting.curves_data([moons_run], metric="rmse")
    reg = plotting.curves_data([diabetes_run])
    assert reg.metric == "r2" and reg.metric_columns == ["train_r2", "val_r2"]
    expected = history_columns(diabetes_run / "history.csv")
    _assert_equal_series(reg.runs[0].series["val_r2"], expected["val_r2"], "val_r2")


# ------------------------------------------------------------------------------------------
# decision boundary and confusion matrix: the data


def test_boundary_grid_is_the_model_evaluated_on_a_grid_around_the_points(moons_run):
    model, _ = runs.load_run(moons_run)
    table = read_csv(DATA / "moons-train.csv", target="label", features=model.feature_names)
    b = plotting.boundary_grid(model, table, resolution=(30, 20))
    assert b.xs.shape == (30,) and b.ys.shape == (20,)
    assert b.proba.shape == (20, 30, 2) and b.labels.shape == (20, 30)
    # the grid covers every point
    assert b.xs[0] < table.X[:, 0].min() and b.xs[-1] > table.X[:, 0].max()
    assert b.ys[0] < table.X[:, 1].min() and b.ys[-1] > table.X[:, 1].max()
    # each cell holds the model's own probabilities at that (x, y)
    i, j = 7, 19
    np.testing.assert_allclose(b.proba[i, j], model.predict_proba(np.array([[b.xs[j], b.ys[i]]]))[0])
    np.testing.assert_array_equal(b.labels, b.proba.argmax(axis=2))
    np.testing.assert_array_equal(b.X, table.X)
    assert [b.classes[k] for k in b.y] == list(table.y)


def test_boundary_needs_two_features_and_classes(iris_run, diabetes_run):
    for run, pattern in ((iris_run, "exactly 2 features; this one has 4"),
                         (diabetes_run, "classification")):
        model, cfg = runs.load_run(run)
        table = read_csv(cfg["data"]["train"], target=model.target, features=model.feature_names)
        with pytest.raises(NnlearnError, match=pattern):
            plotting.boundary_grid(model, table)


def test_confusion_data_counts_true_against_predicted(iris_run):
    model, cfg = runs.load_run(iris_run)
    table = read_csv(cfg["data"]["test"], target=model.target, features=model.feature_names)
    c = plotting.confusion_data(model, table)
    predicted = model.predict(table.X)
    expected = np.zeros((3, 3), dtype=int)
    for t, p in zip(table.y, predicted):
        expected[c.classes.index(t), c.classes.index(p)] += 1
    np.testing.assert_array_equal(c.matrix, expected)
    assert c.n == len(table.y) == c.matrix.sum()
    assert c.accuracy == pytest.approx(np.mean(predicted == table.y))
    # the same numbers the test metrics recorded at the end of training
    metrics = json.loads((iris_run / "metrics.json").read_text())
    assert c.matrix.tolist() == metrics["test"]["confusion_matrix"]


# ------------------------------------------------------------------------------------------
# PNGs


def test_each_picture_kind_is_a_png_of_the_expected_size(sweep, moons_run, iris_run, tmp_path):
    pytest.importorskip("matplotlib")
    curves = plotting.curves_data([moons_run])
    assert png_size(plotting.draw_curves(curves, tmp_path / "c.png")) == (800, 320)
    assert png_size(plotting.draw_curves(curves, tmp_path / "c2.png", size=(5, 2.5))) == (500, 250)
    loss_only = plotting.curves_data([moons_run], metric="loss")
    assert png_size(plotting.draw_curves(loss_only, tmp_path / "l.png")) == (400, 320)
    several = plotting.curves_data([sweep])
    assert png_size(plotting.draw_curves(several, tmp_path / "s.png")) == (800, 320)

    model, _ = runs.load_run(moons_run)
    table = read_csv(DATA / "moons-train.csv", target="label", features=model.feature_names)
    b = plotting.boundary_grid(model, table, resolution=50)
    assert png_size(plotting.draw_boundary(b, tmp_path / "b.png")) == (450, 400)

    model, cfg = runs.load_run(iris_run)
    test = read_csv(cfg["data"]["test"], target=model.target, features=model.feature_names)
    c = plotting.confusion_data(model, test)
    assert png_size(plotting.draw_confusion(c, tmp_path / "m.png", size=(4, 3.5))) == (400, 350)
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # atomic: no temporary files left
        "b.png", "c.png", "c2.png", "l.png", "m.png", "s.png"]


def test_plot_functions_write_into_the_run_folder_by_default(moons_run, sweep):
    pytest.importorskip("matplotlib")
    assert plotting.plot_curves([moons_run]) == moons_run / "curves.png"
    assert plotting.plot_boundary(moons_run) == moons_run / "boundary.png"
    assert plotting.plot_confusion(moons_run) == moons_run / "confusion.png"
    for name in ("curves.png", "boundary.png", "confusion.png"):
        png_size(moons_run / name)
    assert plotting.plot_curves([sweep]) == sweep / "curves.png"
    assert plotting.default_output([sweep / "lr-0.1", sweep / "lr-1.0"], "curves.png") == (
        sweep.resolve() / "curves.png")


# ------------------------------------------------------------------------------------------
# without matplotlib


@pytest.fixture
def no_matplotlib(monkeypatch):
    """Make every ``import matplotlib...`` fail, as on a machine without the extra."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def test_missing_matplotlib_is_a_clean_error_naming_the_extra(moons_run, tmp_path, no_matplotlib):
    with pytest.raises(NnlearnError, match=r"pip install 'nnlearn\[plot\]'") as info:
        plotting.plot_curves([moons_run], tmp_path / "x.png")
    assert info.value.exit_code == 2 and info.value.hint is None
    assert not (tmp_path / "x.png").exists()

    result = CliRunner().invoke(cli, ["plot", str(moons_run), "--boundary", "-o",
                                      str(tmp_path / "b.png")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "pip install 'nnlearn[plot]'" in lines[0]
    # the terminal pictures need no matplotlib
    text = CliRunner().invoke(cli, ["plot", str(moons_run), "--text"])
    assert text.exit_code == 0 and "train_loss" in text.output


def test_missing_matplotlib_through_the_real_command(moons_run, tmp_path):
    fake = tmp_path / "site"
    (fake / "matplotlib").mkdir(parents=True)
    (fake / "matplotlib" / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    proc = run_cli("plot", moons_run, "-o", tmp_path / "x.png",
                   env={"PYTHONPATH": f"{fake}{os.pathsep}{ROOT}"})
    assert_clean_error(proc, 2, "pip install 'nnlearn[plot]'")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_the_install_hint_also_names_the_packages_pyproject_lists_for_the_extra():
    # 'nnlearn[plot]' only resolves on a package index; a clone or a wheel needs the packages
    assert install_hint("plot").startswith("pip install 'nnlearn[plot]' (or: pip install "
                                           "'matplotlib")
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for extra in ("plot", "dask", "fast"):
        hint = install_hint(extra)
        listed = " ".join(f"'{req}'" for req in extras[extra])
        assert hint == f"pip install 'nnlearn[{extra}]' (or: pip install {listed})", hint


# ------------------------------------------------------------------------------------------
# the command


def test_plot_command_writes_the_png_and_prints_its_path(sweep, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "lr.png"
    proc = run_cli("plot", sweep / "lr-0.1", sweep / "lr-1.0", "-o", out, "--metric", "lr")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(out)
    assert png_size(out) == (800, 320)


def test_plot_command_text_charts(moons_run, iris_run):
    proc = run_cli("plot", moons_run, "--text")
    assert proc.returncode == 0, proc.stderr
    assert "* train_loss" in proc.stdout and "val_accuracy" in proc.stdout
    proc = run_cli("plot", moons_run, "--text", "--boundary")
    assert proc.returncode == 0, proc.stderr
    rows = [r for r in proc.stdout.splitlines() if r.startswith("|")]
    assert len(rows) == 24 and all(len(r) == 66 for r in rows)
    proc = run_cli("plot", iris_run, "--text", "--confusion")
    assert proc.returncode == 0, proc.stderr
    assert "true \\ pred" in proc.stdout and "setosa" in proc.stdout


@pytest.mark.parametrize("args, pattern", [
    (["--boundary", "--confusion"], "one of"),
    (["--data", "x.csv"], "--data goes with"),
    (["--text", "-o", "x.png"], "no -o"),
    (["-o", "curves.txt"], "-o curves.txt: plot writes a PNG; give a file name ending in .png"),
    (["--boundary", "--animate", "-o", "learn.png"], "--animate writes a GIF; give a file"),
])
def test_plot_command_usage_errors(moons_run, args, pattern, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a refused -o must not be written
    assert_clean_error(run_cli("plot", moons_run, *args), 2, pattern)
    assert list(tmp_path.iterdir()) == []


def test_plot_command_refuses_a_boundary_for_iris_and_a_folder_without_runs(iris_run, tmp_path):
    assert_clean_error(run_cli("plot", iris_run, "--boundary"), 2, "exactly 2 features")
    assert_clean_error(run_cli("plot", tmp_path), 2, "no run folders")


# ------------------------------------------------------------------------------------------
# `train` ends with a sparkline of its loss curves


def test_train_ends_with_a_loss_sparkline_before_the_run_folder(tmp_path):
    out = tmp_path / "xor"
    proc = run_cli("train", CONFIGS / "xor.yaml", "--out", out, "--set", "training.epochs=50",
                   env={"PYTHONIOENCODING": "utf-8"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == str(out)
    spark = [line for line in lines if line.startswith("train_loss ")]
    assert len(spark) == 1 and "(50 epochs" in spark[0]
    assert len([ch for ch in spark[0] if ch in "▁▂▃▄▅▆▇█"]) == 40


def test_train_sparkline_falls_back_to_ascii_and_is_absent_when_quiet_or_json(tmp_path):
    proc = run_cli("train", CONFIGS / "xor.yaml", "--out", tmp_path / "a",
                   "--set", "training.epochs=20", env={"PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 0, proc.stderr
    assert "train_loss" in proc.stdout and "->" in proc.stdout and proc.stdout.isascii()
    short = ("--set", "training.epochs=20")
    quiet = run_cli("train", CONFIGS / "xor.yaml", "--out", tmp_path / "q", "-q", *short)
    assert quiet.returncode == 0 and quiet.stdout.strip() == str(tmp_path / "q")
    js = run_cli("train", CONFIGS / "xor.yaml", "--out", tmp_path / "j", "--json", *short)
    assert js.returncode == 0 and json.loads(js.stdout)["run_dir"] == str(tmp_path / "j")


def test_readme_pictures_exist_and_are_small_pngs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\((docs/images/[^)]+\.png)\)", readme)
    assert len(images) >= 2, "the README shows a learning-curve and a decision-boundary image"
    for rel in images:
        path = ROOT / rel
        width, height = png_size(path)
        assert 200 <= width <= 1200 and 200 <= height <= 1200, rel
        assert path.stat().st_size < 80_000, f"{rel} should stay small"
        assert f"-o {rel}" in readme, f"the README shows the command that made {rel}"
