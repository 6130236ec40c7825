"""Layers: each computes ``forward`` and, right beside it, the derivative in ``backward``.

Conventions, shared by every layer:

- Rows are samples: an input ``x`` has shape ``(n, d_in)``, an output ``(n, d_out)``.
- ``forward(x)`` returns the output and caches only what ``backward`` needs.
- ``backward(grad_out)`` receives dL/d(output), shape ``(n, d_out)``, adds dL/d(parameter) into
  each parameter's ``.grad`` and returns dL/d(input), shape ``(n, d_in)``. That is the chain rule,
  one layer at a time; ``Sequential.backward`` calls these in reverse order (backpropagation).
- ``backward`` never changes a parameter's value: changing weights is the optimizer's job.
- Gradients *accumulate* (``+=``) until ``zero_grad()`` clears them, as in PyTorch and micrograd
  (``Parameter.add_to_grad``; after ``zero_grad`` it writes instead of adding to zeros).
- No Python loop over samples: every operation works on the whole batch at once.
- No silent upcasting: a float32 input gives float32 outputs and gradients (NumPy 2 keeps
  ``float32_array * python_float`` in float32).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnlearn.errors import ConfigError


class Parameter:
    """A trainable array and its gradient: ``value`` and ``grad`` have the same shape and dtype.

    Both arrays are updated in place and never rebound, so an optimizer may hold on to them.

    ``grad`` accumulates dL/d(value) until :meth:`zero_grad`. Clearing is lazy, as in PyTorch
    (whose ``zero_grad`` sets gradients to None): ``zero_grad`` only records that the gradient is
    now zero, and the first :meth:`add_to_grad` after it *writes* the new gradient straight into
    ``grad`` instead of adding a freshly allocated product to a buffer of zeros. The numbers are
    the same; a step no longer fills a 784 x 256 buffer with zeros, allocates another one for
    ``x^T @ dL/dy`` and adds the two (4-8 % of an epoch, more where the freed buffer's pages
    went back to the OS each step: ``benchmarks/README.md``).
    Reading ``grad`` after ``zero_grad`` gives zeros, as it should.
    """

    __slots__ = ("_grad", "_grad_is_zero", "name", "value")

    def __init__(self, name: str, value: np.ndarray) -> None:
        self.name = name
        self.value = value
        self._grad = np.zeros(value.shape, dtype=value.dtype)  # C order, as np.dot(out=) needs
        self._grad_is_zero = False  # the buffer really holds zeros now

    @property
    def grad(self) -> np.ndarray:
        if self._grad_is_zero:  # zero_grad() was lazy: make the zeros real before anyone reads
            self._grad.fill(0)
            self._grad_is_zero = False
        return self._grad

    @grad.setter
    def grad(self, new: np.ndarray) -> None:
        # ``p.grad *= 0.5`` reads, scales in place and assigns back; any other assignment copies
        # into the buffer, which is never rebound.
        if new is not self._grad:
            new = np.asarray(new)
            if new.shape != self._grad.shape:  # no silent broadcasting into the buffer
                raise ValueError(f"{self.name}: grad of shape {new.shape} assigned to a "
                                 f"parameter of shape {self._grad.shape}")
            self._grad[...] = new
        self._grad_is_zero = False

    def zero_grad(self) -> None:
        """Set the gradient to zero (lazily: nothing is written until it is next used)."""
        self._grad_is_zero = True

    def add_to_grad(self, op: Any, *args: Any, **kwargs: Any) -> None:
        """``grad += op(*args, **kwargs)`` for a numpy function or method that takes ``out=``.

        Right after :meth:`zero_grad` the result is written into ``grad`` (``op(..., out=grad)``):
        no temporary array, no addition to zeros.
        """
        if self._grad_is_zero:
            op(*args, out=self._grad, **kwargs)
            self._grad_is_zero = False
        else:
            self._grad += op(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.value.shape}, dtype={self.value.dtype})"


class Layer:
    """Base class. Subclasses implement ``forward`` and ``backward``; most have no parameters."""

    training: bool = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def parameters(self) -> list[Parameter]:
        return []

    def spec(self) -> dict[str, Any]:
        """A JSON-able description from which ``layer_from_spec`` rebuilds this layer."""
        return {"type": self.kind}

    kind = "layer"

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# --------------------------------------------------------------------------------------------
# Initialisers: how the first weights are drawn. Both keep the variance of the signal roughly
# constant from layer to layer, so that neither activations nor gradients vanish or explode.


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator, dtype: Any) -> np.ndarray:
    """He et al. (2015): N(0, 2 / fan_in). Suits ReLU, which zeroes half of its inputs."""
    std = math.sqrt(2.0 / fan_in)
    return rng.standard_normal((fan_in, fan_out), dtype=dtype) * std


def xavier_uniform(fan_in: int, fan_out: int, rng: np.random.Generator, dtype: Any) -> np.ndarray:
    """Glorot & Bengio (2010): U(-a, a) with a = sqrt(6 / (fan_in + fan_out)). Suits tanh/sigmoid."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype, copy=False)


INITIALIZERS = {"he": he_normal, "xavier": xavier_uniform}


class Dense(Layer):
    """Fully connected layer: ``y = x @ W + b`` with W of shape (d_in, d_out), b of shape (d_out,)."""

    kind = "dense"

    def __init__(
        self,
        d_in: int,
        d_out: int,
        *,
        rng: np.random.Generator | None = None,
        init: str = "he",
        dtype: Any = np.float64,
        name: str = "dense",
    ) -> None:
        if init not in INITIALIZERS:
            raise ConfigError(f"unknown init {init!r}; choose one of {sorted(INITIALIZERS)}",
                              key="model.init")
        self.d_in, self.d_out, self.init, self.name = d_in, d_out, init, name
        if rng is None:  # shapes only: values are loaded from a model file afterwards
            weights = np.zeros((d_in, d_out), dtype=dtype)
        else:
            weights = INITIALIZERS[init](d_in, d_out, rng, dtype)
        self.W = Parameter(f"{name}.W", weights)
        self.b = Parameter(f"{name}.b", np.zeros(d_out, dtype=dtype))
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x  # backward needs the input: dL/dW = x^T dL/dy
        y = np.dot(x, self.W.value)  # x @ W (np.dot: see backward)
        y += self.b.value  # in place: saves allocating a second (n, d_out) array
        return y

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        # y[i, k] = sum_j x[i, j] W[j, k] + b[k], so by the chain rule, summed over the batch:
        #   dL/dW[j, k] = sum_i x[i, j] dL/dy[i, k]   ->  x^T @ dL/dy
        #   dL/db[k]    = sum_i dL/dy[i, k]           ->  column sums of dL/dy
        #   dL/dx[i, j] = sum_k dL/dy[i, k] W[j, k]   ->  dL/dy @ W^T
        # (np.dot is the same product as @, with less overhead per call: numpy's matmul takes a
        # slow path for a batch of one row, x^T @ dL/dy being then an outer product, and costs
        # ~0.5 us more per call on small batches, where a step is a few dozen such calls.)
        self.W.add_to_grad(np.dot, self._x.T, grad_out)  # dL/dW += x^T @ dL/dy
        self.b.add_to_grad(grad_out.sum, axis=0)         # dL/db += column sums of dL/dy
        if not need_input_grad:  # the first layer's dL/dx is dL/d(data): nobody uses it in training
            return None
        return np.dot(grad_out, self.W.value.T)

    def parameters(self) -> list[Parameter]:
        return [self.W, self.b]

    def spec(self) -> dict[str, Any]:
        return {"type": "dense", "in": self.d_in, "out": self.d_out, "init": self.init,
                "name": self.name}

    def __repr__(self) -> str:
        return f"Dense({self.d_in} -> {self.d_out}, init={self.init})"


# --------------------------------------------------------------------------------------------
# Activations: layers without parameters. backward multiplies dL/dy elementwise by f'(x),
# written next to f. Where f' is cheapest from the output y = f(x), that is what is cached.


class ReLU(Layer):
    """f(x) = max(0, x);  f'(x) = 1 where x > 0, else 0 (we take 0 at the kink x = 0)."""

    kind = "relu"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._positive = x > 0
        return np.maximum(x, 0)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self._positive


class LeakyReLU(Layer):
    """f(x) = x for x > 0, alpha * x otherwise;  f'(x) = 1 or alpha. Dead units can recover."""

    kind = "leaky_relu"

    def __init__(self, alpha: float = 0.01) -> None:
        self.alpha = float(alpha)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._positive = x > 0
        return np.where(self._positive, x, self.alpha * x)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return np.where(self._positive, grad_out, self.alpha * grad_out)

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "alpha": self.alpha}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # 1 / (1 + e^-x) written as exp(-log(1 + e^-x)): no overflow for large |x|.
    return np.exp(-np.logaddexp(0, -x))


class Sigmoid(Layer):
    """f(x) = 1 / (1 + e^-x);  f'(x) = y (1 - y), from the output y."""

    kind = "sigmoid"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = _sigmoid(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        y = self._y
        return grad_out * y * (1 - y)


class Tanh(Layer):
    """f(x) = tanh(x);  f'(x) = 1 - y^2, from the output y."""

    kind = "tanh"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * (1 - self._y * self._y)


class Identity(Layer):
    """f(x) = x;  f'(x) = 1. A 'linear' activation: stacking such layers stays a linear model."""

    kind = "identity"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out


class ELU(Layer):
    """f(x) = x for x > 0, alpha (e^x - 1) otherwise;  f'(x) = 1 or alpha e^x = y + alpha."""

    kind = "elu"

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = float(alpha)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._positive = x > 0
        # expm1 of min(x, 0): the branch for x > 0 is discarded, so keep it from overflowing.
        self._y = np.where(self._positive, x, self.alpha * np.expm1(np.minimum(x, 0)))
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * np.where(self._positive, 1, self._y + self.alpha)

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "alpha": self.alpha}


_GELU_C = math.sqrt(2.0 / math.pi)


class GELU(Layer):
    """GELU, tanh approximation (Hendrycks & Gimpel 2016), as BERT/GPT-2 use it:

        f(x)  = 0.5 x (1 + t),   t = tanh(u),   u = c (x + 0.044715 x^3),   c = sqrt(2 / pi)
        f'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 * 0.044715 x^2)

    The derivative above is of the approximation itself, so gradient checks are exact.
    """

    kind = "gelu"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        self._t = np.tanh(_GELU_C * (x + 0.044715 * x * x * x))
        return 0.5 * x * (1 + self._t)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x, t = self._x, self._t
        local = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * x * x)
        return grad_out * local


class Softplus(Layer):
    """f(x) = log(1 + e^x), a smooth ReLU;  f'(x) = sigmoid(x)."""

    kind = "softplus"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return np.logaddexp(0, x)  # log(e^0 + e^x) without overflow

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * _sigmoid(self._x)


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``rate`` and scale the
    survivors by 1 / (1 - rate), so the expected activation is unchanged and evaluation mode can
    simply pass x through. backward lets gradient flow only through the units kept, with the same
    scale (the mask is the local derivative)."""

    kind = "dropout"

    def __init__(self, rate: float, rng: np.random.Generator | None = None) -> None:
        if not 0.0 <= rate < 1.0:
            raise ConfigError(f"expected 0 <= dropout < 1, got {rate}", key="model.dropout")
        self.rate = float(rate)
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


ACTIVATIONS: dict[str, type[Layer]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "identity": Identity,
    "elu": ELU,
    "gelu": GELU,
    "softplus": Softplus,
}

#: the initialiser ``init: auto`` picks for each activation (He for the ReLU family).
DEFAULT_INIT = {name: "he" for name in ("relu", "leaky_relu", "elu", "gelu", "softplus")}
DEFAULT_INIT.update({name: "xavier" for name in ("sigmoid", "tanh", "identity")})


def layer_from_spec(spec: dict[str, Any], *, dtype: Any, rng: np.random.Generator | None) -> Layer:
    """Rebuild a layer from ``Layer.spec()``. Dense weights are zeros when ``rng`` is None."""
    kind = spec.get("type")
    if kind == "dense":
        return Dense(int(spec["in"]), int(spec["out"]), rng=rng, init=spec.get("init", "he"),
                     dtype=dtype, name=str(spec.get("name", "dense")))
    if kind == "dropout":
        return Dropout(float(spec["rate"]), rng=rng)
    if kind in ACTIVATIONS:
        cls = ACTIVATIONS[kind]
        if "alpha" in spec:
            return cls(alpha=float(spec["alpha"]))  # type: ignore[call-arg]
        return cls()
    raise ValueError(f"unknown layer type {kind!r}")
