"""Missing values and categorical columns, the way scikit-learn's ``SimpleImputer`` and
``OneHotEncoder`` handle them: learnt from the training data and kept (``to_dict``) so that
evaluation and prediction encode new rows the same way. Standardisation comes after.
"""

from __future__ import annotations

import math

import numpy as np

from nnlearn.data.prepare import _unseen
from nnlearn.data.reader import Table
from nnlearn.errors import DataError

__all__ = ["FeatureEncoder"]


class FeatureEncoder:
    """Feature columns in, encoded matrix out, in the order of ``columns``: one input per
    numeric column, one 0/1 input ``c=value`` per category of a categorical column c.

    ``categories[c]``: the sorted distinct non-blank values of c in the fitted rows.
    ``missing``: "refuse" (the reader refuses empty cells) or "mean": an empty cell becomes
    the column's mean, or its most frequent category (ties: the first sorted), from the training
    rows (``fill``). ``unknown``: a category the fit never saw is an "error" (naming file,
    line, column and value) or, with "ignore", all of the column's inputs are 0.
    """

    def __init__(self, columns: list[str], categorical: list[str] | tuple[str, ...] = (), *,
                 missing: str = "refuse", unknown: str = "error") -> None:
        if missing not in ("refuse", "mean") or unknown not in ("error", "ignore"):
            raise ValueError("missing must be one of ('refuse', 'mean'), unknown one of "
                             "('error', 'ignore')")
        self.columns = list(columns)
        self.categorical = [c for c in self.columns if c in categorical]
        self.missing, self.unknown = missing, unknown
        self.categories: dict[str, list[str]] = {}
        self.fill: dict[str, float | str] = {}

    @property
    def numeric(self) -> list[str]:
        return [c for c in self.columns if c not in self.categorical]

    def _inputs(self) -> list[tuple[str, str]]:
        """(source column, input name) of every encoded input."""
        return [(c, f"{c}={v}" if c in self.categorical else c) for c in self.columns
                for v in (self.categories[c] if c in self.categorical else [c])]

    @property
    def names(self) -> list[str]:
        """The name of every encoded input, e.g. ``["age", "level=high", "level=low"]``."""
        return [name for _, name in self._inputs()]

    @property
    def width(self) -> int:
        return len(self._inputs())

    @property
    def one_hot(self) -> np.ndarray:
        """(width,) bool: which inputs are one-hot (0/1) rather than numeric columns."""
        return np.array([c in self.categorical for c, _ in self._inputs()], dtype=bool)

    def source(self, j: int) -> str:
        """The CSV column input ``j`` comes from."""
        return self._inputs()[j][0]

    @property
    def encodes(self) -> bool:
        """Whether the inputs differ from the numeric columns as read (one-hot or filled)."""
        return bool(self.categorical) or self.missing == "mean"

    def describe(self) -> str:
        """e.g. ``4 numeric + 3 one-hot = 7 inputs``."""
        if not self.categorical:
            return f"{self.width} numeric input{'s' if self.width != 1 else ''}"
        d = len(self.numeric)
        return f"{d} numeric + {self.width - d} one-hot = {self.width} inputs"

    def fit(self, table: Table, rows: np.ndarray | None = None) -> FeatureEncoder:
        """Categories from every row of ``table``; the fill values from ``rows`` only (the
        training split), like the standardisation."""
        for c in self.categorical:
            self.categories[c] = sorted(set(np.unique(table.text[c]).tolist()) - {""})
            if not self.categories[c]:
                raise DataError("every cell of this categorical column is empty",
                                path=table.path, column=c)
        if self.missing != "mean":
            return self
        rows = np.arange(table.n_rows) if rows is None else np.asarray(rows)
        for c in self.columns:
            if c in self.categorical:
                cells = table.text[c][rows]
                uniq, counts = np.unique(cells[cells != ""], return_counts=True)
                self.fill[c] = str(uniq[np.argmax(counts)]) if uniq.size else \
                    self.categories[c][0]
                continue
            col = table.X[rows, table.feature_names.index(c)]
            known = col[~np.isnan(col)]
            if known.size == 0:
                raise DataError("every cell of this column is empty in the training rows, so "
                                "it has no mean to fill them with", path=table.path, column=c)
            with np.errstate(over="ignore"):
                self.fill[c] = float(np.mean(known))
            if not np.isfinite(self.fill[c]):
                raise DataError("the mean of this column is not finite (values too large)",
                                path=table.path, column=c,
                                hint="Rescale the column (e.g. to other units) before training.")
        return self

    def transform(self, table: Table) -> np.ndarray:
        """(n, width) float64 encoding of ``table``'s rows: its own ``X`` when there is
        nothing to do (numeric columns only, in order, no missing cells)."""
        if not self.categorical and table.feature_names == self.columns \
                and not np.isnan(table.X).any():
            return table.X
        out = np.zeros((table.n_rows, self.width))
        j = 0
        for c in self.columns:
            if c not in self.categorical:
                col = table.X[:, table.feature_names.index(c)]
                out[:, j] = np.where(np.isnan(col), self.fill.get(c, np.nan), col)
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
                raise _unseen("category", str(cells[i]), self.categories[c], table.path,
                              int(table.lines[i]), c, "to encode unseen categories as all "
                              "zeros, train with data.unknown_category: ignore")
            rows = np.flatnonzero(found)
            out[rows, j + idx[rows]] = 1.0
            j += cats.size
        return out

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
            enc.fill = {str(k): (str(v) if k in categories else float(v))
                        for k, v in (d.get("fill") or {}).items()}
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
        for c, value in enc.fill.items():  # a category seen in training, or a finite mean
            if c in enc.categories:
                valid, expected = value in enc.categories[c], "one of its categories"
            else:
                valid, expected = math.isfinite(value), "a finite number"
            if not valid:
                raise DataError(f"invalid feature encoding description: the fill value of "
                                f"{c!r} ({value!r}) is not {expected}")
        if "width" in d and d["width"] != enc.width:
            raise DataError("invalid feature encoding description: the width does not match")
        return enc
