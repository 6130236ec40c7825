"""Exercise 2: a dense (fully connected) layer's backward: dW, db and dx.

Write ``backward`` below, then check it:

    nnlearn exercise check 2

The checker builds ``MyDense(d_in, d_out, rng=generator)``, compares your three gradients with
central differences, checks a small network made of two of your layers, and trains it.
"""

import numpy as np

from nnlearn import Layer, Parameter, register


@register("my_dense")
class MyDense(Layer):
    """y = x W + b, for a batch: x is (n, d_in), W (d_in, d_out), b (d_out,), y (n, d_out).

    Entry by entry, y[i, k] = sum_j x[i, j] W[j, k] + b[k]. Given grad_out = dL/dy (n, d_out),
    the chain rule, summed over the n rows of the batch, gives:

        dL/dW = x^T . dL/dy                (d_in, d_out)   every row adds its x[i]^T dL/dy[i]
        dL/db = sum over rows of dL/dy     (d_out,)        b is added to every row
        dL/dx = dL/dy . W^T                (n, d_in)       what the layer below needs

    ``backward`` must *set* ``self.W.grad`` and ``self.b.grad`` (write into them, e.g.
    ``self.W.grad[...] = ...``), return dL/dx, and leave ``self.W.value`` and ``self.b.value``
    alone: changing the weights is the optimizer's job. ``forward`` keeps x in ``self._x``.
    Use ``np.dot`` (or ``@``) for the matrix products and ``.T`` for a transpose.
    """

    def __init__(self, d_in, d_out, *, rng=None, name="my_dense"):
        rng = rng if rng is not None else np.random.default_rng(0)
        limit = np.sqrt(6.0 / (d_in + d_out))  # Xavier/Glorot uniform
        self.W = Parameter(f"{name}.W", rng.uniform(-limit, limit, size=(d_in, d_out)))
        self.b = Parameter(f"{name}.b", np.zeros(d_out))

    def forward(self, x):
        self._x = x
        return np.dot(x, self.W.value) + self.b.value

    def backward(self, grad_out):
        raise NotImplementedError("your code here")

    def parameters(self):
        return [self.W, self.b]
