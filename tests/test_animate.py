"""``nnlearn plot RUN --boundary --animate``: the decision regions at every snapshot as an
animated GIF."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CONFIGS, assert_clean_error, run_cli

from nnlearn.errors import NnlearnError
from nnlearn.runs import run as runs
from nnlearn.runs.config import load_config

pytest.importorskip("matplotlib", reason="GIFs need the plot extra (matplotlib)")
Image = pytest.importorskip("PIL.Image", reason="GIFs need Pillow (the plot extra)")


@pytest.fixture(scope="module")
def moons(tmp_path_factory):
    out = tmp_path_factory.mktemp("moons") / "moons"
    runs.train(load_config(CONFIGS / "moons.yaml", ["training.epochs=30",
                                                    "training.snapshots=4"]), out=out)
    return out


def test_the_gif_has_one_frame_per_snapshot_and_they_change(moons, tmp_path):
    from nnlearn.plots.animate import animate_boundary, snapshot_boundaries

    epochs, bounds = snapshot_boundaries(moons)
    assert epochs == [0, 10, 20, 30]
    path = animate_boundary(moons, tmp_path / "learn.gif")
    im = Image.open(path)
    assert im.format == "GIF" and im.n_frames >= len(epochs)
    assert im.info.get("duration", 0) > 0 and im.info.get("loop") == 0  # plays, and repeats
    frames = []
    for i in range(len(epochs)):
        im.seek(i)
        frames.append(np.asarray(im.convert("RGB")).astype(int))
    # the regions move: the first frame (random weights) and the last differ visibly
    assert np.abs(frames[0] - frames[-1]).mean() > 2
    # and they are the model's own: the last snapshot's regions are the final model's
    from nnlearn.data import read_csv
    from nnlearn.plots.png import boundary_grid
    from nnlearn.runs.run import load_run

    model, cfg = load_run(moons)
    table = read_csv(cfg["data"]["train"], target=model.target, features=model.feature_names)
    final = boundary_grid(model, table, resolution=120)
    assert np.allclose(bounds[-1].proba, final.proba)
    assert not np.allclose(bounds[0].proba, final.proba)


def test_the_command_and_its_misuse(moons, tmp_path):
    proc = run_cli("plot", moons, "--boundary", "--animate")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(moons / "learn.gif")
    assert Image.open(moons / "learn.gif").n_frames >= 4
    assert_clean_error(run_cli("plot", moons, "--animate"), 2, "--animate")
    assert_clean_error(run_cli("plot", moons, "--boundary", "--animate", "--text"), 2,
                       "--animate")
    bare = tmp_path / "bare"
    runs.train(load_config(CONFIGS / "moons.yaml", ["training.epochs=2"]), out=bare)
    line = assert_clean_error(run_cli("plot", bare, "--boundary", "--animate"), 2,
                              "snapshots.npz", "--snapshots")
    assert str(bare) in line


def test_regression_runs_have_no_boundary_to_animate(tmp_path):
    from nnlearn.plots.animate import animate_boundary

    run = tmp_path / "diabetes"
    runs.train(load_config(CONFIGS / "diabetes.yaml", ["training.epochs=2",
                                                       "training.snapshots=2"]), out=run)
    with pytest.raises(NnlearnError, match="classification"):
        animate_boundary(run, tmp_path / "x.gif")
    assert not (tmp_path / "x.gif").exists()
