"""Choices made for speed, pinned by what a user can see, without timing anything.

Each test names a choice (benchmarks/README.md has the figures) and checks that it changes nothing
a user can see (the same numbers, the same dtypes, the caller's arrays untouched) and that the
slow things (numpy at startup, whole-array copies, dL/dx of the data) really are avoided.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from nnlearn.nn.layers import Dense
from nnlearn.nn.losses import LOSSES, MSE, SoftmaxCrossEntropy, softmax
from nnlearn.nn.network import build_mlp
from nnlearn.nn.optimizers import SGD, make_optimizer
from nnlearn.nn.training import Split, Trainer, train_step
from nnlearn.runs.trainstate import optimizer_state

ROOT = Path(__file__).resolve().parent.parent

# ------------------------------------------------------------------------------------------
# startup: --help must not pay for numpy


SNIFF = """
import runpy, sys
sys.argv = ["nnlearn", *sys.argv[1:]]
try:
    runpy.run_module("nnlearn", run_name="__main__")
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print(",".join(sorted({m.split(".")[0] for m in sys.modules})))
"""


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["eval", "--help"],
                                  ["config", "show", "--help"], ["--version"]])
def test_help_and_version_do_not_import_numpy_yaml_or_tqdm(args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", SNIFF, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    *printed, modules = proc.stdout.strip().splitlines()
    loaded = set(modules.split(","))
    assert "nnlearn" in loaded and "click" in loaded  # the sniffer did see the CLI run
    assert printed, "the command printed nothing"
    assert not loaded & {"numpy", "yaml", "tqdm"}, sorted(loaded & {"numpy", "yaml", "tqdm"})


# ------------------------------------------------------------------------------------------
# float32 end to end: nothing upcasts, so BLAS runs single precision all the way


@pytest.mark.parametrize("optimizer", ["sgd", {"name": "sgd", "momentum": 0.9, "nesterov": True},
                                       "adam", "adamw", "rmsprop", "adagrad"])
def test_float32_training_keeps_every_buffer_float32(optimizer):
    rng = np.random.default_rng(0)
    net = build_mlp(6, [{"units": 8, "activation": "relu"}, {"units": 5, "activation": "tanh",
                                                             "dropout": 0.2}],
                    3, rng=rng, dtype=np.float32)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=40)
    w = rng.uniform(0.5, 2.0, size=40).astype(np.float32)
    opt = make_optimizer(optimizer, net.parameters(), 0.01, weight_decay=1e-3)
    seen = []
    forward = Dense.forward

    def spy(self, xb):
        seen.append(xb.dtype)
        return forward(self, xb)

    Dense.forward = spy
    try:
        trainer = Trainer(net, SoftmaxCrossEntropy(), opt, rng=rng, batch_size=7,
                          clip_norm=1.0)
        history = trainer.fit(Split(x, y, w), Split(x[:10], y[:10]), 3)
    finally:
        Dense.forward = forward
    assert set(seen) == {np.dtype(np.float32)}
    for p in net.parameters():
        assert (p.value.dtype, p.grad.dtype) == (np.float32, np.float32), p.name
    for key, value in optimizer_state(opt).items():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32, key
    assert all(isinstance(h["train_loss"], float) for h in history)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_float32_losses_return_float32_gradients_even_with_float64_weights(name):
    rng = np.random.default_rng(1)
    loss = LOSSES[name]()
    k = 1 if name == "bce" else 3
    pred = rng.normal(size=(5, k)).astype(np.float32)
    target = {"cross_entropy": rng.integers(0, 3, 5), "bce": rng.integers(0, 2, 5)}.get(
        name, rng.normal(size=(5, k)))
    value, grad = loss.value_and_gradient(pred, target, rng.uniform(size=5))
    assert grad.dtype == np.float32 and isinstance(value, float)


# ------------------------------------------------------------------------------------------
# one softmax per step, fused with the loss


def test_fused_cross_entropy_matches_the_textbook_formulas():
    # l_i = -log softmax(z_i)[t_i], mean over the batch; gradient (softmax - onehot) / n
    rng = np.random.default_rng(3)
    z, t = rng.normal(size=(7, 5)) * 4, rng.integers(0, 5, 7)
    p = softmax(z)
    value, grad = SoftmaxCrossEntropy().value_and_gradient(z, t)
    assert value == pytest.approx(-np.log(p[np.arange(7), t]).mean(), rel=1e-12)
    np.testing.assert_allclose(grad, (p - np.eye(5)[t]) / 7, rtol=1e-12, atol=1e-15)


def test_fused_cross_entropy_of_an_empty_batch_is_nan_not_an_error():
    value, grad = SoftmaxCrossEntropy().value_and_gradient(np.zeros((0, 3)), np.zeros(0, int))
    assert np.isnan(value) and grad.shape == (0, 3)


def test_fused_cross_entropy_does_not_modify_its_input():
    z = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    before = z.copy()
    SoftmaxCrossEntropy().value_and_gradient(z, np.array([0, 2]))
    np.testing.assert_array_equal(z, before)


def test_train_step_asks_the_loss_once_and_backprop_skips_the_data_gradient():
    calls = []

    class Spy(SoftmaxCrossEntropy):
        def value(self, *a, **k):
            calls.append("value")
            return super().value(*a, **k)

        def gradient(self, *a, **k):
            calls.append("gradient")
            return super().gradient(*a, **k)

        def value_and_gradient(self, *a, **k):
            calls.append("value_and_gradient")
            return SoftmaxCrossEntropy.value_and_gradient(self, *a, **k)

    rng = np.random.default_rng(0)
    net = build_mlp(3, [{"units": 4}], 2, rng=rng)
    first = net.layers[0]
    flags = []
    backward = first.backward
    first.backward = lambda g, need_input_grad=True: (flags.append(need_input_grad),
                                                      backward(g, need_input_grad))[1]
    train_step(net, Spy(), SGD(net.parameters(), lr=0.1), rng.normal(size=(5, 3)),
               rng.integers(0, 2, 5))
    assert calls == ["value_and_gradient"]
    assert flags == [False]
    # explain/gradcheck still get dL/dx of the data
    out = net.forward(np.ones((2, 3)))
    assert net.backward(SoftmaxCrossEntropy().gradient(out, np.array([0, 1]))).shape == (2, 3)


# ------------------------------------------------------------------------------------------
# batch size 1 goes through the same Dense.backward, with the same numbers


def test_one_row_batch_gradient_is_the_outer_product():
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        layer = Dense(5, 3, rng=rng, dtype=dtype)
        x = rng.normal(size=(1, 5)).astype(dtype)
        g = rng.normal(size=(1, 3)).astype(dtype)
        layer.forward(x)
        dx = layer.backward(g)
        np.testing.assert_allclose(layer.W.grad, np.outer(x[0], g[0]), rtol=1e-6)
        np.testing.assert_allclose(layer.b.grad, g[0], rtol=1e-6)
        np.testing.assert_allclose(dx, g @ layer.W.value.T, rtol=1e-6)
        assert layer.W.grad.dtype == dtype and dx.dtype == dtype


def test_batch_size_one_equals_a_hand_written_sgd_loop():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(6, 3)), rng.integers(0, 2, 6)
    net = build_mlp(3, [{"units": 4, "activation": "tanh"}], 2, rng=np.random.default_rng(1))
    twin = build_mlp(3, [{"units": 4, "activation": "tanh"}], 2, rng=np.random.default_rng(1))
    trainer = Trainer(net, SoftmaxCrossEntropy(), SGD(net.parameters(), lr=0.3),
                      rng=np.random.default_rng(2), batch_size=1)
    trainer.fit(Split(x, y), None, 2)
    order_rng = np.random.default_rng(2)
    loss = SoftmaxCrossEntropy()
    for _ in range(2):
        for i in order_rng.permutation(6):
            twin.zero_grad()
            twin.backward(loss.gradient(twin.forward(x[i:i + 1]), y[i:i + 1]))
            for p in twin.parameters():
                p.value -= 0.3 * p.grad
    for (name, a), b in zip(net.get_weights().items(), twin.get_weights().values()):
        np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=name)


# ------------------------------------------------------------------------------------------
# one shuffle index per epoch, rows gathered per batch


def test_epoch_gathers_batches_from_one_permutation_and_leaves_the_data_alone():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(23, 2))
    y = np.arange(23)  # regression target = row number, so each batch names its rows
    w = rng.uniform(size=23)
    x0, y0, w0 = x.copy(), y.copy(), w.copy()
    seen = []

    class Record(MSE):
        def value_and_gradient(self, pred, target, weights=None):
            seen.append((target.copy(), weights.copy()))
            return super().value_and_gradient(pred, target, weights)

    net = build_mlp(2, [], 1, rng=rng)
    trainer = Trainer(net, Record(), SGD(net.parameters(), lr=0.0001), rng=np.random.default_rng(9),
                      batch_size=5)
    trainer.train_epoch(Split(x, y.reshape(-1, 1).astype(float), w))
    order = np.random.default_rng(9).permutation(23)  # the trainer's one draw this epoch
    assert [len(t) for t, _ in seen] == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(np.concatenate([t[:, 0] for t, _ in seen]), order)
    np.testing.assert_array_equal(np.concatenate([v for _, v in seen]), w[order])
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(w, w0)


def test_no_shuffle_takes_batches_in_order():
    seen = []

    class Record(MSE):
        def value_and_gradient(self, pred, target, weights=None):
            seen.append(target[:, 0].copy())
            return super().value_and_gradient(pred, target, weights)

    rng = np.random.default_rng(0)
    net = build_mlp(1, [], 1, rng=rng)
    trainer = Trainer(net, Record(), SGD(net.parameters(), lr=0.0001), rng=rng, batch_size=4,
                      shuffle=False)
    trainer.train_epoch(Split(np.zeros((10, 1)), np.arange(10.0).reshape(-1, 1)))
    np.testing.assert_array_equal(np.concatenate(seen), np.arange(10.0))


def _peak_bytes_of_an_epoch(trainer: Trainer, split: Split) -> int:
    """Peak memory numpy allocated during one epoch, after a warm-up epoch."""
    trainer.train_epoch(split)
    tracemalloc.start()
    try:
        trainer.train_epoch(split)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_epoch_never_copies_the_whole_training_set():
    # 40,000 x 50 float64 = 16 MB. Permuting whole arrays would allocate that much again; batches
    # of 64 rows need about 26 kB each.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40_000, 50))
    y = rng.integers(0, 3, 40_000)
    net = build_mlp(50, [{"units": 16}], 3, rng=rng)
    trainer = Trainer(net, SoftmaxCrossEntropy(), SGD(net.parameters(), lr=0.01), rng=rng,
                      batch_size=64)
    peak = _peak_bytes_of_an_epoch(trainer, Split(x, y))
    assert peak < x.nbytes / 8, f"peak {peak / 1e6:.1f} MB during an epoch"
