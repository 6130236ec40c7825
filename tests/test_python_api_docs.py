"""docs/python-api.md stays true: its code blocks run, in order, in one namespace (a later
block uses an earlier one's variables), in a scratch folder with the bundled ``data/``; each
``nnlearn ...`` line of a ``bash`` block runs through the real CLI there and must succeed."""

from __future__ import annotations

import ast
import inspect
import re
import shlex

import pytest
from click.testing import CliRunner
from conftest import DATA, ROOT

from nnlearn.cli import cli

DOC = ROOT / "docs" / "python-api.md"
BLOCK = re.compile(r"```(python|bash)\n(.*?)```", re.DOTALL)


def test_the_python_api_examples_run(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    pytest.importorskip("pandas")  # the run-folder example writes a DataFrame to CSV
    (tmp_path / "data").symlink_to(DATA, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert [kind for kind, _ in blocks].count("python") >= 6
    namespace: dict = {"__name__": "python_api_doc"}
    for i, (kind, code) in enumerate(blocks):
        if kind == "python":
            exec(compile(code, f"{DOC.name} block {i + 1}", "exec"), namespace)  # noqa: S102 (our own doc)
            continue
        for line in code.splitlines():
            args = shlex.split(line, comments=True)
            assert args[0] == "nnlearn", line
            result = CliRunner().invoke(cli, args[1:])
            assert result.exit_code == 0, (line, result.output)
    # the bash block's predict wrote what the estimator predicts
    predicted = (tmp_path / "petal-width.csv").read_text().splitlines()[1:]
    frame = namespace["frame"][["sepal_length", "sepal_width", "petal_length"]]
    assert [float(v) for v in predicted] == pytest.approx(namespace["reg"].predict(frame),
                                                         rel=1e-12)


def test_the_parameter_table_gives_the_estimators_defaults():
    pytest.importorskip("sklearn")
    from nnlearn.sklearn import MLPClassifier, MLPRegressor

    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("| estimator parameter |"):]
    table = table[:table.index("\n\n")]
    documented = {}
    for row in table.splitlines()[2:]:
        params, _, default = [cell.strip() for cell in row.strip("|").split("|")]
        names = re.findall(r"`(\w+)`", params.split("(")[0])
        values = [ast.literal_eval(v) for v in re.findall(r"`([^`]+)`", default)]
        assert len(names) == len(values), row
        documented.update(zip(names, values))
    signature = {name: p.default for cls in (MLPClassifier, MLPRegressor)
                 for name, p in inspect.signature(cls).parameters.items()}
    assert documented == signature
