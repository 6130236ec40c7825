"""Text pictures: sparklines, line charts, class maps and confusion tables (pure Python)."""

from __future__ import annotations

import math

import pytest

from nnlearn.plots.text import (
    ASCII_BLOCKS,
    BLOCKS,
    MARKERS,
    REGIONS,
    class_map,
    confusion_table,
    line_chart,
    loss_sparklines,
    resample,
    sparkline,
)


def _heights(line: str, chars: str = BLOCKS) -> list[int]:
    return [chars.index(ch) for ch in line]


# ------------------------------------------------------------------------------------------
# resample and sparkline


def test_resample_averages_equal_bins_and_skips_non_finite_values():
    assert resample([1, 2, 3, 4], 2) == [1.5, 3.5]
    assert resample([1, math.nan, 3, 5], 2) == [1.0, 4.0]
    out = resample([math.nan, math.nan, 1, 1], 2)
    assert math.isnan(out[0]) and out[1] == 1.0
    assert resample([3, 1], 10) == [3.0, 1.0]  # short series are left alone
    assert len(resample(list(range(1000)), 37)) == 37


def test_sparkline_has_one_cell_per_point_and_height_follows_the_value():
    values = [10, 8, 6, 4, 2, 1, 0.5]
    line = sparkline(values)
    assert len(line) == len(values)
    h = _heights(line)
    assert h == sorted(h, reverse=True)  # a falling curve never goes up
    assert h[0] == len(BLOCKS) - 1 and h[-1] == 0  # its own range: max on top, min at bottom


def test_sparkline_width_shrinks_a_long_series():
    assert len(sparkline([float(i) for i in range(500)], width=40)) == 40


def test_sparkline_shared_scale_puts_a_smaller_series_lower():
    low = sparkline([1.0, 1.0], lo=1.0, hi=9.0)
    high = sparkline([9.0, 9.0], lo=1.0, hi=9.0)
    assert _heights(low) == [0, 0] and _heights(high) == [7, 7]


def test_sparkline_log_scale_spreads_exponential_decay_evenly():
    decay = [10.0 ** -k for k in range(8)]  # 1, 0.1, ... 1e-7
    assert _heights(sparkline(decay, log=True)) == list(range(7, -1, -1))
    # on a linear scale everything after the first point sits on the bottom row
    assert _heights(sparkline(decay))[1:] == [0] * 7


def test_sparkline_gaps_constant_and_ascii():
    assert sparkline([1.0, math.nan, math.inf, 2.0])[1:3] == "  "
    const = sparkline([5.0, 5.0, 5.0])
    assert len(set(const)) == 1 and const[0] in BLOCKS
    line = sparkline([3, 2, 1], ascii=True)
    assert set(line) <= set(ASCII_BLOCKS) and line.isascii()
    assert sparkline([math.nan, math.nan]) == "  "


# ------------------------------------------------------------------------------------------
# loss sparklines (the end of `nnlearn train`)


def _history(n: int) -> list[dict[str, float]]:
    return [{"epoch": i + 1, "train_loss": 1.0 / (i + 1), "val_loss": 1.5 / (i + 1)}
            for i in range(n)]


def test_loss_sparklines_two_lines_on_one_scale_with_first_and_last_values():
    lines = loss_sparklines(_history(100), width=30)
    assert len(lines) == 2
    assert lines[0].startswith("train_loss ") and lines[1].startswith("val_loss ")
    assert "1 → 0.01" in lines[0] and "1.5 → 0.015" in lines[1]
    assert "100 epochs" in lines[0] and "log scale" in lines[0]
    spark = [line[11:41] for line in lines]
    assert all(len(s) == 30 and set(s) <= set(BLOCKS) for s in spark)
    # shared scale: val (1.5x train everywhere) is never lower than train, and is the top
    assert all(v >= t for v, t in zip(_heights(spark[1]), _heights(spark[0])))
    assert _heights(spark[1])[0] == len(BLOCKS) - 1


def test_loss_sparklines_without_validation_and_in_ascii():
    hist = [{"epoch": i + 1, "train_loss": 2.0 - i * 0.1} for i in range(5)]
    lines = loss_sparklines(hist, ascii=True)
    assert len(lines) == 1 and lines[0].isascii() and "->" in lines[0]
    assert loss_sparklines([]) == []


# ------------------------------------------------------------------------------------------
# line chart


def test_line_chart_shape_axis_labels_and_legend():
    chart = line_chart({"train_loss": [4.0, 3.0, 2.0, 1.0], "val_loss": [4.0, 3.5, 3.0, 2.5]},
                       x=[1, 2, 3, 4], width=20, height=8, title="loss")
    lines = chart.splitlines()
    assert lines[0] == "loss"
    body = lines[1:9]
    assert len(body) == 8 and all("|" in r for r in body)
    plot_cells = [r.split("|", 1)[1] for r in body]
    assert all(len(c) == 4 for c in plot_cells)  # 4 points -> 4 columns
    assert body[0].split("|")[0].strip() == "4"  # top label = max
    assert body[-1].split("|")[0].strip() == "1"  # bottom label = min
    assert plot_cells[-1][3] == "*"  # train's last point is the minimum: bottom right
    assert plot_cells[0][0] == "o"  # both start at the max; the later series is drawn on top
    assert "* train_loss" in lines[-1] and "o val_loss" in lines[-1]
    assert lines[-2].strip().startswith("1") and lines[-2].strip().endswith("4")


def test_line_chart_averages_long_series_to_the_width():
    chart = line_chart({"a": [float(i) for i in range(300)]}, width=50, height=6)
    rows = [r.split("|", 1)[1] for r in chart.splitlines() if "|" in r]
    assert len(rows) == 6 and all(len(r) == 50 for r in rows)
    # a rising line: the marker's row never goes down from left to right
    tops = [next(i for i, r in enumerate(rows) if r[c] == "*") for c in range(50)]
    assert tops == sorted(tops, reverse=True)


def test_line_chart_with_nothing_finite_says_so():
    assert "nothing to draw" in line_chart({"a": [math.nan, math.nan]})
    with pytest.raises(ValueError):
        line_chart({"a": [1.0]}, width=1)


# ------------------------------------------------------------------------------------------
# class map and confusion table


def test_class_map_draws_regions_points_and_legend():
    regions = [[0, 0, 1], [0, 1, 1]]
    text = class_map(regions, [(0, 2, 0), (1, 0, 1)], ["a", "b"])
    lines = text.splitlines()
    assert lines[0] == lines[3] == "+---+"
    assert lines[1] == f"|{REGIONS[0]}{REGIONS[0]}{MARKERS[0]}|"
    assert lines[2] == f"|{MARKERS[1]}{REGIONS[1]}{REGIONS[1]}|"
    assert f"{MARKERS[0]} a" in lines[4] and f"{MARKERS[1]} b" in lines[4]


def test_confusion_table_shows_counts_and_row_shares():
    text = confusion_table([[9, 1], [0, 0]], ["cat", "dog"])
    lines = text.splitlines()
    assert lines[0].split() == ["true", "\\", "pred", "cat", "dog"]
    assert lines[1].split() == ["cat", "9", "(90%)", "1", "(10%)"]
    assert lines[2].split() == ["dog", "0", "0"]  # no samples of the class: no shares
