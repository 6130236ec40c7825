"""Issue 8, usage clause, for EVERY command (found by walking the click group, so commands added
later are covered without editing this file): a wrong option or a missing argument gives exit 2,
one ``Error:`` line and a "Try '... --help'" hint, never a traceback; ``--help`` works and shows
an example.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import click
import pytest
from conftest import assert_clean_error, leaf_commands, run_cli

from nnlearn.cli import cli


def groups(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            out += groups(command, (*prefix, name))
    return out


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


COMMANDS = leaf_commands()


def test_the_known_commands_are_found():
    assert {("train",), ("eval",), ("predict",), ("config", "show")} <= set(COMMANDS)


@pytest.fixture(scope="module")
def procs():
    calls = {}
    for path in COMMANDS:
        calls[(path, "bogus")] = (*path, "--no-such-option")
        calls[(path, "bare")] = path
        calls[(path, "help")] = (*path, "--help")
    for path in groups():
        calls[(path, "group")] = path
        calls[(path, "typo")] = (*path, "no-such-command")
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {k: pool.submit(run_cli, *args) for k, args in calls.items()}
        return {k: f.result() for k, f in futures.items()}


def _try_hint(proc: subprocess.CompletedProcess, path: tuple[str, ...]) -> None:
    assert proc.stderr.strip().splitlines()[-1] == f"Try '{' '.join(('nnlearn', *path))} --help'."


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_an_unknown_option_exits_2_with_a_hint(procs, path):
    proc = procs[(path, "bogus")]
    assert_clean_error(proc, 2, "no such option", "--no-such-option")
    _try_hint(proc, path)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_a_missing_argument_exits_2_with_a_hint(procs, path):
    required = [p for p in command_at(path).params if p.required]
    proc = procs[(path, "bare")]
    if not required:  # train: CONFIG or --resume, checked by the command itself
        assert proc.returncode in (0, 2), proc.stderr
        if proc.returncode == 0:
            return
    assert_clean_error(proc, 2, "missing")
    _try_hint(proc, path)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_works_and_shows_an_example(procs, path):
    proc = procs[(path, "help")]
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout and "Example" in proc.stdout


@pytest.mark.parametrize("path", groups(), ids=lambda p: " ".join(("nnlearn", *p)))
def test_a_group_without_a_command_or_with_a_typo_exits_2(procs, path):
    bare = procs[(path, "group")]
    assert "Commands:" in bare.stdout  # the help, to choose from
    if hasattr(click.exceptions, "NoArgsIsHelpError"):  # click >= 8.2 calls it a usage error
        assert_clean_error(bare, 2, "missing command")
    else:
        assert bare.returncode == 0, bare.stderr
    typo = procs[(path, "typo")]
    assert_clean_error(typo, 2, "no such command", "no-such-command")
