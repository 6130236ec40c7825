"""Installed from a wheel, nnlearn brings its lessons: ``python -m build`` makes the sdist and, from
it, the wheel; the wheel goes into a new virtualenv outside the repository; there ``nnlearn
examples lessons && cd lessons && nnlearn train configs/iris.yaml`` (the README's second way in)
works and reaches the accuracy the same config reaches in the repository, and eval and explain
run from the copied folder.

Slow for a unit test (about a minute: two isolated builds, a virtualenv, an install), so it has a
marker: ``python -m pytest -m "not packaging"`` leaves it out; CI runs it. The dependencies are
installed from the package registry (or pip's cache), pinned to the versions this test runs on,
so that both trainings run on the same numpy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import CONFIGS, ROOT, run_cli

import nnlearn
from nnlearn.lessons import FOLDERS as LESSON_FOLDERS

pytestmark = pytest.mark.packaging

BIN = "Scripts" if os.name == "nt" else "bin"
SECOND_WAY_IN = "nnlearn examples lessons && cd lessons && nnlearn train configs/iris.yaml"


def _run(args, cwd: Path, env: dict | None = None, timeout: float = 600) -> str:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _lesson_files() -> set[str]:
    return {p.relative_to(ROOT).as_posix() for top in LESSON_FOLDERS
            for p in (ROOT / top).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """sdist and wheel built by ``python -m build`` from a copy of this checkout."""
    base = tmp_path_factory.mktemp("build")
    src = base / "src"
    caches = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".*_cache", ".hypothesis")

    def ignore(folder: str, names: list[str]) -> set[str]:
        # what a working checkout has beside its files: runs, earlier builds, git's own folder
        top = {".git", "runs", "dist", "build", ".venv"} if Path(folder) == ROOT else set()
        return caches(folder, names) | (top & set(names))

    shutil.copytree(ROOT, src, ignore=ignore)
    _run([sys.executable, "-m", "build", "--outdir", base / "dist", src], cwd=base)
    return base / "dist"


def test_the_sdist_holds_the_tests_the_docs_and_the_lessons(dist):
    (sdist,) = dist.glob("nnlearn-*.tar.gz")
    assert sdist.name == f"nnlearn-{nnlearn.__version__}.tar.gz"
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for name in ("README.md", "CHANGELOG.md", "setup.py", "pyproject.toml", "tests/conftest.py",
                 "tests/test_packaging.py", "docs/tutorial.md", "docs/config.md"):
        assert name in names, name
    assert _lesson_files() <= names


def test_the_wheel_holds_every_module_and_every_lesson_file(dist):
    (wheel,) = dist.glob("nnlearn-*.whl")
    assert wheel.name.startswith(f"nnlearn-{nnlearn.__version__}-")
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        meta = whl.read(f"nnlearn-{nnlearn.__version__}.dist-info/METADATA").decode()
    assert f"Version: {nnlearn.__version__}\n" in meta
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "nnlearn").rglob("*.py")}
    assert modules <= names
    assert {f"nnlearn/lessons/{name}" for name in _lesson_files()} <= names


def test_from_a_wheel_installed_outside_the_repository_the_lessons_train(dist, tmp_path):
    (wheel,) = dist.glob("nnlearn-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / BIN / "python"
    pins = tmp_path / "constraints.txt"
    pins.write_text("".join(f"{name}=={version(name)}\n"
                            for name in ("numpy", "click", "pyyaml", "tqdm")))
    _run([python, "-m", "pip", "install", "-q", "-c", pins, wheel], cwd=tmp_path)

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NNLEARN_DEBUG")}
    env["PATH"] = str(env_dir / BIN) + os.pathsep + env["PATH"]
    home = tmp_path / "home"
    home.mkdir()
    where = _run([python, "-c", "import nnlearn; print(nnlearn.__file__)"], cwd=home, env=env)
    assert Path(where.strip()).is_relative_to(env_dir), where  # the wheel, not this checkout

    # the README's commands, as a user types them
    assert SECOND_WAY_IN in (ROOT / "README.md").read_text(encoding="utf-8")
    out = _run(["bash", "-c", SECOND_WAY_IN], cwd=home, env=env)
    lessons = home / "lessons"
    assert out.splitlines()[-1] == "runs/iris"  # relative to the folder the user is in
    copied = {p.relative_to(lessons).as_posix(): p.read_bytes() for top in LESSON_FOLDERS
              for p in (lessons / top).rglob("*") if p.is_file()}
    assert copied == {name: (ROOT / name).read_bytes() for name in _lesson_files()}
    evaluated = json.loads(_run(["nnlearn", "eval", "runs/iris", "--json"], lessons, env))
    repo = run_cli("train", CONFIGS / "iris.yaml", "--out", tmp_path / "repo-iris", "--json")
    assert repo.returncode == 0, repo.stderr
    assert evaluated["accuracy"] == json.loads(repo.stdout)["metrics"]["test"]["accuracy"]
    assert evaluated["accuracy"] >= 0.93
    explained = _run(["nnlearn", "explain", "configs/iris.yaml"], lessons, env)
    assert "BACKWARD" in explained and "LOSS ON THE SAME" in explained
    listed = _run(["nnlearn", "examples", "--list"], lessons, env)
    assert "configs/iris.yaml" in listed and "configs/sweeps/learning-rate.yaml" in listed
