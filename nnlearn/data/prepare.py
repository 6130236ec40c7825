"""What is done with a Table's arrays before training: targets (:func:`infer_task`,
:class:`LabelEncoder`, :func:`regression_targets`), scaling (:class:`Standardizer`), splits and
batches. Target cells follow the same number grammar as feature cells (see the reader).
"""

from __future__ import annotations

import math

import numpy as np

from nnlearn.data.reader import _NUMBER_RE, _cell_number, _shown, parse_numbers
from nnlearn.errors import ConfigError, DataError

# infer_task: an integer-valued target with at most this many distinct values is classification
MAX_CLASSES_FOR_INTEGER_TARGET = 20


def _cells_of(y_raw: np.ndarray) -> list[str]:
    arr = np.asarray(y_raw).reshape(-1)
    return arr.tolist() if arr.dtype.kind == "U" else [str(c) for c in arr.tolist()]


def _as_numbers(y_raw: np.ndarray) -> np.ndarray | None:
    """(n,) float64 if every cell is a finite number (same grammar as feature cells), else None."""
    arr = np.asarray(y_raw).reshape(-1)
    if arr.dtype.kind in "biuf":
        values = arr.astype(np.float64)
        return values if np.isfinite(values).all() else None
    return parse_numbers(_cells_of(arr))


def infer_task(y_raw: np.ndarray) -> str:
    """"classification" if some target cell is not a number, or if all are integers with at
    most ``MAX_CLASSES_FOR_INTEGER_TARGET`` distinct values (class ids); else "regression"."""
    values = _as_numbers(y_raw)
    if values is None:
        return "classification"
    integer = values.size > 0 and bool(np.all(values == np.round(values)))
    if integer and np.unique(values).size <= MAX_CLASSES_FOR_INTEGER_TARGET:
        return "classification"
    return "regression"


def regression_targets(y_raw: np.ndarray, lines: np.ndarray | None = None,
                       path: str | None = None, *, column: str | None = None) -> np.ndarray:
    """Raw target cells (n,) -> float64 (n, 1); DataError at the first cell that is not a
    finite number (with its line when ``lines`` is given)."""
    values = _as_numbers(y_raw)
    if values is None:
        for i, cell in enumerate(_cells_of(y_raw)):
            _cell_number(cell, path, int(lines[i]) if lines is not None else None, column)
        raise AssertionError("a cell failed in bulk but passed exactly")  # pragma: no cover
    return values.reshape(-1, 1)


def _unseen(what: str, label: str, known: list[str], path: str | None, line: int | None,
            column: str | None, hint: str) -> DataError:
    shown = known[:20] + (["..."] if len(known) > 20 else [])
    return DataError(f"{what} {_shown(label)} was not seen in training; known "
                     f"{'classes' if what == 'label' else 'categories'}: {shown}",
                     path=path, line=line, column=column, hint=hint)


class LabelEncoder:
    """Class names <-> ids 0..K-1. Classes are sorted: as integers (named ``str(int(v))``, so
    "2" < "10" and "1.0" is "1") when every label is an integer; as numbers, keeping their
    spelling, when every label is a number; otherwise as strings. ``kind_`` says which."""

    def __init__(self) -> None:
        self.classes_: list[str] = []
        self.kind_: str | None = None  # "integer" | "numeric" | "string"
        self._values: np.ndarray | None = None  # the sorted class values of numeric kinds

    @property
    def n_classes(self) -> int:
        return len(self.classes_)

    def fit(self, y_raw: np.ndarray, lines: np.ndarray | None = None, path: str | None = None,
            *, column: str | None = None) -> LabelEncoder:
        """Learn the classes of ``y_raw`` (n,). A label ``float()`` reads as nan or inf is
        refused (a missing or overflowing value, not a class)."""
        arr = np.asarray(y_raw).reshape(-1)
        if arr.size == 0:
            raise DataError("cannot fit a label encoder on an empty target")
        values = _as_numbers(arr)
        if values is not None and np.all(values == np.round(values)):
            self.kind_, self._values = "integer", np.unique(values)
            self.classes_ = [str(int(v)) for v in self._values]
        elif values is not None:
            self._values, first = np.unique(values, return_index=True)
            cells = _cells_of(arr)
            self.kind_, self.classes_ = "numeric", [cells[i].strip() for i in first]
        else:
            stripped = np.char.strip(np.asarray(_cells_of(arr), dtype=str))
            self.kind_, self._values = "string", None
            self.classes_ = np.unique(stripped).tolist()
            for label in self.classes_:  # few distinct labels: cheap
                if _is_non_finite_number(label):
                    i = int(np.flatnonzero(stripped == label)[0])
                    raise DataError(
                        f"non-finite value {_shown(label)} in the target column, expected a "
                        "class name or a finite number", path=path,
                        line=int(lines[i]) if lines is not None else None, column=column,
                        hint="a target cannot be missing: remove the row or fill the "
                             "value in")
        return self

    def transform(self, y_raw: np.ndarray, lines: np.ndarray | None = None,
                  path: str | None = None, *, column: str | None = None) -> np.ndarray:
        """Labels (n,) -> int64 ids (n,); DataError naming an unseen label and its line."""
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
            raise _unseen("label", _cells_of(arr[i : i + 1])[0].strip(), self.classes_, path,
                          int(lines[i]) if lines is not None else None, column,
                          "A model can only predict the classes it was trained on.")
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
        enc.kind_, enc.classes_ = kind, [str(c) for c in classes]
        enc._values = None if kind == "string" else np.array([float(c) for c in enc.classes_])
        # transform() looks labels up by binary search: the classes must be unique and sorted
        if not (enc.classes_ == sorted(set(enc.classes_)) if kind == "string" else
                bool(np.isfinite(enc._values).all() and (np.diff(enc._values) > 0).all())):
            raise DataError(f"invalid label encoder description: classes {classes!r} are not "
                            "unique and sorted")
        return enc


def _is_non_finite_number(text: str) -> bool:
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return False


def _loose_float(cell: str) -> float:
    text = cell.strip()  # NaN is never equal to a class value, so it is reported as unseen
    return float(text) if _NUMBER_RE.fullmatch(text) else math.nan


def class_weights_balanced(y_idx: np.ndarray, n_classes: int) -> np.ndarray:
    """n_samples / (n_classes * count_c) per class, as scikit-learn's "balanced"; 1.0 for a
    class absent from ``y_idx`` (finite, so the weights stay JSON-serialisable)."""
    y_idx = np.asarray(y_idx, dtype=np.int64)
    counts = np.bincount(y_idx, minlength=n_classes)[:n_classes].astype(np.float64)
    weights = np.ones(n_classes, dtype=np.float64)
    present = counts > 0
    weights[present] = y_idx.size / (n_classes * counts[present])
    return weights


class Standardizer:
    """z = (x - mean_) / scale_ per feature, fitted on the training rows. ``scale_`` is the
    population standard deviation, or 1.0 for a constant column or one whose spread is below
    float32's smallest normal number (dividing by it would blow rounding noise up to order one).
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.feature_names: list[str] = []

    def fit(self, X: np.ndarray, feature_names: list[str] | None = None, *,
            path: str | None = None) -> Standardizer:
        """Fit on X (n, d); a column whose mean or spread overflows is refused by name."""
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
            raise DataError(
                "the mean or standard deviation of this column is not finite (values too large)",
                path=path, column=names[int(np.flatnonzero(bad)[0])],
                hint="Rescale the column (e.g. to other units) before training.")
        self.mean_, self.feature_names = mean, names
        self.scale_ = np.where(constant | (std < np.finfo(np.float32).tiny), 1.0, std)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(n, d) -> a new standardised array, float dtypes kept (others become float64)."""
        if self.mean_ is None or self.scale_ is None:
            raise RuntimeError("Standardizer.transform called before fit")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.mean_.size:
            raise DataError(f"expected an (n, {self.mean_.size}) array, got shape {X.shape}")
        dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)
        return ((X - self.mean_.astype(dtype)) / self.scale_.astype(dtype)).astype(dtype,
                                                                                   copy=False)

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        if self.mean_ is None or self.scale_ is None:
            raise RuntimeError("Standardizer.inverse_transform called before fit")
        return np.asarray(Z, dtype=np.float64) * self.scale_ + self.mean_

    def to_dict(self) -> dict:
        if self.mean_ is None or self.scale_ is None:
            raise RuntimeError("Standardizer.to_dict called before fit")
        return {"feature_names": list(self.feature_names), "mean": self.mean_.tolist(),
                "scale": self.scale_.tolist()}

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


def split_indices(n: int, val_fraction: float, rng: np.random.Generator,
                  stratify: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx), sorted int64: round(n * val_fraction) random rows for validation,
    at least one and never all (none for val_fraction 0 or n < 2). With ``stratify`` (n,) class
    ids, each class with >= 2 rows is split so on its own; a class with one row trains."""
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
        groups = np.split(order.astype(np.int64), np.flatnonzero(np.diff(inverse[order])) + 1)
    val_parts = [g[rng.permutation(g.size)[:min(max(round(g.size * val_fraction), 1),
                                                g.size - 1)]] for g in groups if g.size >= 2]
    val_idx = np.sort(np.concatenate(val_parts)) if val_parts else np.empty(0, dtype=np.int64)
    mask = np.ones(n, dtype=bool)
    mask[val_idx] = False
    return np.flatnonzero(mask).astype(np.int64), val_idx.astype(np.int64)
