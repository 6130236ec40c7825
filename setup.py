"""The one part of the build pyproject.toml cannot say: where the lessons come from.

The bundled lessons live at the repository root, in configs/ and data/, where the README, the
docs and the tests use them. In the built package they are the package data of
nnlearn.lessons.configs and nnlearn.lessons.data (and their subfolders): setuptools maps the same
folders there, so nothing is copied in the repository. ``nnlearn examples`` copies them out of an
installed package. Everything else about the package is in pyproject.toml.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).parent


def lesson_folders() -> dict:
    """``{package name: folder}`` for configs/, data/, exercises/ and every folder below them."""
    out = {}
    for top in ("configs", "data", "exercises"):
        for folder in [HERE / top, *sorted((HERE / top).rglob("*"))]:
            rel = folder.relative_to(HERE)
            if folder.is_dir() and "__pycache__" not in rel.parts:
                out[".".join(("nnlearn", "lessons", *rel.parts))] = rel.as_posix()
    return out


LESSONS = lesson_folders()

setup(
    # namespace packages too: not every sub-package has an __init__.py
    packages=find_namespace_packages(include=["nnlearn", "nnlearn.*"],
                                     exclude=["*.__pycache__"]) + list(LESSONS),
    package_dir=LESSONS,
    package_data={name: ["*"] for name in LESSONS},
    exclude_package_data={name: ["*.pyc"] for name in LESSONS},
)
