"""Issue 8, Ctrl-C clause: SIGINT to a real ``nnlearn train`` process in the middle of its epochs
gives exit 130 (not click's "Aborted!" with exit 1), a line saying how to resume, and a
checkpoint that ``eval`` accepts and ``train --resume`` continues -- to exactly the weights an
uninterrupted run of the same length ends with (dropout, momentum and early stopping's best
weights included).
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_cli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
ENV = {"NNLEARN_THREADS": "1"}


def _default_sigint() -> None:
    # A child inherits an *ignored* SIGINT from a parent that ignores it (e.g. a background
    # job), and Python then installs no KeyboardInterrupt handler: restore the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def train_and_interrupt(*args, timeout: float = 120,
                        signum: int = signal.SIGINT) -> tuple[int, str]:
    """Start ``nnlearn train ARGS``, send ``signum`` once the first epoch has been reported on
    stderr, and return (exit code, everything it wrote on stderr)."""
    env = dict(os.environ, **ENV)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NNLEARN_DEBUG", None)
    proc = subprocess.Popen([sys.executable, "-m", "nnlearn", "train", *map(str, args)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)  # noqa: PLW1509 (no threads yet)
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("epoch 1/"):
                break
        proc.send_signal(signum)
        _, rest = proc.communicate()
    finally:
        watchdog.cancel()
    return proc.returncode, "".join(seen) + rest


DATA_ROWS = 60


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("interrupt")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((DATA_ROWS, 3))
    label = np.where(x[:, 0] * x[:, 1] + x[:, 2] > 0, "yes", "no")
    (folder / "data.csv").write_text("x1,x2,x3,label\n" + "".join(
        f"{a:.5f},{b:.5f},{c:.5f},{d}\n" for (a, b, c), d in zip(x, label)))
    (folder / "long.yaml").write_text(
        "seed: 7\ndata: {train: data.csv, target: label, val_fraction: 0.25}\n"
        "model: {hidden: [8], dropout: 0.1}\n"
        "training: {epochs: 1000000, batch_size: 8, optimizer: {name: sgd, momentum: 0.9}, "
        "learning_rate: 0.01, checkpoint_every: CHECKPOINT_EVERY,\n"
        "           early_stopping: {monitor: val_loss, patience: 1000000}}\n")
    return folder


def _config(folder: Path, every: int) -> Path:
    path = folder / f"long-{every}.yaml"
    path.write_text((folder / "long.yaml").read_text().replace("CHECKPOINT_EVERY", str(every)))
    return path


def _weights(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files if k.startswith("param/")}


def test_ctrl_c_saves_a_checkpoint_that_eval_accepts_and_resume_continues(folder):
    run = folder / "run"
    code, err = train_and_interrupt(_config(folder, 0), "--out", run)
    assert code == 130, err
    assert "Traceback" not in err and "Aborted" not in err, err
    assert f"nnlearn train --resume {run}" in err, err
    done = int(re.search(r"after (\d+) complete epochs", err).group(1))
    assert done >= 1
    assert (run / "checkpoint.npz").is_file() and (run / "model.npz").is_file()
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]

    for target in (run / "checkpoint.npz", run):
        proc = run_cli("eval", target, "--data", folder / "data.csv", "--json", env=ENV)
        assert proc.returncode == 0, proc.stderr

    # continue to done + 3 epochs, and compare with a run that was never interrupted
    total = done + 3
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("epochs: 1000000", f"epochs: {total}"))
    resumed = run_cli("train", "--resume", run, "--quiet", env=ENV)
    assert resumed.returncode == 0, resumed.stderr
    with open(run / "history.csv", newline="") as f:
        epochs = [int(float(row["epoch"])) for row in csv.DictReader(f)]
    assert epochs == list(range(1, total + 1))

    straight = run_cli("train", _config(folder, 0), "--out", folder / "straight", "--quiet",
                       "--set", f"training.epochs={total}", env=ENV)
    assert straight.returncode == 0, straight.stderr
    ours, theirs = _weights(run / "model.npz"), _weights(folder / "straight" / "model.npz")
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def test_ctrl_c_while_checkpoints_are_being_written_leaves_a_loadable_one(folder):
    # checkpoint_every: 1 writes a checkpoint after every epoch, so the signal may land in the
    # middle of a write: the file must still be whole, and no temporary file left behind
    run = folder / "every"
    code, err = train_and_interrupt(_config(folder, 1), "--out", run)
    assert code == 130, err
    assert "Traceback" not in err and "--resume" in err, err
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    proc = run_cli("eval", run / "checkpoint.npz", "--data", folder / "data.csv", env=ENV)
    assert proc.returncode == 0, proc.stderr


def test_ctrl_c_while_the_cli_is_still_being_imported_is_one_line_and_130():
    # The KeyboardInterrupt is raised by the import of nnlearn.cli itself, as a Ctrl-C in the
    # first tens of milliseconds of a command would be.
    code = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def interrupted(name, *args, **kwargs):\n"
        "    if name == 'nnlearn.cli':\n"
        "        raise KeyboardInterrupt\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = interrupted\n"
        "from nnlearn.__main__ import main\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=False)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "Interrupted.\n"


def test_the_script_starts_the_cli_through_the_guard():
    text = (ROOT / "pyproject.toml").read_text()
    scripts = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    entries = re.findall(r'^(\S+) = "([^"]+)"', scripts, re.MULTILINE)
    assert entries == [("nnlearn", "nnlearn.__main__:main")]


def test_sigterm_stops_like_ctrl_c_with_a_checkpoint_and_exit_143(folder):
    # what `kill`, `timeout` and a batch scheduler's time limit send
    run = folder / "term"
    code, err = train_and_interrupt(_config(folder, 0), "--out", run, signum=signal.SIGTERM)
    assert code == 143, err
    assert "Traceback" not in err and f"nnlearn train --resume {run}" in err, err
    assert (run / "checkpoint.npz").is_file() and (run / "model.npz").is_file()
    resumed = run_cli("eval", run, "--data", folder / "data.csv", "--json", env=ENV)
    assert resumed.returncode == 0, resumed.stderr


def test_the_resume_hint_of_a_plugin_run_names_its_plugin(folder):
    plugin = folder / "act.py"
    plugin.write_text("import numpy as np\nfrom nnlearn import Activation, register\n\n"
                      "@register('softsign')\nclass Softsign(Activation):\n"
                      "    def forward(self, x):\n        self._x = x\n"
                      "        return x / (1 + np.abs(x))\n"
                      "    def backward(self, grad_out):\n"
                      "        return grad_out / (1 + np.abs(self._x)) ** 2\n")
    run = folder / "plugin-run"
    code, err = train_and_interrupt(_config(folder, 0), "--out", run, "--plugin", plugin,
                                    "--set", "model.activation=softsign")
    assert code == 130, err
    hint = err.strip().splitlines()[-1]
    assert hint == f"resume with: nnlearn train --resume {run} --plugin {plugin}", err
    done = int(re.search(r"after (\d+) complete epochs", err).group(1))
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("epochs: 1000000", f"epochs: {done + 1}"))
    resumed = run_cli("train", "--resume", run, "--plugin", plugin, "--quiet", env=ENV)
    assert resumed.returncode == 0, resumed.stderr


def test_a_command_run_in_process_puts_the_sigterm_handler_back():
    from click.testing import CliRunner

    from nnlearn.cli import cli

    before = signal.getsignal(signal.SIGTERM)
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert signal.getsignal(signal.SIGTERM) is before
