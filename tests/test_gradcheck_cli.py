"""`nnlearn gradcheck`: passes on every bundled config; a broken backward fails with exit 4 and
the failing tensor's name (checked in-process, where a monkeypatch is visible)."""

from __future__ import annotations

import json

import pytest
from conftest import CONFIGS, cli_runner, run_cli

from nnlearn.cli import cli
from nnlearn.errors import GradCheckFailed
from nnlearn.nn.activations import Tanh
from nnlearn.nn.layers import Dense
from nnlearn.runs.config import load_config
from nnlearn.teach.gradcheck import DEFAULT_MAX_ENTRIES, check_config, raise_if_failed

BUNDLED = sorted(p.name for p in CONFIGS.glob("*.yaml"))


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_config_passes(name):
    report = check_config(load_config(CONFIGS / name))
    assert report.passed, [(c.name, c.max_rel_error) for c in report.checks]
    names = [c.name for c in report.checks]
    assert names[-1] == "input" and "dense_1.W" in names and "dense_1.b" in names
    for c in report.checks:  # large tensors: a seeded subset of exactly DEFAULT_MAX_ENTRIES
        size = 1
        for d in c.shape:
            size *= d
        assert c.checked == min(size, DEFAULT_MAX_ENTRIES)


def test_the_subset_and_rows_are_seeded():
    cfg = load_config(CONFIGS / "digits.yaml")
    a, b = check_config(cfg, samples=5), check_config(cfg, samples=5)
    assert a.rows == b.rows and len(a.rows) == 5
    assert [c.max_abs_error for c in a.checks] == [c.max_abs_error for c in b.checks]


def test_cli_passes_with_exit_0_and_a_row_per_tensor():
    proc = run_cli("gradcheck", CONFIGS / "xor.yaml")
    assert proc.returncode == 0, proc.stderr
    for name in ("dense_1.W", "dense_1.b", "dense_2.W", "dense_2.b", "input"):
        line = next(s for s in proc.stdout.splitlines() if s.startswith(name + " "))
        assert line.rstrip().endswith("pass"), line
    data = json.loads(run_cli("gradcheck", CONFIGS / "xor.yaml", "--json", "--samples",
                              "2").stdout)
    assert data["passed"] and data["samples"] == 2 and len(data["tensors"]) == 5


def _invoke(*args):
    return cli_runner().invoke(cli, list(args), catch_exceptions=False)


def test_wrong_activation_derivative_fails_with_exit_4_naming_the_tensors(monkeypatch):
    # tanh' = 1 - y^2; this "forgets" the square. Everything below the tanh is then wrong.
    monkeypatch.setattr(Tanh, "backward", lambda self, g: g * (1 - self._y))
    result = _invoke("gradcheck", str(CONFIGS / "xor.yaml"))
    assert result.exit_code == 4, result.stderr
    assert "Error: gradient check failed for dense_1.W, dense_1.b, input" in result.stderr
    assert "FAIL" in result.stdout
    rows = {s.split()[0]: s.split()[-1] for s in result.stdout.splitlines()
            if s.startswith(("dense_", "input"))}
    assert rows == {"dense_1.W": "FAIL", "dense_1.b": "FAIL", "dense_2.W": "pass",
                    "dense_2.b": "pass", "input": "FAIL"}


def test_a_large_eps_is_blamed_instead_of_correct_backprop():
    # backprop is right; with eps 0.5 the central differences are what is off (by ~eps²)
    result = _invoke("gradcheck", str(CONFIGS / "iris.yaml"), "--eps", "0.5")
    assert result.exit_code == 4, result.stderr
    hint = result.stderr.strip().splitlines()[-1]
    assert hint.startswith("eps 0.5 is large") and "check the backward" not in hint, hint
    default = _invoke("gradcheck", str(CONFIGS / "iris.yaml"), "--eps", "1e-6")
    assert default.exit_code == 0, default.stderr


def test_wrong_weight_gradient_in_one_layer_names_only_that_tensor(monkeypatch):
    original = Dense.backward

    def broken(self, grad_out, need_input_grad=True):
        out = original(self, grad_out, need_input_grad)
        if self.name == "dense_2":
            self.W.grad *= 1.5  # dL/dW off by half; dL/dx and dL/db still right
        return out

    monkeypatch.setattr(Dense, "backward", broken)
    report = check_config(load_config(CONFIGS / "iris.yaml"))
    assert [c.name for c in report.failed] == ["dense_2.W"]
    with pytest.raises(GradCheckFailed, match="dense_2.W") as info:
        raise_if_failed(report)
    assert info.value.exit_code == 4
    result = _invoke("gradcheck", str(CONFIGS / "iris.yaml"), "--json")
    assert result.exit_code == 4
    assert json.loads(result.stdout)["passed"] is False
    assert "dense_2.W" in result.stderr and "dense_1.W" not in result.stderr


def test_bad_options_are_usage_errors():
    proc = run_cli("gradcheck", CONFIGS / "xor.yaml", "--eps", "0")
    assert proc.returncode == 2 and "Error:" in proc.stderr
