"""The lesson: a multi-layer perceptron, its backprop and its optimizers, in plain numpy.

Read in this order: ``layers.py`` (Dense: forward and the backward that gives dL/dW),
``activations.py`` (each f next to f'), ``losses.py`` (where dL/d(output) comes from),
``network.py`` (backward in reverse order: backpropagation), ``optimizers.py`` (SGD:
``W -= lr * dL/dW``, and its relatives), ``training.py`` (one step: forward, loss, backward,
update), ``schedules.py`` (the learning rate from epoch to epoch).
"""
