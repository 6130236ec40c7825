"""nnlearn: a command-line trainer for multi-layer perceptrons that makes backprop and SGD visible.

The library is importable without the CLI:

    >>> import numpy as np
    >>> from nnlearn.nn.network import build_mlp
    >>> net = build_mlp(2, [{"units": 4, "activation": "tanh"}], 1, rng=np.random.default_rng(0))

A plugin file (``nnlearn train --plugin my.py ...``) writes its own parts with the public API
``from nnlearn import Activation, Layer, Loss, Optimizer, register`` (see docs/plugins.md).
"""

from typing import Any

__version__ = "0.1.0"

#: the plugin API, imported on first use so that ``import nnlearn`` does not load numpy
_PUBLIC = {
    "Activation": "nnlearn.nn.activations",
    "Layer": "nnlearn.nn.layers",
    "Parameter": "nnlearn.nn.layers",
    "Loss": "nnlearn.nn.losses",
    "Optimizer": "nnlearn.nn.optimizers",
    "register": "nnlearn.runs.extend",
}

__all__ = ["Activation", "Layer", "Loss", "Optimizer", "Parameter", "__version__", "register"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'nnlearn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
