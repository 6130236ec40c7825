"""Pictures of runs: learning curves, decision boundaries and confusion matrices.

Each picture is made in two steps, kept apart so tests can check the numbers without looking at
pixels:

    prepare the data   curves_data(paths)          -> Curves    (read from history.csv)
                       boundary_grid(model, table)  -> Boundary  (the model evaluated on a grid)
                       confusion_data(model, table) -> Confusion (the same counts as `nnlearn eval`)
    draw it            draw_curves / draw_boundary / draw_confusion  -> a PNG file (matplotlib)
                       text_curves / text_boundary / text_confusion  -> a string (no matplotlib)

``plot_curves``/``plot_boundary``/``plot_confusion`` (and the ``text_*`` functions) do both
steps from run folders; they are what ``nnlearn plot`` calls.

matplotlib is an optional extra (``pip install 'nnlearn[plot]'``) imported only when a PNG is
drawn. We never import ``pyplot``: a ``Figure`` with an Agg canvas renders headless, needs no
display, ignores ``MPLBACKEND`` and keeps no global figure list. PNGs are written atomically.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnlearn.data import Table, read_csv
from nnlearn.errors import NnlearnError, install_hint
from nnlearn.plots import text as textplot
from nnlearn.runs import atomicio
from nnlearn.runs.model import Model

#: Default file names, written into the run (or sweep) folder when no output path is given.
CURVES_FILE, BOUNDARY_FILE, CONFUSION_FILE = "curves.png", "boundary.png", "confusion.png"
RESIDUALS_FILE, ROC_FILE = "residuals.png", "roc.png"
#: History columns that are not metrics of a split.
_NOT_METRICS = {"epoch", "train_loss", "val_loss", "lr", "seconds"}
DPI = 100


# ------------------------------------------------------------------------------------------
# finding runs


def printable(name: str) -> str:
    """A file or folder name as text that can be drawn and printed: bytes that were not UTF-8
    (kept by Python as lone surrogates) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _natural_key(path: Path) -> list[Any]:
    """Sort ``run-2`` before ``run-10``: digit runs compare as numbers."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def expand_runs(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Run folders named by ``paths``: a folder holding ``history.csv`` is a run; any other
    folder is a sweep folder and stands for every run folder below it (in natural order).

    Raises NnlearnError for a path that is neither."""
    from nnlearn.runs.run import HISTORY_FILE

    found: list[Path] = []
    for p in map(Path, paths):
        if (p / HISTORY_FILE).is_file():
            runs = [p]
        elif p.is_dir():
            runs = sorted((h.parent for h in p.rglob(HISTORY_FILE)), key=_natural_key)
            if not runs:
                raise NnlearnError(f"{p}: not a run folder (no {HISTORY_FILE}) and no run folders "
                                   "inside it")
        else:
            raise NnlearnError(f"{p}: not a run folder (no {HISTORY_FILE})")
        found.extend(r for r in runs if r not in found)
    return found


def default_output(paths: Sequence[str | os.PathLike], name: str) -> Path:
    """Where a picture goes when no file is named: inside the one run (or sweep) folder given,
    or, for several, inside the folder that holds them all (e.g. ``runs/``)."""
    if len(paths) == 1:
        folder = Path(paths[0])
        return (folder if folder.is_dir() else folder.parent) / name
    return Path(os.path.commonpath([os.path.abspath(p) for p in paths])) / name


# ------------------------------------------------------------------------------------------
# learning curves: data


@dataclass
class RunCurves:
    """One run's history. ``series`` maps each history.csv column to an (n_epochs,) float array
    (NaN where a row has no value); ``epoch`` is the epoch column."""

    run_dir: Path
    label: str
    epoch: np.ndarray
    series: dict[str, np.ndarray]
    best_epoch: int | None = None   # early stopping's best epoch, whose weights were kept
    diverged: bool = False


@dataclass
class Curves:
    """What a learning-curve picture shows.

    ``metric`` is the metric of the second panel (``accuracy``, ``r2``, ``lr``...; None: loss
    only); ``loss_columns``/``metric_columns`` are the history columns drawn in each panel;
    ``differs`` the dotted config keys whose values differ between the runs (the legend's
    labels are made of them)."""

    runs: list[RunCurves]
    metric: str | None
    loss_columns: list[str]
    metric_columns: list[str]
    differs: list[str] = field(default_factory=list)
    #: (label, indices into ``runs``): runs that differ only in their seed are one variant,
    #: drawn as the mean over seeds with a min-max band
    groups: list[tuple[str, list[int]]] = field(default_factory=list)


def read_history_columns(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """history.csv -> {column: (n_epochs,) float64 array}; empty cells become NaN."""
    from nnlearn.runs.run import read_history

    rows = read_history(Path(path))
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = {c: np.array([row.get(c, math.nan) for row in rows], dtype=np.float64)
           for c in columns}
    for values in out.values():
        # beyond this the span of an axis (hi - lo) overflows; such a value cannot be drawn
        values[np.abs(values) > _DRAWABLE] = math.nan
    return out


#: The largest magnitude a chart shows; larger values (a run about to diverge) are gaps.
_DRAWABLE = 1e300


def _flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _show_value(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, str) and ("/" in v or os.sep in v):
        return Path(v).name  # data paths: the file name says enough
    if isinstance(v, list):
        return "[" + ", ".join(_show_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_show_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def _short_key(key: str) -> str:
    """``training.learning_rate`` -> ``learning_rate``; ``training.optimizer.name`` ->
    ``optimizer``: the section is implied by the key, and ``name`` by its parent."""
    parts = key.split(".")
    if len(parts) > 1:
        parts = parts[1:]
    if len(parts) > 1 and parts[-1] == "name":
        parts = parts[:-1]
    return ".".join(parts)


def run_labels(configs: Sequence[Mapping[str, Any] | None],
               names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Legend labels naming what differs between runs, e.g. ``learning_rate=0.1`` vs
    ``learning_rate=1``. Returns (labels, differing dotted keys).

    Keys are compared on the resolved configs (``output.*`` ignored: where a run was written
    is not a difference in the experiment). Falls back to the folder ``names`` when a config is
    missing or nothing tells the runs apart."""
    if len(configs) < 2 or any(c is None for c in configs):
        return list(names), []
    flat = [{k: v for k, v in _flatten(c).items() if not k.startswith("output.")}
            for c in configs]
    keys: list[str] = []
    for f in flat:
        keys.extend(k for k in f if k not in keys)
    missing = object()
    differs = [k for k in keys if len({repr(f.get(k, missing)) for f in flat}) > 1]
    # A key only some runs have (sgd's momentum vs adam's beta1) follows from one that all
    # have (the optimizer's name); leaving it out keeps the labels short.
    shown = [k for k in differs if all(k in f for f in flat)] or differs
    short = [_short_key(k) for k in shown]
    if len(set(short)) < len(short):
        short = list(shown)
    labels = [", ".join(f"{s}={_show_value(f[k])}" for k, s in zip(shown, short) if k in f)
              for f in flat]
    if len(set(labels)) < len(labels) or not all(labels):
        return list(names), differs
    return labels, differs


def _pick_metric(histories: Sequence[Mapping[str, np.ndarray]], metric: str | None) -> str | None:
    present = {c for h in histories for c in h}
    if metric is not None:
        m = metric
        for prefix in ("train_", "val_"):
            if m.startswith(prefix) and m[len(prefix):]:
                m = m[len(prefix):]
                break
        if m == "loss":
            return None
        if not ({f"train_{m}", f"val_{m}", m} & present) or m == "epoch":
            shown = sorted({c.split("_", 1)[1] if c.startswith(("train_", "val_")) else c
                            for c in present} - {"epoch", "loss"})
            raise NnlearnError(f"no metric {metric!r} in history.csv; choose one of: "
                               f"{', '.join(shown)}")
        return m
    for m in ("accuracy", "r2"):
        if {f"train_{m}", f"val_{m}"} & present:
            return m
    others = sorted(c for c in present - _NOT_METRICS if c.startswith(("train_", "val_")))
    return others[0].split("_", 1)[1] if others else None


def curves_data(paths: Sequence[str | os.PathLike], *, metric: str | None = None) -> Curves:
    """Read the learning curves of runs (sweep folders expand to their runs).

    Every series is history.csv's column as written. ``metric`` picks the second panel: a
    history metric with or without its split prefix (``accuracy``, ``val_rmse``) or any other
    column (``lr`` shows the schedule); default accuracy for classification, R² for regression.
    """
    from nnlearn.runs.config import read_yaml_text, yaml_load
    from nnlearn.runs.run import CONFIG_FILE, HISTORY_FILE

    run_dirs = expand_runs(paths)
    histories, configs = [], []
    for run in run_dirs:
        h = read_history_columns(run / HISTORY_FILE)
        if not h or "epoch" not in h or len(h["epoch"]) == 0:
            raise NnlearnError(f"{run / HISTORY_FILE}: no epochs recorded")
        histories.append(h)
        cfg_path = run / CONFIG_FILE
        configs.append(yaml_load(read_yaml_text(cfg_path, "config file"), str(cfg_path))
                       if cfg_path.exists() else None)
    names = [r.name for r in run_dirs]
    if len(set(names)) < len(names):  # two sweeps' run-1: show the part of the path that differs
        common = os.path.commonpath([os.path.abspath(r) for r in run_dirs])
        names = [os.path.relpath(os.path.abspath(r), common) for r in run_dirs]
    names = [printable(n) for n in names]
    labels, differs = run_labels(configs, names)
    m = _pick_metric(histories, metric)
    present = {c for h in histories for c in h}
    loss_cols = [c for c in ("train_loss", "val_loss") if c in present]
    metric_cols = ([] if m is None else
                   [c for c in (f"train_{m}", f"val_{m}", m) if c in present and c != "epoch"])
    runs = [RunCurves(r, lab, h["epoch"], h, *_run_status(r))
            for r, lab, h in zip(run_dirs, labels, histories)]
    return Curves(runs, m, loss_cols, metric_cols, differs, variant_groups(configs, labels))


def _run_status(run_dir: Path) -> tuple[int | None, bool]:
    """(the epoch whose weights early stopping kept, or None; whether the run diverged)."""
    import json

    from nnlearn.runs.run import METRICS_FILE

    try:
        summary = json.loads((run_dir / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, False
    if not isinstance(summary, dict):
        return None, False
    best = summary.get("restored_epoch")
    return (int(best) if isinstance(best, (int, float)) else None,
            summary.get("status") == "diverged")


def variant_groups(configs: Sequence[Mapping[str, Any] | None],
                   labels: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Runs whose configs are equal but for the seed (and where they were written), in order of
    first appearance, each with a legend label naming what differs between the groups; a run
    without a config is a group of its own."""
    keys: list[Any] = []
    members: list[list[int]] = []
    for i, cfg in enumerate(configs):
        if cfg is None:
            key: Any = ("run", i)
        else:
            flat = _flatten(cfg)
            key = repr(sorted((k, repr(v)) for k, v in flat.items()
                              if k != "seed" and not k.startswith("output.")))
        if key in keys:
            members[keys.index(key)].append(i)
        else:
            keys.append(key)
            members.append([i])
    if all(len(m) == 1 for m in members):
        return [(labels[m[0]], m) for m in members]
    firsts = [configs[m[0]] for m in members]
    names = [labels[m[0]] for m in members]
    if len(members) > 1:
        stripped = [None if c is None else {k: v for k, v in c.items() if k != "seed"}
                    for c in firsts]
        names = run_labels(stripped, names)[0]
    else:
        names = ["the runs"]
    return [(f"{name} ({len(m)} seeds)" if len(m) > 1 else name, m)
            for name, m in zip(names, members)]


# ------------------------------------------------------------------------------------------
# decision boundary and confusion matrix: data


def not_two_dimensional(model: Model) -> str | None:
    """What a decision boundary would need that ``model`` lacks (e.g. ``exactly 2 features;
    this one has 4 (...)``), or None when its inputs are a plane: exactly two numeric inputs.
    A one-hot input only takes the values 0 and 1, so it is no axis."""
    names = model.input_names
    enc = model.encoding
    if enc is None or not enc.categorical:
        if len(names) == 2:
            return None
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        return f"exactly 2 features; this one has {len(names)} ({shown})"
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    return (f"exactly 2 numeric features; this one has {enc.describe()} ({shown}): "
            f"{', '.join(enc.categorical)} one-hot encoded")


def _require_classifier(model: Model, what: str, two_d: bool = False) -> None:
    if model.task != "classification":
        raise NnlearnError(f"{what} needs a classification model; this one does regression",
                           hint="for a regression model: nnlearn plot RUN_DIR --residuals "
                                "(predicted vs actual, and the residuals)")
    missing = not_two_dimensional(model) if two_d else None
    if missing is not None:
        raise NnlearnError(f"{what} needs a model with {missing}")


@dataclass
class Boundary:
    """A classifier evaluated on a grid over the plane of its two features, plus data points.

    ``xs`` (nx,) and ``ys`` (ny,) are the grid coordinates in the features' own units;
    ``proba`` (ny, nx, k) the predicted class probabilities at (ys[i], xs[j]); ``labels``
    (ny, nx) their argmax; ``X`` (n, 2) and ``y`` (n,) the points and their class ids."""

    xs: np.ndarray
    ys: np.ndarray
    proba: np.ndarray
    labels: np.ndarray
    X: np.ndarray
    y: np.ndarray
    classes: list[str]
    feature_names: list[str]
    source: str


def boundary_grid(model: Model, table: Table, *, resolution: int | tuple[int, int] = 200,
                  margin: float = 0.1) -> Boundary:
    """Evaluate a classifier with two numeric inputs on a ``resolution`` grid (nx, ny) covering
    the points of ``table`` (read with ``model.read_options()``; empty cells filled as the
    model fills them) plus ``margin`` of their range on each side; the grid is in raw feature
    units (the model's own scaler standardises it, as it does any input)."""
    _require_classifier(model, "a decision-boundary picture", two_d=True)
    nx, ny = (resolution, resolution) if isinstance(resolution, int) else resolution
    X = model.encode(table)  # with missing cells filled as the model fills them
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = np.where(hi > lo, (hi - lo) * margin, 1.0)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], nx)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], ny)
    gx, gy = np.meshgrid(xs, ys)  # (ny, nx): row i is ys[i]
    proba = model.predict_proba(np.column_stack([gx.ravel(), gy.ravel()]))
    proba = np.asarray(proba, dtype=np.float64).reshape(ny, nx, -1)
    y = model.encoder.transform(table.y, lines=table.lines, path=table.path)
    return Boundary(xs, ys, proba, proba.argmax(axis=2), X, y, list(model.classes),
                    model.input_names, table.path)


@dataclass
class Confusion:
    """``matrix`` (k, k) counts, row = true class, column = predicted; as ``nnlearn eval``."""

    matrix: np.ndarray
    classes: list[str]
    accuracy: float
    n: int
    source: str


def confusion_data(model: Model, table: Table) -> Confusion:
    """The confusion matrix of ``model`` on a labelled ``table`` (the same numbers
    ``nnlearn eval`` prints, from the same function)."""
    from nnlearn.runs.run import evaluate

    _require_classifier(model, "a confusion matrix")
    m = evaluate(model, table)
    return Confusion(np.array(m["confusion_matrix"], dtype=np.int64), list(model.classes),
                     float(m["accuracy"]), int(m["n"]), table.path)


@dataclass
class Residuals:
    """A regression model's predictions against the truth: ``actual`` and ``predicted`` (n,)
    in the target's own units (every output's values, one after another, for several)."""

    actual: np.ndarray
    predicted: np.ndarray
    target: str
    r2: float
    source: str


def residual_data(model: Model, table: Table) -> Residuals:
    """Predicted vs actual values of a regression model on a labelled ``table`` (read with
    ``model.read_options()``)."""
    from nnlearn.data import regression_targets

    if model.task != "regression":
        raise NnlearnError("predicted-vs-actual and residual plots need a regression model; "
                           "this one does classification",
                           hint="for a classifier: --confusion, or --roc for two classes")
    y = regression_targets(table.y, table.lines, table.path, column=table.target)
    actual = np.asarray(y, dtype=np.float64).reshape(len(table.X), -1)
    predicted = model.predict_values(model.encode(table)).reshape(actual.shape)
    ss_res = float(((actual - predicted) ** 2).sum())
    ss_tot = float(((actual - actual.mean(axis=0)) ** 2).sum())
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else math.nan
    return Residuals(actual.ravel(), predicted.ravel(), str(model.target), r2, table.path)


@dataclass
class Roc:
    """ROC and precision-recall curves of a two-class model: at every threshold on the
    predicted probability of ``positive``, the false/true positive rates (``fpr``, ``tpr``)
    and the ``precision``/``recall``; ``auc`` the area under the ROC curve and
    ``average_precision`` the step-wise area under the precision-recall curve."""

    fpr: np.ndarray
    tpr: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    auc: float
    average_precision: float
    positive: str
    prevalence: float
    source: str


def roc_curves(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, ...]:
    """(fpr, tpr, precision, recall, auc, average_precision) from scores (n,) and 0/1 truth.

    Rows are sorted by score, highest first; every distinct score is one threshold (tied rows
    cross it together). AUC is the trapezoidal area under (fpr, tpr) from (0, 0); average
    precision is sum over thresholds of (recall step) x precision, as scikit-learn defines it."""
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(positive, dtype=np.float64)
    order = np.argsort(-scores, kind="mergesort")
    scores, truth = scores[order], truth[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # end of each tie group
    tp = np.cumsum(truth)[last]
    fp = (last + 1) - tp
    p, n = truth.sum(), len(truth) - truth.sum()
    tpr = np.r_[0.0, tp / p] if p else np.r_[0.0, np.zeros_like(tp)]
    fpr = np.r_[0.0, fp / n] if n else np.r_[0.0, np.zeros_like(fp)]
    precision = tp / (tp + fp)
    recall = tp / p if p else np.zeros_like(tp)
    auc = float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else float(
        np.trapz(tpr, fpr))
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return fpr, tpr, precision, recall, auc, ap


def roc_data(model: Model, table: Table) -> Roc:
    """ROC and precision-recall curves of a two-class model on a labelled ``table`` (read with
    ``model.read_options()``); the second class (in the model's order) is the positive one."""
    _require_classifier(model, "ROC and precision-recall curves")
    if len(model.classes) != 2:
        raise NnlearnError(f"ROC and precision-recall curves are for two classes; this model "
                           f"has {len(model.classes)}",
                           hint="use --confusion for the confusion matrix")
    y = model.encoder.transform(table.y, lines=table.lines, path=table.path)
    proba = np.asarray(model.predict_proba(model.encode(table)), dtype=np.float64)
    truth = (np.asarray(y) == 1).astype(np.float64)
    fpr, tpr, precision, recall, auc, ap = roc_curves(proba[:, 1], truth)
    return Roc(fpr, tpr, precision, recall, auc, ap, str(model.classes[1]),
               float(truth.mean()), table.path)


def _run_and_table(run: str | os.PathLike, data: str | os.PathLike | None,
                   split: str) -> tuple[Model, Table]:
    """The run's model and a labelled table: ``data``, else the config's ``data.<split>``."""
    from nnlearn.runs.run import load_run

    model, cfg = load_run(run)
    if data is None:
        data = (cfg or {}).get("data", {}).get(split)
        if not data:
            raise NnlearnError(f"{run}: no data given and the run's config names no data.{split} "
                               "file", hint="pass --data CSV")
    return model, read_csv(data, target=model.target, **model.read_options())


# ------------------------------------------------------------------------------------------
# drawing PNGs (matplotlib)


def _new_figure(size: tuple[float, float]):
    """A Figure on an Agg canvas (no pyplot, no display). Raises NnlearnError (exit 2) with the
    install command when matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise NnlearnError(f"PNG pictures need matplotlib: {install_hint('plot')} "
                           "(or use --text for a picture in the terminal)") from None
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    atomicio.write_with(path, lambda f: fig.savefig(f, format="png", dpi=DPI))
    return path


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10"] if n <= 10 else colormaps["viridis"]
    return [cmap(i) if n <= 10 else cmap(i / max(n - 1, 1)) for i in range(n)]


def _use_log(values: Sequence[np.ndarray]) -> bool:
    """Log y scale when all values are positive and span more than a factor of 20."""
    good = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    with np.errstate(over="ignore"):  # 1e300 / 1e-300 is inf: a span wide enough for log
        return bool(good.size) and good.min() > 0 and good.max() / good.min() > 20


#: Characters of legend text that fit per inch of figure width at the "small" font size.
_CHARS_PER_INCH = 13


def _legend_layout(labels: Sequence[str], width_in: float) -> tuple[list[str], int, int]:
    """Labels wrapped to the figure's width (at their ", " separators), the number of legend
    columns, and the number of text lines the legend takes (so the figure can grow by that)."""
    room = max(int(width_in * _CHARS_PER_INCH) - 6, 12)
    wrapped = []
    for label in labels:
        lines: list[str] = []
        for part in label.split(", "):
            if lines and len(lines[-1]) + 2 + len(part) <= room:
                lines[-1] += ", " + part
            else:
                if lines:
                    lines[-1] += ","
                lines.append(part)
        wrapped.append("\n".join(lines))
    longest = max((max(len(x) for x in w.split("\n")) for w in wrapped), default=1)
    ncol = max(1, min(len(wrapped), (room + 6) // (longest + 6)))
    rows = [wrapped[i:i + ncol] for i in range(0, len(wrapped), ncol)]
    lines = sum(max(w.count("\n") + 1 for w in row) for row in rows)
    return wrapped, ncol, lines


def _stack(runs: Sequence[RunCurves], column: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs of the longest run, (n_runs, n_epochs) values, NaN-padded) of one column."""
    longest = max(runs, key=lambda r: len(r.epoch))
    out = np.full((len(runs), len(longest.epoch)), np.nan)
    for i, run in enumerate(runs):
        if column in run.series:
            v = run.series[column]
            out[i, :len(v)] = np.where(np.isfinite(v), v, np.nan)
    return longest.epoch, out


def curves_figure(curves: Curves, *, size: tuple[float, float] | None = None):
    """The learning-curve Figure (see :func:`draw_curves`), not yet saved; returns
    (figure, its legend)."""
    try:
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
    except ImportError:
        _new_figure((1, 1))  # raises the error that names the extra to install
        raise

    panels = [("loss", curves.loss_columns)]
    if curves.metric_columns:
        panels.append((curves.metric or "", curves.metric_columns))
    groups = curves.groups or [(r.label, [i]) for i, r in enumerate(curves.runs)]
    several = len(groups) > 1 or len(groups[0][1]) > 1
    width = (size or (4.0 * len(panels), 3.2))[0]
    styles = {"train": "-", "val": "--"}
    colors = _colors(len(groups))
    marked = False
    handles, labels = [], []
    for_style = [c.split("_", 1)[0] for _, cols in panels for c in cols
                 if c.startswith(("train_", "val_"))]
    # the legend: one entry per variant (several runs), then what line styles mean
    if several:
        for (label, _), color in zip(groups, colors):
            handles.append(Patch(color=color))
            labels.append(label)
    for split in ("train", "val"):
        if split in for_style:
            handles.append(Line2D([], [], color="k" if several else colors[0],
                                  linestyle=styles[split]))
            labels.append(split)
    if any(len(m) > 1 for _, m in groups):
        handles.append(Patch(color="0.6", alpha=0.35))
        labels.append("min-max over seeds")
    if any(r.best_epoch is not None for r in curves.runs):
        marked = True
        handles.append(Line2D([], [], color="k", marker="o", markerfacecolor="none",
                              linestyle="none"))
        labels.append("best epoch (weights kept)")
    wrapped, ncol, lines = _legend_layout(labels, width)
    if size is None:
        size = (width, 3.2 + 0.17 * max(lines - 1, 0))
    fig = _new_figure(size)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, cols) in zip(axes, panels):
        for (_, members), color in zip(groups, colors):
            runs = [curves.runs[i] for i in members]
            for c in cols:
                if not any(c in r.series for r in runs):
                    continue
                split = c.split("_", 1)[0] if c.startswith(("train_", "val_")) else ""
                x, values = _stack(runs, c)
                style = styles.get(split, "-")
                if len(runs) > 1:
                    with np.errstate(all="ignore"), warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: a gap
                        mean = np.nanmean(values, axis=0)
                        lo, hi = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
                    ax.fill_between(x, lo, hi, color=color, alpha=0.2, linewidth=0)
                    ax.plot(x, mean, linestyle=style, color=color, linewidth=1.3)
                    continue
                run = runs[0]
                ax.plot(x, values[0], linestyle=style, color=color, linewidth=1.3)
                if marked and run.best_epoch is not None and split == "val":
                    at = np.flatnonzero(run.epoch == run.best_epoch)
                    if at.size and np.isfinite(values[0][at[0]]):
                        ax.plot([run.best_epoch], [values[0][at[0]]], marker="o",
                                markerfacecolor="none", color=color, markersize=7,
                                linestyle="none")
        if title == "loss" and _use_log([r.series[c] for r in curves.runs for c in cols
                                         if c in r.series]):
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    if not several:
        run = curves.runs[0]
        fig.suptitle(printable(run.run_dir.name) + (" (diverged)" if run.diverged else ""),
                     fontsize="medium")
    legend = fig.legend(handles, wrapped, loc="outside lower center", ncols=ncol,
                        fontsize="small", frameon=False)
    return fig, legend


def draw_curves(curves: Curves, path: str | os.PathLike, *,
                size: tuple[float, float] | None = None) -> Path:
    """Loss panel (and metric panel) for every run: train solid, val dashed, one colour per run
    (per variant: runs that differ only in the seed are drawn as their mean with a min-max
    band), early stopping's best epoch marked, and the legend below the panels, its labels
    wrapped to the figure's width. ``size`` in inches (100 dpi); default 4 x 3.2 per panel,
    taller when the legend needs more than one line."""
    fig, _ = curves_figure(curves, size=size)
    return _save(fig, path)


def _mix(proba: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """(ny, nx, k) probabilities -> (ny, nx, 3) colours: the probability-weighted mix of the class
    colours, washed towards white so the points stay visible. Confident regions are deep,
    the boundary pale."""
    rgb = proba @ colors[:, :3]
    return 1.0 - 0.55 * (1.0 - rgb)


def draw_boundary(b: Boundary, path: str | os.PathLike, *,
                  size: tuple[float, float] = (4.5, 4.0), title: str | None = None) -> Path:
    """Decision regions (colour = predicted class, paler where the model is unsure), the
    boundaries between classes as lines, and the points coloured by their true class."""
    fig = _new_figure(size)
    ax = fig.subplots()
    colors = np.array(_colors(max(len(b.classes), 2)))[:len(b.classes)]
    extent = (b.xs[0], b.xs[-1], b.ys[0], b.ys[-1])
    ax.imshow(_mix(b.proba, colors), origin="lower", extent=extent, aspect="auto",
              interpolation="bilinear")
    # Class k's border is where p_k equals the largest other probability: the zero line of
    # their difference (smooth, unlike the steps of the argmax grid).
    for k in range(len(b.classes)):
        margin = b.proba[..., k] - np.delete(b.proba, k, axis=2).max(axis=2)
        if margin.min() < 0 < margin.max():
            ax.contour(b.xs, b.ys, margin, levels=[0.0], colors="k", linewidths=0.8)
    size = float(np.clip(4000 / max(len(b.X), 1), 9, 50))  # a few points may be bigger
    for k, name in enumerate(b.classes):
        pts = b.X[b.y == k]
        ax.scatter(pts[:, 0], pts[:, 1], s=size, color=colors[k], edgecolors="k",
                   linewidths=0.3, label=name)
    ax.set_xlim(b.xs[0], b.xs[-1])
    ax.set_ylim(b.ys[0], b.ys[-1])
    ax.set_xlabel(b.feature_names[0])
    ax.set_ylabel(b.feature_names[1])
    ax.legend(fontsize="small", loc="best", framealpha=0.8)
    if title:
        ax.set_title(title, fontsize="medium")
    return _save(fig, path)


def draw_confusion(c: Confusion, path: str | os.PathLike, *,
                   size: tuple[float, float] | None = None, title: str | None = None) -> Path:
    """A heatmap of the confusion matrix, shaded by each count's share of its row (the recall
    of the true class) and annotated with the counts."""
    k = len(c.classes)
    side = min(max(3.2, 0.45 * k + 2.2), 10.0)
    fig = _new_figure(size or (side + 0.6, side))
    ax = fig.subplots()
    rows = c.matrix.sum(axis=1, keepdims=True)
    share = np.divide(c.matrix, rows, out=np.zeros(c.matrix.shape), where=rows > 0)
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, shrink=0.8, label="share of the true class")
    font = "small" if k <= 10 else "x-small"
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(c.matrix[i, j]), ha="center", va="center", fontsize=font,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), c.classes, rotation=45 if k > 4 else 0, fontsize=font)
    ax.set_yticks(range(k), c.classes, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or printable(f"{Path(c.source).name}: accuracy {c.accuracy:.3f} "
                                    f"(n={c.n})"),
                 fontsize="medium")
    return _save(fig, path)


def draw_residuals(r: Residuals, path: str | os.PathLike, *,
                   size: tuple[float, float] = (8.0, 3.6), title: str | None = None) -> Path:
    """Two panels: predicted against actual (on the diagonal when right), and the residuals
    (actual - predicted) against the prediction (a shapeless band around 0 when the model
    has caught what it can)."""
    fig = _new_figure(size)
    left, right = fig.subplots(1, 2)
    point = float(np.clip(3000 / max(len(r.actual), 1), 6, 30))
    color = _colors(1)[0]
    left.scatter(r.actual, r.predicted, s=point, color=color, alpha=0.6, linewidths=0)
    lo = float(np.nanmin([r.actual.min(), r.predicted.min()]))
    hi = float(np.nanmax([r.actual.max(), r.predicted.max()]))
    left.plot([lo, hi], [lo, hi], color="k", linewidth=0.8, linestyle="--")
    left.set_xlabel(f"actual {r.target}")
    left.set_ylabel(f"predicted {r.target}")
    left.set_title(f"predicted vs actual (R² {r.r2:.3f})", fontsize="medium")
    right.scatter(r.predicted, r.actual - r.predicted, s=point, color=color, alpha=0.6,
                  linewidths=0)
    right.axhline(0.0, color="k", linewidth=0.8, linestyle="--")
    right.set_xlabel(f"predicted {r.target}")
    right.set_ylabel("residual (actual − predicted)")
    right.set_title("residuals", fontsize="medium")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
    fig.suptitle(title or printable(f"{Path(r.source).name} (n={len(r.actual)})"), fontsize="medium")
    return _save(fig, path)


def draw_roc(c: Roc, path: str | os.PathLike, *, size: tuple[float, float] = (8.0, 3.8),
             title: str | None = None) -> Path:
    """Two panels: the ROC curve (with the diagonal of guessing) and the precision-recall
    curve (with the prevalence line of guessing), their areas in the titles."""
    fig = _new_figure(size)
    left, right = fig.subplots(1, 2)
    color = _colors(1)[0]
    left.plot(c.fpr, c.tpr, color=color, linewidth=1.5)
    left.plot([0, 1], [0, 1], color="k", linewidth=0.8, linestyle="--")
    left.set_xlabel("false positive rate")
    left.set_ylabel("true positive rate (recall)")
    left.set_title(f"ROC, AUC {c.auc:.3f}", fontsize="medium")
    right.step(np.r_[0.0, c.recall], np.r_[c.precision[0], c.precision], where="pre",
               color=color, linewidth=1.5)
    right.axhline(c.prevalence, color="k", linewidth=0.8, linestyle="--")
    right.set_xlabel("recall")
    right.set_ylabel("precision")
    right.set_title(f"precision-recall, AP {c.average_precision:.3f}", fontsize="medium")
    for ax in (left, right):
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(True, alpha=0.3)
    fig.suptitle(title or f"{Path(c.source).name}: positive class {c.positive!r} "
                 "(dashed: guessing)", fontsize="medium")
    return _save(fig, path)


# ------------------------------------------------------------------------------------------
# from run folders to pictures: what `nnlearn plot` calls


def plot_curves(paths: Sequence[str | os.PathLike], out: str | os.PathLike | None = None, *,
                metric: str | None = None) -> Path:
    """Learning curves of runs / sweep folders -> PNG (default: ``curves.png`` beside them)."""
    curves = curves_data(paths, metric=metric)
    return draw_curves(curves, out or default_output(paths, CURVES_FILE))


def plot_boundary(run: str | os.PathLike, out: str | os.PathLike | None = None, *,
                  data: str | os.PathLike | None = None) -> Path:
    """Decision regions of a run's model with its training points (or ``data``'s) -> PNG."""
    model, table = _run_and_table(run, data, "train")
    b = boundary_grid(model, table)
    return draw_boundary(b, out or default_output([run], BOUNDARY_FILE),
                         title=printable(f"{Path(run).name}: {Path(table.path).name}"))


def plot_confusion(run: str | os.PathLike, out: str | os.PathLike | None = None, *,
                   data: str | os.PathLike | None = None) -> Path:
    """Confusion-matrix heatmap of a run's model on its test data (or ``data``) -> PNG."""
    model, table = _run_and_table(run, data, "test")
    return draw_confusion(confusion_data(model, table),
                          out or default_output([run], CONFUSION_FILE))


def plot_residuals(run: str | os.PathLike, out: str | os.PathLike | None = None, *,
                   data: str | os.PathLike | None = None) -> Path:
    """Predicted-vs-actual and residual plots of a regression run on its test data -> PNG."""
    model, table = _run_and_table(run, data, "test")
    return draw_residuals(residual_data(model, table),
                          out or default_output([run], RESIDUALS_FILE))


def plot_roc(run: str | os.PathLike, out: str | os.PathLike | None = None, *,
             data: str | os.PathLike | None = None) -> Path:
    """ROC and precision-recall curves of a two-class run on its test data -> PNG."""
    model, table = _run_and_table(run, data, "test")
    return draw_roc(roc_data(model, table), out or default_output([run], ROC_FILE))


def text_curves(paths: Sequence[str | os.PathLike], *, metric: str | None = None,
                width: int = 60, height: int = 12) -> str:
    """Learning curves as character charts: one for the loss, one for the metric."""
    from nnlearn.errors import shown_path
    from nnlearn.runs.run import diverged

    curves = curves_data(paths, metric=metric)
    several = len(curves.runs) > 1
    charts = []
    for run in curves.runs:
        reason = diverged(run.run_dir)
        if reason is not None:
            charts.append(f"{shown_path(run.run_dir)}: this run diverged ({reason}); its "
                          "last values are not finite or huge")
    for title, cols in (("loss", curves.loss_columns), (curves.metric, curves.metric_columns)):
        if not cols:
            continue
        series: dict[str, list[float]] = {}
        groups = curves.groups or [(r.label, [i]) for i, r in enumerate(curves.runs)]
        for label, members in groups:
            runs = [curves.runs[i] for i in members]
            for c in cols:
                if not any(c in r.series for r in runs):
                    continue
                _, values = _stack(runs, c)
                if len(runs) > 1:  # a variant over its seeds: the mean, as the PNG draws it
                    with np.errstate(all="ignore"), warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        line = np.nanmean(values, axis=0)
                    label_c = f"{label} {c} (mean)"
                else:
                    line, label_c = values[0], f"{label} {c}"
                series[label_c if several else c] = line.tolist()
        longest = max(curves.runs, key=lambda r: len(r.epoch))
        log = title == "loss" and _use_log([np.asarray(v) for v in series.values()])
        charts.append(textplot.line_chart(series, x=longest.epoch.tolist(), width=width,
                                          height=height, log=log, title=str(title)))
    return "\n\n".join(charts)


def text_boundary(run: str | os.PathLike, *, data: str | os.PathLike | None = None,
                  width: int = 64, height: int = 24) -> str:
    """Decision regions as a character map, with the data points as class markers."""
    model, table = _run_and_table(run, data, "train")
    b = boundary_grid(model, table, resolution=(width, height))
    # Cell (row r from the top, column c) covers grid point (ys[height-1-r], xs[c]).
    regions = b.labels[::-1].tolist()
    col = np.clip(np.round((b.X[:, 0] - b.xs[0]) / (b.xs[-1] - b.xs[0]) * (width - 1)), 0,
                  width - 1).astype(int)
    row = np.clip(np.round((b.ys[-1] - b.X[:, 1]) / (b.ys[-1] - b.ys[0]) * (height - 1)), 0,
                  height - 1).astype(int)
    points = list(zip(row.tolist(), col.tolist(), b.y.tolist()))
    head = (f"{Path(table.path).name}: {b.feature_names[0]} (x, {b.xs[0]:.3g} .. "
            f"{b.xs[-1]:.3g}) by {b.feature_names[1]} (y, {b.ys[0]:.3g} .. {b.ys[-1]:.3g})")
    return head + "\n" + textplot.class_map(regions, points, b.classes)


def text_confusion(run: str | os.PathLike, *, data: str | os.PathLike | None = None) -> str:
    """The confusion matrix as an annotated text table."""
    model, table = _run_and_table(run, data, "test")
    c = confusion_data(model, table)
    head = f"{Path(c.source).name}: accuracy {c.accuracy:.4f} (n={c.n})"
    return head + "\n" + textplot.confusion_table(c.matrix.tolist(), c.classes)
