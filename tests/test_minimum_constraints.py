""".ci/minimum_constraints.py: the pins of CI's minimum-versions run come from pyproject.toml."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from conftest import ROOT

SCRIPT = ROOT / ".ci" / "minimum_constraints.py"
_spec = importlib.util.spec_from_file_location("minimum_constraints", SCRIPT)
mc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mc)

PYPROJECT = """
[build-system]
requires = ["setuptools>=77"]

[project]
name = "demo"
dependencies = ["numpy>=1.24", "click>=8.1.2,<9", "old; python_version < '3'"]

[project.optional-dependencies]
plot = ["matplotlib>=3.6"]
dask = ["dask[distributed]>=2023.1"]
test = ["demo[plot,dask]", "pytest==7.0"]
bench = ["torch==2.13.0"]
"""


def write(tmp_path, text=PYPROJECT):
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    return path


def test_every_floor_is_pinned_through_the_projects_own_extras(tmp_path):
    pins = mc.minimum_pins(["test"], ["bench"], pyproject=write(tmp_path))
    assert pins == {"setuptools": "77", "numpy": "1.24", "click": "8.1.2", "matplotlib": "3.6",
                    "dask": "2023.1", "pytest": "7.0"}  # no extras in constraints, no "old"


def test_an_extra_left_out_of_the_run_is_refused_unless_named_untested(tmp_path):
    with pytest.raises(mc.Refused, match="bench"):
        mc.minimum_pins(["test"], pyproject=write(tmp_path))
    with pytest.raises(mc.Refused, match="dask"):
        mc.minimum_pins(["plot"], ["bench"], pyproject=write(tmp_path))


def test_an_extra_whose_requirements_are_pinned_anyway_counts_as_tested(tmp_path):
    text = PYPROJECT.replace('"pytest==7.0"]', '"pytest==7.0", "pyarrow>=14"]\nfast = ["pyarrow>=14"]')
    assert mc.minimum_pins(["test"], ["bench"], pyproject=write(tmp_path, text))["pyarrow"] == "14"
    other = text.replace('fast = ["pyarrow>=14"]', 'fast = ["pyarrow>=15"]')
    with pytest.raises(mc.Refused, match="fast"):
        mc.minimum_pins(["test"], ["bench"], pyproject=write(tmp_path, other))


@pytest.mark.parametrize("bad, message", [
    ('"numpy"', "one minimum"),
    ('"numpy<2"', "one minimum"),
    ('"numpy>=1.24", "numpy>=1.26"', "two minimums"),
])
def test_a_requirement_without_one_floor_is_refused(tmp_path, bad, message):
    text = PYPROJECT.replace('"numpy>=1.24"', bad)
    with pytest.raises(mc.Refused, match=message):
        mc.minimum_pins(["test"], ["bench"], pyproject=write(tmp_path, text))


def test_the_projects_own_pyproject_pins_every_runtime_dependency():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--extras", "test,lint",
                           "--untested", "bench"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    pinned = {line.split("==")[0] for line in proc.stdout.splitlines()}
    assert {"numpy", "click", "pyyaml", "tqdm", "setuptools", "matplotlib", "dask"} <= pinned
    bad = subprocess.run([sys.executable, str(SCRIPT), "--extras", "plot"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("Error: ")
