"""`nnlearn summary`: parameter counts and FLOPs against totals worked out by hand."""

from __future__ import annotations

import json

import numpy as np
from conftest import CONFIGS, run_cli

from nnlearn.nn.network import build_mlp
from nnlearn.runs import run as runs
from nnlearn.runs.config import load_config
from nnlearn.teach.summary import format_summary, summarize


def _summary(config: str, *overrides: str):
    p = runs.prepare(load_config(CONFIGS / config, overrides))
    return summarize(p.model.network, p.model.loss_name), p.model.network


def test_iris_counts_and_flops_by_hand():
    # 4 features -> 16 tanh -> 3 classes (softmax in the loss)
    s, net = _summary("iris.yaml")
    # dense_1: W 4x16 = 64, b 16  -> 80;  dense_2: W 16x3 = 48, b 3 -> 51
    assert [(r.weights, r.biases, r.params) for r in s.rows] == [(64, 16, 80), (48, 3, 51)]
    assert s.totals["params"] == 131 == net.n_params()
    assert [r.activation for r in s.rows] == ["tanh", "softmax (in the loss)"]
    # forward: 2*4*16 + 16 (tanh) = 144;  2*16*3 = 96
    assert [r.flops_forward for r in s.rows] == [144, 96]
    # backward: first layer 2*4*16 (dW) + 16 (db) + 16 (tanh), no dL/dx = 160;
    #           second 2*16*3 (dW) + 3 (db) + 2*16*3 (dL/dx) = 195
    assert [r.flops_backward for r in s.rows] == [160, 195]
    assert s.totals["flops_train"] == 240 + 355


def test_two_hidden_layers_with_dropout_by_hand():
    # 3 -> 5 relu (dropout 0.5) -> 4 sigmoid -> 2 outputs, no data needed
    net = build_mlp(3, [{"units": 5, "activation": "relu", "dropout": 0.5},
                        {"units": 4, "activation": "sigmoid"}], 2,
                    rng=np.random.default_rng(0))
    s = summarize(net, "mse")
    # params: 3*5+5 = 20, 5*4+4 = 24, 4*2+2 = 10
    assert [r.params for r in s.rows] == [20, 24, 10]
    assert s.totals == {"weights": 15 + 20 + 8, "biases": 5 + 4 + 2, "params": 54,
                        # fwd: 30 + 5 relu + 5 dropout;  40 + 4 sigmoid;  16
                        "flops_forward": 40 + 44 + 16,
                        # bwd: 30+5 +5+5;  40+4+40 +4;  16+2+16
                        "flops_backward": 45 + 88 + 34,
                        "flops_train": 100 + 167}
    assert s.rows[0].dropout == 0.5
    assert s.rows[-1].activation == "identity"  # regression: the raw output is the prediction


def test_config_override_changes_the_counts():
    s, _ = _summary("digits.yaml", "model.hidden=[32, 8]")
    # 64*32+32 = 2080, 32*8+8 = 264, 8*10+10 = 90
    assert [r.params for r in s.rows] == [2080, 264, 90]
    assert s.totals["params"] == 2434


def test_text_table_has_every_layer_and_the_convention():
    s, _ = _summary("moons.yaml")
    text = format_summary(s)
    for word in ("dense_1", "dense_2", "dense_3", "relu", "sigmoid (in the loss)", "total",
                 str(s.totals["params"]), "multiply and an add"):
        assert word in text, word


def test_cli_json(tmp_path):
    proc = run_cli("summary", CONFIGS / "iris.yaml", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["totals"]["params"] == 131
    assert [r["name"] for r in data["rows"]] == ["dense_1", "dense_2"]
    assert "convention" in data
    text = run_cli("summary", CONFIGS / "iris.yaml", "--set", "model.hidden=[7]")
    assert text.returncode == 0, text.stderr
    row = next(line.split() for line in text.stdout.splitlines() if line.startswith("dense_1"))
    assert row[3:8] == ["4", "7", "28", "7", "35"]  # in, out, weights 4*7, biases, params
