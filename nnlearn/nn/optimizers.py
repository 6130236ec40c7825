"""Optimizers: the objects that *update* weights once backprop has found dL/dW.

Backprop (``Sequential.backward``) only writes gradients into ``param.grad``; an optimizer's
``step()`` reads them and changes ``param.value`` in place. Plain SGD is one line,
``W -= lr * g``; momentum, Adagrad, RMSProp and Adam are other rules for turning the history of
gradients into a step. Each class states its rule in its docstring, and ``_update`` is that
rule, line by line. Optimizers know nothing about layers: they see each parameter's arrays
(:class:`Param`). Settings arrive checked by the config (``nnlearn.runs.config``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np


class Param(Protocol):
    """What an optimizer sees of a parameter (``layers.Parameter`` is one): ``value``, changed
    in place, and ``grad``, the batch *mean* of dL/d(value)."""

    name: str
    value: np.ndarray
    grad: np.ndarray


class Optimizer:
    """Base class: the parameters, the learning rate, weight decay and the step count ``t``.

    ``lr`` (> 0) may be changed between steps (schedules do so each epoch). ``weight_decay``
    (>= 0) is the L2 coefficient: the gradient used is ``grad + weight_decay * W``, the gradient
    of ``loss + weight_decay/2 * ||W||²``, for every parameter, biases included, as in PyTorch
    (:class:`AdamW` decouples it).
    Subclasses name their state ``buffers`` (e.g. ``("m", "v")``), each a zero array per
    parameter in ``self.state[buffer][i]``, and implement ``_update(i, w, grad)`` for parameter
    ``i``. A checkpoint saves ``t``, ``lr`` and these arrays (``nnlearn.runs.trainstate``).
    """

    buffers: tuple[str, ...] = ()

    def __init__(self, params: Sequence[Param], lr: float, weight_decay: float = 0.0) -> None:
        self.params: list[Param] = list(params)
        # Python floats: ``np.float64(lr) * g`` would be a float64 temporary for float32 g
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.t = 0  # number of step() calls so far
        self.state: dict[str, list[np.ndarray]] = {
            b: [np.zeros_like(p.value) for p in self.params] for b in self.buffers
        }

    def step(self) -> None:
        """Apply one update to every parameter, in place, from its current ``grad``."""
        self.t += 1
        for i, p in enumerate(self.params):
            self._update(i, p.value, p.grad)

    def _update(self, i: int, w: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    def _l2(self, w: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """``g = grad + weight_decay * W`` (``grad`` itself when there is no decay)."""
        return grad if self.weight_decay == 0.0 else grad + self.weight_decay * w

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr}, weight_decay={self.weight_decay})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    With ``g = grad + weight_decay * W``:

    * ``momentum == 0``:  ``W -= lr * g``
    * ``momentum = mu``:  ``v = mu * v + g`` (v starts at 0, so the first v is g), then
      ``W -= lr * v``, or with ``nesterov=True``  ``W -= lr * (g + mu * v)``.

    PyTorch's form. scikit-learn writes ``v = mu * v - lr * g; W += v``, with lr inside the
    velocity: the two agree while lr is constant, but when a schedule changes lr, ours rescales
    the whole velocity at once.
    """

    def __init__(self, params: Sequence[Param], lr: float, weight_decay: float = 0.0,
                 momentum: float = 0.0, nesterov: bool = False) -> None:
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        # before the base __init__, which allocates one zero array per buffer name
        self.buffers = ("v",) if self.momentum > 0.0 else ()
        super().__init__(params, lr, weight_decay)

    def _update(self, i: int, w: np.ndarray, grad: np.ndarray) -> None:
        g, lr, mu = self._l2(w, grad), self.lr, self.momentum
        if mu == 0.0:
            w -= lr * g
            return
        v = self.state["v"][i]
        v[...] = mu * v + g
        if self.nesterov:
            w -= lr * (g + mu * v)
        else:
            w -= lr * v


class Adagrad(Optimizer):
    """Adagrad: each weight's step is divided by the root of its summed squared gradients.

    With ``g = grad + weight_decay * W``:  ``s += g**2;  W -= lr * g / (sqrt(s) + eps)``,
    where ``s`` starts at ``initial_accumulator``. Weights that have seen large gradients
    take ever smaller steps; the effective rate only decreases.
    """

    buffers = ("s",)

    def __init__(self, params: Sequence[Param], lr: float, weight_decay: float = 0.0,
                 eps: float = 1e-8, initial_accumulator: float = 0.0) -> None:
        self.eps, self.initial_accumulator = float(eps), float(initial_accumulator)
        super().__init__(params, lr, weight_decay)
        for s in self.state["s"]:
            s.fill(self.initial_accumulator)

    def _update(self, i: int, w: np.ndarray, grad: np.ndarray) -> None:
        g, s = self._l2(w, grad), self.state["s"][i]
        s += g**2
        w -= self.lr * g / (np.sqrt(s) + self.eps)


class RMSProp(Optimizer):
    """RMSProp: divide the step by a running root-mean-square of recent gradients.

    With ``g = grad + weight_decay * W``:  ``s = rho * s + (1 - rho) * g**2`` (s starts at 0);
    ``momentum == 0``: ``W -= lr * g / (sqrt(s) + eps)``;
    ``momentum = mu``: ``b = mu * b + g / (sqrt(s) + eps);  W -= lr * b``.
    (PyTorch's ``RMSprop`` with ``alpha=rho``, ``centered=False``.)
    """

    def __init__(self, params: Sequence[Param], lr: float, weight_decay: float = 0.0,
                 rho: float = 0.9, eps: float = 1e-8, momentum: float = 0.0) -> None:
        self.rho, self.eps, self.momentum = float(rho), float(eps), float(momentum)
        self.buffers = ("s", "b") if self.momentum > 0.0 else ("s",)
        super().__init__(params, lr, weight_decay)

    def _update(self, i: int, w: np.ndarray, grad: np.ndarray) -> None:
        g, s, rho, mu = self._l2(w, grad), self.state["s"][i], self.rho, self.momentum
        s[...] = rho * s + (1 - rho) * g**2
        if mu == 0.0:
            w -= self.lr * g / (np.sqrt(s) + self.eps)
            return
        b = self.state["b"][i]
        b[...] = mu * b + g / (np.sqrt(s) + self.eps)
        w -= self.lr * b


class Adam(Optimizer):
    """Adam (Kingma & Ba), with L2 weight decay added to the gradient (PyTorch's ``Adam``).

    With ``g = grad + weight_decay * W`` and m, v starting at 0::

        t += 1
        m = beta1 * m + (1 - beta1) * g          # running mean of g
        v = beta2 * v + (1 - beta2) * g**2       # running mean of g**2
        m_hat = m / (1 - beta1**t)               # undo the bias towards the zero start
        v_hat = v / (1 - beta2**t)
        W -= lr * m_hat / (sqrt(v_hat) + eps)

    Because the decay term passes through the ``1/sqrt(v_hat)`` scaling, L2 in Adam shrinks
    weights with large gradients less; :class:`AdamW` decouples it.
    """

    buffers = ("m", "v")

    def __init__(self, params: Sequence[Param], lr: float, weight_decay: float = 0.0,
                 beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        super().__init__(params, lr, weight_decay)

    def _update(self, i: int, w: np.ndarray, grad: np.ndarray) -> None:
        self._adam(i, w, self._l2(w, grad))

    def _adam(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        m, v = self.state["m"][i], self.state["v"][i]
        b1, b2, t = self.beta1, self.beta2, self.t
        m[...] = b1 * m + (1 - b1) * g
        v[...] = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        w -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter; PyTorch's ``AdamW``): Adam with decoupled weight decay.

    First shrink the weights directly, using the pre-update W:  ``W -= lr * weight_decay * W``;
    then take the :class:`Adam` step with ``g = grad`` (no L2 term in the gradient, so the
    decay is not rescaled by ``1/sqrt(v_hat)``).

    Note ``weight_decay`` is multiplied by lr here (PyTorch's convention, default 0.01 there),
    so sensible values are much larger than for L2 in SGD/Adam.
    """

    def _update(self, i: int, w: np.ndarray, grad: np.ndarray) -> None:
        w -= self.lr * self.weight_decay * w
        self._adam(i, w, grad)


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSProp, "adam": Adam, "adamw": AdamW}


def make_optimizer(
    spec: Mapping[str, Any] | str, params: Sequence[Param], lr: float, weight_decay: float
) -> Optimizer:
    """Build an optimizer from its config entry: a name (``"sgd"``) or a mapping such as
    ``{"name": "adam", "beta1": 0.9}``, whose other keys are the constructor's settings."""
    spec = {"name": spec} if isinstance(spec, str) else spec
    settings = {k: v for k, v in spec.items() if k != "name"}
    return OPTIMIZERS[spec["name"]](params, lr=lr, weight_decay=weight_decay, **settings)


def clip_grad_norm(params: Sequence[Param], max_norm: float) -> float:
    """Scale all gradients together, in place, so that their global L2 norm is at most
    ``max_norm``; return the norm before clipping.

    The norm is over every entry of every gradient, as one long vector, so the direction of the
    step is kept; it is summed in float64, where float32 squares cannot overflow. A non-finite
    norm leaves the gradients alone: scaling by 0 would turn inf into nan and hide the
    divergence the trainer should report.
    """
    total = math.sqrt(sum(float(np.sum(np.square(p.grad, dtype=np.float64))) for p in params))
    if math.isfinite(total) and total > max_norm:
        for p in params:
            p.grad *= max_norm / total
    return total


def clip_grad_value(params: Sequence[Param], clip: float) -> None:
    """Clip every gradient entry into ``[-clip, clip]`` in place (changes the direction)."""
    for p in params:
        np.clip(p.grad, -clip, clip, out=p.grad)
