"""Reference solution of exercise 1: the sigmoid's backward.

Write ``backward`` below, then check it:

    nnlearn exercise check 1

and, once every part passes, train with it like with any built-in activation:

    nnlearn train configs/moons.yaml --plugin exercises/01_sigmoid.py \
        --set model.activation=my_sigmoid
"""

import numpy as np

from nnlearn import Activation, register


@register("my_sigmoid")
class MySigmoid(Activation):
    """y = f(x) = 1 / (1 + e^(-x)), applied to every entry of x.

    Its derivative can be written with the output alone:

        f'(x) = e^(-x) / (1 + e^(-x))^2 = y (1 - y)

    ``backward`` receives grad_out = dL/dy (same shape as y) and returns dL/dx. Each entry of y
    depends only on the same entry of x, so the chain rule is a product entry by entry:

        dL/dx = dL/dy * f'(x) = grad_out * y * (1 - y)

    ``forward`` keeps y in ``self._y`` for ``backward`` to use.
    """

    def forward(self, x):
        self._y = 1 / (1 + np.exp(-x))
        return self._y

    def backward(self, grad_out):
        y = self._y
        return grad_out * y * (1 - y)
