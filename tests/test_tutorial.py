"""docs/tutorial.md stays true: every ``$ nnlearn ...`` command in it runs, exits as shown (0, or
the ``# exit N`` its line ends with) and prints the same text as recorded, numbers aside.

The commands run in-process through the real click group (the same code as the ``nnlearn``
script, without paying for a fresh interpreter each time), in a scratch folder holding copies of
``configs/`` and ``data/``, one after another (``eval runs/digits`` needs the run trained before
it). Numbers are masked before comparing, so a different BLAS rounding the last digit differently
does not fail the test, but a changed message, column or line does.

Regenerate the recorded outputs after changing what a command prints:

    NNLEARN_UPDATE_TUTORIAL=1 python -m pytest tests/test_tutorial.py
"""

from __future__ import annotations

import os
import re
import shlex
import shutil

from click.testing import CliRunner
from conftest import CONFIGS, DATA, ROOT

from nnlearn.cli import cli

TUTORIAL = ROOT / "docs" / "tutorial.md"
BLOCK = re.compile(r"```console\n(.*?)```", re.DOTALL)
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?")


def _commands(text: str) -> list[tuple[re.Match, str, int]]:
    out = []
    for match in BLOCK.finditer(text):
        first = match.group(1).splitlines()[0]
        assert first.startswith("$ nnlearn "), f"a console block must start with a command: {first}"
        code = re.search(r"#\s*exit (\d+)\s*$", first)
        out.append((match, first[2:], int(code.group(1)) if code else 0))
    return out


def _run(command: str, folder) -> tuple[int, str]:
    args = shlex.split(command, comments=True)
    assert args[0] == "nnlearn"
    result = CliRunner().invoke(cli, args[1:])
    # stdout and stderr interleaved as on a terminal; absolute paths shown as from the repo root
    return result.exit_code, result.output.replace(f"{folder}{os.sep}", "")


def _shape(output: str) -> list[str]:
    """The output with every number masked, progress lines dropped and spaces collapsed."""
    lines = []
    for line in output.splitlines():
        if re.match(r"epoch \d+/\d+ ", line):  # how many appear depends on the machine's speed
            continue
        lines.append(" ".join(NUMBER.sub("#", line).split()))
    return lines


def test_the_tutorial_commands_still_run_as_shown(tmp_path, monkeypatch):
    shutil.copytree(CONFIGS, tmp_path / "configs")
    shutil.copytree(DATA, tmp_path / "data", ignore=shutil.ignore_patterns("*.py", "*.md"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NNLEARN_DEBUG", raising=False)
    text = TUTORIAL.read_text(encoding="utf-8")
    commands = _commands(text)
    assert len(commands) >= 10
    update = os.environ.get("NNLEARN_UPDATE_TUTORIAL") == "1"
    pieces, last = [], 0
    for match, command, expected in commands:
        code, output = _run(command, tmp_path)
        assert code == expected, f"{command}\nexit {code}, expected {expected}:\n{output}"
        recorded = "\n".join(match.group(1).splitlines()[1:])
        if not update:
            assert _shape(output) == _shape(recorded), f"{command}: output changed:\n{output}"
        pieces += [text[last:match.start(1)], f"$ {command}\n{output.rstrip()}\n"]
        last = match.end(1)
    if update:
        TUTORIAL.write_text("".join(pieces) + text[last:], encoding="utf-8")
