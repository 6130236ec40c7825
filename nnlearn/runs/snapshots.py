"""Weight snapshots: the network's weights at a few evenly spaced epochs, so that a report can
replay how the decision regions and the weights changed while the network learned.

``training.snapshots: N`` keeps N snapshots: the weights before the first update (epoch 0) and
after the last epoch, and N - 2 more spread evenly between (N = 1 keeps only the last). They
are written to ``snapshots.npz`` in the run folder, an nnlearn array file (numeric arrays plus
JSON metadata, loaded with ``allow_pickle=False``):

    snap/<param>   (S, *shape)  the parameter at each of the S snapshots, e.g. snap/dense_1.W
    meta.json      the model's metadata, plus ``kind: snapshots`` and ``epochs`` (S epochs)

A snapshot copies the weights, nothing more: it never touches the trainer's generator, weights
or optimizer, so a run with snapshots trains bit-identically to one without. The snapshots so
far are part of the checkpoint, so an interrupted run continues its series after ``--resume``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nnlearn.errors import ModelFileError
from nnlearn.nn.training import Callback

SNAPSHOTS_FILE = "snapshots.npz"
PREFIX = "snap/"


def snapshot_epochs(count: int, epochs: int) -> list[int]:
    """The epochs at which ``count`` snapshots are planned for a run of ``epochs`` epochs:
    0 (the initial weights) and ``epochs`` included, the rest evenly spaced between, rounded
    to whole epochs (fewer when there are fewer epochs than snapshots)."""
    if count <= 0:
        return []
    if count == 1:
        return [epochs]
    count = min(count, epochs + 1)  # there are no more epochs than 0, 1, ..., epochs
    return sorted({int(e) for e in np.round(np.linspace(0, epochs, count))})


class Snapshots(Callback):
    """Copies the network's weights at the planned epochs (see :func:`snapshot_epochs`), and at
    the epoch where training stops early, so the last snapshot is always the last epoch."""

    def __init__(self, count: int, epochs: int) -> None:
        self.planned = set(snapshot_epochs(count, epochs))
        self.epochs: list[int] = []
        self.weights: list[dict[str, np.ndarray]] = []

    def _take(self, trainer) -> None:
        if self.epochs and self.epochs[-1] == trainer.epoch:
            return
        self.epochs.append(int(trainer.epoch))
        self.weights.append(trainer.network.get_weights())

    def on_train_begin(self, trainer) -> None:
        if trainer.epoch == 0 and 0 in self.planned and not self.epochs:
            self._take(trainer)

    def on_epoch_end(self, trainer, logs) -> None:
        # stop_reason set by a callback before this one (early stopping) ends the run now: this
        # epoch is the last one, so it is kept even if it was not planned.
        if trainer.epoch in self.planned or trainer.stop_reason is not None:
            self._take(trainer)

    def on_train_end(self, trainer) -> None:
        # A callback after this one may have stopped the run: keep its last epoch too.
        if self.planned and (not self.epochs or self.epochs[-1] != trainer.epoch):
            self._take(trainer)

    # -- resume -------------------------------------------------------------------------------
    # The weights taken never change afterwards, and a run's checkpointer asks for the state
    # after every epoch (so that Ctrl-C can save it): copying every snapshot each time cost
    # more than taking them. So the state holds only the epochs; the checkpointer stores the
    # weights once, when it writes the checkpoint file (``arrays(count)``), and resume puts
    # them back (``restore_arrays``).
    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {}, {"epochs": list(self.epochs)}

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.epochs = [int(e) for e in meta["epochs"]]
        self.weights = []  # until restore_arrays

    def restore_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Put back the weights of the snapshots ``load_state_dict`` named, from the
        ``snap/<param>`` stacks of a checkpoint. Raises ValueError if they do not match."""
        stacks = {k[len(PREFIX):]: v for k, v in arrays.items() if k.startswith(PREFIX)}
        n = len(self.epochs)
        if n and (not stacks or any(len(v) != n for v in stacks.values())):
            raise ValueError(f"the checkpoint names {n} weight snapshots but does not hold them")
        self.weights = [{k: v[i].copy() for k, v in stacks.items()} for i in range(n)]

    # -- the file -----------------------------------------------------------------------------
    def arrays(self, count: int | None = None) -> dict[str, np.ndarray]:
        """``snap/<param>``: each parameter stacked over the first ``count`` snapshots (default
        all), (count, *shape)."""
        taken = self.weights if count is None else self.weights[:count]
        if not taken:
            return {}
        return {PREFIX + name: np.stack([snap[name] for snap in taken]) for name in taken[0]}


def write_snapshots(path: str | os.PathLike, snapshots: Snapshots,
                    model_meta: dict[str, Any], *, count: int | None = None) -> None:
    """Write the first ``count`` (default all) of ``snapshots`` atomically as an nnlearn array
    file (see the module docstring)."""
    from nnlearn.runs.modelfile import save_arrays

    meta = dict(model_meta)
    meta["kind"] = "snapshots"
    meta["epochs"] = list(snapshots.epochs[:count])
    save_arrays(path, snapshots.arrays(count), meta)


def read_snapshots(path: str | os.PathLike) -> tuple[list[int], list[dict[str, np.ndarray]]]:
    """``snapshots.npz`` -> (epochs, one {param name: array} per snapshot), checked for shape
    agreement; any problem is a ModelFileError naming the file."""
    from nnlearn.runs.modelfile import load_arrays

    arrays, meta = load_arrays(path)
    epochs = meta.get("epochs")
    if meta.get("kind") != "snapshots" or not isinstance(epochs, list):
        raise ModelFileError(f"{Path(path)}: not an nnlearn snapshots file")
    stacks = {k[len(PREFIX):]: v for k, v in arrays.items() if k.startswith(PREFIX)}
    if any(v.ndim < 1 or len(v) != len(epochs) for v in stacks.values()):
        raise ModelFileError(f"{Path(path)}: its arrays do not hold {len(epochs)} snapshots "
                             "each, as its metadata says")
    return [int(e) for e in epochs], [{k: v[i] for k, v in stacks.items()}
                                      for i in range(len(epochs))]


def model_from_snapshots(path: str | os.PathLike):
    """The run's Model (scalers, classes, architecture) with the last snapshot's weights, from
    ``snapshots.npz`` alone: a run that diverged leaves no model.npz, but its snapshots."""
    from nnlearn.runs.modelfile import load_arrays, model_from_arrays

    arrays, meta = load_arrays(path)
    last = {"param/" + k[len(PREFIX):]: v[-1] for k, v in arrays.items()
            if k.startswith(PREFIX) and len(v)}
    return model_from_arrays(path, last, meta)
