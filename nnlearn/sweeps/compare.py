"""Compare run folders: which config keys differ, and how their metrics differ.

A run folder's ``config.yaml`` is the resolved config as ``dump_config`` writes it (derived values
written as null), so two runs differ in a key exactly when their settings differ there. It is
flattened to dotted keys (``training.optimizer.momentum``); lists (``model.hidden``) are one
value. Metrics come from ``metrics.json`` with the names a sweep uses (``val_accuracy`` is
``metrics["val"]["accuracy"]``, see :func:`nnlearn.sweeps.sweep.flat_metrics`), plus ``status``,
``epochs``, ``stopped`` and (for a failed run) ``error``. Nothing here imports numpy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnlearn.errors import ConfigError, NnlearnError
from nnlearn.runs import safeio
from nnlearn.runs.config import read_yaml_text, yaml_load
from nnlearn.sweeps.sweep import CONFIG_FILE, METRIC_NAMES, METRICS_FILE, flat_metrics

__all__ = ["Comparison", "RunInfo", "compare_runs", "format_comparison", "read_run"]

_RUN_FIELDS = ("status", "epochs", "stopped", "error")


@dataclass
class RunInfo:
    """One run folder: its flattened config and metrics (``None`` where a metric is missing)."""

    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any]


@dataclass
class Comparison:
    """``labels[i]`` names ``runs[i]``. ``config`` holds only the keys whose values differ;
    ``metrics`` every metric any run has. For two runs, ``change`` is B − A per metric."""

    runs: list[RunInfo]
    labels: list[str]
    config: list[tuple[str, list[Any]]]
    metrics: list[tuple[str, list[Any]]]

    @property
    def change(self) -> dict[str, float | None] | None:
        if len(self.runs) != 2:
            return None
        out: dict[str, float | None] = {}
        for name, (a, b) in self.metrics:
            numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
            out[name] = (b - a) if numeric else None
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "runs": [os.fspath(r.path) for r in self.runs], "labels": self.labels,
            "config": dict(self.config), "metrics": dict(self.metrics),
        }
        if self.change is not None:
            out["change"] = self.change
        return out


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def read_run(path: str | os.PathLike) -> RunInfo:
    """Read a run folder's config.yaml and (if present) metrics.json."""
    path = Path(path)
    if not path.is_dir():
        raise NnlearnError(f"{path}: not a run folder", hint="pass run folders, e.g. runs/iris")
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise NnlearnError(f"{path}: no {CONFIG_FILE}; is it a run folder?")
    raw = yaml_load(read_yaml_text(config_path, "config file"), os.fspath(config_path))
    if not isinstance(raw, Mapping):
        raise ConfigError("expected a mapping of settings", path=os.fspath(config_path))
    metrics: dict[str, Any] = {}
    metrics_path = path / METRICS_FILE
    if metrics_path.exists():
        summary = safeio.read_metrics(metrics_path)
        metrics = {k: summary.get(k) for k in _RUN_FIELDS if k in summary}
        metrics.update(flat_metrics(summary))
    return RunInfo(path, _flatten(raw), metrics)


def _labels(paths: Sequence[Path]) -> list[str]:
    names = [p.name or os.fspath(p) for p in paths]
    if len(set(names)) == len(names):
        return names
    absolute = [os.path.abspath(p) for p in paths]
    try:
        common = os.path.commonpath(absolute)
    except ValueError:
        return [os.fspath(p) for p in paths]
    return [os.path.relpath(p, common) for p in absolute]


def _canonical(value: Any) -> str:
    """A value as comparable text; a mapping whose keys are of mixed types (``{1: a, b: c}``
    in a hand-edited config.yaml) cannot be sorted for JSON and is compared by its repr."""
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def compare_runs(paths: Sequence[str | os.PathLike]) -> Comparison:
    """Side-by-side differences of two or more run folders."""
    runs = [read_run(p) for p in paths]
    keys: list[str] = []
    for r in runs:
        keys.extend(k for k in r.config if k not in keys)
    config = []
    for key in keys:
        values = [r.config.get(key) for r in runs]
        if any(_canonical(v) != _canonical(values[0]) for v in values[1:]):
            config.append((key, values))
    present = {k for r in runs for k in r.metrics}
    order = [k for k in _RUN_FIELDS if k in present] + [m for m in METRIC_NAMES if m in present]
    metrics = [(name, [r.metrics.get(name) for r in runs]) for name in order]
    return Comparison(runs, _labels([r.path for r in runs]), config, metrics)


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def format_comparison(c: Comparison) -> str:
    """Two tables: the config keys that differ, then the metrics (with B − A for two runs)."""
    change = c.change

    def table(title: str, rows: list[tuple[str, list[Any]]], with_change: bool) -> list[str]:
        header = [title, *c.labels] + (["change (B - A)"] if with_change else [])
        cells = []
        for name, values in rows:
            row = [name, *map(_show, values)]
            if with_change:
                d = change.get(name)
                row.append("" if d is None else f"{d:+.6g}")
            cells.append(row)
        widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
        return ["  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip()
                for r in [header, *cells]]

    lines = table("config key", c.config, False) if c.config else [
        "config: identical"]
    lines.append("")
    lines += table("metric", c.metrics, change is not None) if c.metrics else [
        "metrics: none (no metrics.json)"]
    return "\n".join(lines)
