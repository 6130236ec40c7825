"""Sweeps: many runs of one base config, varied by a grid, explicit override sets or a seeded
random search, each repeated over a list of seeds, run in parallel and summarised in one table.

    load_sweep(path)        read and validate a sweep file; resolve every run's config up front
    run_sweep(sweep, out)   run what is not finished yet (any concurrent.futures executor)
    run_one(spec)           one run: a pure function of its resolved config (data + seed inside)
    summarize(records, m)   mean and std of metric ``m`` over the seeds of each variant
    train_command(...)      the equivalent ``nnlearn train --set ... --out ...`` of one run

The sweep folder (``out``) holds ``manifest.json`` (what was planned), ``results.csv`` (one row
per run) and one ordinary run folder per run, named from the variant and the seed
(``lr0.1-h16x16-3fa2c1d0-s0``: readable part, hash of the overrides, seed). Each run folder's
``metrics.json`` is the truth; a failed run's ``metrics.json`` has ``status`` ``diverged``,
``failed`` or ``error`` with the error and the exit code ``nnlearn train`` would have given.
Re-running a sweep reads those files and skips the finished runs. The file format, the results
layout and the exit codes are documented in docs/sweeps.md.

Why a pool of *processes* with one BLAS thread each: the runs are independent and small, so one
core per run beats several cores fighting over one small matrix product; several workers times
several BLAS threads would oversubscribe the cores and run slower than either alone.

This module imports numpy only inside functions, so the sweep's worker processes can limit BLAS
threads before numpy loads.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import numbers
import os
import re
import shutil
import signal
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nnlearn.errors import ConfigError, NnlearnError, TrainingInterrupted, install_hint, shown_path
from nnlearn.runs import atomicio, safeio
from nnlearn.runs.config import (
    MAX_SEED,
    dump_config,
    read_yaml_text,
    resolve,
    set_dotted,
    yaml_load,
)
from nnlearn.runs.plugins import load_plugins, plugin_args

__all__ = [
    "EXIT_RUNS_FAILED",
    "METRIC_NAMES",
    "RunSpec",
    "Sweep",
    "SweepResult",
    "Variant",
    "dask_executor",
    "default_out",
    "default_workers",
    "flat_metrics",
    "format_record",
    "format_summary",
    "load_sweep",
    "local_executor",
    "metric_direction",
    "run_one",
    "run_sweep",
    "summarize",
    "train_command",
]

#: The most runs one sweep file may plan (variants times seeds): each is resolved up front,
#: and a grid's combinations multiply.
MAX_RUNS = 100_000

#: ``nnlearn sweep`` exits with this code when any run of the sweep is not ``ok``.
EXIT_RUNS_FAILED = 5

MANIFEST_FILE = "manifest.json"
RESULTS_FILE = "results.csv"
CONFIG_FILE = "config.yaml"    # the same names nnlearn.runs.run writes (kept here so that
METRICS_FILE = "metrics.json"  # this module does not import numpy)

SWEEP_KEYS = ("base", "set", "grid", "runs", "random", "seeds", "metric")
SPLITS = ("train", "val", "test")
#: Per-split numbers of ``metrics.json`` that become columns ``<split>_<name>``.
SPLIT_METRICS = ("loss", "accuracy", "f1_macro", "mse", "rmse", "mae", "r2")
METRIC_NAMES = tuple(f"{s}_{m}" for s in SPLITS for m in SPLIT_METRICS)
_CLASSIFICATION_ONLY = ("accuracy", "f1_macro")
_REGRESSION_ONLY = ("mse", "rmse", "mae", "r2")
_MAXIMISED = ("accuracy", "f1_macro", "r2")
#: Statuses of a run that ended in failure. "ok" is success; anything else ("interrupted", no
#: metrics.json at all) is a run that never finished, and a re-run starts it again.
FAILED_STATUSES = ("diverged", "failed", "error")
_PATH_KEYS = ("data.train", "data.test")
_FORBIDDEN_KEYS = {
    "seed": "list the seeds under seeds: [...]; every variant runs once per seed",
    "output.dir": "the sweep decides where runs go (--out)",
}
_SHORT = {"learning_rate": "lr", "batch_size": "bs", "hidden": "h", "epochs": "ep",
          "weight_decay": "wd", "momentum": "mom", "dropout": "drop", "activation": "",
          "batching": "", "optimizer": "", "name": ""}


def metric_direction(metric: str) -> str:
    """``"max"`` for accuracy, macro F1 and R² (bigger is better), ``"min"`` for losses/errors."""
    return "max" if metric.split("_", 1)[-1] in _MAXIMISED else "min"


def flat_metrics(summary: Mapping[str, Any]) -> dict[str, float | None]:
    """The per-split numbers of a run's ``metrics.json`` as flat names.

    ``metrics["val"]["accuracy"]`` is ``val_accuracy``, ``metrics["test"]["r2"]`` is ``test_r2``,
    for the splits train/val/test and the names in :data:`SPLIT_METRICS`. A number that was not
    finite is stored as null in metrics.json and comes back as ``None``. Per-class numbers and
    the confusion matrix are left out: they do not fit one column.
    """
    out: dict[str, float | None] = {}
    for split in SPLITS:
        block = summary.get(split)
        if not isinstance(block, Mapping):
            continue
        for name in SPLIT_METRICS:
            if name not in block:
                continue
            value = block[name]
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
            out[f"{split}_{name}"] = float(value) if ok else None
    return out


# ------------------------------------------------------------------------------------------
# the sweep file


@dataclass(frozen=True)
class Variant:
    """One set of overrides. ``id`` is a hash of the overrides as written (so it survives edits
    elsewhere in the sweep file); ``origin`` says where each key came from, for error messages."""

    id: str
    overrides: dict[str, Any]
    origin: dict[str, str]
    label: str


@dataclass
class RunSpec:
    """Everything one run needs, picklable: the fully resolved config (seed included) and where
    its folder goes. ``values`` holds the run's value of every key the sweep varies."""

    name: str
    variant: str
    seed: int
    overrides: dict[str, Any]
    values: dict[str, Any]
    cfg: dict[str, Any]
    run_dir: str = ""
    #: plugin files (absolute paths) the run loads first: a worker is a fresh process
    plugins: tuple[str, ...] = ()


@dataclass
class Sweep:
    path: Path
    base: Path
    metric: str
    seeds: list[int]
    variants: list[Variant]
    varied_keys: list[str]
    common: dict[str, Any] = field(default_factory=dict)
    runs: list[RunSpec] = field(default_factory=list)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37] + "...")
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a value of type {type(value).__name__}"


def _read_yaml(path: Path, what: str) -> Any:
    source = os.fspath(path)
    return yaml_load(read_yaml_text(source, what), source)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def _canonical(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    except TypeError:  # mapping keys of mixed types ({1: 2.0, a: 3.0}) cannot be sorted
        return json.dumps(_text_keys(value), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True)


def _text_keys(value: Any) -> Any:
    """``value`` with every mapping key written as its JSON text (1 -> "1", "a" -> '"a"'), so
    keys of any types sort, and 1 and "1" stay apart."""
    if isinstance(value, Mapping):
        return {json.dumps(k): _text_keys(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_text_keys(v) for v in value]
    return value


def _variant_id(overrides: Mapping[str, Any]) -> str:
    text = _canonical(sorted(overrides.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


class _SweepFile:
    """Validation of the sweep file's own keys; errors name the sweep file and the key."""

    def __init__(self, path: Path, base_raw: Mapping[str, Any]) -> None:
        self.path, self.source, self.base_raw = path, os.fspath(path), base_raw

    def fail(self, key: str | None, message: str, hint: str | None = None) -> None:
        raise ConfigError(message, key=key, path=self.source, hint=hint)

    def key(self, key: Any, where: str) -> str:
        """Check one dotted config key against the schema (through set_dotted)."""
        if not isinstance(key, str) or not key.strip():
            self.fail(where, f"expected a dotted config key such as training.learning_rate, "
                      f"got {_show(key)}")
        key = key.strip()
        if key in _FORBIDDEN_KEYS:
            self.fail(f"{where}.{key}" if where else key, f"{key} cannot be varied here",
                      _FORBIDDEN_KEYS[key])
        if "." not in key:
            self.fail(f"{where}.{key}" if where else key,
                      f"{key!r} is a whole section; vary single keys such as "
                      f"{key}.<name>", "e.g. training.learning_rate: [0.01, 0.1]")
        try:
            set_dotted(dict(self.base_raw), key, None)
        except ConfigError as exc:
            self.fail(f"{where}.{key}" if where else key, exc.problem, exc.hint)
        return key

    def value(self, key: str, value: Any) -> Any:
        return _absolute(self.path, key, value)


def _absolute(sweep_path: Path, key: str, value: Any) -> Any:
    """Paths in the sweep file are relative to the sweep file (made absolute here)."""
    if key in _PATH_KEYS and isinstance(value, str) and value.strip():
        return os.path.abspath(os.path.join(sweep_path.parent, os.path.expanduser(value)))
    return value


def _grid_variants(sf: _SweepFile, grid: Any) -> list[tuple[dict, dict, str]]:
    if grid is None:
        return []
    if not isinstance(grid, Mapping):
        sf.fail("grid", f"expected a mapping {{dotted.key: [values]}}, got {_show(grid)}")
    axes: list[tuple[str, list[Any]]] = []
    for raw_key, values in grid.items():
        key = sf.key(raw_key, "grid")
        if not isinstance(values, list) or not values:
            sf.fail(f"grid.{key}", f"expected a non-empty list of values, got {_show(values)}",
                    f"e.g. {key}: [a, b]; a list-valued key needs a list of lists: "
                    "model.hidden: [[8], [16, 16]]")
        axes.append((key, values))
    if not axes:
        return []
    n_combos = math.prod(len(values) for _, values in axes)
    if n_combos > MAX_RUNS:
        sf.fail("grid", f"the grid has {n_combos:,} combinations, more than the {MAX_RUNS:,} "
                "runs a sweep may plan", "use random: {trials: N, ...} to sample a large space")
    out: list[tuple[dict, dict, str]] = []
    combos: list[list[int]] = [[]]
    for _, values in axes:
        combos = [c + [j] for c in combos for j in range(len(values))]
    for combo in combos:
        overrides = {key: values[j] for (key, values), j in zip(axes, combo)}
        origin = {key: f"grid.{key}[{j}]" for (key, _), j in zip(axes, combo)}
        label = "grid " + ", ".join(f"{k}={_canonical(v)}" for k, v in overrides.items())
        out.append((overrides, origin, label))
    return out


def _explicit_variants(sf: _SweepFile, runs: Any) -> list[tuple[dict, dict, str]]:
    if runs is None:
        return []
    if not isinstance(runs, list):
        sf.fail("runs", f"expected a list of override sets, got {_show(runs)}",
                "e.g. runs: [{training.batch_size: 1}, {training.batch_size: full}]")
    out = []
    for i, item in enumerate(runs):
        where = f"runs[{i}]"
        if item is None:
            item = {}
        if not isinstance(item, Mapping):
            sf.fail(where, f"expected a mapping {{dotted.key: value}}, got {_show(item)}")
        overrides, origin = {}, {}
        for raw_key, value in item.items():
            key = sf.key(raw_key, where)
            overrides[key] = value
            origin[key] = f"{where}.{key}"
        out.append((overrides, origin, where))
    return out


_DISTRIBUTIONS = ("uniform", "loguniform", "choice")


def _random_variants(sf: _SweepFile, spec: Any) -> list[tuple[dict, dict, str]]:
    if spec is None:
        return []
    if not isinstance(spec, Mapping):
        sf.fail("random", f"expected a mapping {{trials, seed, space}} or null, got {_show(spec)}")
    for k in spec:
        if k not in ("trials", "seed", "space"):
            sf.fail(f"random.{k}", f"unknown key {_show(k)}", "valid keys: trials, seed, space")
    trials, seed, space = spec.get("trials"), spec.get("seed", 0), spec.get("space")
    if not _is_int(trials) or trials < 1:
        sf.fail("random.trials", f"expected an integer >= 1, got {_show(trials)}")
    if trials > MAX_RUNS:
        sf.fail("random.trials", f"expected at most {MAX_RUNS:,} trials, got {_show(trials)}")
    if not _is_int(seed) or seed < 0 or seed > MAX_SEED:
        sf.fail("random.seed", f"expected an integer >= 0, got {_show(seed)}",
                "the seed makes the random search repeatable")
    if not isinstance(space, Mapping) or not space:
        sf.fail("random.space", f"expected a non-empty mapping {{dotted.key: distribution}}, "
                f"got {_show(space)}", "e.g. training.learning_rate: {loguniform: [1e-4, 1]}")
    dists: list[tuple[str, str, Any]] = []
    for raw_key, dist in space.items():
        key = sf.key(raw_key, "random.space")
        where = f"random.space.{key}"
        if not isinstance(dist, Mapping) or len(dist) != 1 or next(iter(dist)) not in _DISTRIBUTIONS:
            sf.fail(where, f"expected one of {{uniform: [lo, hi]}}, {{loguniform: [lo, hi]}}, "
                    f"{{choice: [values]}}; got {_show(dist)}")
        kind, args = next(iter(dist.items()))
        if kind == "choice":
            if not isinstance(args, list) or not args:
                sf.fail(f"{where}.choice", f"expected a non-empty list, got {_show(args)}")
        else:
            if not (isinstance(args, list) and len(args) == 2 and all(map(_is_number, args))):
                sf.fail(f"{where}.{kind}", f"expected [low, high], two numbers, got "
                        f"{_show(args)}")
            lo, hi = float(args[0]), float(args[1])
            if not lo < hi:
                sf.fail(f"{where}.{kind}", f"expected low < high, got [{lo:g}, {hi:g}]")
            if kind == "loguniform" and lo <= 0:
                sf.fail(f"{where}.{kind}", f"loguniform needs low > 0, got {lo:g}")
            args = (lo, hi)
        dists.append((key, kind, args))

    import numpy as np  # only here: the parent never computes anything else with numpy

    rng = np.random.default_rng(seed)
    out = []
    for t in range(trials):
        overrides, origin = {}, {}
        for key, kind, args in dists:  # a fixed order of draws: trial t is the same every time
            if kind == "uniform":
                value: Any = float(rng.uniform(args[0], args[1]))
            elif kind == "loguniform":
                value = float(math.exp(rng.uniform(math.log(args[0]), math.log(args[1]))))
            else:
                value = args[int(rng.integers(len(args)))]
            overrides[key] = value
            origin[key] = f"random.space.{key} (trial {t})"
        out.append((overrides, origin, f"random trial {t}"))
    return out


def _common(sf: _SweepFile, common: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """``set:``: overrides every run gets before its variant's own (not part of run names)."""
    if common is None:
        return {}, {}
    if not isinstance(common, Mapping):
        sf.fail("set", f"expected a mapping {{dotted.key: value}}, got {_show(common)}",
                "e.g. set: {training.epochs: 20}")
    overrides, origin = {}, {}
    for raw_key, value in common.items():
        key = sf.key(raw_key, "set")
        overrides[key] = value
        origin[key] = f"set.{key}"
    return overrides, origin


def _seeds(sf: _SweepFile, seeds: Any) -> list[int]:
    if seeds is None:
        base_seed = sf.base_raw.get("seed")
        return [int(base_seed)] if _is_int(base_seed) and base_seed >= 0 else [0]
    if _is_int(seeds):
        seeds = [seeds]
    if not isinstance(seeds, list) or not seeds:
        sf.fail("seeds", f"expected a non-empty list of integers >= 0, got {_show(seeds)}")
    if len(seeds) > MAX_RUNS:
        sf.fail("seeds", f"expected at most {MAX_RUNS:,} seeds, got {len(seeds):,}")
    for i, s in enumerate(seeds):
        if not _is_int(s) or s < 0:
            sf.fail(f"seeds[{i}]", f"expected an integer >= 0, got {_show(s)}")
        if s > MAX_SEED:
            sf.fail(f"seeds[{i}]", f"expected an integer of at most {MAX_SEED:,}, got "
                    f"{_show(s)}")
    if len(set(seeds)) != len(seeds):
        sf.fail("seeds", "a seed is listed twice")
    return [int(s) for s in seeds]


def _metric(sf: _SweepFile, metric: Any, base_raw: Mapping[str, Any]) -> str:
    if metric is None:
        data = base_raw.get("data") if isinstance(base_raw.get("data"), Mapping) else {}
        return "train_loss" if data.get("val_fraction") == 0 else "val_loss"
    if not isinstance(metric, str) or metric not in METRIC_NAMES:
        import difflib

        close = difflib.get_close_matches(str(metric), METRIC_NAMES, n=1) if isinstance(
            metric, str) else []
        sf.fail("metric", f"unknown metric {_show(metric)}"
                + (f"; did you mean {close[0]!r}?" if close else ""),
                f"a metric is <split>_<name>: split train, val or test; name one of "
                f"{', '.join(SPLIT_METRICS)}")
    return metric


def _slug_part(key: str, value: Any) -> str:
    leaf = key.rsplit(".", 1)[-1]
    short = _SHORT.get(leaf, leaf)
    if key in _PATH_KEYS and isinstance(value, str):
        text = Path(value).stem
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = f"{value:.3g}"
    elif isinstance(value, (int, str)):
        text = str(value)
    elif isinstance(value, list) and all(isinstance(v, (int, float, str)) for v in value):
        text = "x".join(str(v) for v in value) or "none"
    elif isinstance(value, Mapping) and isinstance(value.get("name"), str):
        text = value["name"]
    else:
        text = ""
    text = re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_.")
    return f"{short}{text}" if text else short


def run_name(variant: Variant, seed: int) -> str:
    """``<readable part>-<hash of the overrides>-s<seed>``: deterministic, filesystem-safe."""
    parts = [_slug_part(k, v) for k, v in variant.overrides.items()]
    slug = "_".join(p for p in parts if p)[:48].strip("_.-") or "base"
    return f"{slug}-{variant.id}-s{seed}"


def _get_dotted(cfg: Mapping[str, Any], key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _check_metric_fits(sf: _SweepFile, metric: str, cfg: Mapping[str, Any], label: str) -> None:
    split, name = metric.split("_", 1)
    data = cfg["data"]
    if split == "val" and data["val_fraction"] == 0:
        sf.fail("metric", f"metric {metric!r} needs a validation set, but data.val_fraction is "
                f"0 ({label})", "use a train_ or test_ metric, or set data.val_fraction > 0")
    if split == "test" and not data.get("test"):
        sf.fail("metric", f"metric {metric!r} needs data.test, which is not set ({label})")
    task = data["task"]
    if (task == "regression" and name in _CLASSIFICATION_ONLY) or (
            task == "classification" and name in _REGRESSION_ONLY):
        sf.fail("metric", f"metric {metric!r} does not fit data.task {task!r} ({label})")


def load_sweep(path: str | os.PathLike) -> Sweep:
    """Read a sweep file, expand its variants and resolve the config of every run.

    Nothing is written. Every (variant, seed) is validated with nnlearn.runs.config's own rules
    before any run starts, so a typo in the 30th variant fails now, not after 29 runs. Errors
    are ConfigErrors that name the sweep file and where in it the bad value came from
    (``grid.training.learning_rate[2]``, ``runs[1].model.hidden``, ``random.space...``).
    Identical variants (same overrides) are kept once.
    """
    path = Path(os.path.abspath(os.fspath(path)))
    raw = _read_yaml(path, "sweep file")
    source = os.fspath(path)
    if not isinstance(raw, Mapping):
        raise ConfigError("the top level must be a mapping with base, set, grid, runs, "
                          f"random, seeds, metric; got {_show(raw) if raw is not None else 'nothing'}",
                          path=source)
    for k in raw:
        if k not in SWEEP_KEYS:
            import difflib

            close = difflib.get_close_matches(str(k), SWEEP_KEYS, n=1)
            hint = f"valid keys: {', '.join(SWEEP_KEYS)}"
            if isinstance(k, str) and "." in k:
                hint = "config keys go under grid:, runs: or random.space:; " + hint
            raise ConfigError(f"unknown key {_show(k)}"
                              + (f"; did you mean {close[0]!r}?" if close else ""),
                              key=str(k), path=source, hint=hint)
    base_value = raw.get("base")
    if not isinstance(base_value, str) or not base_value.strip():
        raise ConfigError("expected the base config's path (relative to this file)"
                          + ("" if "base" not in raw else f", got {_show(base_value)}"),
                          key="base", path=source, hint="e.g. base: ../iris.yaml")
    base = Path(os.path.abspath(os.path.join(path.parent, os.path.expanduser(base_value))))
    if not base.exists():
        raise ConfigError(f"base config {base_value!r} not found (looked for {base})", key="base",
                          path=source, hint="the base path is relative to the sweep file's folder")
    base_raw = _read_yaml(base, "base config")
    if base_raw is None:
        base_raw = {}
    if not isinstance(base_raw, Mapping):
        raise ConfigError(f"the top level must be a mapping of settings, got {_show(base_raw)}",
                          path=os.fspath(base))
    sf = _SweepFile(path, base_raw)

    found = (_grid_variants(sf, raw.get("grid")) + _explicit_variants(sf, raw.get("runs"))
             + _random_variants(sf, raw.get("random")))
    if not found:
        found = [({}, {}, "base")]
    variants: list[Variant] = []
    seen: set[str] = set()
    for overrides, origin, label in found:
        vid = _variant_id(overrides)
        if vid in seen:
            continue
        seen.add(vid)
        variants.append(Variant(vid, overrides, origin, label))
    varied: list[str] = []
    for v in variants:
        varied.extend(k for k in v.overrides if k not in varied)
    common, common_origin = _common(sf, raw.get("set"))
    seeds = _seeds(sf, raw.get("seeds"))
    metric = _metric(sf, raw.get("metric"), base_raw)

    if len(variants) * len(seeds) > MAX_RUNS:
        raise ConfigError(f"{len(variants):,} variants times {len(seeds):,} seeds is more than "
                          f"the {MAX_RUNS:,} runs a sweep may plan", path=source)
    sweep = Sweep(path, base, metric, seeds, variants, varied, common)
    names: dict[str, Variant] = {}
    for variant in variants:
        for seed in seeds:
            cfg = _resolve_variant(sf, base, base_raw, common, common_origin, variant, seed)
            _check_metric_fits(sf, metric, cfg, variant.label)
            name = run_name(variant, seed)
            if name in names:  # a hash collision of 32 bits: say so rather than mix runs up
                raise NnlearnError(f"{source}: variants {names[name].label!r} and "
                                   f"{variant.label!r} got the same run name {name!r}")
            names[name] = variant
            # a varied key's value as the sweep file wrote it (paths: absolute), else the base's
            values = {k: variant.overrides[k] if k in variant.overrides and k not in _PATH_KEYS
                      else _get_dotted(cfg, k) for k in varied}
            sweep.runs.append(RunSpec(name, variant.id, seed, dict(variant.overrides), values,
                                      cfg))
    return sweep


def _resolve_variant(sf: _SweepFile, base: Path, base_raw: Mapping[str, Any],
                     common: Mapping[str, Any], common_origin: Mapping[str, str],
                     variant: Variant, seed: int) -> dict[str, Any]:
    """base, then ``set:``, then the variant's overrides, then the seed; resolved."""
    raw = dict(base_raw)
    origin = {**common_origin, **variant.origin}
    for key, value in [*common.items(), *variant.overrides.items()]:
        try:
            raw = set_dotted(raw, key, sf.value(key, value))
        except ConfigError as exc:
            sf.fail(origin[key], exc.problem, exc.hint)
    raw = set_dotted(raw, "seed", seed)
    try:
        cfg = resolve(raw, base_dir=base.parent, source=os.fspath(base))
    except ConfigError as exc:
        if exc.key in origin:
            sf.fail(origin[exc.key], exc.problem, exc.hint)
        sf.fail(variant.label, str(exc), exc.hint)
    return json.loads(json.dumps(cfg))  # plain lists and dicts, as a run folder stores it


def _set_text(value: Any) -> str:
    """A value as ``--set`` text that nnlearn's YAML reader turns back into the same value
    (JSON is YAML: ``0.1``, ``[16, 16]``, ``{"name": "adam"}``); a string that reads back as
    itself is written bare (``full``, not ``"full"``)."""
    if isinstance(value, str):
        with contextlib.suppress(ConfigError):
            if yaml_load(value, "value") == value:
                return value
    return json.dumps(value, ensure_ascii=False)


def train_command(sweep: Sweep, spec: RunSpec, out: str | os.PathLike,
                  plugins: Sequence[str] = ()) -> list[str]:
    """The ``nnlearn train`` command line that makes the same run folder as the sweep would.

    For running a sweep elsewhere (a Slurm job array, GNU parallel): each line is independent.
    Run afterwards, ``nnlearn sweep SWEEP.yaml --out OUT`` finds every finished run (same name,
    same config), reuses it, and writes results.csv. ``plugins`` (or the run's own): plugin
    files, passed on as ``--plugin`` options.
    """
    common = sweep.common
    argv = ["nnlearn", "train", os.fspath(sweep.base), *plugin_args(plugins or spec.plugins)]
    items = [*common.items(), *spec.overrides.items(), ("seed", spec.seed)]
    for key, value in items:
        value = _absolute(sweep.path, key, value)
        argv += ["--set", f"{key}={_set_text(value)}"]
    argv += ["--out", os.fspath(Path(os.path.abspath(os.fspath(out))) / spec.name)]
    return argv


def default_out(sweep_path: str | os.PathLike) -> Path:
    """``runs/sweeps/<sweep file name>`` under the current folder."""
    return Path.cwd() / "runs" / "sweeps" / Path(sweep_path).stem


def default_workers() -> int:
    """The cores this process may use (Slurm/taskset limits included), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# ------------------------------------------------------------------------------------------
# one run


_IN_POOL_WORKER = False


def _worker_init(blas_threads: int | None) -> None:
    """Initializer of the local worker processes: BLAS threads first (numpy is not loaded yet
    in a fresh spawned process), and Ctrl-C ignored while idle (see run_one)."""
    global _IN_POOL_WORKER
    from nnlearn.runs.threads import set_blas_threads

    set_blas_threads(blas_threads)
    _IN_POOL_WORKER = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _failure(exc: BaseException) -> dict[str, Any]:
    """How a run failed, as metrics.json records it (see docs/sweeps.md for the statuses)."""
    from nnlearn.errors import DivergedError

    if isinstance(exc, (TrainingInterrupted, KeyboardInterrupt)):
        status, code = "interrupted", 130
    elif isinstance(exc, DivergedError):
        status, code = "diverged", exc.exit_code
    elif isinstance(exc, NnlearnError):
        status, code = "failed", exc.exit_code
    else:
        status, code = "error", 1
    message = str(exc) if isinstance(exc, NnlearnError) else f"{type(exc).__name__}: {exc}"
    info = {"status": status, "error": message, "reason": type(exc).__name__, "exit_code": code}
    if isinstance(exc, NnlearnError) and exc.hint:
        info["hint"] = exc.hint
    return info


def _write_failure(spec: RunSpec, exc: BaseException) -> None:
    """Record a failed run in its own folder: config.yaml (if training never wrote one) and a
    metrics.json whose status says how it failed; a diverged run's partial metrics are kept."""
    run_dir = Path(spec.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / CONFIG_FILE).is_file():
        atomicio.write_text(run_dir / CONFIG_FILE, dump_config(spec.cfg))
    summary = _read_summary(run_dir) or {}
    summary.update(_failure(exc))
    summary.setdefault("seed", spec.seed)
    atomicio.write_text(run_dir / METRICS_FILE, json.dumps(summary, indent=2) + "\n")


def _record(spec: RunSpec, summary: Mapping[str, Any], *, reused: bool,
            seconds: float | None) -> dict[str, Any]:
    status = summary.get("status") if isinstance(summary.get("status"), str) else "error"
    failed = status != "ok"
    return {
        "name": spec.name, "variant": spec.variant, "seed": spec.seed,
        "overrides": spec.overrides, "values": spec.values, "status": status,
        "epochs": summary.get("epochs"), "stopped": summary.get("stopped"),
        "metrics": flat_metrics(summary),
        "exit_code": summary.get("exit_code", 3 if status == "diverged" else 1) if failed else 0,
        "reason": summary.get("reason", "DivergedError" if status == "diverged" else None)
        if failed else None,
        "error": summary.get("error") if failed else None,
        "run_dir": spec.run_dir, "reused": reused, "seconds": seconds,
    }


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Train one run into ``spec.run_dir`` and return its record (what results.csv shows).

    A pure function of ``spec.cfg`` (config, data files, seed): the same spec gives the same
    folder on any machine. Never raises for a bad run: nnlearn errors (divergence, bad data, ...)
    and even bugs are caught and written into the run's metrics.json, so one run cannot stop the
    sweep. Runs in worker processes, Dask workers or threads alike.
    """
    from nnlearn.runs import run as runs

    started = time.perf_counter()
    handle_sigint = _IN_POOL_WORKER and threading.current_thread() is threading.main_thread()
    if handle_sigint:  # Ctrl-C interrupts a run (it saves a checkpoint), not an idle worker
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        load_plugins(spec.plugins)  # the sweep's --plugin files: a worker is a fresh process
        runs.train(spec.cfg, out=spec.run_dir)
    except Exception as exc:  # noqa: BLE001 - isolating every failure is this function's job
        _write_failure(spec, exc)
    except KeyboardInterrupt as exc:
        _write_failure(spec, exc)
    finally:
        if handle_sigint:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    summary = _read_summary(Path(spec.run_dir)) or {}
    return _record(spec, summary, reused=False, seconds=time.perf_counter() - started)


# ------------------------------------------------------------------------------------------
# executors


@contextlib.contextmanager
def _blas_env(threads: int | None) -> Iterator[None]:
    """Set the BLAS thread variables while worker processes start (they inherit them); put the
    parent's environment back afterwards."""
    if threads is None:
        yield
        return
    from nnlearn.runs.threads import ENV_VARS

    saved = {var: os.environ.get(var) for var in ENV_VARS}
    os.environ.update({var: str(threads) for var in ENV_VARS})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


@contextlib.contextmanager
def local_executor(workers: int, blas_threads: int | None = 1) -> Iterator[Executor]:
    """A pool of ``workers`` fresh (spawned) processes, each with ``blas_threads`` BLAS threads.

    Spawned, not forked: a fresh interpreter has not loaded numpy, so the thread limit set by
    the initializer (and by the environment the processes inherit) takes effect.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with _blas_env(blas_threads):
        pool = ProcessPoolExecutor(max_workers=workers,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_worker_init, initargs=(blas_threads,))
        try:
            yield pool
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        else:
            pool.shutdown(wait=True)


@contextlib.contextmanager
def dask_executor(address: str, *, timeout: float = 5.0) -> Iterator[Executor]:
    """A concurrent.futures executor that sends runs to the Dask scheduler at ``address``.

    Needs the optional extra ``nnlearn[dask]`` (imported only here). The workers must be able
    to import nnlearn and to read the data files, and should write to a folder the machine
    running the sweep can read: the sweep folder must be on a shared filesystem.

    Connecting takes at most about ``timeout`` seconds whatever answers at the address (Dask's
    own timeout does not cover a peer that accepts and never speaks), and any failure to reach
    a scheduler there is an NnlearnError naming the address.
    """
    if not isinstance(address, str) or not address.strip():
        raise NnlearnError("no Dask scheduler address given", hint="e.g. tcp://HOST:8786")
    try:
        from distributed import Client
    except ImportError:
        raise NnlearnError("--scheduler needs Dask's distributed package, which is not "
                           "installed", hint=install_hint("dask")) from None
    client = _connect(Client, address.strip(), timeout)
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()


def _connect(client_class: Any, address: str, timeout: float) -> Any:
    """``client_class(address)`` within ``timeout`` (+1 s) seconds, in a daemon thread that is
    abandoned when it does not finish: the process can still exit. A client that the abandoned
    thread still makes is closed at once, so that no connection outlives the error."""
    box: dict[str, Any] = {}
    lock = threading.Lock()  # decides once whether a client is handed over or abandoned

    def connect() -> None:
        try:
            client = client_class(address, timeout=timeout)
        except BaseException as exc:  # noqa: BLE001 - reported in the calling thread
            box["error"] = exc
            return
        with lock:
            late = box.setdefault("client", client) is not client
        if late:
            client.close()

    thread = threading.Thread(target=connect, name="nnlearn-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    hint = "is a Dask scheduler running there? (dask scheduler; dask worker tcp://HOST:PORT)"
    with lock:
        answered = "client" in box or "error" in box
        if not answered:
            box["client"] = None  # taken: a client the thread makes later is closed
    if not answered:
        raise NnlearnError(f"cannot connect to the Dask scheduler at {address}: no answer "
                           f"within {timeout:g} s", hint=hint)
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, KeyboardInterrupt):
            raise exc
        text = f"{type(exc).__name__}: {exc}"[:200]
        raise NnlearnError(f"cannot connect to the Dask scheduler at {address} ({text})",
                           hint=hint)
    return box["client"]


# ------------------------------------------------------------------------------------------
# running a sweep


@dataclass
class SweepResult:
    sweep: Sweep
    out: Path
    records: list[dict[str, Any]]
    ran: int
    reused: int
    summary: list[dict[str, Any]]

    @property
    def failed(self) -> int:
        return sum(r["status"] != "ok" for r in self.records)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sweep": os.fspath(self.sweep.path), "base": os.fspath(self.sweep.base),
            "out": os.fspath(self.out), "results": os.fspath(self.out / RESULTS_FILE),
            "metric": self.sweep.metric, "direction": metric_direction(self.sweep.metric),
            "varied": self.sweep.varied_keys, "seeds": self.sweep.seeds,
            "runs": len(self.records), "ran": self.ran, "reused": self.reused,
            "failed": self.failed, "summary": self.summary, "records": self.records,
        }


def _read_summary(run_dir: Path) -> dict[str, Any] | None:
    """A run's metrics.json, or None when it is missing or damaged (the run is then treated as
    never finished, and runs again)."""
    try:
        return safeio.read_metrics(run_dir / METRICS_FILE)
    except NnlearnError:
        return None


def _stored_config_matches(run_dir: Path, cfg: Mapping[str, Any]) -> bool:
    path = run_dir / CONFIG_FILE
    try:
        stored = resolve(_read_yaml(path, "config file") or {},
                         base_dir=run_dir, source=os.fspath(path))
    except (OSError, NnlearnError):
        return False
    return json.loads(json.dumps(stored)) == json.loads(json.dumps(cfg))


def _state(spec: RunSpec) -> tuple[str, dict[str, Any] | None]:
    """``new``, ``incomplete`` (started, never finished: rerun), ``done``, ``failed`` or
    ``stale`` (failed with a config the sweep no longer asks for: rerun)."""
    run_dir = Path(spec.run_dir)
    if not run_dir.exists():
        return "new", None
    summary = _read_summary(run_dir)
    status = summary.get("status") if summary else None
    if status == "ok":
        if not _stored_config_matches(run_dir, spec.cfg):
            raise ConfigError(
                f"{shown_path(run_dir)}: this run finished earlier with a different config (the "
                "base config or the sweep file changed)",
                hint="use another --out, or delete that run folder to run it again")
        return "done", summary
    if status in FAILED_STATUSES:
        if not _stored_config_matches(run_dir, spec.cfg):
            return "stale", None
        return "failed", summary
    return "incomplete", None


def _write_manifest(sweep: Sweep, out: Path) -> None:
    manifest = {
        "sweep": os.fspath(sweep.path), "base": os.fspath(sweep.base), "metric": sweep.metric,
        "seeds": sweep.seeds, "varied": sweep.varied_keys,
        "runs": [{"name": s.name, "variant": s.variant, "seed": s.seed,
                  "overrides": s.overrides} for s in sweep.runs],
    }
    atomicio.write_text(out / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value)


def results_columns(sweep: Sweep, records: Sequence[Mapping[str, Any]]) -> list[str]:
    present = {k for r in records for k in r["metrics"]}
    metrics = [m for m in METRIC_NAMES if m in present]
    return (["name", "variant", "seed", *sweep.varied_keys, "status", "epochs", "stopped",
             *metrics, "exit_code", "reason", "error"])


def write_results(path: Path, sweep: Sweep, records: Sequence[Mapping[str, Any]]) -> None:
    """results.csv: one row per run in plan order. Metrics are written with ``repr`` so that
    reading them back gives exactly the floats in each run's metrics.json; empty = missing."""
    columns = results_columns(sweep, records)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in records:
        row = []
        for c in columns:
            if c in sweep.varied_keys:
                row.append(_cell(r["values"].get(c)))
            elif c in r["metrics"]:
                row.append(_cell(r["metrics"][c]))
            else:
                row.append(_cell(r.get(c)))
        writer.writerow(row)
    atomicio.write_text(path, buf.getvalue())


def run_sweep(sweep: Sweep, out: str | os.PathLike, *, executor: Executor | None = None,
              workers: int | None = None, blas_threads: int | None = 1,
              retry_failed: bool = False,
              on_record: Callable[[dict[str, Any], int, int], None] | None = None,
              plugins: Sequence[str] = ()) -> SweepResult:
    """Run every run of ``sweep`` that is not finished in ``out`` and write results.csv.

    ``executor``: any concurrent.futures Executor (a Dask client's ``get_executor()``, a thread
    pool, ...); by default a pool of ``workers`` spawned processes (default: the number of
    cores, at most the number of runs) with ``blas_threads`` BLAS threads each.
    Resuming: a run whose folder says ``ok`` is reused; a failed one is reused unless
    ``retry_failed`` (or its config changed); a folder left half-written is started again.
    ``on_record(record, done, total)`` is called as each run finishes. ``plugins``: plugin
    files every run loads first (each worker process loads them itself). Failed runs do not
    raise; count them with ``result.failed``. results.csv is rewritten after every run, so an
    interrupted sweep leaves a consistent (partial) table.
    """
    out = Path(os.path.abspath(os.fspath(out)))
    _check_same_sweep(sweep, out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        # Held for the whole sweep: a second sweep on the same folder would otherwise mark
        # this one's runs failed and rewrite its results.csv.
        with safeio.claim_folder(out, "sweep folder"):
            return _run_sweep(sweep, out, executor=executor, workers=workers,
                              blas_threads=blas_threads, retry_failed=retry_failed,
                              on_record=on_record, plugins=plugins)
    except BaseException:
        if created:  # leave nothing behind when nothing was written
            with contextlib.suppress(OSError):
                out.rmdir()
        raise


def _check_same_sweep(sweep: Sweep, out: Path) -> None:
    """An existing sweep folder continues only the sweep that made it (the same sweep file);
    another sweep file would replace its results.csv and mix two sweeps' runs."""
    manifest = out / MANIFEST_FILE
    if not manifest.exists():
        if (out / CONFIG_FILE).exists() or (out / METRICS_FILE).exists():
            raise NnlearnError(f"{out}: this folder is a run folder (it has a {CONFIG_FILE} or "
                               f"a {METRICS_FILE}), not a sweep folder",
                               hint="give the sweep its own --out")
        return
    data = safeio.read_json(manifest, what="sweep manifest")
    previous = data.get("sweep") if isinstance(data, dict) else None
    if not isinstance(previous, str):
        raise NnlearnError(f"{manifest}: not a manifest nnlearn wrote (no 'sweep' file name)",
                           hint="use another --out")
    if os.path.realpath(previous) != os.path.realpath(sweep.path):
        raise NnlearnError(f"{out}: this folder holds the results of another sweep "
                           f"({previous}), not of {sweep.path}",
                           hint="use another --out, or that sweep file to continue it")


def _run_sweep(sweep: Sweep, out: Path, *, executor: Executor | None, workers: int | None,
               blas_threads: int | None, retry_failed: bool,
               on_record: Callable[[dict[str, Any], int, int], None] | None,
               plugins: Sequence[str]) -> SweepResult:
    plugins = tuple(os.path.abspath(os.fspath(p)) for p in plugins)
    specs = [replace(s, run_dir=os.fspath(out / s.name), plugins=plugins) for s in sweep.runs]
    records: dict[str, dict[str, Any]] = {}
    todo: list[RunSpec] = []
    for spec in specs:  # decide everything (and refuse conflicts) before running anything
        state, summary = _state(spec)
        if state == "done" or (state == "failed" and not retry_failed):
            records[spec.name] = _record(spec, summary, reused=True, seconds=None)
        else:
            todo.append(spec)
    _write_manifest(sweep, out)
    stale = [Path(spec.run_dir) for spec in todo if Path(spec.run_dir).is_dir()]
    with contextlib.ExitStack() as claims:
        # an unfinished run folder may be one an `nnlearn train` (from --print-commands) is
        # still writing: refuse before deleting any of them
        for run_dir in stale:
            claims.enter_context(safeio.claim_folder(run_dir))
        for run_dir in stale:
            shutil.rmtree(run_dir)

    def ordered() -> list[dict[str, Any]]:
        return [records[s.name] for s in specs if s.name in records]

    write_results(out / RESULTS_FILE, sweep, ordered())
    if todo:
        n_workers = min(workers or default_workers(), len(todo))
        context = (contextlib.nullcontext(executor) if executor is not None
                   else local_executor(n_workers, blas_threads))
        # Our own pool gets one run per worker at a time, so that on Ctrl-C no run is left
        # queued inside the pool (those could not be cancelled); other executors (a Dask
        # cluster) get everything at once and schedule it themselves.
        limit = n_workers if executor is None else len(todo)
        waiting = iter(todo)
        in_flight: dict[Future, RunSpec] = {}
        done = 0
        try:
            with context as pool:
                def submit_next() -> None:
                    spec = next(waiting, None)
                    if spec is not None:
                        in_flight[pool.submit(run_one, spec)] = spec

                for _ in range(limit):
                    submit_next()
                while in_flight:
                    finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in finished:
                        spec = in_flight.pop(future)
                        try:
                            record = future.result()
                        except Exception as exc:  # noqa: BLE001 - the worker itself died
                            _write_failure(spec, exc)
                            record = _record(spec, _read_summary(Path(spec.run_dir)) or {},
                                             reused=False, seconds=None)
                        records[spec.name] = record
                        done += 1
                        write_results(out / RESULTS_FILE, sweep, ordered())
                        if on_record is not None:
                            on_record(record, done, len(todo))
                        submit_next()
        except KeyboardInterrupt:
            for future in in_flight:
                future.cancel()
            write_results(out / RESULTS_FILE, sweep, ordered())
            finished_ok = sum(r["status"] == "ok" for r in records.values())
            raise TrainingInterrupted(
                f"sweep interrupted; {finished_ok} of {len(specs)} runs are finished in {out}",
                checkpoint=os.fspath(out),
                hint="run the same command again to continue: finished runs are skipped"
            ) from None
    result = ordered()
    summary = summarize(result, sweep.metric, sweep.variants)
    return SweepResult(sweep, out, result, ran=len(todo), reused=len(specs) - len(todo),
                       summary=summary)


# ------------------------------------------------------------------------------------------
# the summary table


def summarize(records: Sequence[Mapping[str, Any]], metric: str,
              variants: Sequence[Variant]) -> list[dict[str, Any]]:
    """One row per variant, best first: mean and sample standard deviation (n - 1) of
    ``metric`` over the variant's successful seeds (std is None with one seed). Variants with
    no successful run (or no value of the metric) come last, in sweep order."""
    by_variant: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        by_variant.setdefault(r["variant"], []).append(r)
    rows = []
    for order, v in enumerate(variants):
        runs = by_variant.get(v.id, [])
        if not runs:
            continue
        ok = [r for r in runs if r["status"] == "ok"]
        values = [r["metrics"].get(metric) for r in ok]
        values = [x for x in values if x is not None]
        rows.append({
            "variant": v.id, "label": v.label, "overrides": v.overrides,
            "values": dict(runs[0]["values"]), "runs": len(runs), "ok": len(ok),
            "failed": {s: sum(r["status"] == s for r in runs)
                       for s in dict.fromkeys(r["status"] for r in runs) if s != "ok"},
            "metric": metric, "n": len(values),
            "mean": statistics.fmean(values) if values else None,
            "std": statistics.stdev(values) if len(values) > 1 else None,
            "order": order,
        })
    sign = -1.0 if metric_direction(metric) == "max" else 1.0
    rows.sort(key=lambda r: (r["mean"] is None, sign * (r["mean"] or 0.0), r["order"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
        del row["order"]
    return rows


def _num(x: float) -> str:
    return f"{x:.4f}" if x == 0 or 1e-3 <= abs(x) < 1e4 else f"{x:.4g}"


def _short(key: str, value: Any, width: int = 30) -> str:
    text = _cell(value) if value is not None else "null"
    if key in _PATH_KEYS and isinstance(value, str):
        with contextlib.suppress(ValueError):
            relative = os.path.relpath(value)
            text = relative if not relative.startswith("..") else text
        # the file name is the interesting end of a path
        return text if len(text) <= width else "..." + text[3 - width:]
    return text if len(text) <= width else text[: width - 3] + "..."


def format_record(record: Mapping[str, Any], done: int, total: int, metric: str) -> str:
    """One progress line for a finished run."""
    head = f"[{done}/{total}] {record['name']}: {record['status']}"
    if record["status"] == "ok":
        value = record["metrics"].get(metric)
        return head + (f" {metric}={_num(value)}" if value is not None else "")
    return head + f" ({record['reason']}: {record['error']})"


def format_summary(result: SweepResult) -> str:
    """The table ``nnlearn sweep`` prints: variants sorted by the metric, mean ± std over seeds,
    then the failed runs with their errors."""
    sweep, metric = result.sweep, result.sweep.metric
    better = "higher" if metric_direction(metric) == "max" else "lower"
    header = ["#", *sweep.varied_keys, f"{metric} (mean ± std)", "runs ok"]
    rows = []
    for s in result.summary:
        if s["mean"] is None:
            shown = "-"
        elif s["std"] is None:
            shown = _num(s["mean"])
        else:
            shown = f"{_num(s['mean'])} ± {_num(s['std'])}"
        status = f"{s['ok']}/{s['runs']}"
        if s["failed"]:
            status += " (" + ", ".join(f"{n} {k}" for k, n in s["failed"].items()) + ")"
        rows.append([str(s["rank"]), *[_short(k, s["values"].get(k)) for k in sweep.varied_keys],
                     shown, status])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        (f"sweep {sweep.path.name}: {len(result.records)} runs ({result.ran} ran, "
         f"{result.reused} reused from an earlier sweep), {result.failed} failed"),
        f"sorted by {metric} ({better} is better); mean ± std over seeds {sweep.seeds}",
        "",
    ]
    for r in [header, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    failed = [r for r in result.records if r["status"] != "ok"]
    if failed:
        lines += ["", "failed runs:"]
        lines += [f"  {r['name']}: {r['status']} ({r['reason']}): {r['error']}" for r in failed]
    lines += ["", f"results: {shown_path(result.out / RESULTS_FILE)}"]
    return "\n".join(lines)
