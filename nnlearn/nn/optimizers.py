"""Optimizers: the objects that *update* weights once backprop has found dL/dW.

Backprop (``Sequential.backward``) only *computes* gradients: it writes ``param.grad``.
An optimizer's ``step()`` reads those gradients and changes ``param.value``; plain SGD is
one line, ``W = W - lr * dL/dW``. Everything else here (momentum, Adagrad, RMSProp, Adam)
is a different rule for turning the gradient history into a step.

Optimizers know nothing about layers. They see a flat list of parameter objects, each with

    name   str, unique within the list (used to key the saved state, e.g. ``"m/dense0.W"``)
    value  float ndarray, updated IN PLACE (the layer keeps a reference to it, so the
           optimizer must never rebind ``param.value``)
    grad   ndarray of the same shape, already the batch MEAN of dL/dW (losses divide by n,
           so the optimizer never sees the batch size)
    zero_grad()  sets grad to zero (``nnlearn.nn.layers.Parameter`` does it lazily)

Conventions shared by every optimizer (PyTorch's, stated exactly in each class):

* ``g = grad + weight_decay * W`` (L2 regularisation folded into the gradient), except for
  :class:`AdamW`, which decays the weights directly ("decoupled" weight decay).
* Weight decay applies to every parameter the optimizer is given; the trainer decides which.
* State (momentum, squared-gradient averages, ...) is one buffer per parameter, allocated
  once with the parameter's shape and dtype. Two parameters never share a buffer, and a
  float32 network stays float32: every scalar is kept as a Python ``float`` because under
  NumPy 2's promotion rules a ``np.float64`` scalar would upcast a float32 array.
* ``step()`` first computes the update into scratch memory, then applies it in place.
  ``param.grad`` is never modified by ``step()`` (only by :func:`clip_grad_norm`,
  :func:`clip_grad_value` and :meth:`Optimizer.zero_grad`).

Invalid hyper-parameters raise :class:`~nnlearn.errors.ConfigError` keyed by the config
path they come from (``training.learning_rate``, ``training.weight_decay``,
``training.optimizer.<name>``); programming mistakes (duplicate parameter names, a gradient
of the wrong shape) raise ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from nnlearn.errors import ConfigError, ModelFileError
from nnlearn.nn.registry import check_number, lookup

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "Param",
    "RMSProp",
    "clip_grad_norm",
    "clip_grad_value",
    "make_optimizer",
]

StateDict = dict[str, "np.ndarray | float | int"]


class Param(Protocol):
    """What an optimizer needs from a parameter (``nnlearn.nn.layers.Parameter`` satisfies it)."""

    name: str
    value: np.ndarray
    grad: np.ndarray

    def zero_grad(self) -> None: ...


def _check_real(value: Any, key: str, **bounds: Any) -> float:
    return check_number(value, key, **bounds)


def _opt_key(name: str) -> str:
    return f"training.optimizer.{name}"


class Optimizer:
    """Base class: holds the parameters, the learning rate, weight decay and a step count.

    Parameters
    ----------
    params
        The parameters to update (objects with ``name``, ``value``, ``grad``). Names must be
        unique: they key the per-parameter state in :meth:`state_dict`.
    lr
        Learning rate (> 0). Settable afterwards (``opt.lr = ...``); schedules do so each epoch.
    weight_decay
        L2 coefficient (>= 0): the gradient used is ``grad + weight_decay * W``, which is the
        gradient of ``loss + weight_decay/2 * ||W||^2``.

    Subclasses declare ``_buffer_names`` (the state buffers, e.g. ``("m", "v")``), each
    allocated per parameter as zeros of the parameter's shape and dtype, and implement
    ``_update(i, w, g)`` for parameter ``i``.
    """

    _buffer_names: tuple[str, ...] = ()

    def __init__(self, params: Sequence[Param], lr: float, weight_decay: float = 0.0) -> None:
        self.params: list[Param] = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        seen: set[str] = set()
        for p in self.params:
            if p.name in seen:
                raise ValueError(f"duplicate parameter name {p.name!r}; names key the state")
            seen.add(p.name)
            if not isinstance(p.value, np.ndarray) or not np.issubdtype(
                p.value.dtype, np.floating
            ):
                raise ValueError(f"parameter {p.name!r}: value must be a floating ndarray")
        self._lr = _check_real(lr, "training.learning_rate", low=0.0, low_open=True)
        self.weight_decay = _check_real(weight_decay, "training.weight_decay", low=0.0)
        self.t = 0  # number of step() calls so far
        # state[buffer name][i] is parameter i's buffer: one fresh array each, never shared.
        self._state: dict[str, list[np.ndarray]] = {
            b: [np.zeros_like(p.value) for p in self.params] for b in self._buffer_names
        }
        # Scratch memory for computing an update before applying it (not part of the state).
        self._scratch: list[list[np.ndarray]] = [[] for _ in self.params]

    # -- learning rate ------------------------------------------------------------------
    @property
    def lr(self) -> float:
        """The learning rate used by the next :meth:`step` (a Python float)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        # float() so a np.float64 handed in by a schedule cannot upcast float32 weights.
        x = float(value)
        if not math.isfinite(x) or x < 0.0:
            raise ValueError(f"learning rate must be finite and >= 0, got {value!r}")
        self._lr = x

    # -- the two verbs ------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Set every ``param.grad`` to 0 (``param.zero_grad()``; the arrays are never rebound)."""
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:
        """Apply one update to every parameter, in place, from its current ``grad``."""
        # Check every shape first so a bad gradient cannot leave a half-applied step.
        for p in self.params:
            if p.grad.shape != p.value.shape:
                raise ValueError(
                    f"parameter {p.name!r}: grad shape {p.grad.shape} != value shape "
                    f"{p.value.shape}"
                )
        self.t += 1
        for i, p in enumerate(self.params):
            self._update(i, p.value, p.grad)

    def _update(self, i: int, w: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    # -- helpers for subclasses ---------------------------------------------------------
    def _tmp(self, i: int, k: int) -> np.ndarray:
        """Scratch array number ``k`` for parameter ``i`` (allocated once, reused each step)."""
        scratch = self._scratch[i]
        while len(scratch) <= k:
            scratch.append(np.empty_like(self.params[i].value))
        return scratch[k]

    def _l2_grad(self, i: int, w: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """``g = grad + weight_decay * W``, written into scratch 0 (``grad`` is left alone)."""
        if self.weight_decay == 0.0:
            return grad
        g = self._tmp(i, 0)
        np.multiply(w, self.weight_decay, out=g)
        g += grad
        return g

    # -- save / resume ------------------------------------------------------------------
    def _key(self, buffer: str, i: int) -> str:
        return f"{buffer}/{self.params[i].name}"

    def state_dict(self) -> StateDict:
        """Everything needed to resume exactly: ``t``, ``lr`` and copies of every buffer.

        Buffers are keyed ``"<buffer>/<param name>"`` (e.g. ``"m/dense0.W"``). All values are
        numeric, so the dict can be saved with ``np.savez(..., allow_pickle=False)``.
        Hyper-parameters (momentum, betas, ...) are not included: they come from the config.
        """
        state: StateDict = {"t": self.t, "lr": self._lr}
        for b, bufs in self._state.items():
            for i, buf in enumerate(bufs):
                state[self._key(b, i)] = buf.copy()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved; buffers are copied into the existing arrays.

        Raises ModelFileError if a key is missing or unexpected (e.g. Adam state loaded
        into SGD, or a different network), or a buffer has the wrong shape or is not numeric.
        Nothing is changed unless the whole state is valid.
        """
        expected = {"t", "lr"} | {
            self._key(b, i) for b in self._state for i in range(len(self.params))
        }
        missing = sorted(expected - set(state))
        extra = sorted(set(state) - expected)
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"unexpected {', '.join(extra)}")
            raise ModelFileError(
                f"optimizer state does not match {type(self).__name__} on these parameters: "
                + "; ".join(parts)
            )
        arrays: dict[str, np.ndarray] = {}
        for b, bufs in self._state.items():
            for i, buf in enumerate(bufs):
                key = self._key(b, i)
                arr = np.asarray(state[key])
                if arr.dtype.kind not in "fiu":
                    raise ModelFileError(f"optimizer state {key!r} is not numeric ({arr.dtype})")
                if arr.shape != buf.shape:
                    raise ModelFileError(
                        f"optimizer state {key!r} has shape {arr.shape}, parameter has {buf.shape}"
                    )
                arrays[key] = arr
        try:
            t = int(np.asarray(state["t"]).item())
            lr = float(np.asarray(state["lr"]).item())
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"optimizer state 't'/'lr' is not a number: {exc}") from None
        if t < 0 or not math.isfinite(lr) or lr < 0:
            raise ModelFileError(f"optimizer state has invalid t={t} or lr={lr}")
        for b, bufs in self._state.items():
            for i, buf in enumerate(bufs):
                buf[...] = arrays[self._key(b, i)]
        self.t = t
        self._lr = lr

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self._lr}, weight_decay={self.weight_decay})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    With ``g = grad + weight_decay * W``:

    * ``momentum == 0``:  ``W -= lr * g``
    * ``momentum = mu``:  ``v = mu * v + g``  (v starts at 0, so the first v is g), then
      ``W -= lr * v``, or with ``nesterov=True``  ``W -= lr * (g + mu * v)``.

    This is PyTorch's form (without dampening). Sutskever et al. and scikit-learn write
    ``v = mu * v - lr * g; W += v``: there the velocity already includes the learning rate,
    here it is a running sum of gradients and the *current* lr multiplies it. The two are the
    same while lr is constant (their v is ``-lr`` times ours); after a schedule changes lr,
    ours rescales the whole accumulated velocity at once, theirs only new contributions.

    State: ``v/<name>`` (only when momentum > 0).
    """

    def __init__(
        self,
        params: Sequence[Param],
        lr: float,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        self.momentum = _check_real(momentum, _opt_key("momentum"), low=0.0, high=1.0,
                                    high_open=True)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ConfigError(f"must be true or false, got {nesterov!r}", key=_opt_key("nesterov"))
        if nesterov and self.momentum == 0.0:
            raise ConfigError("nesterov needs momentum > 0", key=_opt_key("nesterov"))
        self.nesterov = bool(nesterov)
        self._buffer_names = ("v",) if self.momentum > 0.0 else ()
        super().__init__(params, lr, weight_decay)

    def _update(self, i: int, w: np.ndarray, grad: np.ndarray) -> None:
        g = self._l2_grad(i, w, grad)
        upd = self._tmp(i, 1)
        if self.momentum == 0.0:
            np.multiply(g, self._lr, out=upd)
        else:
            v = self._state["v"][i]
            v *= self.momentum
            v += g
            if self.nesterov:
                np.multiply(v, self.momentum, out=upd)
                upd += g
                upd *= self._lr
            else:
                np.multiply(v, self._lr, out=upd)
        w -= upd


class Adagrad(Optimizer):
    """Adagrad: each weight's step is divided by the root of its summed squared gradients.

    With ``g = grad + weight_decay * W``:  ``s += g**2;  W -= lr * g / (sqrt(s) + eps)``,
    where ``s`` starts at ``initial_accumulator``. Weights that have seen large gradients
    take ever smaller steps; the effective rate only decreases.

    State: ``s/<name>``.
    """

    _buffer_names = ("s",)

    def __init__(
        self,
        params: Sequence[Param],
        lr: float,
        weight_decay: float = 0.0,
        eps: float = 1e-8,
        initial_accumulator: float = 0.0,
    ) -> None:
        self.eps = _check_real(eps, _opt_key("eps"), low=0.0, low_open=True)
        self.initial_accumulator = _check_real(
            initial_accumulator, _opt_key("initial_accumulator"), low=0.0
        )
        super().__init__(params, lr, weight_decay)
        for s in self._state["s"]:
            s.fill(self.initial_accumulator)

    def _update(self, i: int, w: np.ndarray, grad: np.ndarray) -> None:
        g = self._l2_grad(i, w, grad)
        s = self._state["s"][i]
        upd = self._tmp(i, 1)
        np.multiply(g, g, out=upd)
        s += upd
        np.sqrt(s, out=upd)
        upd += self.eps
        np.divide(g, upd, out=upd)
        upd *= self._lr
        w -= upd


class RMSProp(Optimizer):
    """RMSProp: divide the step by a running root-mean-square of recent gradients.

    With ``g = grad + weight_decay * W``:  ``s = rho * s + (1 - rho) * g**2`` (s starts at 0);
    ``momentum == 0``: ``W -= lr * g / (sqrt(s) + eps)``;
    ``momentum = mu``: ``b = mu * b + g / (sqrt(s) + eps);  W -= lr * b``.
    (PyTorch's ``RMSprop`` with ``alpha=rho``, ``centered=False``.)

    State: ``s/<name>`` and, when momentum > 0, ``b/<name>``.
    """

    def __init__(
        self,
        params: Sequence[Param],
        lr: float,
        weight_decay: float = 0.0,
        rho: float = 0.9,
        eps: float = 1e-8,
        momentum: float = 0.0,
    ) -> None:
        self.rho = _check_real(rho, _opt_key("rho"), low=0.0, high=1.0, high_open=True)
        self.eps = _check_real(eps, _opt_key("eps"), low=0.0, low_open=True)
        self.momentum = _check_real(momentum, _opt_key("momentum"), low=0.0, high=1.0,
                                    high_open=True)
        self._buffer_names = ("s", "b") if self.momentum > 0.0 else ("s",)
        super().__init__(params, lr, weight_decay)

    def _update(self, i: int, w: np.ndarray, grad: np.ndarray) -> None:
        g = self._l2_grad(i, w, grad)
        s = self._state["s"][i]
        upd = self._tmp(i, 1)
        np.multiply(g, g, out=upd)
        upd *= 1.0 - self.rho
        s *= self.rho
        s += upd
        np.sqrt(s, out=upd)
        upd += self.eps
        np.divide(g, upd, out=upd)  # g / (sqrt(s) + eps)
        if self.momentum > 0.0:
            b = self._state["b"][i]
            b *= self.momentum
            b += upd
            np.multiply(b, self._lr, out=upd)
        else:
            upd *= self._lr
        w -= upd


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

    State: ``t``, ``m/<name>``, ``v/<name>``.
    """

    _buffer_names = ("m", "v")

    def __init__(
        self,
        params: Sequence[Param],
        lr: float,
        weight_decay: float = 0.0,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
    ) -> None:
        self.beta1 = _check_real(beta1, _opt_key("beta1"), low=0.0, high=1.0, high_open=True)
        self.beta2 = _check_real(beta2, _opt_key("beta2"), low=0.0, high=1.0, high_open=True)
        self.eps = _check_real(eps, _opt_key("eps"), low=0.0, low_open=True)
        super().__init__(params, lr, weight_decay)

    def _adam(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        """The Adam update of ``w`` from gradient ``g`` (uses scratch 1; ``g`` may be scratch 0)."""
        b1, b2, t = self.beta1, self.beta2, self.t
        m, v = self._state["m"][i], self._state["v"][i]
        upd = self._tmp(i, 1)
        np.multiply(g, 1.0 - b1, out=upd)
        m *= b1
        m += upd
        np.multiply(g, g, out=upd)
        upd *= 1.0 - b2
        v *= b2
        v += upd
        # Python floats: 1 - beta**t stays a Python float, so float32 stays float32.
        np.divide(v, 1.0 - b2**t, out=upd)  # v_hat
        np.sqrt(upd, out=upd)
        upd += self.eps
        np.divide(m, upd, out=upd)
        upd *= self._lr / (1.0 - b1**t)  # lr * m_hat / (sqrt(v_hat) + eps)
        w -= upd

    def _update(self, i: int, w: np.ndarray, grad: np.ndarray) -> None:
        self._adam(i, w, self._l2_grad(i, w, grad))


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter; PyTorch's ``AdamW``): Adam with decoupled weight decay.

    First shrink the weights directly, using the pre-update W:  ``W -= lr * weight_decay * W``;
    then take the :class:`Adam` step with ``g = grad`` (no L2 term in the gradient, so the
    decay is not rescaled by ``1/sqrt(v_hat)``).

    Note ``weight_decay`` is multiplied by lr here (PyTorch's convention, default 0.01 there),
    so sensible values are much larger than for L2 in SGD/Adam.

    State: ``t``, ``m/<name>``, ``v/<name>``.
    """

    def _update(self, i: int, w: np.ndarray, grad: np.ndarray) -> None:
        if self.weight_decay != 0.0:
            decay = self._tmp(i, 0)
            np.multiply(w, self._lr * self.weight_decay, out=decay)
            w -= decay
        self._adam(i, w, grad)


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adagrad": Adagrad,
    "rmsprop": RMSProp,
    "adam": Adam,
    "adamw": AdamW,
}



def make_optimizer(
    spec: Mapping[str, Any] | str, params: Sequence[Param], lr: float, weight_decay: float
) -> Optimizer:
    """Build an optimizer from its config entry, e.g. ``{"name": "adam", "beta1": 0.9}``.

    ``spec`` may also be just the name (``"sgd"``). Unknown names raise
    ``ConfigError(key="training.optimizer")``; unknown or invalid hyper-parameters raise
    ``ConfigError(key="training.optimizer.<hyper-parameter>")``.
    """
    cls, kwargs = lookup(spec, OPTIMIZERS, key="training.optimizer", kind="optimizer",
                         skip=("params", "lr", "weight_decay"))
    return cls(params, lr=lr, weight_decay=weight_decay, **kwargs)


def clip_grad_norm(params: Sequence[Param], max_norm: float) -> float:
    """Scale all gradients together so their global L2 norm is at most ``max_norm``.

    The norm is taken over every gradient entry of every parameter, as if they were one
    long vector, so the direction of the overall step is kept. Scaling is in place.
    Returns the norm *before* clipping (useful to log). If that norm is not finite, the
    gradients are left untouched (scaling by 0 would turn inf into nan and hide the
    divergence the trainer should report).
    """
    max_norm = _check_real(max_norm, "training.clip_grad_norm", low=0.0, low_open=True)
    norms = []
    for p in params:
        g = p.grad.ravel()
        with np.errstate(over="ignore"):
            n = float(np.linalg.norm(g))
        if not math.isfinite(n) and np.isfinite(g).all():
            # A float32 sum of squares overflowed although every entry is finite: redo in float64.
            n = float(np.linalg.norm(g.astype(np.float64)))
        norms.append(n)
    total = math.hypot(*norms)  # sqrt of the sum of squares, without overflow
    if math.isfinite(total) and total > max_norm:
        scale = max_norm / total
        for p in params:
            g = p.grad
            g *= scale
    return total


def clip_grad_value(params: Sequence[Param], clip: float) -> None:
    """Clip every gradient entry into ``[-clip, clip]`` in place (changes the direction)."""
    clip = _check_real(clip, "training.clip_grad_value", low=0.0, low_open=True)
    for p in params:
        np.clip(p.grad, -clip, clip, out=p.grad)
