"""nnlearn: a command-line trainer for multi-layer perceptrons that makes backprop and SGD visible.

The library is importable without the CLI:

    >>> import numpy as np
    >>> from nnlearn.nn.network import build_mlp
    >>> net = build_mlp(2, [{"units": 4, "activation": "tanh"}], 1, rng=np.random.default_rng(0))
"""

__version__ = "0.1.0"
