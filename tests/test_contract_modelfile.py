"""Issue 8, model-file clause: a model file is numeric arrays plus JSON metadata and nothing
else. Whatever else is handed to ``eval``/``predict`` (or to ``train --resume`` as a checkpoint)
is refused with exit 2 and "not a valid nnlearn model file" -- never executed, never a
traceback, never a MemoryError, never NaN predictions.

Each damaged file is made from a real model by changing one thing; the untouched copy, saved
again the same way, is the neighbour that must keep working.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import shutil
import struct
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_clean_error, run_cli
from hypothesis import event, given, settings
from hypothesis import strategies as st

ENV = {"NNLEARN_THREADS": "1"}
DATA = "x1,x2,label\n0,0,a\n0,1,b\n1,0,b\n1,1,a\n0.5,0.5,a\n0.2,0.8,b\n"
INVALID = "not a valid nnlearn model file"


def run_all(calls: dict[str, tuple]) -> dict[str, subprocess.CompletedProcess]:
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {k: pool.submit(run_cli, *args, env=ENV) for k, args in calls.items()}
        return {k: f.result() for k, f in futures.items()}


class MakeFolder:
    """Unpickling this calls ``os.mkdir(path)``: the proof that a loader ran code from a file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


# ------------------------------------------------------------------------------------------
# damaged files, each from the good model's arrays and metadata


def _save(path: Path, arrays: dict[str, np.ndarray], **kwargs) -> Path:
    np.savez(path, **arrays, **kwargs)
    return path


def _flip_last_byte_of(path: Path, raw: bytes, member: str) -> Path:
    """A copy of the zip ``raw`` with one bit of ``member``'s stored data flipped: the file
    opens fine and only reading that member fails its CRC check (so only an eager reader
    notices at load time)."""
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        info = z.getinfo(member)
    assert info.compress_type == zipfile.ZIP_STORED
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:
                                                   info.header_offset + 30])
    end = info.header_offset + 30 + name_len + extra_len + info.compress_size
    data = bytearray(raw)
    data[end - 1] ^= 0x01
    path.write_bytes(bytes(data))
    return path


def _with_meta(arrays, meta, **changes) -> dict[str, np.ndarray]:
    meta = {**meta, **changes}
    out = dict(arrays)
    out["meta.json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return out


def _make_bad_files(folder: Path, good: Path, marker: str) -> dict[str, Path]:
    with np.load(good, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays["meta.json"].tobytes())
    w1 = arrays["param/dense_1.W"]
    raw = good.read_bytes()
    files: dict[str, Path] = {}

    def add(name: str, make) -> None:
        files[name] = make(folder / f"{name}.npz")

    # code, disguised three ways
    add("raw_pickle", lambda p: (p.write_bytes(pickle.dumps(MakeFolder(marker))), p)[1])
    add("pickled_weight_array", lambda p: _save(p, {**arrays, "param/dense_1.W":
                                                   np.array([MakeFolder(marker)], dtype=object)}))
    add("pickled_metadata", lambda p: _save(p, {**arrays, "meta.json":
                                               np.array([MakeFolder(marker)], dtype=object)}))
    # broken containers
    add("empty_file", lambda p: (p.write_bytes(b""), p)[1])
    add("truncated", lambda p: (p.write_bytes(raw[: len(raw) // 2]), p)[1])
    add("random_bytes", lambda p: (p.write_bytes(np.random.default_rng(0).bytes(4096)), p)[1])
    add("corrupt_member", lambda p: _flip_last_byte_of(p, raw, "param/dense_2.b.npy"))
    add("zip_without_meta", lambda p: _save(p, {k: v for k, v in arrays.items()
                                                if k != "meta.json"}))
    add("zip_of_text", lambda p: (zipfile.ZipFile(p, "w").writestr("meta.json.npy", "hi"), p)[1])
    add("metadata_not_json", lambda p: _save(p, {**arrays, "meta.json":
                                                np.frombuffer(b"{oops", dtype=np.uint8)}))
    add("metadata_not_a_mapping", lambda p: _save(p, {**arrays, "meta.json":
                                                     np.frombuffer(b"[1, 2]", dtype=np.uint8)}))
    # arrays that disagree with the metadata, or are not usable numbers
    add("wrong_shape", lambda p: _save(p, {**arrays, "param/dense_1.W": np.zeros((5, 7))}))
    add("missing_array", lambda p: _save(p, {k: v for k, v in arrays.items()
                                             if k != "param/dense_1.b"}))
    nan_w = w1.copy()
    nan_w[0, 0] = np.nan
    add("nan_weights", lambda p: _save(p, {**arrays, "param/dense_1.W": nan_w}))
    inf_b = arrays["param/dense_1.b"].copy()
    inf_b[-1] = np.inf
    add("inf_bias", lambda p: _save(p, {**arrays, "param/dense_1.b": inf_b}))
    add("text_array", lambda p: _save(p, {**arrays, "param/dense_1.b":
                                          np.array(["1"] * inf_b.size)}))
    # metadata that lies
    huge = [dict(layer) for layer in meta["architecture"]]
    huge[0]["out"] = 10**12  # a loader that trusts this allocates terabytes
    add("huge_layer_in_metadata", lambda p: _save(p, _with_meta(arrays, meta, architecture=huge)))
    add("unknown_task", lambda p: _save(p, _with_meta(arrays, meta, task="banana")))
    add("classes_missing", lambda p: _save(p, _with_meta(
        arrays, meta, label_encoder={"kind": "string", "classes": []})))
    add("loss_for_other_task", lambda p: _save(p, _with_meta(arrays, meta, loss="mse")))
    add("scaler_with_nan", lambda p: _save(p, _with_meta(
        arrays, meta, scaler={**meta["scaler"], "scale": [float("nan")] * 2})))
    add("wrong_format", lambda p: _save(p, _with_meta(arrays, meta, format="something-else")))
    add("future_version", lambda p: _save(p, _with_meta(arrays, meta, format_version=99)))
    # the neighbour: the same arrays and metadata saved again the same way
    add("resaved_good", lambda p: _save(p, arrays))
    return files


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("modelfile")
    (folder / "data.csv").write_text(DATA)
    (folder / "c.yaml").write_text("seed: 2\ndata: {train: data.csv, target: label, "
                                   "val_fraction: 0}\nmodel: {hidden: [4]}\n"
                                   "training: {epochs: 3, checkpoint_every: 1}\n")
    proc = run_cli("train", folder / "c.yaml", "--out", folder / "run", env=ENV)
    assert proc.returncode == 0, proc.stderr
    marker = folder / "MARKER"
    files = _make_bad_files(folder, folder / "run" / "model.npz", str(marker))
    calls = {}
    for name, path in files.items():
        calls[f"eval-{name}"] = ("eval", path, "--data", folder / "data.csv", "--json")
        if name in PREDICT_TOO:
            calls[f"predict-{name}"] = ("predict", path, "--data", folder / "data.csv")
    return folder, files, marker, run_all(calls)


# eval and predict load models through the same function; predict is run on the files whose
# damage would show only when the model is used (and on the payloads), to keep this fast
PREDICT_TOO = {"pickled_weight_array", "truncated", "huge_layer_in_metadata", "unknown_task",
               "classes_missing", "loss_for_other_task", "future_version", "resaved_good"}
BAD = ["raw_pickle", "pickled_weight_array", "pickled_metadata", "empty_file", "truncated",
       "random_bytes", "corrupt_member", "zip_without_meta", "zip_of_text", "metadata_not_json",
       "metadata_not_a_mapping", "wrong_shape", "missing_array", "nan_weights", "inf_bias",
       "text_array", "huge_layer_in_metadata", "unknown_task", "classes_missing",
       "loss_for_other_task", "scaler_with_nan", "wrong_format"]


@pytest.mark.parametrize("name,command", [(n, "eval") for n in BAD]
                         + [(n, "predict") for n in BAD if n in PREDICT_TOO])
def test_a_damaged_model_file_is_refused(model_files, name, command):
    _, files, _, procs = model_files
    first = assert_clean_error(procs[f"{command}-{name}"], 2, INVALID)
    assert files[name].name in first, first
    assert procs[f"{command}-{name}"].stdout == ""  # no predictions from a bad model


def test_a_file_that_is_no_model_at_all_says_what_to_give_instead(model_files, tmp_path):
    # a config, a history.csv: named by mistake, not damaged; the hint says what to give
    folder, _, _, _ = model_files
    proc = run_cli("eval", folder / "c.yaml", env=ENV)
    assert_clean_error(proc, 2, INVALID, "not a zip archive")
    assert proc.stderr.splitlines()[-1].startswith("that is a config: train it first")
    proc = run_cli("predict", folder / "run" / "history.csv", "--data", folder / "data.csv",
                   env=ENV)
    assert_clean_error(proc, 2, INVALID, "not a zip archive")
    assert proc.stderr.splitlines()[-1] == f"give the run folder: {folder / 'run'}"
    assert "BadZipFile" not in proc.stderr
    # an emptied model.npz in a run folder is the right file, damaged: no hint to give another
    emptied = tmp_path / "run"
    emptied.mkdir()
    (emptied / "model.npz").write_bytes(b"")
    for target in (emptied, emptied / "model.npz"):
        proc = run_cli("eval", target, "--data", folder / "data.csv", env=ENV)
        assert_clean_error(proc, 2, INVALID)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_a_future_format_version_is_refused_by_name(model_files, command):
    _, _, _, procs = model_files
    assert_clean_error(procs[f"{command}-future_version"], 2, "version 99", "not supported")


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_the_same_arrays_saved_again_still_load(model_files, command):
    folder, _, _, procs = model_files
    proc = procs[f"{command}-resaved_good"]
    assert proc.returncode == 0, proc.stderr
    same = run_cli(command, folder / "run" / "model.npz", "--data", folder / "data.csv",
                   *(["--json"] if command == "eval" else []), env=ENV)
    assert proc.stdout == same.stdout


def test_pickled_payloads_never_run(model_files):
    _, files, marker, _ = model_files
    assert not marker.exists()
    # the control: the payloads are live, and an unsafe loader would have run them
    with np.load(files["pickled_weight_array"], allow_pickle=True) as f:
        assert f["param/dense_1.W"].dtype == object
    assert marker.is_dir()
    os.rmdir(marker)
    pickle.loads(files["raw_pickle"].read_bytes())
    assert marker.is_dir()
    os.rmdir(marker)


def test_a_checkpoint_with_nan_weights_is_not_resumed(model_files, tmp_path):
    folder, _, _, _ = model_files
    run = tmp_path / "run"
    shutil.copytree(folder / "run", run)
    with np.load(run / "checkpoint.npz", allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["param/dense_2.W"] = arrays["param/dense_2.W"] * np.nan
    np.savez(run / "checkpoint.npz", **arrays)
    model_before = (run / "model.npz").read_bytes()
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("epochs: 3", "epochs: 5"))
    first = assert_clean_error(run_cli("train", "--resume", run, env=ENV), 2, INVALID)
    assert "checkpoint.npz" in first and "non-finite" in first
    assert (run / "model.npz").read_bytes() == model_before


def test_a_good_checkpoint_is_a_valid_model_file(model_files):
    folder, _, _, _ = model_files
    proc = run_cli("eval", folder / "run" / "checkpoint.npz", "--data", folder / "data.csv",
                   "--json", env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n"] == 6


# ------------------------------------------------------------------------------------------
# property: whatever the metadata says, loading gives a usable model or ModelFileError


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**13) | st.floats(allow_nan=True)
    | st.text(max_size=8) | st.sampled_from(["classification", "regression", "bce", "mse",
                                              "cross_entropy", "dense", "relu", "string"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "in", "out", "name", "kind", "classes", "mean", "scale",
                         "feature_names", "alpha", "rate", "init"]), inner, max_size=4),
    max_leaves=12)


def _paths(value, prefix=()):
    """Every place inside a JSON value: key paths to dict entries and list items."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


@pytest.fixture(scope="module")
def good_model(model_files):
    folder = model_files[0]
    with np.load(folder / "run" / "model.npz", allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays.pop("meta.json").tobytes())
    from nnlearn.data import read_csv

    table = read_csv(folder / "data.csv", target="label")
    return folder, arrays, meta, sorted(_paths(meta), key=repr)[1:], table


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_metadata_gives_a_usable_model_or_a_model_file_error(good_model, data):
    from nnlearn.errors import ModelFileError
    from nnlearn.runs import run as runs
    from nnlearn.runs.modelfile import load_model, save_arrays

    folder, arrays, meta, paths, table = good_model
    meta = json.loads(json.dumps(meta))
    for _ in range(data.draw(st.integers(1, 3))):
        path, value = data.draw(st.sampled_from(paths)), data.draw(JSON_VALUES)
        with contextlib.suppress(KeyError, IndexError, TypeError):  # gone after a change
            parent = meta
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = value
    target = folder / "fuzzed.npz"
    try:
        save_arrays(target, arrays, meta)
    except ValueError:  # NaN in the metadata: save_arrays writes strict JSON only
        meta_bytes = json.dumps(meta).encode()
        np.savez(target, **arrays, **{"meta.json": np.frombuffer(meta_bytes, dtype=np.uint8)})
    try:
        model = load_model(target)
    except ModelFileError:
        event("refused")
        return
    event("loaded")
    _, rows = runs.predict_rows(model, table, proba=model.task == "classification")
    assert len(rows) == table.n_rows
    if model.task == "classification":
        assert {r[0] for r in rows} <= set(model.classes)
        assert all(np.isfinite(r[1:]).all() for r in rows)
    else:
        assert all(np.isfinite(r[0]) for r in rows)
