"""nnlearn's YAML config: schema, defaults, validation, ``--set`` overrides and dumping.

A config file is read in four steps, each of which can only raise :class:`ConfigError`:

1. :func:`yaml_load` parses the text with a ``SafeLoader`` subclass. Unlike PyYAML's default it
   reads ``1e-3``/``1E5`` as floats (YAML 1.1 wants ``1.0e-3``, which nobody types), refuses
   duplicate keys (the second ``learning_rate:`` would otherwise silently win) and keeps
   ``2024-01-01`` a string (no config key takes a date).
2. :func:`apply_overrides` applies ``--set key.path=value`` strings; the value goes through the same
   YAML loader, so ``model.hidden=[8,8]`` is a list and ``training.learning_rate=1e-3`` a float.
3. :func:`resolve` validates every key against the schema below, fills the defaults and derives
   what the trainer would otherwise have to work out (absolute paths, full optimizer/schedule
   mappings, per-layer specs, early-stopping mode, batching). The result is a plain nested dict in
   schema order whose values are ``None``, ``bool``, ``int``, ``float``, ``str``, lists and dicts.
4. :func:`dump_config` writes a resolved dict back as YAML; loading that text gives the same dict.

Every error names the dotted key (``training.optimizer.beta1``, ``model.layers[1].units``) and
what was expected; an unknown key that is close to a known one gets "did you mean ...?".
Why so strict: a typo such as ``learnig_rate`` that is silently ignored costs a student an
afternoon; refusing it costs one line.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import inspect
import math
import numbers
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path, PurePath
from types import SimpleNamespace
from typing import Any, NoReturn

import yaml

from nnlearn.errors import ConfigError

__all__ = [
    "MONITOR_NAMES",
    "TASK_NAMES",
    "apply_overrides",
    "check_layer_spec",
    "check_monitors",
    "defaults",
    "dump_config",
    "load_config",
    "monitor_mode",
    "resolve",
    "set_dotted",
    "yaml_load",
]

# --------------------------------------------------------------------------------------------
# Names the rest of nnlearn registers (activations, losses, initialisers, optimizers, schedules)
# --------------------------------------------------------------------------------------------

#: Real tasks; the config also accepts ``auto`` (the trainer infers it from the target column).
TASK_NAMES: tuple[str, ...] = ("classification", "regression")
#: What a run scores after every epoch, on the training batches and on the validation rows
#: (``train_accuracy``, ``val_r2``, ...; ``run.metric_fn_for`` computes them).
EPOCH_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy",),
    "regression": ("r2", "rmse", "mae"),
}
#: Quantities early stopping and the plateau schedule may watch: the losses, and the metrics a
#: run scores on its validation rows after every epoch.
_CLASSIFICATION_MONITORS = tuple(f"val_{m}" for m in EPOCH_METRICS["classification"])
_REGRESSION_MONITORS = tuple(f"val_{m}" for m in EPOCH_METRICS["regression"])
MONITOR_NAMES: tuple[str, ...] = ("val_loss", "train_loss", *_CLASSIFICATION_MONITORS,
                                  *_REGRESSION_MONITORS)


def monitor_mode(monitor: str) -> str:
    """``"max"`` for quantities that grow as the model improves (accuracy, F1, R²), else "min":
    the lesson's rule (its module loads no numpy)."""
    from nnlearn.nn.schedules import auto_mode

    return auto_mode(monitor)


# --------------------------------------------------------------------------------------------
# Small helpers: showing a value, raising, suggesting
# --------------------------------------------------------------------------------------------

_REQUIRED = object()  # default marker of a key that has no default


def _show(value: Any) -> str:
    """A short, safe description of any value for an error message.

    Never recurses into containers: YAML aliases can build self-referencing or exponentially
    shared structures whose ``repr`` would never finish, and Python refuses ``str()`` of ints
    with more than 4300 digits.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true (a boolean)" if value else "false (a boolean)"
    if isinstance(value, numbers.Integral):
        try:
            text = str(int(value))
        except ValueError:
            return "a very large integer"
        return text if len(text) <= 30 else f"an integer with {len(text)} digits"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37]) + "..."
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a value of type {type(value).__name__}"


def _key_text(key: Any) -> str:
    return key if isinstance(key, str) else _show(key)


def _did_you_mean(word: Any, choices: Sequence[str]) -> str:
    """`` did you mean 'x'?`` for the closest choice, or "" when nothing is close."""
    if not isinstance(word, str):
        return ""
    same_letters = [c for c in choices if c.lower() == word.lower()]  # Relu -> relu, not elu
    close = same_letters or difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Ctx:
    """Where errors point: the source file (or ``None`` for in-memory mappings)."""

    def __init__(self, source: str | None, base_dir: Path | str | None) -> None:
        self.source = source
        self.base_dir = base_dir

    def fail(self, key: str | None, message: str, hint: str | None = None) -> NoReturn:
        raise ConfigError(message, key=key, path=self.source, hint=hint)


Validator = Callable[[Any, str, _Ctx], Any]

# --------------------------------------------------------------------------------------------
# Validators: each takes (value, dotted key, context) and returns the normalised value
# --------------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    # bool is an int subclass in Python; `epochs: true` is a mistake, not 1.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _number_hint(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true/false are booleans, not numbers"
    if isinstance(value, str):
        return "a quoted value is a string; write the number without quotes"
    return None


#: Upper bounds of counts, so that no valid-looking number overflows later: an epoch count is
#: raised to powers and divided by in the schedules, a width is multiplied into array sizes.
MAX_EPOCHS = 10_000_000
MAX_UNITS = 10_000_000
MAX_BATCH = 2**31 - 1
MAX_SEED = 2**63 - 1
MAX_THREADS = 4096
#: The largest learning rate: warm-up multiplies it by up to MAX_EPOCHS, which stays finite.
MAX_LEARNING_RATE = 1e300


def _integer(minimum: int, *, nullable: bool = False, maximum: int | None = None) -> Validator:
    what = f"an integer >= {minimum}" + (" or null" if nullable else "")

    def check(value: Any, key: str, ctx: _Ctx) -> int | None:
        if value is None and nullable:
            return None
        if _is_int(value):
            if maximum is not None and int(value) > maximum:
                ctx.fail(key, f"expected an integer of at most {maximum:,}, got {_show(value)}")
            if int(value) >= minimum:
                return int(value)
            ctx.fail(key, f"expected {what}, got {_show(value)}")
        hint = _number_hint(value)
        if isinstance(value, float) and value.is_integer():
            hint = f"write {int(value)} without a decimal point or exponent"
        ctx.fail(key, f"expected {what}, got {_show(value)}", hint)

    return check


def _fmt(x: float) -> str:
    return f"{x:g}"


def _number(
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    nullable: bool = False,
) -> Validator:
    """A finite real in the given range; ints are accepted and converted to float."""
    if lo is not None and hi is not None:
        what = (f"a number in {'(' if lo_open else '['}{_fmt(lo)}, {_fmt(hi)}"
                f"{')' if hi_open else ']'}")
    elif lo is not None:
        what = f"a number {'>' if lo_open else '>='} {_fmt(lo)}"
    else:
        what = "a number"
    if nullable:
        what += " or null"

    def check(value: Any, key: str, ctx: _Ctx) -> float | None:
        if value is None and nullable:
            return None
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            ctx.fail(key, f"expected {what}, got {_show(value)}", _number_hint(value))
        try:
            x = float(value)
        except (OverflowError, ValueError, TypeError):
            ctx.fail(key, f"expected {what}, got {_show(value)} (too large for a float)")
        if not math.isfinite(x):
            ctx.fail(key, f"expected {what}, got {_show(x)}", "inf and nan are not allowed")
        too_low = lo is not None and (x <= lo if lo_open else x < lo)
        too_high = hi is not None and (x >= hi if hi_open else x > hi)
        if too_low or too_high:
            ctx.fail(key, f"expected {what}, got {_show(value)}")
        return x

    return check


def _boolean(value: Any, key: str, ctx: _Ctx) -> bool:
    if isinstance(value, bool):
        return value
    ctx.fail(key, f"expected true or false, got {_show(value)}")


def _choice(choices: Sequence[str] | Callable[[], Sequence[str]], *,
            nullable: bool = False) -> Validator:
    """One of ``choices`` (or a function giving them, for names read from the registries)."""

    def check(value: Any, key: str, ctx: _Ctx) -> str | None:
        names = choices() if callable(choices) else choices
        listed = ", ".join(names) + (", or null" if nullable else "")
        if value is None and nullable:
            return None
        if isinstance(value, str) and value in names:
            return str(value)
        ctx.fail(key, f"expected one of {listed}; got {_show(value)}"
                 f"{_did_you_mean(value, names)}", PLUGIN_HINT if callable(choices) else None)

    return check


#: the hint under an unknown registry name: plugin names exist only with their --plugin file
#: (the scikit-learn estimator words it for Python callers)
PLUGIN_HINT = "a name a plugin registers needs its file on the command line: --plugin FILE.py"


def _column(*, nullable: bool) -> Validator:
    what = "a column name" + (" or null" if nullable else "")

    def check(value: Any, key: str, ctx: _Ctx) -> str | None:
        if value is None and nullable:
            return None
        if isinstance(value, str) and value.strip():
            return str(value)
        hint = None
        if isinstance(value, (bool, int, float)):
            hint = "column names are strings; quote it, e.g. '1' or 'yes'"
        ctx.fail(key, f"expected {what} (a non-empty string), got {_show(value)}", hint)

    return check


def _path(*, nullable: bool) -> Validator:
    """A path string, made absolute against the config file's folder (``~`` is expanded)."""
    what = "a path" + (" or null" if nullable else "")

    def check(value: Any, key: str, ctx: _Ctx) -> str | None:
        if value is None and nullable:
            return None
        if isinstance(value, PurePath):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            ctx.fail(key, f"expected {what} (a non-empty string), got {_show(value)}")
        expanded = os.path.expanduser(str(value))
        base = os.fspath(ctx.base_dir) if ctx.base_dir is not None else os.curdir
        # abspath (not Path.resolve) so symlinks stay as the user wrote them.
        return os.path.abspath(os.path.join(base, expanded))

    return check


def _features(value: Any, key: str, ctx: _Ctx) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        ctx.fail(key, f"expected a list of column names or null, got {_show(value)}")
    if not value:
        ctx.fail(key, "expected a non-empty list of column names",
                 "use null to train on every column but the target")
    seen: list[str] = []
    for i, item in enumerate(value):
        name = _column(nullable=False)(item, f"{key}[{i}]", ctx)
        if name in seen:
            ctx.fail(f"{key}[{i}]", f"column {name!r} is listed twice")
        seen.append(name)
    return seen


def _categorical(value: Any, key: str, ctx: _Ctx) -> list[str]:
    """A list of column names, possibly empty (null means none)."""
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return []
    return _features(value, key, ctx)


def _hidden(value: Any, key: str, ctx: _Ctx) -> list[int]:
    if not isinstance(value, (list, tuple)):
        hint = (f"one hidden layer of {value} units is [{value}]"
                if _is_int(value) and value >= 1 else None)
        ctx.fail(key, f"expected a list of integers >= 1 (layer widths), got {_show(value)}",
                 hint)
    return [_integer(1, maximum=MAX_UNITS)(item, f"{key}[{i}]", ctx)
            for i, item in enumerate(value)]


def _batch_size(value: Any, key: str, ctx: _Ctx) -> int | str:
    if isinstance(value, str) and value == "full":
        return "full"
    if _is_int(value) and 1 <= int(value) <= MAX_BATCH:
        return int(value)
    ctx.fail(key, f"expected an integer from 1 to {MAX_BATCH:,} or 'full', got {_show(value)}",
             _number_hint(value) if not isinstance(value, str) else None)


# --------------------------------------------------------------------------------------------
# Optimizers and schedules: name -> {param: (default, validator)}
# --------------------------------------------------------------------------------------------

_unit_interval = _number(0.0, 1.0, hi_open=True)  # momentum, betas, rho: [0, 1)
_positive = _number(0.0, lo_open=True)
_non_negative = _number(0.0)

def _learning_rate(value: Any, key: str, ctx: _Ctx) -> float:
    lr = _positive(value, key, ctx)
    if lr > MAX_LEARNING_RATE:
        ctx.fail(key, f"expected a number of at most {MAX_LEARNING_RATE:g}, got {_show(value)}")
    return lr


#: How the config checks each setting an optimizer or schedule class takes, by the setting's
#: name. The names and defaults themselves come from the classes' constructors (below); a test
#: fails if a class takes a setting that has no check here.
_SETTING_CHECKS: dict[str, Validator] = {
    "momentum": _unit_interval,
    "nesterov": _boolean,
    "rho": _unit_interval,
    "beta1": _unit_interval,
    "beta2": _unit_interval,
    "eps": _positive,
    "initial_accumulator": _non_negative,
    "step_size": _integer(1, maximum=MAX_EPOCHS),
    "gamma": _number(0.0, 1.0, lo_open=True),
    "warmup_epochs": _integer(0, maximum=MAX_EPOCHS),
    "min_lr": _non_negative,
    # (epoch + 1) ** power_t must stay a finite float for every epoch up to MAX_EPOCHS
    "power_t": _number(0.0, 10.0),
    "factor": _number(0.0, 1.0, lo_open=True, hi_open=True),
    "patience": _integer(0, maximum=MAX_EPOCHS),
    "cooldown": _integer(0, maximum=MAX_EPOCHS),
    "min_delta": _non_negative,
}

#: Constructor arguments the config does not set inside ``training.optimizer`` or
#: ``training.schedule``: they come from other keys (learning_rate, weight_decay, epochs).
_OPTIMIZER_FROM_ELSEWHERE = ("params", "lr", "weight_decay")
_SCHEDULE_FROM_ELSEWHERE = ("base_lr", "total_epochs")


def _specs_from(registry: Mapping[str, type], skip: tuple[str, ...],
                extra_checks: Mapping[str, Validator] | None = None,
                ) -> dict[str, dict[str, tuple[Any, Validator]]]:
    """name -> {setting: (the constructor's default, its check)} for every class of a registry."""
    checks = {**_SETTING_CHECKS, **(extra_checks or {})}
    specs: dict[str, dict[str, tuple[Any, Validator]]] = {}
    for name, cls in registry.items():
        params = inspect.signature(cls.__init__).parameters
        # nnlearn's own classes must have a check written above; a plugin's new settings get
        # the check their default's type implies
        own = cls.__module__.startswith("nnlearn.")
        specs[name] = {s: (p.default, checks[s] if own else checks.get(s) or _like(p.default))
                       for s, p in params.items() if s != "self" and s not in skip
                       and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return specs


def _like(default: Any) -> Validator:
    """The check of a setting only a plugin's class takes: a value of its default's type."""
    if isinstance(default, bool):
        return _boolean
    if _is_int(default):
        return _integer(-(2**63))
    if isinstance(default, float):
        return _number()

    def scalar(value: Any, key: str, ctx: _Ctx) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        ctx.fail(key, f"expected a number, true/false, a string or null, got {_show(value)}")

    return scalar


def _monitor(value: Any, key: str, ctx: _Ctx) -> str:
    return _choice(MONITOR_NAMES)(value, key, ctx)


_MODE_CHOICES = ("auto", "min", "max")

def _lesson() -> SimpleNamespace:
    """The names and defaults the config accepts, read from the lesson's registries.

    The registries are the one source: a class added to one of them is a name the config
    accepts, with the defaults its constructor declares. Read on first use, not at import, so
    that loading this module (as sweep workers and ``nnlearn --help`` do) does not load numpy.
    Cached on the registries' contents, so a name a plugin registers later is seen too.
    """
    from nnlearn.nn.activations import ACTIVATIONS, DEFAULT_INIT
    from nnlearn.nn.layers import INITIALIZERS
    from nnlearn.nn.losses import LOSSES
    from nnlearn.nn.optimizers import OPTIMIZERS
    from nnlearn.nn.schedules import SCHEDULES

    registries = (ACTIVATIONS, DEFAULT_INIT, INITIALIZERS, LOSSES, OPTIMIZERS, SCHEDULES)
    return _lesson_of(tuple(tuple(r.items()) for r in registries))


@functools.cache
def _lesson_of(registries: tuple[tuple[tuple[str, Any], ...], ...]) -> SimpleNamespace:
    activations, default_init, initializers, losses, optimizers, schedules = registries
    ACTIVATIONS, DEFAULT_INIT, INITIALIZERS = (dict(activations), dict(default_init),
                                               dict(initializers))
    LOSSES, OPTIMIZERS, SCHEDULES = dict(losses), dict(optimizers), dict(schedules)
    optimizer_specs = _specs_from(OPTIMIZERS, _OPTIMIZER_FROM_ELSEWHERE)
    schedule_specs = _specs_from(SCHEDULES, _SCHEDULE_FROM_ELSEWHERE,
                                 {"monitor": _monitor, "mode": _choice(_MODE_CHOICES)})
    classification = tuple(n for n, cls in LOSSES.items() if cls.task == "classification")
    return SimpleNamespace(
        ACTIVATION_NAMES=tuple(ACTIVATIONS),
        # He initialisation for the (mostly) half-rectified units, Xavier/Glorot for the rest.
        RELU_FAMILY=tuple(a for a, init in DEFAULT_INIT.items() if init == "he"),
        LOSS_NAMES=tuple(LOSSES),
        CLASSIFICATION_LOSSES=classification,
        REGRESSION_LOSSES=tuple(n for n in LOSSES if n not in classification),
        INIT_NAMES=tuple(INITIALIZERS),
        optimizer_specs=optimizer_specs,
        schedule_specs=schedule_specs,
        #: optimizer name -> {parameter: default}; lr and weight decay live in ``training``.
        OPTIMIZER_PARAMS={name: {p: d for p, (d, _) in spec.items()}
                          for name, spec in optimizer_specs.items()},
        SCHEDULE_PARAMS={name: {p: d for p, (d, _) in spec.items()}
                         for name, spec in schedule_specs.items()},
    )


def __getattr__(name: str) -> Any:
    """``config.ACTIVATION_NAMES`` and the other registry-derived tables, read on first use."""
    if name.isupper() and hasattr(_lesson(), name):
        return getattr(_lesson(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: A typical value for a setting named where an optimizer or schedule name belongs.
_SETTING_EXAMPLES = {"momentum": "0.9", "nesterov": "true"}


def _named_mapping(
    value: Any,
    key: str,
    ctx: _Ctx,
    *,
    kind: str,
    specs: Mapping[str, Mapping[str, tuple[Any, Validator]]],
    default_name: str,
) -> dict[str, Any]:
    """An optimizer or schedule: a name, or ``{name: ..., <param>: ...}`` with params filled.

    A mapping without ``name`` means the default one, so ``--set training.optimizer.momentum=0.9``
    works on a file that never mentions the optimizer.
    """
    names = list(specs)
    if isinstance(value, str):
        name_value: Any = value
        given: Mapping[Any, Any] = {}
        name_key = key
    elif isinstance(value, Mapping):
        name_value = value.get("name", default_name)
        given = {k: v for k, v in value.items() if k != "name"}
        name_key = f"{key}.name"
    else:
        ctx.fail(key, f"expected {kind} name ({', '.join(names)}) or a mapping "
                 f"{{name: ..., <parameter>: ...}}, got {_show(value)}")
    owners = [n for n, s in specs.items() if isinstance(name_value, str) and name_value in s]
    if owners and name_value not in specs:  # `optimizer: momentum`: a setting, not a name
        example = _SETTING_EXAMPLES.get(name_value, _show(specs[owners[0]][name_value][0]))
        article = "an" if kind[0] in "aeiou" else "a"
        ctx.fail(name_key, f"{name_value!r} is not {article} {kind} but a setting of "
                 f"{' and '.join(owners)}",
                 f"write {key.rsplit('.', 1)[-1]}: {{name: {owners[0]}, {name_value}: {example}}}")
    if not (isinstance(name_value, str) and name_value in specs):
        ctx.fail(name_key, f"expected one of {', '.join(names)}; got {_show(name_value)}"
                 f"{_did_you_mean(name_value, names)}", PLUGIN_HINT)
    name = str(name_value)
    spec = specs[name]
    takes = ", ".join(spec) if spec else "no parameters"
    for param in given:
        if isinstance(param, str) and param in spec:
            continue
        owners = [n for n, s in specs.items() if param in s]
        hint = f"{name} takes {takes}"
        if param == "params":
            hint = f"write parameters beside name, e.g. {{name: {name}, <parameter>: value}}"
        elif owners:
            hint = f"{_key_text(param)!r} belongs to {', '.join(owners)}; {hint}"
        ctx.fail(f"{key}.{_key_text(param)}",
                 f"unknown parameter for {kind} {name!r}{_did_you_mean(param, list(spec))}",
                 hint)
    resolved: dict[str, Any] = {"name": name}
    for param, (default, check) in spec.items():
        resolved[param] = check(given.get(param, default), f"{key}.{param}", ctx)
    return resolved


# --------------------------------------------------------------------------------------------
# Early stopping and class weights
# --------------------------------------------------------------------------------------------

#: The checks of ``training.early_stopping``'s keys; their defaults are EarlyStopping's.
_EARLY_STOPPING_CHECKS: dict[str, Validator] = {
    "monitor": _monitor,
    "mode": _choice(_MODE_CHOICES),
    "patience": _integer(0, maximum=MAX_EPOCHS),
    "min_delta": _non_negative,
    "restore_best_weights": _boolean,
}


def _early_stopping_spec() -> dict[str, tuple[Any, Validator]]:
    """setting -> (the default ``EarlyStopping`` declares, its check); imported on first use,
    like :func:`_lesson`."""
    from nnlearn.nn.training import EarlyStopping

    params = inspect.signature(EarlyStopping.__init__).parameters
    return {k: (params[k].default, check) for k, check in _EARLY_STOPPING_CHECKS.items()}


def _resolve_mode(mapping: dict[str, Any], key: str, ctx: _Ctx) -> None:
    """Replace ``mode: auto`` by min/max; refuse a mode that fights the monitored quantity."""
    natural = monitor_mode(mapping["monitor"])
    if mapping["mode"] == "auto":
        mapping["mode"] = natural
    elif mapping["mode"] != natural:
        ctx.fail(f"{key}.mode",
                 f"mode {mapping['mode']!r} does not fit monitor {mapping['monitor']!r}, "
                 f"which {'grows' if natural == 'max' else 'shrinks'} as the model improves",
                 f"use mode: {natural} or mode: auto")


def _early_stopping(value: Any, key: str, ctx: _Ctx) -> dict[str, Any] | None:
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    if not isinstance(value, Mapping):
        ctx.fail(key, f"expected null, true, false or a mapping, got {_show(value)}")
    _check_keys(value, list(_EARLY_STOPPING_CHECKS), key, ctx)
    resolved = {k: check(value.get(k, default), f"{key}.{k}", ctx)
                for k, (default, check) in _early_stopping_spec().items()}
    _resolve_mode(resolved, key, ctx)
    return resolved


def _class_weight(value: Any, key: str, ctx: _Ctx) -> str | dict[str, float] | None:
    """null, ``balanced``, or {label: weight > 0}; labels become strings (CSV labels are text)."""
    if value is None or (isinstance(value, str) and value == "balanced"):
        return None if value is None else "balanced"
    if not isinstance(value, Mapping):
        ctx.fail(key, f"expected null, 'balanced' or a mapping {{label: weight}}, got "
                 f"{_show(value)}{_did_you_mean(value, ['balanced'])}")
    if not value:
        ctx.fail(key, "expected at least one label: weight pair", "use null for equal weights")
    resolved: dict[str, float] = {}
    for label, weight in value.items():
        if isinstance(label, str) and label:
            text = str(label)
        elif _is_int(label):
            try:
                text = str(int(label))
            except ValueError:
                ctx.fail(key, "a class label is too large an integer")
        else:
            ctx.fail(f"{key}.{_key_text(label)}",
                     f"class labels must be non-empty strings or integers, got {_show(label)}",
                     "quote the label as it appears in the CSV file")
        if text in resolved:
            ctx.fail(f"{key}.{text}", f"class label {text!r} is given twice")
        resolved[text] = _positive(weight, f"{key}.{text}", ctx)
    return resolved


# --------------------------------------------------------------------------------------------
# The schema: section -> {key: (default, validator)}, in the order dump_config writes them
# --------------------------------------------------------------------------------------------

_TOP_KEYS: tuple[str, ...] = ("seed", "data", "model", "training", "output")

_SECTIONS: dict[str, dict[str, tuple[Any, Validator]]] = {
    "data": {
        "train": (_REQUIRED, _path(nullable=False)),
        "test": (None, _path(nullable=True)),
        "target": (_REQUIRED, _column(nullable=False)),
        "task": ("auto", _choice(("auto", *TASK_NAMES))),
        "features": (None, _features),
        "val_fraction": (0.2, _number(0.0, 1.0, hi_open=True)),
        "standardize": (True, _boolean),
        "standardize_target": (True, _boolean),
        "sample_weight": (None, _column(nullable=True)),
        "categorical": ([], _categorical),
        "missing": ("refuse", _choice(("refuse", "mean"))),
        "unknown_category": ("error", _choice(("error", "ignore"))),
        "allow_many_classes": (False, _boolean),
    },
    "model": {
        "hidden": ([64], _hidden),
        "activation": ("relu", _choice(lambda: _lesson().ACTIVATION_NAMES)),
        "dropout": (0.0, _unit_interval),
        "init": ("auto", _choice(lambda: ("auto", *_lesson().INIT_NAMES))),
        "layers": (None, lambda v, k, c: v),  # checked in _resolve_model (needs the defaults)
    },
    "training": {
        "epochs": (300, _integer(1, maximum=MAX_EPOCHS)),
        "batch_size": (32, _batch_size),
        "batching": (None, _choice(("full", "minibatch", "stochastic"), nullable=True)),
        "learning_rate": (0.01, _learning_rate),
        "optimizer": ({"name": "sgd", "momentum": 0.9}, lambda v, k, c: _named_mapping(
            v, k, c, kind="optimizer", specs=_lesson().optimizer_specs, default_name="sgd")),
        "schedule": ("constant", lambda v, k, c: _named_mapping(
            v, k, c, kind="schedule", specs=_lesson().schedule_specs, default_name="constant")),
        "loss": ("auto", _choice(lambda: ("auto", *_lesson().LOSS_NAMES))),
        "weight_decay": (0.001, _non_negative),
        "clip_grad_norm": (None, _number(0.0, lo_open=True, nullable=True)),
        "clip_grad_value": (None, _number(0.0, lo_open=True, nullable=True)),
        "early_stopping": (True, _early_stopping),  # EarlyStopping's defaults
        "class_weight": (None, _class_weight),
        "checkpoint_every": (0, _integer(0, maximum=MAX_EPOCHS)),
        "dtype": ("float64", _choice(("float64", "float32"))),
        "diagnostics": (False, _boolean),
        "snapshots": (0, _integer(0, maximum=MAX_EPOCHS + 1)),  # epochs 0..epochs at most
        "shuffle": (True, _boolean),
        "threads": (None, _integer(1, nullable=True, maximum=MAX_THREADS)),
    },
    "output": {
        "dir": (None, _path(nullable=True)),
    },
}

_LAYER_KEYS = ("units", "activation", "dropout", "init")

#: The settings a layer of a saved network may carry (``Sequential.spec()``), with the bounds a
#: config puts on them; a model file is checked against these like a config is.
def _layer_settings() -> dict[str, dict[str, Validator]]:
    """layer type -> {setting: check}; activations are every registered name (plugins too)."""
    return {
        "dense": _layer_settings_dense(),
        "dropout": {"rate": _unit_interval},
        # a leaky ReLU's negative slope is a fraction; ELU's alpha is the floor it saturates to
        "leaky_relu": {"alpha": _number(0.0, 1.0)},
        "elu": {"alpha": _number(0.0, 10.0, lo_open=True)},
        **{name: {} for name in _lesson().ACTIVATION_NAMES if name not in ("leaky_relu", "elu")},
        **(_plugin_layer_settings() if _plugin_layers() else {}),
    }


def _layer_settings_dense() -> dict[str, Validator]:
    return {"in": _integer(1, maximum=MAX_UNITS), "out": _integer(1, maximum=MAX_UNITS),
            "init": _choice(_lesson().INIT_NAMES), "name": _column(nullable=False)}


_REQUIRED_LAYER_SETTINGS = {"dense": ("in", "out", "name"), "dropout": ("rate",)}


def _plugin_layers() -> tuple[str, ...]:
    """The layer types plugins registered (read only when a plugin may have been loaded, so
    that reading a config does not import numpy)."""
    import sys

    if "nnlearn.runs.extend" not in sys.modules:
        return ()
    from nnlearn.runs.extend import LAYERS

    return tuple(LAYERS)


def _placeable(kind: str, key: str, ctx: _Ctx | None = None) -> dict[str, tuple[Any, Validator]]:
    """{setting: (default, check)} of the registered layer ``kind``, whose constructor takes
    ``(d_in, d_out, *, rng, name, **settings)``; ``init`` is among them when it takes one.
    A layer whose constructor takes no arguments cannot be placed: ConfigError at ``key``."""
    from nnlearn.runs.extend import LAYER_PROTOCOL, LAYERS, layer_settings, layer_takes

    cls = LAYERS[kind]
    settings = layer_settings(cls)
    if settings is None:
        (ctx or _Ctx(None, None)).fail(
            key, f"the layer {kind!r} ({cls.__name__}) takes no arguments, so model.layers "
            "cannot place it (it is for Python code: Sequential([...]))",
            f"to place it, its constructor must be {LAYER_PROTOCOL}")
    out: dict[str, tuple[Any, Validator]] = {s: (d, _like(d)) for s, d in settings.items()}
    if layer_takes(cls, "init"):
        out["init"] = ("he", _choice(_lesson().INIT_NAMES))
    return out


def _plugin_layer_settings() -> dict[str, dict[str, Validator]]:
    """Saved-layer settings of each placeable plugin layer: widths and name, as a Dense has,
    then its own settings (``init`` only when its constructor takes one)."""
    from nnlearn.runs.extend import LAYERS, layer_settings

    dense = _layer_settings_dense()
    out: dict[str, dict[str, Validator]] = {}
    for kind, cls in LAYERS.items():
        if layer_settings(cls) is None:
            continue
        own = {s: check for s, (_, check) in _placeable(kind, "").items()}
        out[kind] = {"in": dense["in"], "out": dense["out"], "name": dense["name"], **own}
    return out


def check_layer_spec(layer: Any, key: str) -> None:
    """Check one layer of a saved network's architecture (``{"type": "dense", "in": 4, ...}``)
    with the bounds the config puts on the same settings. Raises ConfigError naming ``key``
    (e.g. ``architecture[2].alpha``)."""
    ctx = _Ctx(None, None)
    if not isinstance(layer, Mapping):
        ctx.fail(key, f"expected a mapping describing a layer, got {_show(layer)}")
    kind = layer.get("type")
    settings = _layer_settings()
    if not (isinstance(kind, str) and kind in settings):
        ctx.fail(f"{key}.type", f"unknown layer type {_show(kind)}")
    allowed = settings[kind]
    _check_keys(layer, ["type", *allowed], key, ctx)
    required = _REQUIRED_LAYER_SETTINGS.get(kind, ("in", "out", "name") if "in" in allowed
                                            else ())
    for name in required:
        if name not in layer:
            ctx.fail(f"{key}.{name}", "missing required key")
    for name, check in allowed.items():
        if name in layer:
            check(layer[name], f"{key}.{name}", ctx)
    if "in" in allowed and "/" in layer["name"]:
        ctx.fail(f"{key}.name", f"a layer name cannot contain '/', got {_show(layer['name'])}")


_SEED = _integer(0, nullable=True, maximum=MAX_SEED)


def _home_of(key: Any) -> str | None:
    """The dotted key a misplaced key probably belongs to (``epochs`` -> ``training.epochs``)."""
    if not isinstance(key, str):
        return None
    if key in _TOP_KEYS:
        return key
    for section, fields in _SECTIONS.items():
        if key in fields:
            return f"{section}.{key}"
    return None


def _check_keys(mapping: Mapping[Any, Any], allowed: Sequence[str], prefix: str, ctx: _Ctx,
                *, suggest_elsewhere: bool = False) -> None:
    """Refuse the first key of ``mapping`` not in ``allowed``, with its full dotted path."""
    for k in mapping:
        if isinstance(k, str) and k in allowed:
            continue
        dotted = f"{prefix}.{_key_text(k)}" if prefix else _key_text(k)
        suggestion = _did_you_mean(k, allowed)
        home = _home_of(k) if suggest_elsewhere else None
        if not suggestion and home and home != dotted:
            suggestion = f"; did you mean {home!r}?"
        where = f" in {prefix}" if prefix else ""
        ctx.fail(dotted, f"unknown key {_show(k)}{suggestion}",
                 f"valid keys{where}: {', '.join(allowed)}")


def _section(raw: Mapping[Any, Any], name: str, ctx: _Ctx) -> tuple[dict[str, Any], set[str]]:
    """Validate one section; returns (resolved values in schema order, keys given explicitly)."""
    value = raw.get(name)
    if value is None:  # `model:` with nothing under it means "all defaults"
        value = {}
    if not isinstance(value, Mapping):
        ctx.fail(name, f"expected a mapping of {name} settings, got {_show(value)}")
    fields = _SECTIONS[name]
    _check_keys(value, list(fields), name, ctx, suggest_elsewhere=True)
    out: dict[str, Any] = {}
    for key, (default, check) in fields.items():
        if key in value:
            out[key] = check(value[key], f"{name}.{key}", ctx)
        elif default is _REQUIRED:
            ctx.fail(f"{name}.{key}", "missing required key",
                     _REQUIRED_HINTS.get(f"{name}.{key}"))
        else:
            out[key] = check(default, f"{name}.{key}", ctx)
    return out, {k for k in value if isinstance(k, str)}


_REQUIRED_HINTS = {
    "data.train": "e.g. data: {train: train.csv, target: label} (relative to the config file)",
    "data.target": "name the CSV column to predict, e.g. target: label",
}


def _default_init(init: str, activation: str) -> str:
    if init != "auto":
        return init
    return "he" if activation in _lesson().RELU_FAMILY else "xavier"


def _resolve_model(model: dict[str, Any], given: set[str], raw_layers: Any, ctx: _Ctx) -> None:
    """Fill ``model.layers`` with one complete dict per hidden layer and ``hidden`` with widths."""
    if raw_layers is None:
        model["layers"] = [
            {"units": units, "activation": model["activation"], "dropout": model["dropout"],
             "init": _default_init(model["init"], model["activation"])}
            for units in model["hidden"]
        ]
        return
    if not isinstance(raw_layers, (list, tuple)):
        ctx.fail("model.layers", f"expected a list of {{units: ..., activation: ...}} mappings "
                 f"or null, got {_show(raw_layers)}")
    layers = []
    for i, layer in enumerate(raw_layers):
        key = f"model.layers[{i}]"
        if _is_int(layer):
            ctx.fail(key, f"expected a mapping {{units: ..., ...}}, got {_show(layer)}",
                     f"write {{units: {_show(layer)}}} or use model.hidden for plain widths")
        if not isinstance(layer, Mapping):
            ctx.fail(key, f"expected a mapping {{units: ..., ...}}, got {_show(layer)}")
        kind = _choice(lambda: ("dense", *_plugin_layers()))(layer.get("type", "dense"),
                                                            f"{key}.type", ctx)
        settings = {} if kind == "dense" else _placeable(kind, f"{key}.type", ctx)
        own = [k for k in _LAYER_KEYS if k != "init" or kind == "dense" or "init" in settings]
        _check_keys({k: v for k, v in layer.items() if k != "type"},
                    [*own, *(s for s in settings if s != "init")], key, ctx)
        if "units" not in layer:
            ctx.fail(f"{key}.units", "missing required key", "every layer needs units: <int>")
        units = _integer(1, maximum=MAX_UNITS)(layer["units"], f"{key}.units", ctx)
        activation = _choice(_lesson().ACTIVATION_NAMES)(layer.get("activation", model["activation"]),
                                               f"{key}.activation", ctx)
        dropout = _unit_interval(layer.get("dropout", model["dropout"]), f"{key}.dropout", ctx)
        init = _choice(("auto", *_lesson().INIT_NAMES))(layer.get("init", model["init"]),
                                              f"{key}.init", ctx)
        resolved = {"units": units, "activation": activation, "dropout": dropout,
                    "init": _default_init(init, activation)}
        if kind != "dense":  # a plugin's layer: its name first, its own settings last
            resolved = {"type": kind, **resolved}
            if "init" not in settings:  # its constructor draws its weights its own way
                del resolved["init"]
            for name, (default, check) in settings.items():
                if name != "init":
                    resolved[name] = check(layer.get(name, default), f"{key}.{name}", ctx)
        layers.append(resolved)
    units_list = [layer["units"] for layer in layers]
    if "hidden" in given and model["hidden"] != units_list:
        ctx.fail("model.hidden", f"model.hidden {model['hidden']} contradicts model.layers "
                 f"(units {units_list})", "give only one of model.hidden and model.layers")
    model["hidden"] = units_list
    model["layers"] = layers


def _batching_of(batch_size: Any) -> str:
    """The regime a batch size means: "full", 1 -> "stochastic", anything else "minibatch"."""
    if isinstance(batch_size, str) and batch_size == "full":
        return "full"
    return "stochastic" if _is_int(batch_size) and batch_size == 1 else "minibatch"


def _resolve_batching(training: dict[str, Any], given: set[str], ctx: _Ctx) -> None:
    """Make ``batching`` and ``batch_size`` agree; refuse when the file says two things."""
    batching, size = training["batching"], training["batch_size"]
    if batching is None:
        training["batching"] = _batching_of(size)
        return
    wanted = {"full": "'full'", "stochastic": "1", "minibatch": "an integer > 1"}[batching]
    fits = ((batching == "full" and size == "full")
            or (batching == "stochastic" and size == 1)
            or (batching == "minibatch" and _is_int(size) and size > 1))
    if "batch_size" in given:
        if not fits:
            ctx.fail("training.batching",
                     f"{batching!r} does not go with training.batch_size {_show(size)}; "
                     f"{batching} needs batch_size {wanted}",
                     "remove one of training.batching and training.batch_size")
        return
    if batching == "full":
        training["batch_size"] = "full"
    elif batching == "stochastic":
        training["batch_size"] = 1
    # minibatch keeps the default batch_size (32)


def _check_monitor(monitor: str, key: str, task: str | None, val_fraction: float,
                   ctx: _Ctx) -> None:
    if monitor.startswith("val_") and val_fraction == 0:
        ctx.fail(key, f"monitor {monitor!r} needs a validation set but data.val_fraction is 0",
                 "set data.val_fraction > 0 or monitor train_loss")
    if task == "regression" and monitor in _CLASSIFICATION_MONITORS:
        ctx.fail(key, f"monitor {monitor!r} is a classification metric but the task is "
                 "regression",
                 f"use one of val_loss, train_loss, {', '.join(_REGRESSION_MONITORS)}")
    if task == "classification" and monitor in _REGRESSION_MONITORS:
        ctx.fail(key, f"monitor {monitor!r} is a regression metric but the task is "
                 "classification",
                 f"use one of val_loss, train_loss, {', '.join(_CLASSIFICATION_MONITORS)}")


def check_monitors(training: Mapping[str, Any], task: str, n_val: int,
                   val_fraction: float) -> None:
    """The monitors of resolved ``training`` settings against what the run will compute, once
    the data has decided the task and how many rows ``val_fraction`` held back (``n_val``):
    the config's own check could not know either with ``task: auto``, or a file too small to
    hold a row back. Raises ConfigError naming the key, before any epoch runs."""
    ctx = _Ctx(None, None)
    schedule, stopping = training["schedule"], training["early_stopping"]
    watched = [("training.early_stopping.monitor", stopping and stopping["monitor"]),
               ("training.schedule.monitor",
                schedule["monitor"] if schedule["name"] == "plateau" else None)]
    for key, monitor in watched:
        if not monitor:
            continue
        if monitor.startswith("val_") and val_fraction > 0 and n_val == 0:
            ctx.fail(key, f"monitor {monitor!r} needs validation rows, but the training file "
                     "has too few rows to hold one back", "monitor train_loss, or add rows")
        _check_monitor(monitor, key, task, val_fraction, ctx)


def _cross_checks(cfg: dict[str, Any], ctx: _Ctx) -> None:
    """Rules that involve more than one key."""
    data, training = cfg["data"], cfg["training"]
    # -- columns
    if data["features"] is not None:
        for col_key in ("target", "sample_weight"):
            if data[col_key] is not None and data[col_key] in data["features"]:
                ctx.fail("data.features", f"data.{col_key} {data[col_key]!r} must not be "
                         "one of the features")
    if data["sample_weight"] is not None and data["sample_weight"] == data["target"]:
        ctx.fail("data.sample_weight", "the weight column cannot be the target column")
    # -- loss vs task
    task, loss = data["task"], training["loss"]
    if task != "auto" and loss != "auto":
        fitting = (_lesson().CLASSIFICATION_LOSSES if task == "classification"
                   else _lesson().REGRESSION_LOSSES)
        if loss not in fitting:
            ctx.fail("training.loss", f"loss {loss!r} does not fit data.task {task!r}",
                     f"for {task} use {' or '.join(fitting)} (or loss: auto)")
    implied = (task if task != "auto" else
               "classification" if loss in _lesson().CLASSIFICATION_LOSSES else
               "regression" if loss in _lesson().REGRESSION_LOSSES else None)
    if training["class_weight"] is not None and implied == "regression":
        ctx.fail("training.class_weight", "class weights need a classification task",
                 "use data.sample_weight to weight regression samples")
    # -- monitors
    if training["early_stopping"] is not None:
        _check_monitor(training["early_stopping"]["monitor"], "training.early_stopping.monitor",
                       implied, data["val_fraction"], ctx)
    schedule = training["schedule"]
    if schedule["name"] == "plateau":
        _check_monitor(schedule["monitor"], "training.schedule.monitor", implied,
                       data["val_fraction"], ctx)
        _resolve_mode(schedule, "training.schedule", ctx)
    _training_checks(training, ctx)


def _training_checks(training: dict[str, Any], ctx: _Ctx) -> None:
    """Rules between ``training`` keys alone."""
    schedule = training["schedule"]
    if "min_lr" in schedule and schedule["min_lr"] > training["learning_rate"]:
        ctx.fail("training.schedule.min_lr",
                 f"min_lr {_show(schedule['min_lr'])} is above training.learning_rate "
                 f"{_show(training['learning_rate'])}")
    if 0 < schedule.get("warmup_epochs", 0) >= training["epochs"]:
        ctx.fail("training.schedule.warmup_epochs",
                 f"expected fewer warm-up epochs than training.epochs ({training['epochs']}), "
                 f"got {schedule['warmup_epochs']}")
    optimizer = training["optimizer"]
    if optimizer["name"] == "sgd" and optimizer["nesterov"] and optimizer["momentum"] == 0:
        ctx.fail("training.optimizer.nesterov", "nesterov needs momentum > 0",
                 "set training.optimizer.momentum, e.g. 0.9")


def check_settings(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``model`` and ``training`` settings that come without a config file (the
    scikit-learn estimator's parameters) by the same rules as a config; return both sections
    resolved. ConfigError names the dotted key, as for a file. The lesson's classes trust their
    settings, so whatever builds them from outside a config checks them here first."""
    ctx = _Ctx(None, None)
    model, given = _section(raw, "model", ctx)
    training, given_training = _section(raw, "training", ctx)
    _resolve_model(model, given, (raw.get("model") or {}).get("layers"), ctx)
    _resolve_batching(training, given_training, ctx)
    _training_checks(training, ctx)
    return {"model": model, "training": training}


def resolve(raw: Mapping, *, base_dir: Path, source: str | None = None) -> dict:
    """Validate a raw config mapping and return the complete, resolved config.

    ``raw`` is what a YAML file parses to (or a mapping a sweep built in memory); it is not
    modified. Relative paths are joined to ``base_dir`` (the config file's folder). ``source``
    names the file in error messages. The result always has every key of the schema, in schema
    order, with: absolute path strings; ``model.layers`` as complete per-layer dicts and
    ``model.hidden`` as their widths; optimizer/schedule as ``{name, <all params>}``;
    ``early_stopping`` as null or a full mapping with ``mode`` min/max; ``batching`` and
    ``batch_size`` consistent. ``resolve(resolve(raw)) == resolve(raw)``.

    Raises ConfigError for anything wrong, naming the dotted key.
    """
    ctx = _Ctx(source, base_dir)
    if not isinstance(raw, Mapping):
        ctx.fail(None, f"the top level must be a mapping of settings (key: value), "
                 f"got {_show(raw)}")
    _check_keys(raw, _TOP_KEYS, "", ctx, suggest_elsewhere=True)
    cfg: dict[str, Any] = {"seed": _SEED(raw.get("seed"), "seed", ctx)}
    given: dict[str, set[str]] = {}
    for name in _SECTIONS:
        cfg[name], given[name] = _section(raw, name, ctx)
    raw_model = raw.get("model") or {}
    _resolve_model(cfg["model"], given["model"], raw_model.get("layers"), ctx)
    _resolve_batching(cfg["training"], given["training"], ctx)
    if "early_stopping" not in given["training"] and cfg["data"]["val_fraction"] == 0:
        # The default early stopping watches the validation split; a config that holds no rows
        # back has nothing for it to watch, and never asked for it.
        cfg["training"]["early_stopping"] = None
    _cross_checks(cfg, ctx)
    return cfg


#: option names people try for config keys whose last part is spelled otherwise
_OPTION_ALIASES = {"lr": "learning_rate", "hidden_layers": "hidden", "batch": "batch_size"}


def key_for_option(option: str) -> str | None:
    """The dotted config key that an unknown command-line option such as ``--epochs`` names
    (its last part, or a common alias such as ``--lr``), when exactly one key has that name."""
    leaf = option.lstrip("-").replace("-", "_")
    leaf = _OPTION_ALIASES.get(leaf, leaf)
    keys = [f"{section}.{key}" for section, fields in _SECTIONS.items() for key in fields
            if key == leaf] + [key for key in _TOP_KEYS if key == leaf and key not in _SECTIONS]
    return keys[0] if len(keys) == 1 else None


def defaults(overrides: Sequence[str] = ()) -> dict:
    """Every key's default as :func:`resolve` fills it in: the resolved config of a file that
    names only the required keys (``data.train``, ``data.target``, which are None here, having
    no default), after the ``--set`` style ``overrides``. Optimizer, schedule and early stopping
    are full mappings, as in any resolved config. A new dict on every call.

    For code that mirrors the config under other names (the scikit-learn estimators), so that
    the schema above stays the one place a default is written.
    """
    required = [(name, key) for name, fields in _SECTIONS.items()
                for key, (default, _) in fields.items() if default is _REQUIRED]
    raw: dict[str, Any] = {}
    for name, key in required:  # placeholders that every required key's check accepts
        raw.setdefault(name, {})[key] = "required"
    cfg = resolve(apply_overrides(raw, overrides), base_dir=Path(os.sep))
    for name, key in required:
        cfg[name][key] = None
    return cfg


# --------------------------------------------------------------------------------------------
# Overrides
# --------------------------------------------------------------------------------------------


def _union(specs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    out = ["name"]
    for spec in specs.values():
        out += [p for p in spec if p not in out]
    return out


def _subkeys() -> dict[str, list[str] | None]:
    """The keys that take sub-keys in ``--set``, and which (None: any)."""
    return {
        "training.optimizer": _union(_lesson().optimizer_specs),
        "training.schedule": _union(_lesson().schedule_specs),
        "training.early_stopping": list(_EARLY_STOPPING_CHECKS),
        "training.class_weight": None,  # any label
    }


def _parse_key(key: Any, origin: str | None) -> list[str]:
    """Split and check a dotted override key against the schema; returns its parts.

    ``origin`` (e.g. ``override 'epochs=3'``) is where the key came from; errors carry it as
    their location, so they read ``override 'trainig.epochs=3': trainig: unknown key ...``.
    """
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(f"expected a dotted key such as training.epochs, got {_show(key)}",
                          path=origin)
    parts = key.strip().split(".")
    if any(not p.strip() for p in parts):
        raise ConfigError(f"empty part in key {key!r}", path=origin)
    parts = [p.strip() for p in parts]
    dotted = ".".join(parts)

    def unknown(i: int, allowed: Sequence[str]) -> NoReturn:
        suggestion = _did_you_mean(parts[i], allowed)
        if not suggestion and i == 0 and _home_of(parts[0]):
            suggestion = f"; did you mean {_home_of(parts[0])!r}?"
        where = f" in {'.'.join(parts[:i])}" if i else ""
        raise ConfigError(f"unknown key {parts[i]!r}{suggestion}",
                          key=".".join(parts[: i + 1]), path=origin,
                          hint=f"valid keys{where}: {', '.join(allowed)}")

    def scalar(i: int) -> NoReturn:
        raise ConfigError(f"{'.'.join(parts[:i])} is a single value and has no sub-keys",
                          key=dotted, path=origin)

    if parts[0] not in _TOP_KEYS:
        unknown(0, _TOP_KEYS)
    if parts[0] == "seed":
        if len(parts) > 1:
            scalar(1)
        return parts
    if len(parts) == 1:
        return parts
    fields = _SECTIONS[parts[0]]
    if parts[1] not in fields:
        unknown(1, list(fields))
    if len(parts) == 2:
        return parts
    field = f"{parts[0]}.{parts[1]}"
    if field == "model.layers":
        raise ConfigError("set the whole list, e.g. "
                          "model.layers=[{units: 32}, {units: 16, activation: tanh}]",
                          key=dotted, path=origin)
    subkeys = _subkeys()
    if field not in subkeys:
        scalar(2)
    allowed = subkeys[field]
    if allowed is not None and parts[2] not in allowed:
        unknown(2, allowed)
    if len(parts) > 3:
        scalar(3)
    return parts


def _expand(value: Any, field: str, origin: str | None) -> dict[Any, Any]:
    """Turn the current value of a mapping-capable key into a dict one sub-key can be set in."""
    if isinstance(value, Mapping):
        return dict(value)
    if value is None:
        return {}
    if isinstance(value, str) and field in ("training.optimizer", "training.schedule"):
        return {"name": value}  # "sgd" -> {name: sgd}, then the parameter is added
    if isinstance(value, bool) and field == "training.early_stopping":
        return {}  # setting a sub-key turns early stopping on with the other keys at defaults
    if isinstance(value, str) and value == "balanced" and field == "training.class_weight":
        return {}
    raise ConfigError(f"cannot set a sub-key: {field} is {_show(value)}, not a mapping",
                      key=field, path=origin)


def _top_mapping(raw: Any, origin: str | None) -> Mapping[Any, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"the top level must be a mapping of settings, got {_show(raw)}",
                          path=origin)
    return raw


def _set(raw: Mapping[Any, Any], parts: list[str], value: Any, origin: str | None) -> dict:
    # Copy only the path being changed: the input stays untouched, and there is no deepcopy
    # to trip over the deep or self-referencing structures YAML aliases can build.
    top = dict(raw)
    if len(parts) == 1:
        top[parts[0]] = value
        return top
    section = top.get(parts[0])
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"cannot set a sub-key: {parts[0]} is {_show(section)}, "
                          "not a mapping", key=parts[0], path=origin)
    section = dict(section)
    top[parts[0]] = section
    if len(parts) == 2:
        section[parts[1]] = value
        return top
    current = section.get(parts[1])
    if parts[1] not in section:
        # A key the file leaves out stands for its default, so setting one sub-key of a default
        # mapping (training.optimizer.nesterov) keeps the default's other sub-keys (momentum).
        default = _SECTIONS[parts[0]][parts[1]][0]
        current = default if isinstance(default, Mapping) else None
    inner = _expand(current, f"{parts[0]}.{parts[1]}", origin)
    section[parts[1]] = inner
    inner[parts[2]] = value
    return top


def set_dotted(raw: dict, key: str, value: Any) -> dict:
    """Return a copy of ``raw`` with ``key`` (e.g. ``training.optimizer.beta1``) set to ``value``.

    Same rules as :func:`apply_overrides` for an already-typed value: the key must exist in the
    schema; setting a parameter of an optimizer/schedule given as a name expands the name to a
    mapping first. The value itself is checked later, by :func:`resolve`. Only the dicts on the
    key's path are copied; ``raw`` is never modified.
    """
    parts = _parse_key(key, None)
    return _set(_top_mapping(raw, None), parts, value, None)


def apply_overrides(raw: dict, overrides: Sequence[str]) -> dict:
    """Apply ``key.path=value`` strings in order and return a new mapping.

    The value is parsed by :func:`yaml_load` (``model.hidden=[8,8]`` is a list,
    ``training.learning_rate=1e-3`` a float, ``seed=`` null). ``raw`` is not modified.
    Errors carry ``override '<text>'`` as their location.
    """
    result = dict(_top_mapping(raw, None))
    if isinstance(overrides, str):
        overrides = [overrides]
    overridden: set[tuple[str, ...]] = set()
    for item in overrides:
        if not isinstance(item, str):
            raise ConfigError(f"expected a string key.path=value, got {_show(item)}",
                              path="override")
        origin = f"override {item!r}"
        if "=" not in item:
            raise ConfigError("expected key.path=value", path=origin,
                              hint="e.g. --set training.learning_rate=0.001")
        key, text = item.split("=", 1)
        parts = _parse_key(key, origin)
        result = _set(result, parts, yaml_load(text, origin), origin)
        overridden.add(tuple(parts))
    return _override_wins_batching(result, overridden)


def _override_wins_batching(raw: dict, overridden: set[tuple[str, ...]]) -> dict:
    """``batching`` and ``batch_size`` must agree. When an override sets one of them and not the
    other, the file's other one gives way (``--set training.batching=stochastic`` over a file
    with ``batch_size: 32`` means batch size 1), instead of being refused as a contradiction."""
    batching, size = ("training", "batching"), ("training", "batch_size")
    training = raw.get("training")
    if not isinstance(training, Mapping) or (batching in overridden) == (size in overridden):
        return raw
    training = dict(training)
    if batching in overridden:
        keep = (training.get("batching") == "minibatch" and _is_int(training.get("batch_size"))
                and training["batch_size"] > 1)
        if not keep:
            training.pop("batch_size", None)
    else:
        training.pop("batching", None)
    return {**raw, "training": training}


# --------------------------------------------------------------------------------------------
# YAML: loading and dumping with the same scalar rules
# --------------------------------------------------------------------------------------------

_FLOAT_TAG = "tag:yaml.org,2002:float"
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
        |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)


def _resolvers() -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    """PyYAML's implicit resolvers with a wider float pattern and without timestamps."""
    table: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept = [(tag, rx) for tag, rx in entries
                if tag not in (_FLOAT_TAG, "tag:yaml.org,2002:timestamp")]
        if kept:
            table[first] = kept
    for first in "-+0123456789.":
        table.setdefault(first, []).insert(0, (_FLOAT_TAG, _FLOAT_RE))
    return table


#: Bounds of a YAML document once its aliases are expanded: a config, even with a feature list
#: of 100,000 columns, stays far below these; an alias bomb (each anchor repeating the previous
#: one ten times) passes them within a few lines and is refused before anything walks it.
MAX_YAML_NODES = 1_000_000
MAX_YAML_DEPTH = 100


def _check_node_graph(root: yaml.Node) -> None:
    """Refuse a composed document that nests deeper than MAX_YAML_DEPTH, refers to itself, or
    would hold more than MAX_YAML_NODES values with its aliases expanded. Iterative, with the
    size of every shared (aliased) node computed once, so the check itself stays linear."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if isinstance(node, yaml.ScalarNode):
            size[key], depth[key] = 1, 0
            continue
        if isinstance(node, yaml.MappingNode):
            children = [c for pair in node.value for c in pair]
        else:
            children = list(node.value)
        if children_done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > MAX_YAML_NODES:
                raise yaml.constructor.ConstructorError(
                    None, None, f"more than {MAX_YAML_NODES:,} values once its aliases are "
                    "expanded (an alias bomb?)", node.start_mark)
            if depth[key] > MAX_YAML_DEPTH:
                raise yaml.constructor.ConstructorError(
                    None, None, f"nested more than {MAX_YAML_DEPTH} levels deep",
                    node.start_mark)
            continue
        if key in size:
            continue
        if key in on_path:
            raise yaml.constructor.ConstructorError(
                None, None, "an alias refers to a value that contains it", node.start_mark)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


class _LoaderRules:
    """SafeLoader + floats like 1e-3 + no timestamps + duplicate keys refused + bounded size
    and depth once aliases are expanded."""

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_node_graph(node)
        return self.construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            # Merge keys (<<) may legally be overridden by explicit keys; only explicit ones count.
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {_show(key)}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _Loader(_LoaderRules, yaml.SafeLoader):
    """The rules on PyYAML's pure-Python parser, whose error messages are the most precise."""


#: The same rules on libyaml's C parser, when PyYAML was built with it: many times faster, so a
#: config or sweep file near the size cap parses in seconds, not minutes.
_FastLoader = (type("_FastLoader", (_LoaderRules, yaml.CSafeLoader), {})
               if getattr(yaml, "__with_libyaml__", False) else None)
#: Texts shorter than this are always parsed by _Loader: same messages, same leniency as ever.
_FAST_FROM = 64 * 1024


class _Dumper(yaml.SafeDumper):
    """SafeDumper whose quoting rules match _Loader (so '1e3' the string is quoted)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a config should read top to bottom, without &anchors


def _refuse_tag(loader: yaml.SafeLoader, node: yaml.Node) -> NoReturn:
    raise yaml.constructor.ConstructorError(
        None, None, f"the tag {node.tag.rsplit(':', 1)[-1]!r} is not allowed (nnlearn files hold "
        "numbers, strings, booleans, null, lists and mappings)", node.start_mark)


# Sets, bytes and ordered pairs have no JSON equivalent and no config key takes them; left in,
# they would reach code that compares or writes values as JSON.
for _loader in (_Loader, _FastLoader):
    if _loader is None:
        continue
    for _tag in ("set", "binary", "omap", "pairs", "timestamp"):
        _loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse_tag)
    _loader.yaml_implicit_resolvers = _resolvers()
_Dumper.yaml_implicit_resolvers = _resolvers()


def _represent_list(dumper: yaml.SafeDumper, data: Sequence[Any]) -> yaml.Node:
    flat = all(x is None or isinstance(x, (str, int, float, bool)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", list(data), flow_style=flat)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(tuple, _represent_list)
_Dumper.add_multi_representer(PurePath, lambda d, p: d.represent_str(str(p)))


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def yaml_load(text: str, source: str) -> Any:
    """Parse YAML text safely; ``source`` names it in errors. Empty text gives ``None``.

    Syntax errors become ConfigError("line L, column C: <problem>") with 1-based positions.
    """
    if _FastLoader is not None and len(text) >= _FAST_FROM:
        try:
            return yaml.load(text, Loader=_FastLoader)  # a CSafeLoader subclass
        except Exception:  # noqa: BLE001, S110 - parsed again below, for the precise message
            pass
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        hint = None
        if exc.context and exc.problem:
            hint = exc.context
            if exc.context_mark is not None:
                hint += f" (line {exc.context_mark.line + 1}, " \
                        f"column {exc.context_mark.column + 1})"
        raise ConfigError(f"{where}{problem}", path=source, hint=hint) from None
    except yaml.reader.ReaderError as exc:
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "?")
        if isinstance(text, str):
            line, col = _line_col(text, exc.position)
            where = f"line {line}, column {col}: "
        else:
            where = f"byte {exc.position}: "
        raise ConfigError(f"{where}character U+{char:04X} is not allowed: {exc.reason}",
                          path=source) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=source) from None
    except RecursionError:
        raise ConfigError(f"invalid YAML: nested more than {MAX_YAML_DEPTH} levels deep",
                          path=source) from None
    except Exception as exc:  # noqa: BLE001
        # PyYAML's constructors leak plain ValueError/OverflowError for scalars such as
        # '!!int abc' or a 5000-digit integer, and the composer recurses on deep nesting.
        # None of that is a bug in the caller's program, so it is a config error like the rest.
        raise ConfigError(f"invalid YAML: {type(exc).__name__}: {exc}"[:300],
                          path=source) from None


def _ordered(value: Any, order: Sequence[str]) -> dict:
    known = {k: value[k] for k in order if k in value}
    known.update({k: v for k, v in value.items() if k not in known})
    return known


def _derived_layers(model: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    hidden, act, drop, init = (model.get(k) for k in ("hidden", "activation", "dropout", "init"))
    if not (isinstance(hidden, list) and act in _lesson().ACTIVATION_NAMES
            and init in ("auto", *_lesson().INIT_NAMES)):
        return None
    return [{"units": u, "activation": act, "dropout": drop, "init": _default_init(init, act)}
            for u in hidden]


def dump_config(cfg: dict) -> str:
    """YAML text for a (resolved) config, keys in schema order, lists of numbers on one line.

    Derived values are written as null so that the dump stays an editable input: ``model.layers``
    when it is exactly what hidden/activation/dropout/init give (else ``--set model.hidden=...``
    would contradict it), and ``training.batching`` when it is what ``batch_size`` implies (else
    ``--set training.batch_size=1`` would contradict ``minibatch``).
    ``resolve(yaml_load(dump_config(cfg)))`` gives ``cfg`` back for any resolved ``cfg``.
    """
    out = _ordered(cfg, _TOP_KEYS)
    for name, fields in _SECTIONS.items():
        if isinstance(out.get(name), Mapping):
            out[name] = _ordered(out[name], list(fields))
    model = out.get("model")
    if isinstance(model, dict) and model.get("layers") is not None \
            and model["layers"] == _derived_layers(model):
        model["layers"] = None
    training = out.get("training")
    if isinstance(training, dict) and training.get("batching") == _batching_of(
            training.get("batch_size")):
        training["batching"] = None
    return yaml.dump(out, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=100)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def read_yaml_text(path: str | os.PathLike, what: str) -> str:
    """The text of a config or sweep file: a regular file (never a FIFO), at most
    ``safeio.MAX_CONFIG_BYTES``, UTF-8. Errors are ConfigErrors naming the file."""
    from nnlearn.runs import safeio

    source = os.fspath(path)
    prefix = f"{source}: "

    def error(message: str) -> ConfigError:
        problem = message.removeprefix(prefix)
        if problem.startswith("no such"):
            problem = f"{what} not found"
        return ConfigError(problem, path=source)

    return safeio.read_text(source, what=what, limit=safeio.MAX_CONFIG_BYTES, error=error,
                            bom=True)


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> dict:
    """Read a YAML config file, apply ``--set`` overrides, validate, and fill defaults.

    Relative paths inside the file are relative to the file's folder. An empty file is ``{}``
    (so the missing required keys are what gets reported). Returns :func:`resolve`'s dict.
    """
    source = os.fspath(path)
    text = read_yaml_text(source, "config file")
    raw = yaml_load(text, source)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"the top level must be a mapping of settings (key: value), "
                          f"got {_show(raw)}", path=source)
    raw = apply_overrides(raw, overrides)
    try:
        return resolve(raw, base_dir=Path(os.path.abspath(source)).parent, source=source)
    except ConfigError as exc:
        item = _override_of(exc.key, overrides)
        if item is None:
            raise
        # the bad value came from the command line, not from the file: say so
        raise ConfigError(exc.problem, key=exc.key, path=f"override {item!r}",
                          hint=exc.hint) from None


@contextlib.contextmanager
def errors_located(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Iterator[None]:
    """Name the origin of a config error found after loading (by the data, or by the size of
    the network): the ``--set`` item that set its key, else the config file ``path``. Errors
    that already name another place (an override, a data file) pass unchanged."""
    source = os.fspath(path)
    try:
        yield
    except ConfigError as exc:
        if exc.path not in (None, source):
            raise
        item = _override_of(exc.key, overrides, below=False)
        where = source if item is None else f"override {item!r}"
        if where == exc.path:
            raise
        raise ConfigError(exc.problem, key=exc.key, path=where, hint=exc.hint) from None


def _override_of(key: str | None, overrides: Sequence[str], *, below: bool = True
                 ) -> str | None:
    """The last ``--set`` item that set ``key`` or a key above it (with ``below``, also one
    below it: a check of the whole mapping while loading), if any."""
    if not key or isinstance(overrides, str):
        return None
    found = None
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            continue
        set_key = ".".join(p.strip() for p in item.split("=", 1)[0].split("."))
        if key == set_key or key.startswith((set_key + ".", set_key + "[")) \
                or (below and set_key.startswith((key + ".", key + "["))):
            found = item
    return found
