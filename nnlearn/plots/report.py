"""One self-contained HTML page per run (or per group of runs): ``nnlearn report``.

The page opens from disk with no network and no server: every picture is inline SVG drawn here
with numpy (no matplotlib), the decision regions are small PNGs encoded here with zlib and
embedded as data URIs, and the only script is inline. It shows, for one run:

    summary      the config, the final metrics and why training stopped
    curves       train and validation loss and metric per epoch, the best epoch marked
    learn        the decision regions (2-feature classifiers) and the network, edges coloured
                 by sign and as thick as |w|, at every snapshot (``snapshots.npz``), on one
                 slider with a play button
    diagnostics  per layer and epoch: gradient and weight norms, update/weight ratio
                 (``diagnostics.csv``, when the run had ``--diagnostics``)
    weights      weight histograms per layer at the first and last snapshot
    test         confusion matrix (classification) or predicted vs actual (regression)

For several runs (or a sweep folder): their curves overlaid and the table of what differs
between them, as ``nnlearn compare`` shows it.

The network's weights travel to the page as int8 (per layer, relative to that layer's largest
|w| over the run): the drawing needs a width and a sign per edge, not 16 digits, and it keeps a
page with thousands of edges and 20 snapshots well under a megabyte.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnlearn.errors import NnlearnError
from nnlearn.plots.png import (
    curves_data,
    default_output,
    expand_runs,
    not_two_dimensional,
    read_history_columns,
)
from nnlearn.runs import atomicio

REPORT_FILE = "report.html"
#: The decision regions are evaluated on a GRID x GRID grid per snapshot.
GRID = 120
#: At most this many training points are drawn over the decision regions.
MAX_POINTS = 2000
#: The network drawing shows at most this many units of a layer (the first ones).
MAX_UNITS = 64
#: Class and series colours: mid-luminance, readable on a light and on a dark page.
PALETTE = ("#2f7fd8", "#f08c1a", "#1fa774", "#e5484d", "#8e6bd8", "#d8589e", "#13a3a3",
           "#8a8f98", "#7ea81c", "#c9771f")
POSITIVE, NEGATIVE = "#2f7fd8", "#f08c1a"  # the Playground's blue and orange


# ------------------------------------------------------------------------------------------
# entry point


def build_report(paths: Sequence[str | os.PathLike], out: str | os.PathLike | None = None) -> Path:
    """Write the report of the run folders (or sweep folders) ``paths`` to ``out`` (default:
    ``report.html`` in the one run folder, or in the folder holding them all) and return its
    path. One run gives the full page; several give their overlaid curves and differences."""
    run_dirs = expand_runs(paths)
    page = report_html(run_dirs[0]) if len(run_dirs) == 1 else comparison_html(run_dirs)
    path = Path(out) if out is not None else default_output(paths, REPORT_FILE)
    atomicio.write_text(path, page)
    return path


# ------------------------------------------------------------------------------------------
# small helpers


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.{digits}g}"
    return str(v)


def _rgb(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    return np.array([int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)])


def png_bytes(rgb: np.ndarray) -> bytes:
    """An (h, w, 3) uint8 image as PNG bytes (zlib only; each row 'Sub'-filtered, which suits
    smooth images). Row 0 of ``rgb`` is the top of the picture."""
    h, w, _ = rgb.shape
    a = rgb.astype(np.int16)
    sub = a.copy()
    sub[:, 1:] -= a[:, :-1]
    rows = np.concatenate([np.ones((h, 1), np.uint8),
                           (sub & 0xFF).astype(np.uint8).reshape(h, w * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _nice_step(span: float, n: int) -> float:
    raw = span / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    return next(s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw)


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    step = _nice_step(hi - lo, n)
    start = math.ceil(lo / step - 1e-9) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def _log_ticks(lo: float, hi: float) -> list[float]:
    ticks = [10.0 ** k for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
             if lo <= 10.0 ** k <= hi * (1 + 1e-9)]
    if len(ticks) < 2:
        ticks = sorted({t * m for t in [10.0 ** math.floor(math.log10(lo))] + ticks
                        for m in (1, 2, 5, 10, 20, 50) if lo <= t * m <= hi})
    return ticks


def _use_log(values: Sequence[np.ndarray]) -> bool:
    good = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    return bool(good.size) and good.min() > 0 and good.max() / good.min() > 20


class _Plot:
    """An SVG chart frame: axes, ticks and a mapping from data to pixels."""

    def __init__(self, width: int, height: int, xlim: tuple[float, float],
                 ylim: tuple[float, float], *, ylog: bool = False, title: str = "",
                 xlabel: str = "", ylabel: str = "", left: int = 52) -> None:
        self.w, self.h = width, height
        self.l, self.r, self.t, self.b = left, 12, 26 if title else 10, 38
        x0, x1 = xlim
        if x1 <= x0:
            x0, x1 = x0 - 0.5, x1 + 0.5
        y0, y1 = ylim
        self.ylog = ylog
        if ylog:
            y0, y1 = math.log10(y0), math.log10(y1)
        if not (math.isfinite(y0) and math.isfinite(y1)):
            y0, y1 = 0.0, 1.0
        if y1 <= y0:
            pad = abs(y0) * 0.1 or 0.5
            y0, y1 = y0 - pad, y1 + pad
        else:
            pad = (y1 - y0) * 0.04
            y0, y1 = y0 - pad, y1 + pad
        self.x0, self.x1, self.y0, self.y1 = x0, x1, y0, y1
        self.parts: list[str] = []
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel

    def px(self, x: np.ndarray | float) -> np.ndarray | float:
        return self.l + (np.asarray(x, float) - self.x0) / (self.x1 - self.x0) * (
            self.w - self.l - self.r)

    def py(self, y: np.ndarray | float) -> np.ndarray | float:
        y = np.asarray(y, float)
        if self.ylog:
            with np.errstate(divide="ignore", invalid="ignore"):
                y = np.log10(y)
        return self.t + (self.y1 - y) / (self.y1 - self.y0) * (self.h - self.t - self.b)

    def line(self, x: np.ndarray, y: np.ndarray, colour: str, *, dash: bool = False,
             width: float = 1.6, cls: str = "") -> None:
        """A polyline, broken where y is not finite (or not positive on a log scale)."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = np.isfinite(y) & (y > 0 if self.ylog else True)
        if len(x) > 1500:  # more points than pixels: every k-th is enough to draw it
            keep = np.zeros(len(x), bool)
            keep[:: math.ceil(len(x) / 1500)] = True
            keep[-1] = True
            x, y, ok = x[keep], y[keep], ok[keep]
        X, Y = self.px(x), self.py(np.where(ok, y, 1.0))
        style = ' stroke-dasharray="5 3"' if dash else ""
        extra = f' class="{cls}"' if cls else ""
        start = 0
        for end in [*np.flatnonzero(~ok), len(x)]:
            seg = slice(start, end)
            if end - start >= 2:
                pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(X[seg], Y[seg]))
                self.parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" '
                                  f'stroke-width="{width}"{style}{extra}/>')
            elif end - start == 1:
                self.parts.append(f'<circle cx="{X[start]:.1f}" cy="{Y[start]:.1f}" r="2" '
                                  f'fill="{colour}"/>')
            start = end + 1

    def svg(self, *, cls: str = "chart", attrs: str = "") -> str:
        w, h, l, r, t, b = self.w, self.h, self.l, self.r, self.t, self.b
        out = [(f'<svg class="{cls}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
                f'role="img"{attrs}>')]
        if self.title:
            out.append(f'<text class="ttl" x="{l}" y="16">{_esc(self.title)}</text>')
        xt = _ticks(self.x0, self.x1, 6)
        if self.ylog:
            yt = _log_ticks(10 ** self.y0, 10 ** self.y1)
        else:
            yt = _ticks(self.y0, self.y1, 5)
        for v in xt:
            x = self.px(v)
            out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{t}" y2="{h - b}"/>'
                       f'<text class="tick" x="{x:.1f}" y="{h - b + 14}" '
                       f'text-anchor="middle">{_fmt(v, 3)}</text>')
        for v in yt:
            y = self.py(v)
            out.append(f'<line class="grid" x1="{l}" x2="{w - r}" y1="{y:.1f}" y2="{y:.1f}"/>'
                       f'<text class="tick" x="{l - 4}" y="{y + 4:.1f}" '
                       f'text-anchor="end">{_fmt(v, 3)}</text>')
        out.append(f'<rect class="frame" x="{l}" y="{t}" width="{w - l - r}" '
                   f'height="{h - t - b}"/>')
        if self.xlabel:
            out.append(f'<text class="lbl" x="{(l + w - r) / 2:.0f}" y="{h - 6}" '
                       f'text-anchor="middle">{_esc(self.xlabel)}</text>')
        if self.ylabel:
            out.append(f'<text class="lbl" transform="translate(12 {(t + h - b) / 2:.0f}) '
                       f'rotate(-90)" text-anchor="middle">{_esc(self.ylabel)}</text>')
        out.extend(self.parts)
        out.append("</svg>")
        return "".join(out)


def _legend(items: Sequence[tuple[str, str, bool]]) -> str:
    """HTML legend: (label, colour, dashed)."""
    spans = []
    for label, colour, dashed in items:
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        spans.append(f'<span class="key"><svg width="26" height="10"><line x1="1" x2="25" y1="5" '
                     f'y2="5" stroke="{colour}" stroke-width="2"{dash}/></svg>{_esc(label)}'
                     f'</span>')
    return f'<div class="legend">{"".join(spans)}</div>'


# ------------------------------------------------------------------------------------------
# reading a run folder


@dataclass
class _Run:
    path: Path
    config_text: str
    cfg: dict[str, Any] | None
    summary: dict[str, Any]
    history: dict[str, np.ndarray]
    model: Any  # nnlearn.runs.model.Model, or None when the run left no model.npz
    snap_epochs: list[int]
    snap_weights: list[dict[str, np.ndarray]]
    diagnostics: list[dict[str, str]] | None


def _read_run(path: Path) -> _Run:
    from nnlearn.runs.run import (
        CONFIG_FILE,
        DIAGNOSTICS_FILE,
        HISTORY_FILE,
        METRICS_FILE,
        MODEL_FILE,
        load_run,
        load_run_config,
    )
    from nnlearn.runs.snapshots import SNAPSHOTS_FILE, model_from_snapshots, read_snapshots

    config_text = (path / CONFIG_FILE).read_text(encoding="utf-8") if (
        path / CONFIG_FILE).is_file() else ""
    summary: dict[str, Any] = {}
    if (path / METRICS_FILE).is_file():
        try:
            summary = json.loads((path / METRICS_FILE).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise NnlearnError(f"{path / METRICS_FILE}: not valid JSON ({exc})") from None
    history = read_history_columns(path / HISTORY_FILE)
    model, cfg = (load_run(path) if (path / MODEL_FILE).is_file() else (None, None))
    epochs: list[int] = []
    weights: list[dict[str, np.ndarray]] = []
    if (path / SNAPSHOTS_FILE).is_file():
        epochs, weights = read_snapshots(path / SNAPSHOTS_FILE)
        if model is None:  # a run that diverged: replay it up to its last good snapshot
            model = model_from_snapshots(path / SNAPSHOTS_FILE)
            cfg = load_run_config(path) if (path / CONFIG_FILE).is_file() else None
    diag = None
    if (path / DIAGNOSTICS_FILE).is_file():
        with open(path / DIAGNOSTICS_FILE, newline="", encoding="utf-8") as f:
            diag = list(csv.DictReader(f))
    return _Run(path, config_text, cfg, summary if isinstance(summary, dict) else {}, history,
                model, epochs, weights, diag)


def _frames(run: _Run) -> tuple[list[int], list[dict[str, np.ndarray]], bool]:
    """The weights to replay: the snapshots, or else the final model alone. The flag says
    whether they are real snapshots."""
    if run.snap_weights:
        return run.snap_epochs, run.snap_weights, True
    if run.model is not None:
        return [int(run.summary.get("epochs") or 0)], [run.model.network.get_weights()], False
    return [], [], False


def _dense_layers(model) -> list[tuple[str, str]]:
    """(Dense layer name, the activation after it) in order; 'output' for the last."""
    from nnlearn.nn.layers import Dense, Dropout

    out: list[tuple[str, str]] = []
    for layer in model.network.layers:
        if isinstance(layer, Dense):
            out.append((layer.name, ""))
        elif layer.parameters():  # a plugin's layer with weights: the activation after it is its
            out.append(("", ""))
        elif out and not isinstance(layer, Dropout):
            out[-1] = (out[-1][0], getattr(layer, "kind", type(layer).__name__.lower()))
    return [(n, a or "output") for n, a in out if n]


def _only_dense(model) -> bool:
    """Whether every layer with weights is a Dense (the network picture draws W and b)."""
    from nnlearn.nn.layers import Dense

    return all(isinstance(layer, Dense) or not layer.parameters()
               for layer in model.network.layers)


# ------------------------------------------------------------------------------------------
# sections


def _best_epoch(run: _Run) -> tuple[int | None, str]:
    h, s = run.history, run.summary
    if s.get("best_epoch"):
        how = "early stopping's best"
        if s.get("restored_epoch"):
            how += "; the saved model has its weights"
        return int(s["best_epoch"]), how
    for col in ("val_loss", "train_loss"):
        v = h.get(col)
        if v is not None and np.isfinite(v).any():
            return int(h["epoch"][int(np.nanargmin(v))]), f"lowest {col}"
    return None, ""


def _metrics_table(summary: dict[str, Any]) -> str:
    splits = [s for s in ("train", "val", "test") if isinstance(summary.get(s), dict)]
    if not splits:
        return "<p class=note>No final metrics (metrics.json is missing or the run failed).</p>"
    names = [k for k in ("loss", "accuracy", "f1_macro", "r2", "rmse", "mae")
             if any(k in summary[s] for s in splits)]
    head = "".join(f"<th>{_esc(n)}</th>" for n in names)
    rows = "".join(
        f"<tr><th>{s} <span class=muted>(n={summary[s].get('n', '?')})</span></th>"
        + "".join(f"<td>{_fmt(summary[s].get(n))}</td>" for n in names) + "</tr>"
        for s in splits)
    return f'<table class="metrics"><tr><th></th>{head}</tr>{rows}</table>'


def _summary_section(run: _Run) -> str:
    s = run.summary
    status = s.get("status", "unknown")
    why = s.get("stopped") or s.get("error") or "not recorded (no metrics.json)"
    best, how = _best_epoch(run)
    facts = [("status", status), ("epochs trained", s.get("epochs", len(run.history.get(
        "epoch", [])))), ("why it stopped", why)]
    if best is not None:
        facts.append(("best epoch", f"{best} ({how})"))
    if s.get("seed") is not None:
        facts.append(("seed", s["seed"]))
    if run.model is not None:
        m = run.model
        sizes = [len(m.input_names)] + [w.shape[1] for k, w in
                                         m.network.get_weights().items() if k.endswith(".W")]
        facts.append(("network", " → ".join(map(str, sizes)) + f" ({m.task})"))
    dl = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(_fmt(v))}</dd>" for k, v in facts)
    return (f'<section id="summary"><h2>Summary</h2><div class="cols2"><div><dl>{dl}</dl>'
            f"<h3>Final metrics</h3>{_metrics_table(s)}</div>"
            f'<div><h3>Config</h3><pre class="config">{_esc(run.config_text)}</pre></div></div>'
            "</section>")


def _curve_panels(history: dict[str, np.ndarray]) -> list[tuple[str, list[str]]]:
    metric = next((m for m in ("accuracy", "r2") if f"val_{m}" in history
                   or f"train_{m}" in history), None)
    panels = [("loss", [c for c in ("train_loss", "val_loss") if c in history])]
    if metric:
        panels.append((metric, [c for c in (f"train_{metric}", f"val_{metric}")
                                if c in history]))
    return panels


def _curves_section(run: _Run, snap_epochs: list[int]) -> str:
    h = run.history
    if not len(h.get("epoch", [])):
        return ('<section id="curves"><h2>Learning curves</h2><p class="note">history.csv '
                "records no epochs yet.</p></section>")
    best, how = _best_epoch(run)
    charts = []
    for title, cols in _curve_panels(h):
        series = [h[c] for c in cols]
        finite = np.concatenate([v[np.isfinite(v)] for v in series]) if series else np.array([])
        if not finite.size:
            continue
        log = title == "loss" and _use_log(series)
        p = _Plot(560, 280, (float(h["epoch"][0]) if snap_epochs[:1] != [0] else 0.0,
                             float(h["epoch"][-1])), (float(finite.min()), float(finite.max())),
                  ylog=log, title=title + (" (log scale)" if log else ""), xlabel="epoch")
        for c, colour in zip(cols, PALETTE):
            p.line(h["epoch"], h[c], colour, dash=c.startswith("val_"))
        if best is not None:
            x = p.px(best)
            right = x > p.w - p.r - 60  # near the right edge: the label goes to the left
            p.parts.append(f'<line class="best" x1="{x:.1f}" x2="{x:.1f}" y1="{p.t}" '
                           f'y2="{p.h - p.b}"/><text class="bestlbl" '
                           f'x="{x - 4 if right else x + 4:.1f}" y="{p.t + 12}" text-anchor='
                           f'"{"end" if right else "start"}">best epoch {best}</text>')
        if snap_epochs:
            xs = ",".join(f"{p.px(e):.1f}" for e in snap_epochs)
            x = p.px(snap_epochs[-1])
            p.parts.append(f'<line class="snapmark" data-xs="{xs}" x1="{x:.1f}" x2="{x:.1f}" '
                           f'y1="{p.t}" y2="{p.h - p.b}"/>')
        keys = _legend([(c, col, c.startswith("val_")) for c, col in zip(cols, PALETTE)])
        charts.append(f"<figure>{p.svg()}{keys}</figure>")
    best_note = f" The dotted line marks the best epoch ({best}: {how})." if best else ""
    return ('<section id="curves"><h2>Learning curves</h2><p class="note">The loss (lower is '
            "better) and the metric after every epoch, on the training data (solid) and on the "
            "validation data the network never trains on (dashed). When the validation curve "
            f"turns up while the training curve keeps falling, the network is overfitting."
            f"{best_note} The grey line follows the slider below.</p>"
            f'<div class="row">{"".join(charts)}</div></section>')


def _boundary_frames(run: _Run, frames: list[dict[str, np.ndarray]]) -> dict[str, Any] | None:
    """Decision-region images (one data URI per frame) and the training points, for a
    classifier with two numeric inputs; None otherwise."""
    from nnlearn.data import read_csv

    model = run.model
    if model is None or model.task != "classification" or not_two_dimensional(model):
        return None
    train = (run.cfg or {}).get("data", {}).get("train")
    if not train or not Path(train).is_file():
        return None
    table = read_csv(train, target=model.target, **model.read_options())
    X = model.encode(table).astype(float)  # empty cells filled as the model fills them
    y = model.encoder.transform(table.y, lines=table.lines, path=table.path)
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = np.where(hi > lo, (hi - lo) * 0.1, 1.0)
    lo, hi = lo - pad, hi + pad
    xs = np.linspace(lo[0], hi[0], GRID)
    ys = np.linspace(hi[1], lo[1], GRID)  # top row first, as images are stored
    gx, gy = np.meshgrid(xs, ys)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    k = len(model.classes)
    colours = np.array([_rgb(PALETTE[i % len(PALETTE)]) for i in range(k)])
    saved = model.network.get_weights()
    images = []
    try:
        for weights in frames:
            model.network.set_weights(weights)
            with np.errstate(all="ignore"):
                proba = np.asarray(model.predict_proba(grid), float).reshape(GRID, GRID, -1)
            if proba.shape[2] == 1:  # a sigmoid output: p(class 1)
                proba = np.concatenate([1 - proba, proba], axis=2)
            proba = np.nan_to_num(proba)
            rgb = 1.0 - 0.45 * (1.0 - proba @ colours)  # washed out: the points stay visible
            images.append(_data_uri(png_bytes(np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8))))
    finally:
        model.network.set_weights(saved)
    if len(X) > MAX_POINTS:  # a fixed, even subsample: the picture, not a lottery
        keep = np.linspace(0, len(X) - 1, MAX_POINTS).round().astype(int)
        X, y = X[keep], y[keep]
    return {"images": images, "X": X, "y": y, "lo": lo, "hi": hi,
            "classes": list(model.classes), "features": model.input_names,
            "colours": [PALETTE[i % len(PALETTE)] for i in range(k)]}


def _boundary_svg(b: dict[str, Any]) -> str:
    size, m = 360, 34
    lo, hi = b["lo"], b["hi"]
    px = m + (b["X"][:, 0] - lo[0]) / (hi[0] - lo[0]) * size
    py = 8 + (hi[1] - b["X"][:, 1]) / (hi[1] - lo[1]) * size
    r = float(np.clip(60 / math.sqrt(max(len(px), 1)), 2.0, 6.0))
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{b["colours"][c]}"/>'
                   for x, y, c in zip(px, py, b["y"].tolist()))
    ticks = []
    for v in _ticks(lo[0], hi[0], 5):
        x = m + (v - lo[0]) / (hi[0] - lo[0]) * size
        ticks.append(f'<text class="tick" x="{x:.1f}" y="{size + 22}" '
                     f'text-anchor="middle">{_fmt(v, 3)}</text>')
    for v in _ticks(lo[1], hi[1], 5):
        y = 8 + (hi[1] - v) / (hi[1] - lo[1]) * size
        ticks.append(f'<text class="tick" x="{m - 4}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{_fmt(v, 3)}</text>')
    return (f'<svg id="boundary" viewBox="0 0 {size + m + 8} {size + 44}" width="{size + m + 8}" '
            f'height="{size + 44}" role="img" aria-label="decision regions">'
            f'<image id="region" x="{m}" y="8" width="{size}" height="{size}" '
            f'preserveAspectRatio="none" href="{b["images"][-1]}"/>'
            f'<rect class="frame" x="{m}" y="8" width="{size}" height="{size}"/>'
            f'<g class="points">{dots}</g>{"".join(ticks)}'
            f'<text class="lbl" x="{m + size / 2}" y="{size + 40}" '
            f'text-anchor="middle">{_esc(b["features"][0])}</text>'
            f'<text class="lbl" transform="translate(10 {8 + size / 2}) rotate(-90)" '
            f'text-anchor="middle">{_esc(b["features"][1])}</text></svg>')


def _network_data(run: _Run, frames: list[dict[str, np.ndarray]]) -> dict[str, Any] | None:
    """Layer sizes, labels and, per frame, every weight and bias as int8 (base64), relative to
    the largest |w| (|b|) of its layer over all frames."""
    if run.model is None or not frames or not _only_dense(run.model):
        return None
    model = run.model
    layers = _dense_layers(model)
    # the inputs as the first W sees them: one per one-hot category, not per CSV column
    full = [frames[0][f"{layers[0][0]}.W"].shape[0]] + [frames[0][f"{n}.W"].shape[1]
                                                       for n, _ in layers]
    sizes = [min(n, MAX_UNITS) for n in full]  # the first MAX_UNITS of a wider layer

    def w(f: dict[str, np.ndarray], i: int) -> np.ndarray:
        return f[f"{layers[i][0]}.W"][:sizes[i], :sizes[i + 1]].astype(float)

    def b(f: dict[str, np.ndarray], i: int) -> np.ndarray:
        return f[f"{layers[i][0]}.b"].ravel()[:sizes[i + 1]].astype(float)

    wscale = [float(max(np.abs(w(f, i)).max() for f in frames)) or 1.0
              for i in range(len(layers))]
    bscale = [float(max(np.abs(b(f, i)).max() for f in frames)) or 1.0
              for i in range(len(layers))]
    snaps = []
    for f in frames:
        parts = []
        for i in range(len(layers)):
            parts.append(np.round(w(f, i) / wscale[i] * 127).astype(np.int8).ravel())
            parts.append(np.round(b(f, i) / bscale[i] * 127).astype(np.int8))
        snaps.append(base64.b64encode(np.concatenate(parts).tobytes()).decode("ascii"))
    cut = [f"{s} of {n}" for s, n in zip(sizes, full) if s < n]
    outputs = model.classes if model.task == "classification" else [model.target]
    if sizes[-1] == 1 and model.task == "classification":
        outputs = [f"p({model.classes[-1]})"]
    return {"sizes": sizes, "inputs": model.input_names, "outputs": list(outputs or []),
            "acts": [a for _, a in layers], "wscale": wscale, "bscale": bscale, "snaps": snaps,
            "cut": ", ".join(cut)}


def _frame_captions(run: _Run, epochs: list[int], real: bool) -> list[str]:
    h = run.history
    rows = {int(e): i for i, e in enumerate(h.get("epoch", []))}
    out = []
    for e in epochs:
        if e == 0:
            out.append("epoch 0: the initial random weights, before any update")
            continue
        i = rows.get(e)
        bits = [f"epoch {e}" + ("" if real else " (the final model; no snapshots)")]
        if i is not None:
            for c in ("train_loss", "val_loss", "val_accuracy", "val_r2"):
                if c in h and math.isfinite(h[c][i]):
                    bits.append(f"{c.replace('_', ' ')} {_fmt(float(h[c][i]))}")
        out.append(" · ".join(bits))
    return out


def _learn_section(run: _Run) -> tuple[str, dict[str, Any]]:
    epochs, frames, real = _frames(run)
    boundary = _boundary_frames(run, frames) if frames else None
    net = _network_data(run, frames)
    data: dict[str, Any] = {"epochs": epochs, "captions": _frame_captions(run, epochs, real),
                            "net": net, "images": boundary["images"] if boundary else None}
    if not frames:
        hint = ("<p class=note>This run left neither a model nor snapshots (it did not finish), "
                "so there is nothing to replay.</p>")
    elif not real:
        hint = ("<p class=note>This run kept no snapshots, so only the final model is shown. "
                "Train with <code>--snapshots 20</code> (or <code>training.snapshots: 20</code>)"
                " to replay how it learned.</p>")
    else:
        hint = ""
    controls = (f'<div class="controls"><button id="play" type="button">▶ play</button>'
                f'<input id="slider" type="range" min="0" max="{max(len(epochs) - 1, 0)}" '
                f'value="{max(len(epochs) - 1, 0)}" step="1" aria-label="snapshot"'
                f'{" disabled" if len(epochs) < 2 else ""}>'
                f'<span id="caption" class="caption"></span></div>')
    panes = []
    if boundary is not None:
        legend = "".join(f'<span class="key"><span class="dot" style="background:{c}"></span>'
                         f'{_esc(n)}</span>' for n, c in zip(boundary["classes"],
                                                            boundary["colours"]))
        panes.append(f'<figure class="pane narrow">{_boundary_svg(boundary)}'
                     f'<figcaption><div class="legend">{legend}</div>Background: the class the '
                     "network predicts at each point (paler where it is unsure). Dots: the "
                     "training data, coloured by their true class.</figcaption></figure>")
    elif run.model is not None and run.model.task == "classification" and \
            not not_two_dimensional(run.model):
        panes.append('<p class="note">The training data file named in the run\'s config is '
                     "not there any more, so the decision regions cannot be drawn.</p>")
    elif run.model is not None and run.model.encoding is not None and \
            run.model.encoding.categorical:
        panes.append('<p class="note">Decision regions are drawn for classifiers with exactly '
                     "two numeric input features; this model has "
                     f"{_esc(run.model.encoding.describe())}.</p>")
    elif run.model is not None:
        panes.append('<p class="note">Decision regions are drawn for classifiers with exactly '
                     f"two input features; this model has {len(run.model.feature_names)}.</p>")
    if net is not None:
        panes.append('<figure class="pane wide"><svg id="network" viewBox="0 0 640 420" '
                     'width="640" height="420" role="img" aria-label="the network"></svg>'
                     f'<figcaption><div class="legend"><span class="key"><span class="dot" '
                     f'style="background:{POSITIVE}"></span>positive weight</span><span '
                     f'class="key"><span class="dot" style="background:{NEGATIVE}"></span>'
                     "negative weight</span></div>Each line is one weight, as thick as its size "
                     "relative to the largest weight of its layer over the whole run; a "
                     "neuron's fill shows its bias the same way."
                     + (f" Wide layers are cut to their first {MAX_UNITS} units (shown: "
                        f"{_esc(net['cut'])})." if net["cut"] else "")
                     + "</figcaption></figure>")
    else:
        panes.append('<p class="note">No model.npz: the run did not finish, so there is no '
                     "network to draw.</p>")
    body = (f'<section id="learn"><h2>Watch it learn</h2>{hint}<p class="note">Move the slider '
            "(or press play) to see the network at each snapshot: how the regions it carves out "
            "of the plane and the weights that make them change as training goes on.</p>"
            f'{controls}<div class="row">{"".join(panes)}</div></section>')
    return body, data


def _diagnostics_section(run: _Run) -> str:
    intro = '<section id="diagnostics"><h2>Gradients and updates, per layer</h2>'
    if not run.diagnostics:
        return (intro + '<p class="note">This run had no <code>--diagnostics</code>. Train with '
                "<code>nnlearn train CONFIG --diagnostics</code> (or "
                "<code>training.diagnostics: true</code>) to record each layer's gradient and "
                "weight norms and how far each epoch moves its weights.</p></section>")
    layers: list[str] = []
    for row in run.diagnostics:
        if row["layer"] not in layers:
            layers.append(row["layer"])
    charts = []
    explain = {"grad_norm": "‖dL/dW‖: the gradient of the epoch's last step",
               "weight_norm": "‖W‖: the size of the weights",
               "update_ratio": "‖ΔW‖/‖W‖ over one epoch: how far it moved the weights"}
    for metric, what in explain.items():
        series = {}
        for layer in layers:
            rows = [r for r in run.diagnostics if r["layer"] == layer and r.get(metric)]
            series[layer] = (np.array([float(r["epoch"]) for r in rows]),
                             np.array([float(r[metric]) for r in rows]))
        vals = [v for _, v in series.values() if len(v)]
        finite = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in vals]) if vals else []
        if not len(finite):
            continue
        ep = np.concatenate([e for e, _ in series.values()])
        p = _Plot(380, 240, (float(ep.min()), float(ep.max())), (float(finite.min()),
                                                                   float(finite.max())),
                  ylog=bool(finite.max() / finite.min() > 5), title=metric, xlabel="epoch")
        for (layer, (e, v)), colour in zip(series.items(), PALETTE):
            p.line(e, v, colour)
        charts.append(f'<figure>{p.svg()}<figcaption>{_esc(what)}</figcaption></figure>')
    legend = _legend([(layer, c, False) for layer, c in zip(layers, PALETTE)])
    return (intro + '<p class="note">Healthy training moves each layer\'s weights by a small '
            "fraction of their size (one step by about 0.1%, so an epoch by that times its "
            "steps), less and less as the loss settles. Gradients far smaller in the first "
            "layers than in the last are vanishing; gradients that keep growing are exploding."
            "</p>"
            f'{legend}<div class="row">{"".join(charts)}</div></section>')


def _weights_section(run: _Run) -> str:
    epochs, frames, _ = _frames(run)
    intro = '<section id="weights"><h2>Weight histograms</h2>'
    if run.model is None or not frames:
        return intro + '<p class="note">No weights to show (no model.npz).</p></section>'
    first, last = frames[0], frames[-1]
    charts = []
    for name, act in _dense_layers(run.model):
        w0, w1 = first[f"{name}.W"].ravel().astype(float), last[f"{name}.W"].ravel().astype(float)
        m = float(max(np.abs(w0).max(), np.abs(w1).max())) or 1.0
        bins = np.linspace(-m, m, 31)
        c0, _ = np.histogram(w0, bins)
        c1, _ = np.histogram(w1, bins)
        top = float(max(c0.max(), c1.max(), 1))
        p = _Plot(280, 200, (-m, m), (0.0, top), title=f"{name} ({act})", xlabel="weight",
                  left=40)
        for counts, cls in ((c1, "h1"), ((c0, "h0") if len(frames) > 1 else (None, ""))):
            if counts is None:
                continue
            for lo_, hi_, c in zip(bins[:-1], bins[1:], counts):
                if c:
                    x0, x1, y = p.px(lo_), p.px(hi_), p.py(c)
                    p.parts.append(f'<rect class="{cls}" x="{x0:.1f}" y="{y:.1f}" '
                                   f'width="{max(x1 - x0 - 0.5, 0.5):.1f}" '
                                   f'height="{p.py(0) - y:.1f}"/>')
        charts.append(f"<figure>{p.svg()}</figure>")
    which = (f"at epoch {epochs[0]} (grey outline) and epoch {epochs[-1]} (filled)"
             if len(frames) > 1 else f"of the final model (epoch {epochs[-1]})")
    return (intro + f'<p class="note">The weights of each layer {which}. Training usually '
            "spreads them out from their small random start.</p>"
            f'<div class="row">{"".join(charts)}</div></section>')


def _test_section(run: _Run) -> str:
    intro = '<section id="test"><h2>On the test data</h2>'
    test = run.summary.get("test")
    if not isinstance(test, dict):
        return (intro + '<p class="note">The config names no <code>data.test</code> file, so '
                "there are no test results. (<code>nnlearn eval RUN --data CSV</code> evaluates "
                "on any labelled file.)</p></section>")
    if "confusion_matrix" in test:
        cm = np.array(test["confusion_matrix"], dtype=float)
        classes = test.get("classes") or [str(i) for i in range(len(cm))]
        share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        head = "".join(f"<th>{_esc(c)}</th>" for c in classes)
        rows = []
        for i, c in enumerate(classes):
            cells = "".join(
                f'<td style="background:rgba(47,127,216,{share[i, j]:.2f})"'
                f'{" class=hi" if share[i, j] > 0.55 else ""}>{int(cm[i, j])}</td>'
                for j in range(len(classes)))
            rows.append(f"<tr><th>{_esc(c)}</th>{cells}</tr>")
        table = (f'<table class="confusion"><tr><th class="corner">true ↓ / predicted →</th>'
                 f'{head}</tr>{"".join(rows)}</table>')
        return (intro + f'<p class="note">Confusion matrix: row = the true class, column = the '
                f"predicted one; the diagonal is right. Accuracy {_fmt(test.get('accuracy'))} "
                f"on {test.get('n', '?')} rows.</p>{table}</section>")
    return intro + _regression_plot(run, test) + "</section>"


def _regression_plot(run: _Run, test: dict[str, Any]) -> str:
    from nnlearn.data import read_csv, regression_targets

    path = (run.cfg or {}).get("data", {}).get("test")
    if run.model is None or not path or not Path(path).is_file():
        return f'<p class="note">R² {_fmt(test.get("r2"))}, RMSE {_fmt(test.get("rmse"))}.</p>'
    model = run.model
    table = read_csv(path, target=model.target, **model.read_options())
    y = regression_targets(table.y, table.lines, table.path, column=table.target)[:, 0]
    pred = model.predict_values(model.encode(table))[:, 0]
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    p = _Plot(420, 400, (lo, hi), (lo, hi), title="predicted vs actual", xlabel=f"actual "
              f"{model.target}", ylabel="predicted")
    p.parts.append(f'<line class="best" x1="{p.px(lo):.1f}" y1="{p.py(lo):.1f}" '
                   f'x2="{p.px(hi):.1f}" y2="{p.py(hi):.1f}"/>')
    p.parts.extend(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.5" fill="{PALETTE[0]}" '
                   'fill-opacity="0.7"/>' for a, b in zip(p.px(y), p.py(pred)))
    return (f'<p class="note">Each dot is one test row; on the dotted diagonal the prediction '
            f'would be exact. R² {_fmt(test.get("r2"))}, RMSE {_fmt(test.get("rmse"))}, '
            f'MAE {_fmt(test.get("mae"))}.</p><figure>{p.svg()}</figure>')


# ------------------------------------------------------------------------------------------
# pages


_CSS = """
:root{color-scheme:light dark;--bg:#ffffff;--fg:#1f2328;--muted:#59636e;--grid:#d8dee4;
--panel:#f6f8fa;--frame:#8c959f;--accent:#2f7fd8}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;
--grid:#2a3038;--panel:#161b22;--frame:#6e7681}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,sans-serif}
header{position:sticky;top:0;z-index:2;background:var(--panel);border-bottom:1px solid var(--grid);
padding:6px 20px;display:flex;gap:18px;align-items:baseline;flex-wrap:wrap}
header h1{font-size:17px;margin:0}
header a{color:var(--accent);text-decoration:none}
header nav{display:flex;gap:14px;flex-wrap:wrap}
main{max-width:1240px;margin:0 auto;padding:4px 20px 40px}
section{border-bottom:1px solid var(--grid);padding:6px 0 14px}
h2{font-size:18px;margin:12px 0 6px}h3{font-size:14px;margin:10px 0 4px}
.note{color:var(--muted);max-width:980px;margin:4px 0 8px}
.muted{color:var(--muted);font-weight:normal}
.row{display:flex;flex-wrap:wrap;gap:10px 18px;align-items:flex-start}
.cols2{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:24px}
figure{margin:0}figcaption{color:var(--muted);font-size:12.5px;max-width:600px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0}
dt{color:var(--muted)}dd{margin:0}
pre.config{background:var(--panel);border:1px solid var(--grid);padding:8px;font-size:12px;
max-height:330px;overflow:auto;margin:4px 0}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{border:1px solid var(--grid);padding:3px 8px;text-align:right}
th{background:var(--panel);font-weight:600}
table.confusion td{min-width:40px;text-align:center}table.confusion td.hi{color:#fff}
.controls{display:flex;align-items:center;gap:12px;margin:8px 0;position:sticky;top:34px;
z-index:1;background:var(--bg);padding:4px 0}
#slider{width:420px;accent-color:var(--accent)}
button{font:inherit;padding:4px 12px;border:1px solid var(--frame);border-radius:6px;
background:var(--panel);color:var(--fg);cursor:pointer;min-width:84px}
.caption{font-variant-numeric:tabular-nums}
svg{max-width:100%;height:auto}
svg text{fill:var(--fg);font-size:11px}svg .tick{fill:var(--muted);font-size:10px}
svg .ttl{font-weight:600;font-size:12px}svg .lbl{font-size:11px}
svg .grid{stroke:var(--grid);stroke-width:1}
svg .frame{fill:none;stroke:var(--frame);stroke-width:1}
svg .best{stroke:var(--fg);stroke-width:1;stroke-dasharray:2 3}
svg .bestlbl{fill:var(--muted);font-size:10px}
svg .snapmark{stroke:var(--frame);stroke-width:6;opacity:.35}
svg .h0{fill:none;stroke:var(--frame);stroke-width:1}svg .h1{fill:var(--accent);opacity:.75}
#boundary .points circle{stroke:#222;stroke-width:.6}
#network .node{stroke:var(--frame);stroke-width:1}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;margin:2px 0}
.key{display:inline-flex;align-items:center;gap:5px}
.dot{display:inline-block;width:11px;height:11px;border-radius:50%}
.pane{background:var(--panel);border:1px solid var(--grid);border-radius:8px;padding:8px}
.pane.narrow figcaption{max-width:402px}
"""

_JS = r"""
(function(){
"use strict";
var D = JSON.parse(document.getElementById("report-data").textContent);
var slider = document.getElementById("slider");
if (!slider) { return; }
var POS = "%POS%", NEG = "%NEG%";
var caption = document.getElementById("caption");
var region = document.getElementById("region");
var marks = Array.prototype.slice.call(document.querySelectorAll(".snapmark"));
var edges = [], nodes = [], net = D.net, frames = [];
function decode(b64) {
  var s = atob(b64), a = new Int8Array(s.length);
  for (var i = 0; i < s.length; i++) { a[i] = (s.charCodeAt(i) << 24) >> 24; }
  return a;
}
function el(tag, attrs, parent) {
  var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (var k in attrs) { e.setAttribute(k, attrs[k]); }
  parent.appendChild(e);
  return e;
}
function buildNetwork() {
  var svg = document.getElementById("network");
  if (!svg || !net) { return; }
  var sizes = net.sizes, W = 640, H = 420, top = 22, bottom = 16, left = 70, right = 70;
  var xs = [], ys = [];
  for (var l = 0; l < sizes.length; l++) {
    xs.push(left + (W - left - right) * l / (sizes.length - 1));
    var n = sizes[l], gap = Math.min(34, (H - top - bottom) / n), col = [];
    var y0 = top + ((H - top - bottom) - gap * (n - 1)) / 2;
    for (var i = 0; i < n; i++) { col.push(y0 + gap * i); }
    ys.push(col);
  }
  var gEdges = el("g", {}, svg), gNodes = el("g", {}, svg);
  for (l = 0; l + 1 < sizes.length; l++) {
    for (i = 0; i < sizes[l]; i++) {
      for (var j = 0; j < sizes[l + 1]; j++) {
        edges.push(el("line", {x1: xs[l], y1: ys[l][i], x2: xs[l + 1], y2: ys[l + 1][j],
                               "stroke-linecap": "round"}, gEdges));
      }
    }
  }
  for (l = 0; l < sizes.length; l++) {
    var r = Math.max(2, Math.min(9, 0.38 * (ys[l].length > 1 ? ys[l][1] - ys[l][0] : 30)));
    for (i = 0; i < sizes[l]; i++) {
      var c = el("circle", {cx: xs[l], cy: ys[l][i], r: r, "class": "node",
                            fill: "var(--bg)"}, gNodes);
      if (l > 0) { nodes.push(c); }
    }
    var head = l === 0 ? "input" : (l === sizes.length - 1 ? "output" : "hidden " + l);
    var sub = l === 0 ? "" : net.acts[l - 1];
    var t = el("text", {x: xs[l], y: 12, "text-anchor": "middle", "class": "lbl"}, gNodes);
    t.textContent = head + (sub && l < sizes.length - 1 ? " (" + sub + ")" : "");
    var names = l === 0 ? net.inputs : (l === sizes.length - 1 ? net.outputs : null);
    if (names && names.length === sizes[l] && sizes[l] <= 24) {
      for (i = 0; i < sizes[l]; i++) {
        var lab = el("text", {x: l === 0 ? xs[l] - r - 4 : xs[l] + r + 4, y: ys[l][i] + 4,
                              "text-anchor": l === 0 ? "end" : "start", "class": "tick"}, gNodes);
        lab.textContent = names[i];
      }
    }
  }
  frames = net.snaps.map(decode);
}
function drawNetwork(k) {
  if (!frames.length) { return; }
  var q = frames[k], sizes = net.sizes, p = 0, e = 0, nd = 0;
  for (var l = 0; l + 1 < sizes.length; l++) {
    var count = sizes[l] * sizes[l + 1];
    for (var i = 0; i < count; i++, e++) {
      var v = q[p + i], a = Math.abs(v) / 127;
      var line = edges[e];
      line.setAttribute("stroke", v >= 0 ? POS : NEG);
      line.setAttribute("stroke-width", (0.2 + 3.3 * a).toFixed(2));
      line.setAttribute("stroke-opacity", (0.06 + 0.94 * a * a).toFixed(2));
    }
    p += count;
    for (i = 0; i < sizes[l + 1]; i++, nd++) {
      var b = q[p + i], node = nodes[nd];
      node.setAttribute("fill", b >= 0 ? POS : NEG);
      node.setAttribute("fill-opacity", (0.1 + 0.9 * Math.abs(b) / 127).toFixed(2));
    }
    p += sizes[l + 1];
  }
}
function show(k) {
  k = Math.max(0, Math.min(D.epochs.length - 1, k));
  if (region && D.images) { region.setAttribute("href", D.images[k]); }
  drawNetwork(k);
  marks.forEach(function (m) {
    var x = m.getAttribute("data-xs").split(",")[k];
    m.setAttribute("x1", x); m.setAttribute("x2", x);
  });
  if (caption) { caption.textContent = D.captions[k] || ""; }
}
buildNetwork();
var start = D.epochs.length ? D.epochs.length - 1 : 0;
slider.value = String(start);
show(start);
slider.addEventListener("input", function () { show(parseInt(slider.value, 10)); });
var timer = null, play = document.getElementById("play");
function stop() {
  if (timer) { clearInterval(timer); timer = null; }
  play.textContent = "\u25b6 play";
}
play.addEventListener("click", function () {
  if (timer) { stop(); return; }
  if (D.epochs.length < 2) { return; }
  if (parseInt(slider.value, 10) >= D.epochs.length - 1) { slider.value = "0"; show(0); }
  play.textContent = "\u275a\u275a pause";
  timer = setInterval(function () {
    var k = parseInt(slider.value, 10) + 1;
    if (k >= D.epochs.length) { stop(); return; }
    slider.value = String(k); show(k);
  }, 450);
});
})();
"""


def _page(title: str, nav: Sequence[tuple[str, str]], body: str, data: dict[str, Any]) -> str:
    links = "".join(f'<a href="#{i}">{_esc(t)}</a>' for i, t in nav)
    # "</" cannot appear inside the JSON script element: escape every "<" as \u003c.
    blob = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    js = _JS.replace("%POS%", POSITIVE).replace("%NEG%", NEGATIVE)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>{_esc(title)}</h1><nav>{links}</nav></header><main>{body}</main>"
            f'<script type="application/json" id="report-data">{blob}</script>'
            f"<script>{js}</script></body></html>\n")


def report_html(run_dir: str | os.PathLike) -> str:
    """The HTML page of one run folder."""
    run = _read_run(Path(run_dir))
    epochs, _, _ = _frames(run)
    learn, data = _learn_section(run)
    body = (_summary_section(run) + _curves_section(run, epochs) + learn
            + _diagnostics_section(run) + _weights_section(run) + _test_section(run))
    nav = [("summary", "Summary"), ("curves", "Curves"), ("learn", "Watch it learn"),
           ("diagnostics", "Gradients"), ("weights", "Weights"), ("test", "Test data")]
    return _page(f"nnlearn report: {run.path.name}", nav, body, data)


def comparison_html(run_dirs: Sequence[str | os.PathLike]) -> str:
    """The HTML page of several runs: what differs between them, and their curves overlaid."""
    from nnlearn.sweeps.compare import compare_runs

    comp = compare_runs(run_dirs)
    curves = curves_data(run_dirs)
    labels = comp.labels
    head = "".join(f"<th>{_esc(lab)}</th>" for lab in labels)

    def table(rows: list[tuple[str, list[Any]]]) -> str:
        body = "".join(f"<tr><th>{_esc(k)}</th>" + "".join(
            f"<td>{_esc(_fmt(v))}</td>" for v in vals) + "</tr>" for k, vals in rows)
        return f'<table class="metrics"><tr><th></th>{head}</tr>{body}</table>'

    differs = (table(comp.config) if comp.config else
               '<p class="note">The configs are the same in every key.</p>')
    summary = (f'<section id="summary"><h2>{len(comp.runs)} runs</h2><p class="note">'
               + ", ".join(f"<code>{_esc(r.path)}</code>" for r in comp.runs) + "</p>"
               f"<h3>Results</h3>{table(comp.metrics)}</section>"
               f'<section id="differs"><h2>What differs</h2><p class="note">The config keys '
               f"whose values differ between the runs (as <code>nnlearn compare</code> shows "
               f"them).</p>{differs}</section>")
    charts = []
    for title, cols in (("loss", curves.loss_columns), (curves.metric, curves.metric_columns)):
        if not cols or title is None:
            continue
        series = [r.series[c] for r in curves.runs for c in cols if c in r.series]
        finite = np.concatenate([v[np.isfinite(v)] for v in series])
        if not finite.size:
            continue
        log = title == "loss" and _use_log(series)
        epochs = np.concatenate([r.epoch for r in curves.runs])
        p = _Plot(580, 320, (float(epochs.min()), float(epochs.max())),
                  (float(finite.min()), float(finite.max())), ylog=log,
                  title=title + (" (log scale)" if log else ""), xlabel="epoch")
        for run, colour in zip(curves.runs, PALETTE * 10):
            for c in cols:
                if c in run.series:
                    p.line(run.epoch, run.series[c], colour, dash=c.startswith("val_"))
        charts.append(f"<figure>{p.svg()}</figure>")
    legend = _legend([(r.label, c, False) for r, c in zip(curves.runs, PALETTE * 10)]
                     + [("train", "var(--frame)", False), ("validation", "var(--frame)", True)])
    body = (summary + '<section id="curves"><h2>Learning curves</h2><p class="note">Every run '
            "in its own colour; training solid, validation dashed.</p>"
            f'{legend}<div class="row">{"".join(charts)}</div></section>')
    nav = [("summary", "Runs"), ("differs", "What differs"), ("curves", "Curves")]
    return _page(f"nnlearn report: {len(comp.runs)} runs", nav, body, {})
