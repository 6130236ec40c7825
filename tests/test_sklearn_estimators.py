"""nnlearn's scikit-learn estimators: the same run as the CLI, reproducible, usable in a grid
search, and exchangeable with run folders in both directions."""

from __future__ import annotations

import csv
import inspect
import io
import json

import numpy as np
import pytest

pytest.importorskip("sklearn")

from conftest import DATA, run_cli
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from nnlearn.data import read_csv
from nnlearn.errors import NnlearnError
from nnlearn.runs.config import OPTIMIZER_PARAMS, SCHEDULE_PARAMS, resolve
from nnlearn.runs.modelfile import load_model
from nnlearn.runs.run import read_history, train
from nnlearn.sklearn import MLPClassifier, MLPRegressor

IRIS_TRAIN, IRIS_TEST = DATA / "iris-train.csv", DATA / "iris-test.csv"
DIABETES_TRAIN, DIABETES_TEST = DATA / "diabetes-train.csv", DATA / "diabetes-test.csv"


def table(path, target):
    t = read_csv(path, target=target)
    return t.X, t.y, t.feature_names


def cli_run(tmp_path, raw: dict):
    """Train with the library behind ``nnlearn train`` and return the run folder."""
    cfg = resolve(raw, base_dir=tmp_path)
    return train(cfg, out=tmp_path / "cli-run").run_dir


def weights_of(est) -> list[np.ndarray]:
    return [a for pair in zip(est.coefs_, est.intercepts_) for a in pair]


def run_weights(run_dir) -> list[np.ndarray]:
    w = load_model(run_dir / "model.npz").network.get_weights()
    n = len(w) // 2
    return [w[f"dense_{i}.{p}"] for i in range(1, n + 1) for p in "Wb"]


# -- the same run as the CLI ---------------------------------------------------------------------

CLASSIFIER_CASES = {
    "sgd-momentum": (
        {"model": {"hidden": [8], "activation": "tanh"},
         "training": {"epochs": 5, "batch_size": 16, "learning_rate": 0.05,
                      "optimizer": {"name": "sgd", "momentum": 0.9}},
         "data": {"val_fraction": 0.0}},
        {"hidden_layer_sizes": (8,), "activation": "tanh", "max_iter": 5, "batch_size": 16,
         "learning_rate_init": 0.05, "momentum": 0.9, "validation_fraction": 0.0}),
    "adam-early-stopping-balanced": (
        {"model": {"hidden": [6, 5]},
         "training": {"epochs": 40, "batch_size": 8, "learning_rate": 0.01, "optimizer": "adam",
                      "weight_decay": 0.001, "class_weight": "balanced",
                      "schedule": {"name": "step", "step_size": 3, "gamma": 0.7},
                      "early_stopping": {"patience": 2}},
         "data": {"val_fraction": 0.25}},
        {"hidden_layer_sizes": (6, 5), "max_iter": 40, "batch_size": 8, "optimizer": "adam",
         "learning_rate_init": 0.01, "alpha": 0.001, "class_weight": "balanced",
         "schedule": {"name": "step", "step_size": 3, "gamma": 0.7},
         "early_stopping": True, "validation_fraction": 0.25, "n_iter_no_change": 2}),
    # Without early stopping the CLI still holds out val_fraction, and so does the estimator.
    "validation-rows-without-early-stopping": (
        {"training": {"epochs": 6, "early_stopping": None}, "data": {"val_fraction": 0.3}},
        {"max_iter": 6, "early_stopping": False, "validation_fraction": 0.3}),
    # Only the data: every other setting is both sides' default.
    "defaults": ({"data": {}}, {}),
}


@pytest.mark.parametrize("case", sorted(CLASSIFIER_CASES))
def test_classifier_gives_the_cli_weights(tmp_path, case):
    config, params = CLASSIFIER_CASES[case]
    raw = {"seed": 3, **config}
    raw["data"] = {"train": str(IRIS_TRAIN), "target": "species", **config["data"]}
    run_dir = cli_run(tmp_path, raw)
    X, y, _ = table(IRIS_TRAIN, "species")
    est = MLPClassifier(random_state=3, **params).fit(X, y)
    for ours, theirs in zip(weights_of(est), run_weights(run_dir), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    history = read_history(run_dir / "history.csv")
    assert est.loss_curve_ == [h["train_loss"] for h in history]
    if "n_iter_no_change" in params:
        assert est.n_iter_ < est.max_iter  # it did stop early, as the CLI run did
    if est.validation_fraction:
        assert est.validation_scores_ == [h["val_accuracy"] for h in history]
    else:
        assert est.validation_scores_ is None


def test_regressor_gives_the_cli_weights(tmp_path):
    raw = {"seed": 11,
           "data": {"train": str(DIABETES_TRAIN), "target": "target", "task": "regression",
                    "val_fraction": 0.0},
           "model": {"hidden": [8], "activation": "relu"},
           "training": {"epochs": 4, "batch_size": 32, "learning_rate": 0.01,
                        "optimizer": {"name": "rmsprop", "momentum": 0.5}}}
    run_dir = cli_run(tmp_path, raw)
    X, y, _ = table(DIABETES_TRAIN, "target")
    est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=4, optimizer="rmsprop", momentum=0.5,
                       validation_fraction=0.0, random_state=11).fit(X, y.astype(float))
    for ours, theirs in zip(weights_of(est), run_weights(run_dir), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_default_regressor_gives_the_cli_weights(tmp_path):
    raw = {"seed": 4, "data": {"train": str(DIABETES_TRAIN), "target": "target"}}
    run_dir = cli_run(tmp_path, raw)
    X, y, _ = table(DIABETES_TRAIN, "target")
    est = MLPRegressor(random_state=4).fit(X, y.astype(float))
    for ours, theirs in zip(weights_of(est), run_weights(run_dir), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert est.loss_curve_ == [h["train_loss"] for h in read_history(run_dir / "history.csv")]


# -- the defaults are the config's ---------------------------------------------------------------

def _stopping(cfg: dict) -> dict:
    """The default early stopping's settings (what ``early_stopping: true`` means if it is off)."""
    return cfg["training"]["early_stopping"] or resolve(
        {"data": cfg["data"], "training": {"early_stopping": True}},
        base_dir=DATA)["training"]["early_stopping"]


#: estimator parameter -> its value in a resolved config (the module docstring's table).
CONFIG_VALUE = {
    "hidden_layer_sizes": lambda c: tuple(c["model"]["hidden"]),
    "activation": lambda c: c["model"]["activation"],
    "dropout": lambda c: c["model"]["dropout"],
    "init": lambda c: c["model"]["init"],
    "optimizer": lambda c: c["training"]["optimizer"]["name"],
    "momentum": lambda c: c["training"]["optimizer"].get("momentum", 0.0),
    "learning_rate_init": lambda c: c["training"]["learning_rate"],
    "schedule": lambda c: c["training"]["schedule"]["name"],
    "batch_size": lambda c: c["training"]["batch_size"],
    "max_iter": lambda c: c["training"]["epochs"],
    "shuffle": lambda c: c["training"]["shuffle"],
    "alpha": lambda c: c["training"]["weight_decay"],
    "loss": lambda c: c["training"]["loss"],
    "clip_grad_norm": lambda c: c["training"]["clip_grad_norm"],
    "clip_grad_value": lambda c: c["training"]["clip_grad_value"],
    "early_stopping": lambda c: c["training"]["early_stopping"] is not None,
    "n_iter_no_change": lambda c: _stopping(c)["patience"],
    "tol": lambda c: _stopping(c)["min_delta"],
    "restore_best_weights": lambda c: _stopping(c)["restore_best_weights"],
    "validation_fraction": lambda c: c["data"]["val_fraction"],
    "standardize": lambda c: c["data"]["standardize"],
    "standardize_target": lambda c: c["data"]["standardize_target"],
    "class_weight": lambda c: c["training"]["class_weight"],
    "dtype": lambda c: c["training"]["dtype"],
    "random_state": lambda c: c["seed"],
}


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_every_default_is_the_config_default(cls):
    cfg = resolve({"data": {"train": str(IRIS_TRAIN), "target": "species"}}, base_dir=DATA)
    params = inspect.signature(cls).parameters
    assert set(params) <= set(CONFIG_VALUE), "a parameter without its config key in the table"
    for name, param in params.items():
        assert param.default == CONFIG_VALUE[name](cfg), name
        assert type(param.default) is type(CONFIG_VALUE[name](cfg)), name
    # The defaults name the optimizer and the schedule; a name means its class's own settings,
    # so the config's default settings (momentum apart, a parameter of its own) must be those.
    optimizer = dict(cfg["training"]["optimizer"])
    name = optimizer.pop("name")
    optimizer.pop("momentum", None)
    assert optimizer == {k: v for k, v in OPTIMIZER_PARAMS[name].items() if k != "momentum"}
    schedule = dict(cfg["training"]["schedule"])
    assert schedule == {"name": schedule["name"], **SCHEDULE_PARAMS[schedule["name"]]}


def test_no_validation_rows_means_no_early_stopping():
    X, y, _ = table(IRIS_TRAIN, "species")
    # No epoch improves the validation loss by 1.0: early stopping ends the second epoch.
    settings = {"n_iter_no_change": 1, "tol": 1.0, "max_iter": 30, "random_state": 0}
    held_out = MLPClassifier(**settings).fit(X, y)
    assert held_out.n_iter_ == 2 and len(held_out.validation_scores_) == 2
    every_row = MLPClassifier(validation_fraction=0.0, **settings).fit(X, y)
    assert every_row.n_iter_ == 30 and every_row.validation_scores_ is None
    with pytest.raises(ValueError, match="n_samples=1"):
        MLPRegressor().fit(X[:1], [1.0])
    one = MLPRegressor(early_stopping=False, max_iter=2).fit(X[:1], [1.0])
    assert one.n_iter_ == 2


def test_momentum_is_ignored_by_optimizers_without_one():
    X, y, _ = table(IRIS_TRAIN, "species")
    a = MLPClassifier(optimizer="adam", max_iter=3, random_state=0).fit(X, y)
    b = MLPClassifier(optimizer="adam", momentum=0.0, max_iter=3, random_state=0).fit(X, y)
    for wa, wb in zip(weights_of(a), weights_of(b), strict=True):
        np.testing.assert_array_equal(wa, wb)


# -- reproducible --------------------------------------------------------------------------------

def test_random_state_makes_fits_reproducible():
    X, y, _ = table(IRIS_TRAIN, "species")
    a = MLPClassifier(max_iter=3, random_state=5).fit(X, y)
    b = MLPClassifier(max_iter=3, random_state=5).fit(X, y)
    c = MLPClassifier(max_iter=3, random_state=6).fit(X, y)
    for wa, wb in zip(weights_of(a), weights_of(b)):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])
    d = MLPClassifier(max_iter=3).fit(X, y)
    e = MLPClassifier(max_iter=3).fit(X, y)
    assert not np.array_equal(d.coefs_[0], e.coefs_[0])  # None: a fresh seed each fit


def test_partial_fit_continues_exactly_where_fit_would():
    X, y, _ = table(IRIS_TRAIN, "species")
    settings = {"hidden_layer_sizes": (7,), "momentum": 0.9, "random_state": 2,
                "validation_fraction": 0.0,
                "schedule": {"name": "step", "step_size": 1, "gamma": 0.5}}
    full = MLPClassifier(max_iter=3, **settings).fit(X, y)
    step = MLPClassifier(**settings)
    for _ in range(3):
        step.partial_fit(X, y, classes=np.unique(y))
    assert step.n_iter_ == 3 and len(step.loss_curve_) == 3
    for a, b in zip(weights_of(full), weights_of(step)):
        np.testing.assert_array_equal(a, b)
    step.partial_fit(X[:10], y[:10])  # and on: a fourth epoch, on a batch of rows
    assert step.n_iter_ == 4
    assert not np.array_equal(step.coefs_[0], full.coefs_[0])


def test_partial_fit_refuses_a_label_outside_classes():
    X, y, _ = table(IRIS_TRAIN, "species")
    est = MLPClassifier(random_state=0).partial_fit(X[:20], y[:20], classes=np.unique(y))
    with pytest.raises(ValueError, match="not in classes_"):
        est.partial_fit(X[:2], np.array(["rose", "setosa"]))


# -- scikit-learn tools --------------------------------------------------------------------------

def test_pipeline_in_a_parallel_grid_search():
    X, y, _ = table(IRIS_TRAIN, "species")
    pipe = Pipeline([("scale", StandardScaler()),
                     ("mlp", MLPClassifier(max_iter=40, standardize=False, random_state=0))])
    grid = {"mlp__hidden_layer_sizes": [(4,), (16,)], "mlp__learning_rate_init": [0.001, 0.1]}
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=2, error_score="raise").fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.isfinite(scores).all()
    assert search.best_params_["mlp__learning_rate_init"] == 0.1  # 40 epochs at 0.001: too slow
    Xt, yt, _ = table(IRIS_TEST, "species")
    assert search.score(Xt, yt) > 0.8


def test_invalid_parameters_are_value_errors_naming_the_parameter():
    X, y, _ = table(IRIS_TRAIN, "species")
    cases = [({"learning_rate_init": -1.0}, "learning_rate_init"),
             ({"optimizer": {"name": "adam", "beta1": 2.0}}, "optimizer.beta1"),
             ({"optimizer": {"name": "sgd", "momentum": 0.5}}, "momentum"),
             ({"momentum": 1.5}, "momentum"),
             ({"activation": "swish"}, "activation"),
             ({"hidden_layer_sizes": (4, 0)}, "hidden_layer_sizes"),
             ({"batch_size": "half"}, "batch_size"),
             ({"dtype": "int8"}, "dtype"),
             ({"class_weight": {"rose": 2.0}}, "class_weight"),
             # the lesson's classes trust their settings: the config's rules check these
             ({"alpha": -0.1}, "alpha"),
             ({"schedule": {"name": "step", "gamma": 0.0}}, "schedule.gamma"),
             ({"schedule": {"name": "cosine", "warmup_epochs": 5}}, "schedule.warmup_epochs"),
             ({"clip_grad_norm": 0.0}, "clip_grad_norm"),
             ({"init": "zeros"}, "init"),
             # a monitor the run would not compute: refused before the first epoch
             ({"schedule": {"name": "plateau", "monitor": "val_r2"}}, "schedule.monitor"),
             ({"schedule": {"name": "plateau"}, "validation_fraction": 0.0,
               "early_stopping": False}, "schedule.monitor")]
    for params, name in cases:
        with pytest.raises(ValueError, match=name):
            MLPClassifier(max_iter=1, **params).fit(X, y)


def test_messages_name_the_estimators_parameters_not_config_keys():
    X, y = np.random.default_rng(0).random((20, 2)), np.arange(20) % 2
    with pytest.raises(ValueError, match="validation_fraction is 0") as info:
        MLPClassifier(max_iter=1, schedule={"name": "plateau"}, validation_fraction=0.0,
                      early_stopping=False).fit(X, y)
    assert "data.val_fraction" not in str(info.value)


def test_an_unknown_name_gets_a_hint_for_python_not_for_the_command_line():
    X, y = np.random.default_rng(0).random((20, 2)), np.arange(20) % 2
    with pytest.raises(ValueError, match="did you mean 'adam'") as info:
        MLPClassifier(max_iter=1, optimizer="Adam").fit(X, y)
    assert "nnlearn.register" in str(info.value) and "--plugin" not in str(info.value)


# -- run folders ---------------------------------------------------------------------------------

def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_classifier_run_folder_is_read_by_eval_and_predict(tmp_path):
    pd = pytest.importorskip("pandas")
    train_df, test_df = pd.read_csv(IRIS_TRAIN), pd.read_csv(IRIS_TEST)
    X, y = train_df.drop(columns="species"), train_df["species"]
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=60, random_state=1).fit(X, y)
    run_dir = est.to_run(tmp_path / "est")
    Xt, yt = test_df.drop(columns="species"), test_df["species"]

    proc = run_cli("eval", run_dir, "--data", IRIS_TEST, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["accuracy"] == pytest.approx(est.score(Xt, yt), abs=1e-12)
    proc = run_cli("predict", run_dir, "--data", IRIS_TEST, "--proba")
    assert proc.returncode == 0, proc.stderr
    rows = csv_rows(proc.stdout)
    assert rows[0] == ["prediction"] + [f"p_{c}" for c in est.classes_]
    assert [r[0] for r in rows[1:]] == list(est.predict(Xt))
    np.testing.assert_allclose([[float(v) for v in r[1:]] for r in rows[1:]],
                               est.predict_proba(Xt), rtol=1e-12)

    back = MLPClassifier.from_run(run_dir)
    assert back.get_params() == est.get_params()
    assert list(back.feature_names_in_) == list(X.columns)
    assert back.loss_curve_ == pytest.approx(est.loss_curve_, rel=1e-15)
    np.testing.assert_array_equal(back.predict_proba(Xt), est.predict_proba(Xt))


def test_integer_labels_and_array_features_round_trip(tmp_path):
    X, y_names, _ = table(IRIS_TRAIN, "species")
    y = np.searchsorted(np.unique(y_names), y_names) * 10  # labels 0, 10, 20
    est = MLPClassifier(max_iter=5, random_state=0).fit(X, y)
    back = MLPClassifier.from_run(est.to_run(tmp_path / "est"))
    assert back.classes_.tolist() == [0, 10, 20] and back.classes_.dtype.kind == "i"
    assert not hasattr(back, "feature_names_in_")  # fitted on an array: columns x0, x1, ...
    np.testing.assert_array_equal(back.predict(X), est.predict(X))


def test_regressor_run_folder_is_read_by_eval(tmp_path):
    X, y, names = table(DIABETES_TRAIN, "target")
    est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    est.fit(X, y.astype(float))
    run_dir = est.to_run(tmp_path / "est", target="target")
    # the model file names array columns x0.., so give eval a CSV with those names
    Xt, yt, _ = table(DIABETES_TEST, "target")
    test_csv = tmp_path / "test.csv"
    header = ",".join([f"x{i}" for i in range(len(names))] + ["target"])
    np.savetxt(test_csv, np.column_stack([Xt, yt.astype(float)]), delimiter=",",
               header=header, comments="", fmt="%.17g")
    proc = run_cli("eval", run_dir, "--data", test_csv, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["r2"] == pytest.approx(est.score(Xt, yt.astype(float)),
                                                         abs=1e-9)
    back = MLPRegressor.from_run(run_dir)
    np.testing.assert_array_equal(back.predict(Xt), est.predict(Xt))


def test_a_cli_run_loads_as_an_estimator_that_refits_to_the_same_weights(tmp_path):
    config, _ = CLASSIFIER_CASES["sgd-momentum"]
    raw = {"seed": 3, **config}
    raw["data"] = {"train": str(IRIS_TRAIN), "target": "species", **config["data"]}
    run_dir = cli_run(tmp_path, raw)
    est = MLPClassifier.from_run(run_dir)
    assert (est.max_iter, est.hidden_layer_sizes, est.momentum, est.random_state) == (
        5, (8,), 0.9, 3)
    X, y, names = table(IRIS_TRAIN, "species")
    assert list(est.feature_names_in_) == names and est.n_iter_ == 5
    model = load_model(run_dir / "model.npz")
    with pytest.warns(UserWarning, match="feature names"):  # fitted on named CSV columns
        np.testing.assert_array_equal(est.predict(X), model.predict(X))
    refit = clone(est).fit(X, y)
    for ours, theirs in zip(weights_of(refit), run_weights(run_dir), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_run_folder_errors(tmp_path):
    X, y, _ = table(IRIS_TRAIN, "species")
    with pytest.raises(NotFittedError):
        MLPClassifier().to_run(tmp_path / "never")
    est = MLPClassifier(max_iter=2, random_state=0).fit(X, y)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(NnlearnError, match="not empty"):
        est.to_run(tmp_path / "busy")
    run_dir = est.to_run(tmp_path / "est")
    with pytest.raises(ValueError, match="MLPClassifier"):
        MLPRegressor.from_run(run_dir)
    multi = MLPRegressor(max_iter=2, random_state=0).fit(X, np.column_stack([X[:, 0], X[:, 1]]))
    assert multi.predict(X).shape == (len(X), 2)
    with pytest.raises(ValueError, match="one regression target"):
        multi.to_run(tmp_path / "multi")


def test_a_diverging_fit_raises_diverged_error_naming_the_parameters():
    from nnlearn.errors import DivergedError

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(DivergedError, match="training diverged") as caught:
        MLPClassifier(learning_rate_init=1e6, alpha=0.0, max_iter=50, random_state=0).fit(X, y)
    assert caught.value.hint.startswith("lower learning_rate_init (now 1e+06), e.g. by 10x, "
                                        "or set clip_grad_norm"), caught.value.hint
    with pytest.raises(DivergedError) as caught:  # lr * alpha = 5: the decay overshoots
        MLPRegressor(learning_rate_init=0.01, alpha=500.0, max_iter=400,
                     random_state=0).fit(X, X[:, 0])
    assert "learning_rate_init (now 0.01) or alpha (now 500)" in caught.value.hint
    assert "training." not in caught.value.hint
