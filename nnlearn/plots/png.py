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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnlearn.data import Table, read_csv
from nnlearn.errors import NnlearnError
from nnlearn.plots import text as textplot
from nnlearn.runs import atomicio
from nnlearn.runs.model import Model

INSTALL_HINT = "pip install 'nnlearn[plot]'"
#: Default file names, written into the run (or sweep) folder when no output path is given.
CURVES_FILE, BOUNDARY_FILE, CONFUSION_FILE = "curves.png", "boundary.png", "confusion.png"
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
    runs = [RunCurves(r, lab, h["epoch"], h) for r, lab, h in zip(run_dirs, labels, histories)]
    return Curves(runs, m, loss_cols, metric_cols, differs)


# ------------------------------------------------------------------------------------------
# decision boundary and confusion matrix: data


def _require_classifier(model: Model, what: str, n_features: int | None = None) -> None:
    if model.task != "classification":
        raise NnlearnError(f"{what} needs a classification model; this one does regression")
    if n_features is not None and len(model.feature_names) != n_features:
        names = ", ".join(model.feature_names[:4]) + (", ..." if len(model.feature_names) > 4
                                                      else "")
        raise NnlearnError(f"{what} needs a model with exactly {n_features} features; this one "
                           f"has {len(model.feature_names)} ({names})")


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
    """Evaluate a 2-feature classifier on a ``resolution`` grid (nx, ny) covering ``table``'s
    points plus ``margin`` of their range on each side; the grid is in raw feature units
    (the model's own scaler standardises it, as it does any input)."""
    _require_classifier(model, "a decision-boundary picture", 2)
    nx, ny = (resolution, resolution) if isinstance(resolution, int) else resolution
    X = table.X
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = np.where(hi > lo, (hi - lo) * margin, 1.0)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], nx)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], ny)
    gx, gy = np.meshgrid(xs, ys)  # (ny, nx): row i is ys[i]
    proba = model.predict_proba(np.column_stack([gx.ravel(), gy.ravel()]))
    proba = np.asarray(proba, dtype=np.float64).reshape(ny, nx, -1)
    y = model.encoder.transform(table.y, lines=table.lines, path=table.path)
    return Boundary(xs, ys, proba, proba.argmax(axis=2), X, y, list(model.classes),
                    list(model.feature_names), table.path)


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
    return model, read_csv(data, target=model.target, features=model.feature_names)


# ------------------------------------------------------------------------------------------
# drawing PNGs (matplotlib)


def _new_figure(size: tuple[float, float]):
    """A Figure on an Agg canvas (no pyplot, no display). Raises NnlearnError (exit 2) with the
    install command when matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise NnlearnError(f"PNG pictures need matplotlib: {INSTALL_HINT} "
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


def draw_curves(curves: Curves, path: str | os.PathLike, *,
                size: tuple[float, float] | None = None) -> Path:
    """Loss panel (and metric panel) for every run: train solid, val dashed, one colour per run.
    ``size`` in inches (100 dpi); default 4 x 3.2 per panel."""
    panels = [("loss", curves.loss_columns)]
    if curves.metric_columns:
        panels.append((curves.metric or "", curves.metric_columns))
    fig = _new_figure(size or (4.0 * len(panels), 3.2))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    several = len(curves.runs) > 1
    colors = _colors(len(curves.runs))
    styles = {"train": "-", "val": "--"}
    for ax, (title, cols) in zip(axes, panels):
        for run, color in zip(curves.runs, colors):
            for c in cols:
                if c not in run.series:
                    continue
                split = c.split("_", 1)[0] if c.startswith(("train_", "val_")) else ""
                y = np.where(np.isfinite(run.series[c]), run.series[c], np.nan)
                label = (run.label if c == cols[0] else None) if several else (split or c)
                ax.plot(run.epoch, y, linestyle=styles.get(split, "-"), color=color,
                        linewidth=1.3, label=label)
        if title == "loss" and _use_log([r.series[c] for r in curves.runs for c in cols
                                         if c in r.series]):
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    if several:
        from matplotlib.lines import Line2D

        runs_legend = axes[0].legend(fontsize="small")
        style = [Line2D([], [], color="k", linestyle=s, label=n) for n, s in styles.items()]
        split_panels = [i for i, (_, cols) in enumerate(panels)
                        if any(c.startswith(("train_", "val_")) for c in cols)]
        if split_panels and split_panels[-1] == 0:
            axes[0].add_artist(runs_legend)  # a second legend would replace the first
            axes[0].legend(handles=style, fontsize="small", loc="lower left")
        elif split_panels:
            axes[split_panels[-1]].legend(handles=style, fontsize="small")
    else:
        for ax in axes:
            ax.legend(fontsize="small")
        fig.suptitle(printable(curves.runs[0].run_dir.name), fontsize="medium")
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


def text_curves(paths: Sequence[str | os.PathLike], *, metric: str | None = None,
                width: int = 60, height: int = 12) -> str:
    """Learning curves as character charts: one for the loss, one for the metric."""
    curves = curves_data(paths, metric=metric)
    several = len(curves.runs) > 1
    charts = []
    for title, cols in (("loss", curves.loss_columns), (curves.metric, curves.metric_columns)):
        if not cols:
            continue
        series: dict[str, list[float]] = {}
        for run in curves.runs:
            for c in cols:
                if c in run.series:
                    series[f"{run.label} {c}" if several else c] = run.series[c].tolist()
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
