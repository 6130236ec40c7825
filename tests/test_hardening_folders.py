"""Folders shared by processes: two runs or two sweeps on one folder, a sweep folder reused by
another sweep file, and a second Ctrl-C while the checkpoint is written."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import CONFIGS, ROOT, assert_clean_error, run_cli

from nnlearn.errors import NnlearnError
from nnlearn.runs import run as runs
from nnlearn.runs import safeio
from nnlearn.runs.config import load_config

ENV = {"NNLEARN_THREADS": "1"}
posix_locks = pytest.mark.skipif(safeio.fcntl is None, reason="folder locks need fcntl")


def xor_cfg(**sets):
    overrides = ["training.epochs=3", *(f"{k}={v}" for k, v in sets.items())]
    return load_config(CONFIGS / "xor.yaml", overrides)


# ------------------------------------------------------------------------------------------
# run folders


@posix_locks
def test_a_run_folder_in_use_is_refused_naming_it(tmp_path):
    folder = tmp_path / "race"
    folder.mkdir()
    with safeio.claim_folder(folder):  # another nnlearn holds it
        proc = run_cli("train", CONFIGS / "xor.yaml", "--out", folder, "-q", env=ENV,
                       timeout=120)
        assert_clean_error(proc, 2, str(folder), "in use")
        assert list(folder.iterdir()) == []
    with safeio.claim_folder(folder):  # released at the end of the block: claimable again
        pass


@posix_locks
def test_a_claimed_folder_refuses_a_second_claim_in_the_same_process(tmp_path):
    with safeio.claim_folder(tmp_path), pytest.raises(NnlearnError, match="in use"), \
            safeio.claim_folder(tmp_path):
        pass


def test_two_runs_started_together_on_one_folder_one_wins_cleanly(tmp_path):
    folder = tmp_path / "race"
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "nnlearn", "train", str(CONFIGS / "xor.yaml"),
                               "--out", str(folder), "-q", "--set", f"seed={seed}",
                               "--set", "training.epochs=50"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed in (11, 22)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, _, err in results if code == 2)
    assert str(folder) in loser and "Traceback" not in loser
    # the folder holds one run's files only: config and metrics agree on the seed
    metrics = safeio.read_metrics(folder / "metrics.json")
    assert f"seed: {metrics['seed']}" in (folder / "config.yaml").read_text()


def test_resume_of_a_folder_in_use_is_refused(tmp_path):
    if safeio.fcntl is None:
        pytest.skip("folder locks need fcntl")
    folder = tmp_path / "run"
    runs.train(xor_cfg(**{"training.checkpoint_every": 1}), out=folder)
    with safeio.claim_folder(folder), pytest.raises(NnlearnError, match="in use"):
        runs.resume(folder)


# ------------------------------------------------------------------------------------------
# sweep folders

SWEEP = "base: {base}\nset: {{training.epochs: 2}}\ngrid: {{training.learning_rate: [0.1, 0.5]}}\n"


def write_sweep(folder: Path, name: str, lrs: str = "[0.1, 0.5]") -> Path:
    path = folder / name
    path.write_text(SWEEP.format(base=CONFIGS / "xor.yaml").replace("[0.1, 0.5]", lrs))
    return path


@posix_locks
def test_a_sweep_folder_in_use_is_refused(tmp_path):
    from nnlearn.sweeps import sweep as sw

    out = tmp_path / "out"
    out.mkdir()
    spec = sw.load_sweep(write_sweep(tmp_path, "s.yaml"))
    with safeio.claim_folder(out), pytest.raises(NnlearnError, match="in use"):
        sw.run_sweep(spec, out, executor=_threads())
    assert list(out.iterdir()) == []


def _threads():
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=1)


def test_another_sweep_file_into_a_sweep_folder_is_refused_the_same_resumes(tmp_path):
    from nnlearn.sweeps import sweep as sw

    out = tmp_path / "out"
    first = sw.run_sweep(sw.load_sweep(write_sweep(tmp_path, "a.yaml")), out,
                         executor=_threads())
    assert first.ran == 2
    results = (out / sw.RESULTS_FILE).read_text()
    other = sw.load_sweep(write_sweep(tmp_path, "b.yaml", "[0.2]"))
    with pytest.raises(NnlearnError, match="another sweep"):
        sw.run_sweep(other, out, executor=_threads())
    assert (out / sw.RESULTS_FILE).read_text() == results
    again = sw.run_sweep(sw.load_sweep(tmp_path / "a.yaml"), out, executor=_threads())
    assert again.ran == 0 and again.reused == 2
    proc = run_cli("sweep", tmp_path / "b.yaml", "--out", out, "-q", env=ENV, timeout=120)
    assert_clean_error(proc, 2, str(out), "another sweep")


def test_a_sweep_into_a_run_folder_is_refused_before_writing(tmp_path):
    run = tmp_path / "run"
    proc = run_cli("train", CONFIGS / "xor.yaml", "--out", run, "-q", "--set",
                   "training.epochs=2", env=ENV)
    assert proc.returncode == 0, proc.stderr
    before = sorted(p.name for p in run.iterdir())
    proc = run_cli("sweep", write_sweep(tmp_path, "a.yaml"), "--out", run, "-q", env=ENV,
                   timeout=120)
    assert_clean_error(proc, 2, str(run), "run folder", "its own --out")
    assert sorted(p.name for p in run.iterdir()) == before


def test_a_damaged_sweep_manifest_is_exit_2(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text("[" * 10_000 + "]" * 10_000)
    proc = run_cli("sweep", write_sweep(tmp_path, "a.yaml"), "--out", out, "-q", env=ENV,
                   timeout=120)
    assert_clean_error(proc, 2, "manifest.json")


# ------------------------------------------------------------------------------------------
# a second Ctrl-C while the checkpoint is written

SECOND_CTRL_C = textwrap.dedent("""
    import os, signal, sys
    from nnlearn.runs import run as runs

    def first(self, trainer, logs):          # Ctrl-C after epoch 2
        if trainer.epoch == 2:
            os.kill(os.getpid(), signal.SIGINT)
    runs.DivergenceGuard.on_epoch_end = first

    write = runs.Checkpointer.write
    def second(self):                        # Ctrl-C again as the checkpoint is written
        os.kill(os.getpid(), signal.SIGINT)
        return write(self)
    runs.Checkpointer.write = second

    from nnlearn.cli import main
    sys.argv = ["nnlearn", "train", sys.argv[1], "--out", sys.argv[2], "-q",
                "--set", "training.epochs=1000"]
    main()
""")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_second_ctrl_c_while_the_checkpoint_is_written_keeps_it(tmp_path):
    folder = tmp_path / "run"
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", SECOND_CTRL_C, str(CONFIGS / "xor.yaml"),
                           str(folder)], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr
    assert (folder / "checkpoint.npz").is_file() and (folder / "model.npz").is_file()
    resumed = run_cli("train", "--resume", folder, "-q", "--json", env=ENV, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert '"epochs": 1000' in resumed.stdout


def test_deferred_sigint_holds_back_ctrl_c_and_restores_the_handler():
    import signal

    before = signal.getsignal(signal.SIGINT)
    with runs.deferred_sigint():
        signal.raise_signal(signal.SIGINT)  # would raise KeyboardInterrupt without the deferral
    assert signal.getsignal(signal.SIGINT) is before


@posix_locks
def test_a_sweep_does_not_delete_a_run_folder_a_train_is_writing(tmp_path):
    from nnlearn.sweeps import sweep as sw

    spec = sw.load_sweep(write_sweep(tmp_path, "s.yaml"))
    out = tmp_path / "out"
    busy = out / spec.runs[0].name
    busy.mkdir(parents=True)
    (busy / "config.yaml").write_text("# being written by `nnlearn train`\n")
    with safeio.claim_folder(busy), pytest.raises(NnlearnError, match="in use"):
        sw.run_sweep(spec, out, executor=_threads())
    assert (busy / "config.yaml").is_file()
    result = sw.run_sweep(spec, out, executor=_threads())  # once it is free: run again
    assert result.ran == 2 and result.failed == 0
