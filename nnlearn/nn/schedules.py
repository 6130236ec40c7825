"""Learning-rate schedules: the learning rate for each EPOCH (0-based), from a base rate.

A schedule only produces numbers; the training loop writes them into the optimizer::

    opt.lr = schedule.lr                         # lr for the first epoch (or after a resume)
    for epoch in range(start, epochs):
        ...train one epoch, compute metrics...
        opt.lr = schedule.step(epoch, metrics)   # lr for the NEXT epoch

Most schedules are a formula of the epoch number (:meth:`Schedule.lr_at`). :class:`Plateau`
instead reacts to a monitored metric, so it keeps state; every schedule has
``state_dict()``/``load_state_dict()`` with plain JSON numbers, for exact resume.

Invalid settings raise :class:`~nnlearn.errors.ConfigError` keyed ``training.schedule.<name>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from nnlearn.errors import ConfigError, ModelFileError
from nnlearn.nn.registry import check_number, lookup, settings_of


def _key(name: str) -> str:
    return f"training.schedule.{name}"


def _real(value: Any, name: str, *, key: str | None = None, **bounds: Any) -> float:
    """``value`` as a Python float, or ConfigError(key="training.schedule.<name>")."""
    return check_number(value, key or _key(name), **bounds)


def _int(value: Any, name: str, *, low: int) -> int:
    """``value`` as an int >= ``low`` (integral floats such as 5.0 are accepted)."""
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    ):
        raise ConfigError(f"must be a whole number, got {value!r}", key=_key(name))
    n = int(value)
    if n < low:
        raise ConfigError(f"must be >= {low}, got {n}", key=_key(name))
    return n


class Schedule:
    """Base class. ``base_lr`` is the configured ``training.learning_rate`` (> 0).

    Stateless subclasses implement :meth:`lr_at`; the base :meth:`step` then returns
    ``lr_at(epoch + 1)`` and remembers the epoch, which is the only state.
    """

    def __init__(self, base_lr: float) -> None:
        self.base_lr = _real(base_lr, "base_lr", low=0.0, low_open=True,
                             key="training.learning_rate")
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
        """Restore :meth:`state_dict`; ModelFileError if keys are missing or unexpected."""
        _check_keys(self, state, {"last_epoch"})
        self.last_epoch = _state_int(state, "last_epoch", low=-1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_lr={self.base_lr})"


def _check_keys(sched: Schedule, state: Mapping[str, Any], expected: set[str]) -> None:
    missing = sorted(expected - set(state))
    extra = sorted(set(state) - expected)
    if missing or extra:
        raise ModelFileError(f"schedule state does not match {type(sched).__name__}: "
                             f"missing {missing or 'nothing'}, unexpected {extra or 'nothing'}")


def _state_int(state: Mapping[str, Any], key: str, *, low: int) -> int:
    v = state[key]
    if (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
            or float(v) != int(v) or v < low):
        raise ModelFileError(f"schedule state {key!r} is not a whole number >= {low}: {v!r}")
    return int(v)


def _state_float(state: Mapping[str, Any], key: str) -> float:
    v = state[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ModelFileError(f"schedule state {key!r} is not a finite number: {v!r}")
    return float(v)


class Constant(Schedule):
    """``lr = base_lr`` for every epoch."""

    def lr_at(self, epoch: int) -> float:
        return self.base_lr


class Step(Schedule):
    """Multiply by ``gamma`` every ``step_size`` epochs: ``lr = base * gamma**(epoch // step_size)``."""

    def __init__(self, base_lr: float, step_size: int = 10, gamma: float = 0.1) -> None:
        super().__init__(base_lr)
        self.step_size = _int(step_size, "step_size", low=1)
        self.gamma = _real(gamma, "gamma", low=0.0, low_open=True)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class Exponential(Schedule):
    """Multiply by ``gamma`` every epoch: ``lr = base * gamma**epoch``."""

    def __init__(self, base_lr: float, gamma: float = 0.95) -> None:
        super().__init__(base_lr)
        self.gamma = _real(gamma, "gamma", low=0.0, low_open=True)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma**epoch


class Cosine(Schedule):
    """Optional linear warm-up, then half a cosine from ``base_lr`` down towards ``min_lr``.

    With ``W = warmup_epochs`` and ``T = total_epochs``::

        epoch < W:   lr = base * (epoch + 1) / W                  # base/W, 2*base/W, ..., base
        otherwise:   lr = min_lr + 0.5 * (base - min_lr) * (1 + cos(pi * (e - W) / max(1, T - W)))

    so the first post-warm-up epoch uses ``base`` and the rate would reach ``min_lr`` at
    epoch T (one past the last epoch, as PyTorch's ``CosineAnnealingLR(T_max=T)``). Epochs
    beyond T (training extended on resume) stay at ``min_lr`` instead of rising again.
    Warm-up keeps the first updates small while Adam's statistics or the weights settle.
    """

    def __init__(self, base_lr: float, total_epochs: int, warmup_epochs: int = 0,
                 min_lr: float = 0.0) -> None:
        super().__init__(base_lr)
        self.total_epochs = _int(total_epochs, "total_epochs", low=1)
        self.warmup_epochs = _int(warmup_epochs, "warmup_epochs", low=0)
        if self.warmup_epochs >= self.total_epochs and self.warmup_epochs > 0:
            raise ConfigError(f"must be less than the number of epochs ({self.total_epochs})",
                              key=_key("warmup_epochs"))
        self.min_lr = _real(min_lr, "min_lr", low=0.0, high=self.base_lr)

    def lr_at(self, epoch: int) -> float:
        w, t = self.warmup_epochs, self.total_epochs
        if epoch < w:
            return self.base_lr * (epoch + 1) / w
        e = min(epoch, t)
        cos = math.cos(math.pi * (e - w) / max(1, t - w))
        return self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1.0 + cos)


class InvScaling(Schedule):
    """Inverse scaling in the EPOCH count: ``lr = base / (epoch + 1)**power_t``.

    scikit-learn's ``learning_rate='invscaling'`` uses
    ``effective_learning_rate = learning_rate_init / pow(t, power_t)`` where ``t`` counts
    training SAMPLES seen (it is updated at the end of each epoch, so after epoch e it is about
    ``learning_rate_init / (e * n_samples + 1)**power_t``). Ours counts epochs: after epoch e it
    is ``base / (e + 1)**power_t``, so the same ``power_t`` (sklearn's default 0.5) decays far
    more gently, by a factor of about ``n_samples**power_t`` less.
    """

    def __init__(self, base_lr: float, power_t: float = 0.5) -> None:
        super().__init__(base_lr)
        self.power_t = _real(power_t, "power_t", low=0.0)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr / (epoch + 1) ** self.power_t


_MIN_SUFFIXES = ("loss", "mse", "mae", "rmse")


def _auto_mode(monitor: str) -> str:
    """``min`` for losses and errors (``val_loss``, ``train_mse``, ``rmse``), ``max`` otherwise."""
    return "min" if monitor.lower().endswith(_MIN_SUFFIXES) else "max"


class Plateau(Schedule):
    """Reduce the rate when a monitored metric stops improving (ReduceLROnPlateau).

    After each epoch, the metric ``monitor`` (``val_loss`` by default) counts as an
    improvement if it beats the best so far by more than ``min_delta`` (an ABSOLUTE
    threshold, as Keras: ``value < best - min_delta`` in mode min, ``value > best + min_delta``
    in mode max; the first finite value always counts; NaN never does). Otherwise it is a
    "bad" epoch. When the number of consecutive bad epochs exceeds ``patience`` (PyTorch's
    convention: ``patience=0`` reduces after the first bad epoch, ``patience=2`` after the
    third), ``lr = max(lr * factor, min_lr)``, the count restarts, and for the next
    ``cooldown`` epochs bad epochs are not counted (improvements still update the best).

    ``mode`` is ``"min"``, ``"max"`` or ``"auto"`` (min when the monitor name ends in
    ``loss``, ``mse``, ``mae`` or ``rmse``, else max).
    """

    def __init__(self, base_lr: float, factor: float = 0.1, patience: int = 10, cooldown: int = 0,
                 min_lr: float = 0.0, monitor: str = "val_loss", mode: str = "auto",
                 min_delta: float = 1e-4) -> None:
        super().__init__(base_lr)
        self.factor = _real(factor, "factor", low=0.0, high=1.0, low_open=True, high_open=True)
        self.patience = _int(patience, "patience", low=0)
        self.cooldown = _int(cooldown, "cooldown", low=0)
        self.min_lr = _real(min_lr, "min_lr", low=0.0, high=self.base_lr)
        if not isinstance(monitor, str) or not monitor:
            raise ConfigError(f"must be a metric name, got {monitor!r}", key=_key("monitor"))
        self.monitor = monitor
        if mode not in ("min", "max", "auto"):
            raise ConfigError(f"must be min, max or auto, got {mode!r}", key=_key("mode"))
        self.mode = _auto_mode(monitor) if mode == "auto" else mode
        self.min_delta = _real(min_delta, "min_delta", low=0.0)
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

    def _improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if not self.has_best:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, epoch: int, metrics: Mapping[str, float]) -> float:
        if self.monitor not in metrics:
            hint = "set training.schedule.monitor to a metric that is computed"
            if self.monitor.startswith("val_"):
                hint = ("there is no validation split; set training.schedule.monitor: train_loss "
                        "(or configure a validation split)")
            raise ConfigError(
                f"metric {self.monitor!r} is not available (have: {', '.join(sorted(metrics))})",
                key=_key("monitor"), hint=hint)
        value = float(metrics[self.monitor])
        self.last_epoch = int(epoch)
        if self._improved(value):
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
        _check_keys(self, state, {"last_epoch", "lr", "best", "has_best", "num_bad_epochs",
                                  "cooldown_counter"})
        last_epoch = _state_int(state, "last_epoch", low=-1)
        lr = _state_float(state, "lr")
        best = _state_float(state, "best")
        has_best = _state_int(state, "has_best", low=0)
        bad = _state_int(state, "num_bad_epochs", low=0)
        cool = _state_int(state, "cooldown_counter", low=0)
        if lr < 0 or has_best > 1:
            raise ModelFileError(f"schedule state is invalid: lr={lr}, has_best={has_best}")
        self.last_epoch, self._lr, self.best = last_epoch, lr, best
        self.has_best, self.num_bad_epochs, self.cooldown_counter = bool(has_best), bad, cool


SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant,
    "step": Step,
    "exponential": Exponential,
    "cosine": Cosine,
    "invscaling": InvScaling,
    "plateau": Plateau,
}


def make_schedule(spec: Mapping[str, Any] | str, base_lr: float, total_epochs: int) -> Schedule:
    """Build a schedule from its config entry, e.g. ``{"name": "cosine", "warmup_epochs": 5}``.

    ``spec`` may also be just the name. ``total_epochs`` (``training.epochs``) is passed to
    schedules that need it (cosine) unless the spec sets it. Unknown names raise
    ``ConfigError(key="training.schedule")``; unknown settings raise
    ``ConfigError(key="training.schedule.<setting>")``.
    """
    cls, kwargs = lookup(spec, SCHEDULES, key="training.schedule", kind="schedule",
                         skip=("base_lr",))
    allowed = settings_of(cls, ("base_lr",))
    if "total_epochs" in allowed:
        kwargs.setdefault("total_epochs", total_epochs)
    return cls(base_lr, **kwargs)
