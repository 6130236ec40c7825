"""`nnlearn explain`: the numbers it prints are the ones a real training step produces."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import CONFIGS, run_cli

from nnlearn.cli import cli
from nnlearn.nn import training
from nnlearn.runs import run as runs
from nnlearn.runs.config import load_config
from nnlearn.teach.explain import explain_step, format_explanation

# "  dense_1.W[1,1] = -0.1533 − 0.5 × 0.04773 = -0.1772"
UPDATE = re.compile(r"^\s+(dense_\d+)\.W\[(\d+),(\d+)\] = (\S+) − ([\d.e-]+) × \(?([-\d.e]+)\)?"
                    r" = (\S+)$")


def _prepared(config: str, *overrides: str):
    return runs.prepare(load_config(CONFIGS / config, overrides))


def _first_real_step(p):
    """Weights after the first train_step of a real epoch (Trainer.train_epoch, unmodified)."""
    seen = []
    original = training.train_step

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        if not seen:
            seen.append(p.trainer.network.get_weights())
        return out

    training.train_step = spy
    try:
        p.trainer.train_epoch(p.train)
    finally:
        training.train_step = original
    return seen[0]


def _parse_updates(text: str) -> list[tuple[str, tuple[int, int], float, float, float, float]]:
    out = []
    for line in text.splitlines():
        match = UPDATE.match(line)
        if match:
            name, i, j, before, lr, grad, after = match.groups()
            out.append((f"{name}.W", (int(i), int(j)), float(before), float(lr), float(grad),
                        float(after)))
    return out


@pytest.mark.parametrize("config", ["xor.yaml", "iris.yaml", "moons.yaml"])
def test_the_explained_step_is_training_first_step(config):
    explained = _prepared(config)
    ex = explain_step(explained, n_weights=4)
    real = _first_real_step(_prepared(config))
    after = explained.trainer.network.get_weights()
    for name, value in real.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)
    for u in ex.updates:
        assert u.after == real[u.name][u.index], u.label


def test_printed_update_equals_a_real_train_step_on_the_same_batch():
    p = _prepared("xor.yaml")
    text = format_explanation(explain_step(p, n_weights=5))
    updates = _parse_updates(text)
    assert len(updates) == 5
    # the same four rows (XOR is full batch), one real train_step from the same start
    real = _prepared("xor.yaml")
    net = real.trainer.network
    before = net.get_weights()
    training.train_step(net, real.trainer.loss, real.trainer.optimizer, real.train.x,
                        real.train.y)
    after = net.get_weights()
    grads = {p.name: p.grad for p in net.parameters()}
    for name, idx, w0, lr, grad, w1 in updates:
        decimals = len(str(w1).split(".")[-1])
        tol = 0.6 * 10.0 ** -decimals + 1e-12
        assert w0 == pytest.approx(before[name][idx], abs=tol)
        assert w1 == pytest.approx(after[name][idx], abs=tol), (name, idx)
        assert lr == real.trainer.optimizer.lr
        assert grad == pytest.approx(grads[name][idx], rel=1e-3)  # printed to 4 digits
        assert w0 - lr * grad == pytest.approx(w1, abs=2 * tol)  # the arithmetic as printed


def test_sample_explains_sgd_on_one_row_exactly():
    p = _prepared("iris.yaml")
    ex = explain_step(p, sample=5)
    assert ex.rows == [5] and len(ex.lines) == 1
    real = _prepared("iris.yaml")
    training.train_step(real.trainer.network, real.trainer.loss, real.trainer.optimizer,
                        real.train.x[[5]], real.train.y[[5]])
    for name, value in real.trainer.network.get_weights().items():
        np.testing.assert_array_equal(p.trainer.network.get_weights()[name], value)
    assert ex.loss_after == real.trainer.loss.value(real.trainer.network.predict(
        real.train.x[[5]]), real.train.y[[5]])


def test_recorded_backward_obeys_the_chain_rule():
    ex = explain_step(_prepared("moons.yaml"), batch=8)
    for blk in ex.blocks:
        np.testing.assert_allclose(blk.x.T @ blk.dL_dz, blk.dL_dW, err_msg=blk.name)
        np.testing.assert_allclose(blk.dL_dz.sum(axis=0), blk.dL_db)
        np.testing.assert_allclose(blk.x @ blk.W + blk.b, blk.z)
        if blk.fprime is not None:
            np.testing.assert_allclose(blk.dL_da * blk.fprime, blk.dL_dz)
    for lower, upper in zip(ex.blocks, ex.blocks[1:]):
        np.testing.assert_allclose(upper.dL_dz @ upper.W.T, upper.dL_dx)
        np.testing.assert_array_equal(upper.dL_dx, lower.dL_da)
    assert ex.blocks[0].dL_dx is None  # training skips dL/d(data)
    assert ex.loss_after < ex.loss_before


def test_the_layers_are_left_unwrapped():
    p = _prepared("xor.yaml")
    explain_step(p)
    for layer in p.trainer.network.layers:
        assert "forward" not in vars(layer) and "backward" not in vars(layer)


def test_xor_fits_on_one_screen_with_every_number():
    result = CliRunner().invoke(cli, ["explain", str(CONFIGS / "xor.yaml")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) <= 55 and max(map(len, lines)) <= 100
    assert not any("mean" in line and "std" in line for line in lines)  # nothing summarised
    for word in ("FORWARD", "z = x·W + b", "a = tanh(z)", "LOSS", "BACKWARD", "dL/da",
                 "f'(z) = 1 − a²", "dL/dz", "dL/dW = xᵀ·dL/dz", "dL/db", "dL/dx", "UPDATE",
                 "before the step", "after"):
        assert word in result.stdout, word
    # backward is printed last layer first
    assert result.stdout.index("dense_2: dL/dz") < result.stdout.index("dense_1: dL/da")


def test_large_arrays_are_summarised():
    text = format_explanation(explain_step(_prepared("digits.yaml")))
    assert "mean" in text and "std" in text
    assert max(map(len, text.splitlines())) <= 100


def test_bad_options_exit_2():
    proc = run_cli("explain", CONFIGS / "xor.yaml", "--sample", "9")
    assert proc.returncode == 2 and "--sample 9" in proc.stderr, proc.stderr
    proc = run_cli("explain", CONFIGS / "xor.yaml", "--sample", "0", "--batch", "2")
    assert proc.returncode == 2 and "not both" in proc.stderr
