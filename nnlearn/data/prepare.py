"""nnlearn's data layer: CSV file -> arrays, and what is done with the arrays before training.

Rows are samples. ``read_csv`` returns a :class:`Table` holding ``X`` (n, d) float64, the raw
target cells ``y`` (n,) as strings, the physical line of every row and optional sample weights.
Everything after reading works on arrays: :func:`infer_task`, :class:`LabelEncoder`,
:func:`regression_targets`, :class:`Standardizer`, :func:`split_indices`, :func:`minibatches`,
:func:`class_weights_balanced`.

Reading lives in :mod:`nnlearn.data.reader` (``read_csv`` and ``Table``, re-exported here so
that callers import everything from ``nnlearn.data``). Target cells are judged by the same
number grammar, and rounded the same way, as feature cells (the grammar is stated there).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from nnlearn.data.reader import _NUMBER_RE, _cell_number, _shown, parse_numbers
from nnlearn.errors import ConfigError, DataError

# The package's public names are listed once, in nnlearn/data/__init__.py.

#: ``infer_task`` calls an integer-valued numeric target a classification target when it has at
#: most this many distinct values.
MAX_CLASSES_FOR_INTEGER_TARGET = 20


# --------------------------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------------------------


def _cells_of(y_raw: np.ndarray) -> list[str]:
    arr = np.asarray(y_raw)
    if arr.dtype.kind == "U":
        return arr.tolist()
    return [str(c) for c in arr.tolist()]


def _as_numbers(y_raw: np.ndarray) -> np.ndarray | None:
    """(n,) float64 if every cell is a finite number (same grammar as feature cells), else None."""
    arr = np.asarray(y_raw)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.dtype.kind in "biuf":
        values = arr.astype(np.float64)
        return values if np.isfinite(values).all() else None
    return parse_numbers(_cells_of(arr))


def infer_task(y_raw: np.ndarray) -> str:
    """Guess "classification" or "regression" from the raw target cells (n,).

    The rule, in order: a target with any non-numeric cell is a classification target (class
    names); a numeric target whose values are all integers and has at most
    ``MAX_CLASSES_FOR_INTEGER_TARGET`` (20) distinct values is classification (class ids like
    0/1/2); any other numeric target is regression. Say the task explicitly when the guess is
    wrong, e.g. a regression target that only takes a few integer values.
    """
    values = _as_numbers(y_raw)
    if values is None:
        return "classification"
    integer = values.size > 0 and bool(np.all(values == np.round(values)))
    if integer and np.unique(values).size <= MAX_CLASSES_FOR_INTEGER_TARGET:
        return "classification"
    return "regression"


def regression_targets(
    y_raw: np.ndarray,
    lines: np.ndarray | None = None,
    path: str | None = None,
    *,
    column: str | None = None,
) -> np.ndarray:
    """Raw target cells (n,) -> float64 targets (n, 1), the shape the MSE loss expects.

    Raises DataError at the first cell that is not a finite number, with its line when
    ``lines`` (n,) is given.
    """
    values = _as_numbers(y_raw)
    if values is None:
        for i, cell in enumerate(_cells_of(np.asarray(y_raw).reshape(-1))):
            line = int(lines[i]) if lines is not None else None
            _cell_number(cell, path, line, column)  # raises at the first bad cell
        raise AssertionError("a cell failed in bulk but passed exactly")  # pragma: no cover
    return values.reshape(-1, 1)


class LabelEncoder:
    """Class names <-> integer ids 0..K-1, fitted on the training target.

    Class order (and so the id of each class): if every label is an integer-valued number, the
    classes are those integers sorted numerically and named ``str(int(v))`` (so "2" < "10" and
    "1.0" is class "1"); if every label is a number but some are not integers, they are sorted
    numerically and keep their spelling from the file; otherwise labels are strings sorted by
    code point. Attributes: ``classes_`` (list of str), ``kind_`` ("integer" | "numeric" |
    "string").
    """

    def __init__(self) -> None:
        self.classes_: list[str] = []
        self.kind_: str | None = None
        self._values: np.ndarray | None = None  # class values for numeric kinds, sorted

    @property
    def n_classes(self) -> int:
        return len(self.classes_)

    def fit(
        self,
        y_raw: np.ndarray,
        lines: np.ndarray | None = None,
        path: str | None = None,
        *,
        column: str | None = None,
    ) -> LabelEncoder:
        """Learn the classes of ``y_raw`` (n,). A label that Python reads as a non-finite
        number (``nan``, ``inf``, ``1e999``) is refused -- it is a missing or overflowing value,
        not a class -- with its line when ``lines`` (n,) is given."""
        arr = np.asarray(y_raw).reshape(-1)
        if arr.size == 0:
            raise DataError("cannot fit a label encoder on an empty target")
        values = _as_numbers(arr)
        if values is not None and np.all(values == np.round(values)):
            uniq = np.unique(values)
            self.kind_ = "integer"
            self.classes_ = [str(int(v)) for v in uniq]
            self._values = uniq
        elif values is not None:
            uniq, first = np.unique(values, return_index=True)
            cells = _cells_of(arr)
            self.kind_ = "numeric"
            self.classes_ = [cells[i].strip() for i in first]
            self._values = uniq
        else:
            stripped = np.char.strip(np.asarray(_cells_of(arr), dtype=str))
            self.kind_ = "string"
            self.classes_ = np.unique(stripped).tolist()
            self._values = None
            for label in self.classes_:  # few distinct labels: cheap
                if _is_non_finite_number(label):
                    i = int(np.flatnonzero(stripped == label)[0])
                    raise DataError(
                        f"non-finite value {_shown(label)} in the target column, expected a "
                        "class name or a finite number",
                        path=path,
                        line=int(lines[i]) if lines is not None else None,
                        column=column,
                        hint="Missing values must be removed or filled in before training.",
                    )
        return self

    def transform(
        self,
        y_raw: np.ndarray,
        lines: np.ndarray | None = None,
        path: str | None = None,
        *,
        column: str | None = None,
    ) -> np.ndarray:
        """Labels (n,) -> int64 class ids (n,). An unseen label raises DataError naming it, its
        line (when ``lines`` is given) and the known classes."""
        if self.kind_ is None:
            raise RuntimeError("LabelEncoder.transform called before fit")
        arr = np.asarray(y_raw).reshape(-1)
        if arr.size == 0:
            return np.empty(0, dtype=np.int64)
        if self._values is not None:
            values = _as_numbers(arr)
            if values is None:  # some cell is not a number: look at each one
                values = np.array([_loose_float(c) for c in _cells_of(arr)])
            table = self._values
        else:
            values = np.char.strip(np.asarray(_cells_of(arr), dtype=str))
            table = np.asarray(self.classes_, dtype=str)
        idx = np.searchsorted(table, values)
        found = idx < table.size
        found[found] = table[idx[found]] == values[found]
        if not found.all():
            i = int(np.flatnonzero(~found)[0])
            label = _cells_of(arr[i : i + 1])[0].strip()
            line = int(lines[i]) if lines is not None else None
            shown = self.classes_[:20] + (["..."] if len(self.classes_) > 20 else [])
            raise DataError(
                f"label {_shown(label)} was not seen in training; known classes: {shown}",
                path=path,
                line=line,
                column=column,
                hint="A model can only predict the classes it was trained on.",
            )
        return idx.astype(np.int64)

    def inverse_transform(self, idx: np.ndarray) -> np.ndarray:
        """Class ids (n,) -> class names (n,) as a str array."""
        return np.asarray(self.classes_, dtype=str)[np.asarray(idx, dtype=np.int64)]

    def to_dict(self) -> dict:
        return {"kind": self.kind_, "classes": list(self.classes_)}

    @classmethod
    def from_dict(cls, d: dict) -> LabelEncoder:
        kind, classes = d.get("kind"), d.get("classes")
        if kind not in ("integer", "numeric", "string") or not isinstance(classes, list):
            raise DataError(f"invalid label encoder description: {d!r}")
        enc = cls()
        enc.kind_ = kind
        enc.classes_ = [str(c) for c in classes]
        enc._values = None if kind == "string" else np.array([float(c) for c in enc.classes_])
        # transform() looks labels up by binary search: the classes must be unique and sorted
        if kind == "string":
            ordered = enc.classes_ == sorted(set(enc.classes_))
        else:
            ordered = bool(np.isfinite(enc._values).all() and (np.diff(enc._values) > 0).all())
        if not ordered:
            raise DataError(f"invalid label encoder description: classes {classes!r} are not "
                            "unique and sorted")
        return enc


def _is_non_finite_number(text: str) -> bool:
    """True for what ``float()`` reads as nan or +-inf: ``nan``, ``-Infinity``, ``1e999``."""
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return False


def _loose_float(cell: str) -> float:
    text = cell.strip()
    if _NUMBER_RE.fullmatch(text):
        return float(text)
    return math.nan  # never equal to a class value, so it is reported as unseen


def class_weights_balanced(y_idx: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class weights n_samples / (n_classes * count_c), as scikit-learn's "balanced".

    (n_classes,) float64. A class absent from ``y_idx`` gets 1.0: no sample uses it, and a
    finite value keeps the weights JSON-serialisable.
    """
    y_idx = np.asarray(y_idx, dtype=np.int64)
    counts = np.bincount(y_idx, minlength=n_classes)[:n_classes].astype(np.float64)
    weights = np.ones(n_classes, dtype=np.float64)
    present = counts > 0
    weights[present] = y_idx.size / (n_classes * counts[present])
    return weights


# --------------------------------------------------------------------------------------------
# scaling
# --------------------------------------------------------------------------------------------


class Standardizer:
    """Per-feature standardisation z = (x - mean_) / scale_, fitted on training rows only.

    ``scale_`` is the population standard deviation, except 1.0 for a constant column (all
    values equal), which would otherwise divide by zero -- or, after rounding, by 1e-17 and
    blow noise up to order one. A spread so small that it is not a normal float32 (values like
    1e-320 and 0, whose squared deviations underflow to a standard deviation of 0) counts as
    constant too, for the same reason and so that a float32 network never divides by zero.
    Attributes: ``mean_``, ``scale_`` (d,) float64, ``feature_names`` (d).
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.feature_names: list[str] = []

    def fit(
        self, X: np.ndarray, feature_names: list[str] | None = None, *, path: str | None = None
    ) -> Standardizer:
        """Fit on X (n, d). A column whose mean or spread overflows float64 is refused by name
        (``path`` names the file in that error)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] == 0:
            raise DataError(f"cannot fit a standardizer on an array of shape {X.shape}")
        d = X.shape[1]
        names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(d)]
        if len(names) != d:
            raise DataError(f"{len(names)} feature names for {d} columns")
        with np.errstate(over="ignore", invalid="ignore"):
            mean = X.mean(axis=0, dtype=np.float64)
            std = X.std(axis=0, dtype=np.float64)
            constant = np.ptp(X, axis=0) == 0  # the range itself may overflow: inf != 0
        bad = ~(np.isfinite(mean) & (np.isfinite(std) | constant))
        if bad.any():
            col = names[int(np.flatnonzero(bad)[0])]
            raise DataError(
                "the mean or standard deviation of this column is not finite (values too large)",
                path=path,
                column=col,
                hint="Rescale the column (e.g. to other units) before training.",
            )
        self.mean_ = mean
        self.scale_ = np.where(constant | (std < np.finfo(np.float32).tiny), 1.0, std)
        self.feature_names = names
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(n, d) -> new standardised (n, d) array; the input is never modified. Float dtypes
        are preserved, anything else becomes float64."""
        if self.mean_ is None or self.scale_ is None:
            raise RuntimeError("Standardizer.transform called before fit")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.mean_.size:
            raise DataError(f"expected an (n, {self.mean_.size}) array, got shape {X.shape}")
        dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)
        return ((X - self.mean_.astype(dtype)) / self.scale_.astype(dtype)).astype(
            dtype, copy=False
        )

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Undo ``transform``: (n, d) standardised -> original units, as float64."""
        if self.mean_ is None or self.scale_ is None:
            raise RuntimeError("Standardizer.inverse_transform called before fit")
        return np.asarray(Z, dtype=np.float64) * self.scale_ + self.mean_

    def to_dict(self) -> dict:
        if self.mean_ is None or self.scale_ is None:
            raise RuntimeError("Standardizer.to_dict called before fit")
        return {
            "feature_names": list(self.feature_names),
            "mean": [float(v) for v in self.mean_],
            "scale": [float(v) for v in self.scale_],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Standardizer:
        try:
            mean = np.asarray(d["mean"], dtype=np.float64)
            scale = np.asarray(d["scale"], dtype=np.float64)
            names = [str(n) for n in d["feature_names"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"invalid standardizer description ({exc})") from None
        if mean.ndim != 1 or mean.shape != scale.shape or len(names) != mean.size:
            raise DataError("invalid standardizer description: lengths differ")
        if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise DataError("invalid standardizer description: non-finite or zero scale")
        obj = cls()
        obj.mean_, obj.scale_, obj.feature_names = mean, scale, names
        return obj


# --------------------------------------------------------------------------------------------
# splitting and batching
# --------------------------------------------------------------------------------------------


def split_indices(
    n: int,
    val_fraction: float,
    rng: np.random.Generator,
    stratify: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Random train/validation split of n rows -> (train_idx, val_idx), both sorted int64.

    Without ``stratify``, round(n * val_fraction) random rows go to validation (at least one
    when val_fraction > 0 and n >= 2; never all). With ``stratify`` (n,) class ids, each class
    is split on its own with the same rounding, so every class with >= 2 rows has at least one
    validation row and at least one training row; a class with one row trains. val_fraction
    0 gives an empty validation set. The same ``rng`` state gives the same split.
    """
    if not (0.0 <= float(val_fraction) < 1.0):
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n = int(n)
    if val_fraction == 0 or n < 2:
        return np.arange(n, dtype=np.int64), np.empty(0, dtype=np.int64)
    if stratify is None:
        groups = [np.arange(n, dtype=np.int64)]
    else:
        labels = np.asarray(stratify).reshape(-1)
        if labels.size != n:
            raise DataError(f"stratify has {labels.size} labels for {n} rows")
        _, inverse = np.unique(labels, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.flatnonzero(np.diff(inverse[order])) + 1
        groups = np.split(order.astype(np.int64), bounds)
    val_parts = []
    for members in groups:
        size = members.size
        if size < 2:
            continue
        n_val = min(max(round(size * val_fraction), 1), size - 1)
        val_parts.append(members[rng.permutation(size)[:n_val]])
    val_idx = np.sort(np.concatenate(val_parts)) if val_parts else np.empty(0, dtype=np.int64)
    mask = np.ones(n, dtype=bool)
    mask[val_idx] = False
    return np.flatnonzero(mask).astype(np.int64), val_idx.astype(np.int64)


def minibatches(n: int, batch_size: int, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
    """Yield index arrays covering 0..n-1 once: one epoch of mini-batches.

    One permutation per epoch (``rng.permutation(n)``) then consecutive slices of
    ``batch_size``; the last batch may be shorter. ``rng`` None keeps file order (for
    evaluation). Index arrays, not data, so the caller's arrays are never shuffled in place.
    """
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, int(batch_size)):
        yield order[start : start + int(batch_size)]
