"""Training: the loop that sequences the three owners.

The network computes (forward, then backward = backprop: dL/dW for every weight), the loss
measures, the optimizer updates (SGD: W = W - learning_rate * dL/dW). ``train_step`` is one such
move on one mini-batch; ``fit`` repeats it over epochs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnlearn.errors import DivergedError
from nnlearn.nn.optimizers import Optimizer, clip_grad_norm, clip_grad_value
from nnlearn.nn.schedules import auto_mode, improved


def train_step(network, loss, optimizer, x: np.ndarray, y: np.ndarray,
               weights: np.ndarray | None = None, *, clip_norm: float | None = None,
               clip_value: float | None = None, outputs: list | None = None) -> float:
    """One step of (mini-batch) gradient descent on the batch (x, y); returns the batch loss
    *before* the update.

    No ``zero_grad``: backward *sets* every gradient (see ``layers``), so nothing is left over
    from the previous step. Clipping, if configured, rescales the gradients before the update.
    ``outputs``, when given, collects each batch's predictions: the trainer scores the epoch's
    training accuracy from them, with no second pass over the data.
    """
    pred = network.forward(x)                                     # 1. forward: predictions
    if outputs is not None:
        outputs.append(pred)
    loss_value, grad = loss.value_and_gradient(pred, y, weights)  # 2. loss, and dL/d(pred)
    network.backward(grad, need_input_grad=False)                 # 3. backprop: dL/dW for every W
    if clip_norm is not None:
        clip_grad_norm(optimizer.params, clip_norm)
    if clip_value is not None:
        clip_grad_value(optimizer.params, clip_value)
    optimizer.step()                                              # 4. update: W -= lr * dL/dW
    return loss_value


# ------------------------------------------------------------------------------------------
# fit: epochs of train_step, with validation, schedules and callbacks


def divergence_hint(optimizer: Optimizer) -> str:
    """What to lower when the loss or the weights stop being finite. With lr · weight_decay ≥ 1
    the decay can overshoot on its own (in plain SGD and AdamW it multiplies W by
    1 - lr · weight_decay ≤ 0 each step), and clipping the gradient does not bound it, so the
    hint names the decay too."""
    hint = f"lower training.learning_rate (now {optimizer.lr:g})"
    if optimizer.lr * optimizer.weight_decay >= 1:
        hint += f" or training.weight_decay (now {optimizer.weight_decay:g})"
    return hint + ", e.g. by 10x, or set training.clip_grad_norm"


COMPLETED = "completed"  # stop_reason prefix when all epochs ran


@dataclass
class Split:
    """Arrays for one split, already in the network's dtype: x (n, d); y class indices (n,) or
    targets (n, k); w optional per-sample weights (n,)."""

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.x)


class Callback:
    """Hooks called by ``Trainer.fit``; set ``trainer.stop_reason`` to stop after this epoch."""

    def on_train_begin(self, trainer: Trainer) -> None: ...

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {}, {}

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None: ...


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs;
    optionally put back the weights of the best epoch when training ends. (A long patience
    lets a noisy validation loss dip and recover; restoring the best weights makes the waiting
    free.)"""

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", patience: int = 50,
                 min_delta: float = 0.0, restore_best_weights: bool = True) -> None:
        self.monitor = monitor
        self.mode = auto_mode(monitor) if mode == "auto" else mode
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.best_weights: dict[str, np.ndarray] | None = None

    def on_epoch_end(self, trainer, logs):
        value = logs[self.monitor]
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, int(logs["epoch"]), 0
            if self.restore_best_weights:
                self.best_weights = trainer.network.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                best = ("no value was a number" if self.best is None  # NaN every epoch
                        else f"best {self.best:.6g} at epoch {self.best_epoch}")
                trainer.stop_reason = (f"early stopping: {self.monitor} did not improve for "
                                       f"{self.patience} epochs ({best})")

    def on_train_end(self, trainer):
        if self.restore_best_weights and self.best_weights is not None:
            trainer.network.set_weights(self.best_weights)
            trainer.restored_epoch = self.best_epoch

    def state_dict(self):
        arrays = {f"best/{k}": v for k, v in (self.best_weights or {}).items()}
        return arrays, {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, arrays, meta):
        self.best, self.best_epoch, self.wait = meta["best"], meta["best_epoch"], meta["wait"]
        best = {k[len("best/"):]: v.copy() for k, v in arrays.items() if k.startswith("best/")}
        self.best_weights = best or None


class Trainer:
    """Everything that changes while a network trains, in one place, so that a checkpoint can
    capture it and ``fit`` can resume exactly: weights (in the network), optimizer state,
    schedule state, the random generator (shuffling, dropout), the epoch count and history."""

    def __init__(self, network, loss, optimizer, *, rng: np.random.Generator,
                 batch_size: int | None, schedule=None, shuffle: bool = True,
                 clip_norm: float | None = None, clip_value: float | None = None,
                 metric_fn: Callable[[np.ndarray, np.ndarray], dict[str, float]] | None = None,
                 callbacks: Sequence[Callback] = ()) -> None:
        self.network, self.loss, self.optimizer, self.schedule = network, loss, optimizer, schedule
        self.rng = rng
        self.batch_size = batch_size  # None = full batch
        self.shuffle = shuffle
        self.clip_norm, self.clip_value = clip_norm, clip_value
        self.metric_fn = metric_fn
        self.callbacks = list(callbacks)
        self.epoch = 0  # epochs completed
        self.train_scores: dict[str, float] = {}  # the last epoch's training metric
        self.history: list[dict[str, float]] = []
        self.stop_reason: str | None = None
        self.restored_epoch: int | None = None
        if schedule is not None:
            optimizer.lr = schedule.lr

    # -- one epoch ----------------------------------------------------------------------------
    def train_epoch(self, train: Split) -> float:
        """One pass over the training data in mini-batches; returns the mean of the batch losses,
        each weighted by its number of rows and measured before its own update."""
        n = len(train)
        b = n if self.batch_size is None else min(self.batch_size, n)
        # One shuffled order per epoch; each batch gathers its own rows from it.
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        self.network.train()
        outputs: list[np.ndarray] | None = [] if self.metric_fn is not None else None
        total = 0.0
        for start in range(0, n, b):
            rows = order[start:start + b]
            w = None if train.w is None else train.w[rows]
            batch_loss = train_step(self.network, self.loss, self.optimizer, train.x[rows],
                                    train.y[rows], w, clip_norm=self.clip_norm,
                                    clip_value=self.clip_value, outputs=outputs)
            if not math.isfinite(batch_loss):
                raise DivergedError(
                    f"training diverged: the loss became {batch_loss} in epoch {self.epoch + 1}",
                    hint=divergence_hint(self.optimizer))
            total += batch_loss * len(rows)
        # The epoch's training metric, as Keras reports it: scored on each batch's predictions
        # as the batch was trained on (weights still changing), in the shuffled order.
        self.train_scores = {} if outputs is None else self.metric_fn(
            np.concatenate(outputs), train.y[order])
        return total / n

    def evaluate(self, split: Split) -> dict[str, float]:
        """Loss (and metrics from ``metric_fn``) on a split, in evaluation mode."""
        pred = self.network.predict(split.x)
        out = {"loss": self.loss.value(pred, split.y, split.w)}
        if self.metric_fn is not None:
            out.update(self.metric_fn(pred, split.y))
        return out

    # -- the loop -----------------------------------------------------------------------------
    def fit(self, train: Split, val: Split | None, epochs: int) -> list[dict[str, float]]:
        """Train until ``epochs`` epochs are complete (counting those already done), a callback
        stops it, or it diverges (DivergedError). Returns the history, one dict per epoch."""
        for cb in self.callbacks:
            cb.on_train_begin(self)
        # Overflow is detected and reported as divergence below; numpy's warnings would only
        # add noise to that one clear message.
        with np.errstate(over="ignore", invalid="ignore"):
            self._fit_epochs(train, val, epochs)
        if self.stop_reason is None:
            self.stop_reason = f"{COMPLETED} {self.epoch} epochs"
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self.history

    def _fit_epochs(self, train: Split, val: Split | None, epochs: int) -> None:
        while self.epoch < epochs and self.stop_reason is None:
            started = time.perf_counter()
            lr = self.optimizer.lr
            train_loss = self.train_epoch(train)
            self._check_weights()
            logs: dict[str, float] = {"epoch": self.epoch + 1, "train_loss": train_loss}
            logs.update({f"train_{k}": v for k, v in self.train_scores.items()})
            if val is not None and len(val):
                logs.update({f"val_{k}": v for k, v in self.evaluate(val).items()})
            logs["lr"] = lr
            logs["seconds"] = time.perf_counter() - started
            self.epoch += 1
            self.history.append(logs)
            if self.schedule is not None:
                self.optimizer.lr = self.schedule.step(self.epoch - 1, logs)
            for cb in self.callbacks:
                cb.on_epoch_end(self, logs)

    def _check_weights(self) -> None:
        for p in self.network.parameters():
            if not np.isfinite(p.value).all():
                raise DivergedError(
                    f"training diverged: weights of {p.name} became non-finite in epoch "
                    f"{self.epoch + 1}", hint=divergence_hint(self.optimizer))
