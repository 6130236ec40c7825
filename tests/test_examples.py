"""``nnlearn examples``: the bundled lessons, written into a new folder with the layout the docs
use, and listed with what each teaches. (The same from an installed wheel: test_packaging.py.)"""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import CONFIGS, ROOT, assert_clean_error, run_cli

from nnlearn import lessons


def repo_lesson_files() -> dict[str, bytes]:
    return {p.relative_to(ROOT).as_posix(): p.read_bytes()
            for top in lessons.FOLDERS for p in sorted((ROOT / top).rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def test_examples_writes_every_lesson_file_and_prints_the_next_command(tmp_path):
    proc = run_cli("examples", "lessons", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    copied = {p.relative_to(tmp_path / "lessons").as_posix(): p.read_bytes()
              for p in (tmp_path / "lessons").rglob("*") if p.is_file()}
    assert copied == repo_lesson_files()
    assert "data/README.md" in copied and "configs/sweeps/learning-rate.yaml" in copied
    assert proc.stdout.splitlines()[-1] == "next: cd lessons && nnlearn train configs/iris.yaml"
    tops = sorted({name.split("/", 1)[0] + "/" for name in copied})
    assert proc.stdout.splitlines()[0].endswith(": " + ", ".join(tops))  # exercises/ too
    assert not [p for p in tmp_path.iterdir() if p.name != "lessons"]  # no temporary left


def test_a_copied_lesson_trains_and_evaluates_as_in_the_repository(tmp_path):
    assert run_cli("examples", "lessons", cwd=tmp_path).returncode == 0
    folder = tmp_path / "lessons"
    here = run_cli("train", "configs/xor.yaml", "--out", "runs/xor", "--json", cwd=folder)
    assert here.returncode == 0, here.stderr
    repo = run_cli("train", CONFIGS / "xor.yaml", "--out", tmp_path / "repo", "--json")
    assert json.loads(here.stdout)["metrics"] == json.loads(repo.stdout)["metrics"]
    evaluated = run_cli("eval", "runs/xor", "--json", cwd=folder)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["accuracy"] == 1.0


def test_examples_fills_an_existing_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli("examples", "empty", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "empty" / "configs" / "iris.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


@pytest.mark.parametrize("what", ["non-empty folder", "file"])
def test_examples_refuses_a_non_empty_folder_or_a_file(tmp_path, what):
    target = tmp_path / "target"
    if what == "file":
        target.write_text("mine\n")
    else:
        target.mkdir()
        (target / "notes.txt").write_text("mine\n")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    proc = run_cli("examples", target)
    assert_clean_error(proc, 2, str(target))
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    if what == "file":  # refused by the option's type, before any hint
        return
    # the hint suggests a folder that is free, not the one just refused
    assert proc.stderr.splitlines()[-1] == "name a new folder, e.g. nnlearn examples lessons"
    (tmp_path / "lessons").mkdir()
    (tmp_path / "lessons" / "x").write_text("")
    proc = run_cli("examples", tmp_path / "lessons")
    assert proc.stderr.splitlines()[-1] == "name a new folder, e.g. nnlearn examples lessons-2"


def test_examples_usage_errors():
    assert_clean_error(run_cli("examples"), 2, "FOLDER")
    assert_clean_error(run_cli("examples", "x", "--list"), 2, "--list")


def test_list_names_every_bundled_config_and_sweep_with_what_it_teaches():
    proc = run_cli("examples", "--list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    names = [line.split()[0] for line in lines]
    expected = sorted(p.relative_to(ROOT).as_posix() for p in CONFIGS.rglob("*.yaml"))
    assert sorted(names) == expected
    for line, lesson in zip(lines, lessons.list_lessons()):
        assert len(line) <= 100 and len(lesson.teaches) >= 10, line
        assert lesson.teaches in line


def test_what_a_lesson_teaches_comes_from_its_lesson_comment():
    text = ("# Title line of the file.\n# The lesson: watch the loss fall. Then more text\n"
            "# that goes on and on well past the width of one line of the listing, surely.\n"
            "seed: 0\n# The lesson: not this one\n")
    assert lessons._teaches(text, width=40) == "Watch the loss fall. Then more text..."
    assert lessons._teaches("# Only a title.\n\nseed: 1\n") == "Only a title."


def test_an_interrupted_copy_leaves_nothing_behind(tmp_path, monkeypatch):
    copies, real_copyfile = [], shutil.copyfile

    def copyfile(src, dst):
        if len(copies) == 5:
            raise OSError(28, "No space left on device")
        copies.append(dst)
        return real_copyfile(src, dst)

    monkeypatch.setattr(lessons.shutil, "copyfile", copyfile)
    with pytest.raises(OSError, match="No space"):
        lessons.copy_lessons(tmp_path / "lessons")
    assert list(tmp_path.iterdir()) == []


def test_the_lessons_come_from_the_repository_folders_in_a_clone():
    # one copy: the folders the README and the tests use, not a second one inside the package
    assert lessons.lessons_root() == ROOT
