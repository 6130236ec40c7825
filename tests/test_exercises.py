"""The graded exercises: every skeleton fails its check (it raises 'your code here'), every
reference solution passes, and typical mistakes fail the part they should, with a hint."""

from __future__ import annotations

import re
import shlex
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, assert_clean_error, run_cli

from nnlearn.errors import NnlearnError
from nnlearn.teach import exercises as ex

SKELETONS = ROOT / "exercises"
SOLUTIONS = ROOT / "tests" / "exercise_solutions"
NUMBERS = sorted(ex.EXERCISES)


# Each test leaves the registries and the plugin loader as it found them (conftest.py).
pytestmark = pytest.mark.usefixtures("clean_plugin_registries")


def _file(folder: Path, number: int) -> Path:
    return folder / ex.EXERCISES[number].file


def test_there_are_at_least_four_exercises_and_solutions_live_only_under_tests():
    assert len(NUMBERS) >= 4
    for n in NUMBERS:
        skeleton, solution = _file(SKELETONS, n), _file(SOLUTIONS, n)
        assert skeleton.is_file() and solution.is_file()
        text = skeleton.read_text(encoding="utf-8")
        assert text.count('raise NotImplementedError("your code here")') == 1
        assert "your code here" not in solution.read_text(encoding="utf-8")


@pytest.mark.parametrize("number", NUMBERS)
def test_each_skeleton_fails_at_the_part_to_write(number):
    result = ex.check_exercise(number, _file(SKELETONS, number))
    assert not result.passed
    failed = [p for p in result.parts if p.status == "FAIL"]
    assert len(failed) == 1 and "your code here" in failed[0].detail
    assert "your code here" in failed[0].hint
    assert result.parts[-1].name == "training" and result.parts[-1].status == "skip"
    with pytest.raises(ex.ExerciseFailed, match=failed[0].name) as info:
        ex.raise_if_failed(result)
    assert info.value.exit_code == 4


@pytest.mark.parametrize("number", NUMBERS)
def test_each_reference_solution_passes_every_part(number):
    result = ex.check_exercise(number, _file(SOLUTIONS, number))
    assert result.passed, ex.format_result(result)
    assert [p.status for p in result.parts] == ["pass"] * len(result.parts)
    assert "training" in [p.name for p in result.parts]
    ex.raise_if_failed(result)  # does not raise


def _variant(tmp_path: Path, number: int, old: str, new: str) -> Path:
    """The reference solution with one line changed: a typical mistake."""
    text = _file(SOLUTIONS, number).read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / f"mistake_{number}.py"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


@pytest.mark.parametrize("number, old, new, part, words", [
    (1, "grad_out * y * (1 - y)", "y * (1 - y)", "backward", "y * (1 - y)"),
    (2, "np.dot(self._x.T, grad_out)", "np.dot(self._x.T, grad_out) * 2", "dL/dW",
     "2 times the right answer"),
    (2, "grad_out.sum(axis=0)", "grad_out.mean(axis=0)", "dL/db", "summed over the rows"),
    (3, "p.value -= self.lr * v", "p.value -= self.lr * p.grad", "four steps", "momentum"),
    (4, "return p / n", "return p", "gradient", "5 times the right answer"),
    (5, "m_hat = m / (1 - b1**self.t)", "m_hat = m", "first step", "bias correction"),
    (5, "self.t += 1\n", "self.t = 1\n", "four steps", "count steps in self.t"),
])
def test_a_typical_mistake_fails_its_part_with_a_hint(tmp_path, number, old, new, part, words):
    result = ex.check_exercise(number, _variant(tmp_path, number, old, new))
    failed = {p.name: p for p in result.parts if p.status == "FAIL"}
    assert part in failed, ex.format_result(result)
    assert words in failed[part].detail + " " + (failed[part].hint or "")
    assert result.parts[-1].status == "skip"  # no training run on wrong gradients


def test_an_error_in_the_students_code_names_its_line(tmp_path):
    path = _variant(tmp_path, 1, "return grad_out * y * (1 - y)", "return grad_out * yy * (1 - y)")
    lines = path.read_text(encoding="utf-8").split("\n")
    line = 1 + next(i for i, t in enumerate(lines) if "return grad_out * yy" in t)
    result = ex.check_exercise(1, path)
    failed = {p.name: p for p in result.parts if p.status == "FAIL"}
    assert failed["backward"].detail.startswith(f"raises NameError at {path}:{line}: "), \
        failed["backward"].detail


def test_check_refuses_a_file_for_another_exercise():
    with pytest.raises(NnlearnError, match="registers no optimizer"):
        ex.check_exercise(3, _file(SOLUTIONS, 1))
    with pytest.raises(NnlearnError, match="no exercise 9"):
        ex.check_exercise(9, _file(SOLUTIONS, 1))


def test_the_cli_checks_exercises_with_exit_codes(tmp_path):
    skeleton = run_cli("exercise", "check", "1", cwd=ROOT)  # default file: exercises/01_...
    assert skeleton.returncode == 4, skeleton.stderr
    assert re.search(r"FAIL\s+backward", skeleton.stdout) and "hint:" in skeleton.stdout
    assert_clean_error(skeleton, 4, "backward")
    solved = run_cli("exercise", "check", "4", _file(SOLUTIONS, 4), cwd=tmp_path)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    assert "3 of 3 parts pass" in solved.stdout
    suggested = shlex.split(solved.stdout.splitlines()[-1])  # the next step it suggests works
    assert suggested[:2] == ["nnlearn", "train"] and "training.loss=my_cross_entropy" in suggested
    run = run_cli(*suggested[1:], "--set", "training.epochs=2", "--out", tmp_path / "run", "-q",
                  cwd=ROOT)
    assert run.returncode == 0, run.stderr
    listed = run_cli("exercise", "list")
    assert listed.returncode == 0
    assert all(ex.EXERCISES[n].file in listed.stdout for n in NUMBERS)
    assert "(an activation)" in listed.stdout and "(a layer)" in listed.stdout
    assert_clean_error(run_cli("exercise", "check", "1", cwd=tmp_path), 2, "exercises/01")
    broken = tmp_path / "broken.py"
    broken.write_text(textwrap.dedent("""\
        from nnlearn import Activation, register

        @register("my_sigmoid")
        class S(Activation):
            def forward(self, x)
                return x
        """), encoding="utf-8")
    assert_clean_error(run_cli("exercise", "check", "1", broken), 2, "broken.py:5", "syntax")


def test_a_solved_exercise_trains_as_a_plugin(tmp_path):
    """What exercises/01's docstring promises: the student's activation in a real run."""
    proc = run_cli("train", ROOT / "configs" / "xor.yaml", "--plugin", _file(SOLUTIONS, 1),
                   "--set", "model.activation=my_sigmoid", "--set", "training.epochs=5",
                   "--out", tmp_path / "run", "-q")
    assert proc.returncode == 0, proc.stderr
