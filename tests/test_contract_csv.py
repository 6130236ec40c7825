"""Issue 8, CSV clause: every malformed file is refused through the real CLI (exit 2, one
``Error: <file>: line N, column <name>: ...`` line, no traceback, no run folder), and the messy
but valid files next to each refusal (CRLF, quotes, BOM, blank lines, a constant column,
reordered or extra columns) work -- with results identical to the plain file's.

All subprocesses of a group run concurrently (``run_all``) to keep the module fast.
"""

from __future__ import annotations

import csv
import ctypes
import io
import json
import os
import re
import stat
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import ROOT, assert_clean_error, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ENV = {"NNLEARN_THREADS": "1"}  # several processes at once: one BLAS thread each
HEADER = "x1,x2,label"
ROWS = ["0,0,a", "0,1,b", "1,0,b", "1,1,a", "0.5,0.25,a", "0.25,0.75,b", "0.75,0.5,b", "0.1,0.9,a"]
PLAIN = "\n".join([HEADER, *ROWS]) + "\n"


def run_all(calls: dict[str, tuple]) -> dict[str, subprocess.CompletedProcess]:
    """Run ``run_cli(*args)`` for every entry at once; {name: args} -> {name: result}."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {name: pool.submit(run_cli, *args, env=ENV) for name, args in calls.items()}
        return {name: f.result() for name, f in futures.items()}


def write_config(folder, name: str, csv_name: str, *, target: str = "label", extra: str = ""):
    path = folder / f"{name}.yaml"
    path.write_text(f"seed: 3\ndata: {{train: {csv_name}, target: {target}, val_fraction: 0}}\n"
                    f"model: {{hidden: [4]}}\ntraining: {{epochs: 3, batch_size: 4}}\n{extra}")
    return path


# ------------------------------------------------------------------------------------------
# refusals: (file bytes, line, column or None, words the message must hold)


@dataclass
class Bad:
    content: bytes
    line: int | None
    column: str | None
    words: tuple[str, ...] = ()
    target: str = "label"


def _rows(*rows: str, header: str = HEADER, eol: str = "\n") -> bytes:
    return (eol.join([header, *rows]) + eol).encode()


REFUSED = {
    "ragged_short_row": Bad(_rows("0,0,a", "0,1", "1,0,b"), 3, None, ("expected 3 fields",)),
    "ragged_long_row": Bad(_rows("0,0,a", "0,1,b", "1,0,b,7"), 4, None, ("found 4",)),
    "empty_cell": Bad(_rows("0,0,a", "0,,b", "1,0,b"), 3, "x2", ("empty",)),
    "non_numeric_cell": Bad(_rows("0,0,a", "0,abc,b", "1,0,b"), 3, "x2", ("abc",)),
    "decimal_comma": Bad(_rows("0,0,a", '"0,5",1,b', "1,0,b"), 3, "x1", ("0,5",)),
    "nan_cell": Bad(_rows("0,0,a", "0,1,b", "nan,0,b", "1,1,a"), 4, "x1", ("nan",)),
    "inf_cell": Bad(_rows("0,0,a", "0,1,b", "1,0,b", "1,-inf,a"), 5, "x2", ("inf",)),
    "overflowing_cell": Bad(_rows("0,0,a", "0,1,b", "1,0,b", "1,1,a", "1e999,0,b"), 6, "x1",
                            ("1e999",)),
    "nan_label": Bad(_rows("0,0,0", "0,1,nan", "1,0,1", "1,1,0"), 3, "label", ("nan",)),
    "inf_regression_target": Bad(_rows("0,0,0.5", "0,1,1.5", "1,0,1e999", "1,1,0.25"), 4, "label",
                                 ("1e999",)),
    "empty_target_cell": Bad(_rows("0,0,a", "0,1,", "1,0,b"), 3, "label", ("empty",)),
    "empty_file": Bad(b"", None, None, ("empty",)),
    "header_only": Bad(b"x1,x2,label\n", None, None, ("no data rows",)),
    "duplicate_column_names": Bad(_rows("0,0,a", "1,1,b", header="x1,x1,label"), 1, None,
                                  ("duplicate", "'x1'")),
    "missing_target": Bad(_rows("0,0,a", "1,1,b", header="x1,x2,y"), 1, None,
                          ("'label'", "not found", "'x1', 'x2', 'y'")),
    "latin1_byte": Bad(_rows("0,0,a", "0,1,b", "1,0,b") + "1,1,café\n".encode("latin-1"), 5, None,
                       ("utf-8",)),
    "utf16_file": Bad(PLAIN.encode("utf-16"), 1, None, ("utf-8",)),
    # physical line numbers survive CRLF, a BOM, blank lines and quoted multi-line fields
    "error_after_crlf": Bad(_rows("0,0,a", "0,1,b", "1,0,b", "1,x,a", eol="\r\n"), 5, "x2",
                            ("'x'",)),
    "error_after_bom": Bad(b"\xef\xbb\xbf" + _rows("0,0,a", "0,1,b", "1,,b"), 4, "x2", ("empty",)),
    "error_after_blank_lines": Bad(_rows("0,0,a", "", "", "0,1,b", "1,q,b"), 6, "x2", ("'q'",)),
    "error_after_multiline_field": Bad(_rows('0,0,"a\nstill a"', "0,1,b", "1,0,b", "y,1,a"), 6,
                                       "x1", ("'y'",)),
    "overflowing_statistics": Bad(_rows("0,1e308,a", "0,-1e308,b", "1,1.5e308,b", "1,0,a"), None,
                                  "x2", ("not finite",)),
}


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    folder = tmp_path_factory.mktemp("refused")
    calls = {}
    for name, case in REFUSED.items():
        (folder / f"{name}.csv").write_bytes(case.content)
        cfg = write_config(folder, name, f"{name}.csv", target=case.target)
        calls[name] = ("train", cfg, "--out", folder / f"out-{name}")
    return folder, run_all(calls)


@pytest.mark.parametrize("name", list(REFUSED))
def test_malformed_csv_is_refused_with_file_line_and_column(refused, name):
    folder, procs = refused
    case = REFUSED[name]
    first = assert_clean_error(procs[name], 2, *case.words)
    assert f"{name}.csv" in first, first
    if case.line is not None:
        assert re.search(rf"\bline {case.line}\b", first), first
    else:
        assert not re.search(r"\bline \d", first), first  # no made-up line number
    if case.column is not None:
        assert f"column '{case.column}'" in first, first
    assert "Warning" not in procs[name].stderr
    assert not (folder / f"out-{name}").exists()  # validated before the run folder is made


def test_a_bad_test_file_is_refused_before_training_starts(tmp_path):
    # data.test is read and checked (columns, cells, labels) before the run folder exists,
    # not after the epochs have been spent
    (tmp_path / "train.csv").write_text(PLAIN)
    (tmp_path / "test.csv").write_text("x2,x1,label\n0,0,a\n1,1,b\n0.5,0.5,c\n")
    cfg = write_config(tmp_path, "c", "train.csv")
    cfg.write_text(cfg.read_text().replace("target: label", "target: label, test: test.csv"))
    first = assert_clean_error(run_cli("train", cfg, "--out", tmp_path / "out", env=ENV), 2,
                               "'c'", "not seen in training")
    assert re.search(r"test\.csv: line 4, column 'label'", first), first
    assert not (tmp_path / "out").exists()


# more spellings of the same refusals, in-process (the subprocess cases above prove the CLI
# path; these prove the reader does not depend on one spelling)
SPELLINGS = {
    "NaN": ("0,NaN,b", "x2"), "-nan": ("-nan,0,b", "x1"), "Infinity": ("0,Infinity,b", "x2"),
    "+inf": ("+inf,1,b", "x1"), "-1E400": ("0,-1E400,b", "x2"), "blank": (" ,0,b", "x1"),
    "tab": ("0,\t,b", "x2"), "hex": ("0x1A,0,b", "x1"), "underscore": ("1_000,0,b", "x1"),
    "label_Infinity": ("0,0,-Infinity", "label"), "label_1e999": ("0,0,1e999", "label"),
}


@pytest.mark.parametrize("name", list(SPELLINGS))
def test_every_spelling_of_a_bad_cell_is_refused_by_the_reader(tmp_path, name):
    from nnlearn.data import LabelEncoder, read_csv
    from nnlearn.errors import DataError

    row, column = SPELLINGS[name]
    path = tmp_path / "bad.csv"
    path.write_bytes(_rows("0,0,a", "1,1,b", row))
    with pytest.raises(DataError) as info:
        table = read_csv(path, target="label")
        LabelEncoder().fit(table.y, table.lines, table.path, column="label")
    assert (info.value.line, info.value.column) == (4, column), str(info.value)


MESSY_CELL = st.sampled_from(["", "nan", "NaN", "-inf", "Infinity", "1e999", "a", "b", "é",
                              '"x"', "1_0", "0x1"])
NUMBER_CELL = st.one_of(
    st.sampled_from(["1e308", "-1.7e308", "1.7e308", "0", "5", "1e-320", "2.5"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-3, 3).map(str),
)


@st.composite
def csv_texts(draw) -> str:
    """Mostly well-formed numeric files (extreme values included), some with messy cells."""
    n = draw(st.integers(1, 3))
    cell = NUMBER_CELL if draw(st.booleans()) else st.one_of(NUMBER_CELL, MESSY_CELL)
    rows = draw(st.lists(st.lists(cell, min_size=n + 1, max_size=n + 1), min_size=1,
                         max_size=8))
    header = ",".join([*(f"x{i}" for i in range(n)), "y"])
    return "\n".join([header, *(",".join(r) for r in rows)]) + "\n"


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=csv_texts())
def test_random_csv_through_the_preparation_steps_gives_data_or_a_data_error(tmp_path, text):
    # read -> infer the task -> encode labels / convert targets -> fit the standardizer: every
    # step either succeeds with finite numbers or raises DataError, and numpy never warns
    from nnlearn.data import LabelEncoder, Standardizer, infer_task, read_csv, regression_targets
    from nnlearn.errors import DataError

    path = tmp_path / "r.csv"
    path.write_text(text, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            table = read_csv(path, target="y")
            if infer_task(table.y) == "classification":
                encoder = LabelEncoder().fit(table.y, table.lines, table.path, column="y")
                ids = encoder.transform(table.y, table.lines, table.path, column="y")
                assert ids.min() >= 0 and ids.max() < encoder.n_classes
            else:
                assert np.isfinite(regression_targets(table.y, table.lines, table.path)).all()
            scaler = Standardizer().fit(table.X, table.feature_names, path=table.path)
        except DataError:
            return
        assert np.isfinite(scaler.transform(table.X)).all()


# ------------------------------------------------------------------------------------------
# should work: the same data, written the ways spreadsheets and people write it


VARIANTS = {
    "plain": PLAIN.encode(),
    "crlf": PLAIN.replace("\n", "\r\n").encode(),
    "bom": b"\xef\xbb\xbf" + PLAIN.encode(),
    "quoted": "".join(",".join(f'"{c}"' for c in line.split(",")) + "\n"
                      for line in PLAIN.splitlines()).encode(),
    "trailing_blank_lines": (PLAIN + "\n\n\n").encode(),
    "blank_line_inside": PLAIN.replace("1,1,a\n", "1,1,a\n\n").encode(),
    "spaces_around_cells": "\n".join(", ".join(c for c in line.split(","))
                                     for line in PLAIN.splitlines()).encode() + b"\n",
    "reordered_and_extra_columns": _rows(*(f"{r.split(',')[2]},note {i},{r.split(',')[1]},"
                                           f"{r.split(',')[0]}" for i, r in enumerate(ROWS)),
                                         header="label,comment,x2,x1"),
}


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    folder = tmp_path_factory.mktemp("variants")
    calls = {}
    for name, content in VARIANTS.items():
        (folder / f"{name}.csv").write_bytes(content)
        cfg = write_config(folder, name, f"{name}.csv")
        if name == "reordered_and_extra_columns":  # features by name, in the plain file's order
            cfg.write_text(cfg.read_text().replace("val_fraction: 0}",
                                                   "val_fraction: 0, features: [x1, x2]}"))
        calls[name] = ("train", cfg, "--out", folder / f"run-{name}", "--json")
    return folder, run_all(calls)


def _weights(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files if k.startswith("param/")}


@pytest.mark.parametrize("name", [n for n in VARIANTS if n != "plain"])
def test_messy_but_valid_csv_trains_exactly_like_the_plain_file(variants, name):
    folder, procs = variants
    assert procs["plain"].returncode == 0, procs["plain"].stderr
    proc = procs[name]
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr
    plain = _weights(folder / "run-plain/model.npz")
    ours = _weights(folder / f"run-{name}/model.npz")
    assert plain.keys() == ours.keys()
    for key in plain:
        np.testing.assert_array_equal(plain[key], ours[key], err_msg=key)
    assert (json.loads(proc.stdout)["metrics"]["train"]
            == json.loads(procs["plain"].stdout)["metrics"]["train"])


def test_constant_feature_column_trains_without_dividing_by_zero(tmp_path):
    (tmp_path / "const.csv").write_text("x1,c,label\n" + "".join(
        f"{r.split(',')[0]},5,{r.split(',')[2]}\n" for r in ROWS))
    cfg = write_config(tmp_path, "const", "const.csv")
    proc = run_cli("train", cfg, "--out", tmp_path / "run", "--json", env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr
    for value in _weights(tmp_path / "run/model.npz").values():
        assert np.isfinite(value).all()
    pred = run_cli("predict", tmp_path / "run", "--data", tmp_path / "const.csv", "--proba",
                   env=ENV)
    assert pred.returncode == 0, pred.stderr
    probs = [float(row["p_a"]) for row in csv.DictReader(io.StringIO(pred.stdout))]
    assert len(probs) == len(ROWS) and all(0 <= p <= 1 for p in probs)


def test_large_and_tiny_finite_values_are_accepted(tmp_path):
    # the neighbours of 1e999 (overflow) and 1e308 (statistics overflow): finite, fine; and a
    # column whose spread underflows (1e-320 vs 0: std 0 although not constant) is constant
    (tmp_path / "big.csv").write_text(PLAIN.replace("0.5,0.25,a", "1e150,1e-999,a"))
    (tmp_path / "tiny.csv").write_text("x1,tiny,label\n" + "".join(
        f"{r.split(',')[0]},{'1e-320' if i % 2 else '0'},{r.split(',')[2]}\n"
        for i, r in enumerate(ROWS)))
    procs = run_all({name: ("train", write_config(tmp_path, name, f"{name}.csv"), "--out",
                            tmp_path / f"run-{name}", "--set", f"training.dtype={dtype}")
                     for name, dtype in (("big", "float64"), ("tiny", "float32"))})
    for name, proc in procs.items():
        assert proc.returncode == 0, (name, proc.stderr)
        assert "Warning" not in proc.stderr


def test_values_that_overflow_the_network_dtype_are_refused_by_line_and_column(tmp_path):
    # 1e39 is a fine float64 but inf as float32: with standardize off it would reach the
    # network as inf and come out as a misleading "diverged, lower the learning rate"
    (tmp_path / "wide.csv").write_text(PLAIN.replace("1,0,b", "1,1e39,b"))
    cfg = write_config(tmp_path, "wide", "wide.csv")
    procs = run_all({dtype: ("train", cfg, "--out", tmp_path / dtype, "--set",
                             "data.standardize=false", "--set", f"training.dtype={dtype}")
                     for dtype in ("float32", "float64")})
    first = assert_clean_error(procs["float32"], 2, "float32", "training.dtype: float64")
    assert re.search(r"wide\.csv: line 4, column 'x2'", first), first
    assert not (tmp_path / "float32").exists()
    assert procs["float64"].returncode == 0, procs["float64"].stderr


# ------------------------------------------------------------------------------------------
# eval and predict: columns by name


@pytest.fixture(scope="module")
def model_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    (folder / "train.csv").write_text(PLAIN)
    proc = run_cli("train", write_config(folder, "m", "train.csv"), "--out", folder / "run",
                   env=ENV)
    assert proc.returncode == 0, proc.stderr
    return folder


def test_reordered_and_extra_columns_give_identical_eval_and_predictions(model_run):
    folder = model_run
    (folder / "same.csv").write_text(PLAIN)
    (folder / "shuffled.csv").write_bytes(VARIANTS["reordered_and_extra_columns"])
    run = folder / "run"
    procs = run_all({
        "eval_same": ("eval", run, "--data", folder / "same.csv", "--json"),
        "eval_shuffled": ("eval", run, "--data", folder / "shuffled.csv", "--json"),
        "predict_same": ("predict", run, "--data", folder / "same.csv", "--proba"),
        "predict_shuffled": ("predict", run, "--data", folder / "shuffled.csv", "--proba"),
    })
    for name, proc in procs.items():
        assert proc.returncode == 0, (name, proc.stderr)
    assert json.loads(procs["eval_same"].stdout) == json.loads(procs["eval_shuffled"].stdout)
    assert procs["predict_same"].stdout == procs["predict_shuffled"].stdout
    assert len(procs["predict_same"].stdout.splitlines()) == len(ROWS) + 1


def test_missing_feature_columns_are_listed_by_eval_and_predict(model_run):
    folder = model_run
    (folder / "missing.csv").write_text("label,x1,other\na,0,1\nb,1,0\n")
    procs = run_all({cmd: (cmd, folder / "run", "--data", folder / "missing.csv")
                     for cmd in ("eval", "predict")})
    for proc in procs.values():
        first = assert_clean_error(proc, 2, "'x2'", "columns found", "'other'")
        assert "missing.csv" in first and "line 1" in first


def test_values_far_outside_the_training_range_are_refused_by_eval_and_predict(model_run):
    folder = model_run
    (folder / "huge.csv").write_text("x1,x2,label\n0,0,a\n1,-1e308,b\n")
    procs = run_all({cmd: (cmd, folder / "run", "--data", folder / "huge.csv")
                     for cmd in ("eval", "predict")})
    for proc in procs.values():
        first = assert_clean_error(proc, 2, "far outside")
        assert re.search(r"huge\.csv: line 3, column 'x2'", first), first
        assert proc.stdout == ""  # no NaN predictions


def test_unseen_label_is_named_with_its_line_and_column(model_run):
    folder = model_run
    (folder / "unseen.csv").write_text("x1,x2,label\n0,0,a\n1,1,b\n0,1,zebra\n")
    first = assert_clean_error(run_cli("eval", folder / "run", "--data", folder / "unseen.csv",
                                       env=ENV), 2, "'zebra'", "a", "b")
    assert re.search(r"unseen\.csv: line 4, column 'label'", first), first
    # predict does not need the target column, so the unknown label does not matter there
    proc = run_cli("predict", folder / "run", "--data", folder / "unseen.csv", env=ENV)
    assert proc.returncode == 0, proc.stderr


# ------------------------------------------------------------------------------------------
# files that are not readable CSV files at all


def test_a_directory_is_refused_by_train_eval_and_predict(model_run, tmp_path):
    folder = model_run
    (tmp_path / "adir").mkdir()
    cfg = write_config(tmp_path, "dir", "adir")
    procs = run_all({
        "train": ("train", cfg, "--out", tmp_path / "out"),
        "eval": ("eval", folder / "run", "--data", tmp_path / "adir"),
        "predict": ("predict", folder / "run", "--data", tmp_path / "adir"),
    })
    for proc in procs.values():
        first = assert_clean_error(proc, 2, "directory")
        assert "adir" in first
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_is_refused_instead_of_hanging(model_run, tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)  # nobody ever writes to it: opening it for reading would block forever
    proc = run_cli("eval", model_run / "run", "--data", fifo, env=ENV, timeout=60)
    assert_clean_error(proc, 2, "pipe.csv", "not a regular file")


_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 24, 1, 2


def _as_unprivileged_reader():
    """preexec_fn: as root, drop the two capabilities that let root read any file, so that a
    chmod 000 file is unreadable to the child exactly as it is to an ordinary user."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _run_unprivileged(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, **ENV)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NNLEARN_DEBUG", None)
    preexec = _as_unprivileged_reader if os.geteuid() == 0 else None
    return subprocess.run([sys.executable, "-m", "nnlearn", *map(str, args)], check=False,
                          env=env, preexec_fn=preexec, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.skipif(sys.platform != "linux", reason="permission bits and prctl are Linux's")
def test_an_unreadable_file_is_refused(model_run, tmp_path):
    locked = tmp_path / "locked.csv"
    locked.write_text(PLAIN)
    locked.chmod(0)
    probe = _run_unprivileged("--version")
    if probe.returncode != 0:
        pytest.skip(f"cannot drop root's read override here: {probe.stderr[-200:]}")
    check = subprocess.run([sys.executable, "-c", f"open({str(locked)!r}).read()"], check=False,
                           preexec_fn=_as_unprivileged_reader if os.geteuid() == 0 else None,
                           capture_output=True, text=True)
    if check.returncode == 0:
        pytest.skip("a chmod 000 file is still readable to the child here")
    try:
        train = _run_unprivileged("train", write_config(tmp_path, "locked", "locked.csv"),
                                  "--out", tmp_path / "out")
        first = assert_clean_error(train, 2, "locked.csv")
        assert re.search(r"not readable|permission denied", first, re.IGNORECASE), first
        assert not (tmp_path / "out").exists()
        evaluation = _run_unprivileged("eval", model_run / "run", "--data", locked)
        first = assert_clean_error(evaluation, 2, "locked.csv")
        assert re.search(r"not readable|permission denied", first, re.IGNORECASE), first
    finally:
        locked.chmod(stat.S_IRUSR | stat.S_IWUSR)
