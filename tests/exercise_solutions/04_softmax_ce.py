"""Reference solution of exercise 4: the gradient of softmax cross-entropy.

Write ``gradient`` below, then check it:

    nnlearn exercise check 4

and, once every part passes, train a classifier with it:

    nnlearn train configs/iris.yaml --plugin exercises/04_softmax_ce.py \
        --set training.loss=my_cross_entropy
"""

import numpy as np

from nnlearn import Loss, register


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))  # shifted: exp cannot overflow
    return e / e.sum(axis=1, keepdims=True)


@register("my_cross_entropy")
class MySoftmaxCrossEntropy(Loss):
    """Softmax followed by cross-entropy, for n rows of k raw scores z (the last layer's output)
    and true classes t (n integers in 0..k-1).

    For one row, with p = softmax(z), p_j = e^(z_j) / sum_m e^(z_m):

        l = -log p_t = log(sum_m e^(z_m)) - z_t

    Differentiate with respect to z_j: the first term gives e^(z_j) / sum_m e^(z_m) = p_j, the
    second gives 1 when j = t and 0 otherwise. So

        dl/dz = p - onehot(t)

    and as the loss L is the mean of l over the n rows, dL/dz = (p - onehot(t)) / n, shape
    (n, k). ``gradient`` returns that. In numpy: p = softmax(pred); subtract 1 at
    p[np.arange(n), target]; divide by n.
    """

    task = "classification"

    def value(self, pred, target, weights=None):
        shifted = pred - pred.max(axis=1, keepdims=True)
        rows = np.arange(len(pred))
        return float(np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[rows, target]))

    def gradient(self, pred, target, weights=None):
        n = len(pred)
        p = softmax(pred)
        p[np.arange(n), target] -= 1
        return p / n

    def output(self, pred):
        return softmax(pred)  # probabilities, for predict --proba
