"""Exercise 3: stochastic gradient descent with momentum.

Write ``step`` below, then check it:

    nnlearn exercise check 3

and, once every part passes, train with it:

    nnlearn train configs/iris.yaml --plugin exercises/03_momentum.py \
        --set training.optimizer=my_momentum
"""

from nnlearn import Optimizer, register


@register("my_momentum")
class MomentumSGD(Optimizer):
    """SGD with momentum (learning rate lr, momentum mu in [0, 1)).

    Every parameter p has a velocity v of its shape, which starts at zero. One step updates
    every parameter, with g = p.grad, the gradient backprop just computed:

        v = mu * v + g         a running sum of past gradients, older ones weighing less
        p = p - lr * v

    So the first step is plain SGD (v = g), and while the gradient keeps its direction the
    steps grow towards lr * g / (1 - mu): ten times plain SGD for mu = 0.9.

    ``self.params`` is the list of parameters (each has ``.value`` and ``.grad``), ``self.lr``
    the learning rate, ``self.momentum`` mu, and ``self.state["v"][i]`` the velocity of
    ``self.params[i]`` (zeros at first). Change ``p.value`` and ``v`` in place
    (``p.value -= ...``, ``v[...] = ...``), and leave ``p.grad`` as it is.
    """

    buffers = ("v",)  # one velocity array per parameter, saved in checkpoints

    def __init__(self, params, lr, weight_decay=0.0, momentum=0.9):
        self.momentum = float(momentum)
        super().__init__(params, lr, weight_decay)

    def step(self):
        raise NotImplementedError("your code here")
