"""docs/tutorial.md stays true: every ``$ nnlearn ...`` command in it runs, exits as shown (0, or
the ``# exit N`` its line ends with) and prints the same text as recorded, numbers aside.

The commands run in-process through the real click group (the same code as the ``nnlearn``
script, without paying for a fresh interpreter each time), in a scratch folder holding copies of
``configs/`` and ``data/``, one after another (``eval runs/digits`` needs the run trained before
it). A changed message, column or line fails the test, and so does a changed number: each printed
number must match the recorded one to within two units of its last printed digit (a different
numpy or BLAS may round the last digit the other way). The commands in ``VARIES`` are the
exception: their numbers differ between the numpy releases the project supports, so only their
shape is compared (see "Reproducibility" in README.md).

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
SPARK = re.compile(r"[\u2581-\u2588]+")

# Commands whose printed numbers depend on the numpy/BLAS build, and why. Found by running the
# tutorial at the declared minimum versions (numpy 1.24) and at the newest: every other number
# printed agreed to its last digit.
VARIES = {
    "nnlearn gradcheck": "the errors it prints (~1e-10) are float64 rounding noise, which differs "
                         "with the BLAS kernels",
    "training.batching=stochastic": "96 one-row steps per epoch with momentum turn a last-bit "
                                    "difference in the first epoch into a different run",
}


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


def _lines(output: str) -> list[str]:
    # progress lines dropped: how many appear depends on the machine's speed
    return [line for line in output.splitlines() if not re.match(r"epoch \d+/\d+ ", line)]


def _shape(output: str, varies: bool = False) -> list[str]:
    """The output with every number (and, where numbers vary, every sparkline) masked, progress
    lines dropped and spaces collapsed."""
    lines = []
    for line in _lines(output):
        if varies and line.lstrip().startswith(("warning:", "↑")):
            continue  # which advice a run gets, and where its best epoch falls, vary with it
        line = NUMBER.sub("#", line)
        if varies:
            line = SPARK.sub("~", line)
        lines.append(" ".join(line.split()))
    return lines


def _close(recorded: str, actual: str) -> bool:
    """``actual`` is ``recorded`` to within two units of the recorded number's last digit
    (integers, which count things, exactly)."""
    mantissa, _, exponent = recorded.lower().partition("e")
    if "." not in mantissa and not exponent:
        return actual == recorded
    decimals = len(mantissa.partition(".")[2])
    unit = 10.0 ** (int(exponent or 0) - decimals)
    return abs(float(actual) - float(recorded)) <= 2 * unit * (1 + 1e-9)


def _number_mismatches(recorded: str, output: str) -> list[str]:
    out = []
    for want_line, got_line in zip(_lines(recorded), _lines(output)):
        want, got = NUMBER.findall(want_line), NUMBER.findall(got_line)
        if len(want) != len(got) or not all(map(_close, want, got)):
            out.append(f"recorded: {want_line}\n     now: {got_line}")
    return out


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
            varies = any(key in command for key in VARIES)
            assert _shape(output, varies) == _shape(recorded, varies), (
                f"{command}: output changed:\n{output}")
            if not varies:
                wrong = _number_mismatches(recorded, output)
                assert not wrong, f"{command}: numbers changed:\n" + "\n".join(wrong)
        pieces += [text[last:match.start(1)], f"$ {command}\n{output.rstrip()}\n"]
        last = match.end(1)
    if update:
        TUTORIAL.write_text("".join(pieces) + text[last:], encoding="utf-8")
