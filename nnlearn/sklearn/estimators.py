"""``MLPClassifier`` and ``MLPRegressor``: nnlearn's training run behind scikit-learn's API.

``fit`` does what ``nnlearn train`` does with a config (``nnlearn.runs.run.prepare``), in the
same order and with the same random generator, so the same settings and seed give the same
weights: draw the validation rows (``validation_fraction``), fit the standardisation on the
training rows, build the network with ``build_mlp``, the loss, optimizer and schedule with
``make_loss``/``make_optimizer``/``make_schedule``, and run ``Trainer.fit``. There is no second
training loop here.

Each constructor parameter is a config key under scikit-learn's name:

    hidden_layer_sizes   model.hidden             learning_rate_init   training.learning_rate
    activation           model.activation         optimizer            training.optimizer
    dropout              model.dropout            momentum             training.optimizer.momentum
    init                 model.init               schedule             training.schedule
    batch_size           training.batch_size      alpha                training.weight_decay
    max_iter             training.epochs          loss                 training.loss
    shuffle              training.shuffle         clip_grad_norm/value training.clip_grad_*
    early_stopping       training.early_stopping  n_iter_no_change     ...early_stopping.patience
    validation_fraction  data.val_fraction        tol                  ...early_stopping.min_delta
    restore_best_weights ...restore_best_weights  standardize          data.standardize
    class_weight         training.class_weight    standardize_target   data.standardize_target
    dtype                training.dtype           random_state         seed

The defaults are the config's defaults, read from its schema (``nnlearn.runs.config.defaults``)
when this module is imported: ``early_stopping`` is True when the config stops early by default,
and the early-stopping settings and monitor are the default early stopping's. As in the CLI,
``validation_fraction`` of the rows are held out for validation whether or not
``early_stopping`` is on (``validation_fraction=0`` trains on every row, and then there is
nothing for early stopping to watch: it is off, as the config's default early stopping is with
``val_fraction: 0``), so the same parameters give the CLI's weights.
"""

from __future__ import annotations

import contextlib
import json
import numbers
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from nnlearn.data import LabelEncoder, Standardizer, class_weights_balanced, split_indices
from nnlearn.errors import ConfigError, DataError, DivergedError
from nnlearn.nn.network import build_mlp
from nnlearn.nn.optimizers import make_optimizer
from nnlearn.nn.schedules import make_schedule
from nnlearn.nn.training import EarlyStopping, Split, Trainer
from nnlearn.runs.config import (
    OPTIMIZER_PARAMS,
    PLUGIN_HINT,
    check_monitors,
    check_settings,
    defaults,
)
from nnlearn.runs.model import Model
from nnlearn.runs.modelfile import load_arrays, model_from_arrays, save_model
from nnlearn.runs.run import (
    CONFIG_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    DivergenceGuard,
    choose_loss,
    draw_seed,
    load_run_config,
    make_run_dir,
    metric_fn_for,
    read_history,
    write_history,
)

__all__ = ["MLPClassifier", "MLPRegressor"]


def _defaults_from_config() -> tuple[dict[str, Any], dict[str, Any]]:
    """(the estimators' default parameters, the default early stopping's settings): the config's
    defaults under scikit-learn's names. Computed once, before the classes, so that their
    signatures hold plain values as scikit-learn requires."""
    cfg = defaults()
    d, m, t = cfg["data"], cfg["model"], cfg["training"]
    stopping = t["early_stopping"]
    # The settings `early_stopping: true` means, for when the config's default is off.
    settings = stopping or defaults(["training.early_stopping=true"])["training"][
        "early_stopping"]
    optimizer = t["optimizer"]
    params = {
        "hidden_layer_sizes": tuple(m["hidden"]), "activation": m["activation"],
        "dropout": m["dropout"], "init": m["init"],
        "optimizer": optimizer["name"], "learning_rate_init": t["learning_rate"],
        "momentum": optimizer.get("momentum", 0.0), "schedule": t["schedule"]["name"],
        "batch_size": t["batch_size"], "max_iter": t["epochs"], "shuffle": t["shuffle"],
        "alpha": t["weight_decay"], "loss": t["loss"],
        "clip_grad_norm": t["clip_grad_norm"], "clip_grad_value": t["clip_grad_value"],
        "early_stopping": stopping is not None, "validation_fraction": d["val_fraction"],
        "n_iter_no_change": settings["patience"], "tol": settings["min_delta"],
        "restore_best_weights": settings["restore_best_weights"],
        "standardize": d["standardize"], "standardize_target": d["standardize_target"],
        "class_weight": t["class_weight"], "dtype": t["dtype"], "random_state": cfg["seed"],
    }
    return params, settings


_DEFAULTS, _STOPPING = _defaults_from_config()

#: Where a config key's ConfigError points, in the estimator's parameter names (longest first).
_KEY_TO_PARAM = (
    ("training.optimizer.momentum", "momentum"),
    ("training.epochs", "max_iter"),
    ("training.learning_rate", "learning_rate_init"),
    ("training.weight_decay", "alpha"),
    ("training.optimizer", "optimizer"),
    ("training.schedule", "schedule"),
    ("training.loss", "loss"),
    ("training.clip_grad_norm", "clip_grad_norm"),
    ("training.clip_grad_value", "clip_grad_value"),
    ("training.class_weight", "class_weight"),
    ("model.hidden", "hidden_layer_sizes"),
    ("model.activation", "activation"),
    ("model.dropout", "dropout"),
    ("model.init", "init"),
    ("data.val_fraction", "validation_fraction"),
)


#: In Python a plugin's names exist once its module has run ``nnlearn.register``.
_PYTHON_PLUGIN_HINT = ("a plugin's names exist once its module, which calls nnlearn.register, "
                       "has been imported")


@contextlib.contextmanager
def _as_value_errors() -> Iterator[None]:
    """nnlearn's ConfigError/DataError as the ValueError scikit-learn callers expect, naming the
    estimator's parameter instead of the config key it stands for."""
    try:
        yield
    except ConfigError as exc:
        where = exc.key or ""
        for key, param in _KEY_TO_PARAM:
            if where == key or where.startswith(key + "."):
                where = param + where[len(key):]
                break
        hint = _PYTHON_PLUGIN_HINT if exc.hint == PLUGIN_HINT else exc.hint
        text = (f"{where}: {exc.problem}" if where else exc.problem) + (f" ({hint})" if hint
                                                                         else "")
        raise ValueError(_as_params(text)) from None
    except DataError as exc:
        raise ValueError(str(exc) + (f" ({exc.hint})" if exc.hint else "")) from None
    except DivergedError as exc:  # stays a DivergedError; its hint names the parameters
        raise DivergedError(exc.message, hint=_as_params(exc.hint)) from None


def _as_params(text: str | None) -> str | None:
    """``text`` with every config key it mentions written as the estimator's parameter."""
    for key, param in _KEY_TO_PARAM:
        text = text and re.sub(rf"\b{re.escape(key)}\b", param, text)
    return text


def _seed_from(random_state: Any) -> int:
    """The integer seed nnlearn's generator starts from: ``random_state`` itself when it is an
    int (so ``random_state=7`` is the config's ``seed: 7``), a draw from it when it is a numpy
    generator, a fresh one when it is None."""
    if random_state is None:
        return draw_seed()
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if not 0 <= int(random_state) < 2**32:
            raise ValueError(f"random_state must be in [0, 2**32), got {random_state}")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    raise ValueError(f"random_state must be None, an int or a numpy random generator, "
                     f"got {random_state!r}")


def _check_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_float(value: Any, name: str, low: float, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    x = float(value)
    if x < low or (low_open and x == low) or (high is not None and (
            x > high or (high_open and x == high))):
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must be in {lo}{low}, {high if high is not None else 'inf'}"
                         f"{hi}, got {value!r}")
    return x


def _name_of(y: Any) -> str | None:
    """The column name of a pandas Series target, which a model file records as its target."""
    name = getattr(y, "name", None)
    return name if isinstance(name, str) else None


def _json_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters that survive a trip through JSON (tuples as lists); the rest (a
    RandomState, a class_weight keyed by non-strings) are left out of the model file."""
    out = {}
    for name, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        try:
            if json.loads(json.dumps(value)) == value:
                out[name] = value
        except (TypeError, ValueError):
            pass
    return out


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, the run, the run folder."""

    _task = ""
    _score_key = ""  # the validation metric reported as validation_scores_

    # -- the settings -------------------------------------------------------------------------
    def _settings(self) -> dict[str, Any]:
        """The model and training parameters as the config's ``model`` and ``training``
        sections, checked by the config's own rules (the lesson's classes trust them)."""
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = [sizes]
        try:
            sizes = [_check_int(u, "hidden_layer_sizes", 1) for u in sizes]
        except TypeError:
            raise ValueError(f"hidden_layer_sizes must be a sequence of integers, got "
                             f"{self.hidden_layer_sizes!r}") from None
        return check_settings({
            "model": {"hidden": sizes, "activation": self.activation,
                      "dropout": _check_float(self.dropout, "dropout", 0.0, 1.0),
                      "init": self.init},
            "training": {"learning_rate": self.learning_rate_init, "weight_decay": self.alpha,
                         "optimizer": self._optimizer_spec(), "schedule": self.schedule,
                         "epochs": _check_int(self.max_iter, "max_iter", 1),
                         "clip_grad_norm": self.clip_grad_norm,
                         "clip_grad_value": self.clip_grad_value}})

    def _optimizer_spec(self) -> dict[str, Any]:
        """The config's ``training.optimizer`` mapping: ``optimizer`` (a name, or a mapping with
        ``name`` and the optimizer's other settings) with ``momentum`` added when the optimizer
        has one. The others ignore it, as scikit-learn's MLPs ignore momentum for adam: its
        default (the config's default optimizer's momentum) must not make them fail."""
        spec = {"name": self.optimizer} if isinstance(self.optimizer, str) else dict(
            self.optimizer)
        momentum = _check_float(self.momentum, "momentum", 0.0, 1.0)
        if "momentum" in spec:
            raise ValueError("optimizer: give the momentum as the momentum parameter, not "
                             "inside the optimizer mapping")
        name = spec.get("name")
        if isinstance(name, str) and "momentum" in OPTIMIZER_PARAMS.get(name, {}):
            spec["momentum"] = momentum
        return spec

    def _dtype(self) -> np.dtype:
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")
        return dtype

    def _batch_size(self) -> int | None:
        if isinstance(self.batch_size, str) and self.batch_size == "full":
            return None
        return _check_int(self.batch_size, "batch_size", 1)

    def _trainer(self, model: Model, optimizer, schedule, rng, callbacks=(), metric_fn=None):
        return Trainer(model.network, model.loss, optimizer, rng=rng,
                       batch_size=self._batch_size(), schedule=schedule, shuffle=self.shuffle,
                       clip_norm=self.clip_grad_norm, clip_value=self.clip_grad_value,
                       metric_fn=metric_fn, callbacks=[*callbacks, DivergenceGuard()])

    # -- data ---------------------------------------------------------------------------------
    def _validate_X(self, X, *, reset: bool) -> np.ndarray:
        return validate_data(self, X, reset=reset, dtype=np.float64)

    def _feature_names(self) -> list[str]:
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return [str(n) for n in names]
        return [f"x{i}" for i in range(self.n_features_in_)]

    @staticmethod
    def _sample_weight(sample_weight, n: int) -> np.ndarray | None:
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
        if not np.isfinite(w).all() or (w < 0).any():
            raise ValueError("sample_weight must hold finite, non-negative numbers")
        if n and not w.any():
            raise ValueError("sample_weight is zero for every sample: nothing to learn from")
        return w

    @staticmethod
    def _inputs(model: Model, X: np.ndarray) -> np.ndarray:
        """What the network reads (standardised, in its dtype), refusing values that overflow a
        float32 network: they would only give NaN outputs."""
        with np.errstate(over="ignore", invalid="ignore"):
            x = model.inputs(X)
        if not np.isfinite(x).all():
            raise ValueError(f"X holds values that are not finite in the network's "
                             f"{model.network.dtype} after standardisation; rescale them or "
                             "use dtype='float64'")
        return x

    # -- the run ------------------------------------------------------------------------------
    def _start(self, X: np.ndarray, y_all: np.ndarray, stratify: np.ndarray | None,
               weights: np.ndarray | None, val_fraction: float):
        """Everything ``prepare`` builds, in its order (the generator is drawn from in the same
        sequence: validation rows, then the network's initial weights, then shuffling)."""
        seed = _seed_from(self.random_state)
        rng = np.random.default_rng(seed)
        dtype = self._dtype()
        settings = self._settings()
        layers, training = settings["model"]["layers"], settings["training"]
        loss_name = self._loss_name()
        train_idx, val_idx = split_indices(len(X), val_fraction, rng, stratify=stratify)
        # a plateau schedule's monitor (early stopping is the estimator's own, checked in _fit)
        check_monitors({**training, "early_stopping": None}, self._task, len(val_idx),
                       val_fraction)
        names = self._feature_names()
        scaler = Standardizer().fit(X[train_idx], names) if self.standardize else None
        target_scaler = self._target_scaler(y_all[train_idx])
        network = build_mlp(X.shape[1], layers, self._n_outputs(loss_name, y_all), rng=rng,
                            dtype=dtype)
        model = Model(network, task=self._task, loss_name=loss_name, feature_names=names,
                      target=self._target_name, encoder=self._encoder(),
                      scaler=scaler, target_scaler=target_scaler)
        y_model = self._model_targets(model, y_all)
        x_all = self._inputs(model, X)
        train = Split(x_all[train_idx], y_model[train_idx],
                      None if weights is None else weights[train_idx].astype(dtype))
        val = Split(x_all[val_idx], y_model[val_idx]) if len(val_idx) else None
        lr = training["learning_rate"]
        optimizer = make_optimizer(training["optimizer"], network.parameters(), lr,
                                   training["weight_decay"])
        schedule = make_schedule(training["schedule"], lr, training["epochs"])
        self._seed_used = seed
        return model, train, val, optimizer, schedule, rng

    def _fit(self, X: np.ndarray, y_all: np.ndarray, stratify, weights) -> _BaseMLP:
        max_iter = _check_int(self.max_iter, "max_iter", 1)
        val_fraction = _check_float(self.validation_fraction, "validation_fraction", 0.0, 1.0)
        # As in the config: the rows held out are watched by early stopping, and without any
        # held out (validation_fraction=0) there is nothing to watch.
        stopping = bool(self.early_stopping) and val_fraction > 0
        callbacks = []
        if stopping:
            callbacks.append(EarlyStopping(
                _STOPPING["monitor"], _STOPPING["mode"],
                _check_int(self.n_iter_no_change, "n_iter_no_change", 1),
                _check_float(self.tol, "tol", 0.0), bool(self.restore_best_weights)))
        with _as_value_errors():
            model, train, val, optimizer, schedule, rng = self._start(
                X, y_all, stratify, weights, val_fraction)
            if stopping and val is None:
                raise ValueError(f"early_stopping needs validation rows, and "
                                 f"validation_fraction={self.validation_fraction} of "
                                 f"n_samples={len(X)} gives none (set early_stopping=False)")
            trainer = self._trainer(model, optimizer, schedule, rng, callbacks,
                                    metric_fn_for(model))
            trainer.fit(train, val, max_iter)
        self._history = []
        self._keep(model, trainer, optimizer, schedule, rng)
        return self

    def _partial_fit(self, X: np.ndarray, y_all: np.ndarray, weights, first: bool) -> _BaseMLP:
        """One more epoch over (X, y) with the optimizer, schedule and generator kept from the
        calls before; the first call builds the model (its X fixes the standardisation)."""
        with _as_value_errors():
            if first:
                model, train, _, optimizer, schedule, rng = self._start(
                    X, y_all, None, weights, 0.0)
                self._history = []
            else:
                model = self.model_
                dtype = model.network.dtype
                train = Split(self._inputs(model, X), self._model_targets(model, y_all),
                              None if weights is None else weights.astype(dtype))
                optimizer, schedule, rng = self._resume_state(model)
            trainer = self._trainer(model, optimizer, schedule, rng)
            trainer.epoch = self.n_iter_ if not first else 0
            trainer.fit(train, None, trainer.epoch + 1)
        self._keep(model, trainer, optimizer, schedule, rng)
        return self

    def _resume_state(self, model: Model):
        """The optimizer, schedule and generator to continue with. A model loaded by
        ``from_run`` has none (a model file holds weights only): they start afresh."""
        if getattr(self, "_optimizer", None) is None:
            training = self._settings()["training"]
            lr = training["learning_rate"]
            self._optimizer = make_optimizer(training["optimizer"], model.network.parameters(),
                                             lr, training["weight_decay"])
            self._schedule = make_schedule(training["schedule"], lr, training["epochs"])
            self._rng = np.random.default_rng(_seed_from(self.random_state))
        return self._optimizer, self._schedule, self._rng

    def _keep(self, model: Model, trainer: Trainer, optimizer, schedule, rng) -> None:
        """The fitted state: the model, what partial_fit continues with, and the curves."""
        self.model_ = model
        self._optimizer, self._schedule, self._rng = optimizer, schedule, rng
        self._history.extend(trainer.history)
        self._stop_reason = trainer.stop_reason
        self._set_curves()

    def _set_curves(self) -> None:
        history = self._history
        self.loss_curve_ = [float(h["train_loss"]) for h in history]
        scores = [h[self._score_key] for h in history if self._score_key in h]
        self.validation_scores_ = [float(s) for s in scores] if scores else None
        self.best_validation_score_ = max(scores) if scores else None
        self.n_iter_ = len(history)
        weights = self.model_.network.get_weights()
        dense = sorted({name.rsplit(".", 1)[0] for name in weights},
                       key=lambda n: int(n.rsplit("_", 1)[1]))
        self.coefs_ = [weights[f"{n}.W"] for n in dense]
        self.intercepts_ = [weights[f"{n}.b"] for n in dense]
        self.n_layers_ = len(self.coefs_) + 1
        self.n_outputs_ = self.model_.network.n_outputs

    def _network_inputs(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._inputs(self.model_, X)

    # -- run folders --------------------------------------------------------------------------
    def to_run(self, path: str | os.PathLike, *, target: str | None = None) -> Path:
        """Write a run folder (``model.npz``, ``history.csv``) that ``nnlearn eval`` and
        ``nnlearn predict`` read. The folder must not exist or be empty.

        The model file names the feature columns (``feature_names_in_``, or ``x0``, ``x1``, ...
        for arrays) and the target column (``target``, else the name of the ``y`` Series fitted
        on, else ``"y"``), which a CSV given to ``nnlearn eval`` must then have."""
        check_is_fitted(self)
        model = self._model_for_file(target or self.model_.target or "y")
        meta = {"estimator": {"class": type(self).__name__,
                              "params": _json_params(self.get_params()),
                              "seed": getattr(self, "_seed_used", None)}}
        run_dir = make_run_dir(Path(path), numbered=False)
        save_model(run_dir / MODEL_FILE, model, extra_meta=meta)
        write_history(run_dir / HISTORY_FILE, self._history)
        return run_dir

    def _model_for_file(self, target: str) -> Model:
        m = self.model_
        return Model(m.network, task=m.task, loss_name=m.loss_name,
                     feature_names=m.feature_names, target=str(target), encoder=m.encoder,
                     scaler=m.scaler, target_scaler=m.target_scaler)

    @classmethod
    def from_run(cls, path: str | os.PathLike):
        """A fitted estimator from a run folder (``nnlearn train``'s or ``to_run``'s) or a model
        file. Its parameters are those the estimator was saved with, or the run's config
        translated (``max_iter`` = ``training.epochs``, ...); ``partial_fit`` continues from its
        weights with a fresh optimizer state (a model file holds none)."""
        path = Path(path)
        file = path / MODEL_FILE if path.is_dir() else path
        arrays, meta = load_arrays(file)
        model = model_from_arrays(file, arrays, meta)
        if model.task != cls._task:
            raise ValueError(f"{path} holds a {model.task} model; load it with "
                             f"{'MLPClassifier' if model.task == 'classification' else 'MLPRegressor'}")
        enc = model.encoding
        if enc is not None and enc.encodes:  # X here is numbers only, as scikit-learn passes it
            how = []
            if enc.categorical:
                how.append(f"one-hot encodes {', '.join(map(repr, enc.categorical))}")
            if enc.missing == "mean":
                how.append("fills empty cells with training values")
            raise ValueError(
                f"{path} {' and '.join(how)} ({enc.describe()} from {len(enc.columns)} "
                f"columns); the estimator reads numeric arrays only: use nnlearn eval/predict "
                f"on the run, or put OneHotEncoder/SimpleImputer in a pipeline before the "
                f"estimator and fit that")
        saved = meta.get("estimator")
        names = cls._get_param_names()
        if isinstance(saved, dict) and isinstance(saved.get("params"), dict):
            params = {k: v for k, v in saved["params"].items() if k in names}
            if isinstance(params.get("hidden_layer_sizes"), list):
                params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        elif path.is_dir() and (path / CONFIG_FILE).is_file():
            params = {k: v for k, v in _params_from_config(load_run_config(path)).items()
                      if k in names}
        else:
            params = {"hidden_layer_sizes": tuple(
                s["out"] for s in meta["architecture"] if s.get("type") == "dense")[:-1],
                "dtype": str(model.network.dtype)}
        est = cls(**params)
        history_file = path / HISTORY_FILE
        est._adopt(model, read_history(history_file) if path.is_dir() and
                   history_file.is_file() else [])
        return est

    def _adopt(self, model: Model, history: list[dict[str, float]]) -> None:
        self.n_features_in_ = model.network.n_inputs
        if model.feature_names != [f"x{i}" for i in range(self.n_features_in_)]:
            self.feature_names_in_ = np.asarray(model.feature_names, dtype=object)
        self._target_name = model.target
        self._optimizer = None
        self._history = list(history)
        self.model_ = model
        self._set_curves()



def _params_from_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A resolved nnlearn config as estimator parameters (the reverse of the table above). A
    model whose hidden layers differ in activation, dropout or init gets the first layer's."""
    d, m, t = cfg["data"], cfg["model"], cfg["training"]
    first = m["layers"][0] if m["layers"] else {}
    optimizer = dict(t["optimizer"])
    momentum = optimizer.pop("momentum", 0.0)
    es = t.get("early_stopping")
    params = {
        "hidden_layer_sizes": tuple(layer["units"] for layer in m["layers"]),
        "activation": first.get("activation", m["activation"]),
        "dropout": first.get("dropout", m["dropout"]),
        "init": first.get("init", m["init"]),
        "optimizer": optimizer, "momentum": momentum,
        "learning_rate_init": t["learning_rate"], "schedule": t["schedule"],
        "batch_size": t["batch_size"], "max_iter": t["epochs"], "shuffle": t["shuffle"],
        "alpha": t["weight_decay"], "loss": t["loss"],
        "clip_grad_norm": t["clip_grad_norm"], "clip_grad_value": t["clip_grad_value"],
        "early_stopping": bool(es), "validation_fraction": d["val_fraction"],
        "standardize": d["standardize"], "standardize_target": d["standardize_target"],
        "class_weight": t["class_weight"], "dtype": t["dtype"], "random_state": cfg["seed"],
    }
    if es:
        params.update(n_iter_no_change=es["patience"], tol=es["min_delta"],
                      restore_best_weights=es["restore_best_weights"])
    return params


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier trained by nnlearn (softmax cross-entropy, or sigmoid
    binary cross-entropy for two classes when ``loss="auto"``).

    Parameters are nnlearn's config keys (see the module docstring); the defaults are the
    config's. ``optimizer`` is a name (``"sgd"``, ``"adam"``, ...) or a mapping such as
    ``{"name": "adam", "beta1": 0.9}``; ``schedule`` likewise (``"cosine"``, ...);
    ``batch_size`` an integer or ``"full"``; ``class_weight`` None, ``"balanced"`` or
    ``{label: weight}``; ``random_state`` an int is the run's seed.

    Attributes: ``classes_``, ``n_features_in_``, ``feature_names_in_``, ``loss_curve_``
    (training loss per epoch), ``validation_scores_`` (validation accuracy per epoch, when
    ``validation_fraction`` holds rows out), ``best_validation_score_``, ``n_iter_`` (epochs run), ``coefs_`` and
    ``intercepts_`` (copies of the weights, layer by layer), ``model_`` (the
    :class:`nnlearn.runs.model.Model`: network, loss and standardisation).
    """

    _task = "classification"
    _score_key = "val_accuracy"

    def __init__(self, hidden_layer_sizes=_DEFAULTS["hidden_layer_sizes"],
                 activation=_DEFAULTS["activation"], *, dropout=_DEFAULTS["dropout"],
                 init=_DEFAULTS["init"], optimizer=_DEFAULTS["optimizer"],
                 learning_rate_init=_DEFAULTS["learning_rate_init"],
                 momentum=_DEFAULTS["momentum"], schedule=_DEFAULTS["schedule"],
                 batch_size=_DEFAULTS["batch_size"], max_iter=_DEFAULTS["max_iter"],
                 shuffle=_DEFAULTS["shuffle"], alpha=_DEFAULTS["alpha"], loss=_DEFAULTS["loss"],
                 clip_grad_norm=_DEFAULTS["clip_grad_norm"],
                 clip_grad_value=_DEFAULTS["clip_grad_value"],
                 early_stopping=_DEFAULTS["early_stopping"],
                 validation_fraction=_DEFAULTS["validation_fraction"],
                 n_iter_no_change=_DEFAULTS["n_iter_no_change"], tol=_DEFAULTS["tol"],
                 restore_best_weights=_DEFAULTS["restore_best_weights"],
                 standardize=_DEFAULTS["standardize"], class_weight=_DEFAULTS["class_weight"],
                 dtype=_DEFAULTS["dtype"], random_state=_DEFAULTS["random_state"]) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.init = init
        self.optimizer = optimizer
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.schedule = schedule
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.alpha = alpha
        self.loss = loss
        self.clip_grad_norm = clip_grad_norm
        self.clip_grad_value = clip_grad_value
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.restore_best_weights = restore_best_weights
        self.standardize = standardize
        self.class_weight = class_weight
        self.dtype = dtype
        self.random_state = random_state

    # -- hooks of the shared run --------------------------------------------------------------
    def _loss_name(self) -> str:
        if self.loss not in ("auto", "cross_entropy", "bce"):
            raise ValueError(f"loss must be 'auto', 'cross_entropy' or 'bce', got {self.loss!r}")
        return choose_loss(self.loss, "classification", len(self.classes_))

    def _n_outputs(self, loss_name: str, y_all: np.ndarray) -> int:
        return 1 if loss_name == "bce" else len(self.classes_)

    def _target_scaler(self, y_train: np.ndarray) -> None:
        return None

    def _model_targets(self, model: Model, y_idx: np.ndarray) -> np.ndarray:
        return y_idx

    def _encoder(self) -> LabelEncoder | None:
        """nnlearn's LabelEncoder for these classes, when it orders them as ``classes_`` does
        (it names them by their text); None for labels a model file cannot name that way."""
        cells = np.asarray([str(c) for c in self.classes_])
        try:
            encoder = LabelEncoder().fit(cells)
            same = np.array_equal(encoder.transform(cells), np.arange(len(cells)))
        except DataError:
            return None
        return encoder if same and len(encoder.classes_) == len(cells) else None

    def _class_weights(self, y_idx: np.ndarray) -> np.ndarray | None:
        cw = self.class_weight
        if cw is None:
            return None
        k = len(self.classes_)
        if isinstance(cw, str) and cw == "balanced":
            return class_weights_balanced(y_idx, k)[y_idx]
        if not isinstance(cw, Mapping):
            raise TypeError(f"class_weight must be None, 'balanced' or a mapping, got {cw!r}")
        per_class = np.ones(k)
        for label, weight in cw.items():
            hit = np.flatnonzero(self.classes_ == label)
            if not hit.size:
                raise ValueError(f"class_weight names class {label!r}, which is not in "
                                 f"classes_ {list(self.classes_)}")
            per_class[hit[0]] = _check_float(weight, f"class_weight[{label!r}]", 0.0,
                                             low_open=True)
        return per_class[y_idx]

    def _indices(self, y: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.classes_, y)
        idx[idx >= len(self.classes_)] = 0
        unseen = self.classes_[idx] != y
        if unseen.any():
            raise ValueError(f"y holds label {y[np.flatnonzero(unseen)[0]]!r}, which is not in "
                             f"classes_ {list(self.classes_)}")
        return idx

    # -- the API ------------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None) -> MLPClassifier:
        """Train from scratch on (X, y): ``max_iter`` epochs, or fewer with early stopping."""
        self._target_name = _name_of(y)
        X, y = validate_data(self, X, y, reset=True, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"classification needs at least 2 classes; y has 1 class "
                             f"({str(self.classes_[0])!r})")
        weights = self._sample_weight(sample_weight, len(X))
        cw = self._class_weights(y_idx)
        if cw is not None:
            weights = cw if weights is None else weights * cw
        return self._fit(X, y_idx, y_idx, weights)

    def partial_fit(self, X, y, classes=None, sample_weight=None) -> MLPClassifier:
        """One epoch over (X, y), continuing from the current weights and optimizer state.
        ``classes`` (every label that will ever occur) is needed on the first call unless this
        y already holds them all; the first call's X fixes the standardisation. Early stopping
        and validation rows do not apply."""
        first = not hasattr(self, "model_")
        if first:
            self._target_name = _name_of(y)
        X, y = validate_data(self, X, y, reset=first, dtype=np.float64)
        check_classification_targets(y)
        if first:
            self.classes_ = np.unique(y if classes is None else classes)
            if len(self.classes_) < 2:
                raise ValueError("classification needs at least 2 classes; pass them all "
                                 "with classes= on the first call")
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes={list(classes)} differs from classes_ "
                             f"{list(self.classes_)} of the earlier calls")
        y_idx = self._indices(y)
        weights = self._sample_weight(sample_weight, len(X))
        cw = self._class_weights(y_idx)
        if cw is not None:
            weights = cw if weights is None else weights * cw
        return self._partial_fit(X, y_idx, weights, first)

    def predict_proba(self, X) -> np.ndarray:
        """(n_samples, n_classes) probabilities, columns in the order of ``classes_``."""
        x = self._network_inputs(X)
        return self.model_.loss.output(self.model_.network.predict(x))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row (labels from ``classes_``)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def _model_for_file(self, target: str) -> Model:
        if self.model_.encoder is None:
            raise ValueError(f"classes {list(self.classes_)} cannot be written as the text "
                             "labels of a model file (their text does not sort as they do, or "
                             "reads as a non-finite number)")
        return super()._model_for_file(target)

    def _adopt(self, model: Model, history: list[dict[str, float]]) -> None:
        # The model file names classes by their text; numbers come back as numbers.
        encoder = model.encoder
        if encoder.kind_ == "integer":
            self.classes_ = np.asarray([int(c) for c in encoder.classes_])
        elif encoder.kind_ == "numeric":
            self.classes_ = np.asarray([float(c) for c in encoder.classes_])
        else:
            self.classes_ = np.asarray(encoder.classes_)
        super()._adopt(model, history)


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor trained by nnlearn (mean squared error by default,
    ``loss="mae"`` for absolute error). ``y`` may have several columns (multi-output), but a
    model file (``to_run``) holds one.

    Parameters are nnlearn's config keys (see the module docstring); the defaults are the
    config's. ``standardize_target`` trains on the standardised target and reports predictions
    in its own units, as the CLI does.

    Attributes: ``n_features_in_``, ``feature_names_in_``, ``loss_curve_`` (training loss per
    epoch, in standardised target units), ``validation_scores_`` (validation R² per epoch,
    when ``validation_fraction`` holds rows out), ``best_validation_score_``, ``n_iter_``, ``coefs_``,
    ``intercepts_``, ``model_``.
    """

    _task = "regression"
    _score_key = "val_r2"

    def __init__(self, hidden_layer_sizes=_DEFAULTS["hidden_layer_sizes"],
                 activation=_DEFAULTS["activation"], *, dropout=_DEFAULTS["dropout"],
                 init=_DEFAULTS["init"], optimizer=_DEFAULTS["optimizer"],
                 learning_rate_init=_DEFAULTS["learning_rate_init"],
                 momentum=_DEFAULTS["momentum"], schedule=_DEFAULTS["schedule"],
                 batch_size=_DEFAULTS["batch_size"], max_iter=_DEFAULTS["max_iter"],
                 shuffle=_DEFAULTS["shuffle"], alpha=_DEFAULTS["alpha"], loss=_DEFAULTS["loss"],
                 clip_grad_norm=_DEFAULTS["clip_grad_norm"],
                 clip_grad_value=_DEFAULTS["clip_grad_value"],
                 early_stopping=_DEFAULTS["early_stopping"],
                 validation_fraction=_DEFAULTS["validation_fraction"],
                 n_iter_no_change=_DEFAULTS["n_iter_no_change"], tol=_DEFAULTS["tol"],
                 restore_best_weights=_DEFAULTS["restore_best_weights"],
                 standardize=_DEFAULTS["standardize"], standardize_target=_DEFAULTS["standardize_target"],
                 dtype=_DEFAULTS["dtype"], random_state=_DEFAULTS["random_state"]) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.init = init
        self.optimizer = optimizer
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.schedule = schedule
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.alpha = alpha
        self.loss = loss
        self.clip_grad_norm = clip_grad_norm
        self.clip_grad_value = clip_grad_value
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.restore_best_weights = restore_best_weights
        self.standardize = standardize
        self.standardize_target = standardize_target
        self.dtype = dtype
        self.random_state = random_state

    # -- hooks of the shared run --------------------------------------------------------------
    def _loss_name(self) -> str:
        if self.loss not in ("auto", "mse", "mae"):
            raise ValueError(f"loss must be 'auto', 'mse' or 'mae', got {self.loss!r}")
        return choose_loss(self.loss, "regression", None)

    def _n_outputs(self, loss_name: str, y_all: np.ndarray) -> int:
        return y_all.shape[1]

    def _target_scaler(self, y_train: np.ndarray) -> Standardizer | None:
        if not self.standardize_target:
            return None
        k = y_train.shape[1]
        return Standardizer().fit(y_train, ["y"] if k == 1 else [f"y{i}" for i in range(k)])

    def _model_targets(self, model: Model, y: np.ndarray) -> np.ndarray:
        if model.target_scaler is not None:
            y = model.target_scaler.transform(y)
        with np.errstate(over="ignore"):
            y = y.astype(model.network.dtype)
        if not np.isfinite(y).all():
            raise ValueError(f"y holds values that are not finite in {model.network.dtype}; "
                             "rescale them, set standardize_target=True or use dtype='float64'")
        return y

    def _encoder(self) -> None:
        return None

    def _targets(self, X, y, *, reset: bool):
        X, y = validate_data(self, X, y, reset=reset, dtype=np.float64, multi_output=True,
                             y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        return X, y

    # -- the API ------------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None) -> MLPRegressor:
        """Train from scratch on (X, y): ``max_iter`` epochs, or fewer with early stopping."""
        self._target_name = _name_of(y)
        X, y = self._targets(X, y, reset=True)
        self._single_output = y.ndim == 1
        y2 = y.reshape(len(y), -1)
        return self._fit(X, y2, None, self._sample_weight(sample_weight, len(X)))

    def partial_fit(self, X, y, sample_weight=None) -> MLPRegressor:
        """One epoch over (X, y), continuing from the current weights and optimizer state; the
        first call's X and y fix the standardisation. Early stopping and validation rows do not
        apply."""
        first = not hasattr(self, "model_")
        if first:
            self._target_name = _name_of(y)
        X, y = self._targets(X, y, reset=first)
        y2 = y.reshape(len(y), -1)
        if first:
            self._single_output = y.ndim == 1
        elif y2.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {y2.shape[1]} columns, the model was fitted with "
                             f"{self.n_outputs_}")
        return self._partial_fit(X, y2, self._sample_weight(sample_weight, len(X)), first)

    def predict(self, X) -> np.ndarray:
        """Predictions in the target's own units: (n,) for a 1-d y, else (n, n_outputs)."""
        x = self._network_inputs(X)
        out = self.model_.network.predict(x).astype(np.float64)
        if self.model_.target_scaler is not None:
            out = self.model_.target_scaler.inverse_transform(out)
        return out[:, 0] if getattr(self, "_single_output", True) else out

    def _model_for_file(self, target: str) -> Model:
        if self.n_outputs_ != 1:
            raise ValueError(f"a model file holds one regression target; this model has "
                             f"{self.n_outputs_}")
        return super()._model_for_file(target)

    def _adopt(self, model: Model, history: list[dict[str, float]]) -> None:
        self._single_output = True
        super()._adopt(model, history)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
