"""Exercise 5: Adam.

Write ``step`` below, then check it:

    nnlearn exercise check 5

and, once every part passes, train with it:

    nnlearn train configs/iris.yaml --plugin exercises/05_adam.py \
        --set training.optimizer=my_adam --set training.learning_rate=0.01
"""

import numpy as np  # noqa: F401 - your step will need np.sqrt

from nnlearn import Optimizer, register


@register("my_adam")
class MyAdam(Optimizer):
    """Adam (Kingma & Ba, 2015): momentum on the gradient, and a step scaled per weight by the
    root of a running mean of its squared gradients.

    Each parameter p has two arrays of its shape, m and v, which start at zero. Step number t
    (1 for the first step) does, with g = p.grad:

        m = beta1 * m + (1 - beta1) * g          running mean of g
        v = beta2 * v + (1 - beta2) * g**2       running mean of g**2
        m_hat = m / (1 - beta1**t)               m and v start at 0, which biases them
        v_hat = v / (1 - beta2**t)               towards 0; this undoes it
        p = p - lr * m_hat / (sqrt(v_hat) + eps)

    On the first step m_hat = g and v_hat = g**2, so every weight moves by about lr, whatever
    the size of its gradient.

    ``self.t`` counts the steps taken (0 before the first: add 1 at the start of ``step``),
    ``self.params`` is the list of parameters (``.value``, ``.grad``), ``self.state["m"][i]`` and
    ``self.state["v"][i]`` are m and v of ``self.params[i]``. Change ``p.value``, m and v in
    place (``p.value -= ...``, ``m[...] = ...``) and leave ``p.grad`` as it is. ``np.sqrt``
    takes square roots entry by entry.
    """

    buffers = ("m", "v")  # saved in checkpoints, so --resume continues exactly

    def __init__(self, params, lr, weight_decay=0.0, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        super().__init__(params, lr, weight_decay)

    def step(self):
        raise NotImplementedError("your code here")
