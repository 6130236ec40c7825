"""Checkpoints and resume: an interrupted-then-resumed run equals an uninterrupted one, bit for bit.

Every kind of training state is in play in the cases below: the random generator (dropout masks,
shuffling), optimizer state (Adam's moments and step count, SGD's velocity), schedule state
(plateau's counters, cosine's epoch) and callback state (early stopping's best value, wait count
and best weights). If any one of them were not saved and restored, the resumed run would take a
different path and the comparisons would fail.

``--resume`` continues a run; ``--init-from`` starts a new one from saved weights only. Both are
checked here, through the library and through the real command line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import CONFIGS, ROOT, assert_clean_error, run_cli

from nnlearn.errors import NnlearnError, TrainingInterrupted
from nnlearn.nn.training import Callback
from nnlearn.runs import run as runs
from nnlearn.runs.config import load_config
from nnlearn.runs.modelfile import load_arrays, load_model
from nnlearn.runs.trainstate import optimizer_state

# name -> (bundled config, overrides). Every case changes its learning rate during training.
CASES = {
    # regression; Adam; dropout in two layers; plateau schedule; early stopping restoring weights
    "adam-plateau-dropout": ("diabetes.yaml", [
        "model.hidden=[32,16]",
        "model.layers=[{units: 32, dropout: 0.2}, {units: 16, activation: tanh, dropout: 0.1}]",
        "training.optimizer={name: adam}", "training.learning_rate=0.01",
        "training.schedule={name: plateau, patience: 2, factor: 0.5, min_delta: 0.0}",
        "training.early_stopping={patience: 8, restore_best_weights: true}",
        "training.epochs=80"]),
    # classification; SGD with Nesterov momentum; cosine with warm-up; early stopping that
    # keeps the last weights (so the final weights are the last epoch's, not a copy)
    "sgd-momentum-cosine-dropout": ("iris.yaml", [
        "model.dropout=0.2",
        "training.optimizer={name: sgd, momentum: 0.9, nesterov: true}",
        "training.schedule={name: cosine, warmup_epochs: 3, min_lr: 0.001}",
        "training.learning_rate=0.1",
        "training.early_stopping={monitor: val_loss, patience: 4, restore_best_weights: false}",
        "training.epochs=60"]),
    # float32, RMSProp with momentum, step schedule, class weights, early stopping on accuracy
    "rmsprop-step-float32": ("iris.yaml", [
        "model.hidden=[12]", "model.dropout=0.1", "training.dtype=float32",
        "training.optimizer={name: rmsprop, momentum: 0.5}", "training.learning_rate=0.01",
        "training.schedule={name: step, step_size: 5, gamma: 0.5}",
        "training.class_weight=balanced", "training.epochs=25"]),
}


class InterruptAfterEpoch(Callback):
    """Ctrl-C, simulated: raise KeyboardInterrupt at the end of epoch ``k`` (1-based)."""

    def __init__(self, k: int, exc: type[BaseException] = KeyboardInterrupt) -> None:
        self.k, self.exc = k, exc

    def on_epoch_end(self, trainer, logs):
        if trainer.epoch == self.k:
            raise self.exc(f"simulated interrupt after epoch {self.k}")


class InterruptMidEpoch(Callback):
    """Ctrl-C in the middle of epoch ``k``: after its second optimizer step, so the network's
    weights and the optimizer's state have already moved past the last complete epoch."""

    def __init__(self, k: int) -> None:
        self.k = k

    def on_train_begin(self, trainer):
        optimizer, original = trainer.optimizer, trainer.optimizer.step
        calls = {"n": 0}

        def step():
            original()
            if trainer.epoch == self.k - 1:
                calls["n"] += 1
                if calls["n"] == 2:
                    raise KeyboardInterrupt

        optimizer.step = step


def _cfg(case: str, *extra: str) -> dict:
    config, overrides = CASES[case]
    return load_config(CONFIGS / config, [*overrides, *extra])


def _weights(path: Path) -> dict[str, np.ndarray]:
    return load_model(path / runs.MODEL_FILE).network.get_weights()


def _history(path: Path) -> list[dict[str, float]]:
    """history.csv without its timing column, which no two runs share."""
    return [{k: v for k, v in row.items() if k != "seconds"}
            for row in runs.read_history(path / runs.HISTORY_FILE)]


def _metrics(path: Path) -> dict:
    return json.loads((path / runs.METRICS_FILE).read_text())


def assert_same_run(a: Path, b: Path) -> None:
    """Bit-identical weights; identical history (loss, metric and lr columns) and metrics.json."""
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert wa[name].dtype == wb[name].dtype, name
        assert np.array_equal(wa[name], wb[name]), f"weights {name} differ"
    ha, hb = _history(a), _history(b)
    assert [r["epoch"] for r in ha] == [r["epoch"] for r in hb]
    assert ha[0].keys() == hb[0].keys() and {"train_loss", "val_loss", "lr"} <= ha[0].keys()
    for ra, rb in zip(ha, hb):
        assert ra == rb, f"history differs at epoch {ra['epoch']}"
    assert _metrics(a) == _metrics(b)


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """One uninterrupted run per case (shared by the tests that compare against it)."""
    base = tmp_path_factory.mktemp("reference")
    return {case: runs.train(_cfg(case), out=base / case) for case in CASES}


def _interrupt_epoch(ref: runs.RunResult) -> int:
    """An epoch late enough that every kind of state is non-trivial, before the run ends."""
    k = ref.epochs - 2
    history = ref.history
    assert k >= 3, "the reference run is too short to interrupt"
    assert history[k - 1]["lr"] != history[0]["lr"], "the schedule must have moved by epoch k"
    if ref.metrics["best_epoch"] is not None:
        assert ref.metrics["best_epoch"] < k, "early stopping must be waiting at epoch k"
    return k


@pytest.mark.parametrize("where", ["epoch-end", "mid-epoch"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_interrupted_then_resumed_equals_uninterrupted(case, where, references, tmp_path):
    ref = references[case]
    k = _interrupt_epoch(ref)
    stopper = InterruptAfterEpoch(k) if where == "epoch-end" else InterruptMidEpoch(k)
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingInterrupted) as exc:
        runs.train(_cfg(case), out=run_dir, callbacks=[stopper])
    # At the end of epoch k the run's own checkpointer has already taken epoch k's snapshot
    # (it runs before the caller's callbacks); in the middle of epoch k only k - 1 are done.
    done = k if where == "epoch-end" else k - 1
    assert exc.value.exit_code == 130
    assert f"after {done} complete epochs" in str(exc.value)
    assert exc.value.hint == f"resume with: nnlearn train --resume {run_dir}"
    # what the interrupted folder holds: a checkpoint, the history so far, a usable model
    assert len(_history(run_dir)) == done
    assert load_arrays(run_dir / runs.CHECKPOINT_FILE)[1]["training_state"]["epoch"] == done
    assert load_model(run_dir / runs.MODEL_FILE).network.get_weights().keys() == \
        _weights(ref.run_dir).keys()
    assert not (run_dir / runs.METRICS_FILE).exists()

    result = runs.resume(run_dir)
    assert result.epochs == ref.epochs and result.stopped == ref.stopped
    assert_same_run(ref.run_dir, run_dir)


def test_resume_from_a_periodic_checkpoint_after_a_crash(references, tmp_path):
    # A crash (not Ctrl-C) leaves only the last periodic checkpoint: epoch 8 of every 4.
    case = "adam-plateau-dropout"
    ref = references[case]
    assert ref.epochs > 10
    cfg = _cfg(case, "training.checkpoint_every=4")
    run_dir = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated"):
        runs.train(cfg, out=run_dir, callbacks=[InterruptAfterEpoch(10, RuntimeError)])
    state = load_arrays(run_dir / runs.CHECKPOINT_FILE)[1]["training_state"]
    assert state["epoch"] == 8
    assert len(_history(run_dir)) == 8  # history.csv is written with every checkpoint
    runs.resume(run_dir)
    assert_same_run(ref.run_dir, run_dir)


def test_checkpoint_every_writes_on_schedule(tmp_path):
    seen = []

    class Watch(Callback):
        def on_epoch_end(self, trainer, logs):
            path = run_dir / runs.CHECKPOINT_FILE
            seen.append(load_arrays(path)[1]["training_state"]["epoch"] if path.exists() else None)

    run_dir = tmp_path / "run"
    cfg = load_config(CONFIGS / "iris.yaml", ["training.epochs=7", "training.checkpoint_every=3"])
    runs.train(cfg, out=run_dir, callbacks=[Watch()])
    # The run's checkpointer runs before the caller's callbacks, so Watch sees each write in
    # the epoch it happens.
    assert seen == [None, None, 3, 3, 3, 6, 6]
    final = load_arrays(run_dir / runs.CHECKPOINT_FILE)[1]["training_state"]
    assert final["epoch"] == 7 and final["stop_reason"] == "completed 7 epochs"


def test_resuming_a_finished_run_trains_no_further(references, tmp_path):
    # The final checkpoint of a run that early stopping ended must not train one more epoch.
    case = "adam-plateau-dropout"
    ref = references[case]
    run_dir = tmp_path / "run"
    runs.train(_cfg(case, "training.checkpoint_every=5"), out=run_dir)
    assert_same_run(ref.run_dir, run_dir)
    result = runs.resume(run_dir)
    assert result.epochs == ref.epochs and result.stopped == ref.stopped
    assert_same_run(ref.run_dir, run_dir)


def test_after_a_resumed_run_completes_its_checkpoint_is_not_stale(references, tmp_path):
    case = "sgd-momentum-cosine-dropout"
    ref = references[case]
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        runs.train(_cfg(case), out=run_dir, callbacks=[InterruptAfterEpoch(5)])
    runs.resume(run_dir)
    state = load_arrays(run_dir / runs.CHECKPOINT_FILE)[1]["training_state"]
    assert state["epoch"] == ref.epochs  # the final state, not epoch 4's
    runs.resume(run_dir)  # so a second resume changes nothing
    assert_same_run(ref.run_dir, run_dir)


def test_interrupt_before_the_first_epoch_leaves_a_resumable_checkpoint(references, tmp_path):
    case = "sgd-momentum-cosine-dropout"

    class InterruptAtStart(Callback):
        def on_train_begin(self, trainer):
            raise KeyboardInterrupt

    run_dir = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match="after 0 complete epochs"):
        runs.train(_cfg(case), out=run_dir, callbacks=[InterruptAtStart()])
    runs.resume(run_dir)
    assert_same_run(references[case].run_dir, run_dir)


def test_resume_without_a_checkpoint_is_a_clean_error(references, tmp_path):
    with pytest.raises(NnlearnError, match="no checkpoint.npz to resume from") as exc:
        runs.resume(tmp_path)
    assert exc.value.exit_code == 2 and "checkpoint_every" in exc.value.hint
    with pytest.raises(NnlearnError, match="missing: no such run folder") as exc:
        runs.resume(tmp_path / "missing")
    assert exc.value.exit_code == 2 and "run folder that train wrote" in exc.value.hint
    ref = references["adam-plateau-dropout"]  # finished; checkpoint_every 0: none written
    with pytest.raises(NnlearnError, match="this run finished") as exc:
        runs.resume(ref.run_dir)
    assert ref.stopped in str(exc.value) and "nothing to resume" in str(exc.value)
    assert exc.value.exit_code == 2 and f"--init-from {ref.run_dir}" in exc.value.hint


# ------------------------------------------------------------------------------------------
# --init-from: saved weights only, fresh optimizer state


class Capture(Callback):
    """Records what the trainer holds when training begins."""

    def on_train_begin(self, trainer):
        self.weights = trainer.network.get_weights()
        self.optimizer = optimizer_state(trainer.optimizer)
        self.epoch, self.history = trainer.epoch, list(trainer.history)


@pytest.mark.parametrize("source", ["run folder", "model file"])
def test_init_from_starts_from_saved_weights_with_fresh_optimizer_state(source, references,
                                                                        tmp_path):
    ref = references["adam-plateau-dropout"]
    path = ref.run_dir if source == "run folder" else ref.run_dir / runs.MODEL_FILE
    capture = Capture()
    result = runs.train(_cfg("adam-plateau-dropout", "training.epochs=3"), out=tmp_path / "new",
                        init_from=path, callbacks=[capture])
    saved = _weights(ref.run_dir)
    for name, value in saved.items():
        assert np.array_equal(capture.weights[name], value), name
    assert capture.epoch == 0 and capture.history == []
    assert capture.optimizer["t"] == 0
    buffers = [v for v in capture.optimizer.values() if isinstance(v, np.ndarray)]
    assert buffers and all(not b.any() for b in buffers)  # Adam's m and v start at zero
    assert result.epochs == 3 and len(_history(tmp_path / "new")) == 3


def test_init_from_refuses_another_architecture_before_writing(references, tmp_path):
    out = tmp_path / "new"
    cfg = load_config(CONFIGS / "diabetes.yaml", ["model.hidden=[8]"])
    with pytest.raises(NnlearnError, match="architecture") as exc:
        runs.train(cfg, out=out, init_from=references["adam-plateau-dropout"].run_dir)
    assert exc.value.exit_code == 2
    assert not out.exists()


# ------------------------------------------------------------------------------------------
# the command line


def _write_config(path: Path, case: str, *extra: str) -> Path:
    """A config file equal to ``_cfg(case)``: the resolved config, written out."""
    from nnlearn.runs.config import dump_config

    path.write_text(dump_config(_cfg(case, *extra)))
    return path


def test_cli_resume_continues_exactly(references, tmp_path):
    case = "sgd-momentum-cosine-dropout"
    ref = references[case]
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        runs.train(_cfg(case), out=run_dir, callbacks=[InterruptAfterEpoch(7)])
    proc = run_cli("train", "--resume", run_dir, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(run_dir)
    assert_same_run(ref.run_dir, run_dir)


def test_cli_resume_errors(tmp_path):
    proc = run_cli("train", "--resume", tmp_path)
    assert_clean_error(proc, 2, "no checkpoint.npz")
    for extra in ([CONFIGS / "iris.yaml"], ["--set", "seed=1"], ["--diagnostics"],
                  ["--init-from", tmp_path]):
        proc = run_cli("train", "--resume", tmp_path, *extra)
        assert_clean_error(proc, 2, "--resume takes only the run folder")


def test_cli_init_from(references, tmp_path):
    source = references["adam-plateau-dropout"].run_dir
    config = _write_config(tmp_path / "c.yaml", "adam-plateau-dropout", "training.epochs=2")
    proc = run_cli("train", config, "--init-from", source, "--out", tmp_path / "ok", "--quiet")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("train", config, "--init-from", source, "--out", tmp_path / "bad",
                   "--set", "model.layers=null", "--set", "model.hidden=[5]")
    assert_clean_error(proc, 2, "architecture", "10 -> 32 -> 16 -> 1 there, 10 -> 5 -> 1 here")
    assert not (tmp_path / "bad").exists()


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")
def test_cli_ctrl_c_saves_a_checkpoint_that_resumes_exactly(tmp_path):
    # A real SIGINT, at whatever point of an epoch it lands.
    config = _write_config(tmp_path / "c.yaml", "adam-plateau-dropout",
                           "training.epochs=100000", "training.early_stopping=null",
                           "training.schedule=constant", "training.checkpoint_every=2")
    run_dir = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnlearn", "train", str(config), "--out", str(run_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # A shell may start tests with SIGINT ignored, and Python keeps an ignored SIGINT
        # ignored: give the child the default disposition so Python installs its handler.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509
    try:
        # Wait for the first periodic checkpoint (epoch 2), so that the random generator and
        # Adam's state have moved on from their starting values when Ctrl-C comes.
        deadline = time.monotonic() + 60
        while not (run_dir / runs.CHECKPOINT_FILE).exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint within 60 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert f"resume with: nnlearn train --resume {run_dir}" in err
    done = load_arrays(run_dir / runs.CHECKPOINT_FILE)[1]["training_state"]["epoch"]
    assert done >= 2
    assert f"Interrupted after {done} complete epochs" in err
    assert len(_history(run_dir)) == done
    assert (run_dir / runs.MODEL_FILE).is_file()

    # Exactness of that checkpoint: continue it for three more epochs, then compare with a run
    # that was never interrupted, stopped at the same epoch.
    k = done + 3
    with pytest.raises(TrainingInterrupted):
        runs.resume(run_dir, callbacks=[InterruptAfterEpoch(k)])
    cfg = runs.load_run_config(run_dir)
    with pytest.raises(TrainingInterrupted):
        runs.train(cfg, out=tmp_path / "ref", callbacks=[InterruptAfterEpoch(k)])
    a, meta_a = load_arrays(run_dir / runs.CHECKPOINT_FILE)
    b, meta_b = load_arrays(tmp_path / "ref" / runs.CHECKPOINT_FILE)
    assert meta_a["training_state"]["epoch"] == meta_b["training_state"]["epoch"] == k
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name]), name
    assert _history(run_dir) == _history(tmp_path / "ref")
