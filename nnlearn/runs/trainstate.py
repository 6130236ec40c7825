"""A trainer's whole state, for checkpoints and exact resume.

Everything ``Trainer.fit`` changes -- the weights, the optimizer's buffers and step count, the
schedule, the callbacks' state, the random generator (shuffling, dropout), the epoch count and
the history -- as arrays (saved in the checkpoint's npz) and JSON-able values (its metadata).
Restoring them into a trainer built from the same config continues the run as if it had never
stopped.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

from nnlearn.nn.optimizers import Optimizer
from nnlearn.nn.training import COMPLETED, Trainer


def optimizer_state(optimizer: Optimizer) -> dict[str, Any]:
    """Everything an optimizer needs to resume exactly: ``t``, ``lr`` and a copy of every
    state array, keyed ``"<buffer>/<param name>"`` (e.g. ``"m/dense_1.W"``). Hyper-parameters
    (momentum, betas, ...) are not included: they come from the config."""
    state: dict[str, Any] = {"t": optimizer.t, "lr": optimizer.lr}
    for buffer, arrays in optimizer.state.items():
        for p, array in zip(optimizer.params, arrays):
            state[f"{buffer}/{p.name}"] = array.copy()
    return state


def load_optimizer_state(optimizer: Optimizer, state: Mapping[str, Any]) -> None:
    """Put back :func:`optimizer_state`, copying into the optimizer's own arrays (a run checks
    that a checkpoint's state matches the optimizer first)."""
    for buffer, arrays in optimizer.state.items():
        for p, array in zip(optimizer.params, arrays):
            array[...] = state[f"{buffer}/{p.name}"]
    optimizer.t, optimizer.lr = int(state["t"]), float(state["lr"])


def trainer_state(trainer: Trainer) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Copies of everything ``fit`` changes: arrays (``param/``, ``optim/``, ``cb<i>/``) and
    JSON-able values (epoch, history, generator, schedule, lr, stop reason).

    The history is a new list holding the trainer's own row dicts, not copies of them: a row is
    final once its epoch's callbacks have run, and copying every row at every checkpoint would
    grow with the run."""
    arrays = {f"param/{k}": v for k, v in trainer.network.get_weights().items()}
    numbers: dict[str, Any] = {}
    for key, value in optimizer_state(trainer.optimizer).items():
        if isinstance(value, np.ndarray):
            arrays[f"optim/{key}"] = value  # optimizer_state made the copy
        else:
            numbers[key] = value
    cb_meta = []
    for i, cb in enumerate(trainer.callbacks):
        cb_arrays, meta = cb.state_dict()
        arrays.update({f"cb{i}/{k}": v.copy() for k, v in cb_arrays.items()})
        cb_meta.append(meta)
    meta = copy.deepcopy({
        "epoch": trainer.epoch,
        "rng": trainer.rng.bit_generator.state,
        "lr": trainer.optimizer.lr,
        "optimizer_numbers": numbers,
        "schedule": None if trainer.schedule is None else trainer.schedule.state_dict(),
        "callbacks": cb_meta,
        "stop_reason": trainer.stop_reason,
    })
    meta["history"] = list(trainer.history)
    return arrays, meta


def load_trainer_state(trainer: Trainer, arrays: Mapping[str, np.ndarray],
                       meta: Mapping[str, Any]) -> None:
    """Put back what :func:`trainer_state` took (checked against the trainer by the caller)."""
    trainer.network.set_weights({k[6:]: v for k, v in arrays.items() if k.startswith("param/")})
    state: dict[str, Any] = {k[6:]: v for k, v in arrays.items() if k.startswith("optim/")}
    state.update(meta["optimizer_numbers"])
    load_optimizer_state(trainer.optimizer, state)
    trainer.optimizer.lr = float(meta["lr"])
    if trainer.schedule is not None and meta["schedule"] is not None:
        trainer.schedule.load_state_dict(meta["schedule"])
    for i, (cb, cb_meta) in enumerate(zip(trainer.callbacks, meta["callbacks"])):
        prefix = f"cb{i}/"
        cb.load_state_dict({k[len(prefix):]: v for k, v in arrays.items()
                            if k.startswith(prefix)}, cb_meta)
    trainer.rng.bit_generator.state = meta["rng"]
    trainer.epoch = int(meta["epoch"])
    trainer.history = [dict(h) for h in meta["history"]]
    # A run that a callback stopped (early stopping) stays stopped; one that merely used up its
    # epochs may be continued with more.
    reason = meta.get("stop_reason")
    trainer.stop_reason = None if reason is None or reason.startswith(COMPLETED) else reason
