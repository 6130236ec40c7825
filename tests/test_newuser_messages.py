"""Messages a new user reads: overrides named as the source of a bad value, settings mistaken
for names, diverged runs, Ctrl-C, run folders as typed, one truth for --threads, and the
commands that read or write files on the user's behalf (config show, predict --keep)."""

from __future__ import annotations

import csv
import io
import shutil

import pytest
import yaml
from click.testing import CliRunner
from conftest import CONFIGS, DATA, ROOT, assert_clean_error, run_cli

from nnlearn.cli import cli
from nnlearn.runs.config import load_config, resolve
from nnlearn.runs.show import show_config


@pytest.fixture
def project(tmp_path, monkeypatch):
    shutil.copytree(CONFIGS, tmp_path / "configs")
    shutil.copytree(DATA, tmp_path / "data", ignore=shutil.ignore_patterns("*.py", "*.md"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_a_bad_override_value_names_the_override_not_the_file(project):
    result = _invoke("train", "configs/iris.yaml", "--set", "training.epochs=1e3")
    assert result.exit_code == 2
    first = result.output.splitlines()[0]
    assert first.startswith("Error: override 'training.epochs=1e3': training.epochs:"), first
    assert "iris.yaml" not in first
    # an item inside a list set by --set: the override too
    for item, key in (("model.hidden=[-1]", "model.hidden[0]:"),
                      ("model.layers=[{units: 3, activation: nope}]",
                       "model.layers[0].activation:")):
        result = _invoke("config", "show", "configs/iris.yaml", "--set", item)
        first = result.output.splitlines()[0]
        assert result.exit_code == 2 and first.startswith(f"Error: override '{item}': {key}"), \
            first
    # a bad value in the file itself still names the file
    (project / "bad.yaml").write_text("data: {train: data/iris.csv, target: species}\n"
                                      "training: {epochs: 1e3}\n")
    from_file = _invoke("train", "bad.yaml").output.splitlines()[0]
    assert from_file.startswith("Error: bad.yaml: training.epochs:"), from_file


@pytest.mark.parametrize("command", ["train", "summary", "gradcheck", "explain"])
def test_an_error_the_data_reveals_names_the_override_or_the_file(project, command):
    # class_weight and the loss are checked against the data, the size against the machine:
    # after the config has loaded, but still errors of what the user set, and where
    for item, key in (("training.class_weight={rose: 2}",
                       "training.class_weight.rose: class 'rose'"),
                      ("training.class_weight.rose=2", "training.class_weight.rose: class 'rose'"),
                      ("training.loss=mse", "training.loss: loss 'mse' is for regression"),
                      ("model.hidden=[9000000, 9000000]", "model.hidden: the network has")):
        result = _invoke(command, "configs/iris.yaml", "--set", item)
        first = result.output.splitlines()[0]
        assert result.exit_code == 2 and first.startswith(f"Error: override '{item}': {key}"), \
            (command, result.output)
    (project / "rose.yaml").write_text("data: {train: data/iris-train.csv, target: species}\n"
                                       "training: {class_weight: {rose: 2}}\n")
    # the file's 'rose', whatever else --set changes beside it, is the file's
    for extra in ((), ("--set", "training.class_weight.setosa=3")):
        result = _invoke(command, "rose.yaml", *extra)
        first = result.output.splitlines()[0]
        assert result.exit_code == 2 and first.startswith(
            "Error: rose.yaml: training.class_weight.rose: class 'rose'"), result.output


@pytest.mark.parametrize("where", ["training.optimizer=momentum",
                                   "training.optimizer.name=momentum"])
def test_momentum_as_an_optimizer_points_at_sgd(project, where):
    proc = run_cli("train", "configs/iris.yaml", "--set", where, cwd=project)
    assert_clean_error(proc, 2, "momentum", "sgd")
    assert "{name: sgd, momentum: 0.9}" in proc.stderr


def test_eval_and_plot_of_a_diverged_run_say_it_diverged(project):
    div = _invoke("train", "configs/diabetes.yaml", "--set", "training.learning_rate=0.3",
                  "--out", "runs/div")
    assert div.exit_code == 3
    for args in (("eval", "runs/div"), ("plot", "runs/div", "--confusion")):
        proc = run_cli(*args, cwd=project)
        line = assert_clean_error(proc, 2, "diverged", "learning_rate")
        assert "is it a run folder" not in line and line.startswith("Error: runs/div:")
    png = run_cli("plot", "runs/div", "-o", "div.png", cwd=project)
    assert png.returncode == 0 and png.stdout.strip() == "div.png"
    assert png.stderr.startswith("warning: runs/div diverged (training diverged")
    text = _invoke("plot", "runs/div", "--text")
    assert text.exit_code == 0 and "diverged" in text.output
    ticks = [line.split("|")[0].strip() for line in text.output.splitlines() if " |" in line]
    labels = [t for t in ticks if t]
    assert len(labels) == len(set(labels)), labels  # no tick label repeated


def test_ctrl_c_says_interrupted_once(project, monkeypatch):
    from nnlearn import cli as cli_module

    original = cli_module._Progress.update

    def update(self, logs, **kw):
        original(self, logs, **kw)
        if logs["epoch"] == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_module._Progress, "update", update)
    result = _invoke("train", "configs/iris.yaml", "--out", "runs/cut")
    assert result.exit_code == 130
    lines = [line for line in result.output.splitlines() if not line.startswith("epoch ")]
    assert lines[0] == "Interrupted after 3 complete epochs; checkpoint saved in runs/cut"
    assert lines[0].lower().count("interrupted") == 1
    assert lines[1] == "resume with: nnlearn train --resume runs/cut"


def test_threads_default_is_the_same_in_help_and_in_docs():
    help_text = " ".join(_invoke("train", "--help").output.split())
    start = help_text.index("--threads")
    threads_help = help_text[start:help_text.index("--diagnostics", start)]
    docs = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    section = " ".join(docs.split("### `training.threads`")[1].split("```")[0].split())
    truth = "the BLAS library's own choice"
    assert truth in threads_help and truth in section
    assert "$NNLEARN_THREADS" in threads_help and "$NNLEARN_THREADS" in section
    for text in (threads_help, section):
        assert "all cores" not in text


def test_eval_prints_the_data_file_as_the_user_would_type_it(project):
    _invoke("train", "configs/xor.yaml", "--quiet", "--out", "runs/xor")
    out = _invoke("eval", "runs/xor").output.splitlines()
    assert out[0] == "data/xor-test.csv"


# ------------------------------------------------------------------------------------------
# config show


def test_config_show_fills_the_auto_values_and_says_where_they_came_from(project):
    auto = ["data.task=auto", "training.loss=auto", "model.init=auto", "seed=0"]
    out = _invoke("config", "show", "configs/iris.yaml", *[a for k in auto for a in ("--set", k)]
                  ).output
    lines = {line.split(":")[0].strip(): line for line in out.splitlines() if "#" in line}
    assert lines["task"].startswith("  task: classification  # auto, from the target's values")
    assert "3 classes" in lines["task"] and "data/iris-train.csv" in lines["task"]
    assert lines["loss"].startswith("  loss: cross_entropy  # auto")
    assert lines["init"].startswith("  init: xavier  # auto, for tanh")
    assert lines["batching"].startswith("  batching: minibatch  # auto, from batch_size 16")
    assert "auto" not in [line.split(":", 1)[1].split("#")[0].strip()
                          for line in out.splitlines() if ":" in line]
    # still a config, and the same run
    cfg = load_config(project / "configs" / "iris.yaml", auto)
    shown = resolve(yaml.safe_load(out), base_dir=project)
    for section, key in (("data", "task"), ("training", "loss"), ("model", "init")):
        cfg[section][key] = shown[section][key]
    assert shown == cfg


def test_config_show_of_regression_and_unreadable_data(project):
    cfg = load_config(CONFIGS / "diabetes.yaml", ["data.task=auto", "training.loss=auto"])
    text = show_config(cfg)
    assert "task: regression  # auto, from the target's values" in text
    assert "loss: mse  # auto, for regression" in text
    missing = load_config(CONFIGS / "iris.yaml", ["data.train=nowhere.csv", "data.task=auto"])
    assert "task: auto  # decided from the data when training" in show_config(missing)


# ------------------------------------------------------------------------------------------
# predict --keep


def test_predict_keeps_identifying_columns_in_the_input_row_order(project):
    _invoke("train", "configs/iris.yaml", "--quiet", "--out", "runs/iris")
    rows = list(csv.reader(io.StringIO((project / "data" / "iris-test.csv").read_text())))
    header, body = rows[0], rows[1:]
    with open("ids.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", *header[:4], "note"])
        for i, r in enumerate(body):
            w.writerow([f"row-{i:03d}", *r[:4], f"n{i}"])
            if i == 3:
                w.writerow([])  # a blank line: skipped by the reader, must not shift the ids
    result = _invoke("predict", "runs/iris", "--data", "ids.csv", "--keep", "id,note",
                     "--proba")
    assert result.exit_code == 0, result.output
    out = list(csv.reader(io.StringIO(result.output)))
    assert out[0][:3] == ["id", "note", "prediction"]
    assert [r[0] for r in out[1:]] == [f"row-{i:03d}" for i in range(len(body))]
    assert [r[1] for r in out[1:]] == [f"n{i}" for i in range(len(body))]
    plain = list(csv.reader(io.StringIO(_invoke("predict", "runs/iris", "--data",
                                                "ids.csv").output)))
    assert [r[2] for r in out[1:]] == [r[0] for r in plain[1:]]
    repeated = _invoke("predict", "runs/iris", "--data", "ids.csv", "--keep", "id",
                       "--keep", "note")
    assert repeated.output.splitlines()[0].split(",")[:2] == ["id", "note"]


def test_predict_keep_of_an_unknown_column_is_a_clean_error(project):
    _invoke("train", "configs/xor.yaml", "--quiet", "--out", "runs/xor")
    proc = run_cli("predict", "runs/xor", "--data", "data/xor-test.csv", "--keep", "nope",
                   cwd=project)
    assert_clean_error(proc, 2, "nope", "xor-test.csv")
    clash = run_cli("predict", "runs/xor", "--data", "data/xor-test.csv", "--keep",
                    "x1,x1", cwd=project)
    assert clash.returncode == 2


def test_a_missing_data_file_names_the_key_and_how_its_path_was_read(project):
    result = _invoke("train", "configs/iris.yaml", "--set", "data.train=data/nothere.csv")
    assert result.exit_code == 2
    first, hint = result.output.splitlines()[:2]
    assert first.endswith("configs/data/nothere.csv: file not found (named by data.train)"), first
    assert "relative to the config file's folder" in hint


@pytest.mark.parametrize("option, key", [("--epochs", "training.epochs"),
                                         ("--lr", "training.learning_rate"),
                                         ("--batch-size", "training.batch_size"),
                                         ("--hidden", "model.hidden"),
                                         ("--seed", "seed")])
def test_a_config_key_tried_as_an_option_points_at_set(project, option, key):
    result = _invoke("train", "configs/iris.yaml", option, "5")
    assert result.exit_code == 2
    lines = result.output.splitlines()
    # click's wording of the error line differs between versions ("option: --x", "option '--x'")
    assert lines[0].startswith("Error: No such option") and option in lines[0], result.output
    assert "--help" not in lines[0]
    assert lines[1:] == [f"config keys are set with --set, e.g. --set {key}=..."], result.output
    # click's own nearest option is kept beside it: --init may be --init-from
    init = _invoke("train", "configs/iris.yaml", "--init", "x").output.splitlines()
    assert "--init-from" in init[0] and init[1].endswith("--set model.init=...")
    # an option that names no config key keeps click's own help
    other = _invoke("train", "configs/iris.yaml", "--bogus")
    assert other.output.splitlines()[-1].endswith(" train --help'.")
