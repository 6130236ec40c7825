"""The network: layers in a row. ``forward`` runs them in order; ``backward`` runs them in
reverse, handing each one dL/d(its output) and receiving dL/d(its input): that is backpropagation.
After ``backward`` every parameter's ``.grad`` holds dL/d(parameter); an optimizer does the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nnlearn.nn.activations import ACTIVATIONS, DEFAULT_INIT
from nnlearn.nn.layers import Dense, Dropout, Layer, Parameter


class Sequential:
    """A stack of layers: ``y = layers[-1](... layers[1](layers[0](x)))``."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = list(layers)
        names = [p.name for p in self.parameters()]
        if len(names) != len(set(names)):
            raise ValueError(f"parameter names must be unique, got {names}")

    # -- the two passes ---------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (n, d_in) -> output (n, d_out); each layer caches what its backward needs."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_out: np.ndarray, *, need_input_grad: bool = True) -> np.ndarray | None:
        """Chain rule, last layer first: ``grad_out`` is dL/d(output); returns dL/d(input).

        Each layer sets its parameters' ``.grad`` on the way. With ``need_input_grad=False``
        (training) the first layer, a Dense, skips dL/dx of the data, which nothing uses, and
        None is returned; ``explain`` and ``gradcheck`` keep the default and get dL/dx.
        """
        first, rest = self.layers[0], self.layers[1:]
        grad = grad_out
        for layer in reversed(rest):
            grad = layer.backward(grad)
        if need_input_grad:
            return first.backward(grad)
        if not isinstance(first, Dense):  # a plugin's layer: backward takes grad_out alone
            first.backward(grad)
            return None
        return first.backward(grad, need_input_grad=False)

    # -- parameters ---------------------------------------------------------------------------
    def parameters(self) -> list[Parameter]:
        """Every parameter, in a stable order: layer by layer, W before b."""
        return [p for layer in self.layers for p in layer.parameters()]

    def zero_grad(self) -> None:
        """Set every gradient to zero (backward sets them anyway: see ``layers``)."""
        for p in self.parameters():
            p.grad.fill(0)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of every parameter value, keyed by name (e.g. ``dense_1.W``)."""
        return {p.name: p.value.copy() for p in self.parameters()}

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Copy values in place (shapes must match); the arrays keep their identity and dtype."""
        params = {p.name: p for p in self.parameters()}
        missing = sorted(set(params) - set(weights))
        if missing:
            raise KeyError(f"missing weights for {missing}")
        for name, p in params.items():
            value = np.asarray(weights[name])
            if value.shape != p.value.shape:
                raise ValueError(f"{name}: expected shape {p.value.shape}, got {value.shape}")
            p.value[...] = value

    # -- modes --------------------------------------------------------------------------------
    def train(self) -> None:
        """Training mode: dropout drops."""
        for layer in self.layers:
            layer.training = True

    def eval(self) -> None:
        """Evaluation mode: dropout passes everything through."""
        for layer in self.layers:
            layer.training = False

    @property
    def training(self) -> bool:
        return all(layer.training for layer in self.layers)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Forward in evaluation mode (the mode is restored afterwards)."""
        was_training = self.training
        self.eval()
        try:
            return self.forward(x)
        finally:
            if was_training:
                self.train()

    # -- description --------------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        params = self.parameters()
        return params[0].value.dtype if params else np.dtype(np.float64)

    # the layers that change the width: Dense, and plugin layers (placed with d_in and d_out)
    @property
    def n_inputs(self) -> int:
        return next(layer.d_in for layer in self.layers if hasattr(layer, "d_in"))

    @property
    def n_outputs(self) -> int:
        return [layer.d_out for layer in self.layers if hasattr(layer, "d_out")][-1]

    def spec(self) -> list[dict[str, Any]]:
        return [layer.spec() for layer in self.layers]

    def n_params(self) -> int:
        return sum(p.value.size for p in self.parameters())

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)  # {self.n_params()} parameters"


def build_mlp(n_inputs: int, layers: Sequence[Mapping[str, Any]], n_outputs: int, *,
              rng: np.random.Generator, dtype: Any = np.float64) -> Sequential:
    """Dense -> activation [-> Dropout] for each hidden layer spec, then a Dense output layer.

    ``layers`` holds one mapping per hidden layer: ``units`` (required), ``activation`` (default
    relu), ``dropout`` (default 0), ``init`` (``auto``/``he``/``xavier``; auto takes the
    activation's ``default_init``). The output layer has no activation: the loss fuses softmax or
    sigmoid (classification) or reads it raw (regression). Its inputs are the last hidden
    layer's activations, so it takes that layer's init (Xavier with no hidden layer).
    """
    result: list[Layer] = []
    width = n_inputs
    init_out = "xavier"
    for i, spec in enumerate(layers, start=1):
        act = spec.get("activation", "relu")
        init = spec.get("init", "auto")
        if init in (None, "auto"):
            init = DEFAULT_INIT[act]
        units = int(spec["units"])
        result.append(Dense(width, units, rng=rng, init=init, dtype=dtype, name=f"dense_{i}"))
        result.append(ACTIVATIONS[act]())
        if spec.get("dropout", 0.0):
            result.append(Dropout(float(spec["dropout"]), rng=rng))
        width = units
        init_out = init
    result.append(Dense(width, n_outputs, rng=rng, init=init_out, dtype=dtype,
                        name=f"dense_{len(layers) + 1}"))
    return Sequential(result)

