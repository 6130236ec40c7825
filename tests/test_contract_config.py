"""Issue 8, config clause, through the real CLI: YAML is read safely; a syntax error gives its
line and column; a wrong key, type, range or name gives the dotted key, what was expected and a
"did you mean"; a loss that does not fit the task is refused, also when the task comes from the
data; and all of it happens before the output folder is touched. Each refusal has a neighbour
that differs by the one defect and is accepted.
"""

from __future__ import annotations

import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from conftest import assert_clean_error, run_cli

ENV = {"NNLEARN_THREADS": "1"}
DATA = "x1,x2,label\n0,0,a\n0,1,b\n1,0,b\n1,1,a\n0.5,0.5,a\n0.2,0.8,b\n"
REGRESSION_DATA = "x1,x2,y\n0,0,0.5\n0,1,1.25\n1,0,2.5\n1,1,3.75\n0.5,0.5,1.1\n0.2,0.8,0.3\n"
BASE = "data: {train: data.csv, target: label, val_fraction: 0}\n"


def run_all(calls: dict[str, tuple], cwd) -> dict[str, subprocess.CompletedProcess]:
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {k: pool.submit(run_cli, *args, cwd=cwd, env=ENV) for k, args in calls.items()}
        return {k: f.result() for k, f in futures.items()}


@dataclass
class Case:
    bad: str  # config text (BASE is not added: some cases change the data section)
    good: str | None  # the neighbour: the same config without the defect
    words: tuple[str, ...]  # must appear in the error (case-insensitive)
    where: str = ""  # a regex the first error line must match (key or line/column)
    from_data: bool = False  # only reading the data reveals the problem: the neighbour trains


T = "training:\n"
CASES = {
    "yaml_syntax_error": Case(BASE + "training:\n  epochs: [3\n  batch_size: 2\n",
                              BASE + "training:\n  epochs: 3\n  batch_size: 2\n",
                              (), r"line \d+, column \d+"),
    "yaml_bad_indentation": Case(BASE + "training:\n  epochs: 3\n   batch_size: 2\n",
                                 BASE + "training:\n  epochs: 3\n  batch_size: 2\n",
                                 (), r"line 4, column \d+"),
    "yaml_tab": Case(BASE + "training:\n\tepochs: 3\n", BASE + "training:\n  epochs: 3\n",
                     ("'\\t'",), r"line 3, column 1"),
    "python_tag": Case(BASE + "seed: !!python/object/apply:os.mkdir [PWNED]\n", BASE + "seed: 1\n",
                       (), r"line 2, column \d+"),
    "unknown_top_key": Case(BASE + "trainig: {epochs: 3}\n", BASE + "training: {epochs: 3}\n",
                            ("did you mean", "training"), r"trainig"),
    "unknown_key_depth_2": Case(BASE + T + "  learnig_rate: 0.1\n",
                                BASE + T + "  learning_rate: 0.1\n",
                                ("did you mean", "'learning_rate'"), r"training\.learnig_rate"),
    "unknown_key_depth_3": Case(BASE + T + "  optimizer: {name: adam, beta_1: 0.8}\n",
                                BASE + T + "  optimizer: {name: adam, beta1: 0.8}\n",
                                ("did you mean", "beta1"), r"training\.optimizer\.beta_1"),
    "unknown_key_in_layer_list": Case(BASE + "model: {layers: [{units: 3, activaton: tanh}]}\n",
                                      BASE + "model: {layers: [{units: 3, activation: tanh}]}\n",
                                      ("did you mean", "activation"),
                                      r"model\.layers\[0\]\.activaton"),
    "bool_is_not_an_int": Case(BASE + T + "  epochs: true\n", BASE + T + "  epochs: 1\n",
                               ("boolean",), r"training\.epochs"),
    "bool_is_not_a_float": Case(BASE + T + "  learning_rate: yes\n",
                                BASE + T + "  learning_rate: 1\n",
                                ("boolean",), r"training\.learning_rate"),
    "float_is_not_an_int": Case(BASE + T + "  epochs: 1e3\n", BASE + T + "  epochs: 1000\n",
                                ("1000",), r"training\.epochs"),
    "range_val_fraction": Case(BASE.replace("val_fraction: 0", "val_fraction: 1"),
                               BASE.replace("val_fraction: 0", "val_fraction: 0.99"),
                               ("[0, 1)",), r"data\.val_fraction"),
    "range_learning_rate": Case(BASE + T + "  learning_rate: 0\n",
                                BASE + T + "  learning_rate: 1e-9\n",
                                ("> 0",), r"training\.learning_rate"),
    "range_dropout": Case(BASE + "model: {dropout: 1.0}\n", BASE + "model: {dropout: 0.999}\n",
                          ("1",), r"model\.dropout"),
    "range_nan": Case(BASE + T + "  weight_decay: .nan\n", BASE + T + "  weight_decay: 0.0\n",
                      ("nan",), r"training\.weight_decay"),
    "enum_optimizer": Case(BASE + T + "  optimizer: adamm\n", BASE + T + "  optimizer: adam\n",
                           ("sgd", "rmsprop", "adamw", "did you mean 'adam'"),
                           r"training\.optimizer"),
    "enum_activation": Case(BASE + "model: {activation: rellu}\n",
                            BASE + "model: {activation: relu}\n",
                            ("tanh", "sigmoid", "did you mean 'relu'"), r"model\.activation"),
    "enum_task": Case(BASE.replace("target: label", "target: label, task: classify"),
                      BASE.replace("target: label", "target: label, task: classification"),
                      ("regression", "auto"), r"data\.task"),
    "loss_vs_explicit_task": Case(
        BASE.replace("target: label", "target: label, task: classification") + T + "  loss: mse\n",
        BASE.replace("target: label", "target: label, task: classification")
        + T + "  loss: cross_entropy\n",
        ("cross_entropy",), r"training\.loss"),
    # task auto: only the data say that string labels make a classification task
    "loss_vs_task_from_data": Case(BASE + T + "  loss: mse\n", BASE + T + "  loss: bce\n",
                                   ("inferred", "cross_entropy"), r"training\.loss", True),
    "loss_vs_regression_from_data": Case(
        BASE.replace("data.csv", "reg.csv").replace("label", "y") + T + "  loss: cross_entropy\n",
        BASE.replace("data.csv", "reg.csv").replace("label", "y") + T + "  loss: mae\n",
        ("inferred", "mse"), r"training\.loss", True),
    "bce_with_three_classes": Case(BASE.replace("data.csv", "three.csv") + T + "  loss: bce\n",
                                   BASE.replace("data.csv", "three.csv") + T
                                   + "  loss: cross_entropy\n",
                                   ("2 classes", "3"), r"training\.loss", True),
    "missing_required_key": Case("data: {train: data.csv}\n",
                                 "data: {train: data.csv, target: label}\n",
                                 ("missing",), r"data\.target"),
    "top_level_not_a_mapping": Case("- data\n- training\n", BASE, ("mapping",), ""),
    "duplicate_key": Case(BASE + "seed: 1\nseed: 2\n", BASE + "seed: 2\n", ("duplicate",),
                          r"line 3, column 1"),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Every bad config through ``train --out`` (to check the folder is never created); its
    neighbour through ``config show``, or through a 1-epoch ``train`` when only the data can
    tell whether it is right."""
    folder = tmp_path_factory.mktemp("configs")
    (folder / "data.csv").write_text(DATA)
    (folder / "reg.csv").write_text(REGRESSION_DATA)
    (folder / "three.csv").write_text(DATA.replace("0.2,0.8,b", "0.2,0.8,c"))
    calls = {}
    for name, case in CASES.items():
        (folder / f"{name}-bad.yaml").write_text(case.bad)
        calls[f"{name}-bad"] = ("train", f"{name}-bad.yaml", "--out", f"out-{name}-bad")
        if case.good is not None:
            (folder / f"{name}-good.yaml").write_text(case.good)
            calls[f"{name}-good"] = (
                ("train", f"{name}-good.yaml", "--out", f"out-{name}-good",
                 "--set", "training.epochs=1", "--quiet") if case.from_data
                else ("config", "show", f"{name}-good.yaml"))
    return folder, run_all(calls, cwd=folder)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_config_is_refused_before_the_output_folder_exists(results, name):
    folder, procs = results
    case = CASES[name]
    first = assert_clean_error(procs[f"{name}-bad"], 2, *case.words)
    assert f"{name}-bad.yaml" in first, first  # the file is named, also for data-derived errors
    assert re.search(case.where, first), (case.where, first)
    assert not (folder / f"out-{name}-bad").exists()
    assert not (folder / "runs").exists()


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.good is not None])
def test_the_neighbour_without_the_defect_is_accepted(results, name):
    folder, procs = results
    proc = procs[f"{name}-good"]
    assert proc.returncode == 0, proc.stderr
    if CASES[name].from_data:
        assert (folder / f"out-{name}-good" / "model.npz").is_file()
    else:
        assert "training:" in proc.stdout and "data:" in proc.stdout


def test_yaml_never_runs_code(results):
    folder, _ = results
    assert not (folder / "PWNED").exists()


def test_scientific_notation_is_a_float_in_files_and_overrides(tmp_path):
    (tmp_path / "data.csv").write_text(DATA)
    (tmp_path / "sci.yaml").write_text(BASE + T + "  learning_rate: 1e-3\n  epochs: 1\n"
                                       "  optimizer: {name: adam, eps: 1E-7}\n")
    procs = run_all({
        "file": ("train", "sci.yaml", "--out", "run-file", "--quiet"),
        "override": ("config", "show", "sci.yaml", "--set", "training.learning_rate=2.5e-4",
                     "--set", "training.weight_decay=1e-5"),
    }, cwd=tmp_path)
    assert procs["file"].returncode == 0, procs["file"].stderr
    written = (tmp_path / "run-file" / "config.yaml").read_text()
    assert "learning_rate: 0.001" in written and "eps: 1.0e-07" in written
    assert procs["override"].returncode == 0, procs["override"].stderr
    assert "learning_rate: 0.00025" in procs["override"].stdout
    assert "weight_decay: 1.0e-05" in procs["override"].stdout


def test_config_show_reports_errors_like_train(tmp_path):
    (tmp_path / "bad.yaml").write_text(BASE + T + "  epochs: [3\n")
    (tmp_path / "typo.yaml").write_text(BASE)
    procs = run_all({
        "syntax": ("config", "show", "bad.yaml"),
        "override": ("config", "show", "typo.yaml", "--set", "training.momentum=0.9"),
        "missing": ("config", "show", "nowhere.yaml"),
    }, cwd=tmp_path)
    assert re.search(r"bad\.yaml: line \d+, column \d+", assert_clean_error(procs["syntax"], 2))
    assert_clean_error(procs["override"], 2, "training.momentum", "optimizer")
    assert_clean_error(procs["missing"], 2, "nowhere.yaml")


def test_data_errors_also_leave_no_output_folder(tmp_path):
    (tmp_path / "bad.csv").write_text("x1,x2,label\n0,0,a\n0,oops,b\n")
    (tmp_path / "c.yaml").write_text(BASE.replace("data.csv", "bad.csv"))
    proc = run_cli("train", "c.yaml", cwd=tmp_path, env=ENV)  # default folder: runs/c
    assert_clean_error(proc, 2, "bad.csv", "line 3", "x2")
    assert not (tmp_path / "runs").exists()
