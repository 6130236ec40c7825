"""The exceptions nnlearn raises, and the exit code each one means.

Library code raises these and never prints or exits; ``cli.py`` turns them into one
``Error: ...`` line and the exit code below. Anything else that escapes is a bug (exit 1).

    NnlearnError          exit 2  bad input or usage
      ConfigError         exit 2  a config key is missing, unknown, or out of range
      DataError           exit 2  a CSV file is unreadable or malformed
      ModelFileError      exit 2  a file is not a valid nnlearn model file
      DivergedError       exit 3  the loss or the weights stopped being finite
      GradCheckFailed     exit 4  backprop disagrees with finite differences
      TrainingInterrupted exit 130  Ctrl-C during training (a checkpoint was saved)
"""

from __future__ import annotations

import os


def shown_path(path: str | os.PathLike) -> str:
    """``path`` as messages show it: relative to the current folder when it lies under it
    (``runs/iris``, what the user would type), absolute otherwise (``../`` chains mislead)."""
    full = os.path.abspath(os.fspath(path))
    try:
        rel = os.path.relpath(full, os.getcwd())
    except ValueError:  # another drive (Windows)
        return full
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return full
    return rel


def install_hint(extra: str) -> str:
    """How to install an optional extra. ``pip install 'nnlearn[EXTRA]'`` needs nnlearn on a
    package index; the packages the extra stands for (read from the installed metadata, the
    one list pyproject.toml declares) install from a clone or a wheel as well."""
    hint = f"pip install 'nnlearn[{extra}]'"
    try:
        from importlib.metadata import PackageNotFoundError, requires

        listed = requires("nnlearn") or []
    except (ImportError, PackageNotFoundError):  # running from a source tree not installed
        listed = []
    marker = f'extra == "{extra}"'
    packages = [r.split(";")[0].strip() for r in listed if r.replace("'", '"').endswith(marker)]
    if packages:
        hint += " (or: pip install " + " ".join(f"'{p}'" for p in packages) + ")"
    return hint


def _where(path: str | None) -> str | None:
    """An error's location: absolute paths (resolved from a config) shown as :func:`shown_path`
    does; anything else (a path as typed, ``override '...'``) as it is."""
    return shown_path(path) if path and os.path.isabs(path) else path


class NnlearnError(Exception):
    """Base of every error nnlearn reports to the user; ``hint`` is an optional second line."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(NnlearnError):
    """A config problem; ``key`` is the dotted path (``training.learning_rate``) when known."""

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.key = key
        self.path = path
        parts = [p for p in (_where(path), key) if p]
        full = ": ".join([*parts, message])
        super().__init__(full, hint=hint)
        self.problem = message


class DataError(NnlearnError):
    """A data problem located by file, physical line (header = line 1) and column name."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.problem = message
        where = []
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        parts = [p for p in (_where(path), prefix) if p]
        super().__init__(": ".join([*parts, message]), hint=hint)


class ModelFileError(NnlearnError):
    """The file is not a valid nnlearn model file (or checkpoint)."""


class DivergedError(NnlearnError):
    """Training produced a non-finite loss or non-finite weights."""

    exit_code = 3


class GradCheckFailed(NnlearnError):
    """Backprop's gradients disagree with central finite differences."""

    exit_code = 4


class TrainingInterrupted(NnlearnError):
    """Training was interrupted (Ctrl-C); ``checkpoint`` is the run folder that can be resumed."""

    exit_code = 130

    def __init__(self, message: str, *, checkpoint: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.checkpoint = checkpoint
