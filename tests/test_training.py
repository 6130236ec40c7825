"""The training loop: train_step's four moves, fit, reproducibility, float32, early stopping."""

import numpy as np
import pytest

from nnlearn.errors import DivergedError
from nnlearn.nn.losses import MSE, SigmoidBCE, SoftmaxCrossEntropy
from nnlearn.nn.network import build_mlp
from nnlearn.nn.optimizers import SGD
from nnlearn.nn.training import EarlyStopping, Split, Trainer, train_step

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0, 1, 1, 0])


def _train_xor(seed, epochs=500):
    rng = np.random.default_rng(seed)
    net = build_mlp(2, [{"units": 4, "activation": "tanh"}], 1, rng=rng)
    opt = SGD(net.parameters(), lr=0.5)
    trainer = Trainer(net, SigmoidBCE(), opt, rng=rng, batch_size=None)
    trainer.fit(Split(XOR_X, XOR_Y), None, epochs)
    return net, trainer


def test_xor_is_learned_to_100_percent():
    net, trainer = _train_xor(seed=1)
    pred = (net.predict(XOR_X)[:, 0] > 0).astype(int)
    np.testing.assert_array_equal(pred, XOR_Y)
    assert trainer.history[-1]["train_loss"] < trainer.history[0]["train_loss"] / 5


def test_same_seed_gives_bit_identical_weights():
    a, _ = _train_xor(seed=7, epochs=50)
    b, _ = _train_xor(seed=7, epochs=50)
    c, _ = _train_xor(seed=8, epochs=50)
    for (name, wa), wb in zip(a.get_weights().items(), b.get_weights().values()):
        assert np.array_equal(wa, wb), name
    assert not np.array_equal(a.get_weights()["dense_1.W"], c.get_weights()["dense_1.W"])


def test_train_step_is_forward_loss_backward_then_sgd_update():
    rng = np.random.default_rng(0)
    net = build_mlp(3, [{"units": 4, "activation": "relu"}], 2, rng=rng)
    x, y = rng.normal(size=(5, 3)), rng.integers(0, 2, size=5)
    loss = SoftmaxCrossEntropy()
    before = net.get_weights()
    # the gradients the step must use, computed independently
    net.zero_grad()
    net.backward(loss.gradient(net.forward(x), y))
    grads = {p.name: p.grad.copy() for p in net.parameters()}
    value = loss.value(net.forward(x), y)
    opt = SGD(net.parameters(), lr=0.1)
    returned = train_step(net, loss, opt, x, y)
    assert returned == value
    for p in net.parameters():
        np.testing.assert_allclose(p.value, before[p.name] - 0.1 * grads[p.name], rtol=1e-13,
                                   err_msg=p.name)


def test_float32_stays_float32_end_to_end():
    rng = np.random.default_rng(0)
    net = build_mlp(3, [{"units": 5, "activation": "gelu", "dropout": 0.1},
                        {"units": 4, "activation": "elu"}], 3, rng=rng, dtype=np.float32)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=8)
    opt = SGD(net.parameters(), lr=0.1, momentum=0.9)
    out = net.forward(x)
    assert out.dtype == np.float32
    grad = SoftmaxCrossEntropy().gradient(out, y)
    assert grad.dtype == np.float32
    assert net.backward(grad).dtype == np.float32
    train_step(net, SoftmaxCrossEntropy(), opt, x, y)
    for p in net.parameters():
        assert p.value.dtype == np.float32 and p.grad.dtype == np.float32, p.name
    for loss, target in [(MSE(), rng.normal(size=(8, 3))), (SigmoidBCE(), y % 2)]:
        pred = out[:, :1] if isinstance(loss, SigmoidBCE) else out
        assert loss.gradient(pred, target).dtype == np.float32


def test_divergence_raises_with_a_learning_rate_hint():
    rng = np.random.default_rng(0)
    net = build_mlp(1, [{"units": 8, "activation": "relu"}], 1, rng=rng)
    x = rng.normal(size=(64, 1)) * 100
    y = x * 1000
    trainer = Trainer(net, MSE(), SGD(net.parameters(), lr=10.0), rng=rng, batch_size=8)
    with pytest.raises(DivergedError) as exc:
        trainer.fit(Split(x, y), None, 50)
    assert "learning_rate" in exc.value.hint


def test_epoch_loss_is_the_sample_weighted_mean_of_batch_losses():
    rng = np.random.default_rng(0)
    net = build_mlp(2, [], 1, rng=rng)
    x, y = rng.normal(size=(10, 2)), rng.normal(size=(10, 1))
    opt = SGD(net.parameters(), lr=0.1)
    opt.step = lambda: None  # no update: every batch sees the same weights
    trainer = Trainer(net, MSE(), opt, rng=rng, batch_size=4)
    loss = trainer.train_epoch(Split(x, y))
    assert loss == pytest.approx(MSE().value(net.predict(x), y), rel=1e-12)


def test_early_stopping_restores_the_best_weights():
    rng = np.random.default_rng(0)
    net = build_mlp(2, [{"units": 32, "activation": "relu"}], 1, rng=rng)
    x, y = rng.normal(size=(20, 2)), rng.normal(size=(20, 1))  # noise: val loss soon rises
    xv, yv = rng.normal(size=(20, 2)), rng.normal(size=(20, 1))
    es = EarlyStopping("val_loss", patience=3)
    trainer = Trainer(net, MSE(), SGD(net.parameters(), lr=0.1), rng=rng, batch_size=4,
                      callbacks=[es])
    history = trainer.fit(Split(x, y), Split(xv, yv), 200)
    assert trainer.epoch < 200 and "early stopping" in trainer.stop_reason
    best = min(history, key=lambda h: h["val_loss"])
    assert es.best_epoch == best["epoch"]
    assert MSE().value(net.predict(xv), yv) == pytest.approx(best["val_loss"], rel=1e-12)


def test_no_python_loop_over_samples_in_forward_backward():
    # Time-free check: a forward/backward on 10,000 samples must not call a layer per sample.
    calls = {"n": 0}
    rng = np.random.default_rng(0)
    net = build_mlp(4, [{"units": 8, "activation": "relu"}], 3, rng=rng)
    for layer in net.layers:
        original = layer.forward

        def counting(x, _f=original):
            calls["n"] += 1
            return _f(x)
        layer.forward = counting
    out = net.forward(rng.normal(size=(10_000, 4)))
    net.backward(SoftmaxCrossEntropy().gradient(out, rng.integers(0, 3, size=10_000)))
    assert calls["n"] == len(net.layers)


def test_layer_and_loss_math_has_no_python_loops():
    import ast
    import inspect

    from nnlearn.nn import activations, layers, losses

    for module in (activations, layers, losses):
        tree = ast.parse(inspect.getsource(module))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in (
                    "forward", "backward", "value", "gradient", "value_and_gradient", "output"):
                loops = [n for n in ast.walk(node) if isinstance(
                    n, (ast.For, ast.While, ast.ListComp, ast.GeneratorExp))]
                assert not loops, f"{module.__name__}.{node.name} loops in Python"


def _accuracy(pred, y):
    return {"accuracy": float(np.mean((pred[:, 0] > 0).astype(int) == y))}


def test_train_metric_is_scored_on_the_predictions_each_batch_was_trained_on():
    # Full batch, one epoch: the one batch's predictions are the untrained network's, so the
    # epoch's train_accuracy is the accuracy of the starting weights on the training rows.
    rng = np.random.default_rng(3)
    net = build_mlp(2, [{"units": 4, "activation": "tanh"}], 1, rng=rng)
    before = _accuracy(net.predict(XOR_X), XOR_Y)["accuracy"]
    trainer = Trainer(net, SigmoidBCE(), SGD(net.parameters(), lr=0.5), rng=rng,
                      batch_size=None, metric_fn=_accuracy)
    history = trainer.fit(Split(XOR_X, XOR_Y), None, 1)
    assert history[0]["train_accuracy"] == before
    after = _accuracy(net.predict(XOR_X), XOR_Y)["accuracy"]
    trainer.stop_reason = None  # continue for one more epoch
    trainer.fit(Split(XOR_X, XOR_Y), None, 2)
    assert trainer.history[1]["train_accuracy"] == after


def test_train_metric_follows_the_shuffled_rows_of_each_batch():
    # Batches of one row in a shuffled order: every prediction must be scored against its own
    # row's target, so a network that has learned XOR scores 1.0 whatever the order.
    _, trainer = _train_xor(seed=1)
    trainer.metric_fn = _accuracy
    trainer.optimizer.lr = 1e-12  # learned already; keep it still while it is scored
    trainer.batch_size = 1
    trainer.stop_reason = None  # continue for three more epochs
    trainer.fit(Split(XOR_X, XOR_Y), None, trainer.epoch + 3)
    assert [h["train_accuracy"] for h in trainer.history[-3:]] == [1.0, 1.0, 1.0]


def test_history_csv_keeps_a_train_metric_per_epoch(tmp_path):
    from conftest import CONFIGS

    from nnlearn.runs import run as runs
    from nnlearn.runs.config import load_config

    for name, column in (("iris", "train_accuracy"), ("diabetes", "train_r2")):
        cfg = load_config(CONFIGS / f"{name}.yaml", [f"output.dir={tmp_path / name}",
                                                      "training.epochs=3"])
        result = runs.train(cfg)
        header = (result.run_dir / "history.csv").read_text().splitlines()[0].split(",")
        assert column in header, header


def test_early_stopping_and_plateau_share_one_rule_for_an_improvement():
    # NaN never counts (a NaN first epoch must not become a best nothing can beat), and the
    # first number always does: the same rule in EarlyStopping and the plateau schedule.
    from nnlearn.nn.schedules import Plateau

    class Stub:
        stop_reason = None

    stopping = EarlyStopping("val_loss", patience=5, restore_best_weights=False)
    plateau = Plateau(0.1, monitor="val_loss", patience=5, min_delta=0.0)
    for epoch, value in enumerate([float("nan"), 1.0, 0.5, 0.7], start=1):
        stopping.on_epoch_end(Stub(), {"epoch": epoch, "val_loss": value})
        plateau.step(epoch - 1, {"val_loss": value})
    assert (stopping.best, stopping.best_epoch, stopping.wait) == (0.5, 3, 1)
    assert (plateau.best, plateau.num_bad_epochs) == (0.5, 1)
