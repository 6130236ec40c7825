"""``nnlearn plot`` and ``nnlearn report`` on models that encode their columns: one-hot
categories (``data.categorical``) and empty cells filled with training means
(``data.missing: mean``). The pictures read the data the way eval and predict do, and the
report's network shows one input per encoded input."""

from __future__ import annotations

import base64
import itertools
import json
import re

import numpy as np
import pytest
from conftest import assert_clean_error, run_cli

from nnlearn.runs import run as runs
from nnlearn.runs.config import load_config

ENV = {"NNLEARN_THREADS": "1"}
LEVELS = ("low", "mid", "high")


def _csv(seed: int, n: int) -> str:
    """a, b numeric with some empty cells; level low/mid/high; a class and a value to learn."""
    rng = np.random.default_rng(seed)
    rows = ["a,b,level,side,label,value"]
    for i in range(n):
        level = LEVELS[i % 3]
        a, b = rng.standard_normal(2)
        label = "yes" if a + b + LEVELS.index(level) - 1 > 0 else "no"
        value = 2 * a + 3 * LEVELS.index(level) + 0.1 * rng.standard_normal()
        cell_a = "" if i % 7 == 3 else f"{a:.3f}"
        cell_b = "" if i % 5 == 2 else f"{b:.3f}"
        side = "left" if i % 2 else "right"
        rows.append(f"{cell_a},{cell_b},{level},{side},{label},{value:.3f}")
    return "\n".join(rows) + "\n"


# name -> (target, features, categorical)
MODELS = {
    "cat": ("label", "[a, b, level]", "[level]"),  # 2 numeric + 3 one-hot = 5 inputs
    "reg": ("value", "[a, level]", "[level]"),  # regression, 1 numeric + 3 one-hot
    "two": ("label", "[a, level]", "[level]"),  # two columns, but 4 inputs
    "side": ("label", "[side]", "[side]"),  # 2 inputs, side=left and side=right: no plane
    "num": ("label", "[a, b]", "[]"),  # two numeric columns with empty cells
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plots-encoding")
    (folder / "train.csv").write_text(_csv(0, 60))
    (folder / "test.csv").write_text(_csv(1, 30))
    for name, (target, features, categorical) in MODELS.items():
        (folder / f"{name}.yaml").write_text(
            f"seed: 1\ndata: {{train: train.csv, test: test.csv, target: {target}, "
            f"features: {features}, categorical: {categorical}, missing: mean, "
            "val_fraction: 0}\nmodel: {hidden: [4]}\n"
            "training: {epochs: 6, batch_size: 16, snapshots: 3}\n")
        runs.train(load_config(folder / f"{name}.yaml"), out=folder / name)
    return folder


def _test_rows(folder) -> int:
    return len((folder / "test.csv").read_text().splitlines()) - 1


def test_confusion_png_and_text_on_a_one_hot_model(trained):
    pytest.importorskip("matplotlib")
    proc = run_cli("plot", trained / "cat", "--confusion", env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(trained / "cat" / "confusion.png")
    assert (trained / "cat" / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    proc = run_cli("plot", trained / "cat", "--confusion", "--text", env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert f"(n={_test_rows(trained)})" in proc.stdout
    rows = proc.stdout.splitlines()[2:]  # after the title and the column heads
    assert [r.split()[0] for r in rows] == ["no", "yes"]
    counts = [int(c) for r in rows for c in re.findall(r"(\d+) \(\d+%\)", r)]
    assert len(counts) == 4
    assert sum(counts) == _test_rows(trained)
    # the same numbers `nnlearn eval` gives, which encodes the rows the same way
    metrics = json.loads((trained / "cat" / runs.METRICS_FILE).read_text())["test"]
    assert sorted(counts) == sorted(c for row in metrics["confusion_matrix"] for c in row)


@pytest.mark.parametrize("name", ["cat", "num"])
def test_roc_on_one_hot_and_mean_filled_models(trained, name):
    pytest.importorskip("matplotlib")
    proc = run_cli("plot", trained / name, "--roc", env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(trained / name / "roc.png")


def test_confusion_text_on_a_mean_filled_model(trained):
    proc = run_cli("plot", trained / "num", "--confusion", "--text", env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert f"(n={_test_rows(trained)})" in proc.stdout


def test_residuals_of_a_one_hot_regression_model(trained):
    pytest.importorskip("matplotlib")
    from nnlearn.data import read_csv
    from nnlearn.plots.png import residual_data
    from nnlearn.runs.run import evaluate

    proc = run_cli("plot", trained / "reg", "--residuals", env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(trained / "reg" / "residuals.png")
    # the picture's numbers are eval's: the same encoded rows, the same R^2
    model, _ = runs.load_run(trained / "reg")
    table = read_csv(trained / "test.csv", target="value", **model.read_options())
    r = residual_data(model, table)
    assert len(r.actual) == _test_rows(trained)
    assert r.r2 == pytest.approx(evaluate(model, table)["r2"])


def test_boundary_of_two_numeric_columns_with_empty_cells(trained):
    proc = run_cli("plot", trained / "num", "--boundary", "--text", env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("train.csv: a (x, ") and " by b (y, " in proc.stdout
    pytest.importorskip("matplotlib")
    proc = run_cli("plot", trained / "num", "--boundary", env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(trained / "num" / "boundary.png")


def test_animation_of_two_numeric_columns_with_empty_cells(trained):
    pytest.importorskip("PIL.Image")
    pytest.importorskip("matplotlib")
    from nnlearn.plots.animate import snapshot_boundaries

    epochs, bounds = snapshot_boundaries(trained / "num", resolution=10)
    assert len(bounds) == len(epochs) >= 2
    assert np.isfinite(bounds[-1].X).all()  # the empty cells are drawn at the training means
    proc = run_cli("plot", trained / "num", "--boundary", "--animate", env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(trained / "num" / "learn.gif")


@pytest.mark.parametrize("name, column", [("two", "level"), ("cat", "level"),
                                          ("side", "side")])
def test_no_boundary_for_inputs_that_include_one_hot_columns(trained, name, column):
    for extra in ((), ("--text",)):
        assert_clean_error(run_cli("plot", trained / name, "--boundary", *extra, env=ENV), 2,
                           "exactly 2 numeric features", f"{column} one-hot encoded",
                           f"{column}=")


def _report(folder) -> str:
    proc = run_cli("report", folder, env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(folder / "report.html")
    return (folder / "report.html").read_text(encoding="utf-8")


def _data(page: str) -> dict:
    blob = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page,
                     re.DOTALL)
    return json.loads(blob.group(1))


def test_report_network_has_one_input_per_one_hot_category(trained):
    page = _report(trained / "cat")
    net = _data(page)["net"]
    assert net["inputs"] == ["a", "b", "level=high", "level=low", "level=mid"]
    assert net["sizes"][0] == 5
    assert "5 → 4 → " in page  # the summary's network line counts the encoded inputs
    # the snapshots hold every weight of the 5 x 4 first layer (and the rest)
    sizes = net["sizes"]
    n_weights = sum(a * b + b for a, b in itertools.pairwise(sizes))
    assert len(base64.b64decode(net["snaps"][0])) == n_weights
    assert _data(page)["images"] is None
    assert "two numeric input features; this model has 2 numeric + 3 one-hot = 5 inputs" in page


def test_report_of_two_columns_one_of_them_one_hot(trained):
    page = _report(trained / "two")
    data = _data(page)
    assert data["images"] is None and 'id="region"' not in page
    assert data["net"]["sizes"][0] == 4
    assert "1 numeric + 3 one-hot = 4 inputs" in page
    page = _report(trained / "side")  # two inputs, but both one-hot: no plane either
    assert _data(page)["images"] is None and 'id="region"' not in page
    assert _data(page)["net"]["inputs"] == ["side=left", "side=right"]


def test_report_of_a_one_hot_regression_model(trained):
    page = _report(trained / "reg")
    test = page[page.index('<section id="test"'):]
    assert "predicted vs actual" in test
    assert test.count("<circle") == _test_rows(trained)


def test_report_of_a_mean_filled_model_draws_its_boundary(trained):
    page = _report(trained / "num")
    data = _data(page)
    assert len(data["images"]) == len(data["epochs"]) >= 2
    assert data["net"]["inputs"] == ["a", "b"]
    boundary = page[page.index('<svg id="boundary"'):]
    boundary = boundary[:boundary.index("</svg>")]
    assert boundary.count("<circle") == 60  # every training row, empty cells at the means
