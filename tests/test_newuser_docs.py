"""The docs show what the program does: every command that README.md and docs/*.md show in a
fenced console/text block (``$ command`` lines, each followed by its output) or bash block
(commands only) is run, once, in a scratch copy of configs/ and data/, in the order the docs
show them (README, then the tutorial, config, training, sweeps: later commands use the runs of
earlier ones). It must exit as shown (non-zero when its output shows ``Error:``, or the
``# exit N`` its line ends with) and print what is shown, after normalising what differs from
machine to machine: the scratch folder is shown as ``/path``, every number is masked, spaces
are collapsed and a ``...`` line stands for any number of lines.

A command that cannot run here is listed in SKIPPED with the reason; the list is checked to
still match the docs, so it cannot hide a command that was changed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import CONFIGS, DATA, ROOT

DOCS = ["README.md", "docs/tutorial.md", "docs/config.md", "docs/training.md", "docs/sweeps.md"]
FENCE = re.compile(r"^```(console|text|bash|sh)\n(.*?)^```", re.DOTALL | re.MULTILINE)
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?")
#: Commands the docs show that need something this machine does not have; (start, reason).
SKIPPED = [
    ("pip install", "installs packages"),
    ("python -m pytest", "the test suite itself"),
    ("ruff check", "the linter"),
    ("dask ", "needs a Dask cluster"),
    ("NNLEARN_THREADS=1 parallel", "needs GNU parallel"),
    ("sbatch", "needs Slurm"),
    ("python docs/screenshot.py", "needs Chromium; tests/test_report.py drives the same page"),
    ("nnlearn sweep big-sweep.yaml --scheduler", "needs a Dask scheduler at tcp://HOST:8786"),
]
#: Blocks showing an interactive moment (Ctrl-C) are documentation of what a person does;
#: tests/test_resume.py sends the real SIGINT.
INTERACTIVE = "^C"
#: Files the docs' examples name as the reader's own; made here so that those commands run.
FIXTURES = {
    # docs/config.md: a typo in a key
    "iris.yaml": "data: {train: data/iris.csv, target: species}\n"
                 "training: {learnig_rate: 0.1}\n",
    # docs/sweeps.md: "your" sweep file for GNU parallel and Slurm
    "sweep.yaml": "base: configs/moons.yaml\nset: {training.epochs: 5}\n"
                  "grid: {training.learning_rate: [0.1, 1.0]}\nseeds: [0]\n",
}


def _commands() -> list[tuple[str, str, list[str] | None, int | None]]:
    """(document, command, shown output lines or None, expected exit code or None for
    'non-zero') in document order."""
    out = []
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            kind, body = match.group(1), match.group(2)
            if INTERACTIVE in body.splitlines():
                continue
            if kind in ("bash", "sh"):
                lines = [line for line in body.splitlines() if line.strip()
                         and not line.startswith("#")]
                joined: list[str] = []
                for line in lines:  # continuation lines belong to the line before
                    if joined and joined[-1].endswith("\\"):
                        joined[-1] = joined[-1][:-1] + line
                    else:
                        joined.append(line)
                for line in joined:
                    for part in line.split("&&"):
                        out.append((doc, part.strip(), None, 0))
                continue
            lines = body.splitlines()
            starts = [i for i, line in enumerate(lines) if line.startswith("$ ")]
            for k, i in enumerate(starts):
                command = lines[i][2:]
                shown = lines[i + 1:starts[k + 1] if k + 1 < len(starts) else len(lines)]
                code = re.search(r"#\s*exit (\d+)\s*$", command)
                expected = int(code.group(1)) if code else (
                    None if any(s.startswith("Error: ") for s in shown) else 0)
                out.append((doc, command, shown, expected))
    return out


def _skipped(command: str) -> bool:
    return any(command.startswith(start) for start, _ in SKIPPED)


#: Commands whose run differs from one numpy version to the next (see tests/test_tutorial.py's
#: VARIES): which warning they end with, and where the best epoch falls, are not compared.
VARIES = ("training.batching=stochastic",)


def _shape(lines: list[str], folder: str, varies: bool = False) -> list[str]:
    out = []
    for line in lines:
        if varies and line.lstrip().startswith(("warning:", "↑")):
            continue
        if varies:
            line = re.sub("[▁▂▃▄▅▆▇█]+", "~", line)  # the sparklines' shapes vary too
        line = line.replace(folder, "/path")
        line = " ".join(NUMBER.sub("#", line).split())
        if line:
            out.append(line)
    return out


def _matches(shown: list[str], real: list[str]) -> bool:
    """Does ``real`` match ``shown``, where a ``...`` line stands for any lines?"""
    memo: dict[tuple[int, int], bool] = {}

    def go(i: int, j: int) -> bool:
        if (i, j) not in memo:
            if i == len(shown):
                ok = j == len(real)
            elif shown[i] == "...":
                ok = go(i + 1, j) or (j < len(real) and go(i, j + 1))
            else:
                ok = j < len(real) and shown[i] == real[j] and go(i + 1, j + 1)
            memo[(i, j)] = ok
        return memo[(i, j)]

    return go(0, 0)


def test_the_skip_list_names_only_commands_the_docs_still_show():
    commands = [c for _, c, _, _ in _commands()]
    for start, reason in SKIPPED:
        assert any(c.startswith(start) for c in commands), f"{start!r} ({reason}) is gone"


def test_every_command_the_docs_show_runs_as_shown(tmp_path):
    shutil.copytree(CONFIGS, tmp_path / "configs")
    shutil.copytree(DATA, tmp_path / "data", ignore=shutil.ignore_patterns("*.py", "*.md"))
    (tmp_path / "docs" / "images").mkdir(parents=True)
    for name, text in FIXTURES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    bin_dir = tmp_path / ".bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "nnlearn"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m nnlearn "$@"\n')
    wrapper.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    env.pop("NNLEARN_DEBUG", None)
    env.pop("COLUMNS", None)
    seen: set[str] = set()
    failures = []
    ran = 0
    for doc, command, shown, expected in _commands():
        if _skipped(command) or command in seen:
            continue
        seen.add(command)
        proc = subprocess.run(command, check=False, shell=True, cwd=tmp_path, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        ran += 1
        real = proc.stdout.splitlines()
        code_ok = proc.returncode == expected if expected is not None else proc.returncode != 0
        if not code_ok:
            failures.append(f"{doc}: $ {command}\nexit {proc.returncode}, expected "
                            f"{expected if expected is not None else 'non-zero'}:\n{proc.stdout}")
            continue
        varies = any(v in command for v in VARIES)
        if shown is not None and not _matches(_shape(shown, str(tmp_path), varies),
                                              _shape(real, str(tmp_path), varies)):
            failures.append(f"{doc}: $ {command}\nshown:\n" + "\n".join(shown)
                            + "\nreal:\n" + proc.stdout)
    assert ran >= 25
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("shown,real,ok", [
    (["a", "...", "d"], ["a", "b", "c", "d"], True),
    (["a", "...", "d"], ["a", "d"], True),
    (["a", "..."], ["a"], True),
    (["a", "d"], ["a", "b", "d"], False),
    (["...", "b"], ["a", "b", "c"], False),
])
def test_an_ellipsis_stands_for_any_lines(shown, real, ok):
    assert _matches(shown, real) is ok


def test_numbers_and_the_scratch_folder_are_normalised():
    assert _shape(["loss   0.1234  at /tmp/x/runs"], "/tmp/x") == ["loss # at /path/runs"]


def test_config_comments_name_the_activation_the_config_sets():
    """A comment such as "16 tanh units" must agree with model.activation and model.hidden."""
    from nnlearn.runs.config import ACTIVATION_NAMES, load_config

    checked = 0
    for path in sorted(CONFIGS.glob("*.yaml")):
        comments = " ".join(line for line in path.read_text().splitlines()
                            if line.lstrip().startswith("#"))
        cfg = load_config(path)
        for units, word in re.findall(r"(\d+) ([a-z_]+) units", comments, flags=re.IGNORECASE):
            if word.lower() in ACTIVATION_NAMES or word.lower() in ("relu", "tanh", "sigmoid"):
                checked += 1
                assert word.lower() == cfg["model"]["activation"], (path.name, word)
                assert int(units) in cfg["model"]["hidden"], (path.name, units)
    assert checked >= 2


def test_the_quickstart_prints_runs_iris_last(tmp_path):
    shutil.copytree(CONFIGS, tmp_path / "configs")
    shutil.copytree(DATA, tmp_path / "data", ignore=shutil.ignore_patterns("*.py", "*.md"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "nnlearn", "train", "configs/iris.yaml"],
                          cwd=tmp_path, env=env, text=True, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "runs/iris"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(`runs/iris`) as its last line" in readme
