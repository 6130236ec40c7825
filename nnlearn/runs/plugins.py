"""Loading plugin files: Python files whose ``@register`` classes add names to the lesson.

Code runs only from a path given on the command line (``--plugin FILE.py``), never from a config,
sweep or model file: those can name a registered class, and a model file records the names it
needs (:func:`plugins_of`), but none of them can make nnlearn import anything. A model whose
names are not registered is refused with a message that names them and the flag
(:func:`check_names`).

Every way a plugin can fail -- a missing file, a syntax error, an exception while it runs, a
name that clashes -- is one :class:`PluginError` that names the file and the line, without a
traceback of nnlearn's own.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nnlearn.errors import ModelFileError, NnlearnError

#: absolute path of each plugin loaded in this process -> the names it registered
_LOADED: dict[str, list[str]] = {}
#: registered name -> the plugin file it came from
_SOURCES: dict[str, str] = {}


class PluginError(NnlearnError):
    """A plugin file could not be loaded (exit 2); the message names the file and line."""


def _where(path: str, exc: BaseException) -> str:
    """``FILE:LINE`` of the deepest frame of ``exc``'s traceback that is in the plugin file."""
    if isinstance(exc, SyntaxError) and exc.filename and os.path.abspath(exc.filename) == path:
        return f"{path}:{exc.lineno}"
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if os.path.abspath(frame.f_code.co_filename) == path:
            line = lineno
    return f"{path}:{line}" if line is not None else path


def where_in(cls: type, exc: BaseException | None) -> str:
    """``FILE:LINE`` in the file that defines ``cls`` (a plugin's class): where ``exc`` was
    raised in it, else the class statement."""
    import inspect

    try:
        path = os.path.abspath(inspect.getfile(cls))
    except (TypeError, OSError):  # a class made in an interactive session has no file
        return cls.__name__
    if exc is not None:
        found = _where(path, exc)
        if found != path:
            return found
    try:
        return f"{path}:{inspect.getsourcelines(cls)[1]}"
    except (OSError, TypeError):
        return path


def raised_in_plugin(exc: BaseException) -> str | None:
    """``FILE:LINE`` of the deepest frame of ``exc``'s traceback that runs a loaded plugin's
    code, or None: an exception from there is the plugin's to fix, not nnlearn's."""
    where = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        path = os.path.abspath(frame.f_code.co_filename)
        if path in _LOADED:
            where = f"{path}:{lineno}"
    return where


def _raised_by(exc: BaseException, filename: str | None) -> bool:
    """Was ``exc`` raised inside ``filename`` (its traceback's last frame)?"""
    frames = list(traceback.walk_tb(exc.__traceback__))
    return bool(frames) and frames[-1][0].f_code.co_filename == filename


def load_plugin(path: str | os.PathLike) -> list[str]:
    """Run one plugin file and return the names it registered (in order).

    A file already loaded in this process is not run again (a sweep's in-process runs, a test
    calling this twice). Raises PluginError for a file that is missing, fails to run, or
    registers nothing.
    """
    from nnlearn.runs import extend

    full = os.path.abspath(os.fspath(path))
    if full in _LOADED:
        return list(_LOADED[full])
    if not os.path.isfile(full):
        what = "is a folder" if os.path.isdir(full) else "no such file"
        raise PluginError(f"{full}: {what}; --plugin takes a Python file (.py)")
    if not full.endswith(".py"):
        raise PluginError(f"{full}: a plugin is a Python file ending in .py")
    before = set(extend.REGISTERED)
    digest = hashlib.sha1(full.encode()).hexdigest()[:10]
    module_name = f"nnlearn_plugin_{Path(full).stem.replace('-', '_')}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, full)
    if spec is None or spec.loader is None:
        raise PluginError(f"{full}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look classes up here
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure is the plugin's
        sys.modules.pop(module_name, None)
        for name in set(extend.REGISTERED) - before:  # leave no half-loaded plugin behind
            extend.unregister(name)
        problem = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, SyntaxError):
            problem, hint = f"syntax error: {exc.msg}", None
        elif _raised_by(exc, extend.__file__):  # register() refused: the message says why
            hint = None
        else:
            hint = f"to see the whole traceback, run it on its own: python {full}"
        raise PluginError(f"{_where(full, exc)}: {problem}"[:500], hint=hint) from None
    names = [n for n in extend.REGISTERED if n not in before]
    if not names:
        raise PluginError(f"{full}: registers nothing",
                          hint="put @register(\"name\") (from nnlearn import register) on a "
                               "subclass of Activation, Layer, Loss or Optimizer")
    _LOADED[full] = names
    for name in names:
        _SOURCES[name] = full
    return list(names)


def load_plugins(paths: Iterable[str | os.PathLike]) -> dict[str, list[str]]:
    """Load each file in order; returns {absolute path: names it registered}."""
    return {os.path.abspath(os.fspath(p)): load_plugin(p) for p in paths}


def loaded_paths() -> list[str]:
    """The plugin files loaded in this process, in order (sweeps pass them to their workers)."""
    return list(_LOADED)


def plugins_of(names: Iterable[str]) -> dict[str, str]:
    """{name: plugin file name} for those of ``names`` that a plugin registered.

    Model files record this, so that loading one can say which names are missing and which
    file provided them when it was trained (the file name only: a path would leak the
    trainer's folders into a shared model file).
    """
    return {n: os.path.basename(_SOURCES.get(n, "")) or "?"
            for n in dict.fromkeys(names) if _is_plugin_name(n)}


def files_of(names: Iterable[str]) -> list[str]:
    """The plugin files (full paths, in first-use order) that registered any of ``names``: what
    a command line repeating this run must pass as ``--plugin``."""
    return list(dict.fromkeys(_SOURCES[n] for n in names if _is_plugin_name(n) and n in _SOURCES))


def _is_plugin_name(name: str) -> bool:
    if "nnlearn.runs.extend" not in sys.modules:  # nothing can have been registered
        return False
    from nnlearn.runs import extend

    return name in extend.REGISTERED


def check_names(recorded: Any, source: str) -> None:
    """Refuse a model (``source``) that needs plugin names this process has not registered.

    ``recorded`` is the model file's ``plugins`` entry ({name: file name}); anything else is a
    damaged file.
    """
    if recorded is None:
        return
    if not isinstance(recorded, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in recorded.items()):
        raise ModelFileError(f"{source}: not a valid nnlearn model file (its 'plugins' entry "
                             "is not a mapping of names to file names)")
    from nnlearn.runs import extend

    missing = [n for n in recorded if n not in extend.REGISTERED]
    if missing:
        # file names only, even if a tampered file recorded a path: the user picks the file
        files = sorted({os.path.basename(recorded[n]) or "?" for n in missing})
        raise PluginError(f"{source}: the model uses {', '.join(map(repr, missing))} from a "
                          f"plugin ({', '.join(files)}), which is not loaded",
                          hint="load the file it was trained with: "
                               + " ".join(f"--plugin {f}" for f in files))


def plugin_args(paths: Sequence[str]) -> list[str]:
    """``--plugin PATH`` arguments for a command line that must load the same plugins."""
    return [arg for p in paths for arg in ("--plugin", os.path.abspath(p))]
