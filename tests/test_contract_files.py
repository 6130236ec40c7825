"""Issue 8, files clause: every artifact is written to a temporary name in its own folder,
fsync'd, then ``os.replace``d onto its name, so a crash or a full disk leaves the old file or the
new one and never half of one; a later run that fails never deletes or changes an earlier run's
files; and a genuine bug exits 1 and says it is one.

The first tests watch ``os.fsync``/``os.replace`` while real commands run in this process (click's
CliRunner); the later ones use real subprocesses. To cover a new command that writes files, add it
to ``WRITERS``; the bug test finds every command itself.
"""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import pytest
from conftest import assert_clean_error, cli_runner, leaf_commands, run_cli

from nnlearn.cli import cli

ENV = {"NNLEARN_THREADS": "1"}
DATA = "x1,x2,label\n0,0,a\n0,1,b\n1,0,b\n1,1,a\n0.5,0.5,a\n0.2,0.8,b\n0.8,0.3,b\n0.3,0.1,a\n"
CONFIG = ("seed: 5\ndata: {train: data.csv, test: data.csv, target: label, val_fraction: 0.25}\n"
          "model: {hidden: [4]}\ntraining: {epochs: 3, batch_size: 4, checkpoint_every: 1}\n")




def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "data.csv").write_text(DATA)
    (tmp_path / "c.yaml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str, env: dict | None = None):
    return cli_runner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=True)


def files_under(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file below ``folder``: relative path -> (sha256, mtime in ns)."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).digest(),
                                         p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------
# temp + fsync + os.replace


class WriteWatcher:
    """Records, for every os.replace(src, dst), whether src had been fsync'd and where it was."""

    def __init__(self, monkeypatch) -> None:
        self.synced: set[str] = set()
        self.replaced: list[tuple[str, str]] = []
        self.unsynced: list[str] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd):
            real_fsync(fd)
            self.synced.add(os.path.realpath(os.readlink(f"/proc/self/fd/{fd}")))

        def replace(src, dst, *args, **kwargs):
            src, dst = os.path.realpath(src), os.path.realpath(dst)
            if src not in self.synced:
                self.unsynced.append(dst)
            real_replace(src, dst, *args, **kwargs)
            self.replaced.append((src, dst))

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)


# (command line, folder whose every file must have been written atomically)
WRITERS = {
    "train": (("train", "c.yaml", "--out", "run"), "run"),
    "predict": (("predict", "run", "--data", "data.csv", "--out", "out/pred.csv"), "out"),
}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name an fd")
@pytest.mark.parametrize("name", list(WRITERS))
def test_every_artifact_is_written_to_a_temporary_fsyncd_and_replaced(workdir, monkeypatch,
                                                                      name):
    if name != "train":
        assert invoke(*WRITERS["train"][0]).exit_code == 0
    (workdir / "out").mkdir()
    watcher = WriteWatcher(monkeypatch)
    args, folder = WRITERS[name]
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    folder = (workdir / folder).resolve()
    written = {dst for _, dst in watcher.replaced}
    files = {str(p) for p in folder.rglob("*") if p.is_file()}
    assert files, "the command wrote nothing"
    assert files <= written, f"written without os.replace: {sorted(files - written)}"
    assert not watcher.unsynced, f"replaced before fsync: {watcher.unsynced}"
    for src, dst in watcher.replaced:
        assert os.path.dirname(src) == os.path.dirname(dst)  # same folder: same file system
        assert not os.path.exists(src)


@pytest.mark.parametrize("failing", ["model.npz", "history.csv", "metrics.json"])
def test_a_failing_replace_keeps_the_earlier_file_whole(workdir, monkeypatch, failing):
    assert invoke("train", "c.yaml", "--out", "run").exit_code == 0
    run = workdir / "run"
    config = run / "config.yaml"  # resume the finished run for 2 more epochs
    config.write_text(config.read_text().replace("epochs: 3", "epochs: 5"))
    before = files_under(run)
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if os.path.basename(dst) == failing:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    result = invoke("train", "--resume", "run")
    assert result.exit_code == 2, result.stderr
    assert f"{failing}: No space left on device" in result.stderr
    assert "Traceback" not in result.stderr
    after = files_under(run)
    assert after[failing] == before[failing]
    assert set(after) == set(before)  # no temporary file left behind


def test_a_failing_predict_out_keeps_the_earlier_predictions(workdir, monkeypatch):
    assert invoke("train", "c.yaml", "--out", "run").exit_code == 0
    (workdir / "pred.csv").write_text("earlier predictions\n")
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(
        OSError(errno.EIO, "Input/output error")))
    result = invoke("predict", "run", "--data", "data.csv", "--out", "pred.csv")
    assert result.exit_code == 2, result.stderr
    assert "pred.csv: Input/output error" in result.stderr
    assert (workdir / "pred.csv").read_text() == "earlier predictions\n"
    assert sorted(p.name for p in workdir.iterdir()) == ["c.yaml", "data.csv", "pred.csv", "run"]


# ------------------------------------------------------------------------------------------
# an earlier run is never touched by a later one that fails (real processes)


def test_later_failing_runs_never_change_an_earlier_run(tmp_path):
    (tmp_path / "data.csv").write_text(DATA)
    (tmp_path / "bad.csv").write_text(DATA.replace("0.2,0.8,b", "0.2,oops,b"))
    (tmp_path / "c.yaml").write_text(CONFIG.replace("checkpoint_every: 1", "checkpoint_every: 0"))
    first = run_cli("train", "c.yaml", "--quiet", cwd=tmp_path, env=ENV)
    assert first.returncode == 0, first.stderr
    earlier = tmp_path / "runs" / "c"
    before = files_under(earlier)
    assert {"model.npz", "config.yaml", "history.csv", "metrics.json"} <= set(before)

    failing = {  # name: (arguments, expected exit code)
        "diverges": (("train", "c.yaml", "--set", "training.learning_rate=1e200"), 3),
        "out_is_the_earlier_run": (("train", "c.yaml", "--out", "runs/c"), 2),
        "bad_data": (("train", "c.yaml", "--set", "data.train=bad.csv"), 2),
        "bad_config": (("train", "c.yaml", "--set", "training.epochs=0"), 2),
        "init_from_mismatch": (("train", "c.yaml", "--init-from", "runs/c",
                                "--set", "model.hidden=[3]"), 2),
        "resume_without_checkpoint": (("train", "--resume", "runs/c"), 2),
        "predict_over_its_model": (("predict", "runs/c", "--data", "bad.csv",
                                    "--out", "runs/c/model.npz"), 2),
        "eval_bad_data": (("eval", "runs/c", "--data", "bad.csv"), 2),
    }
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {k: pool.submit(run_cli, *args, cwd=tmp_path, env=ENV)
                   for k, (args, _) in failing.items()}
        procs = {k: f.result() for k, f in futures.items()}
    for name, (_, code) in failing.items():
        assert procs[name].returncode == code, (name, procs[name].stderr)
        assert "Traceback" not in procs[name].stderr
    assert files_under(earlier) == before
    # the diverged run got a folder of its own next to the earlier one
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["c", "c-2"]


# ------------------------------------------------------------------------------------------
# bugs: exit 1, said to be a bug, no traceback (unless NNLEARN_DEBUG asks for it)


def _sample_value(param: click.Parameter) -> str:
    """A value click accepts for ``param`` in ``workdir`` (which holds c.yaml and data.csv)."""
    kind = param.type
    if isinstance(kind, click.Choice):
        return str(kind.choices[0])
    if isinstance(kind, (click.IntRange, click.FloatRange)) and kind.min is not None:
        return str(kind.min if not kind.min_open else kind.min + 1)
    if isinstance(kind, (click.types.IntParamType, click.types.FloatParamType)):
        return "1"
    if isinstance(kind, click.Path) and not kind.file_okay:
        return "."
    return "c.yaml" if "config" in (param.name or "") else "data.csv"


def sample_args(path: tuple[str, ...]) -> list[str]:
    """Arguments that get a command past click's parsing into its own code: every required
    parameter gets a plausible value, so commands added later are covered automatically."""
    args: list[str] = []
    for param in command_at(path).params:
        if not param.required:
            continue
        if isinstance(param, click.Option):
            args += [param.opts[0], _sample_value(param)]
        else:
            args.append(_sample_value(param))
    return args


@pytest.mark.parametrize("path", leaf_commands(), ids=" ".join)
def test_a_bug_in_any_command_exits_1_and_says_so(workdir, monkeypatch, path):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(command_at(path), "callback", broken)
    result = invoke(*path, *sample_args(path))
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0] == "Error: internal error: ZeroDivisionError: simulated bug"
    assert "bug in nnlearn" in lines[1] and "NNLEARN_DEBUG=1" in lines[1]
    debug = invoke(*path, *sample_args(path), env={"NNLEARN_DEBUG": "1"})
    assert isinstance(debug.exception, ZeroDivisionError)  # re-raised for the traceback


@pytest.mark.parametrize("exc", [KeyError("n"), ValueError("shapes"), IndexError("row")])
def test_a_deep_bug_is_not_mistaken_for_bad_input(workdir, monkeypatch, exc):
    # KeyError/ValueError/IndexError are what bad input often raises inside a library; one
    # escaping from deep inside evaluation is still a bug: exit 1, not 2
    assert invoke("train", "c.yaml", "--out", "run").exit_code == 0

    def evaluate(*args, **kwargs):
        raise exc

    monkeypatch.setattr("nnlearn.runs.run.evaluate", evaluate)
    result = invoke("eval", "run", "--data", "data.csv")
    assert result.exit_code == 1, result.stderr
    assert "internal error" in result.stderr and "bug" in result.stderr


def test_bug_exit_through_the_real_entry_point(tmp_path):
    # the same mapping when nnlearn runs as a program: a bug planted via sitecustomize
    (tmp_path / "sitecustomize.py").write_text(
        "import nnlearn.cli\n"
        "def _boom(*a, **k):\n    raise RuntimeError('planted')\n"
        "nnlearn.cli.cli.commands['config'].commands['show'].callback = _boom\n")
    env = dict(ENV, PYTHONPATH=str(tmp_path) + os.pathsep + str(Path(__file__).parents[1]))
    proc = subprocess.run([sys.executable, "-m", "nnlearn", "config", "show", "x.yaml"],
                          env={**os.environ, **env}, capture_output=True, text=True, check=False,
                          cwd=tmp_path)
    first = assert_clean_error(proc, 1, "planted", "bug")
    assert first == "Error: internal error: RuntimeError: planted"
