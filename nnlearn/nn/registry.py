"""Look a class up by the name a config gives it, and check the settings it may take.

Optimizers and schedules are written in a config as a name or a mapping with a ``name``
(``{name: adam, beta1: 0.9}``). The settings a class accepts are its constructor's arguments, so
the error hints can never drift from the code.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any

from nnlearn.errors import ConfigError


def settings_of(cls: type, skip: tuple[str, ...]) -> tuple[str, ...]:
    """The constructor arguments of ``cls`` a config may set (all but ``self`` and ``skip``)."""
    names = inspect.signature(cls.__init__).parameters
    return tuple(n for n in names if n != "self" and n not in skip)


def lookup(spec: Mapping[str, Any] | str, registry: Mapping[str, type], *, key: str,
           kind: str, skip: tuple[str, ...]) -> tuple[type, dict[str, Any]]:
    """``spec`` -> (class, settings). Unknown names raise ConfigError(key=key); unknown
    settings raise ConfigError(key=f"{key}.<setting>"), each with a hint listing the choices."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"must be a name or a mapping with 'name', got {spec!r}", key=key)
    name = spec.get("name")
    if not isinstance(name, str) or name not in registry:
        # Names are matched exactly, as the config schema matches them: 'Adam' is refused in
        # both places rather than accepted in one.
        raise ConfigError(f"unknown {kind} {name!r}", key=key,
                          hint=f"choose one of: {', '.join(registry)}")
    cls = registry[name]
    allowed = settings_of(cls, skip)
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    for k in kwargs:
        if k not in allowed:
            raise ConfigError(f"{name} {kind} has no setting {k!r}", key=f"{key}.{k}",
                              hint=f"{name} accepts: {', '.join(allowed) or 'no settings'}")
    return cls, kwargs


def check_number(value: Any, key: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """A config setting as a Python float, or ConfigError(key=key) naming the range.

    A Python float, not ``np.float64``: that keeps float32 arrays float32 when it multiplies
    them. ``bool`` is refused although Python counts it as an int.
    """
    if not isinstance(value, (bool, int, float)) and hasattr(value, "item"):
        value = value.item()  # numpy scalars
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"must be a number, got {value!r}", key=key)
    x = float(value)
    if not math.isfinite(x):
        raise ConfigError(f"must be finite, got {x!r}", key=key)
    if low is not None and (x < low or (low_open and x == low)):
        raise ConfigError(f"must be {'>' if low_open else '>='} {low}, got {x!r}", key=key)
    if high is not None and (x > high or (high_open and x == high)):
        raise ConfigError(f"must be {'<' if high_open else '<='} {high}, got {x!r}", key=key)
    return x
