"""Shared test helpers: run the real CLI in a subprocess, and paths to bundled files."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
DATA = ROOT / "data"


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m nnlearn ARGS`` with this checkout first on the path."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.pop("NNLEARN_DEBUG", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "nnlearn", *map(str, args)], check=False,
                          cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


def doc_python_block(doc: Path, first_line: str) -> str:
    """The python block of a docs page that starts with ``first_line`` (e.g. '# swish.py')."""
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.DOTALL)
    return next(b for b in blocks if b.startswith(first_line))


def write_dedented(folder: Path, name: str, text: str) -> Path:
    """``text``, dedented, written to ``folder/name``."""
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def assert_clean_error(proc: subprocess.CompletedProcess, code: int, *patterns: str) -> str:
    """The error contract: exit ``code``, an ``Error: ...`` line, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("Error: "), proc.stderr
    assert len(lines) <= 2, f"at most an error line and a hint line:\n{proc.stderr}"
    for pattern in patterns:
        assert pattern.lower() in proc.stderr.lower(), (pattern, proc.stderr)
    return lines[0]


def cli_runner() -> CliRunner:
    """A CliRunner whose results keep ``stdout`` and ``stderr`` apart on every supported click.

    click >= 8.2 always keeps them apart (and ``output`` holds both, interleaved); older click
    mixes them unless asked not to, and then its ``output`` is stdout alone. So a test reads
    ``result.stderr`` for messages and ``result.stdout`` for results, never ``result.output``.
    """
    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:
        return CliRunner(mix_stderr=False)
    return CliRunner()


def leaf_commands(group=None, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every runnable command path of the CLI, e.g. ("train",), ("config", "show")."""
    import click

    from nnlearn.cli import cli

    out = []
    for name, command in sorted((group or cli).commands.items()):
        if isinstance(command, click.Group):
            out += leaf_commands(command, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def clean_plugin_registries():
    """Forget every name a test registered and every plugin file it loaded (a skeleton and its
    solution register the same name; plugin tests load files of their own)."""
    from nnlearn.runs import extend, plugins

    registered = set(extend.REGISTERED)
    loaded, sources = dict(plugins._LOADED), dict(plugins._SOURCES)
    yield
    for name in [n for n in extend.REGISTERED if n not in registered]:
        extend.unregister(name)
    plugins._LOADED.clear()
    plugins._LOADED.update(loaded)
    plugins._SOURCES.clear()
    plugins._SOURCES.update(sources)
