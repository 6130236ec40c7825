"""Categorical columns (one-hot), missing values (mean / most frequent) and unseen categories,
through the real CLI: train -> eval -> predict, with the encoding kept in the model file."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest
from conftest import assert_clean_error, run_cli

from nnlearn.data import FeatureEncoder, read_csv
from nnlearn.errors import DataError

ENV = {"NNLEARN_THREADS": "1"}
LEVELS = ("low", "mid", "high")


def _train_csv() -> str:
    rng = np.random.default_rng(0)
    rows = ["a,b,level,label"]
    for i in range(48):
        level = LEVELS[i % 3]
        a, b = rng.standard_normal(2)
        label = "yes" if a + LEVELS.index(level) - 1 > 0 else "no"
        cell_a = "" if i % 7 == 3 else f"{a:.3f}"  # some missing numbers ...
        cell_level = "" if i % 11 == 5 else level  # ... and some missing categories
        rows.append(f"{cell_a},{b:.3f},{cell_level},{label}")
    return "\n".join(rows) + "\n"


CONFIG = ("seed: 1\ndata: {{train: train.csv, target: label, val_fraction: 0, "
          "categorical: [level], missing: mean{extra}}}\n"
          "model: {{hidden: [4]}}\ntraining: {{epochs: 20, batch_size: 8}}\n")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("encoding")
    (folder / "train.csv").write_text(_train_csv())
    (folder / "c.yaml").write_text(CONFIG.format(extra=""))
    proc = run_cli("train", folder / "c.yaml", "--out", folder / "run", "--quiet", env=ENV)
    assert proc.returncode == 0, proc.stderr
    return folder


def _meta(folder) -> dict:
    with np.load(folder / "run" / "model.npz", allow_pickle=False) as f:
        return json.loads(f["meta.json"].tobytes().decode())


def _predict(folder, name: str, text: str) -> list[dict]:
    (folder / name).write_text(text)
    proc = run_cli("predict", folder / "run", "--data", folder / name, "--proba", env=ENV)
    assert proc.returncode == 0, proc.stderr
    return list(csv.DictReader(io.StringIO(proc.stdout)))


def test_the_model_file_keeps_categories_and_training_means(run):
    meta = _meta(run)
    enc = meta["encoding"]
    assert enc["categorical"] == {"level": ["high", "low", "mid"]}  # sorted
    assert enc["width"] == 5 and enc["inputs"] == "2 numeric + 3 one-hot = 5 inputs"
    assert meta["architecture"][0]["in"] == 5
    table = read_csv(run / "train.csv", target="label", categorical=["level"],
                     allow_missing=True)
    a = table.X[:, 0]
    assert enc["fill"]["a"] == float(np.mean(a[~np.isnan(a)]))  # val_fraction 0: every row
    levels, counts = np.unique(table.text["level"][table.text["level"] != ""],
                               return_counts=True)
    assert enc["fill"]["level"] == levels[np.argmax(counts)]
    # one-hot inputs are left 0/1 by the standardisation; numeric ones are standardised
    assert meta["scaler"]["mean"][2:] == [0.0, 0.0, 0.0]
    assert meta["scaler"]["scale"][2:] == [1.0, 1.0, 1.0]
    assert meta["scaler"]["feature_names"] == ["a", "b", "level=high", "level=low", "level=mid"]


def test_missing_cells_at_predict_time_are_the_stored_training_values(run):
    fill = _meta(run)["encoding"]["fill"]
    blanks = _predict(run, "blanks.csv", "level,b,a\n,0.5,\nmid,-1,\n,2,0.25\n")
    filled = _predict(run, "filled.csv", f"level,b,a\n{fill['level']},0.5,{fill['a']!r}\n"
                                         f"mid,-1,{fill['a']!r}\n{fill['level']},2,0.25\n")
    assert blanks == filled
    # and the categories matter: the same numbers with another level predict differently
    other = _predict(run, "other.csv", "a,b,level\n0.1,0.1,low\n0.1,0.1,high\n")
    assert other[0]["p_yes"] != other[1]["p_yes"]


def test_eval_reads_the_same_encoding(run):
    proc = run_cli("eval", run / "run", "--data", run / "train.csv", "--json", env=ENV)
    assert proc.returncode == 0, proc.stderr
    train_metrics = json.loads((run / "run" / "metrics.json").read_text())["train"]
    assert json.loads(proc.stdout)["accuracy"] == train_metrics["accuracy"]


def test_an_unseen_category_is_refused_by_file_line_column_and_value(run):
    (run / "unseen.csv").write_text("a,b,level,label\n0.5,1,mid,yes\n0.1,2,huge,no\n")
    for cmd in ("eval", "predict"):
        first = assert_clean_error(run_cli(cmd, run / "run", "--data", run / "unseen.csv",
                                           env=ENV), 2, "'huge'", "not seen in training",
                                   "unknown_category: ignore")
        assert re.search(r"unseen\.csv: line 3, column 'level'", first), first


def test_unknown_category_ignore_encodes_all_zeros(tmp_path):
    (tmp_path / "train.csv").write_text(_train_csv())
    (tmp_path / "c.yaml").write_text(CONFIG.format(extra=", unknown_category: ignore"))
    proc = run_cli("train", tmp_path / "c.yaml", "--out", tmp_path / "run", "--quiet", env=ENV)
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "unseen.csv").write_text("a,b,level\n0.5,1,mid\n0.1,2,huge\n")
    proc = run_cli("predict", tmp_path / "run", "--data", tmp_path / "unseen.csv", env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 3
    from nnlearn.runs.run import load_run

    model = load_run(tmp_path / "run")[0]
    x = model.encode(read_csv(tmp_path / "unseen.csv", target=None, **model.read_options()))
    np.testing.assert_array_equal(x[:, 2:], [[0, 0, 1], [0, 0, 0]])  # mid; huge: all zeros


def test_a_string_column_not_listed_gets_the_hint(tmp_path):
    (tmp_path / "train.csv").write_text(_train_csv().replace(",,", ",0,"))
    (tmp_path / "c.yaml").write_text("data: {train: train.csv, target: label, missing: mean}\n")
    proc = run_cli("train", tmp_path / "c.yaml", "--out", tmp_path / "run", env=ENV)
    first = assert_clean_error(proc, 2, "data.categorical", "data.features")
    assert re.search(r"line 2, column 'level': non-numeric value 'low'", first), first
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("cell, hint", [
    ("NA", ("if it marks a missing value, leave the cell empty (data.missing: mean fills "
            "those); if it is a category, list the column in data.categorical")),
    ("?", "if it marks a missing value, leave the cell empty"),
    ("nan", "if it marks a missing value, leave the cell empty"),
    ("none", "if it marks a missing value"),  # or the category 'none': the hint says both
    ("", "data.missing: mean fills empty cells"),
    ("many", "list the column in data.categorical"),
])
def test_a_missing_value_marker_is_told_what_missing_means_here(tmp_path, cell, hint):
    # 'NA', '?' or 'nan' written for "no value" are not categories to encode: the empty cell
    # is nnlearn's missing value, which data.missing: mean fills
    rows = ["a,b,label"] + [f"{i / 10},{i % 3},{'yes' if i % 2 else 'no'}" for i in range(12)]
    rows[4] = f"0.3,{cell},yes"
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "c.yaml").write_text("data: {train: t.csv, target: label}\n")
    proc = run_cli("train", tmp_path / "c.yaml", "--out", tmp_path / "run", env=ENV)
    assert_clean_error(proc, 2, "line 5, column 'b'")
    assert proc.stderr.splitlines()[-1].startswith(hint), proc.stderr


def test_a_trained_model_gets_no_hint_about_training_settings(run):
    # At eval/predict time data.categorical can no longer change: the cell is the problem.
    (run / "word.csv").write_text("a,b,level,label\n0.5,1,mid,yes\n0.1,many,low,no\n")
    for cmd in ("eval", "predict"):
        proc = run_cli(cmd, run / "run", "--data", run / "word.csv", env=ENV)
        first = assert_clean_error(proc, 2, "non-numeric value 'many'")
        assert re.search(r"word\.csv: line 3, column 'b'", first), first
        assert "data.categorical" not in proc.stderr, proc.stderr


def test_eval_on_a_file_without_the_target_points_at_predict(run):
    (run / "nolabel.csv").write_text("a,b,level\n0.5,1,mid\n")
    proc = run_cli("eval", run / "run", "--data", run / "nolabel.csv", env=ENV)
    assert_clean_error(proc, 2, "target column 'label' not found")
    assert proc.stderr.splitlines()[-1] == ("The model predicts 'label': scoring needs that "
                                            "column (nnlearn predict reads a file without it).")
    assert run_cli("predict", run / "run", "--data", run / "nolabel.csv",
                   env=ENV).returncode == 0
    # the folder that holds the run is no run folder, but says which ones it holds
    proc = run_cli("eval", run, "--data", run / "nolabel.csv", env=ENV)
    assert_clean_error(proc, 2, "no model.npz in this folder")
    assert proc.stderr.splitlines()[-1].startswith("it holds 1 run folder (run): give one")


def _train_on(folder, text: str, *args: str):
    (folder / "train.csv").write_text(text)
    return run_cli("train", folder / "c.yaml", *args, "--quiet", env=ENV)


def test_init_from_refuses_inputs_that_mean_something_else(run, tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG.format(extra=""))
    # same width (3 categories), other meaning: the weights of level=high would feed level=low
    proc = _train_on(tmp_path, _train_csv().replace(",high,", ",top,"), "--out",
                     tmp_path / "run", "--init-from", run / "run")
    first = assert_clean_error(proc, 2, "inputs differ", "--init-from needs the same inputs")
    assert "input 3 is 'level=high' there, 'level=low' here" in first, first
    assert not (tmp_path / "run").exists()
    # the same data: fine
    proc = _train_on(tmp_path, _train_csv(), "--out", tmp_path / "ok", "--init-from", run / "run")
    assert proc.returncode == 0, proc.stderr


def test_resume_refuses_training_data_that_changed_since_the_checkpoint(tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG.format(extra="").replace(
        "epochs: 20", "epochs: 3, checkpoint_every: 1"))
    proc = _train_on(tmp_path, _train_csv(), "--out", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run" / "checkpoint.npz").is_file()
    (tmp_path / "train.csv").write_text(_train_csv().replace(",high,", ",top,"))
    proc = run_cli("train", "--resume", tmp_path / "run", env=ENV)
    first = assert_clean_error(proc, 2, "checkpoint.npz", "training data changed",
                               "--init-from")
    assert "level=high" in first and "level=top" in first, first
    (tmp_path / "train.csv").write_text(_train_csv())  # back as it was: resumes
    proc = run_cli("train", "--resume", tmp_path / "run", "--quiet", env=ENV)
    assert proc.returncode == 0, proc.stderr


def test_the_estimator_refuses_a_run_that_encodes_its_columns(run):
    pytest.importorskip("sklearn")
    from nnlearn.sklearn import MLPClassifier

    with pytest.raises(ValueError, match="one-hot encodes 'level' and fills empty cells") as info:
        MLPClassifier.from_run(run / "run")
    assert "2 numeric + 3 one-hot = 5 inputs from 3 columns" in str(info.value)
    assert "OneHotEncoder" in str(info.value)


def test_a_missing_target_is_refused_even_with_missing_mean(tmp_path):
    text = _train_csv().splitlines()
    text[4] = text[4].rsplit(",", 1)[0] + ","  # line 5: empty label
    (tmp_path / "train.csv").write_text("\n".join(text) + "\n")
    (tmp_path / "c.yaml").write_text(CONFIG.format(extra=""))
    proc = run_cli("train", tmp_path / "c.yaml", "--out", tmp_path / "run", env=ENV)
    first = assert_clean_error(proc, 2, "empty target cell")
    assert re.search(r"line 5, column 'label'", first), first


def test_summary_and_config_show_give_the_encoded_width(run):
    for args in (("summary", run / "c.yaml"), ("config", "show", run / "c.yaml")):
        proc = run_cli(*args, env=ENV)
        assert proc.returncode == 0, proc.stderr
        assert "2 numeric + 3 one-hot = 5 inputs" in proc.stdout
    # config show reads the file the way training does (categories, empty cells) to decide
    show = proc.stdout
    assert re.search(r"task: classification  # auto, from the target's values .*2 classes", show)
    assert re.search(r"loss: bce  # auto", show), show


def test_fill_values_come_from_the_training_split_only(tmp_path):
    from nnlearn.runs.config import load_config
    from nnlearn.runs.run import prepare

    (tmp_path / "train.csv").write_text(_train_csv())
    (tmp_path / "c.yaml").write_text(
        CONFIG.format(extra="").replace("val_fraction: 0", "val_fraction: 0.5"))
    prep = prepare(load_config(tmp_path / "c.yaml"))
    table, train_idx = prep.train_table, prep.train_idx
    a_train = table.X[train_idx, 0]
    a_all = table.X[:, 0]
    fill = prep.model.encoding.fill["a"]
    assert fill == float(np.mean(a_train[~np.isnan(a_train)]))
    assert fill != float(np.mean(a_all[~np.isnan(a_all)]))  # the validation rows left out


def test_explain_shows_the_raw_row_beside_the_encoded_input(run):
    proc = run_cli("explain", run / "c.yaml", "--sample", "0", env=ENV)
    assert proc.returncode == 0, proc.stderr
    table = read_csv(run / "train.csv", target="label", categorical=["level"],
                     allow_missing=True)
    level = table.text["level"][0]
    text = " ".join(proc.stdout.split())
    assert f"Input, line 2: a: {table.X[0, 0]:g}, b: {table.X[0, 1]:g}, level: {level}" in text
    assert f"level={level}: 1" in text


def test_explain_shows_a_mean_filled_cell_as_0_not_rounding_noise(tmp_path):
    # the mean of the 6 known values, standardised with the mean of all 7 after filling, is
    # -1.9e-17 in floating point: the student should read 0
    a = ["", "0.822", "0.33", "-1.303", "0.905", "0.446", "-0.537"]
    rows = [f"{v},{i % 3},{'yes' if i % 2 else 'no'}" for i, v in enumerate(a)]
    (tmp_path / "t.csv").write_text("a,b,label\n" + "\n".join(rows) + "\n")
    (tmp_path / "c.yaml").write_text("seed: 1\ndata: {train: t.csv, target: label, "
                                     "val_fraction: 0, missing: mean}\ntraining: {epochs: 1}\n")
    proc = run_cli("explain", tmp_path / "c.yaml", "--sample", "0", env=ENV)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "x (encoded, standardised): a: 0, b:" in text, text


def test_old_model_files_without_an_encoding_still_load(run, tmp_path):
    from nnlearn.runs.modelfile import load_arrays, load_model, save_arrays
    from nnlearn.runs.run import predict_rows

    plain = tmp_path / "plain.csv"
    plain.write_text("a,b,label\n0,1,yes\n1,0,no\n0.5,0.5,yes\n1,1,no\n")
    (tmp_path / "c.yaml").write_text("seed: 2\ndata: {train: plain.csv, target: label}\n"
                                     "training: {epochs: 2}\n")
    proc = run_cli("train", tmp_path / "c.yaml", "--out", tmp_path / "run", "--quiet", env=ENV)
    assert proc.returncode == 0, proc.stderr
    arrays, meta = load_arrays(tmp_path / "run" / "model.npz")
    assert meta.pop("encoding")["inputs"] == "2 numeric inputs"
    save_arrays(tmp_path / "old.npz", arrays, meta)
    new, old = load_model(tmp_path / "run" / "model.npz"), load_model(tmp_path / "old.npz")
    assert old.encoding is None
    table = read_csv(plain, target="label", **old.read_options())
    assert predict_rows(old, table, proba=True) == predict_rows(new, table, proba=True)


def test_encoder_round_trip_and_refusals(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,c\n1,b\n,a\n3,b\n5,c\n")
    table = read_csv(path, target=None, categorical=["c"], allow_missing=True)
    enc = FeatureEncoder(table.columns, ["c"], missing="mean").fit(table)
    assert enc.names == ["x", "c=a", "c=b", "c=c"] and enc.fill == {"x": 3.0, "c": "b"}
    back = FeatureEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    np.testing.assert_array_equal(back.transform(table), enc.transform(table))
    np.testing.assert_array_equal(enc.transform(table),
                                  [[1, 0, 1, 0], [3, 1, 0, 0], [3, 0, 1, 0], [5, 0, 0, 1]])
    bad = enc.to_dict()
    bad["categorical"]["c"] = ["b", "a"]
    with pytest.raises(DataError, match="sorted"):
        FeatureEncoder.from_dict(bad)
    for column, fill, words in (("c", "z", "one of its categories"),
                                ("x", "nan", "a finite number")):
        bad = enc.to_dict()
        bad["fill"][column] = fill  # a model file edited by hand
        with pytest.raises(DataError, match=words):
            FeatureEncoder.from_dict(bad)
    with pytest.raises(DataError) as info:  # refused by the reader unless missing values are on
        read_csv(path, target=None, categorical=["c"])
    assert (info.value.line, info.value.column) == (3, "x")
    path.write_text("x,c\n1,\n")
    with pytest.raises(DataError, match="expected a category") as info:
        read_csv(path, target=None, categorical=["c"])
    assert (info.value.line, info.value.column) == (2, "c")
