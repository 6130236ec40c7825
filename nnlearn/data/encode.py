"""From a :class:`~nnlearn.data.reader.Table`'s columns to the numbers a network reads.

:class:`FeatureEncoder` fills in missing values and one-hot encodes categorical columns, the
way scikit-learn's ``SimpleImputer`` and ``OneHotEncoder`` do, learning everything it needs
from the training data and keeping it (``to_dict``) so that evaluation and prediction encode
new rows exactly the same way. Standardisation comes after it (:class:`Standardizer`).
"""

from __future__ import annotations

import numpy as np

from nnlearn.data.reader import Table, _shown
from nnlearn.errors import DataError

__all__ = ["FeatureEncoder"]

MISSING = ("refuse", "mean")
UNKNOWN = ("error", "ignore")


class FeatureEncoder:
    """Feature columns in, encoded matrix out: one input per numeric column, one 0/1 input
    per category of a categorical column, in the order of ``columns``.

    * ``categories[c]``: the sorted distinct values of categorical column c in the rows it
      was fitted on (blank cells excepted). Its inputs are named ``c=value``.
    * ``missing``: "refuse" (the reader refuses empty cells) or "mean": an empty numeric cell
      becomes the column's mean, an empty categorical cell its most frequent category (ties:
      the first in sorted order), both taken from the fitted rows (``fill``).
    * ``unknown``: what a category the fit never saw does: "error" (a DataError naming the
      file, line, column and value) or "ignore" (all of the column's inputs 0).
    """

    def __init__(self, columns: list[str], categorical: list[str] | tuple[str, ...] = (), *,
                 missing: str = "refuse", unknown: str = "error") -> None:
        if missing not in MISSING or unknown not in UNKNOWN:
            raise ValueError(f"missing must be one of {MISSING}, unknown one of {UNKNOWN}")
        self.columns = list(columns)
        self.categorical = [c for c in self.columns if c in set(categorical)]
        self.missing = missing
        self.unknown = unknown
        self.categories: dict[str, list[str]] = {}
        self.fill: dict[str, float | str] = {}

    @property
    def numeric(self) -> list[str]:
        return [c for c in self.columns if c not in self.categorical]

    @property
    def names(self) -> list[str]:
        """The name of every encoded input, e.g. ``["age", "level=high", "level=low"]``."""
        return [name for c in self.columns for name in self._names_of(c)]

    def _names_of(self, column: str) -> list[str]:
        if column in self.categorical:
            return [f"{column}={v}" for v in self.categories[column]]
        return [column]

    @property
    def width(self) -> int:
        return len(self.names)

    @property
    def one_hot(self) -> np.ndarray:
        """(width,) bool: which inputs are one-hot (0/1) rather than numeric columns."""
        return np.array([c in self.categorical for c in self.columns
                         for _ in self._names_of(c)], dtype=bool)

    def source(self, j: int) -> str:
        """The CSV column input ``j`` comes from."""
        return [c for c in self.columns for _ in self._names_of(c)][j]

    @property
    def encodes(self) -> bool:
        """Whether the inputs differ from the numeric columns as read (one-hot or filled)."""
        return bool(self.categorical) or self.missing == "mean"

    def describe(self) -> str:
        """e.g. ``4 numeric + 3 one-hot = 7 inputs``."""
        hot = self.width - len(self.numeric)
        if not self.categorical:
            return f"{self.width} numeric input{'s' if self.width != 1 else ''}"
        return f"{len(self.numeric)} numeric + {hot} one-hot = {self.width} inputs"

    # -- fitting and encoding ----------------------------------------------------------------
    def fit(self, table: Table, rows: np.ndarray | None = None) -> FeatureEncoder:
        """Categories from every row of ``table``; the values that fill missing cells from
        ``rows`` only (the training split), like the standardisation."""
        for c in self.categorical:
            cells = table.text[c]
            values = sorted(set(np.unique(cells).tolist()) - {""})
            if not values:
                raise DataError("every cell of this categorical column is empty",
                                path=table.path, column=c)
            self.categories[c] = values
        if self.missing != "mean":
            return self
        rows = np.arange(table.n_rows) if rows is None else np.asarray(rows)
        for c in self.columns:
            if c in self.categorical:
                cells = table.text[c][rows]
                cells = cells[cells != ""]
                if cells.size:
                    uniq, counts = np.unique(cells, return_counts=True)
                    self.fill[c] = str(uniq[int(np.argmax(counts))])
                else:
                    self.fill[c] = self.categories[c][0]
                continue
            col = table.X[rows, table.feature_names.index(c)]
            known = col[~np.isnan(col)]
            if known.size == 0:
                raise DataError("every cell of this column is empty in the training rows, so "
                                "it has no mean to fill them with", path=table.path, column=c)
            with np.errstate(over="ignore"):
                mean = float(np.mean(known))
            if not np.isfinite(mean):
                raise DataError("the mean of this column is not finite (values too large)",
                                path=table.path, column=c,
                                hint="Rescale the column (e.g. to other units) before training.")
            self.fill[c] = mean
        return self

    def transform(self, table: Table) -> np.ndarray:
        """(n, width) float64 encoded matrix of ``table``'s rows. The table's own ``X`` when
        there is nothing to do (numeric columns only, in order, no missing cells)."""
        if not self.categorical and table.feature_names == self.columns \
                and not np.isnan(table.X).any():
            return table.X
        out = np.zeros((table.n_rows, self.width))
        j = 0
        for c in self.columns:
            if c not in self.categorical:
                col = table.X[:, table.feature_names.index(c)]
                if np.isnan(col).any():  # read with missing values allowed
                    col = np.where(np.isnan(col), self.fill.get(c, np.nan), col)
                out[:, j] = col
                j += 1
                continue
            cats = np.asarray(self.categories[c], dtype=str)
            cells = table.text[c]
            if self.missing == "mean":
                cells = np.where(cells == "", self.fill[c], cells)
            idx = np.searchsorted(cats, cells)
            found = idx < cats.size
            found[found] = cats[idx[found]] == cells[found]
            if not found.all() and self.unknown == "error":
                i = int(np.flatnonzero(~found)[0])
                shown = self.categories[c][:20] + (["..."] if cats.size > 20 else [])
                raise DataError(
                    f"category {_shown(str(cells[i]))} was not seen in training; known "
                    f"categories: {shown}", path=table.path, line=int(table.lines[i]), column=c,
                    hint="to encode unseen categories as all zeros, train with "
                    "data.unknown_category: ignore")
            rows = np.flatnonzero(found)
            out[rows, j + idx[rows]] = 1.0
            j += cats.size
        return out

    # -- serialisable description --------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"columns": list(self.columns), "categorical": dict(self.categories),
                "missing": self.missing, "unknown_category": self.unknown,
                "fill": dict(self.fill), "width": self.width, "inputs": self.describe()}

    @classmethod
    def from_dict(cls, d: dict) -> FeatureEncoder:
        try:
            columns = [str(c) for c in d["columns"]]
            categories = {str(k): [str(v) for v in vs] for k, vs in d["categorical"].items()}
            enc = cls(columns, list(categories), missing=d["missing"],
                      unknown=d["unknown_category"])
            enc.categories = {c: categories[c] for c in enc.categorical}
            fill = d.get("fill") or {}
            enc.fill = {str(k): (str(v) if k in categories else float(v))
                        for k, v in fill.items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(f"invalid feature encoding description ({exc})") from None
        if len(set(columns)) != len(columns) or set(categories) - set(columns):
            raise DataError("invalid feature encoding description: unknown or repeated columns")
        for c, values in enc.categories.items():
            if not values or values != sorted(set(values)):
                raise DataError(f"invalid feature encoding description: the categories of "
                                f"{c!r} are not unique and sorted")
        if enc.missing == "mean" and set(enc.fill) != set(columns):
            raise DataError("invalid feature encoding description: missing values to fill")
        if "width" in d and d["width"] != enc.width:
            raise DataError("invalid feature encoding description: the width does not match")
        return enc
