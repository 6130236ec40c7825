"""`nnlearn explain` names the loss as L (not as a probability), shows the raw CSV row beside
its standardised x, and the target by its class name."""

from __future__ import annotations

import re

import numpy as np
from conftest import CONFIGS

from nnlearn.runs import run as runs
from nnlearn.runs.config import load_config
from nnlearn.teach.explain import explain_step, format_explanation


def _text(config: str, **kw) -> tuple[str, object]:
    p = runs.prepare(load_config(CONFIGS / config))
    return format_explanation(explain_step(p, **kw)), p


def _block(text: str, title: str) -> list[str]:
    """The values under a block title in the side-by-side layout (same column)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        col = line.find(title)
        if col >= 0:
            out = []
            for below in lines[i + 1:]:
                cell = re.split(r"\s{3,}", below[col:].strip())[0] if len(below) > col else ""
                if not cell or below[col:col + 2].strip():
                    break
                out.append(cell)
            return out
    raise AssertionError(f"no block {title!r} in:\n{text}")


def test_the_loss_line_names_L_and_no_probability_equals_the_loss():
    for config, prob in (("iris.yaml", "softmax"), ("xor.yaml", "sigmoid")):
        text, _ = _text(config, sample=0)
        lines = text.splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith("LOSS "))
        assert not re.search(rf"p = {prob}\(z\) = [-\d.]", lines[at]), lines[at]
        value = float(lines[at + 1].split("L = ")[1])
        ex = explain_step(runs.prepare(load_config(CONFIGS / config)), sample=0)
        assert lines[at + 1].strip().startswith("L = ")
        assert np.isclose(value, ex.loss_before, rtol=1e-5)


def test_the_raw_row_is_shown_beside_its_standardised_x():
    text, p = _text("iris.yaml", sample=0)
    assert "standardised" in text
    raw = [float(v) for v in _block(text, "raw x, from the CSV")[0].split()]
    line = int(re.search(r"line (\d+) of", text).group(1))
    csv_row = (CONFIGS.parent / "data" / "iris-train.csv").read_text().splitlines()[line - 1]
    assert raw == [float(v) for v in csv_row.split(",")[:4]]
    x = [float(v) for v in _block(text, "x = (raw − mean) / std (1×4)")[0].split()]
    expected = p.model.scaler.transform(np.array([raw]))[0]
    assert np.allclose(x, expected, atol=6e-4)


def test_the_target_is_shown_by_its_class_name():
    text, p = _text("iris.yaml", sample=0)
    target = _block(text, "target t")
    line = int(re.search(r"line (\d+) of", text).group(1))
    csv_row = (CONFIGS.parent / "data" / "iris-train.csv").read_text().splitlines()[line - 1]
    species = csv_row.split(",")[-1]
    assert target == [f"{p.model.classes.index(species)} {species}"]


def test_a_standardised_regression_target_is_shown_in_its_own_units_too():
    text, p = _text("diabetes.yaml", sample=0)
    raw = float(_block(text, "target, from the CSV")[0])
    line = int(re.search(r"line (\d+) of", text).group(1))
    header, *rows = (CONFIGS.parent / "data" / "diabetes-train.csv").read_text().splitlines()
    column = header.split(",").index(p.cfg["data"]["target"])
    assert raw == float(rows[line - 2].split(",")[column])
    assert _block(text, "t = (target − mean) / std")
