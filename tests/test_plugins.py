"""Plugins: ``register`` adds names the whole of nnlearn accepts; ``--plugin`` loads them from
the command line only; model files remember them; every refusal is a clean exit 2."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
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

from nnlearn.errors import ConfigError, NnlearnError
from nnlearn.nn.activations import ACTIVATIONS, DEFAULT_INIT, Activation
from nnlearn.nn.layers import Layer, Parameter
from nnlearn.nn.losses import LOSSES, Loss
from nnlearn.nn.optimizers import OPTIMIZERS, Optimizer, make_optimizer
from nnlearn.runs import extend, plugins
from nnlearn.runs.config import resolve

DOC = ROOT / "docs" / "plugins.md"
SOLUTIONS = ROOT / "tests" / "exercise_solutions"
BASE = {"data": {"train": "train.csv", "target": "y"}}


# Each test leaves the registries and the plugin loader as it found them (conftest.py).
pytestmark = pytest.mark.usefixtures("clean_plugin_registries")


def _swish_source() -> str:
    """The plugin file docs/plugins.md shows (its python block that starts '# swish.py')."""
    return doc_python_block(DOC, "# swish.py")


# ------------------------------------------------------------------------------------------
# the public API


def test_import_nnlearn_and_the_cli_do_not_load_numpy():
    code = ("import sys, nnlearn, nnlearn.cli; assert 'numpy' not in sys.modules; "
            "from nnlearn import register, Activation; assert 'numpy' in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT,
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr


def test_the_public_names_are_the_lesson_classes():
    import nnlearn

    assert (nnlearn.Activation, nnlearn.Layer, nnlearn.Loss, nnlearn.Optimizer) == (
        Activation, Layer, Loss, Optimizer)
    assert nnlearn.register is extend.register and nnlearn.Parameter is Parameter
    with pytest.raises(AttributeError):
        nnlearn.no_such_name  # noqa: B018


def test_builtin_activations_are_activations():
    assert all(issubclass(cls, Activation) for cls in ACTIVATIONS.values())


def test_a_registered_activation_is_a_config_name_and_goes_away_again():
    with pytest.raises(ConfigError, match="cube") as info:
        resolve({**BASE, "model": {"activation": "cube"}}, base_dir=Path("."))
    assert "--plugin FILE.py" in info.value.hint

    @extend.register("cube")
    class Cube(Activation):
        default_init = "he"

        def forward(self, x):
            self._x = x
            return x**3

        def backward(self, grad_out):
            return grad_out * 3 * self._x**2

    assert ACTIVATIONS["cube"] is Cube and Cube.kind == "cube" and DEFAULT_INIT["cube"] == "he"
    cfg = resolve({**BASE, "model": {"activation": "cube", "layers": [{"units": 3},
                   {"units": 2, "activation": "tanh"}]}}, base_dir=Path("."))
    assert [layer["activation"] for layer in cfg["model"]["layers"]] == ["cube", "tanh"]
    assert cfg["model"]["layers"][0]["init"] == "he"
    extend.unregister("cube")
    assert "cube" not in ACTIVATIONS and "cube" not in DEFAULT_INIT
    with pytest.raises(ConfigError, match="cube"):
        resolve({**BASE, "model": {"activation": "cube"}}, base_dir=Path("."))


def test_a_registered_optimizer_takes_its_settings_from_the_config():
    @extend.register("signsgd")
    class SignSGD(Optimizer):
        def __init__(self, params, lr, weight_decay=0.0, scale=1.0, every=1, flip=False):
            self.scale, self.every, self.flip = scale, every, flip
            super().__init__(params, lr, weight_decay)

        def _update(self, i, w, grad):
            w -= self.lr * self.scale * np.sign(grad)

    def training(optimizer):
        return resolve({**BASE, "training": {"optimizer": optimizer}},
                       base_dir=Path("."))["training"]["optimizer"]

    assert training("signsgd") == {"name": "signsgd", "scale": 1.0, "every": 1, "flip": False}
    assert training({"name": "signsgd", "scale": 2})["scale"] == 2.0
    for bad in ({"scale": "big"}, {"every": 1.5}, {"flip": 1}):
        with pytest.raises(ConfigError, match="training.optimizer."):
            training({"name": "signsgd", **bad})
    p = Parameter("w", np.array([1.0, -1.0]))
    p.grad[...] = [3.0, -0.5]
    opt = make_optimizer(training({"name": "signsgd", "scale": 2}), [p], lr=0.1,
                         weight_decay=0.0)
    opt.step()
    assert p.value.tolist() == pytest.approx([0.8, -0.8])
    assert SignSGD in OPTIMIZERS.values()


def test_only_plugin_settings_get_a_check_from_their_default():
    from nnlearn.nn.schedules import SCHEDULES
    from nnlearn.runs import config

    class NewSetting(Optimizer):
        def __init__(self, params, lr, weight_decay=0.0, brand_new=0.5):
            super().__init__(params, lr, weight_decay)

    NewSetting.__module__ = "nnlearn.nn.optimizers"  # as if nnlearn's own
    with pytest.raises(KeyError, match="brand_new"):
        config._specs_from({"new": NewSetting}, ("params", "lr", "weight_decay"))
    NewSetting.__module__ = "nnlearn_plugin_new"
    specs = config._specs_from({"new": NewSetting}, ("params", "lr", "weight_decay"))
    assert specs["new"]["brand_new"][0] == 0.5
    for registry in (OPTIMIZERS, SCHEDULES):  # the built-ins resolve with explicit checks
        for cls in registry.values():
            assert cls.__module__.startswith("nnlearn.")


def test_a_registered_loss_sets_its_name_and_a_layer_goes_to_layers():
    @extend.register("half_mse")
    class HalfMSE(Loss):
        def value(self, pred, target, weights=None):
            return float(np.mean((pred - target) ** 2) / 2)

        def gradient(self, pred, target, weights=None):
            return (pred - target) / pred.size

    @extend.register("scale")
    class Scale(Layer):
        def __init__(self):
            self.a = Parameter("scale.a", np.ones(1))

        def forward(self, x):
            self._x = x
            return x * self.a.value

        def backward(self, grad_out):
            self.a.grad[...] = np.sum(grad_out * self._x)
            return grad_out * self.a.value

    assert LOSSES["half_mse"] is HalfMSE and HalfMSE.name == "half_mse"
    assert extend.LAYERS["scale"] is Scale and Scale.kind == "scale"
    cfg = resolve({**BASE, "training": {"loss": "half_mse"}}, base_dir=Path("."))
    assert cfg["training"]["loss"] == "half_mse"


@pytest.mark.parametrize("name, error", [("relu", "built-in activation"),
                                         ("adam", "built-in optimizer"),
                                         ("mse", "built-in loss"), ("cosine", "schedule"),
                                         ("dense", "reserves"), ("Swish", "lower-case"),
                                         ("2x", "lower-case")])
def test_register_refuses_names_in_use_and_badly_formed(name, error):
    with pytest.raises(ValueError, match=error):
        @extend.register(name)
        class Same(Activation):
            def forward(self, x):
                return x

            def backward(self, grad_out):
                return grad_out


def test_register_refuses_a_second_registration_of_a_plugin_name():
    @extend.register("twice")
    class One(Activation):
        def forward(self, x):
            return x

        def backward(self, grad_out):
            return grad_out

    with pytest.raises(ValueError, match="registered before"):
        extend.register("twice")(One)


@pytest.mark.parametrize("source, error", [
    ("class C:\n    pass", "subclasses of Activation"),
    ("class C(Activation):\n    def forward(self, x):\n        return x", "backward"),
    (("class C(Activation):\n    def __init__(self, k):\n        self.k = k\n"
     "    def forward(self, x):\n        return x\n    def backward(self, g):\n        return g"),
     "without arguments"),
    ("class C(Loss):\n    def value(self, p, t, w=None):\n        return 0.0", "gradient"),
    (("class C(Loss):\n    task = 'ranking'\n    def value(self, p, t, w=None):\n"
     "        return 0.0\n    def gradient(self, p, t, w=None):\n        return p"), "task"),
    ("class C(Optimizer):\n    pass", "step"),
    (("class C(Optimizer):\n    def __init__(self, params, lr, weight_decay=0.0, beta=None, *,"
     " k):\n        super().__init__(params, lr)\n    def step(self):\n        pass"),
     "defaults"),
])
def test_register_refuses_classes_that_could_not_work(source, error):
    namespace = {"Activation": Activation, "Loss": Loss, "Optimizer": Optimizer}
    exec(source, namespace)  # noqa: S102 - the test's own snippets
    with pytest.raises((TypeError, ValueError), match=error):
        extend.register("thing")(namespace["C"])
    assert "thing" not in extend.REGISTERED


# ------------------------------------------------------------------------------------------
# the loader


def test_loader_reports_the_plugin_file_and_line(tmp_path):
    clash = write_dedented(tmp_path, "clash.py", """\
        from nnlearn import Activation, register

        @register("tanh")
        class T(Activation):
            def forward(self, x):
                return x
            def backward(self, g):
                return g
        """)
    # the decorator's line (Python >= 3.11) or the class line it decorates (3.10)
    with pytest.raises(plugins.PluginError, match=rf"{re.escape(str(clash))}:[34]: ValueError.*"
                                                   "built-in activation 'tanh'") as info:
        plugins.load_plugin(clash)
    assert info.value.hint is None
    syntax = write_dedented(tmp_path, "syntax.py", "import numpy\n\ndef f(:\n    pass\n")
    with pytest.raises(plugins.PluginError, match=r"syntax\.py:3: syntax error"):
        plugins.load_plugin(syntax)
    boom = write_dedented(tmp_path, "boom.py", """\
        from nnlearn import Activation, register

        @register("ok_before_boom")
        class A(Activation):
            def forward(self, x):
                return x
            def backward(self, g):
                return g

        def explode():
            return 1 / 0

        explode()
        """)
    with pytest.raises(plugins.PluginError, match=r"boom\.py:11: ZeroDivisionError") as info:
        plugins.load_plugin(boom)
    assert info.value.hint and "python " in info.value.hint
    assert "ok_before_boom" not in ACTIVATIONS  # nothing half-loaded stays registered
    nothing = write_dedented(tmp_path, "nothing.py", "x = 1\n")
    with pytest.raises(plugins.PluginError, match="registers nothing"):
        plugins.load_plugin(nothing)
    with pytest.raises(plugins.PluginError, match="no such file"):
        plugins.load_plugin(tmp_path / "missing.py")
    with pytest.raises(plugins.PluginError, match=r"\.py"):
        plugins.load_plugin(write_dedented(tmp_path, "plugin.txt", "x = 1\n"))


def test_loading_the_same_file_twice_runs_it_once(tmp_path):
    path = write_dedented(tmp_path, "swish.py", _swish_source())
    assert plugins.load_plugin(path) == ["swish"]
    assert plugins.load_plugin(str(path)) == ["swish"]
    assert plugins.loaded_paths()[-1] == str(path)
    assert plugins.plugins_of(["dense", "swish", "relu"]) == {"swish": "swish.py"}
    copy = write_dedented(tmp_path, "copy.py", _swish_source())
    with pytest.raises(plugins.PluginError, match=rf"copy\.py:\d+: .*registered before in "
                                                   rf"{re.escape(str(path))}") as info:
        plugins.load_plugin(copy)
    assert info.value.hint is None  # running copy.py alone would not show the clash


def test_model_metadata_must_name_plugins_properly():
    with pytest.raises(NnlearnError, match="not a valid"):
        plugins.check_names(["swish"], "m.npz")
    with pytest.raises(plugins.PluginError, match="'swish'.*s.py") as info:
        plugins.check_names({"swish": "s.py"}, "m.npz")
    assert info.value.hint == "load the file it was trained with: --plugin s.py"
    plugins.check_names(None, "m.npz")


# ------------------------------------------------------------------------------------------
# the command line, end to end


@pytest.fixture
def moons(tmp_path) -> Path:
    """A scratch folder laid out like the repository: configs/moons.yaml, data/, swish.py."""
    (tmp_path / "configs").mkdir()
    text = (CONFIGS / "moons.yaml").read_text(encoding="utf-8").replace("epochs: 200",
                                                                         "epochs: 15")
    (tmp_path / "configs" / "moons.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "data").symlink_to(DATA, target_is_directory=True)
    write_dedented(tmp_path, "swish.py", _swish_source())
    return tmp_path


def test_the_docs_example_runs_and_the_model_needs_its_plugin(moons):
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    lines = [line for line in blocks[0].splitlines() if line.strip()]
    assert [shlex.split(line)[1] for line in lines] == ["gradcheck", "train", "eval", "predict"]
    for line in lines:
        proc = run_cli(*shlex.split(line)[1:], cwd=moons)
        assert proc.returncode == 0, (line, proc.stderr)
        if "gradcheck" in line:
            assert "all tensors pass" in proc.stdout
        if " eval " in line:
            assert "accuracy" in proc.stdout
    meta = _model_meta(moons / "runs" / "swish" / "model.npz")
    assert meta["plugins"] == {"swish": "swish.py"}
    assert [s["type"] for s in meta["architecture"]][1] == "swish"
    predictions = (moons / "predictions.csv").read_text().splitlines()
    assert predictions[0] == "prediction" and len(predictions) > 100
    for args in (["eval", "runs/swish"], ["eval", "runs/swish/model.npz"],
                 ["predict", "runs/swish", "--data", "data/moons-test.csv"],
                 ["plot", "runs/swish", "--boundary", "--text"]):
        proc = run_cli(*args, cwd=moons)
        assert_clean_error(proc, 2, "'swish'", "--plugin swish.py")
    proc = run_cli("train", "--resume", "runs/swish", cwd=moons)
    assert_clean_error(proc, 2, "'swish'", "--plugin")
    plot = run_cli("plot", "runs/swish", "--boundary", "--text", "--plugin", "swish.py",
                   cwd=moons)
    assert plot.returncode == 0 and plot.stdout.strip(), plot.stderr


def _model_meta(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as f:
        return json.loads(f["meta.json"].tobytes().decode())


def test_gradcheck_fails_a_wrong_backward_naming_the_tensor(moons):
    wrong = _swish_source().replace("s + self._x * s * (1 - s)", "s")
    write_dedented(moons, "wrong.py", wrong)
    proc = run_cli("gradcheck", "configs/moons.yaml", "--plugin", "wrong.py",
                   "--set", "model.activation=swish", cwd=moons)
    assert_clean_error(proc, 4, "dense_1.W", "relative error")
    assert "FAIL" in proc.stdout


def test_summary_explain_and_choices_show_the_plugin_name(moons):
    common = ("configs/moons.yaml", "--plugin", "swish.py", "--set", "model.activation=swish")
    summary = run_cli("summary", *common, cwd=moons)
    assert summary.returncode == 0 and "swish" in summary.stdout
    explain = run_cli("explain", *common, "--batch", "4", cwd=moons)
    assert explain.returncode == 0 and "a = swish(z)" in explain.stdout
    typo = run_cli("summary", "configs/moons.yaml", "--plugin", "swish.py",
                   "--set", "model.activation=swosh", cwd=moons)
    assert_clean_error(typo, 2, "model.activation", "swish")


@pytest.mark.parametrize("text, patterns", [
    (("from nnlearn import Activation, register\n\n@register('relu')\nclass R(Activation):\n"
     "    def forward(self, x):\n        return x\n    def backward(self, g):\n        return g\n"),
     ("bad.py:", "built-in activation 'relu'")),  # line 3 (4 on Python 3.10: the class)
    ("import numpy\nraise RuntimeError('broken on purpose')\n", ("bad.py:2", "broken on purpose")),
    ("def f(:\n", ("bad.py:1", "syntax")),
])
def test_a_bad_plugin_is_a_clean_exit_2_on_every_command(moons, text, patterns):
    write_dedented(moons, "bad.py", text)
    for args in (["train", "configs/moons.yaml"], ["gradcheck", "configs/moons.yaml"],
                 ["eval", "configs"]):
        proc = run_cli(*args, "--plugin", "bad.py", cwd=moons)
        assert_clean_error(proc, 2, *patterns)


def test_a_plugin_loss_and_optimizer_train_and_the_model_records_both(moons):
    loss, opt = SOLUTIONS / "04_softmax_ce.py", SOLUTIONS / "03_momentum.py"
    proc = run_cli("train", "configs/moons.yaml", "--plugin", loss, "--plugin", opt,
                   "--set", "training.loss=my_cross_entropy",
                   "--set", "training.optimizer={name: my_momentum, momentum: 0.5}",
                   "--out", "runs/mine", "-q", cwd=moons)
    assert proc.returncode == 0, proc.stderr
    meta = _model_meta(moons / "runs" / "mine" / "model.npz")
    assert meta["plugins"] == {"my_cross_entropy": "04_softmax_ce.py"}  # the optimizer is
    assert meta["loss"] == "my_cross_entropy"  # not needed to use the model, only the loss
    data = ("--data", "data/moons-test.csv", "--proba")
    ok = run_cli("predict", "runs/mine/model.npz", "--plugin", loss, *data, cwd=moons)
    assert ok.returncode == 0 and ok.stdout.startswith("prediction,p_0,p_1"), ok.stderr
    # the run folder's config.yaml names the optimizer too, so the folder needs both files
    folder = run_cli("predict", "runs/mine", "--plugin", loss, *data, cwd=moons)
    assert_clean_error(folder, 2, "config.yaml", "'my_momentum'", "--plugin")
    both = run_cli("predict", "runs/mine", "--plugin", loss, "--plugin", opt, *data, cwd=moons)
    assert both.returncode == 0 and both.stdout == ok.stdout, both.stderr
    shown = ("configs/moons.yaml", "--plugin", loss, "--set", "training.loss=my_cross_entropy")
    summary = run_cli("summary", *shown, cwd=moons)
    assert "my_cross_entropy.output (in the loss)" in summary.stdout, summary.stderr
    explain = run_cli("explain", *shown, "--batch", "3", cwd=moons)
    assert "LOSS  my_cross_entropy: L = mean over the 3 rows of the per-row my_cross_entropy" \
        in explain.stdout, explain.stderr


def test_a_sweep_passes_its_plugins_to_every_worker(moons):
    sweep = write_dedented(moons, "sweep.yaml", """\
        base: configs/moons.yaml
        grid:
          model.activation: [swish, tanh]
        set:
          training.epochs: 3
        seeds: [0]
        """)
    printed = run_cli("sweep", sweep, "--plugin", "swish.py", "--print-commands", cwd=moons)
    assert printed.returncode == 0, printed.stderr
    assert all(f"--plugin {moons / 'swish.py'}" in line
               for line in printed.stdout.splitlines()), printed.stdout
    proc = run_cli("sweep", sweep, "--plugin", "swish.py", "--workers", "2", "--out", "sw",
                   "--json", cwd=moons)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    records = json.loads(proc.stdout)["records"]
    assert sorted(r["status"] for r in records) == ["ok", "ok"]
    without = run_cli("sweep", sweep, "--out", "sw2", cwd=moons)
    assert_clean_error(without, 2, "swish", "--plugin")


def test_configs_sweeps_and_model_files_cannot_load_code(moons):
    """Only --plugin runs code: a file that names a plugin path is refused and never run."""
    marker = moons / "ran.txt"
    evil = write_dedented(moons, "evil.py", f"""\
        open({str(marker)!r}, "w").write("ran")
        from nnlearn import Activation, register

        @register("swish")
        class S(Activation):
            def forward(self, x):
                return x
            def backward(self, g):
                return g
        """)
    config = moons / "configs" / "moons.yaml"
    proc = run_cli("train", config, "--set", f"plugin={evil}", cwd=moons)
    assert_clean_error(proc, 2, "plugin")
    write_dedented(moons, "sweep.yaml", f"base: configs/moons.yaml\nplugin: {evil}\n")
    assert_clean_error(run_cli("sweep", "sweep.yaml", "--out", "sw", cwd=moons), 2, "plugin")
    trained = run_cli("train", config, "--plugin", "swish.py", "--set", "model.activation=swish",
                      "--set", "training.epochs=1", "--out", "runs/s", "-q", cwd=moons)
    assert trained.returncode == 0, trained.stderr
    import json

    import numpy as np

    from nnlearn.runs.modelfile import META_KEY, save_arrays

    model = moons / "runs" / "s" / "model.npz"
    # read as plain arrays: nnlearn's own reader refuses the file here (no swish loaded)
    with np.load(model, allow_pickle=False) as z:
        arrays = {k.removesuffix(".npy"): z[k] for k in z.files if k != META_KEY}
        meta = json.loads(z[META_KEY].tobytes())
    meta["plugins"] = {"swish": str(evil)}  # a model file pointing at code to run
    save_arrays(model, arrays, meta)
    proc = run_cli("eval", model, "--data", "data/moons-test.csv", cwd=moons)
    assert_clean_error(proc, 2, "'swish'", "--plugin evil.py")
    assert str(evil) not in proc.stderr and not marker.exists()
    ok = run_cli("eval", model, "--plugin", "swish.py", "--data", "data/moons-test.csv",
                 cwd=moons)
    assert ok.returncode == 0, ok.stderr


def test_config_show_takes_plugins(moons):
    proc = run_cli("config", "show", "configs/moons.yaml", "--plugin", "swish.py",
                   "--set", "model.activation=swish", cwd=moons)
    assert proc.returncode == 0 and "activation: swish" in proc.stdout, proc.stderr


def test_an_exception_in_a_plugins_code_is_the_plugins_error_and_leaves_no_run(tmp_path):
    # a student's unfinished exercise: exit 2 naming the file and line, not "a bug in nnlearn"
    exercise = ROOT / "exercises" / "01_sigmoid.py"
    for args in (("train", CONFIGS / "moons.yaml", "--out", tmp_path / "run"),
                 ("explain", CONFIGS / "moons.yaml"),
                 ("gradcheck", CONFIGS / "moons.yaml")):
        proc = run_cli(*args, "--plugin", exercise, "--set", "model.activation=my_sigmoid")
        first = assert_clean_error(proc, 2, "NotImplementedError: your code here",
                                   "plugin's code")
        assert re.search(r"01_sigmoid\.py:\d+: ", first), first
    assert not (tmp_path / "run").exists()


def test_a_plugin_that_returns_the_wrong_shape_is_pointed_at_and_leaves_no_run(tmp_path):
    plugin = write_dedented(tmp_path, "bad.py", """
        import numpy as np
        from nnlearn import Activation, register

        @register("half")
        class Half(Activation):
            def forward(self, x):
                return x
            def backward(self, grad_out):
                return grad_out[:, :1]  # one column too few: numpy fails in nnlearn's code
        """)
    proc = run_cli("train", CONFIGS / "xor.yaml", "--out", tmp_path / "run", "--plugin", plugin,
                   "--set", "model.activation=half")
    assert proc.returncode == 1, proc.stderr
    assert "bad.py" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()
