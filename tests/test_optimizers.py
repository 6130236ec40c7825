"""Optimizers: each update rule checked against the formula worked by hand, step by step.

The hand computations below are deliberately plain numpy, unrolled over two steps, written
from the formulas in the docstrings (not from the implementation), so a wrong sign, a
missing bias correction or a misplaced weight-decay term shows up as a mismatch.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from nnlearn.errors import ConfigError
from nnlearn.nn.optimizers import (
    OPTIMIZERS,
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Optimizer,
    RMSProp,
    clip_grad_norm,
    clip_grad_value,
    make_optimizer,
)
from nnlearn.runs.config import check_settings
from nnlearn.runs.trainstate import load_optimizer_state, optimizer_state

RTOL = 1e-12
LR = 0.05


class P:
    """A tiny stand-in for a layer parameter: name, value and grad."""

    def __init__(self, name: str, value: np.ndarray) -> None:
        self.name = name
        self.value = value
        self.grad = np.zeros_like(value)


def make_params(dtype=np.float64, seed: int = 0) -> list[P]:
    """Two parameters of different shapes: a (3, 2) weight matrix and a (2,) bias."""
    rng = np.random.default_rng(seed)
    return [
        P("dense0.W", rng.normal(size=(3, 2)).astype(dtype)),
        P("dense0.b", rng.normal(size=(2,)).astype(dtype)),
    ]


def make_grads(params: list[P], n_steps: int, seed: int = 1) -> list[list[np.ndarray]]:
    """grads[k][i] = the gradient of parameter i at step k (float64, random)."""
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=p.value.shape) for p in params] for _ in range(n_steps)]


def run(opt: Optimizer, params: list[P], grads: list[list[np.ndarray]]) -> None:
    """Play the training loop's part: write each step's gradients, then step()."""
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad[...] = g
        opt.step()


def check(params: list[P], expected: list[np.ndarray]) -> None:
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.value, e, rtol=RTOL, atol=0, err_msg=f"W of {p.name}")


# Every optimizer configuration, for the properties that must hold for all of them.
CONFIGS = [
    pytest.param(SGD, {}, id="sgd"),
    pytest.param(SGD, {"momentum": 0.9}, id="sgd-momentum"),
    pytest.param(SGD, {"momentum": 0.9, "nesterov": True}, id="sgd-nesterov"),
    pytest.param(Adagrad, {"initial_accumulator": 0.1}, id="adagrad"),
    pytest.param(RMSProp, {}, id="rmsprop"),
    pytest.param(RMSProp, {"momentum": 0.5}, id="rmsprop-momentum"),
    pytest.param(Adam, {}, id="adam"),
    pytest.param(AdamW, {}, id="adamw"),
]
WDS = pytest.mark.parametrize("wd", [0.0, 0.1])


# ---------------------------------------------------------------------------------------
# The update rules, two steps each, against hand computation
# ---------------------------------------------------------------------------------------
@WDS
def test_sgd_two_steps_match_w_minus_lr_times_g(wd):
    params = make_params()
    w0 = [p.value.copy() for p in params]
    G = make_grads(params, 2)
    run(SGD(params, lr=LR, weight_decay=wd), params, G)

    expected = []
    for i in range(2):
        # step 1: g1 = grad1 + wd*W0;  W1 = W0 - lr*g1
        g1 = G[0][i] + wd * w0[i]
        w1 = w0[i] - LR * g1
        # step 2: g2 = grad2 + wd*W1;  W2 = W1 - lr*g2
        g2 = G[1][i] + wd * w1
        w2 = w1 - LR * g2
        expected.append(w2)
    check(params, expected)


@WDS
def test_sgd_momentum_two_steps_match_hand_formula(wd):
    mu = 0.9
    params = make_params()
    w0 = [p.value.copy() for p in params]
    G = make_grads(params, 2)
    run(SGD(params, lr=LR, weight_decay=wd, momentum=mu), params, G)

    expected = []
    for i in range(2):
        # step 1: v starts at 0, so v1 = mu*0 + g1 = g1;  W1 = W0 - lr*v1
        g1 = G[0][i] + wd * w0[i]
        v1 = g1
        w1 = w0[i] - LR * v1
        # step 2: v2 = mu*v1 + g2;  W2 = W1 - lr*v2
        g2 = G[1][i] + wd * w1
        v2 = mu * v1 + g2
        w2 = w1 - LR * v2
        expected.append(w2)
    check(params, expected)


@WDS
def test_sgd_nesterov_two_steps_match_hand_formula(wd):
    mu = 0.9
    params = make_params()
    w0 = [p.value.copy() for p in params]
    G = make_grads(params, 2)
    run(SGD(params, lr=LR, weight_decay=wd, momentum=mu, nesterov=True), params, G)

    expected = []
    for i in range(2):
        # step 1: v1 = g1;  Nesterov looks ahead: W1 = W0 - lr*(g1 + mu*v1)
        g1 = G[0][i] + wd * w0[i]
        v1 = g1
        w1 = w0[i] - LR * (g1 + mu * v1)
        # step 2: v2 = mu*v1 + g2;  W2 = W1 - lr*(g2 + mu*v2)
        g2 = G[1][i] + wd * w1
        v2 = mu * v1 + g2
        w2 = w1 - LR * (g2 + mu * v2)
        expected.append(w2)
    check(params, expected)


def test_sgd_momentum_multiplies_the_whole_velocity_by_the_current_lr():
    # Our v is a sum of gradients (PyTorch form); the lr in force at the step scales all of
    # it. In the sklearn form (v = mu*v - lr*g) the first step would keep its old lr.
    mu, lr1, lr2 = 0.9, 0.1, 0.01
    params = make_params()
    w0 = [p.value.copy() for p in params]
    G = make_grads(params, 2)
    opt = SGD(params, lr=lr1, momentum=mu)
    run(opt, params, G[:1])
    opt.lr = lr2
    run(opt, params, G[1:])
    for i, p in enumerate(params):
        ours = w0[i] - lr1 * G[0][i] - lr2 * (mu * G[0][i] + G[1][i])
        sklearn_form = w0[i] - lr1 * G[0][i] - (mu * lr1 * G[0][i] + lr2 * G[1][i])
        np.testing.assert_allclose(p.value, ours, rtol=RTOL)
        assert not np.allclose(p.value, sklearn_form)


@WDS
@pytest.mark.parametrize("s0", [0.0, 0.1])
def test_adagrad_two_steps_match_hand_formula(wd, s0):
    eps = 1e-8
    params = make_params()
    w0 = [p.value.copy() for p in params]
    G = make_grads(params, 2)
    run(Adagrad(params, lr=LR, weight_decay=wd, eps=eps, initial_accumulator=s0), params, G)

    expected = []
    for i in range(2):
        # step 1: s1 = s0 + g1^2;  W1 = W0 - lr*g1/(sqrt(s1) + eps)
        g1 = G[0][i] + wd * w0[i]
        s1 = s0 + g1**2
        w1 = w0[i] - LR * g1 / (np.sqrt(s1) + eps)
        # step 2: s2 = s1 + g2^2;  W2 = W1 - lr*g2/(sqrt(s2) + eps)
        g2 = G[1][i] + wd * w1
        s2 = s1 + g2**2
        w2 = w1 - LR * g2 / (np.sqrt(s2) + eps)
        expected.append(w2)
    check(params, expected)


@WDS
def test_rmsprop_two_steps_match_hand_formula(wd):
    rho, eps = 0.9, 1e-8
    params = make_params()
    w0 = [p.value.copy() for p in params]
    G = make_grads(params, 2)
    run(RMSProp(params, lr=LR, weight_decay=wd, rho=rho, eps=eps), params, G)

    expected = []
    for i in range(2):
        # step 1: s starts at 0, s1 = (1-rho)*g1^2;  W1 = W0 - lr*g1/(sqrt(s1) + eps)
        g1 = G[0][i] + wd * w0[i]
        s1 = rho * 0.0 + (1 - rho) * g1**2
        w1 = w0[i] - LR * g1 / (np.sqrt(s1) + eps)
        # step 2: s2 = rho*s1 + (1-rho)*g2^2;  W2 = W1 - lr*g2/(sqrt(s2) + eps)
        g2 = G[1][i] + wd * w1
        s2 = rho * s1 + (1 - rho) * g2**2
        w2 = w1 - LR * g2 / (np.sqrt(s2) + eps)
        expected.append(w2)
    check(params, expected)


@WDS
def test_rmsprop_momentum_two_steps_match_hand_formula(wd):
    rho, eps, mu = 0.9, 1e-8, 0.5
    params = make_params()
    w0 = [p.value.copy() for p in params]
    G = make_grads(params, 2)
    run(RMSProp(params, lr=LR, weight_decay=wd, rho=rho, eps=eps, momentum=mu), params, G)

    expected = []
    for i in range(2):
        # step 1: s1 = (1-rho)*g1^2;  b1 = mu*0 + g1/(sqrt(s1)+eps);  W1 = W0 - lr*b1
        g1 = G[0][i] + wd * w0[i]
        s1 = (1 - rho) * g1**2
        b1 = g1 / (np.sqrt(s1) + eps)
        w1 = w0[i] - LR * b1
        # step 2: s2 = rho*s1 + (1-rho)*g2^2;  b2 = mu*b1 + g2/(sqrt(s2)+eps);  W2 = W1 - lr*b2
        g2 = G[1][i] + wd * w1
        s2 = rho * s1 + (1 - rho) * g2**2
        b2 = mu * b1 + g2 / (np.sqrt(s2) + eps)
        w2 = w1 - LR * b2
        expected.append(w2)
    check(params, expected)


@WDS
def test_adam_two_steps_match_hand_formula(wd):
    b1, b2, eps = 0.9, 0.999, 1e-8
    params = make_params()
    w0 = [p.value.copy() for p in params]
    G = make_grads(params, 2)
    opt = Adam(params, lr=LR, weight_decay=wd, beta1=b1, beta2=b2, eps=eps)
    run(opt, params, G)
    assert opt.t == 2

    expected = []
    for i in range(2):
        # step t=1 (m, v start at 0); L2 decay enters through the gradient
        g = G[0][i] + wd * w0[i]
        m = (1 - b1) * g
        v = (1 - b2) * g**2
        m_hat = m / (1 - b1**1)  # = g: bias correction undoes the zero start
        v_hat = v / (1 - b2**1)
        w1 = w0[i] - LR * m_hat / (np.sqrt(v_hat) + eps)
        # step t=2
        g = G[1][i] + wd * w1
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**2)
        v_hat = v / (1 - b2**2)
        w2 = w1 - LR * m_hat / (np.sqrt(v_hat) + eps)
        expected.append(w2)
    check(params, expected)


@WDS
def test_adamw_two_steps_match_hand_formula(wd):
    b1, b2, eps = 0.9, 0.999, 1e-8
    params = make_params()
    w0 = [p.value.copy() for p in params]
    G = make_grads(params, 2)
    run(AdamW(params, lr=LR, weight_decay=wd, beta1=b1, beta2=b2, eps=eps), params, G)

    expected = []
    for i in range(2):
        # step t=1: decay the weights directly (pre-update W), then Adam with the raw grad
        w = w0[i] - LR * wd * w0[i]
        g = G[0][i]
        m = (1 - b1) * g
        v = (1 - b2) * g**2
        w1 = w - LR * (m / (1 - b1)) / (np.sqrt(v / (1 - b2)) + eps)
        # step t=2
        w = w1 - LR * wd * w1
        g = G[1][i]
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        w2 = w - LR * (m / (1 - b1**2)) / (np.sqrt(v / (1 - b2**2)) + eps)
        expected.append(w2)
    check(params, expected)


def test_adamw_decay_is_not_the_same_as_adam_l2():
    G = make_grads(make_params(), 3)
    adam_params, adamw_params = make_params(), make_params()
    run(Adam(adam_params, lr=LR, weight_decay=0.1), adam_params, G)
    run(AdamW(adamw_params, lr=LR, weight_decay=0.1), adamw_params, G)
    assert not np.allclose(adam_params[0].value, adamw_params[0].value)


@pytest.mark.parametrize("cls,kwargs", CONFIGS)
def test_every_optimizer_descends_a_quadratic(cls, kwargs):
    # L(W) = 0.5*||W - target||^2, so dL/dW = W - target: the optimizer alone must find target.
    target = np.array([[1.0, -2.0], [0.5, 3.0], [0.0, -1.0]])
    p = P("W", np.zeros_like(target))
    # Adagrad's steps shrink like lr/sqrt(t), so it needs a larger base rate to get there.
    opt = cls([p], lr=0.5 if cls is Adagrad else 0.05, **kwargs)
    start = 0.5 * np.sum((p.value - target) ** 2)
    for _ in range(300):
        p.grad[...] = p.value - target
        opt.step()
    assert 0.5 * np.sum((p.value - target) ** 2) < start / 100


# ---------------------------------------------------------------------------------------
# Properties every optimizer must have
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,kwargs", CONFIGS)
def test_float32_parameters_and_state_stay_float32(cls, kwargs):
    params32 = make_params(np.float32)
    params64 = make_params(np.float64)
    G = make_grads(params64, 3)
    opt32 = cls(params32, lr=LR, weight_decay=0.01, **kwargs)
    opt64 = cls(params64, lr=LR, weight_decay=0.01, **kwargs)
    for step_grads in G:
        for p, g in zip(params32, step_grads):
            p.grad[...] = g  # cast to float32 on assignment
        for p, g in zip(params64, step_grads):
            p.grad[...] = g.astype(np.float32)  # same gradients, so the runs are comparable
        opt32.step()
        opt64.step()
    for p32, p64 in zip(params32, params64):
        assert p32.value.dtype == np.float32, p32.name
        np.testing.assert_allclose(p32.value, p64.value, rtol=1e-4, atol=1e-5)
    for key, val in optimizer_state(opt32).items():
        if isinstance(val, np.ndarray):
            assert val.dtype == np.float32, key


@pytest.mark.parametrize("cls,kwargs", CONFIGS)
def test_step_updates_values_in_place_and_leaves_grads_alone(cls, kwargs):
    params = make_params()
    values = [p.value for p in params]
    G = make_grads(params, 1)
    for p, g in zip(params, G[0]):
        p.grad[...] = g
    before = [p.value.copy() for p in params]
    cls(params, lr=LR, weight_decay=0.1, **kwargs).step()
    for p, v, b, g in zip(params, values, before, G[0]):
        assert p.value is v, "value was rebound; the layer would keep training the old array"
        assert not np.array_equal(p.value, b), "step did not change the weights"
        np.testing.assert_array_equal(p.grad, g, err_msg="step modified grad")


@pytest.mark.parametrize("cls,kwargs", CONFIGS)
def test_parameters_do_not_share_state(cls, kwargs):
    # Two parameters of the SAME shape in one optimizer must evolve exactly as if each had
    # its own optimizer; a shared buffer would mix their histories.
    rng = np.random.default_rng(3)
    a, b = P("a", rng.normal(size=(4, 3))), P("b", rng.normal(size=(4, 3)))
    a1, b1 = P("a", a.value.copy()), P("b", b.value.copy())
    G = [[rng.normal(size=(4, 3)), rng.normal(size=(4, 3))] for _ in range(3)]
    run(cls([a, b], lr=LR, weight_decay=0.1, **kwargs), [a, b], G)
    run(cls([a1], lr=LR, weight_decay=0.1, **kwargs), [a1], [[g[0]] for g in G])
    run(cls([b1], lr=LR, weight_decay=0.1, **kwargs), [b1], [[g[1]] for g in G])
    np.testing.assert_array_equal(a.value, a1.value)
    np.testing.assert_array_equal(b.value, b1.value)


def _npz_roundtrip(state: dict) -> dict:
    """Save and load the state as the checkpoint code will: .npz, no pickle."""
    buf = io.BytesIO()
    np.savez(buf, **state)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("cls,kwargs", CONFIGS)
def test_state_dict_resume_gives_the_same_next_step(cls, kwargs):
    params = make_params()
    G = make_grads(params, 4)
    opt = cls(params, lr=LR, weight_decay=0.1, **kwargs)
    run(opt, params, G[:2])
    opt.lr = 0.02  # as a schedule would have set it
    state = _npz_roundtrip(optimizer_state(opt))

    # A fresh process: new parameter objects holding the saved weights, a new optimizer.
    resumed_params = [P(p.name, p.value.copy()) for p in params]
    resumed = cls(resumed_params, lr=LR, weight_decay=0.1, **kwargs)
    load_optimizer_state(resumed, state)
    assert resumed.t == opt.t == 2
    assert resumed.lr == 0.02

    run(opt, params, G[2:])
    run(resumed, resumed_params, G[2:])
    for p, r in zip(params, resumed_params):
        np.testing.assert_array_equal(r.value, p.value, err_msg=p.name)


@pytest.mark.parametrize("cls,kwargs", CONFIGS)
def test_resume_without_loading_state_would_differ(cls, kwargs):
    # Guards the test above: if the state mattered nowhere, it would pass vacuously.
    params = make_params()
    G = make_grads(params, 3)
    opt = cls(params, lr=LR, **kwargs)
    run(opt, params, G[:2])
    fresh_params = [P(p.name, p.value.copy()) for p in params]
    fresh = cls(fresh_params, lr=LR, **kwargs)
    run(opt, params, G[2:])
    run(fresh, fresh_params, G[2:])
    if cls is SGD and not kwargs:
        # Plain SGD has no state: the step is the same either way.
        np.testing.assert_array_equal(fresh_params[0].value, params[0].value)
    else:
        assert not np.array_equal(fresh_params[0].value, params[0].value)


def test_state_dict_keys_and_copies():
    params = make_params()
    opt = Adam(params, lr=LR)
    run(opt, params, make_grads(params, 1))
    state = optimizer_state(opt)
    assert set(state) == {"t", "lr", "m/dense0.W", "m/dense0.b", "v/dense0.W", "v/dense0.b"}
    state["m/dense0.W"][...] = 123.0  # must not reach into the optimizer
    assert not np.any(optimizer_state(opt)["m/dense0.W"] == 123.0)


def test_clip_grad_norm_scales_all_grads_together_to_max_norm():
    params = make_params()
    G = make_grads(params, 1)[0]
    for p, g in zip(params, G):
        p.grad[...] = g
    grads = [p.grad for p in params]
    # The global norm: every entry of every gradient, as one long vector.
    norm = np.sqrt(sum(np.sum(g**2) for g in G))
    assert norm > 1.0
    returned = clip_grad_norm(params, max_norm=1.0)
    assert returned == pytest.approx(norm, rel=1e-12)
    for p, g, keep in zip(params, G, grads):
        assert p.grad is keep
        np.testing.assert_allclose(p.grad, g / norm, rtol=1e-12)  # same direction
    assert np.sqrt(sum(np.sum(p.grad**2) for p in params)) == pytest.approx(1.0, rel=1e-12)


def test_clip_grad_norm_leaves_small_grads_alone():
    params = make_params()
    G = make_grads(params, 1)[0]
    for p, g in zip(params, G):
        p.grad[...] = g
    clip_grad_norm(params, max_norm=1e6)
    for p, g in zip(params, G):
        np.testing.assert_array_equal(p.grad, g)


def test_clip_grad_norm_handles_float32_overflow_and_leaves_nonfinite_alone():
    big = P("big", np.zeros(4, dtype=np.float32))
    big.grad[...] = 1e30  # finite in float32, but its square is not
    norm = clip_grad_norm([big], max_norm=1.0)
    assert norm == pytest.approx(2e30, rel=1e-6)
    np.testing.assert_allclose(big.grad, 0.5, rtol=1e-6)
    assert big.grad.dtype == np.float32

    bad = P("bad", np.zeros(3))
    bad.grad[...] = [1.0, np.inf, 2.0]
    assert clip_grad_norm([bad], max_norm=1.0) == np.inf
    np.testing.assert_array_equal(bad.grad, [1.0, np.inf, 2.0])


def test_clip_grad_value_clips_each_entry_in_place():
    p = P("W", np.zeros(5))
    p.grad[...] = [-3.0, -0.5, 0.0, 0.5, 3.0]
    keep = p.grad
    clip_grad_value([p], 1.0)
    assert p.grad is keep
    np.testing.assert_array_equal(p.grad, [-1.0, -0.5, 0.0, 0.5, 1.0])


def test_registry_names_every_optimizer():
    assert OPTIMIZERS == {
        "sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSProp, "adam": Adam, "adamw": AdamW,
    }


def test_make_optimizer_passes_settings_through():
    opt = make_optimizer(
        {"name": "adam", "beta1": 0.8, "beta2": 0.99, "eps": 1e-7}, make_params(), 0.01, 0.001
    )
    assert isinstance(opt, Adam) and not isinstance(opt, AdamW)
    assert (opt.lr, opt.weight_decay, opt.beta1, opt.beta2, opt.eps) == (
        0.01, 0.001, 0.8, 0.99, 1e-7
    )
    sgd = make_optimizer({"name": "sgd", "momentum": 0.9, "nesterov": True}, make_params(), 0.1, 0)
    assert isinstance(sgd, SGD) and sgd.momentum == 0.9 and sgd.nesterov
    assert isinstance(make_optimizer("rmsprop", make_params(), 0.1, 0.0), RMSProp)


@pytest.mark.parametrize(
    "spec,lr,wd,key",
    [
        ({"name": "sgd", "momentum": 1.0}, 0.1, 0.0, "training.optimizer.momentum"),
        ({"name": "sgd", "nesterov": True}, 0.1, 0.0, "training.optimizer.nesterov"),
        ({"name": "sgd", "nesterov": "yes", "momentum": 0.9}, 0.1, 0.0,
         "training.optimizer.nesterov"),
        ({"name": "adam", "beta2": -0.1}, 0.1, 0.0, "training.optimizer.beta2"),
        ({"name": "adam", "eps": 0.0}, 0.1, 0.0, "training.optimizer.eps"),
        ({"name": "rmsprop", "rho": "0.9"}, 0.1, 0.0, "training.optimizer.rho"),
        ({"name": "adagrad"}, 0.0, 0.0, "training.learning_rate"),
        ({"name": "adagrad"}, float("inf"), 0.0, "training.learning_rate"),
        ({"name": "adamw"}, 0.1, -0.01, "training.weight_decay"),
    ],
)
def test_the_config_refuses_bad_settings_before_an_optimizer_is_built(spec, lr, wd, key):
    # The classes trust their settings; the config's rules are what stands before them.
    with pytest.raises(ConfigError) as err:
        check_settings({"training": {"optimizer": spec, "learning_rate": lr,
                                     "weight_decay": wd}})
    assert err.value.key == key

