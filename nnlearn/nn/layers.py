"""Layers: each computes ``forward`` and, right beside it, its derivative in ``backward``.

Conventions shared by every layer (the activations in ``activations.py`` follow them too):

- Rows are samples: an input ``x`` is ``(n, d_in)``, an output ``(n, d_out)``. Every operation
  works on the whole batch at once; there is no Python loop over samples.
- ``forward(x)`` returns the output and caches what ``backward`` needs.
- ``backward(grad_out)`` receives dL/d(output), ``(n, d_out)``, and returns dL/d(input),
  ``(n, d_in)``: the chain rule, one layer at a time. ``Sequential.backward`` calls the layers in
  reverse order, and that is backpropagation.
- A layer with parameters also *sets* each ``Parameter.grad`` to dL/d(parameter). Set, not added
  to: in an MLP every weight is used exactly once in a forward pass, so one backward pass finds
  its whole gradient and there is nothing to accumulate. A training step therefore needs no
  ``zero_grad``: forward, loss, backward, step. (Frameworks where one weight may be used several
  times in a pass, PyTorch among them, add to ``.grad`` and clear it before each step instead.)
- ``backward`` never changes a parameter's value: changing weights is the optimizer's job.
- float32 in, float32 out: nothing upcasts (NumPy 2 keeps ``float32_array * 0.5`` in float32).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class Parameter:
    """A trainable array ``value`` and its gradient ``grad`` = dL/d(value), same shape and dtype.

    Both arrays are changed in place and never replaced, so a layer and an optimizer can share
    them: the layer writes ``grad``, the optimizer reads it and updates ``value``.
    """

    def __init__(self, name: str, value: np.ndarray) -> None:
        self.name = name
        self.value = value
        self.grad = np.zeros(value.shape, dtype=value.dtype)

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.value.shape}, dtype={self.value.dtype})"


class Layer:
    """Base class. Subclasses implement ``forward`` and ``backward``; most have no parameters."""

    kind = "layer"  # the name in a model file's layer list
    training = True  # Dropout drops only in training mode

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def parameters(self) -> list[Parameter]:
        return []

    def spec(self) -> dict[str, Any]:
        """A JSON-able description of this layer, as a model file's architecture lists it."""
        return {"type": self.kind}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# Initialisers: how the first weights are drawn. Both keep the variance of the signal roughly
# the same from layer to layer, so that neither activations nor gradients vanish or explode.

def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator, dtype: Any) -> np.ndarray:
    """He et al. (2015): N(0, 2 / fan_in). Suits ReLU, which zeroes half of its inputs."""
    return rng.standard_normal((fan_in, fan_out), dtype=dtype) * math.sqrt(2.0 / fan_in)


def xavier_uniform(fan_in: int, fan_out: int, rng: np.random.Generator, dtype: Any) -> np.ndarray:
    """Glorot & Bengio (2010): U(-a, a) with a = sqrt(6 / (fan_in + fan_out)). Suits tanh/sigmoid."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype, copy=False)


INITIALIZERS = {"he": he_normal, "xavier": xavier_uniform}


class Dense(Layer):
    """Fully connected layer: ``y = x·W + b``, with W of shape (d_in, d_out) and b of (d_out,).

    Entry by entry ``y[i,k] = Σ_j x[i,j] W[j,k] + b[k]``, so the chain rule, summed over the
    batch, gives::

        dL/dW = xᵀ · dL/dy       (d_in, d_out)
        dL/db = Σ_i dL/dy[i]     (d_out,)
        dL/dx = dL/dy · Wᵀ       (n, d_in)

    The products are ``np.dot``, numpy's matrix product; unlike ``@`` it calls BLAS for a batch
    of a single row too (plain SGD), where ``@`` falls back to a slower generic loop.
    """

    kind = "dense"

    def __init__(self, d_in: int, d_out: int, *, rng: np.random.Generator | None = None,
                 init: str = "he", dtype: Any = np.float64, name: str = "dense") -> None:
        self.d_in, self.d_out, self.init, self.name = d_in, d_out, init, name
        if rng is None:  # shapes only: the values are loaded from a model file afterwards
            weights = np.zeros((d_in, d_out), dtype=dtype)
        else:
            weights = INITIALIZERS[init](d_in, d_out, rng, dtype)
        self.W = Parameter(f"{name}.W", weights)
        self.b = Parameter(f"{name}.b", np.zeros(d_out, dtype=dtype))

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x  # backward needs the input: dL/dW = xᵀ · dL/dy
        return np.dot(x, self.W.value) + self.b.value

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """Set ``W.grad`` and ``b.grad``; return dL/dx, or None with ``need_input_grad=False``.

        Training asks the first layer not to compute dL/dx: there x is the data, which nothing
        updates, and that product would cost as much as dL/dW.
        """
        np.dot(self._x.T, grad_out, out=self.W.grad)  # dL/dW = xᵀ · dL/dy
        grad_out.sum(axis=0, out=self.b.grad)         # dL/db = Σ over the batch of dL/dy
        if not need_input_grad:
            return None
        return np.dot(grad_out, self.W.value.T)       # dL/dx = dL/dy · Wᵀ

    def parameters(self) -> list[Parameter]:
        return [self.W, self.b]

    def spec(self) -> dict[str, Any]:
        return {"type": "dense", "in": self.d_in, "out": self.d_out, "init": self.init,
                "name": self.name}

    def __repr__(self) -> str:
        return f"Dense({self.d_in} -> {self.d_out}, init={self.init})"


class Dropout(Layer):
    """Inverted dropout. In training, zero each unit with probability ``rate`` and scale the
    survivors by 1 / (1 - rate), so the expected activation is unchanged and evaluation mode can
    pass x straight through. The mask is the local derivative: backward lets gradient through
    the kept units only, with the same scale."""

    kind = "dropout"

    def __init__(self, rate: float, rng: np.random.Generator | None = None) -> None:
        self.rate = float(rate)
        # seeded, so that a Dropout built by hand without a generator is still reproducible
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.rate == 0.0:
            self._mask = None
            return x
        keep = self.rng.random(x.shape, dtype=x.dtype) >= self.rate
        self._mask = keep.astype(x.dtype) / (1 - self.rate)
        return x * self._mask

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out if self._mask is None else grad_out * self._mask

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "rate": self.rate}

    def __repr__(self) -> str:
        return f"Dropout(rate={self.rate})"
