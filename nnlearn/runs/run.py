"""Runs: from a resolved config to a run folder, and from a run folder back to a usable model.

    train(cfg)      config -> data -> model -> Trainer.fit -> run folder
    resume(dir)     continue an interrupted run exactly where its checkpoint left off
    load_run(path)  a run folder or a model file -> Model (+ the run's config when there is one)
    evaluate(...)   metrics of a model on a CSV (the same function train uses for its test set)
    predict(...)    predictions for a CSV

A run folder holds ``config.yaml`` (resolved, with the seed used), ``model.npz``, ``history.csv``,
``metrics.json`` and, when checkpointing, ``checkpoint.npz`` (with ``training.snapshots``, also
``snapshots.npz``). Everything is validated before the
folder is created, and every file is written atomically.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import math
import os
import secrets
import shlex
import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from nnlearn.data import (
    FeatureEncoder,
    LabelEncoder,
    Standardizer,
    Table,
    class_weights_balanced,
    infer_task,
    read_csv,
    regression_targets,
    split_indices,
)
from nnlearn.errors import (
    ConfigError,
    DataError,
    DivergedError,
    ModelFileError,
    NnlearnError,
    TrainingInterrupted,
    shown_path,
)
from nnlearn.nn.losses import LOSSES
from nnlearn.nn.optimizers import make_optimizer
from nnlearn.nn.schedules import make_schedule
from nnlearn.nn.training import Callback, EarlyStopping, Split, Trainer, divergence_hint
from nnlearn.runs import atomicio, plugins, safeio
from nnlearn.runs.config import (
    EPOCH_METRICS,
    MAX_EPOCHS,
    check_monitors,
    dump_config,
    errors_located,
    read_yaml_text,
    resolve,
    yaml_load,
)
from nnlearn.runs.extend import build_network
from nnlearn.runs.metrics import classification_metrics, regression_metrics
from nnlearn.runs.model import Model
from nnlearn.runs.modelfile import (
    load_arrays,
    load_model,
    model_from_arrays,
    save_arrays,
    save_model,
)
from nnlearn.runs.trainstate import load_trainer_state, trainer_state

CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.npz"
CHECKPOINT_FILE = "checkpoint.npz"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
DIAGNOSTICS_FILE = "diagnostics.csv"


# ------------------------------------------------------------------------------------------
# preparing a run: everything that can fail on bad input happens here, before any file is written


@dataclass
class Prepared:
    cfg: dict[str, Any]
    model: Model
    trainer: Trainer
    train: Split
    val: Split | None
    train_table: Table
    train_idx: np.ndarray
    val_idx: np.ndarray
    test_table: Table | None
    checkpointer: Checkpointer = field(default=None)  # type: ignore[assignment]


def draw_seed() -> int:
    return secrets.randbelow(2**31)


def choose_loss(cfg_loss: str, task: str, n_classes: int | None, *,
                inferred_from: str | None = None) -> str:
    """``auto``: cross-entropy for classes (sigmoid BCE when there are exactly two), MSE for
    regression. An explicit loss must fit the task. ``inferred_from`` (e.g. "column 'y' of
    train.csv") says the task was guessed from the data, so the error can say so."""
    if cfg_loss == "auto":
        if task == "regression":
            return "mse"
        return "bce" if n_classes == 2 else "cross_entropy"
    how = f" (inferred from {inferred_from})" if inferred_from else ""
    hint = ("set data.task if the inferred task is wrong, or use loss: auto" if inferred_from
            else None)
    loss_task = LOSSES[cfg_loss].task  # a plugin's loss says which task it is for
    if task == "classification" and loss_task != "classification":
        raise ConfigError(f"loss {cfg_loss!r} is for regression, but the task is classification"
                          f"{how}; use cross_entropy or bce", key="training.loss", hint=hint)
    if task == "regression" and loss_task != "regression":
        raise ConfigError(f"loss {cfg_loss!r} is for classification, but the task is regression"
                          f"{how}; use mse or mae", key="training.loss", hint=hint)
    if cfg_loss == "bce" and n_classes != 2:
        raise ConfigError(f"loss 'bce' needs exactly 2 classes, the data has {n_classes}; "
                          "use cross_entropy", key="training.loss")
    return cfg_loss


def _class_weight_vector(spec: Any, encoder: LabelEncoder, y: np.ndarray) -> np.ndarray | None:
    if spec is None:
        return None
    k = len(encoder.classes_)
    if spec == "balanced":
        per_class = class_weights_balanced(y, k)
    else:
        known = {str(c): i for i, c in enumerate(encoder.classes_)}
        per_class = np.ones(k)
        for label, weight in spec.items():
            if str(label) not in known:
                raise ConfigError(f"class {label!r} is not in the data (classes: "
                                  f"{', '.join(encoder.classes_)})",
                                  key=f"training.class_weight.{label}")
            per_class[known[str(label)]] = float(weight)
    return per_class[y]


def _targets(task: str, table: Table, encoder: LabelEncoder | None,
             target_scaler: Standardizer | None) -> np.ndarray:
    if task == "classification":
        return encoder.transform(table.y, lines=table.lines, path=table.path, column=table.target)
    y = regression_targets(table.y, table.lines, table.path, column=table.target)
    return target_scaler.transform(y) if target_scaler is not None else y


def _checked_inputs(model: Model, table: Table, X: np.ndarray) -> np.ndarray:
    """``model.inputs(X)`` for the encoded rows X (n, d) of ``table``, refusing a value that
    stops being finite on the way (a float32 network, or data far outside the training range):
    it would only turn into NaN outputs."""
    with np.errstate(over="ignore", invalid="ignore"):
        x = model.inputs(X)
    bad = ~np.isfinite(x)
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        line = int(table.lines[row])
        raise DataError(f"value {float(X[row, col])!r} does not fit the network's "
                        f"{model.network.dtype} inputs (not finite after standardisation)",
                        path=table.path, line=line, column=model.input_name(col),
                        hint="rescale the column, or train with training.dtype: float64"
                        if model.network.dtype == np.float32 else
                        "the value is far outside what the model was trained on")
    return x


def metric_fn_for(model: Model) -> Callable[[np.ndarray, np.ndarray], dict[str, float]]:
    """Per-epoch validation metrics from raw network outputs: accuracy for classification,
    R^2/RMSE/MAE (in the target's own units) for regression."""
    if model.task == "classification":
        def classification(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
            idx = model.loss.output(pred).argmax(axis=1)
            return {"accuracy": float(np.mean(idx == y))}
        return classification

    def regression(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
        p, t = pred.astype(np.float64), y.astype(np.float64)
        if model.target_scaler is not None:
            p, t = model.target_scaler.inverse_transform(p), model.target_scaler.inverse_transform(t)
        m = regression_metrics(t, p)
        return {k: m[k] for k in EPOCH_METRICS["regression"]}
    return regression


def _check_class_count(n_classes: int, table: Table, data: dict[str, Any]) -> None:
    """A target with a class for (nearly) every row is an ID or a measurement, not labels:
    training on it costs memory quadratic in the classes and learns nothing. Refused unless
    ``data.allow_many_classes`` says it is meant. When the task was inferred and nearly every
    cell is a number, the few that are not made it look like classes: name the first."""
    n_rows = len(table.y)
    if n_classes <= max(2, n_rows // 2) or data.get("allow_many_classes"):
        return
    if data["task"] == "auto" and _share_of_numbers(table.y) >= 0.9:
        try:
            regression_targets(table.y, table.lines, table.path, column=data["target"])
        except DataError as exc:
            raise DataError(f"{exc.problem}; nearly every other cell of the target is a number, "
                            f"so with it the target looked like {n_classes} classes for "
                            f"{n_rows} rows", path=exc.path, line=exc.line, column=exc.column,
                            hint="fix the cell if the target is a number to regress; if the "
                                 "column is an ID, choose another data.target") from None
    raise DataError(f"the target has {n_classes} classes for {n_rows} rows (more than "
                    "half the rows); is it an ID column, or a number to regress?",
                    path=table.path, column=data["target"],
                    hint="set data.task: regression for numbers, or "
                         "data.allow_many_classes: true if these really are the classes")


def _share_of_numbers(cells: np.ndarray) -> float:
    """The share of ``cells`` that Python reads as a float (a rough test, for a message)."""
    def number(cell: Any) -> bool:
        try:
            float(cell)
        except (TypeError, ValueError):
            return False
        return True
    return sum(map(number, cells)) / max(1, len(cells))


#: Where Linux says how much memory this process's control group (a container) may use.
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def _memory_bytes() -> int | None:
    """The memory this process may use: the machine's, or its container's limit if lower."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    for path in _CGROUP_LIMITS:
        try:
            with open(path, encoding="ascii") as f:  # a kernel file: never blocks
                text = f.read(64).strip()
        except (OSError, ValueError):
            continue
        if text.isdigit():  # "max" means no limit
            total = min(total, int(text))
    return total


#: Training holds the weights, their gradients and up to three buffers of the same size
#: (Adam's two moments, early stopping's best weights).
_TRAINING_COPIES = 5


def check_network_size(n_inputs: int, hidden: Sequence[int], n_outputs: int,
                       dtype: Any, *, rows: int = 0) -> int:
    """The number of parameters of the MLP; ConfigError, before anything is allocated, when
    training it would not fit in this machine's memory: five copies of the weights, plus the
    activations of every layer for ``rows`` rows at once (a full batch, or the final metrics
    on the whole training set), pre-activation and output each."""
    widths = [n_inputs, *hidden, n_outputs]
    n_params = sum((a + 1) * b for a, b in itertools.pairwise(widths))
    itemsize = np.dtype(dtype).itemsize
    n_bytes = n_params * itemsize
    need = n_bytes * _TRAINING_COPIES + 2 * rows * sum(widths[1:]) * itemsize
    memory = _memory_bytes()
    if memory is not None and need > memory:
        raise ConfigError(f"the network has {n_params:,} parameters ({n_bytes:,} bytes of "
                          f"weights); training it on {rows:,} rows needs about {need:,} bytes, "
                          f"this machine has {memory:,} bytes of memory", key="model.hidden",
                          hint="use fewer or narrower hidden layers")
    return n_params


def _require_data_file(key: str, path: str) -> None:
    """A data file a config names must exist; the error says which key named it and how its
    path was read."""
    if not os.path.lexists(path):
        raise DataError(f"file not found (named by {key})", path=path,
                        hint="a relative path in a config, or in --set, is relative to the "
                             "config file's folder")


def read_training_table(cfg: dict[str, Any]) -> Table:
    """The training file of a resolved config, read as training reads it (its features, weights,
    categorical columns and missing-value policy)."""
    d = cfg["data"]
    _require_data_file("data.train", d["train"])
    return read_csv(d["train"], target=d["target"], features=d["features"],
                    weight_column=d.get("sample_weight"), categorical=d.get("categorical", []),
                    allow_missing=d.get("missing") == "mean")


def prepare(cfg: dict[str, Any], *, callbacks: Sequence[Callback] = ()) -> Prepared:
    """Read the data, build the model, optimizer, schedule and trainer described by a resolved
    config. Raises ConfigError/DataError on bad input; writes nothing."""
    cfg = json.loads(json.dumps(cfg))  # a private copy
    if cfg.get("seed") is None:
        cfg["seed"] = draw_seed()
    rng = np.random.default_rng(cfg["seed"])
    d, m, t = cfg["data"], cfg["model"], cfg["training"]

    table = read_training_table(cfg)
    task = d["task"] if d["task"] != "auto" else infer_task(table.y)
    encoder = target_scaler = None
    if task == "classification":
        encoder = LabelEncoder().fit(table.y, table.lines, table.path, column=d["target"])
        if len(encoder.classes_) < 2:
            raise DataError(f"the target column has only one class ({encoder.classes_[0]!r}); "
                            "classification needs at least two", path=table.path,
                            column=d["target"])
        _check_class_count(len(encoder.classes_), table, d)
    inferred = f"column {d['target']!r} of {table.path}" if d["task"] == "auto" else None
    loss_name = choose_loss(t["loss"], task, None if encoder is None else len(encoder.classes_),
                            inferred_from=inferred)

    y_all = _targets(task, table, encoder, None)
    train_idx, val_idx = split_indices(len(table.X), d["val_fraction"], rng,
                                       stratify=y_all if encoder is not None else None)
    check_monitors(t, task, len(val_idx), d["val_fraction"])
    encoding = FeatureEncoder(table.columns, d.get("categorical", []),
                              missing=d.get("missing", "refuse"),
                              unknown=d.get("unknown_category", "error")).fit(table, train_idx)
    X_all = encoding.transform(table)
    scaler = (Standardizer().fit(X_all[train_idx], encoding.names, path=table.path)
              if d["standardize"] else None)
    if scaler is not None:  # one-hot inputs stay 0/1, as practitioners leave them
        scaler.mean_[encoding.one_hot], scaler.scale_[encoding.one_hot] = 0.0, 1.0
    if task == "regression" and d.get("standardize_target", True):
        target_scaler = Standardizer().fit(y_all[train_idx], [d["target"]], path=table.path)

    dtype = np.dtype(t["dtype"])
    n_out = 1 if loss_name == "bce" or encoder is None else len(encoder.classes_)
    check_network_size(encoding.width, [layer["units"] for layer in m["layers"]],
                       n_out, dtype, rows=len(table.X))
    network = build_network(encoding.width, m["layers"], n_out, rng=rng, dtype=dtype)
    model = Model(network, task=task, loss_name=loss_name, feature_names=table.columns,
                  target=d["target"], encoder=encoder, scaler=scaler, target_scaler=target_scaler,
                  encoding=encoding)

    y_model = y_all if target_scaler is None else target_scaler.transform(y_all)
    if task == "regression":
        with np.errstate(over="ignore"):
            y_model = y_model.astype(dtype)
        if not np.isfinite(y_model).all():
            row = int(np.flatnonzero(~np.isfinite(y_model).all(axis=1))[0])
            raise DataError(f"value {table.y[row]} does not fit {dtype} (not finite)",
                            path=table.path, line=int(table.lines[row]), column=d["target"],
                            hint="rescale the target, set data.standardize_target: true, or "
                                 "train with training.dtype: float64")
    weights = table.weights
    cw = _class_weight_vector(t.get("class_weight"), encoder, y_all) if encoder else None
    if cw is not None:
        weights = cw if weights is None else weights * cw
    x_all = _checked_inputs(model, table, X_all)
    train = Split(x_all[train_idx], y_model[train_idx],
                  None if weights is None else weights[train_idx].astype(dtype))
    val = Split(x_all[val_idx], y_model[val_idx]) if len(val_idx) else None

    test_table = None
    if d.get("test"):
        _require_data_file("data.test", d["test"])
        test_table = read_csv(d["test"], target=d["target"], **model.read_options())
        _targets(task, test_table, encoder, target_scaler)  # refuse unseen labels now, not later
        model.encode(test_table)  # and unseen categories

    optimizer = make_optimizer(t["optimizer"], network.parameters(), t["learning_rate"],
                               t["weight_decay"])
    schedule = make_schedule(t["schedule"], t["learning_rate"], t["epochs"])
    all_callbacks: list[Callback] = []
    if t.get("early_stopping"):
        es = t["early_stopping"]
        all_callbacks.append(EarlyStopping(es["monitor"], es["mode"], es["patience"],
                                           es["min_delta"], es["restore_best_weights"]))
    if t.get("diagnostics"):
        from nnlearn.runs.diagnostics import Diagnostics

        all_callbacks.append(Diagnostics(train))
    if t.get("snapshots"):
        from nnlearn.runs.snapshots import Snapshots

        all_callbacks.append(Snapshots(int(t["snapshots"]), int(t["epochs"])))
    all_callbacks.extend(callbacks)
    batch_size = None if t["batch_size"] == "full" else int(t["batch_size"])
    trainer = Trainer(network, model.loss, optimizer, rng=rng, batch_size=batch_size,
                      schedule=schedule, shuffle=t.get("shuffle", True),
                      clip_norm=t.get("clip_grad_norm"), clip_value=t.get("clip_grad_value"),
                      metric_fn=metric_fn_for(model), callbacks=all_callbacks)
    return Prepared(cfg, model, trainer, train, val, table, train_idx, val_idx, test_table)


# ------------------------------------------------------------------------------------------
# evaluation and prediction: one function each, used by train, eval and predict alike


def evaluate(model: Model, table: Table, *, rows: np.ndarray | None = None) -> dict[str, Any]:
    """Loss and metrics of ``model`` on ``table`` (or on its ``rows``)."""
    X = model.encode(table)
    X = X if rows is None else X[rows]
    sub = table if rows is None else Table(table.path, table.header, table.X[rows],
                                           table.feature_names, table.y[rows], table.target,
                                           table.lines[rows], None)
    scores = model.network.predict(_checked_inputs(model, sub, X))
    if model.task == "classification":
        y = model.encoder.transform(sub.y, lines=sub.lines, path=sub.path, column=sub.target)
        out: dict[str, Any] = {"n": len(y), "loss": model.loss.value(scores, y)}
        out.update(classification_metrics(y, model.loss.output(scores).argmax(axis=1),
                                          model.classes))
        return out
    y = regression_targets(sub.y, sub.lines, sub.path, column=sub.target)
    y_model = model.target_scaler.transform(y) if model.target_scaler else y
    out = {"n": len(y), "loss": model.loss.value(scores, y_model.astype(scores.dtype))}
    out.update(regression_metrics(y, model.predict_values(X)))
    return out


def predict_rows(model: Model, table: Table, *, proba: bool = False) -> tuple[list[str], list[list]]:
    """Header and rows of predictions, one row per input row (original class names)."""
    X = model.encode(table)
    _checked_inputs(model, table, X)  # refuse values that would only give NaN
    if model.task == "classification":
        if proba:
            p = model.predict_proba(X)
            header = ["prediction"] + [f"p_{c}" for c in model.classes]
            names = model.encoder.inverse_transform(p.argmax(axis=1))
            return header, [[n, *map(float, row)] for n, row in zip(names, p)]
        return ["prediction"], [[n] for n in model.predict(X)]
    return ["prediction"], [[float(v)] for v in model.predict(X)]


def input_summary(cfg: dict[str, Any]) -> str:
    """The network's inputs for a resolved config, e.g. ``4 numeric + 3 one-hot = 7 inputs``
    (categories come from the training file, as in ``prepare``)."""
    table = read_training_table(cfg)
    return FeatureEncoder(table.columns, cfg["data"].get("categorical", [])).fit(table).describe()


# ------------------------------------------------------------------------------------------
# the run folder


def default_run_dir(config_path: str | os.PathLike | None, base: Path | None = None) -> Path:
    """``runs/<config name>``; a run folder's own config.yaml, trained again, is named after
    its folder (``runs/iris/config.yaml`` -> ``runs/iris-2``, not ``runs/config``)."""
    path = Path(config_path) if config_path else None
    stem = "run" if path is None else path.stem
    if path is not None and path.name == CONFIG_FILE and (path.parent / MODEL_FILE).exists():
        stem = path.resolve().parent.name
    return (base or Path.cwd() / "runs") / stem


def make_run_dir(path: Path, *, numbered: bool) -> Path:
    """Create a fresh run folder. ``numbered``: ``runs/iris`` exists -> ``runs/iris-2`` ...
    Otherwise an existing non-empty folder is refused: a run never overwrites another's files."""
    for parent in (path.parent, *path.parent.parents):
        if parent.exists():
            if not parent.is_dir():
                raise NnlearnError(f"{parent}: is a file, so the run folder {path} cannot be "
                                   "made inside it")
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    if not numbered:
        _require_empty(path)
        path.mkdir(exist_ok=True)
        return path
    candidate, k = path, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            k += 1
            candidate = path.with_name(f"{path.name}-{k}")


def _require_empty(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise NnlearnError(f"{shown_path(path)}: already exists and is not empty; choose another --out "
                           "(a run never overwrites another run's files)")


def write_history(path: Path, history: list[dict[str, float]]) -> None:
    columns: list[str] = []
    for row in history:
        columns.extend(k for k in row if k not in columns)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in history:
        writer.writerow(["" if row.get(c) is None else repr(row[c]) if isinstance(row[c], float)
                         else row[c] for c in columns])
    atomicio.write_text(path, buf.getvalue())


def read_history(path: Path) -> list[dict[str, float]]:
    """history.csv as written by ``write_history``: one dict per epoch, empty cells left out.

    What an interrupted copy leaves is tolerated: a last row cut short keeps the cells it has
    (or is dropped when its last cell is no longer a number). Anything else that is not a
    number is NnlearnError naming the file, line and column."""
    text = safeio.read_text(path, what="history file", limit=safeio.MAX_TABLE_BYTES)
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise NnlearnError(f"{path}: not a CSV file ({exc})") from None
    if not rows:
        return []
    header, out = rows[0], []
    for i, row in enumerate(rows[1:], start=2):
        last = i == len(rows)
        if len(row) > len(header):
            raise NnlearnError(f"{path}: line {i}: {len(row)} cells for {len(header)} columns")
        values: dict[str, float] = {}
        for name, cell in zip(header, row):
            if cell == "":
                continue
            try:
                values[name] = float(cell)
            except ValueError:
                if last:  # a copy cut off in the middle of the last row
                    values = {}
                    break
                raise NnlearnError(f"{path}: line {i}, column {name!r}: {cell[:40]!r} is not "
                                   "a number") from None
        if values:
            out.append(values)
    return out


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


def write_json(path: Path, obj: Any) -> None:
    atomicio.write_text(path, json.dumps(_json_safe(obj), indent=2) + "\n")


class Checkpointer(Callback):
    """Keeps an exact in-memory snapshot of the trainer after every epoch (so Ctrl-C can save a
    consistent state), and writes it to ``checkpoint.npz`` every ``every`` epochs."""

    def __init__(self, run_dir: Path | None, model: Model, cfg: dict[str, Any],
                 every: int) -> None:
        self.run_dir, self.model, self.cfg, self.every = run_dir, model, cfg, every
        self.snapshot: tuple[dict[str, np.ndarray], dict[str, Any]] | None = None
        # The weight-snapshot callback and its position in the trainer's callbacks, when the
        # run keeps snapshots: their weights are not in the per-epoch state (see snapshots.py)
        # and are added to the checkpoint file here.
        self.snapshots: tuple[Any, int] | None = None

    def on_train_begin(self, trainer):
        if self.snapshot is None:
            self.snapshot = trainer_state(trainer)

    def on_epoch_end(self, trainer, logs):
        self.snapshot = trainer_state(trainer)
        if self.every and trainer.epoch % self.every == 0:
            self.write()

    def write(self) -> None:
        arrays, state = self.snapshot
        if self.snapshots is not None:  # their weights, as of the state being written
            _, index = self.snapshots
            count = len(state["callbacks"][index]["epochs"])
            arrays = {**arrays, **self.snapshots[0].arrays(count)}
        meta = self.model.metadata()
        meta["kind"] = "checkpoint"
        meta["training_state"] = state
        save_arrays(self.run_dir / CHECKPOINT_FILE, arrays, _json_safe(meta))
        write_history(self.run_dir / HISTORY_FILE, state["history"])

    def write_model_from_snapshot(self) -> None:
        arrays, _ = self.snapshot
        self.model.network.set_weights({k[6:]: v for k, v in arrays.items()
                                        if k.startswith("param/")})
        save_model(self.run_dir / MODEL_FILE, self.model)


class DivergenceGuard(Callback):
    """Stop with DivergedError when a loss of the epoch is not finite. The trainer checks the
    training loss and the weights; but finite weights can still give outputs that overflow
    (val_loss inf while train_loss is 1e209), and such a model must not be saved as a result.
    Runs before the checkpointer, so the last checkpoint stays the last good epoch."""

    def on_epoch_end(self, trainer, logs):
        for key, value in logs.items():
            if key.endswith("loss") and not math.isfinite(value):
                raise DivergedError(
                    f"training diverged: {key} became {value} in epoch {int(logs['epoch'])}",
                    hint=divergence_hint(trainer.optimizer))


@dataclass
class RunResult:
    run_dir: Path
    epochs: int
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    stopped: str
    warnings: list[str] = field(default_factory=list)  # from training.diagnostics


def _final_metrics(p: Prepared) -> dict[str, Any]:
    out: dict[str, Any] = {"train": evaluate(p.model, p.train_table, rows=p.train_idx)}
    if len(p.val_idx):
        out["val"] = evaluate(p.model, p.train_table, rows=p.val_idx)
    if p.test_table is not None:
        out["test"] = evaluate(p.model, p.test_table)
    return out


def train(cfg: dict[str, Any], *, config_path: str | os.PathLike | None = None,
          out: str | os.PathLike | None = None, callbacks: Sequence[Callback] = (),
          init_from: str | os.PathLike | None = None,
          on_run_dir: Callable[[Path], None] | None = None) -> RunResult:
    """Train the model a resolved config describes and write its run folder."""
    p = _prepare_run(cfg, callbacks, config_path)
    if init_from is not None:
        _copy_weights_from(p.model, init_from)
    existed = out is not None and Path(out).is_dir()
    if out is not None:
        run_dir = make_run_dir(Path(out), numbered=False)
    elif p.cfg["output"].get("dir"):
        run_dir = make_run_dir(Path(p.cfg["output"]["dir"]), numbered=True)
    else:
        run_dir = make_run_dir(default_run_dir(config_path), numbered=True)
    # The folder is ours while the lock is held; checking it is empty only now, under the lock,
    # is what makes two runs started together on one --out fail one of them.
    try:
        with safeio.claim_folder(run_dir):
            if out is not None:
                _require_empty(run_dir)
            if on_run_dir is not None:
                on_run_dir(run_dir)
            atomicio.write_text(run_dir / CONFIG_FILE, dump_config(p.cfg))
            return _fit_and_write(p, run_dir)
    except NnlearnError:
        raise  # reported, with what the folder holds (a checkpoint, the divergence, ...)
    except Exception:
        # a bug, nnlearn's or a plugin's: leave no half-made run folder behind, unless a
        # periodic checkpoint (training.checkpoint_every) makes it resumable
        if (run_dir / CHECKPOINT_FILE).exists():
            raise
        for child in run_dir.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
        if not existed:
            run_dir.rmdir()
        raise


def resume(run_dir: str | os.PathLike, *, callbacks: Sequence[Callback] = ()) -> RunResult:
    """Continue an interrupted run from its checkpoint: same weights, optimizer state, schedule,
    random generator, epoch and history, so the result equals an uninterrupted run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return _resume(run_dir, callbacks)  # refused there, with the usual message
    with safeio.claim_folder(run_dir):
        return _resume(run_dir, callbacks)


def _resume(run_dir: Path, callbacks: Sequence[Callback]) -> RunResult:
    if not run_dir.is_dir():
        raise NnlearnError(f"{shown_path(run_dir)}: "
                           f"{'is not a folder' if run_dir.exists() else 'no such run folder'}",
                           hint="--resume takes the run folder that train wrote (e.g. runs/iris)")
    ckpt = run_dir / CHECKPOINT_FILE
    finished = _finished(run_dir)
    if not ckpt.is_file() and finished:
        raise NnlearnError(f"{shown_path(run_dir)}: this run finished ({finished}) and has no "
                           f"{CHECKPOINT_FILE}; there is nothing to resume",
                           hint=f"to train further from its weights: nnlearn train CONFIG "
                                f"--init-from {shown_path(run_dir)}")
    if not ckpt.is_file():
        raise NnlearnError(f"{shown_path(run_dir)}: no {CHECKPOINT_FILE} to resume from",
                           hint="a run writes one on Ctrl-C or every training.checkpoint_every "
                                "epochs")
    cfg = load_run_config(run_dir)
    p = _prepare_run(cfg, callbacks, run_dir / CONFIG_FILE)
    arrays, meta = load_arrays(ckpt)
    saved = model_from_arrays(ckpt, arrays, meta)  # shapes, finite values, before any use
    _check_same_data(ckpt, saved, p.model)
    state = meta.get("training_state")
    _check_training_state(ckpt, state, p.cfg)
    _check_state_matches(ckpt, p.trainer, arrays, state)
    try:
        load_trainer_state(p.trainer, arrays, state)
        if p.checkpointer.snapshots is not None:
            p.checkpointer.snapshots[0].restore_arrays(arrays)
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, ArithmeticError,
            NnlearnError) as exc:
        raise NnlearnError(f"{ckpt}: checkpoint does not match the run's config "
                           f"({exc})"[:300]) from None
    return _fit_and_write(p, run_dir)


def diverged(run_dir: str | os.PathLike) -> str | None:
    """The error of a run that diverged (its metrics.json says so), or None."""
    try:
        summary = json.loads((Path(run_dir) / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(summary, dict) and summary.get("status") == "diverged"):
        return None
    return str(summary.get("error") or "the loss became non-finite")


def _check_training_state(path: Path, state: Any, cfg: dict[str, Any]) -> None:
    """A checkpoint's training state is checked like a config before the trainer sees it:
    the epoch a count within the run's epochs, rates finite and >= 0, the stop reason text,
    the history rows numbers (or null, what a non-finite number was saved as)."""
    def fail(key: str, expected: str) -> NoReturn:
        raise ModelFileError(f"{path}: training_state.{key}: expected {expected}")

    def count(value: Any, key: str, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
            fail(key, f"an integer from 0 to {high}")
        return value

    def rate(value: Any, key: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value) or value < 0:
            fail(key, "a finite number >= 0")

    if not isinstance(state, dict):
        fail("", "a mapping")
    for key in ("epoch", "rng", "lr", "optimizer_numbers", "schedule", "callbacks", "history"):
        if key not in state:
            fail(key, "a value (the key is missing)")
    epoch = count(state["epoch"], "epoch", cfg["training"]["epochs"])
    rate(state["lr"], "lr")
    numbers = state["optimizer_numbers"]
    if not isinstance(numbers, dict):
        fail("optimizer_numbers", "a mapping")
    for key, value in numbers.items():
        if key == "t":
            count(value, "optimizer_numbers.t", 2**62)
        else:
            rate(value, f"optimizer_numbers.{key}")
    if state["schedule"] is not None and not isinstance(state["schedule"], dict):
        fail("schedule", "a mapping or null")

    def settings(mapping: dict[str, Any], key: str) -> None:
        # schedule and callback states hold epoch counters, flags and finite metric values
        for name, value in mapping.items():
            if isinstance(value, int) and not isinstance(value, bool):
                if not -1 <= value <= MAX_EPOCHS:
                    fail(f"{key}.{name}", f"an integer from -1 to {MAX_EPOCHS}")
            elif isinstance(value, float):
                if not math.isfinite(value):
                    fail(f"{key}.{name}", "a finite number")
            elif isinstance(value, list):  # e.g. the epochs a snapshot was taken at
                if not all(isinstance(v, int) and not isinstance(v, bool)
                           and 0 <= v <= MAX_EPOCHS for v in value):
                    fail(f"{key}.{name}", f"a list of integers from 0 to {MAX_EPOCHS}")
            elif not (value is None or isinstance(value, (bool, str))):
                fail(f"{key}.{name}", "a number, text, a list of epochs or null")

    if state["schedule"] is not None:
        settings(state["schedule"], "schedule")
    if not isinstance(state["rng"], dict):
        fail("rng", "a mapping")
    reason = state.get("stop_reason")
    if reason is not None and not isinstance(reason, str):
        fail("stop_reason", "text or null")
    callbacks = state["callbacks"]
    if not isinstance(callbacks, list) or not all(isinstance(c, dict) for c in callbacks):
        fail("callbacks", "a list of mappings")
    for i, cb in enumerate(callbacks):
        settings(cb, f"callbacks[{i}]")
    history = state["history"]
    if not isinstance(history, list) or len(history) != epoch:
        fail("history", f"a list of {epoch} rows (one per epoch)")
    for i, row in enumerate(history):
        if not isinstance(row, dict) or not all(
                v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                for v in row.values()):
            fail(f"history[{i}]", "a mapping of numbers")


def _check_state_matches(path: Path, trainer: Trainer, arrays: dict[str, np.ndarray],
                         state: dict[str, Any]) -> None:
    """The checkpoint's optimizer and schedule state is the state this run's trainer keeps:
    the same names, array shapes and kinds of number. The lesson's ``load_state_dict`` methods
    copy what they are given, so a checkpoint of another optimizer (Adam's m and v for SGD) or
    another network would otherwise be loaded half-way or broadcast into the wrong shapes."""
    fresh_arrays, fresh = trainer_state(trainer)

    def fail(what: str) -> NoReturn:
        raise ModelFileError(f"{path}: {what} does not match the run's config "
                             f"({trainer.optimizer!r}, {type(trainer.schedule).__name__})")

    want = {k: v for k, v in fresh_arrays.items() if k.startswith("optim/")}
    saved = {k: v for k, v in arrays.items() if k.startswith("optim/")}
    if set(want) != set(saved):
        fail(f"the optimizer state {sorted(set(saved) ^ set(want))[:3]}")
    for key, value in want.items():
        if saved[key].shape != value.shape or saved[key].dtype.kind != "f":
            fail(f"the optimizer state {key!r} of shape {saved[key].shape}")
    for part in ("optimizer_numbers", "schedule"):
        want_numbers, got = fresh[part], state[part]
        if (want_numbers is None) != (got is None) or (
                got is not None and set(got) != set(want_numbers)):
            fail(f"training_state.{part}")
        for key, value in (want_numbers or {}).items():
            if isinstance(value, int) and not (isinstance(got[key], int)
                                               and not isinstance(got[key], bool)):
                fail(f"training_state.{part}.{key} (a whole number is expected)")


def _finished(run_dir: Path) -> str | None:
    """Why a finished run stopped (from its metrics.json), or None if it has not finished."""
    try:
        summary = safeio.read_metrics(run_dir / METRICS_FILE)
    except NnlearnError:
        return None
    return summary.get("stopped") if summary.get("status") == "ok" else None


def _prepare_run(cfg: dict[str, Any], callbacks: Sequence[Callback],
                 config_path: str | os.PathLike | None) -> Prepared:
    """``prepare`` for train and resume: config errors that only the data reveals (a loss that
    does not fit the inferred task, an unknown class in class_weight) name the config file like
    the rest; and the run's own callbacks are put in, in the same place for both, so that a
    checkpoint's callback states line up by position when it is resumed.

    That place is right before the caller's callbacks: the divergence guard, then the
    checkpointer, whose snapshot thus includes every built-in callback's state (early stopping)
    for the epoch and is taken before a progress callback reports it -- Ctrl-C after
    "epoch N" saves N epochs."""
    if config_path is None:
        p = prepare(cfg, callbacks=callbacks)
    else:
        with errors_located(config_path):
            p = prepare(cfg, callbacks=callbacks)
    every = int(p.cfg["training"].get("checkpoint_every") or 0)
    p.checkpointer = Checkpointer(None, p.model, p.cfg, every)  # run_dir is set when known
    cbs = p.trainer.callbacks
    at = next((i for i, cb in enumerate(cbs) if any(cb is c for c in callbacks)), len(cbs))
    cbs[at:at] = [DivergenceGuard(), p.checkpointer]
    from nnlearn.runs.snapshots import Snapshots

    p.checkpointer.snapshots = next(((cb, i) for i, cb in enumerate(cbs)
                                     if isinstance(cb, Snapshots)), None)
    return p


@contextlib.contextmanager
def deferred_sigint() -> Iterator[None]:
    """Hold back SIGINT (Ctrl-C) and SIGTERM while the block runs; one that arrives meanwhile
    is dropped, since the caller is already stopping because of the first. Only the main thread
    can set signal handlers; elsewhere (a sweep's thread pool) the block simply runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            if handler is None:  # set outside Python: put back Python's own default
                handler = signal.default_int_handler if s == signal.SIGINT else signal.SIG_DFL
            signal.signal(s, handler)


def _fit_and_write(p: Prepared, run_dir: Path) -> RunResult:
    t = p.cfg["training"]
    ckpt = p.checkpointer  # put in by _prepare_run
    ckpt.run_dir = run_dir
    try:
        history = p.trainer.fit(p.train, p.val, t["epochs"])
    except KeyboardInterrupt:
        with deferred_sigint():  # a second Ctrl-C must not cut the checkpoint short
            if ckpt.snapshot is None:  # interrupted in on_train_begin: no epoch has run yet
                ckpt.snapshot = trainer_state(p.trainer)
            ckpt.write()
            ckpt.write_model_from_snapshot()
            _write_diagnostics(p, run_dir)
            _write_snapshots(p, run_dir, ckpt)
        done = ckpt.snapshot[1]["epoch"]
        raise TrainingInterrupted(
            f"interrupted after {done} complete epochs; checkpoint saved in {shown_path(run_dir)}",
            checkpoint=str(run_dir),
            hint=f"resume with: nnlearn train --resume {shown_path(run_dir)}"
                 + "".join(f" --plugin {shlex.quote(shown_path(path))}"
                           for path in _plugin_files(p))) from None
    except DivergedError as exc:
        _write_diagnostics(p, run_dir)
        _write_snapshots(p, run_dir)
        write_history(run_dir / HISTORY_FILE, p.trainer.history)
        write_json(run_dir / METRICS_FILE, {"status": "diverged", "error": str(exc),
                                            "epochs": p.trainer.epoch, "seed": p.cfg["seed"]})
        raise
    if ckpt.every or (run_dir / CHECKPOINT_FILE).exists():  # never leave a stale checkpoint
        ckpt.snapshot = trainer_state(p.trainer)
        ckpt.write()
    save_model(run_dir / MODEL_FILE, p.model)
    _write_snapshots(p, run_dir)
    write_history(run_dir / HISTORY_FILE, history)
    metrics = _final_metrics(p)
    es = next((cb for cb in p.trainer.callbacks if isinstance(cb, EarlyStopping)), None)
    summary = {"status": "ok", "epochs": p.trainer.epoch, "seed": p.cfg["seed"],
               "stopped": p.trainer.stop_reason,
               "best_epoch": None if es is None else es.best_epoch,
               "restored_epoch": p.trainer.restored_epoch, **metrics}
    write_json(run_dir / METRICS_FILE, summary)
    return RunResult(run_dir, p.trainer.epoch, summary, history, p.trainer.stop_reason,
                     _write_diagnostics(p, run_dir))


def _plugin_files(p: Prepared) -> list[str]:
    """The --plugin files whose names this run uses (layers, loss, optimizer, schedule)."""
    t = p.cfg["training"]
    return plugins.files_of([*(s["type"] for s in p.model.network.spec()), p.model.loss_name,
                             t["optimizer"]["name"], t["schedule"]["name"]])


def _write_diagnostics(p: Prepared, run_dir: Path) -> list[str]:
    """Write diagnostics.csv when ``training.diagnostics`` is on; return its warnings."""
    from nnlearn.runs.diagnostics import Diagnostics

    diag = next((cb for cb in p.trainer.callbacks if isinstance(cb, Diagnostics)), None)
    if diag is None:
        return []
    atomicio.write_text(run_dir / DIAGNOSTICS_FILE, diag.to_csv())
    return diag.warnings()


def _write_snapshots(p: Prepared, run_dir: Path, ckpt: Checkpointer | None = None) -> None:
    """Write snapshots.npz when ``training.snapshots`` is on: every snapshot taken so far, or,
    given the checkpointer of an interrupted run, those its checkpoint knows (an interrupt
    between two callbacks can leave one more in memory)."""
    from nnlearn.runs.snapshots import SNAPSHOTS_FILE, Snapshots, write_snapshots

    snaps = next((cb for cb in p.trainer.callbacks if isinstance(cb, Snapshots)), None)
    if snaps is None:
        return
    count = None
    if ckpt is not None and ckpt.snapshots is not None:
        count = len(ckpt.snapshot[1]["callbacks"][ckpt.snapshots[1]]["epochs"])
    if snaps.epochs[:count]:
        write_snapshots(run_dir / SNAPSHOTS_FILE, snaps, p.model.metadata(), count=count)


def _check_same_data(ckpt: Path, saved: Model, now: Model) -> None:
    """A resumed run continues as if it had never stopped only on the data it started with: the
    same inputs, classes, encoding (categories, fill values) and standardisation, which the
    checkpoint's model file holds and ``prepare`` has just derived again from data.train."""
    def described(m: Model) -> dict[str, Any]:
        return {"inputs": m.input_names, "classes": m.classes,
                "encoding": None if m.encoding is None else m.encoding.to_dict(),
                "standardisation": None if m.scaler is None else m.scaler.to_dict(),
                "target standardisation": (None if m.target_scaler is None
                                           else m.target_scaler.to_dict())}
    then, now_ = described(saved), described(now)
    if then["encoding"] is None:  # written before encodings were saved: the inputs must do
        now_["encoding"] = None
    changed = [k for k in then if json.dumps(then[k], default=str) != json.dumps(now_[k],
                                                                                 default=str)]
    if changed:
        raise NnlearnError(
            f"{ckpt}: the training data changed since this checkpoint was written (its "
            f"{', '.join(changed)} differ{'s' if len(changed) == 1 else ''}, e.g. "
            f"{_first_difference(then[changed[0]], now_[changed[0]])})",
            hint="resume needs the data the run started with; to train on the new data from "
                 "these weights: nnlearn train CONFIG --init-from RUN_DIR")


def _first_difference(then: Any, now: Any) -> str:
    """Where two JSON-able descriptions first differ, as ``then ... now ...`` (short)."""
    if isinstance(then, dict) and isinstance(now, dict):
        for key in [*then, *(k for k in now if k not in then)]:
            if json.dumps(then.get(key), default=str) != json.dumps(now.get(key), default=str):
                return f"{key}: {_first_difference(then.get(key), now.get(key))}"
    text = f"{json.dumps(then, default=str)} then, {json.dumps(now, default=str)} now"
    return text if len(text) <= 160 else text[:157] + "..."


def _copy_weights_from(model: Model, path: str | os.PathLike) -> None:
    """``--init-from``: start from saved weights (same architecture), fresh optimizer state."""
    source = load_run(path)[0]
    ours = {p.name: p.value.shape for p in model.network.parameters()}
    theirs = {p.name: p.value.shape for p in source.network.parameters()}
    if ours != theirs:
        def sizes(shapes: dict[str, tuple[int, ...]]) -> str:
            w = [s for name, s in shapes.items() if name.endswith(".W")]
            return " -> ".join(str(n) for n in [w[0][0], *(s[1] for s in w)]) if w else "?"

        raise NnlearnError(f"{path}: its architecture does not match this config's (layer "
                           f"sizes {sizes(theirs)} there, {sizes(ours)} here)",
                           hint="--init-from needs the same inputs, hidden layers and outputs")
    # same shapes are not enough: each input (and class) must mean what it meant there
    for what, there, here in (("input", source.input_names, model.input_names),
                              ("class", list(source.classes or []), list(model.classes or []))):
        if there != here:
            k = next(i for i, (a, b) in enumerate(zip(there + [None], here + [None])) if a != b)
            raise NnlearnError(
                f"{path}: its {what}s differ from this config's ({what} {k + 1} is "
                f"{_shown_name(there, k)} there, {_shown_name(here, k)} here)",
                hint="--init-from needs the same inputs, hidden layers and outputs: the same "
                     "feature columns in the same order, categories and classes")
    model.network.set_weights(source.network.get_weights())


def _shown_name(names: list[str], k: int) -> str:
    return repr(str(names[k])) if k < len(names) else "absent"


# ------------------------------------------------------------------------------------------
# reading runs back


def load_run_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CONFIG_FILE
    raw = yaml_load(read_yaml_text(path, "config file"), str(path))
    return resolve(raw, base_dir=run_dir, source=str(path))


#: The files of a run folder that commands read back.
RUN_FILES = (CONFIG_FILE, MODEL_FILE, CHECKPOINT_FILE, HISTORY_FILE, METRICS_FILE,
             DIAGNOSTICS_FILE)


def run_inputs(path: str | os.PathLike) -> list[Path]:
    """The files a command given ``path`` (a run folder or a model file) may read: what an
    output file must never overwrite."""
    path = Path(path)
    return [path / name for name in RUN_FILES] if path.is_dir() else [path]


def load_run(path: str | os.PathLike) -> tuple[Model, dict[str, Any] | None]:
    """A run folder (its model.npz and config.yaml) or a model/checkpoint file."""
    path = Path(path)
    if path.is_dir():
        model_path = path / MODEL_FILE
        if not model_path.is_file():
            reason = diverged(path)
            if reason is not None:
                raise NnlearnError(f"{shown_path(path)}: this run diverged, so it saved no "
                                   f"model ({reason})",
                                   hint="train again with a lower training.learning_rate (e.g. "
                                        "10x lower) or with training.clip_grad_norm")
            try:
                runs = sorted(p.name for p in path.iterdir() if (p / MODEL_FILE).is_file())
            except OSError:  # an unreadable folder: the message alone
                runs = []
            hint = None
            if runs:  # a sweep's folder, or the runs/ folder itself
                shown = ", ".join(runs[:3]) + (", ..." if len(runs) > 3 else "")
                hint = (f"it holds {len(runs)} run folder{'s' * (len(runs) > 1)} ({shown}): "
                        f"give one, e.g. {shown_path(path / runs[0])}")
            raise NnlearnError(f"{shown_path(path)}: no {MODEL_FILE} in this folder; is it a run "
                               "folder?", hint=hint)
        model = load_model(model_path)  # first: it names any plugin the config would need
        cfg = load_run_config(path) if (path / CONFIG_FILE).is_file() else None
        return model, cfg
    arrays, meta = load_arrays(path)
    return model_from_arrays(path, arrays, meta), None
