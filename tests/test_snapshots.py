"""Weight snapshots (``training.snapshots`` / ``--snapshots``): which epochs are kept, that the
file holds exactly the weights the network had then, that taking them changes nothing about
training, and that an interrupted-then-resumed run ends with the same snapshots as one that ran
straight through."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from conftest import CONFIGS, assert_clean_error, run_cli

from nnlearn.errors import ModelFileError, TrainingInterrupted
from nnlearn.nn.training import Callback
from nnlearn.runs import run as runs
from nnlearn.runs.config import load_config
from nnlearn.runs.modelfile import load_model
from nnlearn.runs.snapshots import SNAPSHOTS_FILE, read_snapshots, snapshot_epochs


def _cfg(*overrides: str, config: str = "moons.yaml"):
    return load_config(CONFIGS / config, ["model.hidden=[8]", "training.epochs=12",
                                          *overrides])


class RecordWeights(Callback):
    """The network's weights after every epoch (and before the first), recorded independently
    of the Snapshots callback."""

    def __init__(self) -> None:
        self.by_epoch: dict[int, dict[str, np.ndarray]] = {}

    def on_train_begin(self, trainer):
        self.by_epoch.setdefault(trainer.epoch, trainer.network.get_weights())

    def on_epoch_end(self, trainer, logs):
        self.by_epoch[trainer.epoch] = trainer.network.get_weights()


class InterruptAfterEpoch(Callback):
    def __init__(self, k: int, exc: type[BaseException] = KeyboardInterrupt) -> None:
        self.k, self.exc = k, exc

    def on_epoch_end(self, trainer, logs):
        if trainer.epoch == self.k:
            raise self.exc(f"stopped after epoch {self.k}")


@pytest.mark.parametrize("count,epochs,expected", [
    (0, 10, []),
    (1, 10, [10]),
    (2, 10, [0, 10]),
    (3, 10, [0, 5, 10]),
    (5, 100, [0, 25, 50, 75, 100]),
    (20, 5, [0, 1, 2, 3, 4, 5]),  # more snapshots than epochs: every epoch once
    (10**12, 3, [0, 1, 2, 3]),  # far more: still every epoch once, without a huge linspace
])
def test_planned_epochs_are_evenly_spaced_from_the_start_to_the_end(count, epochs, expected):
    assert snapshot_epochs(count, epochs) == expected


def test_the_file_holds_the_weights_the_network_had_at_those_epochs(tmp_path):
    recorder = RecordWeights()
    runs.train(_cfg("training.snapshots=4"), out=tmp_path / "run", callbacks=[recorder])
    epochs, frames = read_snapshots(tmp_path / "run" / SNAPSHOTS_FILE)
    assert epochs == [0, 4, 8, 12]
    for e, weights in zip(epochs, frames):
        expected = recorder.by_epoch[e]
        assert weights.keys() == expected.keys()
        for name in expected:
            assert np.array_equal(weights[name], expected[name]), (e, name)
    # the last snapshot is the saved model
    final = load_model(tmp_path / "run" / runs.MODEL_FILE).network.get_weights()
    assert all(np.array_equal(frames[-1][k], final[k]) for k in final)
    # only numeric arrays: np.load without pickles reads every one of them
    with np.load(tmp_path / "run" / SNAPSHOTS_FILE, allow_pickle=False) as f:
        assert all(f[k].dtype.kind in "biuf" for k in f.files)


def test_snapshots_change_nothing_about_training(tmp_path):
    a = runs.train(_cfg(), out=tmp_path / "a")
    b = runs.train(_cfg("training.snapshots=5"), out=tmp_path / "b")
    wa = load_model(a.run_dir / runs.MODEL_FILE).network.get_weights()
    wb = load_model(b.run_dir / runs.MODEL_FILE).network.get_weights()
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert not (a.run_dir / SNAPSHOTS_FILE).exists()
    assert (b.run_dir / SNAPSHOTS_FILE).is_file()


def test_early_stopping_keeps_the_epoch_where_training_stopped(tmp_path):
    recorder = RecordWeights()
    result = runs.train(_cfg("training.epochs=400", "training.snapshots=5",
                             "training.early_stopping={patience: 2, restore_best_weights: false}",
                             "training.learning_rate=0.5"),
                        out=tmp_path / "run", callbacks=[recorder])
    assert result.epochs < 100, "the case must stop early to test this"
    epochs, frames = read_snapshots(tmp_path / "run" / SNAPSHOTS_FILE)
    assert epochs == [0, result.epochs]
    last = recorder.by_epoch[result.epochs]
    assert all(np.array_equal(frames[-1][k], last[k]) for k in last)


def test_an_interrupted_then_resumed_run_has_the_same_snapshots(tmp_path):
    cfg = _cfg("training.snapshots=5", "training.epochs=16")
    straight = runs.train(cfg, out=tmp_path / "straight")
    with pytest.raises(TrainingInterrupted):
        runs.train(cfg, out=tmp_path / "resumed", callbacks=[InterruptAfterEpoch(9)])
    # interrupted: the snapshots so far are on disk already
    partial, _ = read_snapshots(tmp_path / "resumed" / SNAPSHOTS_FILE)
    assert partial == [0, 4, 8]
    runs.resume(tmp_path / "resumed")
    e1, f1 = read_snapshots(straight.run_dir / SNAPSHOTS_FILE)
    e2, f2 = read_snapshots(tmp_path / "resumed" / SNAPSHOTS_FILE)
    assert e1 == e2 == [0, 4, 8, 12, 16]
    for a, b in zip(f1, f2):
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_a_crash_resumes_from_the_last_checkpoint_and_retakes_later_snapshots(tmp_path):
    """A crash (no Ctrl-C handler runs) after epoch 9 leaves the checkpoint of epoch 5, which
    knows the snapshots of epochs 0 and 4 only; epoch 8's is taken again after resuming."""
    cfg = _cfg("training.snapshots=5", "training.epochs=16", "training.checkpoint_every=5")
    straight = runs.train(cfg, out=tmp_path / "straight")
    with pytest.raises(RuntimeError):
        runs.train(cfg, out=tmp_path / "crashed",
                   callbacks=[InterruptAfterEpoch(9, RuntimeError)])
    assert not (tmp_path / "crashed" / SNAPSHOTS_FILE).exists()
    runs.resume(tmp_path / "crashed")
    e1, f1 = read_snapshots(straight.run_dir / SNAPSHOTS_FILE)
    e2, f2 = read_snapshots(tmp_path / "crashed" / SNAPSHOTS_FILE)
    assert e1 == e2 == [0, 4, 8, 12, 16]
    for a, b in zip(f1, f2):
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_the_command_line_option_and_its_misuse(tmp_path):
    proc = run_cli("train", CONFIGS / "xor.yaml", "--snapshots", "3", "--out", tmp_path / "run",
                   "-q", "--set", "training.epochs=6")
    assert proc.returncode == 0, proc.stderr
    assert read_snapshots(tmp_path / "run" / SNAPSHOTS_FILE)[0] == [0, 3, 6]
    assert "snapshots: 3" in (tmp_path / "run" / runs.CONFIG_FILE).read_text()
    assert_clean_error(run_cli("train", "--resume", tmp_path / "run", "--snapshots", "3"), 2,
                       "--resume")
    assert_clean_error(run_cli("train", CONFIGS / "xor.yaml", "--snapshots", "-1"), 2,
                       "--snapshots")
    assert_clean_error(run_cli("train", CONFIGS / "xor.yaml", "--set", "training.snapshots=x"),
                       2, "training.snapshots")


def test_a_damaged_snapshots_file_is_one_clear_error(tmp_path):
    runs.train(_cfg("training.snapshots=2"), out=tmp_path / "run")
    path = tmp_path / "run" / SNAPSHOTS_FILE
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    with zipfile.ZipFile(path, "w") as z:  # one snapshot too few in one array
        for name, data in members.items():
            if name.startswith("snap/") and name.endswith(".b.npy"):
                arr = np.load(io.BytesIO(data))[:1]
                buf = io.BytesIO()
                np.save(buf, arr)
                data = buf.getvalue()
            z.writestr(name, data)
    with pytest.raises(ModelFileError, match="snapshots"):
        read_snapshots(path)
    path.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match=str(path.name)):
        read_snapshots(path)


def test_a_snapshot_count_beyond_any_run_is_a_config_error(tmp_path):
    proc = run_cli("train", CONFIGS / "iris.yaml", "--snapshots", "10000000000",
                   "--out", tmp_path / "run")
    assert_clean_error(proc, 2, "training.snapshots", "at most")
    assert not (tmp_path / "run").exists()
