"""Losses: how wrong the network's output is, and the gradient that starts backpropagation.

One reduction convention for all of them: ``value`` is the mean over the batch, and ``gradient``
already carries the 1/n, so an optimizer never needs to know the batch size. With per-sample
``weights`` w, the loss is ``Σ_i w_i l_i / n`` (Keras' convention: weights of mean 1, such as
'balanced' class weights, leave the scale of the loss unchanged).

``pred`` is always the raw output of the last Dense layer, shape (n, k). The classification losses
fuse their output function (softmax, sigmoid) into the loss; ``output(pred)`` applies it when
probabilities are wanted.
"""

from __future__ import annotations

import math

import numpy as np

from nnlearn.nn.activations import sigmoid


def _mean(a: np.ndarray) -> float:
    """The mean as a Python float (NaN for an empty batch)."""
    return float(a.sum()) / a.size if a.size else math.nan


def _weighted(a: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """``a`` with row i multiplied by ``weights[i]`` (``a`` itself when there are no weights)."""
    if weights is None:
        return a
    w = np.asarray(weights, dtype=a.dtype)
    return a * (w.reshape(-1, 1) if a.ndim == 2 else w)


class Loss:
    """Base class: ``value`` is the batch mean (a float), ``gradient`` is dL/d(pred), shaped like
    ``pred`` and already divided by n."""

    name = "loss"
    task = "regression"

    def value(self, pred: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> float:
        raise NotImplementedError

    def gradient(self, pred: np.ndarray, target: np.ndarray,
                 weights: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def value_and_gradient(self, pred: np.ndarray, target: np.ndarray,
                           weights: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """Both at once, as a training step needs them; losses that share work override this."""
        return self.value(pred, target, weights), self.gradient(pred, target, weights)

    def output(self, pred: np.ndarray) -> np.ndarray:
        """What the network's raw output means to a user (identity for regression)."""
        return pred


class MSE(Loss):
    """Mean squared error over all n·k entries: L = mean((p - t)²);  dL/dp = 2 (p - t) / (n k)."""

    name = "mse"

    def value(self, pred, target, weights=None):
        diff = pred - target.astype(pred.dtype, copy=False)
        return _mean(_weighted(diff * diff, weights))

    def gradient(self, pred, target, weights=None):
        diff = pred - target.astype(pred.dtype, copy=False)
        return _weighted(diff * (2 / diff.size), weights)


class MAE(Loss):
    """Mean absolute error: L = mean(|p - t|);  dL/dp = sign(p - t) / (n k).

    |x| has no derivative at x = 0; we use the subgradient 0 there (``np.sign(0) == 0``), the
    usual choice (PyTorch does the same). Gradient checks must stay away from that kink.
    """

    name = "mae"

    def value(self, pred, target, weights=None):
        return _mean(_weighted(np.abs(pred - target.astype(pred.dtype, copy=False)), weights))

    def gradient(self, pred, target, weights=None):
        diff = pred - target.astype(pred.dtype, copy=False)
        return _weighted(np.sign(diff) * (1 / diff.size), weights)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so that exp never overflows."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class SoftmaxCrossEntropy(Loss):
    """Softmax followed by cross-entropy, fused. ``target`` holds class indices, shape (n,).

    For one sample with logits z and true class t, with p = softmax(z)::

        l = -log p_t = log(Σ_j e^{z_j}) - z_t

    Why fuse the two? The loss is computed as the right-hand side after subtracting max_j z_j
    from every z_j (which changes no p), so logits of ±1000 give a finite, exact loss where a
    separate softmax would overflow to inf or round p_t to 0, whose log is -inf. And the gradient is
    simple: d/dz_k of log(Σ_j e^{z_j}) is p_k, and d/dz_k of z_t is 1 when k = t, so
    ``dl/dz = p - onehot(t)``. A separate softmax layer and log-loss would multiply two Jacobians,
    one of them with a 1/p that blows up, to arrive at the same subtraction. Divided by n for the
    batch mean.
    """

    name = "cross_entropy"
    task = "classification"

    def value_and_gradient(self, pred, target, weights=None):
        # One softmax serves both: a training step needs the loss and its gradient.
        n = len(pred)
        rows = np.arange(n)
        shifted = pred - pred.max(axis=1, keepdims=True)       # z - max_j z_j: exp cannot overflow
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)                   # Σ_j e^{z_j}, shape (n, 1)
        losses = np.log(total[:, 0]) - shifted[rows, target]  # l = log Σ_j e^{z_j} - z_t
        grad = e / total                                       # p = softmax(z)
        grad[rows, target] -= 1                                # p - onehot(t)
        grad /= n                                              # the batch mean's 1/n
        return _mean(_weighted(losses, weights)), _weighted(grad, weights)

    def value(self, pred, target, weights=None):
        return self.value_and_gradient(pred, target, weights)[0]

    def gradient(self, pred, target, weights=None):
        return self.value_and_gradient(pred, target, weights)[1]

    def output(self, pred):
        return softmax(pred)


class SigmoidBCE(Loss):
    """Sigmoid followed by binary cross-entropy, fused. ``pred`` is (n, 1) logits z, ``target`` 0/1.

    With p = sigmoid(z): l = -(t log p + (1 - t) log(1 - p)), which simplifies to

        l = max(z, 0) - z t + log(1 + e^{-|z|})

    a form that never exponentiates a large positive number. As for softmax, the derivative
    collapses: dl/dz = p - t. Divided by n for the batch mean.
    """

    name = "bce"
    task = "classification"

    def value(self, pred, target, weights=None):
        t = target.reshape(pred.shape).astype(pred.dtype, copy=False)
        losses = np.maximum(pred, 0) - pred * t + np.log1p(np.exp(-np.abs(pred)))
        return _mean(_weighted(losses, weights))

    def gradient(self, pred, target, weights=None):
        t = target.reshape(pred.shape).astype(pred.dtype, copy=False)
        return _weighted((sigmoid(pred) - t) * (1 / len(pred)), weights)

    def output(self, pred):
        p1 = sigmoid(pred)
        return np.concatenate([1 - p1, p1], axis=1)  # probabilities of class 0 and class 1


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls for cls in (SoftmaxCrossEntropy, SigmoidBCE, MSE, MAE)}


def make_loss(name: str) -> Loss:
    return LOSSES[name]()
