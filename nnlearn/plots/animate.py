"""The decision regions at every weight snapshot (``snapshots.npz``), as an animated GIF:
``nnlearn plot RUN --boundary --animate -o learn.gif``.

Drawn with matplotlib (the ``plot`` extra) and written by its Pillow writer; like the PNGs, on a
``Figure`` with an Agg canvas (no pyplot, no display). The frames come from the same snapshot
boundaries as the HTML report (:func:`snapshot_boundaries`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from nnlearn.errors import NnlearnError, install_hint
from nnlearn.plots.png import Boundary, boundary_grid, default_output
from nnlearn.runs import atomicio

ANIMATION_FILE = "learn.gif"
#: The Playground's orange and blue first, then more for more classes.
CLASS_COLOURS = ("#2f7fd8", "#f08c1a", "#1fa774", "#e5484d", "#8e6bd8", "#d8589e", "#13a3a3",
                 "#8a8f98", "#7ea81c", "#c9771f")


def snapshot_boundaries(run: str | os.PathLike, *, data: str | os.PathLike | None = None,
                        resolution: int = 120) -> tuple[list[int], list[Boundary]]:
    """(epochs, one Boundary per snapshot) for a run trained with ``training.snapshots``; the
    points are ``data``'s, or the training file's of the run's config."""
    from nnlearn.data import read_csv
    from nnlearn.runs.run import load_run
    from nnlearn.runs.snapshots import SNAPSHOTS_FILE, read_snapshots

    run = Path(run)
    snap_file = run / SNAPSHOTS_FILE
    if not snap_file.is_file():
        raise NnlearnError(f"{run}: no {SNAPSHOTS_FILE}, so there is nothing to animate",
                           hint="train with --snapshots 20 (or training.snapshots: 20)")
    model, cfg = load_run(run)
    if data is None:
        data = (cfg or {}).get("data", {}).get("train")
        if not data:
            raise NnlearnError(f"{run}: the run's config names no data.train file",
                               hint="pass --data CSV")
    table = read_csv(data, target=model.target, **model.read_options())
    epochs, frames = read_snapshots(snap_file)
    final = model.network.get_weights()
    out = []
    try:
        for weights in frames:
            model.network.set_weights(weights)
            with np.errstate(all="ignore"):
                out.append(boundary_grid(model, table, resolution=resolution))
    finally:
        model.network.set_weights(final)
    return epochs, out


def animate_boundary(run: str | os.PathLike, out: str | os.PathLike | None = None, *,
                     data: str | os.PathLike | None = None, fps: float = 3.0,
                     size: tuple[float, float] = (4.0, 3.8), dpi: int = 80) -> Path:
    """Write the decision regions at every snapshot of ``run`` as an animated GIF (default:
    ``learn.gif`` in the run folder) and return its path. The last frame is held a little."""
    try:
        from matplotlib.animation import FuncAnimation, PillowWriter
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise NnlearnError("GIF animations need matplotlib and Pillow: "
                           f"{install_hint('plot')}") from None
    epochs, bounds = snapshot_boundaries(run, data=data)
    path = Path(out) if out is not None else default_output([run], ANIMATION_FILE)
    b0 = bounds[0]
    colours = np.array([[int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)]
                        for c in CLASS_COLOURS])[np.arange(len(b0.classes)) % len(CLASS_COLOURS)]

    def image(b: Boundary) -> np.ndarray:
        p = b.proba if b.proba.shape[2] > 1 else np.concatenate([1 - b.proba, b.proba], axis=2)
        return 1.0 - 0.6 * (1.0 - np.nan_to_num(p) @ colours)  # pale: the points stay visible

    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    extent = (b0.xs[0], b0.xs[-1], b0.ys[0], b0.ys[-1])
    im = ax.imshow(image(b0), origin="lower", extent=extent, aspect="auto",
                   interpolation="bilinear")
    ax.scatter(b0.X[:, 0], b0.X[:, 1], s=float(np.clip(2500 / max(len(b0.X), 1), 4, 30)),
               c=colours[b0.y], edgecolors="k", linewidths=0.3)
    ax.set_xlabel(b0.feature_names[0])
    ax.set_ylabel(b0.feature_names[1])
    # The longest title, so that tight_layout leaves room for every frame's.
    title = ax.set_title(f"{Path(run).name}: epoch {max(epochs)} (initial weights)",
                         fontsize="medium")
    fig.tight_layout()
    hold = 4  # frames showing the final state before the loop starts again
    order = list(range(len(bounds))) + [len(bounds) - 1] * hold

    def draw(i: int):
        im.set_data(image(bounds[order[i]]))
        e = epochs[order[i]]
        title.set_text(f"{Path(run).name}: epoch {e}" + (" (initial weights)" if e == 0 else ""))
        return im, title

    anim = FuncAnimation(fig, draw, frames=len(order), blit=False)
    # The writer needs a file name (it picks the format by suffix): write a temporary GIF beside
    # the target, then move its bytes into place atomically.
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        tmp_gif = Path(tmp) / "frames.gif"
        anim.save(tmp_gif, writer=PillowWriter(fps=fps))
        gif = tmp_gif.read_bytes()
    atomicio.write_with(path, lambda f: f.write(gif))
    return path
