"""Learning-rate schedules: the learning rate for each EPOCH (0-based), from a base rate.

A schedule only produces numbers; the training loop writes them into the optimizer::

    opt.lr = schedule.lr                         # lr for the first epoch (or after a resume)
    for epoch in range(start, epochs):
        ...train one epoch, compute metrics...
        opt.lr = schedule.step(epoch, metrics)   # lr for the NEXT epoch

Most schedules are a formula of the epoch number (:meth:`Schedule.lr_at`). :class:`Plateau`
instead reacts to a monitored metric, so it keeps state; every schedule has
``state_dict()``/``load_state_dict()`` with plain JSON numbers, for exact resume. Settings are
checked by the config before a schedule is built.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any


class Schedule:
    """Base class. ``base_lr`` is the configured ``training.learning_rate`` (> 0).

    Stateless subclasses implement :meth:`lr_at`; the base :meth:`step` then returns
    ``lr_at(epoch + 1)`` and remembers the epoch, which is the only state.
    """

    def __init__(self, base_lr: float) -> None:
        self.base_lr = float(base_lr)
        self.last_epoch = -1  # the last epoch passed to step(); -1 before the first

    def lr_at(self, epoch: int) -> float:
        """The learning rate for epoch ``epoch`` (0-based)."""
        raise NotImplementedError

    @property
    def lr(self) -> float:
        """The learning rate for the next epoch to run (epoch ``last_epoch + 1``)."""
        return self.lr_at(self.last_epoch + 1)

    def step(self, epoch: int, metrics: Mapping[str, float]) -> float:
        """Called after epoch ``epoch`` with its metrics; returns the lr for the next epoch."""
        self.last_epoch = int(epoch)
        return self.lr

    def state_dict(self) -> dict[str, float | int]:
        """Plain numbers (JSON-safe, finite) that :meth:`load_state_dict` restores exactly."""
        return {"last_epoch": self.last_epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (a run checks the keys and values match first)."""
        self.last_epoch = int(state["last_epoch"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_lr={self.base_lr})"


class Constant(Schedule):
    """``lr = base_lr`` for every epoch."""

    def lr_at(self, epoch: int) -> float:
        return self.base_lr


class Step(Schedule):
    """Multiply by ``gamma`` every ``step_size`` epochs: ``lr = base * gamma**(epoch // step_size)``."""

    def __init__(self, base_lr: float, step_size: int = 10, gamma: float = 0.1) -> None:
        super().__init__(base_lr)
        self.step_size, self.gamma = int(step_size), float(gamma)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class Exponential(Schedule):
    """Multiply by ``gamma`` every epoch: ``lr = base * gamma**epoch``."""

    def __init__(self, base_lr: float, gamma: float = 0.95) -> None:
        super().__init__(base_lr)
        self.gamma = float(gamma)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma**epoch


class Cosine(Schedule):
    """Optional linear warm-up, then half a cosine from ``base_lr`` down towards ``min_lr``.

    With ``W = warmup_epochs`` and ``T = total_epochs``::

        epoch < W:   lr = base * (epoch + 1) / W                  # base/W, 2*base/W, ..., base
        otherwise:   lr = min_lr + 0.5 * (base - min_lr) * (1 + cos(pi * (e - W) / max(1, T - W)))
                     with e = min(epoch, T)

    so the first post-warm-up epoch uses ``base`` and the rate would reach ``min_lr`` at
    epoch T (one past the last epoch, as PyTorch's ``CosineAnnealingLR(T_max=T)``). Epochs
    beyond T (training extended on resume) stay at ``min_lr`` instead of rising again.
    Warm-up keeps the first updates small while Adam's statistics or the weights settle.
    """

    def __init__(self, base_lr: float, total_epochs: int, warmup_epochs: int = 0,
                 min_lr: float = 0.0) -> None:
        super().__init__(base_lr)
        self.total_epochs, self.warmup_epochs = int(total_epochs), int(warmup_epochs)
        self.min_lr = float(min_lr)

    def lr_at(self, epoch: int) -> float:
        w, t = self.warmup_epochs, self.total_epochs
        if epoch < w:
            return self.base_lr * (epoch + 1) / w
        e = min(epoch, t)
        cos = math.cos(math.pi * (e - w) / max(1, t - w))
        return self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1.0 + cos)


class InvScaling(Schedule):
    """Inverse scaling in the EPOCH count: ``lr = base / (epoch + 1)**power_t``.

    (scikit-learn's ``invscaling`` counts samples seen, not epochs, so the same ``power_t``
    decays far faster there.)
    """

    def __init__(self, base_lr: float, power_t: float = 0.5) -> None:
        super().__init__(base_lr)
        self.power_t = float(power_t)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr / (epoch + 1) ** self.power_t


def improved(value: float, best: float | None, mode: str, min_delta: float) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` (smaller in mode min, larger
    in mode max). The first value counts if it is a number; NaN never does."""
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def auto_mode(monitor: str) -> str:
    """``min`` for losses and errors (``val_loss``, ``train_mse``, ``rmse``), ``max`` otherwise."""
    return "min" if monitor.lower().endswith(("loss", "mse", "mae")) else "max"


class Plateau(Schedule):
    """Reduce the rate when a monitored metric stops improving (ReduceLROnPlateau).

    After each epoch the metric ``monitor`` either :func:`improved` on the best so far (by more
    than the absolute ``min_delta``) or it is a "bad" epoch. When the consecutive bad epochs
    exceed ``patience`` (``patience=0`` reduces after the first), ``lr = max(lr * factor,
    min_lr)``, the count restarts, and for the next ``cooldown`` epochs bad epochs are not
    counted. ``mode`` is min, max or auto (:func:`auto_mode`).
    """

    def __init__(self, base_lr: float, factor: float = 0.1, patience: int = 10, cooldown: int = 0,
                 min_lr: float = 0.0, monitor: str = "val_loss", mode: str = "auto",
                 min_delta: float = 1e-4) -> None:
        super().__init__(base_lr)
        self.factor, self.patience, self.cooldown = float(factor), int(patience), int(cooldown)
        self.min_lr, self.min_delta, self.monitor = float(min_lr), float(min_delta), monitor
        self.mode = auto_mode(monitor) if mode == "auto" else mode
        self._lr = self.base_lr
        self.best = 0.0  # meaningful only when has_best
        self.has_best = False
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def lr_at(self, epoch: int) -> float:
        raise NotImplementedError("Plateau's rate depends on metrics; use .lr and step()")

    @property
    def lr(self) -> float:
        return self._lr

    def step(self, epoch: int, metrics: Mapping[str, float]) -> float:
        value = float(metrics[self.monitor])
        self.last_epoch = int(epoch)
        if improved(value, self.best if self.has_best else None, self.mode, self.min_delta):
            self.best = value
            self.has_best = True
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown are ignored
        if self.num_bad_epochs > self.patience:
            self._lr = max(self._lr * self.factor, self.min_lr)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        return self._lr

    def state_dict(self) -> dict[str, float | int]:
        # best is stored as a finite number with a has_best flag: inf/nan are not valid JSON.
        return {"last_epoch": self.last_epoch, "lr": self._lr, "best": self.best,
                "has_best": int(self.has_best), "num_bad_epochs": self.num_bad_epochs,
                "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.last_epoch, self._lr = int(state["last_epoch"]), float(state["lr"])
        self.best = float(state["best"])
        self.has_best = bool(state["has_best"])
        self.num_bad_epochs = int(state["num_bad_epochs"])
        self.cooldown_counter = int(state["cooldown_counter"])


SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant, "step": Step, "exponential": Exponential, "cosine": Cosine,
    "invscaling": InvScaling, "plateau": Plateau}


def make_schedule(spec: Mapping[str, Any] | str, base_lr: float, total_epochs: int) -> Schedule:
    """Build a schedule from its config entry: a name or ``{"name": "cosine", "warmup_epochs": 5}``.
    ``total_epochs`` (``training.epochs``) goes to a schedule that takes it (cosine)."""
    spec = {"name": spec} if isinstance(spec, str) else spec
    cls = SCHEDULES[spec["name"]]
    settings = {k: v for k, v in spec.items() if k != "name"}
    if "total_epochs" in inspect.signature(cls).parameters:
        settings.setdefault("total_epochs", total_epochs)
    return cls(base_lr, **settings)
