"""Sweeps: expansion, validation, failure isolation, resume, results = each run's metrics.json."""

from __future__ import annotations

import csv
import json
import math
import os
import statistics
import subprocess
import sys
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import CONFIGS, ROOT, assert_clean_error, run_cli

from nnlearn.errors import ConfigError
from nnlearn.sweeps import sweep as sw

XOR = CONFIGS / "xor.yaml"
DIABETES = CONFIGS / "diabetes.yaml"


def write_sweep(folder: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = folder / name
    path.write_text(text.replace("XOR", str(XOR)).replace("DIABETES", str(DIABETES)))
    return path


def run(sweep_path: Path, out: Path, **kwargs) -> sw.SweepResult:
    """Run a sweep on a thread pool: any concurrent.futures executor will do, and threads
    start faster than processes (the CLI tests below use the process pool)."""
    with ThreadPoolExecutor(2) as pool:
        return sw.run_sweep(sw.load_sweep(sweep_path), out, executor=pool, **kwargs)


def read_results(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def metrics_json(out: Path, name: str) -> dict:
    return json.loads((out / name / "metrics.json").read_text())


# A sweep with a good run, a diverging run and a run whose data file does not exist.
MIXED = """
base: DIABETES
set: {training.epochs: 3}
runs:
  - {training.learning_rate: 0.01}
  - {training.learning_rate: 10.0}
  - {data.train: no-such-file.csv}
seeds: [0]
metric: val_loss
"""

XOR_GRID = """
base: XOR
set: {training.epochs: 20}
grid:
  training.learning_rate: [0.1, 0.5]
  model.hidden: [[2], [4]]
seeds: [0, 1]
metric: train_loss
"""


# ------------------------------------------------------------------------------------------
# expansion


def test_grid_expands_to_every_combination_times_every_seed(tmp_path):
    s = sw.load_sweep(write_sweep(tmp_path, """
base: XOR
grid:
  training.learning_rate: [0.01, 0.1, 1.0]
  model.hidden: [[8], [16, 16]]
seeds: [0, 1]
"""))
    assert len(s.variants) == 6
    assert len(s.runs) == 12
    combos = [(r.cfg["training"]["learning_rate"], tuple(r.cfg["model"]["hidden"]), r.cfg["seed"])
              for r in s.runs]
    assert sorted(combos) == sorted((lr, h, seed) for lr in (0.01, 0.1, 1.0)
                                    for h in ((8,), (16, 16)) for seed in (0, 1))
    assert len({r.name for r in s.runs}) == 12
    assert s.varied_keys == ["training.learning_rate", "model.hidden"]


def test_grid_runs_and_random_add_up_and_identical_variants_run_once(tmp_path):
    s = sw.load_sweep(write_sweep(tmp_path, """
base: XOR
grid:
  training.learning_rate: [0.1, 0.2]
runs:
  - {training.learning_rate: 0.1}       # the same as a grid variant: kept once
  - {training.batch_size: 2}
random:
  trials: 3
  seed: 7
  space: {training.learning_rate: {uniform: [0.3, 0.9]}}
"""))
    assert len(s.variants) == 2 + 1 + 3
    assert [r.cfg["seed"] for r in s.runs] == [1] * 6  # no seeds: the base config's seed


def test_set_applies_to_every_run_and_the_variant_wins(tmp_path):
    s = sw.load_sweep(write_sweep(tmp_path, """
base: XOR
set: {training.epochs: 7, training.learning_rate: 0.3}
grid: {training.learning_rate: [0.1, 0.2]}
"""))
    assert [r.cfg["training"]["epochs"] for r in s.runs] == [7, 7]
    assert [r.cfg["training"]["learning_rate"] for r in s.runs] == [0.1, 0.2]
    assert s.varied_keys == ["training.learning_rate"]


RANDOM = """
base: XOR
random:
  trials: {trials}
  seed: {seed}
  space:
    training.learning_rate: {{loguniform: [1.0e-4, 1.0]}}
    training.optimizer.momentum: {{uniform: [0.5, 0.9]}}
    model.hidden: {{choice: [[2], [4], [8, 8]]}}
"""


def _drawn(tmp_path, trials, seed, name):
    s = sw.load_sweep(write_sweep(tmp_path, RANDOM.format(trials=trials, seed=seed), name))
    return [v.overrides for v in s.variants]


def test_random_search_is_reproducible_by_its_seed(tmp_path):
    first = _drawn(tmp_path, 10, 3, "a.yaml")
    assert first == _drawn(tmp_path, 10, 3, "b.yaml")
    assert first != _drawn(tmp_path, 10, 4, "c.yaml")
    for o in first:
        assert 1e-4 <= o["training.learning_rate"] <= 1.0
        assert 0.5 <= o["training.optimizer.momentum"] <= 0.9
        assert o["model.hidden"] in ([2], [4], [8, 8])


def test_loguniform_spreads_evenly_over_the_decades(tmp_path):
    # [1e-4, 1] is four decades: about half the draws fall below 1e-2. A uniform draw would
    # put only 1% there.
    lrs = [o["training.learning_rate"] for o in _drawn(tmp_path, 400, 0, "d.yaml")]
    below = sum(lr < 1e-2 for lr in lrs) / len(lrs)
    assert 0.4 < below < 0.6, below


def test_run_names_are_deterministic_readable_and_seeded(tmp_path):
    a = sw.load_sweep(write_sweep(tmp_path, XOR_GRID, "a.yaml"))
    # the same variants written in another order get the same names
    b = sw.load_sweep(write_sweep(tmp_path, XOR_GRID.replace("[0.1, 0.5]", "[0.5, 0.1]"),
                                  "b.yaml"))
    assert sorted(r.name for r in a.runs) == sorted(r.name for r in b.runs)
    name = next(r.name for r in a.runs if r.cfg["training"]["learning_rate"] == 0.5
                and r.cfg["model"]["hidden"] == [4] and r.seed == 1)
    assert name.startswith("lr0.5_h4-") and name.endswith("-s1")


def test_paths_are_relative_to_the_sweep_file(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "base.yaml").write_text(
        f"data: {{train: {CONFIGS.parent / 'data' / 'xor.csv'}, target: label}}\n")
    sweeps = tmp_path / "configs" / "sweeps"
    sweeps.mkdir()
    path = sweeps / "s.yaml"
    path.write_text("base: ../base.yaml\nruns: [{data.train: ../../other.csv}]\n")
    s = sw.load_sweep(path)
    assert s.base == tmp_path / "configs" / "base.yaml"
    assert s.runs[0].cfg["data"]["train"] == str(tmp_path / "other.csv")


# ------------------------------------------------------------------------------------------
# validation: every variant before any run


@pytest.mark.parametrize("text, where, problem", [
    ("base: XOR\ngrdi: {training.epochs: [1]}\n", "grdi", "did you mean 'grid'"),
    ("grid: {training.epochs: [1]}\n", "base", "base config"),
    ("base: no-such.yaml\n", "no-such.yaml", "not found"),
    ("base: XOR\ngrid: {training.learnig_rate: [0.1]}\n", "grid.training.learnig_rate",
     "did you mean 'learning_rate'"),
    ("base: XOR\ngrid: {training.learning_rate: [0.1, -1]}\n",
     "grid.training.learning_rate[1]", "expected a number > 0"),
    ("base: XOR\ngrid: {training.learning_rate: 0.1}\n", "grid.training.learning_rate",
     "non-empty list"),
    ("base: XOR\nruns: [{model.hidden: [4]}, {model.hidden: 4}]\n", "runs[1].model.hidden",
     "expected a list"),
    ("base: XOR\ngrid: {seed: [1, 2]}\n", "grid.seed", "seeds: [...]"),
    ("base: XOR\ngrid: {training: [{epochs: 1}]}\n", "grid.training", "whole section"),
    ("base: XOR\nruns: [{output.dir: x}]\n", "runs[0].output.dir", "cannot be varied"),
    ("base: XOR\nrandom: {trials: 2, space: {training.learning_rate: {normal: [0, 1]}}}\n",
     "random.space.training.learning_rate", "loguniform"),
    ("base: XOR\nrandom: {trials: 2, space: {training.learning_rate: {loguniform: [0, 1]}}}\n",
     "random.space.training.learning_rate.loguniform", "low > 0"),
    ("base: XOR\nrandom: {trials: 0, space: {training.epochs: {choice: [1]}}}\n",
     "random.trials", "integer >= 1"),
    ("base: XOR\nrandom: {trials: 3, space: {training.learning_rate: {uniform: [-1, 1]}}}\n",
     "random.space.training.learning_rate (trial", "expected a number > 0"),
    ("base: XOR\nseeds: [0, 0]\n", "seeds", "twice"),
    ("base: XOR\nseeds: [0, -1]\n", "seeds[1]", "integer >= 0"),
    ("base: XOR\nmetric: val_acuracy\n", "metric", "did you mean 'val_accuracy'"),
    ("base: XOR\nmetric: val_accuracy\n", "metric", "val_fraction is 0"),
    ("base: XOR\nmetric: test_r2\n", "metric", "does not fit data.task"),
    ("base: XOR\ngrid: {training.batching: [full, stochastic]}\n",
     "grid.training.batching[1]", "batch_size"),
])
def test_a_bad_sweep_file_is_refused_naming_the_key(tmp_path, text, where, problem):
    path = write_sweep(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        sw.load_sweep(path)
    message = str(info.value) + " " + (info.value.hint or "")
    assert str(path) in message or "no-such.yaml" in message
    assert where in message, message
    assert problem in message, message


def test_the_cli_refuses_a_bad_variant_before_running_anything(tmp_path):
    path = write_sweep(tmp_path, """
base: XOR
runs:
  - {training.epochs: 5}
  - {training.epochs: 5}
  - {training.epochs: 0}
""")
    out = tmp_path / "out"
    proc = run_cli("sweep", path, "--out", out)
    assert_clean_error(proc, 2, "runs[2].training.epochs", "expected an integer >= 1")
    assert not out.exists()


# ------------------------------------------------------------------------------------------
# running: failure isolation, results, resume


def test_a_failing_run_is_recorded_and_does_not_stop_the_others(tmp_path):
    out = tmp_path / "out"
    result = run(write_sweep(tmp_path, MIXED), out)
    by_lr = {(r["values"]["training.learning_rate"], Path(r["values"]["data.train"]).name): r
             for r in result.records}
    ok = by_lr[(0.01, "diabetes-train.csv")]
    diverged = by_lr[(10.0, "diabetes-train.csv")]
    missing = by_lr[(DIABETES_LR, "no-such-file.csv")]
    assert ok["status"] == "ok" and ok["exit_code"] == 0 and ok["error"] is None
    assert (out / ok["name"] / "model.npz").is_file()
    assert diverged["status"] == "diverged"
    assert diverged["reason"] == "DivergedError" and diverged["exit_code"] == 3
    assert "diverged" in diverged["error"]
    assert missing["status"] == "failed"
    assert missing["reason"] == "DataError" and missing["exit_code"] == 2
    assert "no-such-file.csv" in missing["error"]
    assert result.failed == 2
    # each failure is written into its own run folder, config.yaml included
    for rec in (diverged, missing):
        stored = metrics_json(out, rec["name"])
        assert (stored["status"], stored["reason"], stored["exit_code"]) == (
            rec["status"], rec["reason"], rec["exit_code"])
        assert (out / rec["name"] / "config.yaml").is_file()
    rows = {r["name"]: r for r in read_results(out)}
    assert rows[diverged["name"]]["status"] == "diverged"
    assert rows[missing["name"]]["reason"] == "DataError"
    assert rows[ok["name"]]["val_loss"] != ""
    # the failed variants sort after the good one, their failures counted by status
    assert result.summary[0]["variant"] == ok["variant"]
    assert [(s["ok"], s["failed"], s["mean"]) for s in result.summary[1:]] == [
        (0, {"diverged": 1}, None), (0, {"failed": 1}, None)]
    assert "0/1 (1 diverged)" in sw.format_summary(result)


DIABETES_LR = 0.01  # diabetes.yaml's learning rate, which the missing-file run keeps


def test_a_crash_in_the_executor_is_isolated_too(tmp_path):
    class Broken(Executor):
        """Every run's future fails, as when a worker process dies."""

        def submit(self, fn, *args, **kwargs):
            future: Future = Future()
            future.set_exception(RuntimeError("worker lost"))
            return future

    s = sw.load_sweep(write_sweep(tmp_path, XOR_GRID))
    result = sw.run_sweep(s, tmp_path / "out", executor=Broken())
    assert result.failed == len(s.runs)
    assert {r["status"] for r in result.records} == {"error"}
    assert {r["reason"] for r in result.records} == {"RuntimeError"}
    assert all(r["exit_code"] == 1 for r in result.records)


def test_a_bug_inside_a_run_is_recorded_as_an_error(tmp_path, monkeypatch):
    from nnlearn.runs import run as runs

    def boom(*args, **kwargs):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(runs, "train", boom)
    result = run(write_sweep(tmp_path, XOR_GRID), tmp_path / "out")
    assert {r["status"] for r in result.records} == {"error"}
    assert all("ZeroDivisionError: bug" in r["error"] for r in result.records)


def test_results_csv_equals_each_runs_own_metrics_json(tmp_path):
    out = tmp_path / "out"
    result = run(write_sweep(tmp_path, XOR_GRID), out)
    rows = read_results(out)
    assert [r["name"] for r in rows] == [r.name for r in result.sweep.runs]
    metric_columns = [c for c in rows[0] if c in sw.METRIC_NAMES]
    assert {"train_loss", "train_accuracy", "test_loss", "test_accuracy"} <= set(metric_columns)
    for row in rows:
        stored = metrics_json(out, row["name"])
        assert row["status"] == stored["status"] == "ok"
        assert int(row["epochs"]) == stored["epochs"] == 20
        assert int(row["seed"]) == stored["seed"]
        for column in metric_columns:
            split, name = column.split("_", 1)
            assert float(row[column]) == stored[split][name], column  # exact: repr round-trips
        config = (out / row["name"] / "config.yaml").read_text()
        assert f"learning_rate: {row['training.learning_rate']}" in config
        assert f"seed: {row['seed']}" in config


def test_summary_is_mean_and_std_over_seeds_sorted_by_the_metric(tmp_path):
    out = tmp_path / "out"
    result = run(write_sweep(tmp_path, XOR_GRID), out)
    assert len(result.summary) == 4
    for s in result.summary:
        losses = [metrics_json(out, r.name)["train"]["loss"] for r in result.sweep.runs
                  if r.variant == s["variant"]]
        assert len(losses) == 2
        assert s["mean"] == pytest.approx(statistics.mean(losses), rel=1e-12)
        assert s["std"] == pytest.approx(statistics.stdev(losses), rel=1e-12)
    means = [s["mean"] for s in result.summary]
    assert means == sorted(means)  # train_loss: lower is better, best first
    assert [s["rank"] for s in result.summary] == [1, 2, 3, 4]
    text = sw.format_summary(result)
    assert "train_loss (mean ± std)" in text and "lower is better" in text


def test_higher_is_better_metrics_sort_descending():
    assert sw.metric_direction("val_accuracy") == "max"
    assert sw.metric_direction("test_r2") == "max"
    assert sw.metric_direction("val_rmse") == "min"
    variants = [sw.Variant(str(i), {}, {}, str(i)) for i in range(3)]
    records = [{"variant": str(i), "status": "ok", "values": {}, "metrics": {"val_accuracy": a}}
               for i, a in enumerate([0.5, 0.9, 0.7])]
    assert [s["variant"] for s in sw.summarize(records, "val_accuracy", variants)] == \
        ["1", "2", "0"]


def _fingerprints(out: Path) -> dict[str, int]:
    return {p.name: (p / "model.npz").stat().st_mtime_ns for p in out.iterdir() if p.is_dir()}


def test_rerunning_a_sweep_skips_the_finished_runs(tmp_path):
    path, out = write_sweep(tmp_path, XOR_GRID), tmp_path / "out"
    first = run(path, out)
    assert (first.ran, first.reused) == (8, 0)
    before = _fingerprints(out)
    again = run(path, out)
    assert (again.ran, again.reused) == (0, 8)
    assert _fingerprints(out) == before  # not one model file rewritten
    assert again.records == [dict(r, reused=True, seconds=None) for r in first.records]
    # a run whose folder was half written (no metrics.json) is started again, alone
    victim = first.records[3]["name"]
    (out / victim / "metrics.json").unlink()
    third = run(path, out)
    assert (third.ran, third.reused) == (1, 7)
    changed = {k for k, v in _fingerprints(out).items() if before[k] != v}
    assert changed == {victim}
    assert third.records[3]["metrics"] == first.records[3]["metrics"]  # deterministic


def test_retry_failed_reruns_only_the_failed_runs(tmp_path):
    path, out = write_sweep(tmp_path, MIXED), tmp_path / "out"
    first = run(path, out)
    ok_name = next(r["name"] for r in first.records if r["status"] == "ok")
    stamp = (out / ok_name / "model.npz").stat().st_mtime_ns
    kept = run(path, out)
    assert (kept.ran, kept.reused, kept.failed) == (0, 3, 2)
    retried = run(path, out, retry_failed=True)
    assert (retried.ran, retried.reused, retried.failed) == (2, 1, 2)
    assert (out / ok_name / "model.npz").stat().st_mtime_ns == stamp


def test_a_finished_run_is_never_overwritten_by_a_changed_sweep(tmp_path):
    path, out = write_sweep(tmp_path, XOR_GRID), tmp_path / "out"
    run(path, out)
    path.write_text(path.read_text().replace("training.epochs: 20", "training.epochs: 21"))
    with pytest.raises(ConfigError, match="different config"):
        run(path, out)


def test_a_failed_run_whose_config_changed_runs_again(tmp_path):
    # Same run name (same overrides), but the common settings of the sweep file changed: the
    # old failure is not this sweep's result, so it runs again without --retry-failed.
    text = "base: DIABETES\nset: {training.epochs: 3}\nruns: [{training.learning_rate: 10.0}]\n"
    out = tmp_path / "out"
    first = run(write_sweep(tmp_path, text), out)
    assert first.records[0]["status"] == "diverged"
    assert run(write_sweep(tmp_path, text), out).ran == 0
    second = run(write_sweep(tmp_path, text.replace("epochs: 3", "epochs: 2")), out)
    assert second.ran == 1 and second.records[0]["name"] == first.records[0]["name"]
    assert "epochs: 2" in (out / first.records[0]["name"] / "config.yaml").read_text()


# ------------------------------------------------------------------------------------------
# worker processes and the command line


def _blas_probe() -> tuple[str | None, list[int], bool]:
    """Runs inside a worker: the BLAS variable, BLAS's real thread counts, numpy loaded first?"""
    numpy_was_loaded = "numpy" in sys.modules
    import numpy  # noqa: F401
    from threadpoolctl import threadpool_info

    counts = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return os.environ.get("OPENBLAS_NUM_THREADS"), counts, numpy_was_loaded


@pytest.mark.parametrize("threads", [1, 2])
def test_worker_processes_get_the_blas_thread_limit(threads):
    pytest.importorskip("threadpoolctl")
    before = {v: os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    with sw.local_executor(1, blas_threads=threads) as pool:
        env, counts, numpy_was_loaded = pool.submit(_blas_probe).result(timeout=120)
    assert not numpy_was_loaded
    assert env == str(threads)
    assert counts and all(c == threads for c in counts), counts
    assert {v: os.environ.get(v) for v in before} == before  # the parent's env is back


def test_the_sweep_module_does_not_import_numpy():
    # The worker initializer lives in nnlearn.sweeps.sweep: importing it must not load numpy, or the
    # BLAS limit would come too late.
    code = "import sys, nnlearn.sweeps.sweep; print('numpy' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    assert proc.stdout.strip() == "False"


def test_cli_sweep_exit_codes_table_and_resume(tmp_path):
    good = write_sweep(tmp_path, XOR_GRID, "good.yaml")
    out = tmp_path / "good"
    proc = run_cli("sweep", good, "--out", out, "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("sweep good.yaml: 8 runs (8 ran, 0 reused")
    header = next(i for i, line in enumerate(lines) if line.startswith("#  "))
    assert "training.learning_rate" in lines[header] and "model.hidden" in lines[header]
    ranked = [line.split()[0] for line in lines[header + 1: header + 5]]
    assert ranked == ["1", "2", "3", "4"]
    assert f"results: {out / 'results.csv'}" in proc.stdout
    assert proc.stderr.count("[") == 8  # one progress line per run
    assert len(read_results(out)) == 8

    again = run_cli("sweep", good, "--out", out, "--json")
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert (data["ran"], data["reused"], data["failed"]) == (0, 8, 0)
    assert data["metric"] == "train_loss" and len(data["summary"]) == 4

    mixed = write_sweep(tmp_path, MIXED, "mixed.yaml")
    proc = run_cli("sweep", mixed, "--out", tmp_path / "mixed", "--workers", "2")
    assert proc.returncode == sw.EXIT_RUNS_FAILED == 5, proc.stderr
    assert "failed runs:" in proc.stdout and "diverged (DivergedError)" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_cli_sweep_default_out_is_under_runs_sweeps(tmp_path):
    path = write_sweep(tmp_path, "base: XOR\nset: {training.epochs: 2}\n", "tiny.yaml")
    proc = run_cli("sweep", path, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["out"] == str(tmp_path / "runs" / "sweeps" / "tiny")


def test_cli_sweep_refuses_workers_with_a_scheduler(tmp_path):
    path = write_sweep(tmp_path, "base: XOR\n")
    proc = run_cli("sweep", path, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1")
    assert_clean_error(proc, 2, "--workers")


def test_bundled_sweeps_are_valid():
    lr = sw.load_sweep(CONFIGS / "sweeps" / "learning-rate.yaml")
    assert len(lr.variants) == 5 and lr.seeds == [0, 1, 2] and lr.metric == "val_accuracy"
    assert sorted(r.cfg["training"]["learning_rate"] for r in lr.runs)[::3] == \
        [0.001, 0.01, 0.1, 1.0, 3.0]
    batching = sw.load_sweep(CONFIGS / "sweeps" / "batching.yaml")
    regimes = {(r.cfg["training"]["batching"], r.cfg["training"]["batch_size"])
               for r in batching.runs}
    assert regimes == {("full", "full"), ("minibatch", 16), ("stochastic", 1)}
    # the same data, network, optimizer, learning rate and epochs for every regime
    same = {json.dumps({k: v for k, v in r.cfg["training"].items()
                        if k not in ("batching", "batch_size")}, sort_keys=True)
            + json.dumps([r.cfg["data"], r.cfg["model"]], sort_keys=True)
            for r in batching.runs}
    assert len(same) == 1
    assert all(math.isclose(r.cfg["training"]["learning_rate"], 0.05) for r in batching.runs)


def test_printed_train_commands_make_the_runs_the_sweep_then_collects(tmp_path):
    # The Slurm / GNU parallel path: run some printed commands elsewhere, then let the sweep
    # reuse their folders. Lists, strings, relative paths and random floats must round-trip.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "xor.csv").write_text((ROOT / "data" / "xor.csv").read_text())
    path = write_sweep(tmp_path, """
base: XOR
set: {training.epochs: 5, training.optimizer: adam}
runs:
  - {model.hidden: [3, 2], training.batching: full, data.train: data/xor.csv}
random: {trials: 1, seed: 0, space: {training.learning_rate: {loguniform: [0.01, 1.0]}}}
seeds: [0, 1]
""")
    out = tmp_path / "out"
    proc = run_cli("sweep", path, "--out", out, "--print-commands")
    assert proc.returncode == 0, proc.stderr
    commands = proc.stdout.splitlines()
    assert len(commands) == 4 and not out.exists()  # nothing ran, nothing written
    import shlex

    for line in commands[:3]:
        argv = shlex.split(line)
        assert argv[:2] == ["nnlearn", "train"]
        done = run_cli(*argv[1:])
        assert done.returncode == 0, done.stderr
    proc = run_cli("sweep", path, "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["ran"], data["reused"]) == (1, 3)


def test_the_documented_sweep_file_is_valid(tmp_path):
    text = (ROOT / "docs" / "sweeps.md").read_text()
    block = text.split("## The sweep file", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "doc.yaml"
    path.write_text(block.replace("base: ../iris.yaml", f"base: {CONFIGS / 'iris.yaml'}"))
    s = sw.load_sweep(path)
    assert len(s.variants) == 3 * 2 + 1 + 20
    assert len(s.runs) == len(s.variants) * 3
    assert {r.cfg["training"]["epochs"] for r in s.runs} == {50}


def test_a_missing_base_config_names_the_sweep_file_and_the_base_key(tmp_path):
    path = write_sweep(tmp_path, "base: nothere.yaml\n")
    proc = run_cli("sweep", path, "--out", tmp_path / "out")
    first = assert_clean_error(proc, 2, "base config 'nothere.yaml' not found",
                               "relative to the sweep file's folder")
    assert first.startswith(f"Error: {path}: base: "), first
    assert not (tmp_path / "out").exists()
