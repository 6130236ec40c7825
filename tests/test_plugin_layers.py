"""Plugin layers with weights: a registered Layer placed by ``model.layers`` trains, saves,
evaluates and predicts through the command line with ``--plugin``, is checked by gradcheck, and
every refusal (a missing plugin, a bad setting, a constructor nnlearn cannot call) exits 2."""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    CONFIGS,
    DATA,
    ROOT,
    assert_clean_error,
    doc_python_block,
    run_cli,
    write_dedented,
)

from nnlearn.errors import ConfigError
from nnlearn.nn.layers import Layer
from nnlearn.runs import extend, plugins
from nnlearn.runs.config import dump_config, resolve, yaml_load
from nnlearn.runs.modelfile import META_KEY, save_arrays

DOC = ROOT / "docs" / "plugins.md"
SOLUTIONS = ROOT / "tests" / "exercise_solutions"
BASE = {"data": {"train": "train.csv", "target": "y"}}
LAYERS = "model.layers=[{type: low_rank, units: 16, rank: 2}, {units: 16}]"

pytestmark = pytest.mark.usefixtures("clean_plugin_registries")


def _lowrank_source() -> str:
    """The plugin file docs/plugins.md shows (its python block that starts '# lowrank.py')."""
    return doc_python_block(DOC, "# lowrank.py")


def _meta(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as f:
        return json.loads(f[META_KEY].tobytes().decode())


def _scratch(folder: Path) -> Path:
    """A folder laid out like the repository: configs/moons.yaml, data/, lowrank.py."""
    (folder / "configs").mkdir()
    text = (CONFIGS / "moons.yaml").read_text(encoding="utf-8").replace("epochs: 200",
                                                                         "epochs: 15")
    (folder / "configs" / "moons.yaml").write_text(text, encoding="utf-8")
    (folder / "data").symlink_to(DATA, target_is_directory=True)
    write_dedented(folder, "lowrank.py", _lowrank_source())
    return folder


@pytest.fixture
def moons(tmp_path) -> Path:
    return _scratch(tmp_path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The docs' layer example run from its bash block: gradcheck, train, eval, predict,
    summary (once for the tests that read the run; they only read it)."""
    moons = _scratch(tmp_path_factory.mktemp("lowrank"))
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    block = next(b for b in blocks if "lowrank.py" in b)
    lines = [shlex.split(line) for line in block.splitlines() if line.strip()]
    assert [words[1] for words in lines] == ["gradcheck", "train", "eval", "predict", "summary"]
    for words in lines:
        proc = run_cli(*words[1:], cwd=moons)
        assert proc.returncode == 0, (words, proc.stderr)
        if words[1] == "gradcheck":
            assert "all tensors pass" in proc.stdout
            assert {"low_rank_1.U", "low_rank_1.V", "low_rank_1.b"} <= {
                line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
        if words[1] == "eval":
            accuracy = float(re.search(r"accuracy\s+([\d.]+)", proc.stdout).group(1))
            assert accuracy > 0.8, proc.stdout  # it learned: the moons are not linear
        if words[1] == "summary":
            row = next(r for r in proc.stdout.splitlines() if r.startswith("low_rank_1"))
            # U 2x2 (rank 2 capped by 2 inputs) + V 2x16 as weights, b as biases
            assert row.split()[1:7] == ["low_rank", "relu", "2", "16", "36", "16"], row
            assert "Plugin layers (low_rank)" in proc.stdout
    return moons


def test_the_docs_layer_example_trains_evaluates_and_predicts(trained):
    model = trained / "runs" / "lowrank" / "model.npz"
    meta = _meta(model)
    assert meta["plugins"] == {"low_rank": "lowrank.py"}
    assert meta["architecture"][0] == {"type": "low_rank", "in": 2, "out": 16,
                                       "name": "low_rank_1", "rank": 2}
    with np.load(model, allow_pickle=False) as z:
        assert z["param/low_rank_1.U"].shape == (2, 2)
        assert z["param/low_rank_1.V"].shape == (2, 16)
    predictions = (trained / "predictions.csv").read_text().splitlines()
    assert predictions[0] == "prediction" and len(predictions) == 201
    # the same predictions from the model file alone, and from the Python API
    again = run_cli("predict", model, "--plugin", "lowrank.py", "--data",
                    "data/moons-test.csv", cwd=trained)
    assert again.returncode == 0 and again.stdout.splitlines() == predictions, again.stderr


def test_without_the_plugin_the_model_is_refused(trained):
    for args in (["eval", "runs/lowrank"], ["eval", "runs/lowrank/model.npz"],
                 ["predict", "runs/lowrank", "--data", "data/moons-test.csv"],
                 ["train", "--resume", "runs/lowrank"]):
        proc = run_cli(*args, cwd=trained)
        assert_clean_error(proc, 2, "'low_rank'", "--plugin")
    proc = run_cli("eval", "runs/lowrank/model.npz", cwd=trained)
    assert_clean_error(proc, 2, "--plugin lowrank.py")


def test_the_report_labels_each_dense_by_its_own_activation(moons):
    # A plugin layer between two Dense layers: the activation after it is its own, not the
    # Dense before it; and the network picture, which chains Dense W and b, is left out
    # rather than misdrawn.
    layers = ("model.layers=[{units: 16, activation: relu}, "
              "{type: low_rank, units: 16, rank: 2, activation: tanh}]")
    proc = run_cli("train", "configs/moons.yaml", "--plugin", "lowrank.py", "--set", layers,
                   "--out", "runs/mixed", "-q", cwd=moons)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("report", "runs/mixed", "--plugin", "lowrank.py", "-o", "r.html", cwd=moons)
    assert proc.returncode == 0, proc.stderr
    html = (moons / "r.html").read_text(encoding="utf-8")
    assert "dense_1 (relu)" in html and "dense_3 (output)" in html
    assert "dense_1 (tanh)" not in html
    assert '"net":null' in html


def test_explain_shows_the_layers_parameters_and_gradients(moons):
    proc = run_cli("explain", "configs/moons.yaml", "--plugin", "lowrank.py", "--set", LAYERS,
                   "--batch", "3", cwd=moons)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "low_rank_1: z = low_rank(x), a = relu(z)" in out
    for title in ("U (2×2)", "V (2×16)", "dL/dU, from its backward (2×2)",
                  "dL/dV, from its backward (2×16)", "dL/dx, from its backward (3×2)"):
        assert title in out, title
    assert "dense_2: z = x·W + b, a = relu(z), x = a of low_rank_1" in out


def test_gradcheck_fails_a_wrong_backward_naming_the_tensor(moons):
    wrong = _lowrank_source().replace("self.U.grad[...] = self._x.T @ grad_h",
                                      "self.U.grad[...] = self._x.T @ grad_out @ self.V.value.T"
                                      " * 2")
    assert wrong != _lowrank_source()
    write_dedented(moons, "wrong.py", wrong)
    proc = run_cli("gradcheck", "configs/moons.yaml", "--plugin", "wrong.py", "--set", LAYERS,
                   cwd=moons)
    assert_clean_error(proc, 4, "low_rank_1.U", "relative error")
    failed = [line.split()[0] for line in proc.stdout.splitlines() if line.endswith("FAIL")]
    assert failed == ["low_rank_1.U"], proc.stdout


@pytest.mark.parametrize("layer, patterns", [
    ("{type: low_rank, units: 16, rnak: 2}", ("model.layers[0].rnak", "did you mean 'rank'")),
    ("{type: low_rank, units: 16, rank: two}", ("model.layers[0].rank", "integer")),
    ("{type: low_rank, units: 16, rank: 1.5}", ("model.layers[0].rank", "integer")),
    ("{type: low_rank, units: 16, init: he}", ("model.layers[0].init", "unknown key")),
    ("{type: low_rank}", ("model.layers[0].units", "missing")),
    ("{type: lowrank, units: 16}", ("model.layers[0].type", "did you mean 'low_rank'")),
    ("{type: [low_rank], units: 16}", ("model.layers[0].type", "expected one of dense")),
    # a value only the layer's own code refuses: its error, the entry and the plugin's line
    ("{type: low_rank, units: 16, rank: 0}", ("model.layers[0]", "rank must be at least 1",
                                               "lowrank.py:")),
])
def test_a_bad_plugin_layer_entry_is_a_clean_exit_2(moons, layer, patterns):
    proc = run_cli("summary", "configs/moons.yaml", "--plugin", "lowrank.py",
                   "--set", f"model.layers=[{layer}, {{units: 16}}]", cwd=moons)
    assert_clean_error(proc, 2, *patterns)


def test_an_unloaded_layer_type_names_the_flag(moons):
    proc = run_cli("train", "configs/moons.yaml", "--set", LAYERS, cwd=moons)
    assert_clean_error(proc, 2, "model.layers[0].type", "'low_rank'", "--plugin FILE.py")


def test_a_plugin_activation_after_a_plugin_layer(moons):
    swish = doc_python_block(DOC, "# swish.py")
    write_dedented(moons, "swish.py", swish)
    proc = run_cli("summary", "configs/moons.yaml", "--plugin", "lowrank.py", "--plugin",
                   "swish.py", "--set",
                   "model.layers=[{type: low_rank, units: 16, activation: swish}, {units: 16}]",
                   cwd=moons)
    assert proc.returncode == 0, proc.stderr
    row = next(r for r in proc.stdout.splitlines() if r.startswith("low_rank_1"))
    assert row.split()[1:3] == ["low_rank", "swish"]


def test_a_layer_without_dtype_trains_in_float32(moons):
    """Exercise 2's layer takes (d_in, d_out, *, rng, name): placeable; its float64 arrays are
    brought to the model's dtype."""
    solution = SOLUTIONS / "02_dense.py"
    proc = run_cli("train", "configs/moons.yaml", "--plugin", solution, "--set",
                   "model.layers=[{type: my_dense, units: 8}, {units: 16}]", "--set",
                   "model.hidden=[8, 16]", "--set", "training.dtype=float32", "--out", "runs/f",
                   "-q", cwd=moons)
    assert proc.returncode == 0, proc.stderr
    with np.load(moons / "runs" / "f" / "model.npz", allow_pickle=False) as z:
        assert z["param/my_dense_1.W"].dtype == np.float32
        assert z["param/my_dense_1.W"].shape == (2, 8)
    ok = run_cli("eval", "runs/f", "--plugin", solution, cwd=moons)
    assert ok.returncode == 0 and "accuracy" in ok.stdout, ok.stderr


def test_a_model_file_whose_layer_disagrees_with_its_arrays_is_refused(trained):
    model = trained / "runs" / "lowrank" / "model.npz"
    with np.load(model, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != META_KEY}
    meta = _meta(model)
    for change, pattern in ((lambda m: m["architecture"][0].update(rank=1), "shape"),
                            (lambda m: m["architecture"][0].update(rnak=2), "rnak"),
                            (lambda m: m["architecture"][0].update(rank="2"), "rank"),
                            (lambda m: m["architecture"][0].update(out=17), "(2, 17)")):
        tampered = json.loads(json.dumps(meta))
        change(tampered)
        path = trained / "tampered.npz"  # beside the run, which stays as it was
        save_arrays(path, arrays, tampered)
        proc = run_cli("eval", path, "--plugin", "lowrank.py", "--data", "data/moons-test.csv",
                       cwd=trained)
        assert_clean_error(proc, 2, "not a valid nnlearn model file", pattern)


# ------------------------------------------------------------------------------------------
# in process: the constructor protocol and the config


def _layer_class(init_source: str) -> type:
    namespace: dict = {"Layer": Layer, "np": np}
    exec(textwrap.dedent(f"""\
        class C(Layer):
            {init_source}
            def forward(self, x):
                return x
            def backward(self, g):
                return g
        """), namespace)  # noqa: S102 - the test's own snippets
    return namespace["C"]


@pytest.mark.parametrize("init_source, error", [
    ("def __init__(self, *, rng, name): pass", "d_in and d_out"),
    ("def __init__(self, d_in, d_out, *, name): pass", "lacks rng"),
    ("def __init__(self, d_in, d_out, *, rng): pass", "lacks name"),
    ("def __init__(self, d_in, d_out, *, rng, name, k): pass", "need defaults"),
    ("def __init__(self, d_in, d_out, *, rng, name, units=3): pass", "units"),
    ("def __init__(self, d_in, d_out, *, rng, name, k=(1,)): pass", "number, true/false"),
])
def test_register_checks_a_layers_constructor(init_source, error):
    with pytest.raises(TypeError, match=re.escape(error)) as info:
        extend.register("thing")(_layer_class(init_source))
    assert "thing" not in extend.REGISTERED
    if "d_in" in error or "lacks" in error:
        assert extend.LAYER_PROTOCOL in str(info.value)


def test_a_layer_built_by_python_only_is_refused_by_model_layers(tmp_path):
    extend.register("no_args")(_layer_class("def __init__(self): pass"))
    with pytest.raises(ConfigError, match=r"model\.layers\[0\]\.type: .*takes no arguments") \
            as info:
        resolve({**BASE, "model": {"layers": [{"type": "no_args", "units": 3}]}},
                base_dir=tmp_path)
    assert extend.LAYER_PROTOCOL in info.value.hint


def test_plugin_layer_settings_resolve_and_round_trip(tmp_path):
    path = write_dedented(tmp_path, "lowrank.py", _lowrank_source())
    plugins.load_plugin(path)
    extend.register("with_init")(_layer_class(
        "def __init__(self, d_in, d_out, *, rng, name, init='he', gain=1.0, on=True): pass"))
    raw = {**BASE, "model": {"activation": "tanh", "layers": [
        {"type": "low_rank", "units": 4}, {"type": "with_init", "units": 3, "gain": 2},
        {"type": "dense", "units": 2}]}}
    cfg = resolve(raw, base_dir=tmp_path)
    assert cfg["model"]["layers"] == [
        {"type": "low_rank", "units": 4, "activation": "tanh", "dropout": 0.0, "rank": 2},
        {"type": "with_init", "units": 3, "activation": "tanh", "dropout": 0.0,
         "init": "xavier", "gain": 2.0, "on": True},
        {"units": 2, "activation": "tanh", "dropout": 0.0, "init": "xavier"}]
    assert cfg["model"]["hidden"] == [4, 3, 2]
    assert resolve(yaml_load(dump_config(cfg), "dump"), base_dir=tmp_path) == cfg
    with pytest.raises(ConfigError, match=r"model\.layers\[1\]\.on"):
        resolve({**BASE, "model": {"layers": [{"units": 2},
                                              {"type": "with_init", "units": 3, "on": 1}]}},
                base_dir=tmp_path)


def test_config_show_writes_the_plugin_layer_back(moons):
    proc = run_cli("config", "show", "configs/moons.yaml", "--plugin", "lowrank.py",
                   "--set", "model.layers=[{type: low_rank, units: 16, rank: 3}, {units: 16}]",
                   cwd=moons)
    assert proc.returncode == 0, proc.stderr
    shown = yaml_load(proc.stdout, "shown")["model"]["layers"]
    assert shown[0] == {"type": "low_rank", "units": 16, "activation": "relu", "dropout": 0.0,
                        "rank": 3}
    assert "init: he  # auto, for relu" in proc.stdout  # from the one layer that has an init
