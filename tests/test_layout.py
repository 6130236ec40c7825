"""The layout is the architecture: the lesson in ``nnlearn/nn/`` stands alone, and every other
sub-package imports only the ones below it. These tests read the import statements of every
module (including imports inside functions), so an arrow in the wrong direction fails here."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nnlearn"

#: sub-package -> the other nnlearn sub-packages it may import (``errors`` is open to all).
ALLOWED = {
    "nn": set(),
    "data": set(),
    "runs": {"nn", "data"},
    "teach": {"nn", "data", "runs"},
    "sweeps": {"nn", "data", "runs"},
    "plots": {"nn", "data", "runs", "sweeps"},
    "sklearn": {"nn", "data", "runs"},
    "lessons": set(),
}
#: what the lesson may import from outside the standard library
LESSON_THIRD_PARTY = {"numpy"}
FACE = {"__init__.py", "__main__.py", "cli.py", "errors.py"}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> list[str]:
    """Every module name an ``import`` or ``from ... import`` in the file names (absolute)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: use absolute imports ({ast.unparse(node)})"
            base = node.module or ""
            names.append(base)
            if base == "nnlearn":  # from nnlearn import errors -> nnlearn.errors
                names += [f"nnlearn.{alias.name}" for alias in node.names]
    return names


def _subpackage(path: Path) -> str | None:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else None


def test_top_level_holds_only_the_package_face_and_sub_packages():
    files = {p.name for p in PACKAGE.iterdir() if p.is_file() and p.suffix == ".py"}
    assert files <= FACE, f"move {sorted(files - FACE)} into a sub-package"
    subs = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert "nn" in subs
    assert subs <= set(ALLOWED), f"a new sub-package needs its arrows in ALLOWED: {subs}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_one_way(path: Path):
    sub = _subpackage(path)
    for name in _imports(path):
        parts = name.split(".")
        if path.name != "__main__.py":
            assert name != "nnlearn.cli", f"{path}: nothing imports the CLI"
        if path.name != "cli.py":
            assert parts[0] not in ("click", "tqdm"), \
                f"{path}: only cli.py may import {parts[0]} (the library never prints)"
        if sub is None or parts[0] != "nnlearn" or len(parts) < 2:
            continue
        target = parts[1]
        if target in ("errors", "__version__", sub):
            continue
        assert target in ALLOWED[sub], \
            f"{path.relative_to(PACKAGE)} imports nnlearn.{target}: {sub}/ may import only " \
            f"{sorted(ALLOWED[sub]) or 'errors'}"


def test_the_lesson_needs_only_numpy():
    stdlib = set(sys.stdlib_module_names)
    for path in sorted((PACKAGE / "nn").glob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top in stdlib or top in LESSON_THIRD_PARTY or name.startswith(
                ("nnlearn.nn", "nnlearn.errors", "__future__")) or name == "nnlearn", \
                f"{path.name} imports {name}: the lesson needs only numpy"


def test_errors_is_at_the_bottom():
    # every sub-package may import nnlearn.errors, so it imports no part of nnlearn (nor
    # anything outside the standard library) itself
    stdlib = set(sys.stdlib_module_names)
    for name in _imports(PACKAGE / "errors.py"):
        assert name.split(".")[0] in stdlib or name == "__future__", \
            f"errors.py imports {name}: it must stand alone"
