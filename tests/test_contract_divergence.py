"""Issue 8, divergence clause, through the real CLI: when the loss (training or validation) or
the weights stop being finite, training stops with exit 3 and a hint naming the learning rate,
and no model file with NaN weights is ever written -- not in a fresh folder, not over the good
model of a run that is resumed or used as a starting point.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

ENV = {"NNLEARN_THREADS": "1"}


def run_all(calls: dict[str, tuple]) -> dict[str, subprocess.CompletedProcess]:
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {k: pool.submit(run_cli, *args, env=ENV) for k, args in calls.items()}
        return {k: f.result() for k, f in futures.items()}


def assert_diverged(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 3, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "diverged" in errors[0], proc.stderr
    hint = proc.stderr.splitlines()[-1]
    assert "training.learning_rate" in hint and "10000" in hint, hint  # names it and its value


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def assert_every_weight_file_is_finite(folder: Path) -> None:
    for path in folder.glob("*.npz"):
        with np.load(path, allow_pickle=False) as f:
            for key in f.files:
                if key.startswith("param/"):
                    assert np.isfinite(f[key]).all(), (path.name, key)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("diverge")
    rng = np.random.default_rng(0)
    x = rng.random((40, 2))
    y = 3 * x[:, 0] - 2 * x[:, 1] + 0.1 * rng.standard_normal(40)
    (folder / "reg.csv").write_text("x1,x2,y\n" + "".join(
        f"{a:.4f},{b:.4f},{c:.4f}\n" for (a, b), c in zip(x, y)))
    (folder / "reg.yaml").write_text(
        "seed: 4\ndata: {train: reg.csv, target: y, val_fraction: 0.25}\nmodel: {hidden: [8]}\n"
        "training: {epochs: 4, checkpoint_every: 1, learning_rate: 0.01}\n")
    good = run_cli("train", folder / "reg.yaml", "--out", folder / "good", "--quiet", env=ENV)
    assert good.returncode == 0, good.stderr
    return folder


@pytest.mark.parametrize("val_fraction,epochs", [("0.25", "4"), ("0", "50")])
def test_divergence_in_a_fresh_folder_exits_3_and_writes_no_model(setup, val_fraction, epochs):
    # With a validation set, the val loss is inf by epoch 4 while the training loss (1e209)
    # and the weights are still finite: that model must not be saved as a result either.
    # Without one, the training loss overflows a few epochs later.
    folder = setup
    out = folder / f"fresh-{val_fraction}"
    proc = run_cli("train", folder / "reg.yaml", "--out", out, "--set",
                   "training.learning_rate=1e4", "--set", f"data.val_fraction={val_fraction}",
                   "--set", f"training.epochs={epochs}", env=ENV)
    assert_diverged(proc)
    assert not (out / "model.npz").exists()
    assert_every_weight_file_is_finite(out)
    assert json.loads((out / "metrics.json").read_text())["status"] == "diverged"


def test_a_divergence_with_weight_decay_names_it_in_the_hint(setup):
    # lr * weight_decay = 5: a step multiplies the weights by 1 - 5 = -4 whatever the
    # gradient (clipping it does not help), so the hint names the decay too
    proc = run_cli("train", setup / "reg.yaml", "--out", setup / "decay", "--set",
                   "training.weight_decay=500", "--set", "training.epochs=400", env=ENV)
    assert proc.returncode == 3, proc.stderr
    hint = proc.stderr.splitlines()[-1]
    assert "training.learning_rate (now 0.01) or training.weight_decay (now 500)" in hint, hint
    # a decay too small to overshoot on its own (lr * weight_decay < 1) is not blamed
    proc = run_cli("train", setup / "reg.yaml", "--out", setup / "small-decay", "--set",
                   "training.learning_rate=1e4", "--set", "training.weight_decay=1e-5",
                   "--set", "training.epochs=50", env=ENV)
    assert_diverged(proc)
    assert "weight_decay" not in proc.stderr


def test_the_same_run_with_a_sane_learning_rate_trains(setup):
    folder = setup
    proc = run_cli("train", folder / "reg.yaml", "--out", folder / "sane", "--set",
                   "training.learning_rate=0.01", "--set", "training.epochs=50", env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((folder / "sane" / "metrics.json").read_text())["status"] == "ok"


def test_a_resumed_run_that_diverges_keeps_its_good_model(setup, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(setup / "good", run)
    before = digests(run)
    config = run / "config.yaml"  # the run continues with a learning rate that blows it up
    text = config.read_text()
    assert "learning_rate: 0.01" in text and "epochs: 4" in text
    config.write_text(text.replace("learning_rate: 0.01", "learning_rate: 10000.0")
                      .replace("epochs: 4", "epochs: 60"))
    proc = run_cli("train", "--resume", run, env=ENV)
    assert_diverged(proc)
    after = digests(run)
    assert after["model.npz"] == before["model.npz"]  # the good model, byte for byte
    assert_every_weight_file_is_finite(run)
    # and what is left is still usable: the model and the last good checkpoint
    procs = run_all({name: ("eval", run / name, "--data", setup / "reg.csv", "--json")
                     for name in ("model.npz", "checkpoint.npz")})
    for name, p in procs.items():
        assert p.returncode == 0, (name, p.stderr)


def test_init_from_a_good_model_then_diverging_leaves_the_source_alone(setup):
    folder = setup
    before = digests(folder / "good")
    out = folder / "from-good"
    proc = run_cli("train", folder / "reg.yaml", "--out", out, "--init-from", folder / "good",
                   "--set", "training.learning_rate=1e4", "--set", "training.epochs=50", env=ENV)
    assert_diverged(proc)
    assert digests(folder / "good") == before
    assert not (out / "model.npz").exists()
