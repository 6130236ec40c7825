"""Training: the loop that sequences the three owners.

The network computes (forward, then backward = backprop: dL/dW for every weight), the loss
measures, the optimizer updates (SGD: W = W - learning_rate * dL/dW). ``train_step`` is one such
move on one mini-batch; ``fit`` repeats it over epochs.
"""

from __future__ import annotations

import numpy as np


def train_step(network, loss, optimizer, x: np.ndarray, y: np.ndarray,
               weights: np.ndarray | None = None, *, clip_norm: float | None = None,
               clip_value: float | None = None) -> float:
    """One step of (mini-batch) gradient descent on the batch (x, y); returns the batch loss
    *before* the update."""
    pred = network.forward(x)                                  # 1. forward: predictions
    loss_value = loss.value(pred, y, weights)                  # 2. loss: how wrong they are
    optimizer.zero_grad()                                      # 3. clear last step's gradients
    network.backward(loss.gradient(pred, y, weights),          # 4. backprop: dL/dW for every W
                     need_input_grad=False)
    _clip(optimizer, clip_norm, clip_value)
    optimizer.step()                                           # 5. update: W -= lr * dL/dW
    return loss_value


def _clip(optimizer, clip_norm, clip_value) -> None:
    if clip_norm is None and clip_value is None:
        return
    from nnlearn.optimizers import clip_grad_norm, clip_grad_value

    if clip_value is not None:
        clip_grad_value(optimizer.params, clip_value)
    if clip_norm is not None:
        clip_grad_norm(optimizer.params, clip_norm)
