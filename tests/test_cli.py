"""The three commands end to end, through the real CLI in a subprocess."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import CONFIGS, DATA, assert_clean_error, run_cli


def _train(tmp_path, config="iris.yaml", *extra, name="run"):
    out = tmp_path / name
    proc = run_cli("train", CONFIGS / config, "--out", out, "--json", *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), out


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("iris"))


def test_train_writes_the_run_folder_and_json(iris_run):
    result, out = iris_run
    assert result["run_dir"] == str(out)
    for name in ("model.npz", "config.yaml", "history.csv", "metrics.json"):
        assert (out / name).is_file(), name
    assert result["metrics"]["test"]["accuracy"] >= 0.93
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == result["epochs"]
    assert {"epoch", "train_loss", "val_loss", "val_accuracy", "lr", "seconds"} <= set(rows[0])
    assert "seed: 0" in (out / "config.yaml").read_text()


def test_train_prints_the_run_folder_last(tmp_path):
    out = tmp_path / "plain"
    proc = run_cli("train", CONFIGS / "xor.yaml", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(out)


def test_json_output_is_only_json(tmp_path):
    proc = run_cli("train", CONFIGS / "xor.yaml", "--out", tmp_path / "j", "--json")
    assert proc.returncode == 0
    json.loads(proc.stdout)  # nothing else on stdout


def test_eval_reproduces_the_test_metrics_train_reported(iris_run):
    result, out = iris_run
    proc = run_cli("eval", out, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == result["metrics"]["test"]
    text = run_cli("eval", out)
    assert text.returncode == 0
    for word in ("accuracy", "precision", "recall", "confusion matrix", "setosa", "pred virginica"):
        assert word in text.stdout


def test_eval_on_a_model_file_with_data(iris_run):
    _, out = iris_run
    proc = run_cli("eval", out / "model.npz", "--data", DATA / "iris.csv", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n"] == 150


def test_eval_without_data_or_test_file_says_so(tmp_path):
    _, out = _train(tmp_path, "xor.yaml", "--set", "data.test=null")
    proc = run_cli("eval", out)
    assert_clean_error(proc, 2, "--data")


def test_predict_rows_match_input_rows(iris_run, tmp_path):
    _, out = iris_run
    dest = tmp_path / "pred.csv"
    proc = run_cli("predict", out, "--data", DATA / "iris-test.csv", "--proba", "--out", dest)
    assert proc.returncode == 0, proc.stderr
    with open(dest) as f:
        rows = list(csv.DictReader(f))
    with open(DATA / "iris-test.csv") as f:
        truth = [r["species"] for r in csv.DictReader(f)]
    assert len(rows) == len(truth)
    assert set(rows[0]) == {"prediction", "p_setosa", "p_versicolor", "p_virginica"}
    for r in rows:
        p = [float(r[f"p_{c}"]) for c in ("setosa", "versicolor", "virginica")]
        assert abs(sum(p) - 1) < 1e-9
        assert r["prediction"] == ("setosa", "versicolor", "virginica")[int(np.argmax(p))]
    accuracy = np.mean([r["prediction"] == t for r, t in zip(rows, truth)])
    assert accuracy >= 0.93


def test_predict_without_target_column_to_stdout(iris_run, tmp_path):
    _, out = iris_run
    src = tmp_path / "unlabelled.csv"
    src.write_text("petal_width,sepal_length,petal_length,sepal_width\n0.2,5.1,1.4,3.5\n")
    proc = run_cli("predict", out, "--data", src)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["prediction", "setosa"]


def test_same_seed_twice_gives_identical_weights_and_history(tmp_path):
    _, a = _train(tmp_path, "moons.yaml", "--set", "training.epochs=15", name="a")
    _, b = _train(tmp_path, "moons.yaml", "--set", "training.epochs=15", name="b")
    with np.load(a / "model.npz") as fa, np.load(b / "model.npz") as fb:
        assert fa.files == fb.files
        for key in fa.files:
            assert np.array_equal(fa[key], fb[key]), key
    with open(a / "history.csv") as f1, open(b / "history.csv") as f2:
        ha, hb = list(csv.DictReader(f1)), list(csv.DictReader(f2))
    for ra, rb in zip(ha, hb):
        ra.pop("seconds"), rb.pop("seconds")
        assert ra == rb
    assert len(ha) == len(hb) == 15


def test_set_overrides_reach_the_run(tmp_path):
    result, out = _train(tmp_path, "xor.yaml", "--set", "training.epochs=7", "--set",
                         "model.hidden=[3]")
    assert result["epochs"] == 7
    text = (out / "config.yaml").read_text()
    assert "epochs: 7" in text and "hidden: [3]" in text


def test_unknown_set_key_is_refused_with_a_suggestion(tmp_path):
    proc = run_cli("train", CONFIGS / "xor.yaml", "--out", tmp_path / "x",
                   "--set", "training.learning_rat=0.1")
    assert_clean_error(proc, 2, "training.learning_rat", "did you mean")
    assert not (tmp_path / "x").exists()  # validated before the folder was made


def test_config_error_names_the_key(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"data: {{train: {DATA / 'xor.csv'}, target: label}}\n"
                   "training: {learning_rate: -1}\n")
    assert_clean_error(run_cli("train", cfg, "--out", tmp_path / "o"), 2,
                       "training.learning_rate")


def test_csv_error_names_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("x1,x2,label\n0,0,0\n0,oops,1\n1,0,1\n1,1,0\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {train: bad.csv, target: label}\n")
    line = assert_clean_error(run_cli("train", cfg, "--out", tmp_path / "o"), 2)
    assert "bad.csv" in line and "line 3" in line and "x2" in line


def test_divergence_exits_3_with_a_learning_rate_hint(tmp_path):
    proc = run_cli("train", CONFIGS / "diabetes.yaml", "--out", tmp_path / "d",
                   "--set", "training.learning_rate=50", "--set", "data.standardize_target=false")
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "diverged" in proc.stderr and "learning_rate" in proc.stderr
    assert not (tmp_path / "d" / "model.npz").exists()  # no NaN model written
    assert json.loads((tmp_path / "d" / "metrics.json").read_text())["status"] == "diverged"


@pytest.mark.parametrize("standardized", [True, False])
def test_eval_says_when_the_loss_is_of_the_standardised_target(tmp_path, standardized):
    out = tmp_path / "d"
    proc = run_cli("train", CONFIGS / "diabetes.yaml", "--out", out, "--quiet", "--set",
                   "training.epochs=2", "--set", "training.learning_rate=1e-5",
                   "--set", f"data.standardize_target={standardized}")
    assert proc.returncode == 0, proc.stderr
    loss = next(line for line in run_cli("eval", out).stdout.splitlines()
                if line.startswith("loss"))
    assert loss.endswith("(of the standardised target)") == standardized, loss


def test_a_run_folders_config_trained_again_is_named_after_the_run(tmp_path):
    first = run_cli("train", CONFIGS / "xor.yaml", "--out", tmp_path / "runs" / "xor", "-q",
                    "--set", "training.epochs=2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = run_cli("train", "runs/xor/config.yaml", "-q", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "runs/xor-2"  # not runs/config


def test_usage_errors_exit_2(tmp_path):
    assert_clean_error(run_cli("train"), 2, "CONFIG")
    assert_clean_error(run_cli("train", CONFIGS / "xor.yaml", "--bogus"), 2, "--bogus")
    assert_clean_error(run_cli("eval", tmp_path / "nowhere"), 2, "nowhere")
    assert_clean_error(run_cli("nosuchcommand"), 2)


def test_out_folder_that_holds_files_is_refused(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    proc = run_cli("train", CONFIGS / "xor.yaml", "--out", tmp_path / "busy")
    assert_clean_error(proc, 2, "not empty")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


def test_default_run_folders_are_numbered(tmp_path):
    for expected in ("xor", "xor-2"):
        proc = run_cli("train", CONFIGS / "xor.yaml", "--quiet", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().splitlines()[-1].endswith(f"runs/{expected}")


def test_config_show_prints_every_default():
    proc = run_cli("config", "show", CONFIGS / "xor.yaml", "--set", "training.optimizer=adam")
    assert proc.returncode == 0, proc.stderr
    for text in ("beta1: 0.9", "val_fraction: 0.0", "dtype: float64", "seed: 1"):
        assert text in proc.stdout


def test_help_and_version():
    for args in (["--help"], ["train", "--help"], ["eval", "--help"], ["predict", "--help"]):
        proc = run_cli(*args)
        assert proc.returncode == 0 and "Usage" in proc.stdout
    assert "Example" in run_cli("train", "--help").stdout
    assert run_cli("--version").returncode == 0
