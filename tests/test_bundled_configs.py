"""Every bundled config trains to its documented floor on its held-out test file."""

from __future__ import annotations

import pytest
from conftest import CONFIGS

from nnlearn.runs import run as runs
from nnlearn.runs.config import load_config

# config -> (test metric, floor). The diabetes floor is the R² documented in README.md.
FLOORS = {
    "iris.yaml": ("accuracy", 0.93),
    "digits.yaml": ("accuracy", 0.96),
    "xor.yaml": ("accuracy", 1.0),
    "moons.yaml": ("accuracy", 0.95),
    "spirals.yaml": ("accuracy", 0.95),
    "diabetes.yaml": ("r2", 0.50),
}


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_bundled_config_reaches_its_floor(name, tmp_path):
    metric, floor = FLOORS[name]
    cfg = load_config(CONFIGS / name)
    result = runs.train(cfg, config_path=CONFIGS / name, out=tmp_path / "run")
    assert result.metrics["test"][metric] >= floor, result.metrics["test"]


def test_every_bundled_config_is_covered():
    assert {p.name for p in CONFIGS.glob("*.yaml")} == set(FLOORS)
