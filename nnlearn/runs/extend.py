"""Your own activation, layer, loss or optimizer, under a name configs can use: ``register``.

    from nnlearn import Activation, register

    @register("swish")
    class Swish(Activation):
        def forward(self, x): ...
        def backward(self, grad_out): ...

``register(name)`` files the class in the registry of its base class -- ``ACTIVATIONS``,
``LOSSES``, ``OPTIMIZERS``, or ``LAYERS`` for a layer with parameters -- so that ``name`` is
accepted wherever a built-in name is (``model.activation: swish``). A name nnlearn already
uses is refused: a plugin adds to the lesson, it never replaces a part of it. The class is
checked when it is registered, not when a run first builds it, so that a mistake is reported
at the ``@register`` line.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar

from nnlearn.nn.activations import ACTIVATIONS, DEFAULT_INIT, Activation
from nnlearn.nn.layers import INITIALIZERS, Layer
from nnlearn.nn.losses import LOSSES, Loss
from nnlearn.nn.optimizers import OPTIMIZERS, Optimizer
from nnlearn.nn.schedules import SCHEDULES

T = TypeVar("T", bound=type)

#: layers with parameters, by the name ``register`` gave them (nnlearn's own Dense and Dropout
#: are built by ``build_mlp`` and are not listed).
LAYERS: dict[str, type[Layer]] = {}

#: everything ``register`` added: name -> (kind, class)
REGISTERED: dict[str, tuple[str, type]] = {}

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
#: names in a model file's layer list and config words that are not in any registry
_RESERVED = ("dense", "dropout", "auto", "layer", "none", "null")
#: Optimizer constructor arguments that come from other config keys, not from the plugin
_OPTIMIZER_ARGS = ("params", "lr", "weight_decay")


def _kind_and_registry(cls: type) -> tuple[str, dict[str, Any]]:
    if issubclass(cls, Activation):
        return "activation", ACTIVATIONS
    if issubclass(cls, Layer):
        return "layer", LAYERS
    if issubclass(cls, Loss):
        return "loss", LOSSES
    if issubclass(cls, Optimizer):
        return "optimizer", OPTIMIZERS
    raise TypeError(f"@register works on subclasses of Activation, Layer, Loss or Optimizer; "
                    f"{cls.__name__} is none of them")


def taken_by(name: str) -> str | None:
    """What already uses ``name`` ("the built-in activation", ...), or None if it is free."""
    if name in REGISTERED:
        kind, cls = REGISTERED[name]
        try:
            where = f" in {inspect.getfile(cls)}"
        except (TypeError, OSError):  # a class made in an interactive session has no file
            where = ""
        return f"the {kind} {cls.__name__} registered before{where}"
    for kind, names in (("activation", ACTIVATIONS), ("loss", LOSSES),
                        ("optimizer", OPTIMIZERS), ("schedule", SCHEDULES),
                        ("initialiser", INITIALIZERS)):
        if name in names:
            return f"the built-in {kind} {name!r}"
    if name in _RESERVED:
        return f"a word nnlearn reserves ({name!r})"
    return None


def _overrides(cls: type, base: type, method: str) -> bool:
    return getattr(cls, method) is not getattr(base, method)


def _check_class(cls: type, kind: str) -> None:
    """Refuse a class that could not work where its name will be used, saying why."""
    if kind in ("activation", "layer"):
        for method in ("forward", "backward"):
            if not _overrides(cls, Layer, method):
                raise TypeError(f"{cls.__name__} does not define {method}()")
    if kind == "activation":
        required = [n for n, p in inspect.signature(cls.__init__).parameters.items()
                    if n != "self" and p.default is p.empty
                    and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if required:
            raise TypeError(f"an activation is built without arguments (model.activation: "
                            f"name), but {cls.__name__}() needs {', '.join(required)}")
        if cls.default_init not in INITIALIZERS:
            raise ValueError(f"{cls.__name__}.default_init must be one of "
                             f"{', '.join(INITIALIZERS)}, got {cls.default_init!r}")
    if kind == "loss":
        if not (_overrides(cls, Loss, "value") or _overrides(cls, Loss, "value_and_gradient")):
            raise TypeError(f"{cls.__name__} defines neither value() nor value_and_gradient()")
        if not (_overrides(cls, Loss, "gradient") or _overrides(cls, Loss, "value_and_gradient")):
            raise TypeError(f"{cls.__name__} defines neither gradient() nor "
                            "value_and_gradient()")
        if cls.task not in ("classification", "regression"):
            raise ValueError(f"{cls.__name__}.task must be 'classification' or 'regression', "
                             f"got {cls.task!r}")
    if kind == "optimizer":
        if not (_overrides(cls, Optimizer, "step") or _overrides(cls, Optimizer, "_update")):
            raise TypeError(f"{cls.__name__} defines neither step() nor _update()")
        params = inspect.signature(cls.__init__).parameters
        missing = [a for a in _OPTIMIZER_ARGS if a not in params]
        if missing:
            raise TypeError(f"{cls.__name__}.__init__ must take (params, lr, weight_decay, ...) "
                            f"like Optimizer; it lacks {', '.join(missing)}")
        no_default = [n for n, p in params.items() if n not in ("self", *_OPTIMIZER_ARGS)
                      and p.default is p.empty
                      and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if no_default:
            raise TypeError(f"{cls.__name__}'s settings need defaults (the config may leave "
                            f"them out): {', '.join(no_default)}")


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make ``name`` mean this activation, layer, loss or optimizer.

    Names are lower case (``[a-z][a-z0-9_]*``), as the built-in ones. Raises ValueError for a
    name nnlearn or an earlier ``register`` already uses, TypeError for a class that is not a
    subclass of Activation, Layer, Loss or Optimizer or lacks a method it needs.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"a registered name is lower-case letters, digits and _, starting "
                         f"with a letter (like 'swish' or 'my_relu'); got {name!r}")

    def decorate(cls: T) -> T:
        if not isinstance(cls, type):
            raise TypeError(f"@register({name!r}) goes on a class, not on {cls!r}")
        kind, registry = _kind_and_registry(cls)
        owner = taken_by(name)
        if owner is not None:
            raise ValueError(f"cannot register {name!r}: it is already {owner}; "
                             "choose another name")
        _check_class(cls, kind)
        if kind == "loss":
            cls.name = name
        elif kind in ("activation", "layer"):
            cls.kind = name
        if kind == "activation":
            DEFAULT_INIT[name] = cls.default_init
        registry[name] = cls
        REGISTERED[name] = (kind, cls)
        return cls

    return decorate


def unregister(name: str) -> None:
    """Remove a name ``register`` added (tests use this to leave the registries as found)."""
    kind, cls = REGISTERED.pop(name)
    _, registry = _kind_and_registry(cls)
    registry.pop(name, None)
    if kind == "activation":
        DEFAULT_INIT.pop(name, None)
