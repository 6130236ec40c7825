"""scikit-learn is an optional extra: ``import nnlearn`` and the CLI never import it; only
``nnlearn.sklearn`` does."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

# Runs the given statements, then prints the sklearn modules that were imported.
PROBE = """
import runpy, sys
{body}
print(sorted(m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")))
"""


def sklearn_modules_after(body: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", PROBE.format(body=body)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_import_nnlearn_does_not_import_sklearn():
    assert sklearn_modules_after("import nnlearn") == "[]"


def test_cli_help_does_not_import_sklearn():
    body = ("sys.argv = ['nnlearn', '--help']\n"
            "try:\n    runpy.run_module('nnlearn', run_name='__main__')\n"
            "except SystemExit as exc:\n    assert exc.code == 0, exc.code")
    assert sklearn_modules_after(body) == "[]"


def test_the_probe_sees_sklearn_when_it_is_imported():
    # The control: the probe does report scikit-learn once nnlearn.sklearn is imported.
    pytest.importorskip("sklearn")
    assert "'sklearn'" in sklearn_modules_after("import nnlearn.sklearn")
