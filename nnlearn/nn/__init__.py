"""The lesson: a multi-layer perceptron, its backprop and its optimizers, in plain numpy."""
