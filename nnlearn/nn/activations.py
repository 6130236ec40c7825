"""Activations: layers without parameters, applied elementwise, y = f(x).

Each ``backward`` multiplies dL/dy elementwise by f'(x), written next to f. Where f' is cheapest
from the output y = f(x) (sigmoid, tanh, ELU), that is what ``forward`` caches.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnlearn.nn.layers import Layer


class Activation(Layer):
    """Base class: ``forward`` caches what f' needs, ``backward`` returns ``grad_out * f'(x)``.

    ``default_init`` is the initialiser ``init: auto`` picks for the Dense layer feeding this
    activation: He for the ReLU family, which zeroes (or shrinks) half of its inputs, else Xavier.
    """

    default_init = "xavier"


class ReLU(Activation):
    """f(x) = max(0, x);  f'(x) = 1 where x > 0, else 0 (we take 0 at the kink x = 0)."""

    kind = "relu"
    default_init = "he"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._positive = x > 0
        return np.maximum(x, 0)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self._positive


class LeakyReLU(Activation):
    """f(x) = x for x > 0, alpha x otherwise;  f'(x) = 1 or alpha. Dead units can recover."""

    kind = "leaky_relu"
    default_init = "he"

    def __init__(self, alpha: float = 0.01) -> None:
        self.alpha = float(alpha)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._positive = x > 0
        return np.where(self._positive, x, self.alpha * x)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return np.where(self._positive, grad_out, self.alpha * grad_out)

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "alpha": self.alpha}


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), written as exp(-log(1 + e^-x)) so that no large |x| overflows."""
    return np.exp(-np.logaddexp(0, -x))


class Sigmoid(Activation):
    """f(x) = 1 / (1 + e^-x);  f'(x) = y (1 - y), from the output y."""

    kind = "sigmoid"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = sigmoid(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        y = self._y
        return grad_out * y * (1 - y)


class Tanh(Activation):
    """f(x) = tanh(x);  f'(x) = 1 - y², from the output y."""

    kind = "tanh"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * (1 - self._y * self._y)


class Identity(Activation):
    """f(x) = x;  f'(x) = 1. A 'linear' activation: a stack of such layers is a linear model."""

    kind = "identity"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out


class ELU(Activation):
    """f(x) = x for x > 0, alpha (e^x - 1) otherwise;  f'(x) = 1 or alpha e^x = y + alpha."""

    kind = "elu"
    default_init = "he"

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = float(alpha)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._positive = x > 0
        # expm1 of min(x, 0): the branch for x > 0 is thrown away, so keep it from overflowing.
        self._y = np.where(self._positive, x, self.alpha * np.expm1(np.minimum(x, 0)))
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * np.where(self._positive, 1, self._y + self.alpha)

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "alpha": self.alpha}


_GELU_C = math.sqrt(2.0 / math.pi)


class GELU(Activation):
    """GELU, tanh approximation (Hendrycks & Gimpel 2016), as BERT and GPT-2 use it::

        f(x)  = 0.5 x (1 + t),   t = tanh(u),   u = c (x + 0.044715 x³),   c = sqrt(2 / pi)
        f'(x) = 0.5 (1 + t) + 0.5 x (1 - t²) c (1 + 3 · 0.044715 x²)

    f' is the derivative of the approximation itself, so gradient checks are exact.
    """

    kind = "gelu"
    default_init = "he"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        self._t = np.tanh(_GELU_C * (x + 0.044715 * x * x * x))
        return 0.5 * x * (1 + self._t)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x, t = self._x, self._t
        local = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * x * x)
        return grad_out * local


class Softplus(Activation):
    """f(x) = log(1 + e^x), a smooth ReLU;  f'(x) = sigmoid(x)."""

    kind = "softplus"
    default_init = "he"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return np.logaddexp(0, x)  # log(e^0 + e^x) without overflow

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * sigmoid(self._x)


ACTIVATIONS: dict[str, type[Layer]] = {
    cls.kind: cls for cls in (ReLU, LeakyReLU, Sigmoid, Tanh, Identity, ELU, GELU, Softplus)}

#: the initialiser ``init: auto`` picks for each activation, read from the classes.
DEFAULT_INIT = {name: cls.default_init for name, cls in ACTIVATIONS.items()}
