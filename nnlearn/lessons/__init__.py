"""The bundled lessons: the configs, the CSV files they train on, the sweep files, data/README.md.

There is one copy of them. In a clone of the repository they are the folders ``configs/`` and
``data/`` at its root, where the README, the docs and the tests use them. In an installed package
(a wheel: ``pip install nnlearn``) the build maps the same two folders to ``nnlearn/lessons/configs``
and ``nnlearn/lessons/data`` (see setup.py). ``copy_lessons`` writes them into a new folder with the
same layout, so that every command of the docs (``nnlearn train configs/iris.yaml``) runs there:
a config names its CSV files relative to itself (``../data/iris-train.csv``).
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from nnlearn.errors import NnlearnError

FOLDERS = ("configs", "data", "exercises")


@dataclass(frozen=True)
class Lesson:
    """A bundled config or sweep file (``path`` relative to the lessons folder) and what it
    teaches, in one line."""

    path: str
    teaches: str


@dataclass(frozen=True)
class Copied:
    """What ``copy_lessons`` wrote: the folder and every file in it, relative to it."""

    folder: Path
    files: list[str]

    def next_command(self) -> str:
        return f"cd {shlex.quote(str(self.folder))} && nnlearn train configs/iris.yaml"


def lessons_root() -> Path:
    """The folder holding ``configs/`` and ``data/``: this package's data when installed from a
    wheel, else the repository root this package sits in (a clone, or an editable install)."""
    here = Path(__file__).resolve().parent
    for root in (here, here.parents[1]):
        if all((root / name).is_dir() for name in FOLDERS):
            return root
    raise NnlearnError(f"the bundled lessons are missing: no configs/ and data/ in {here}",
                       hint="reinstall nnlearn from a wheel or a clone of its repository")


def _files(root: Path) -> list[Path]:
    """Every file of the lessons, relative to ``root`` (byte-code caches left out)."""
    out = []
    for name in FOLDERS:
        for path in sorted((root / name).rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and "__pycache__" not in rel.parts and rel.suffix != ".pyc":
                out.append(rel)
    return out


def _teaches(text: str, width: int = 64) -> str:
    """The file's ``# The lesson: ...`` paragraph (else its first comment paragraph), cut to
    ``width`` characters at a word."""
    paragraphs, current = [], []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        words = line.lstrip("#").strip()
        if words:
            current.append(words)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    paragraphs.append(" ".join(current))
    tagged = [p for p in paragraphs if "The lesson:" in p]
    paragraph = tagged[0].split("The lesson:", 1)[1].strip() if tagged else paragraphs[0]
    if len(paragraph) > width:
        paragraph = paragraph[:width - 1].rsplit(" ", 1)[0].rstrip(",;:.") + "..."
    return paragraph[:1].upper() + paragraph[1:]


def list_lessons(root: Path | None = None) -> list[Lesson]:
    """Every bundled config and sweep file, configs first, with what it teaches."""
    root = root or lessons_root()
    paths = [p for p in _files(root) if p.parts[0] == "configs" and p.suffix in (".yaml", ".yml")]
    paths.sort(key=lambda p: (len(p.parts), str(p)))
    return [Lesson(p.as_posix(), _teaches((root / p).read_text(encoding="utf-8")))
            for p in paths]


def _free_name(dest: Path) -> str:
    """A folder name beside ``dest`` that does not exist yet (lessons, lessons-2, ...)."""
    base = dest.name if dest.name and not dest.exists() else "lessons"
    name, n = base, 1
    while (dest.parent / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def copy_lessons(dest: str | os.PathLike, root: Path | None = None) -> Copied:
    """Write the lessons into ``dest``, a new or empty folder, keeping their layout.

    The files are copied into a temporary folder first; then that folder is renamed to ``dest``
    (or, when ``dest`` exists, its ``configs`` and ``data`` are moved into it), so an interrupted
    copy leaves no half-written lesson behind.
    """
    root = root or lessons_root()
    shown = Path(dest)
    dest = shown.resolve()
    hint = f"name a new folder, e.g. nnlearn examples {_free_name(dest)}"
    if dest.exists() and not dest.is_dir():
        raise NnlearnError(f"{shown} is a file, not a folder", hint=hint)
    if dest.is_dir() and any(dest.iterdir()):
        raise NnlearnError(f"{shown} is not empty: the lessons go into a new or empty folder",
                           hint=hint)
    dest.parent.mkdir(parents=True, exist_ok=True)
    files = _files(root)
    tmp = dest.parent / f".{dest.name}.tmp-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        for rel in files:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / rel, tmp / rel)
        if dest.is_dir():
            for name in FOLDERS:
                os.replace(tmp / name, dest / name)
            tmp.rmdir()
        else:
            os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Copied(shown, [p.as_posix() for p in files])
