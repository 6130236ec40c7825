"""Your own activation, layer, loss or optimizer, under a name configs can use: ``register``.

    from nnlearn import Activation, register

    @register("swish")
    class Swish(Activation):
        def forward(self, x): ...
        def backward(self, grad_out): ...

``register(name)`` files the class in the registry of its base class -- ``ACTIVATIONS``,
``LOSSES``, ``OPTIMIZERS``, or ``LAYERS`` for a layer with parameters -- so that ``name`` is
accepted wherever a built-in name is (``model.activation: swish``). A layer with parameters
takes a Dense layer's place in ``model.layers`` (``{type: NAME, units: 16}``): its constructor
is the protocol (``LAYER_PROTOCOL``), and ``build_network``/``place_layer`` build it. A name nnlearn already
uses is refused: a plugin adds to the lesson, it never replaces a part of it. The class is
checked when it is registered, not when a run first builds it, so that a mistake is reported
at the ``@register`` line.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from nnlearn.nn.activations import ACTIVATIONS, DEFAULT_INIT, Activation
from nnlearn.nn.layers import INITIALIZERS, Dense, Dropout, Layer, Parameter
from nnlearn.nn.losses import LOSSES, Loss
from nnlearn.nn.network import Sequential, build_mlp
from nnlearn.nn.optimizers import OPTIMIZERS, Optimizer
from nnlearn.nn.schedules import SCHEDULES

T = TypeVar("T", bound=type)

#: layers with parameters, by the name ``register`` gave them (nnlearn's own Dense and Dropout
#: are built by ``build_mlp`` and are not listed).
LAYERS: dict[str, type[Layer]] = {}

#: The constructor arguments nnlearn passes a layer it places from ``model.layers``; the rest of
#: the constructor's arguments are the layer's own settings, which the config may give.
LAYER_PROTOCOL = "__init__(self, d_in, d_out, *, rng, name, **settings)"
#: arguments a placed layer may take and nnlearn fills in when it does (dtype: the model's;
#: init: the initialiser model.layers names, "he" or "xavier")
_LAYER_OPTIONAL = ("dtype", "init")
#: keys of a ``model.layers`` entry or of a saved layer, which a setting cannot be named
_LAYER_WORDS = ("type", "units", "activation", "dropout", "in", "out")

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


def _layer_signature(cls: type) -> tuple[list[inspect.Parameter], bool] | None:
    """The named constructor arguments of a layer class and whether it takes ``**kwargs``;
    None for a constructor that takes no argument at all (a layer built by Python code only,
    ``Sequential([...])``, which ``model.layers`` cannot place)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # without self
    named = [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if not named:
        return None
    return named, any(p.kind is p.VAR_KEYWORD for p in params)


def layer_settings(cls: type) -> dict[str, Any] | None:
    """{setting: default} of a registered layer that ``model.layers`` can place (the
    constructor arguments after d_in and d_out, except rng, name, dtype and init), or None
    when its constructor takes no arguments."""
    sig = _layer_signature(cls)
    if sig is None:
        return None
    named, _ = sig
    return {p.name: p.default for p in named[2:]
            if p.name not in ("rng", "name", *_LAYER_OPTIONAL)}


def layer_takes(cls: type, argument: str) -> bool:
    """Does a placeable layer's constructor take ``argument`` (``dtype``, ``init``)?"""
    sig = _layer_signature(cls)
    return sig is not None and (any(p.name == argument for p in sig[0][2:]) or sig[1])


def _check_layer_constructor(cls: type) -> None:
    """A layer with a constructor is one ``model.layers`` places: it must take d_in and d_out
    first, then rng and name, and give every further argument (a setting) a default."""
    sig = _layer_signature(cls)
    if sig is None:
        return
    named, var_keyword = sig
    protocol = f"to be placed by model.layers it must be {LAYER_PROTOCOL}"
    first = named[:2]
    if len(first) < 2 or any(p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                             for p in first):
        raise TypeError(f"{cls.__name__}.__init__ does not take d_in and d_out (the input and "
                        f"output widths) as its first two arguments; {protocol}")
    names = {p.name for p in named[2:]}
    missing = [a for a in ("rng", "name") if a not in names and not var_keyword]
    if missing:
        raise TypeError(f"{cls.__name__}.__init__ lacks {' and '.join(missing)}; {protocol}")
    settings = layer_settings(cls) or {}
    clash = [n for n in settings if n in _LAYER_WORDS]
    if clash:
        raise TypeError(f"{cls.__name__}.__init__ takes {', '.join(clash)}, a key "
                        f"model.layers uses itself; name the setting otherwise")
    no_default = [n for n, d in settings.items() if d is inspect.Parameter.empty]
    if no_default:
        raise TypeError(f"{cls.__name__}'s settings need defaults (the config may leave them "
                        f"out): {', '.join(no_default)}")
    odd = [n for n, d in settings.items() if not (d is None or isinstance(d, (bool, int, float,
                                                                             str)))]
    if odd:
        raise TypeError(f"{cls.__name__}'s settings must default to a number, true/false, a "
                        f"string or None (a config can write those): {', '.join(odd)}")


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
    if kind == "layer":
        _check_layer_constructor(cls)
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


def place_layer(spec: Mapping[str, Any], *, rng: Any, dtype: Any, key: str | None = None
                ) -> Layer:
    """Build the registered layer a saved layer describes (``{"type", "in", "out", "name",
    ["init"], **settings}``), as ``cls(in, out, rng=rng, name=name, [dtype=, init=,]
    **settings)``. ``rng=None`` asks for shapes only (a model file's weights follow).

    The layer is then made to describe itself: ``d_in``, ``d_out`` and ``name`` are set on it
    and its ``spec()`` returns ``spec``, so that the network's widths, the model file's
    architecture and the tables of ``summary`` and ``explain`` need nothing from the plugin
    beyond its constructor, ``parameters()``, ``forward`` and ``backward``. Its parameters are
    brought to ``dtype`` if the constructor did not take one. Raises PluginError, naming the
    plugin's file and line (and ``key``, the config entry the layer comes from, when given),
    when the plugin's code fails -- a setting it refuses, say -- or returns something unusable.
    """
    from nnlearn.runs.plugins import PluginError, where_in

    kind, name = spec["type"], spec["name"]
    cls = LAYERS[kind]
    settings = {k: v for k, v in spec.items() if k not in ("type", "in", "out", "name")}
    if layer_takes(cls, "dtype"):
        settings["dtype"] = dtype
    try:
        layer = cls(spec["in"], spec["out"], rng=rng, name=name, **settings)
        params = layer.parameters()
    except Exception as exc:  # noqa: BLE001 - any failure is the plugin's
        shown = ", ".join(f"{k}={v!r}" for k, v in settings.items() if k != "dtype")
        call = f"{cls.__name__}({spec['in']}, {spec['out']}{', ' if shown else ''}{shown})"
        raise PluginError(f"{where_in(cls, exc)}: {key or f'layer {name!r}'}: {call} raised "
                          f"{type(exc).__name__}: {exc}"[:500]) from None
    seen: set[str] = set()
    for p in params if isinstance(params, list) else [params]:
        if not (isinstance(p, Parameter) and isinstance(p.value, np.ndarray)
                and p.value.dtype.kind == "f" and isinstance(p.name, str)):
            raise PluginError(f"{where_in(cls, None)}: {cls.__name__}.parameters() must return "
                              f"a list of Parameter(name, float array), got {p!r}"[:500])
        if "/" in p.name or p.name in seen:
            raise PluginError(f"{where_in(cls, None)}: layer {name!r} has two parameters named "
                              f"{p.name!r} or a name with '/'",
                              hint="name them after the layer: Parameter(f\"{name}.W\", ...)")
        seen.add(p.name)
        if p.value.dtype != dtype:  # the whole network computes in one dtype
            p.value = p.value.astype(dtype)
            p.grad = np.zeros(p.value.shape, dtype=dtype)
    saved = dict(spec)
    try:
        layer.d_in, layer.d_out, layer.name = spec["in"], spec["out"], name
        layer.spec = lambda: dict(saved)  # type: ignore[method-assign]  # this instance's recipe
    except AttributeError as exc:  # a read-only property of the plugin's class
        raise PluginError(f"{where_in(cls, None)}: nnlearn sets d_in, d_out, name and spec on "
                          f"a layer it places, and {cls.__name__} refuses: {exc}"[:500]) from None
    return layer


def build_network(n_inputs: int, layers: Sequence[Mapping[str, Any]], n_outputs: int, *,
                  rng: np.random.Generator, dtype: Any = np.float64) -> Sequential:
    """``build_mlp`` for a resolved ``model.layers`` that may place plugin layers: an entry
    with ``type: NAME`` builds that registered layer in place of the Dense, named ``NAME_i``
    like ``dense_i``, followed by the entry's activation and dropout as a Dense would be.
    Without plugin layers this is ``build_mlp`` itself, drawing the same weights."""
    if not any("type" in spec for spec in layers):
        return build_mlp(n_inputs, layers, n_outputs, rng=rng, dtype=dtype)
    result: list[Layer] = []
    width, init_out = n_inputs, "xavier"
    for i, spec in enumerate(layers, start=1):
        act, init = spec["activation"], spec.get("init", "auto")
        if init in (None, "auto"):
            init = DEFAULT_INIT[act]
        units = int(spec["units"])
        kind = spec.get("type", "dense")
        if kind == "dense":
            result.append(Dense(width, units, rng=rng, init=init, dtype=dtype,
                                name=f"dense_{i}"))
        else:
            own = {k: v for k, v in spec.items()
                   if k not in ("type", "units", "activation", "dropout", "init")}
            if layer_takes(LAYERS[kind], "init"):
                own["init"] = init
            result.append(place_layer({"type": kind, "in": width, "out": units,
                                       "name": f"{kind}_{i}", **own}, rng=rng, dtype=dtype,
                                      key=f"model.layers[{i - 1}]"))
        result.append(ACTIVATIONS[act]())
        if spec.get("dropout", 0.0):
            result.append(Dropout(float(spec["dropout"]), rng=rng))
        width, init_out = units, init
    result.append(Dense(width, n_outputs, rng=rng, init=init_out, dtype=dtype,
                        name=f"dense_{len(layers) + 1}"))
    try:
        return Sequential(result)
    except ValueError as exc:  # two plugin layers' parameters share a name
        from nnlearn.runs.plugins import PluginError

        raise PluginError(f"the network's {exc}",
                          hint="name a layer's parameters after the name its constructor "
                               "gets: Parameter(f\"{name}.W\", ...)") from None
