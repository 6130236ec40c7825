"""Pictures made of characters: sparklines, line charts, class maps and confusion tables.

Pure Python on lists of floats (no numpy, no matplotlib), so ``nnlearn train`` can end with a
sparkline of its loss curves and ``nnlearn plot --text`` works on any machine over ssh. Every
function returns a string (or lines); printing is the caller's business.

A loss usually falls by orders of magnitude, most of it in the first few epochs; on a linear
scale the rest of the curve would be one flat row. So the loss pictures use a log scale whenever
every value is positive (``log=True``), which turns exponential decay into a visible slope.

Non-finite values (a diverged epoch, a missing validation loss) are drawn as gaps, never as
the top or bottom of the scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

#: Eight heights of a sparkline cell, lowest first.
BLOCKS = "▁▂▃▄▅▆▇█"
#: The same in ASCII, for terminals that cannot print block characters.
ASCII_BLOCKS = "_.-:=+*#"
#: Point markers for the series of a chart / the classes of a class map, in order.
MARKERS = "*o+x#@%&"
#: Background characters of the regions of a class map (class 0, class 1, ...).
REGIONS = ". :-~',="


def _finite(v: float | None) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def resample(values: Sequence[float], width: int) -> list[float]:
    """Shrink a series to ``width`` points by averaging consecutive bins of (almost) equal size.

    Series no longer than ``width`` are returned unchanged (as floats). Non-finite values are
    left out of a bin's mean; a bin with no finite value becomes NaN. Averaging (rather than
    picking every k-th value) keeps a noisy curve's level honest."""
    n = len(values)
    if width < 1:
        raise ValueError("width must be at least 1")
    if n <= width:
        return [float(v) if _finite(v) else math.nan for v in values]
    out = []
    for i in range(width):
        lo, hi = i * n // width, (i + 1) * n // width
        good = [float(v) for v in values[lo:hi] if _finite(v)]
        out.append(sum(good) / len(good) if good else math.nan)
    return out


def _scaled(v: float, lo: float, hi: float, log: bool) -> float:
    """``v`` as a fraction of [lo, hi] (0 at lo, 1 at hi), on a log scale when asked."""
    if log:
        v, lo, hi = math.log10(v), math.log10(lo), math.log10(hi)
    if hi <= lo:
        return 0.5
    return min(max((v - lo) / (hi - lo), 0.0), 1.0)


def _range(series: Sequence[Sequence[float]], log: bool) -> tuple[float, float] | None:
    vals = [v for s in series for v in s if _finite(v) and (v > 0 or not log)]
    return (min(vals), max(vals)) if vals else None


def can_log(series: Sequence[Sequence[float]]) -> bool:
    """True when every finite value is positive, so a log scale can show all of them."""
    vals = [v for s in series for v in s if _finite(v)]
    return bool(vals) and min(vals) > 0


def sparkline(values: Sequence[float], *, width: int | None = None, lo: float | None = None,
              hi: float | None = None, log: bool = False, ascii: bool = False) -> str:
    """One character per point (after :func:`resample` to ``width``), its height the value.

    ``lo``/``hi`` fix the scale (so two sparklines can share one); by default the series' own
    finite range. A constant series sits at mid height; a non-finite point is a space."""
    chars = ASCII_BLOCKS if ascii else BLOCKS
    pts = resample(values, width) if width else resample(values, max(len(values), 1))
    rng = _range([pts], log)
    if rng is None:
        return " " * len(pts)
    lo = rng[0] if lo is None else lo
    hi = rng[1] if hi is None else hi
    out = []
    for v in pts:
        if not _finite(v) or (log and v <= 0):
            out.append(" ")
            continue
        frac = _scaled(v, lo, hi, log) if hi > lo else 0.5
        out.append(chars[min(int(frac * len(chars)), len(chars) - 1)])
    return "".join(out)


def _num(v: float) -> str:
    return f"{v:.4g}" if _finite(v) else str(v)


def _cell_of(index: int, n: int, width: int) -> int:
    """The sparkline cell that point ``index`` of ``n`` falls in after :func:`resample`."""
    if n <= width:
        return index
    return next(i for i in range(width) if index < (i + 1) * n // width)


def loss_sparklines(history: Sequence[Mapping[str, float]], *, width: int = 40,
                    ascii: bool = False, restored_epoch: int | None = None) -> list[str]:
    """Lines summing up a run's loss curves: train loss and (when there is one) val loss, each
    scaled to its own range so that its shape shows (a validation loss that creeps up by 20%
    is as visible as a training loss that falls a thousandfold), each with its first and last
    value (named as history.csv's columns, so they are not mistaken for the final metrics).
    When the lowest val loss is not the last one, a third line marks its epoch; when early
    stopping restored the weights of ``restored_epoch``, that line says so::

        train_loss █▆▄▃▂▂▁▁▁▁  0.6931 → 0.0123  (200 epochs, each on its own log scale)
        val_loss   ▃▁▁▂▂▃▄▅▆█  0.7012 → 0.8456
                    ^ lowest val_loss 0.6512 at epoch 21

    ``history`` is the per-epoch list of dicts the trainer returns (or history.csv's rows)."""
    cols = [c for c in ("train_loss", "val_loss") if any(c in row for row in history)]
    if not history or not cols:
        return []
    series = {c: [row.get(c, math.nan) for row in history] for c in cols}
    log = all(can_log([s]) for s in series.values())
    arrow = "->" if ascii else "→"
    lines = []
    for i, c in enumerate(cols):
        vals = [v for v in series[c] if _finite(v)]
        ends = f"{_num(vals[0])} {arrow} {_num(vals[-1])}" if vals else "no values"
        name = c.ljust(10)
        line = f"{name} {sparkline(series[c], width=width, log=log, ascii=ascii)}  {ends}"
        if i == 0:
            scale = "log scale" if log else "scale"
            n = len(history)
            own = "each on its own " if len(cols) > 1 else ""
            line += f"  ({n} epoch{'s' if n != 1 else ''}, {own}{scale})"
        lines.append(line)
    marked = cols[-1]
    values = series[marked]
    finite = [k for k, v in enumerate(values) if _finite(v)]
    if not finite:
        return lines
    epochs = [int(row.get("epoch", k + 1)) for k, row in enumerate(history)]
    # restoring the last epoch's weights changes nothing: then only the lowest value is marked
    if restored_epoch is not None and restored_epoch in epochs[:-1]:
        best = epochs.index(restored_epoch)
        note = (f"epoch {restored_epoch}'s weights were restored (early stopping): "
                f"{marked} {_num(values[best])} there, not the last {_num(values[finite[-1]])}")
    else:
        best = min(finite, key=values.__getitem__)
        if best == finite[-1]:
            return lines
        note = f"lowest {marked} {_num(values[best])} at epoch {epochs[best]}"
    caret = "^" if ascii else "↑"
    lines.append(" " * (11 + _cell_of(best, len(values), width)) + f"{caret} {note}")
    return lines


def line_chart(series: Mapping[str, Sequence[float]], *, x: Sequence[float] | None = None,
               width: int = 60, height: int = 12, log: bool = False,
               title: str | None = None) -> str:
    """A character line chart: one marker per column for each series, y labels on the left,
    the x range below, and a legend naming each series' marker.

    All series share the x values ``x`` (default 1, 2, ...; the epochs for learning curves) and
    one y scale. Longer series are averaged down to ``width`` columns. Where two series meet
    in one cell the later one is drawn. ``log`` uses a log y scale (only positive values show).
    """
    if width < 2 or height < 2:
        raise ValueError("a chart needs width and height of at least 2")
    names = list(series)
    n = max((len(s) for s in series.values()), default=0)
    xs = [float(v) for v in x] if x is not None else [float(i + 1) for i in range(n)]
    cols = min(width, max(n, 1))
    grid = [[" "] * cols for _ in range(height)]
    pts = {name: resample(list(series[name]) + [math.nan] * (n - len(series[name])), cols)
           for name in names}
    # the scale covers every value, not only the column averages: the first loss (often the
    # highest) must be on the axis even when its column averages it with lower ones
    rng = _range([*pts.values(), *(list(v) for v in series.values())], log)
    lines = [title] if title else []
    if rng is None:
        lines.append("(nothing to draw: no finite values)")
        return "\n".join(lines)
    lo, hi = rng
    for k, name in enumerate(names):
        mark = MARKERS[k % len(MARKERS)]
        for c, v in enumerate(pts[name]):
            if not _finite(v) or (log and v <= 0):
                continue
            r = round(_scaled(v, lo, hi, log) * (height - 1)) if hi > lo else (height - 1) // 2
            grid[height - 1 - r][c] = mark

    def label(frac: float) -> str:
        if log:
            return _num(10 ** (math.log10(lo) + frac * (math.log10(hi) - math.log10(lo))))
        return _num(lo + frac * (hi - lo))

    if hi > lo:
        ticks = {0: label(1.0), height - 1: label(0.0)}
        if height >= 5:
            ticks[(height - 1) // 2] = label(1 - ((height - 1) // 2) / (height - 1))
    else:  # one value: one label, on the row where it is drawn
        ticks = {height - 1 - (height - 1) // 2: _num(lo)}
    pad = max(len(t) for t in ticks.values())
    for r, row in enumerate(grid):
        lines.append(f"{ticks.get(r, '').rjust(pad)} |{''.join(row)}")
    lines.append(" " * pad + " +" + "-" * cols)
    x_lo, x_hi = (_num(xs[0]), _num(xs[-1])) if xs else ("", "")
    if len(xs) > 1:
        lines.append(" " * (pad + 2) + x_lo + x_hi.rjust(max(cols - len(x_lo), len(x_hi) + 1)))
    else:
        lines.append(" " * (pad + 2) + x_lo)
    entries = [f"{MARKERS[k % len(MARKERS)]} {name}" + (
        "" if any(_finite(v) and (v > 0 or not log) for v in series[name])
        else " (no finite values)") for k, name in enumerate(names)]
    entries += ["(log scale)"] if log else []
    legend = "   ".join(entries)
    if len(legend) > max(cols, 40):  # too long for one line: one entry per line
        lines.extend(" " * (pad + 2) + e for e in entries)
    else:
        lines.append(" " * (pad + 2) + legend)
    return "\n".join(lines)


def class_map(regions: Sequence[Sequence[int]], points: Sequence[tuple[int, int, int]],
              classes: Sequence[str]) -> str:
    """A decision-region map in characters: ``regions[r][c]`` is the class predicted in the cell
    at row ``r`` (top row first) and column ``c``, drawn with that class's background character
    (``.``, blank, ``:``, ...); ``points`` are (row, col, class) cells where a data point lies,
    drawn with the class's marker (``*``, ``o``, ...) so misclassified points stand out against
    the other class's background. Ends with a legend line."""
    grid = [[REGIONS[k % len(REGIONS)] for k in row] for row in regions]
    for r, c, k in points:
        if 0 <= r < len(grid) and 0 <= c < len(grid[r]):
            grid[r][c] = MARKERS[k % len(MARKERS)]
    lines = ["|" + "".join(row) + "|" for row in grid]
    width = len(grid[0]) if grid else 0
    border = "+" + "-" * width + "+"
    legend = "   ".join(f"{MARKERS[k % len(MARKERS)]} {name} (region '{REGIONS[k % len(REGIONS)]}')"
                        for k, name in enumerate(classes))
    return "\n".join([border, *lines, border, legend])


def confusion_table(matrix: Sequence[Sequence[int]], classes: Sequence[str]) -> str:
    """The confusion matrix (rows: true class, columns: predicted) with each count's share of
    its row, e.g. ``45 (90%)``, so a class that is mostly mistaken for another is easy to see."""
    head = ["true \\ pred", *map(str, classes)]
    rows = []
    for name, row in zip(classes, matrix):
        total = sum(row)
        rows.append([str(name)] + [f"{v} ({100 * v / total:.0f}%)" if total else str(v)
                                   for v in row])
    cells = [head, *rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))) for r in cells)
