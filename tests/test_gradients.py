"""Backprop vs central finite differences, in float64, for every layer and every loss.

Each layer is wrapped in a scalar loss L = sum(r * layer(x)) with a fixed random r, so that
dL/d(output) = r is an arbitrary upstream gradient, exactly what backward receives inside a network.
"""

import numpy as np
import pytest

from nnlearn.nn.activations import ACTIVATIONS
from nnlearn.nn.layers import Dense, Dropout
from nnlearn.nn.losses import LOSSES, MAE, MSE, SigmoidBCE, SoftmaxCrossEntropy
from nnlearn.nn.network import Sequential, build_mlp
from nnlearn.teach.gradcheck import check_network, numeric_gradient, relative_error

TOL = 1e-7
SEEDS = [0, 1, 2]


def _check(name, analytic, numeric):
    err = relative_error(analytic.reshape(-1), numeric)
    assert err < TOL, f"{name}: max relative error {err:.2e} (analytic {analytic.reshape(-1)[:4]},"\
                      f" numeric {numeric[:4]})"


def _layer_grads(layer, x, r):
    """Analytic dL/dx and dL/dparams of L = sum(r * layer(x))."""
    for p in layer.parameters():
        p.grad.fill(0)
    layer.forward(x)
    dx = layer.backward(r)
    return dx, {p.name: p.grad.copy() for p in layer.parameters()}


def _away_from_kinks(x):
    # ReLU-family derivatives jump at 0: keep inputs at least 0.05 away from it
    return np.where(np.abs(x) < 0.05, np.sign(x + 1e-12) * 0.05 + x, x)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_backward_matches_finite_differences(name, seed):
    rng = np.random.default_rng(seed)
    n, d = rng.integers(1, 6), rng.integers(1, 7)
    x = _away_from_kinks(rng.normal(scale=2.0, size=(n, d)))
    r = rng.normal(size=(n, d))
    layer = ACTIVATIONS[name]()
    dx, _ = _layer_grads(layer, x, r)
    _, numeric = numeric_gradient(lambda: float(np.sum(r * layer.forward(x))), x)
    _check(f"{name} dL/dx", dx, numeric)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name,alpha", [("leaky_relu", 0.3), ("elu", 2.5), ("elu", 0.2)])
def test_activation_settings_enter_backward_too(name, alpha, seed):
    # a model file can carry a non-default alpha: f' must use it, not the default's value
    rng = np.random.default_rng(seed)
    x = _away_from_kinks(rng.normal(scale=2.0, size=(4, 5)))
    r = rng.normal(size=(4, 5))
    layer = ACTIVATIONS[name](alpha=alpha)
    dx, _ = _layer_grads(layer, x, r)
    _, numeric = numeric_gradient(lambda: float(np.sum(r * layer.forward(x))), x)
    _check(f"{name}(alpha={alpha}) dL/dx", dx, numeric)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("init", ["he", "xavier"])
def test_dense_backward_matches_finite_differences(seed, init):
    rng = np.random.default_rng(seed)
    n, d_in, d_out = (int(v) for v in rng.integers(1, 7, size=3))
    layer = Dense(d_in, d_out, rng=rng, init=init)
    layer.b.value[...] = rng.normal(size=d_out)
    x = rng.normal(size=(n, d_in))
    r = rng.normal(size=(n, d_out))
    dx, grads = _layer_grads(layer, x, r)

    def loss():
        return float(np.sum(r * layer.forward(x)))

    _check("Dense dL/dx", dx, numeric_gradient(loss, x)[1])
    _check("Dense dL/dW", grads[layer.W.name], numeric_gradient(loss, layer.W.value)[1])
    _check("Dense dL/db", grads[layer.b.name], numeric_gradient(loss, layer.b.value)[1])


@pytest.mark.parametrize("seed", SEEDS)
def test_dropout_backward_uses_the_same_mask(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(5, 4))
    r = rng.normal(size=(5, 4))
    layer = Dropout(0.4, rng=np.random.default_rng(seed))
    y = layer.forward(x)
    mask = layer._mask
    # with the mask held fixed, dropout is linear: y = x * mask, so dL/dx = r * mask exactly
    np.testing.assert_array_equal(y, x * mask)
    np.testing.assert_array_equal(layer.backward(r), r * mask)
    kept = mask != 0
    np.testing.assert_allclose(mask[kept], 1 / 0.6)  # inverted dropout scale


def test_dropout_is_identity_in_eval_mode():
    layer = Dropout(0.5, rng=np.random.default_rng(0))
    layer.training = False
    x = np.arange(6.0).reshape(2, 3)
    assert layer.forward(x) is x
    assert layer.backward(x) is x


def test_dropout_keeps_expected_activation():
    layer = Dropout(0.3, rng=np.random.default_rng(0))
    x = np.ones((2000, 50))
    assert abs(layer.forward(x).mean() - 1.0) < 0.02


def _loss_inputs(name, rng):
    n, k = int(rng.integers(1, 8)), int(rng.integers(2, 5))
    if name == "cross_entropy":
        return rng.normal(scale=3, size=(n, k)), rng.integers(0, k, size=n)
    if name == "bce":
        return rng.normal(scale=3, size=(n, 1)), rng.integers(0, 2, size=n)
    pred = rng.normal(size=(n, k))
    target = rng.normal(size=(n, k))
    if name == "mae":  # |p - t| has a kink where p == t: stay away from it
        target = pred + np.where(rng.random((n, k)) < 0.5, -1, 1) * rng.uniform(0.1, 1, (n, k))
    return pred, target


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradient_matches_finite_differences(name, weighted, seed):
    rng = np.random.default_rng(seed)
    pred, target = _loss_inputs(name, rng)
    weights = rng.uniform(0.2, 3.0, size=len(pred)) if weighted else None
    loss = LOSSES[name]()
    analytic = loss.gradient(pred, target, weights)
    assert analytic.shape == pred.shape
    _, numeric = numeric_gradient(lambda: loss.value(pred, target, weights), pred)
    _check(f"{name} dL/dpred", analytic, numeric)


def test_losses_are_batch_means():
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(4, 3)), rng.integers(0, 3, size=4)
    ce = SoftmaxCrossEntropy()
    per_sample = [ce.value(pred[i:i + 1], target[i:i + 1]) for i in range(4)]
    assert ce.value(pred, target) == pytest.approx(np.mean(per_sample), rel=1e-12)
    p, t = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    assert MSE().value(p, t) == pytest.approx(np.mean((p - t) ** 2), rel=1e-12)
    assert MAE().value(p, t) == pytest.approx(np.mean(np.abs(p - t)), rel=1e-12)


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    target = np.array([0, 2])
    ce = SoftmaxCrossEntropy()
    value = ce.value(logits, target)
    # sample 0: correct with a margin of 1000 -> loss ~ 0; sample 1: log(e^1000 + e^999) - 999
    expected = (0.0 + (np.logaddexp(1000.0, 999.0) - 999.0)) / 2
    assert np.isfinite(value) and value == pytest.approx(expected, rel=1e-12)
    grad = ce.gradient(logits, target)
    assert np.all(np.isfinite(grad))
    p1 = 1 / (1 + np.exp(-1.0))  # softmax over (1000, 999) -> (e/(1+e), 1/(1+e))
    np.testing.assert_allclose(grad[1], np.array([0.0, p1, (1 - p1) - 1]) / 2, atol=1e-15)


def test_sigmoid_bce_is_stable_for_huge_logits():
    bce = SigmoidBCE()
    z = np.array([[1000.0], [-1000.0], [1000.0]])
    t = np.array([1, 0, 0])
    assert bce.value(z, t) == pytest.approx(1000.0 / 3)
    np.testing.assert_allclose(bce.gradient(z, t)[:, 0], [0, 0, 1 / 3])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("loss_name,n_out", [("cross_entropy", 3), ("bce", 1), ("mse", 2)])
def test_whole_network_gradient_matches_finite_differences(seed, loss_name, n_out):
    rng = np.random.default_rng(seed)
    layers = [{"units": 5, "activation": "tanh"}, {"units": 4, "activation": "gelu"},
              {"units": 3, "activation": "sigmoid"}]
    net = build_mlp(3, layers, n_out, rng=rng)
    for p in net.parameters():  # non-zero biases so every term of the chain is exercised
        p.value[...] += rng.normal(scale=0.1, size=p.value.shape)
    x = rng.normal(size=(6, 3))
    loss = LOSSES[loss_name]()
    y = (rng.integers(0, n_out if n_out > 1 else 2, size=6) if loss.task == "classification"
         else rng.normal(size=(6, n_out)))
    for check in check_network(net, loss, x, y, threshold=TOL):
        assert check.passed, f"{check.name}: relative error {check.max_rel_error:.2e}"


def test_gradcheck_catches_a_wrong_derivative(monkeypatch):
    from nnlearn.nn import activations

    monkeypatch.setattr(activations.Tanh, "backward", lambda self, g: g * (1 - self._y))  # wrong f'
    rng = np.random.default_rng(0)
    net = build_mlp(2, [{"units": 3, "activation": "tanh"}], 2, rng=rng)
    checks = check_network(net, SoftmaxCrossEntropy(), rng.normal(size=(4, 2)),
                           np.array([0, 1, 1, 0]))
    failed = {c.name for c in checks if not c.passed}
    assert "dense_1.W" in failed and "input" in failed
    assert "dense_2.W" not in failed  # above the broken layer, gradients are still right


def test_backward_leaves_parameter_values_untouched():
    rng = np.random.default_rng(0)
    net = build_mlp(4, [{"units": 8, "activation": "relu", "dropout": 0.2}], 3, rng=rng)
    before = net.get_weights()
    out = net.forward(rng.normal(size=(10, 4)))
    net.backward(SoftmaxCrossEntropy().gradient(out, rng.integers(0, 3, size=10)))
    for name, value in net.get_weights().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    assert any(np.any(p.grad != 0) for p in net.parameters())


def test_backward_sets_gradients_so_a_second_pass_does_not_add_to_them():
    # Each weight is used once in an MLP, so backward sets .grad instead of accumulating: a
    # stale gradient from another batch leaves no trace, and a training step needs no zero_grad.
    rng = np.random.default_rng(1)
    net = build_mlp(3, [{"units": 5, "activation": "tanh"}], 2, rng=rng)
    twin = build_mlp(3, [{"units": 5, "activation": "tanh"}], 2, rng=np.random.default_rng(1))
    ce = SoftmaxCrossEntropy()
    x1, x2 = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    y = rng.integers(0, 2, size=6)
    net.backward(ce.gradient(net.forward(x1), y))    # a stale gradient from another batch
    net.backward(ce.gradient(net.forward(x2), y))
    twin.backward(ce.gradient(twin.forward(x2), y))  # a fresh network: one pass only
    for p, q in zip(net.parameters(), twin.parameters()):
        assert np.any(p.grad != 0), p.name
        np.testing.assert_array_equal(p.grad, q.grad, err_msg=p.name)
    net.zero_grad()
    assert all(np.all(p.grad == 0) for p in net.parameters())


def test_network_applies_layers_in_order_and_backward_in_reverse():
    calls = []

    class Spy(ACTIVATIONS["identity"]):
        def __init__(self, tag):
            self.tag = tag

        def forward(self, x):
            calls.append(("f", self.tag))
            return x

        def backward(self, g):
            calls.append(("b", self.tag))
            return g

    net = Sequential([Spy(1), Spy(2), Spy(3)])
    net.backward(net.forward(np.ones((1, 1))))
    assert calls == [("f", 1), ("f", 2), ("f", 3), ("b", 3), ("b", 2), ("b", 1)]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_do_not_depend_on_the_memory_layout_of_pred(name):
    # Column-major (Fortran-order) predictions must give the same loss and gradient as row-major.
    rng = np.random.default_rng(3)
    loss = LOSSES[name]()
    k = 1 if name == "bce" else 4
    pred = rng.normal(size=(7, k))
    target = rng.integers(0, 2 if name == "bce" else k, size=7) if loss.task == "classification" \
        else rng.normal(size=(7, k))
    c_value, c_grad = loss.value_and_gradient(pred, target)
    f_value, f_grad = loss.value_and_gradient(np.asfortranarray(pred), target)
    assert f_value == c_value
    np.testing.assert_array_equal(f_grad, c_grad)
