"""Hostile and damaged files: special files, oversized and self-expanding YAML/JSON, model and
checkpoint files whose members lie about their shapes, outputs that would overwrite inputs,
damaged run folders read back. Each is exit 2 (or tolerated), never exit 1, never a hang."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import CONFIGS, DATA, assert_clean_error, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlearn.errors import ConfigError, ModelFileError, NnlearnError
from nnlearn.runs import run as runs
from nnlearn.runs import safeio
from nnlearn.runs.config import load_config, yaml_load
from nnlearn.runs.modelfile import load_arrays, load_model, save_arrays

ENV = {"NNLEARN_THREADS": "1"}
fifo_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished iris run with a checkpoint (a real model and a real checkpoint file)."""
    folder = tmp_path_factory.mktemp("hard") / "run"
    cfg = load_config(CONFIGS / "iris.yaml", ["training.epochs=3", "training.checkpoint_every=1",
                                               "training.optimizer=adam", "seed=0"])
    runs.train(cfg, out=folder)
    return folder


def copy_run(trained: Path, tmp_path: Path, name: str = "copy") -> Path:
    target = tmp_path / name
    shutil.copytree(trained, target)
    return target


# ------------------------------------------------------------------------------------------
# special files: refused without blocking


@fifo_only
@pytest.mark.parametrize("reader", ["model", "config", "sweep", "metrics", "history"])
def test_a_fifo_is_refused_wherever_a_file_is_read_without_blocking(tmp_path, trained, reader):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # nobody ever writes to it: opening it the blocking way would hang
    if reader == "model":
        with pytest.raises(ModelFileError, match="not a regular file"):
            load_model(fifo)
    elif reader == "config":
        with pytest.raises(ConfigError, match="not a regular file"):
            load_config(fifo)
    elif reader == "sweep":
        from nnlearn.sweeps.sweep import load_sweep

        with pytest.raises(ConfigError, match="not a regular file"):
            load_sweep(fifo)
    else:
        run = copy_run(trained, tmp_path)
        name = {"metrics": "metrics.json", "history": "history.csv"}[reader]
        (run / name).unlink()
        os.mkfifo(run / name)
        if reader == "metrics":
            from nnlearn.sweeps.compare import read_run

            with pytest.raises(NnlearnError, match="not a regular file"):
                read_run(run)
        else:
            with pytest.raises(NnlearnError, match="not a regular file"):
                runs.read_history(run / name)


@fifo_only
def test_the_cli_refuses_a_fifo_model_and_config_with_exit_2(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    proc = run_cli("eval", fifo, "--data", DATA / "iris-test.csv", env=ENV, timeout=60)
    assert_clean_error(proc, 2, "not a regular file", "pipe")
    proc = run_cli("config", "show", fifo, env=ENV, timeout=60)
    assert_clean_error(proc, 2, "not a regular file")


# ------------------------------------------------------------------------------------------
# YAML and JSON without bounds

#: One line of YAML whose value, aliases expanded, holds 10**8 numbers (each anchor repeats the
#: previous one ten times).
BOMB = "[" + ", ".join(["&a0 [" + ", ".join(["1"] * 10) + "]"] + [
    f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]) + "]"
ALIAS_BOMB = f"model: {{hidden: {BOMB}}}"


def test_an_alias_bomb_is_refused_before_it_is_walked():
    with pytest.raises(ConfigError, match="alias"):
        yaml_load(ALIAS_BOMB + "\n", "bomb.yaml")


def test_a_self_referencing_alias_is_refused():
    with pytest.raises(ConfigError, match="contains it"):
        yaml_load("a: &a [1, *a]\n", "loop.yaml")


def test_shared_aliases_within_bounds_still_load():
    value = yaml_load("base: &b {x: 1}\nuse: [*b, *b, *b]\n", "ok.yaml")
    assert value["use"] == [{"x": 1}] * 3


@pytest.mark.parametrize("where", ["grid", "runs", "set"])
def test_an_alias_bomb_in_a_sweep_file_is_exit_2_at_once(tmp_path, where):
    text = {"grid": f"grid: {{model.hidden: {BOMB}}}",
            "runs": f"runs: [{{model.hidden: {BOMB}}}]",
            "set": f"set: {{model.hidden: {BOMB}}}"}[where]
    path = tmp_path / "bomb.yaml"
    path.write_text(f"base: {CONFIGS / 'xor.yaml'}\n{text}\n")
    proc = run_cli("sweep", path, "--out", tmp_path / "out", env=ENV, timeout=60)
    assert_clean_error(proc, 2, "bomb.yaml", "alias")


def test_an_alias_bomb_in_a_run_folders_config_is_refused_by_compare(tmp_path, trained):
    from nnlearn.sweeps.compare import compare_runs

    bad = copy_run(trained, tmp_path)
    (bad / "config.yaml").write_text(ALIAS_BOMB + "\n")
    with pytest.raises(ConfigError, match="alias"):
        compare_runs([trained, bad])


@pytest.mark.parametrize("depth", [150, 5_000])
def test_deeply_nested_yaml_is_a_config_error(depth):
    with pytest.raises(ConfigError, match="nested|deep|invalid YAML"):
        yaml_load("[" * depth + "]" * depth, "deep.yaml")


@pytest.mark.parametrize("text, problem", [
    ("[" * 100_000 + "]" * 100_000, "nested"),
    ('{"a":' * 150 + "1" + "}" * 150, "nested"),
    ('{"epochs": ' + "9" * 400 + "}", "digits"),
    ('{"loss": NaN}', "NaN"),
    ('{"loss": Infinity}', "Infinity"),
    ("\xff", "JSON"),
])
def test_json_is_read_with_bounds(text, problem):
    with pytest.raises(NnlearnError, match=problem):
        safeio.json_load(text, "x.json")


@pytest.mark.parametrize("content", [
    "[" * 100_000 + "]" * 100_000,
    '{"status": "ok", "val": {"loss": ' + "1" * 400 + "}}",
    '{"status": "ok", "epochs": true}',
    '{"status": 3}',
    "[1, 2]",
], ids=["deep", "huge-int", "bool-epochs", "status-number", "list"])  # short: ids go into env
def test_compare_refuses_a_damaged_metrics_json_with_exit_2(tmp_path, trained, content):
    bad = copy_run(trained, tmp_path)
    (bad / "metrics.json").write_text(content)
    proc = run_cli("compare", trained, bad, env=ENV, timeout=60)
    assert_clean_error(proc, 2, "metrics.json")


def test_a_damaged_metrics_json_makes_a_sweep_run_count_as_unfinished(tmp_path):
    from nnlearn.sweeps.sweep import _read_summary

    (tmp_path / "metrics.json").write_text('{"status": "ok", "epochs": ' + "9" * 400 + "}")
    assert _read_summary(tmp_path) is None


def test_config_and_sweep_files_have_a_size_cap(tmp_path, monkeypatch):
    from nnlearn.sweeps.sweep import load_sweep

    monkeypatch.setattr(safeio, "MAX_CONFIG_BYTES", 1000)
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * 200 + (CONFIGS / "xor.yaml").read_text())
    with pytest.raises(ConfigError, match="more than the 1,000 bytes"):
        load_config(big)
    with pytest.raises(ConfigError, match="more than the 1,000 bytes"):
        load_sweep(big)
    small = tmp_path / "small.yaml"
    small.write_text("data: {train: x.csv, target: y}\n")
    assert load_config(small)["data"]["target"] == "y"


# ------------------------------------------------------------------------------------------
# model and checkpoint files


def _npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    """A version 1.0 .npy header claiming ``shape`` (the data may be missing)."""
    text = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape!r}, }}"
    text += " " * ((64 - (10 + len(text) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode()


def _rewrite(source: Path, target: Path, replace: dict[str, bytes],
             compress: int = zipfile.ZIP_STORED) -> Path:
    assert set(replace) <= set(zipfile.ZipFile(source).namelist())
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", compress) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, replace.get(info.filename, zin.read(info.filename)))
    return target


def test_a_member_claiming_a_huge_shape_is_refused_before_allocating(tmp_path, trained):
    target = _rewrite(trained / "model.npz", tmp_path / "huge.npz",
                      {"param/dense_1.W.npy": _npy_header((10**11,))})
    with pytest.raises(ModelFileError, match="shape"):
        load_model(target)


def test_a_member_whose_size_disagrees_with_its_header_is_refused(tmp_path, trained):
    W = load_arrays(trained / "model.npz")[0]["param/dense_1.W"]
    buf = io.BytesIO()
    np.lib.format.write_array(buf, W)
    target = _rewrite(trained / "model.npz", tmp_path / "short.npz",
                      {"param/dense_1.W.npy": buf.getvalue()[:-8]})
    with pytest.raises(ModelFileError, match="declares"):
        load_model(target)


def test_a_compressed_bomb_is_refused_before_it_is_inflated(tmp_path, trained):
    zeros = np.zeros(16 * 2**20 // 8)  # 16 MiB of zeros deflate to a few kilobytes
    buf = io.BytesIO()
    np.lib.format.write_array(buf, zeros)
    target = _rewrite(trained / "model.npz", tmp_path / "bomb.npz",
                      {"param/dense_1.W.npy": buf.getvalue()}, zipfile.ZIP_DEFLATED)
    assert target.stat().st_size < 2**20
    with pytest.raises(ModelFileError, match="uncompressed"):
        load_model(target)


def test_a_compressed_model_of_honest_size_still_loads(tmp_path, trained):
    target = _rewrite(trained / "model.npz", tmp_path / "zipped.npz", {},
                      zipfile.ZIP_DEFLATED)
    assert load_model(target).feature_names == load_model(trained / "model.npz").feature_names


@pytest.mark.parametrize("change, problem", [
    (lambda m: m["architecture"][1].update(alpha=1e300, type="leaky_relu"), "alpha"),
    (lambda m: m["architecture"][1].update(alpha=-1.0, type="leaky_relu"), "alpha"),
    (lambda m: m["architecture"][1].update(alpha=0.0, type="elu"), "alpha"),
    (lambda m: m["architecture"][1].update(type="softmax_of_doom"), "unknown layer type"),
    (lambda m: m["architecture"][1].update(gain=2.0), "unknown key"),
    (lambda m: m["architecture"][0].update(name="a/b"), "'/'"),
    (lambda m: m["architecture"][0].update(init="zeros"), "init"),
])
def test_layer_settings_in_a_model_file_are_checked_like_a_config(tmp_path, trained, change,
                                                                     problem):
    arrays, meta = load_arrays(trained / "model.npz")
    change(meta)
    save_arrays(tmp_path / "m.npz", arrays, meta)
    with pytest.raises(ModelFileError, match=problem):
        load_model(tmp_path / "m.npz")


def test_a_valid_leaky_relu_alpha_from_a_file_is_kept(tmp_path, trained):
    arrays, meta = load_arrays(trained / "model.npz")
    meta["architecture"][1] = {"type": "leaky_relu", "alpha": 0.2}
    save_arrays(tmp_path / "m.npz", arrays, meta)
    assert load_model(tmp_path / "m.npz").network.spec()[1] == meta["architecture"][1]


def _checkpoint_with(trained: Path, tmp_path: Path, change) -> Path:
    run = copy_run(trained, tmp_path)
    arrays, meta = load_arrays(run / "checkpoint.npz")
    change(meta["training_state"])
    payload = {"meta.json": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays}
    (run / "checkpoint.npz").unlink()
    np.savez(run / "checkpoint.npz", **payload)
    (run / "metrics.json").unlink()  # an interrupted run, so resume tries the checkpoint
    return run


@pytest.mark.parametrize("change, problem", [
    (lambda s: s.update(epoch=-3), "epoch"),
    (lambda s: s.update(epoch=10**12), "epoch"),
    (lambda s: s.update(epoch=1.5), "epoch"),
    (lambda s: s.update(epoch=float("inf")), "Infinity"),
    (lambda s: s.update(stop_reason=["not", "text"]), "stop_reason"),
    (lambda s: s.update(lr=-1.0), "lr"),
    (lambda s: s.update(history="rows"), "history"),
    (lambda s: s.update(history=[{"epoch": "one"}] * len(s["history"])), "history"),
    (lambda s: s["optimizer_numbers"].update(t=-1), "optimizer_numbers.t"),
    (lambda s: s.update(rng={"bit_generator": "PCG64", "state": "broken"}), "checkpoint"),
    (lambda s: s.update(callbacks="none"), "callbacks"),
    (lambda s: s.pop("rng"), "rng"),
    (lambda s: s["callbacks"].append({"best": "x", "wait": 10**30}), "callbacks"),
    (lambda s: s.update(schedule={"last_epoch": 10**30}), "schedule.last_epoch"),
])
def test_a_checkpoint_state_is_validated_like_a_config(tmp_path, trained, change, problem):
    run = _checkpoint_with(trained, tmp_path, change)
    with pytest.raises(NnlearnError, match=problem) as info:
        runs.resume(run)
    assert info.value.exit_code == 2


def _checkpoint_arrays_with(trained: Path, tmp_path: Path, change) -> Path:
    run = copy_run(trained, tmp_path)
    arrays, meta = load_arrays(run / "checkpoint.npz")
    change(arrays)
    payload = {"meta.json": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays}
    (run / "checkpoint.npz").unlink()
    np.savez(run / "checkpoint.npz", **payload)
    (run / "metrics.json").unlink()
    return run


# The optimizers' and schedules' load_state_dict copy what they are given; these checkpoints
# would load half-way (SGD's state from Adam's), or broadcast into the wrong shape, without the
# run's check that the state is the one its trainer keeps.
@pytest.mark.parametrize("change, problem", [
    (lambda a: a.pop("optim/v/dense_1.W"), "optimizer state"),
    (lambda a: a.update({"optim/s/dense_1.W": a["optim/m/dense_1.W"]}), "optimizer state"),
    (lambda a: a.update({"optim/m/dense_1.b": a["optim/m/dense_1.b"][:1]}), "shape"),
    (lambda a: a.update({"optim/m/dense_1.b": a["optim/m/dense_1.b"].astype(np.int64)}),
     "int64"),
])
def test_a_checkpoint_of_another_optimizer_state_is_refused(tmp_path, trained, change, problem):
    run = _checkpoint_arrays_with(trained, tmp_path, change)
    with pytest.raises(NnlearnError, match=problem) as info:
        runs.resume(run)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("change", [
    lambda s: s.update(schedule={"last_epoch": 2, "lr": 0.1, "best": 0.0, "has_best": 0,
                                 "num_bad_epochs": 0, "cooldown_counter": 0}),
    lambda s: s.update(schedule={"last_epoch": 1.0}),
    lambda s: s.update(schedule=None),
    lambda s: s["optimizer_numbers"].update(beta=0.5),
])
def test_a_checkpoint_of_another_schedule_state_is_refused(tmp_path, trained, change):
    run = _checkpoint_with(trained, tmp_path, change)
    with pytest.raises(NnlearnError, match="does not match the run's config") as info:
        runs.resume(run)
    assert info.value.exit_code == 2


def test_a_hostile_checkpoint_is_exit_2_on_the_command_line(tmp_path, trained):
    run = _checkpoint_with(trained, tmp_path, lambda s: s.update(stop_reason=7))
    proc = run_cli("train", "--resume", run, "-q", env=ENV, timeout=120)
    assert_clean_error(proc, 2, "stop_reason")


def test_an_untouched_checkpoint_still_resumes(tmp_path, trained):
    run = _checkpoint_with(trained, tmp_path, lambda s: None)
    assert runs.resume(run).epochs == 3


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_model_files_load_or_are_refused(tmp_path, trained, data):
    """Random byte flips and truncations of a real model file: it loads and predicts, or it
    is refused with a ModelFileError (exit 2). Any other exception would be exit 1."""
    raw = bytearray((trained / "model.npz").read_bytes())
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[:data.draw(st.integers(0, len(raw) - 1), label="length")]
    for _ in range(data.draw(st.integers(1, 8), label="flips")):
        if raw:
            at = data.draw(st.integers(0, len(raw) - 1), label="at")
            raw[at] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    path = tmp_path / "fuzzed.npz"
    path.write_bytes(bytes(raw))
    try:
        model = load_model(path)
    except ModelFileError:
        return
    X = np.zeros((2, len(model.feature_names)))
    model.predict(X)


# ------------------------------------------------------------------------------------------
# outputs that are inputs


@pytest.mark.parametrize("target", ["model.npz", "config.yaml", "history.csv"])
def test_predict_refuses_to_write_over_a_file_it_reads(tmp_path, trained, target):
    run = copy_run(trained, tmp_path)
    before = (run / target).read_bytes()
    proc = run_cli("predict", run, "--data", DATA / "iris-test.csv", "--out", run / target,
                   env=ENV, timeout=120)
    assert_clean_error(proc, 2, "reads")
    assert (run / target).read_bytes() == before


def test_predict_refuses_to_write_over_its_data_and_through_a_link(tmp_path, trained):
    run = copy_run(trained, tmp_path)
    data = tmp_path / "data.csv"
    shutil.copy(DATA / "iris-test.csv", data)
    link = tmp_path / "link.npz"
    link.symlink_to(run / "model.npz")
    for out in (data, link):
        proc = run_cli("predict", run, "--data", data, "--out", out, env=ENV, timeout=120)
        assert_clean_error(proc, 2, "reads")
    proc = run_cli("predict", run / "model.npz", "--data", data, "--out", run / "model.npz",
                   env=ENV, timeout=120)
    assert_clean_error(proc, 2, "reads")
    ok = run_cli("predict", run, "--data", data, "--out", tmp_path / "p.csv", env=ENV,
                 timeout=120)
    assert ok.returncode == 0 and (tmp_path / "p.csv").read_text().startswith("prediction")


def test_plot_refuses_an_output_that_is_an_input(tmp_path, trained):
    run = copy_run(trained, tmp_path)
    before = (run / "history.csv").read_bytes()
    proc = run_cli("plot", run, "-o", run / "history.csv", env=ENV, timeout=120)
    assert_clean_error(proc, 2, "reads")
    proc = run_cli("plot", tmp_path, "-o", run / "metrics.json", env=ENV, timeout=120)
    assert_clean_error(proc, 2, "reads")  # a sweep-like folder holding the run
    proc = run_cli("plot", run, "--confusion", "--data", DATA / "iris-test.csv", "-o",
                   run / "model.npz", env=ENV, timeout=120)
    assert_clean_error(proc, 2, "reads")
    assert (run / "history.csv").read_bytes() == before


# ------------------------------------------------------------------------------------------
# damaged run folders read back


def test_a_history_cut_short_is_tolerated(tmp_path, trained):
    run = copy_run(trained, tmp_path)
    text = (run / "history.csv").read_text()
    full = runs.read_history(run / "history.csv")
    for cut in range(len(text.splitlines()[0]) + 1, len(text)):
        (run / "history.csv").write_text(text[:cut])
        rows = runs.read_history(run / "history.csv")
        assert len(rows) <= len(full)
        assert all(r.items() <= f.items() or r["epoch"] == f["epoch"] for r, f in zip(rows, full))
    proc = run_cli("plot", run, "--text", env=ENV, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("damage", [
    lambda t: t.replace("\n1,", "\nx,", 1),
    lambda t: t.replace("\n", "\n1,2,3,4,5,6,7,8,9,10,11,12\n", 1),
    lambda t: t.replace("\n", "\n\x00\n", 1),
])
def test_a_damaged_history_is_exit_2_naming_the_file(tmp_path, trained, damage):
    run = copy_run(trained, tmp_path)
    (run / "history.csv").write_text(damage((run / "history.csv").read_text()))
    proc = run_cli("plot", run, "--text", env=ENV, timeout=120)
    assert_clean_error(proc, 2, "history.csv")


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="names must be UTF-8 there")
@pytest.mark.parametrize("text", [True, False])
def test_plot_draws_a_run_folder_whose_name_is_not_utf8(tmp_path, trained, text):
    pytest.importorskip("matplotlib")
    name = os.fsdecode(b"run-\xff")
    run = copy_run(trained, tmp_path, name)
    args = ["plot", os.fspath(run)] + (["--text"] if text else [])
    env = {**os.environ, **ENV, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-m", "nnlearn", *args], env=env,
                          capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    if not text:  # the path printed is the real one, byte for byte
        assert (run / "curves.png").is_file()
        assert os.fsencode(run / "curves.png") in proc.stdout


def test_a_run_folder_config_that_is_not_utf8_is_exit_2(tmp_path, trained):
    run = copy_run(trained, tmp_path)
    (run / "config.yaml").write_bytes(b"seed: \xff\n")
    proc = run_cli("compare", trained, run, env=ENV, timeout=60)
    assert_clean_error(proc, 2, "not UTF-8")


@pytest.mark.parametrize("value", ["!!set {a, b}", "!!binary aGVsbG8=", "!!omap [a: 1]",
                                   "!!timestamp 2020-01-01", "!!pairs [a: 1]"])
def test_yaml_values_without_a_json_equivalent_are_refused(value):
    with pytest.raises(ConfigError, match="is not allowed"):
        yaml_load(f"x: {value}\n", "tags.yaml")


def test_compare_tolerates_mapping_keys_of_mixed_types(tmp_path, trained):
    from nnlearn.sweeps.compare import compare_runs

    run = copy_run(trained, tmp_path)
    (run / "config.yaml").write_text("x: [{1: a, b: c}]\n")
    differs = dict(compare_runs([trained, run]).config)
    assert differs["x"] == [None, [{1: "a", "b": "c"}]]


def test_a_sweep_value_with_mapping_keys_of_mixed_types_gets_a_stable_run_name(tmp_path):
    from nnlearn.sweeps.sweep import load_sweep

    path = tmp_path / "s.yaml"
    path.write_text(f"base: {CONFIGS / 'iris.yaml'}\n"
                    "runs: [{training.class_weight: {setosa: 2.0, 1: 3.0}},\n"
                    "       {training.class_weight: {setosa: 2.0, '1': 3.0}}]\n")
    first = [r.name for r in load_sweep(path).runs]
    assert len(set(first)) == 2 and first == [r.name for r in load_sweep(path).runs]


EXTREMES = [1.7e308, -1.7e308, 5e-324, -5e-324, math.inf, -math.inf, math.nan, 0.0, 1.0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(*[st.one_of(st.sampled_from(EXTREMES), st.floats())] * 2),
                     min_size=1, max_size=12))
def test_text_curves_draw_any_numbers_a_history_may_hold(tmp_path, trained, rows):
    from nnlearn.plots.png import text_curves

    run = tmp_path / "h"
    run.mkdir(exist_ok=True)
    (run / "history.csv").write_text("epoch,train_loss,val_loss\n" + "".join(
        f"{i + 1},{a!r},{b!r}\n" for i, (a, b) in enumerate(rows)))
    assert "loss" in text_curves([run])


@pytest.mark.parametrize("body, problem", [
    (ALIAS_BOMB, "alias"), ("a: &a [1, *a]", "contains it"), ("x: !!set {a}", "not allowed"),
    ("a: 1\na: 2", "duplicate key"), ("[" * 5000 + "]" * 5000, "deep"),
])
def test_a_large_file_is_held_to_the_same_rules(body, problem):
    """Large texts go through libyaml's parser when PyYAML has it: the same rules apply."""
    padding = "# a long comment to pass the size at which the faster parser is used\n" * 1000
    with pytest.raises(ConfigError, match=problem):
        yaml_load(padding + body + "\n", "big.yaml")
    value = yaml_load(padding + "b: 1e-3\nc: 2024-01-01\nd: &x {q: 1}\ne: *x\n", "big.yaml")
    assert value == {"b": 0.001, "c": "2024-01-01", "d": {"q": 1}, "e": {"q": 1}}
