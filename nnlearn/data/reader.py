"""Reading a CSV file into a :class:`Table`, with errors that point at a line and a column.

``read_csv`` and ``Table`` are re-exported by :mod:`nnlearn.data`, which is where callers import
them from. Columns are selected by name; rows are samples.

What the reader accepts
-----------------------
UTF-8 text (an optional BOM), LF or CRLF line endings, comma separated, a header line naming
every column, then one line per sample; fields may be quoted with ``"`` (``""`` inside quotes is
a quote). Blank lines are skipped. A numeric cell is, after stripping whitespace,
``[+-]?(digits[.[digits]] | .digits)([eE][+-]?digits)?`` -- what ``float()`` accepts minus
``nan``/``inf`` spellings, underscores and non-ASCII digits -- and is rounded exactly as
``float()`` rounds it. Text cells (the target, categorical columns) are stripped of whitespace.

How a file is read
------------------
A parser library does the parsing. Without extras it is numpy's compiled ``np.loadtxt`` (one
pass for the numeric columns, one for the text columns); with ``pip install 'nnlearn[fast]'``
it is ``pyarrow.csv`` (multi-threaded, one pass). Before either runs, :func:`_scan` reads the
file once in large blocks to learn what the parsers do not say: how many lines there are (so
every row's line number is known when the parser returns one row per line), whether it is
valid UTF-8, whether some line has a stray carriage return, and for np.loadtxt how many commas
there are (so a row with extra fields is noticed even when only some columns are parsed).

If anything is off -- the parser refuses a cell, a value is not finite, a target cell is empty,
the counts disagree -- the fast result is dropped and :func:`_read_careful` reads the file
again with the ``csv`` module, row by row, converting each cell with ``float()``. That pass is
the reference: it either returns the table (files with multi-line quoted fields or blank lines
in the middle are read this way) or reports the FIRST problem in the file, by line and column.
Both parsers give tables identical to its own, bit for bit (the tests check this).
"""

from __future__ import annotations

import codecs
import collections
import csv
import functools
import io
import math
import os
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from nnlearn.errors import DataError

__all__ = ["Table", "read_csv"]

_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SCAN_BYTES = 1 << 24  # _scan reads the file in blocks of this many bytes (and to a newline)
_MAX_SHOWN = 40  # a quoted cell value is cut to this many characters in messages
_NOT_NUMERIC_HINT = ("list the column in data.categorical to one-hot encode it, or leave it out "
                     "with data.features")


@dataclass
class Table:
    """A CSV file read into arrays.

    Attributes:
        path: the file that was read.
        header: every column name, in file order (surrounding whitespace stripped).
        X: (n, d) float64 matrix of the numeric feature columns, in the order of
           ``feature_names``. NaN only where a cell was empty and missing values were allowed.
        feature_names: the d numeric feature columns.
        y: (n,) str array of raw target cells (whitespace stripped), or None when no target was
           requested or it was absent and not required.
        target: the target column name, or None when ``y`` is None.
        lines: (n,) int64 physical line number of each row (header = line 1), so that later
           errors (an unseen label, a bad regression value) can point back into the file.
        weights: (n,) float64 non-negative sample weights, or None.
        text: categorical column -> (n,) str array of its cells, stripped ("" where empty).
        columns: every feature column (numeric and categorical), in the order requested.
    """

    path: str
    header: list[str]
    X: np.ndarray
    feature_names: list[str]
    y: np.ndarray | None
    target: str | None
    lines: np.ndarray
    weights: np.ndarray | None
    text: dict[str, np.ndarray] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.columns:
            self.columns = list(self.feature_names)

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @functools.cached_property
    def column_index(self) -> dict[str, int]:
        """numeric feature column -> its column of ``X`` (one dict: no search per column)."""
        return {name: j for j, name in enumerate(self.feature_names)}


def read_csv(
    path: str | os.PathLike,
    *,
    target: str | None,
    features: list[str] | None = None,
    target_required: bool = True,
    weight_column: str | None = None,
    categorical: list[str] | tuple[str, ...] = (),
    allow_missing: bool = False,
) -> Table:
    """Read a CSV file with a header line into a :class:`Table`.

    Columns are selected BY NAME, so a later file (e.g. the one to predict on) may order its
    columns differently or carry extra columns, which are ignored.

    Args:
        path: the CSV file (see the module docstring for what is accepted).
        target: name of the target column, or None for no target.
        features: feature column names in the order wanted; None means every column except
            ``target`` and ``weight_column``, in file order.
        target_required: when False and the target column is absent, ``y`` is None (predicting
            on unlabeled data) instead of an error.
        weight_column: optional column of non-negative, finite sample weights.
        categorical: feature columns read as text (into ``Table.text``) rather than numbers.
        allow_missing: empty feature cells become NaN (numeric) or "" (categorical) instead of
            an error. An empty target or weight cell is always an error.

    Raises:
        DataError: the file is missing, unreadable, not UTF-8, empty, malformed, or a selected
            cell is empty, non-numeric or non-finite; ``line`` and ``column`` say where.
    """
    spath = os.fspath(path)
    _check_readable(spath)
    req = _Request(target, features, target_required, weight_column, tuple(categorical),
                   allow_missing)
    try:
        table = _read_fast(spath, req)
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", path=spath) from None
    return table if table is not None else _read_careful(spath, req)


def _check_readable(path: str) -> None:
    if not os.path.exists(path):
        raise DataError("file not found", path=path, hint="Check the path and the file name.")
    if os.path.isdir(path):
        raise DataError("is a directory, expected a CSV file", path=path)
    if not os.path.isfile(path):
        # A FIFO or a device: the reader reads a file more than once, and opening a FIFO
        # nobody writes to would block forever.
        raise DataError("is not a regular file (a pipe or a device?), expected a CSV file",
                        path=path, hint="Save the data to a file first.")
    if not os.access(path, os.R_OK):
        raise DataError("file is not readable (permission denied)", path=path)


# --------------------------------------------------------------------------------------------
# header and column selection (shared by both passes)
# --------------------------------------------------------------------------------------------


@dataclass
class _Request:
    target: str | None
    features: list[str] | None
    target_required: bool
    weight_column: str | None
    categorical: tuple[str, ...] = ()
    allow_missing: bool = False


@dataclass
class _Layout:
    """Which file columns to read, resolved against one header."""

    header: list[str]
    columns: list[str]  # every feature column, in the order requested
    numeric: list[str]  # the numeric ones, in that order
    num_cols: list[int]  # file indices of the numeric features, then of the weight column
    text_cols: list[int]  # file indices of the target (first, if any) and categorical columns
    weight_col: int | None
    target_col: int | None
    target: str | None
    categorical: list[str]


def _resolve_columns(header: list[str], req: _Request, path: str) -> _Layout:
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in seen and name != "":
            raise DataError(
                f"duplicate column name {name!r} (columns {seen[name] + 1} and {i + 1})",
                path=path, line=1,
                hint="Column names must be unique because columns are selected by name.")
        seen.setdefault(name, i)
    found = _column_list(header)

    target_col: int | None = None
    target = req.target
    if target is not None:
        if target in seen:
            target_col = seen[target]
        elif req.target_required:
            raise DataError(f"target column {target!r} not found; columns found: {found}",
                            path=path, line=1,
                            hint="Set the target column name to one of the columns in the header.")
        else:
            target = None

    weight_col: int | None = None
    if req.weight_column is not None:
        if req.weight_column not in seen:
            raise DataError(f"weight column {req.weight_column!r} not found; columns found: "
                            f"{found}", path=path, line=1)
        weight_col = seen[req.weight_column]
        if req.weight_column == req.target:
            raise DataError(f"column {req.weight_column!r} cannot be both the target and the "
                            "weights", path=path)

    if req.features is None:
        excluded = {req.target, req.weight_column}
        names = [h for h in header if h not in excluded]
        if "" in names:
            raise DataError(
                f"column {names.index('') + 1} has an empty name in the header", path=path,
                line=1, hint="Name every column, or list the feature columns explicitly "
                "(a pandas index column saved without a name looks like this).")
    else:
        names = [str(f) for f in req.features]
        dups = sorted(f for f, k in collections.Counter(names).items() if k > 1)
        if dups:
            raise DataError(f"feature columns listed more than once: {dups}", path=path)
        missing = [f for f in names if f not in seen]
        if missing:
            raise DataError(f"feature column(s) {missing} not found; columns found: {found}",
                            path=path, line=1)
        for special, what in ((req.target, "target"), (req.weight_column, "weight")):
            if special is not None and special in names:
                raise DataError(f"column {special!r} is listed as a feature and is also the "
                                f"{what} column", path=path)
    if not names:
        raise DataError("no feature columns to read"
                        + (f" (the only columns are {found})" if req.features is None else ""),
                        path=path)
    stray = [c for c in req.categorical if c not in names]
    if stray:
        raise DataError(f"categorical column(s) {stray} are not among the feature columns "
                        f"{_column_list(names)}", path=path, line=1,
                        hint="data.categorical lists feature columns (see data.features)")
    cats = set(req.categorical)
    numeric = [n for n in names if n not in cats]
    categorical = [n for n in names if n in cats]
    return _Layout(
        header=list(header), columns=names, numeric=numeric,
        num_cols=[seen[n] for n in numeric] + ([weight_col] if weight_col is not None else []),
        text_cols=([target_col] if target_col is not None else [])
        + [seen[n] for n in categorical],
        weight_col=weight_col, target_col=target_col, target=target, categorical=categorical)


def _column_list(header: list[str]) -> str:
    shown = ", ".join(repr(h) for h in header[:30])
    more = f", ... ({len(header)} columns)" if len(header) > 30 else ""
    return f"[{shown}{more}]"


def _shown(cell: str) -> str:
    return repr(cell if len(cell) <= _MAX_SHOWN else cell[:_MAX_SHOWN] + "...")


def _table(path: str, lay: _Layout, values: np.ndarray, text: np.ndarray | None,
           lines: np.ndarray) -> Table:
    """Assemble a Table from the parsed numeric columns (``lay.num_cols`` order) and text
    columns (``lay.text_cols`` order)."""
    d = len(lay.numeric)
    has_target = lay.target_col is not None
    cats = {}
    for j, name in enumerate(lay.categorical):
        cats[name] = text[:, j + has_target]
    return Table(
        path=path, header=lay.header, X=values[:, :d] if values.shape[1] > d else values,
        feature_names=lay.numeric, y=text[:, 0] if has_target else None, target=lay.target,
        lines=lines, weights=values[:, d].copy() if lay.weight_col is not None else None,
        text=cats, columns=lay.columns)


# --------------------------------------------------------------------------------------------
# fast: a parser library, after a scan that tells whether its result can be trusted
# --------------------------------------------------------------------------------------------


def _read_fast(path: str, req: _Request) -> Table | None:
    """A table from the parser library, or None: "let the careful pass read (and judge) it"."""
    with open(path, "rb") as fh:
        first = fh.readline()
        if first.startswith(b"\xef\xbb\xbf"):
            first = first[3:]
        try:
            header_text = first.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            return None
        if not header_text.strip() or "\r" in header_text or "\x00" in header_text \
                or header_text.count('"') % 2:
            return None  # empty, or a header the csv module must parse (and judge)
        try:
            header = [c.strip() for c in next(csv.reader([header_text]))]
        except csv.Error:
            return None
        lay = _resolve_columns(header, req, path)
        arrow = _has_arrow()  # pyarrow checks the number of fields itself; np.loadtxt does not
        rows = _scan(fh, None if arrow else len(header))
    if not rows:
        return None  # something the parsers would misread, or no rows: the careful pass says
    parsed = _parse_arrow(path, lay, len(header), rows) if arrow else \
        _parse_numpy(path, lay, rows)
    if parsed is None:
        return None
    values, text, empty_cells = parsed
    d = len(lay.numeric)
    if empty_cells and not req.allow_missing:
        return None
    if empty_cells:
        # NaN must come from the empty feature cells only (not from a cell spelled "nan", nor
        # from an empty weight), and no value may be infinite
        nan = np.isnan(values)
        if int(np.count_nonzero(nan)) != empty_cells or nan[:, d:].any() \
                or np.isinf(values).any():
            return None
    elif not np.isfinite(values).all():
        return None
    if lay.weight_col is not None and (values[:, d] < 0).any():
        return None
    if text is not None:
        text = np.char.strip(text)
        empty = text == ""
        if req.allow_missing:
            empty[:, 1 if lay.target_col is not None else 0:] = False
        if empty.any():
            return None
    return _table(path, lay, values, text, np.arange(2, rows + 2, dtype=np.int64))


def _scan(fh: io.BufferedReader, n_fields: int | None) -> int | None:
    """Read the rest of the file (after the header) and return the number of its lines up to
    the last one with data, or None when the file is one the parsers could misread: not
    UTF-8, a NUL byte, a carriage return that does not end a line, or (``n_fields`` given, for
    a parser that only looks at some columns) a comma count that is not n_fields - 1 per line.

    The parsers skip blank lines and join the lines of a multi-line quoted field, so either
    shows up as fewer rows parsed than lines counted here: the careful pass then reads the
    file (and numbers its rows by line)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = commas = 0
    rows_end = 0  # newlines before the last byte of the last data line, plus one
    while True:
        chunk = fh.read(_SCAN_BYTES)
        if not chunk:
            break
        chunk += fh.readline()  # end on a newline, so that "\r\n" is never cut in two
        try:
            if not chunk.isascii():
                decoder.decode(chunk)
        except UnicodeDecodeError:
            return None
        if b"\x00" in chunk or (b"\r" in chunk and chunk.count(b"\r") != chunk.count(b"\r\n")):
            return None
        end = _data_end(chunk)
        inside = chunk.count(b"\n", 0, end)
        if end:
            rows_end = newlines + inside + 1
        newlines += inside + chunk.count(b"\n", end)
        if n_fields is not None:
            commas += chunk.count(b",")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    if n_fields is not None and commas != rows_end * (n_fields - 1):
        return None  # a row with more or fewer fields, or commas inside quotes
    return rows_end


def _data_end(chunk: bytes) -> int:
    """Length of ``chunk`` without its trailing whitespace (0: all whitespace), without
    copying the whole chunk as ``rstrip`` would."""
    tail = chunk[-4096:]
    kept = len(tail.rstrip(b" \t\r\n"))
    if kept == 0 and len(tail) < len(chunk):
        return len(chunk.rstrip(b" \t\r\n"))
    return len(chunk) - len(tail) + kept


def _has_arrow() -> bool:
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


_Parsed = tuple[np.ndarray, "np.ndarray | None", int]  # numbers, text, how many were empty


def _parse_numpy(path: str, lay: _Layout, rows: int) -> _Parsed | None:
    """np.loadtxt, once for the numeric columns, once for the text columns. It refuses empty
    numeric cells, so a file with missing values is read by the careful pass."""
    opts = {"delimiter": ",", "skiprows": 1, "comments": None, "quotechar": '"', "ndmin": 2,
            "encoding": "utf-8"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = (np.loadtxt(path, dtype=np.float64, usecols=lay.num_cols, **opts)
                      if lay.num_cols else np.empty((rows, 0)))
            text = (np.loadtxt(path, dtype=str, usecols=lay.text_cols, **opts)
                    if lay.text_cols else None)
    except (ValueError, UnicodeError, OverflowError, TypeError):
        return None  # a cell it cannot convert, a short row, ...: the careful pass words it
    if values.shape[0] != rows or (text is not None and text.shape[0] != rows):
        return None
    return values, text, 0


def _parse_arrow(path: str, lay: _Layout, n_fields: int, rows: int) -> _Parsed | None:
    """pyarrow.csv, streaming record batches into one preallocated matrix (so the peak is the
    result plus a few batches, not two copies of it)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(n_fields)]
    num = [names[i] for i in lay.num_cols]
    txt = [names[i] for i in lay.text_cols]
    types = {**{n: pa.float64() for n in num}, **{n: pa.string() for n in txt}}
    convert = pacsv.ConvertOptions(column_types=types, include_columns=num + txt,
                                   null_values=[""], strings_can_be_null=False,
                                   quoted_strings_can_be_null=False)
    values = np.empty((rows, len(num)))
    strings: list[list] = [[] for _ in txt]
    n = empty_cells = 0
    try:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(
            skip_rows=1, column_names=names, block_size=1 << 20), convert_options=convert)
        for batch in reader:
            m = batch.num_rows
            if n + m > rows:
                return None
            if num:
                block = batch.select(num)
                nulls = sum(col.null_count for col in block.columns)
                empty_cells += nulls
                values[n : n + m] = np.asarray(block.to_tensor(null_to_nan=nulls > 0,
                                                               row_major=True))
            for k, name in enumerate(txt):
                strings[k].append(batch.column(name))
            n += m
    except (pa.ArrowException, ValueError):
        return None
    if n != rows:
        return None
    columns = []
    for chunks in strings:  # few distinct labels: convert those, then index (fast)
        coded = pa.chunked_array(chunks, pa.string()).dictionary_encode().combine_chunks()
        labels = np.asarray(coded.dictionary.to_pylist(), dtype=str)
        index = coded.indices  # int32, no nulls; read from its buffer (to_numpy loads pandas)
        columns.append(labels[np.frombuffer(index.buffers()[1], dtype=np.int32, count=len(index),
                                            offset=4 * index.offset)])
    return values, np.column_stack(columns) if columns else None, empty_cells


# --------------------------------------------------------------------------------------------
# careful: the csv module, row by row; finds the first problem and says where it is
# --------------------------------------------------------------------------------------------


def _decode(path: str) -> tuple[str, DataError | None]:
    """The file as text, BOM removed. If it is not valid UTF-8, the text of the whole lines
    before the bad byte and the error to raise once those lines have been checked (so that an
    earlier problem is still reported first)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", path=path) from None
    error = None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        text = data[:line_start].decode("utf-8", errors="replace")
        bad = data[exc.start : exc.start + 1]
        error = DataError(
            f"the file is not valid UTF-8 (byte {bad!r} at offset {exc.start})",
            path=path, line=data.count(b"\n", 0, exc.start) + 1,
            hint="Save the file as UTF-8 (e.g. from a spreadsheet: 'CSV UTF-8').")
    return text.removeprefix("\ufeff"), error


def _is_blank(row: list[str]) -> bool:
    return len(row) <= 1 and (not row or not row[0].strip())


def _cell_number(cell: str, path: str | None, line: int | None, column: str | None,
                 hint: str | None = None) -> float:
    """The exact (reporting) conversion of one numeric cell. ``hint`` goes with a
    non-numeric value."""
    text = cell.strip()
    if text == "":
        raise DataError("empty cell, expected a number", path=path, line=line, column=column)
    if _NUMBER_RE.fullmatch(text):
        value = float(text)
        if math.isfinite(value):
            return value
        raise DataError(f"value {_shown(text)} is too large for a 64-bit float (non-finite)",
                        path=path, line=line, column=column)
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is not None and not math.isfinite(value):
        raise DataError(f"non-finite value {_shown(text)}, expected a finite number",
                        path=path, line=line, column=column,
                        hint="Missing values must be removed or filled in before training.")
    raise DataError(f"non-numeric value {_shown(text)}, expected a number like 3.5 or -2e-3",
                    path=path, line=line, column=column, hint=hint)


_NUMBER_CHARS = np.zeros(128, dtype=bool)
_NUMBER_CHARS[[ord(c) for c in "0123456789+-.eE"]] = True
_NUMBER_CHARS[0] = True  # numpy pads shorter strings with NUL


def parse_numbers(cells: np.ndarray | list[str]) -> np.ndarray | None:
    """(n,) float64 when every cell (whitespace stripped) follows the number grammar and is
    finite, else None. Vectorised: only digits, signs, '.', 'e' and 'E' may appear (that rules
    out nan, inf, underscores and non-ASCII digits, which ``float()`` would take), then
    ``float()`` judges the order of those characters and rounds."""
    arr = np.char.strip(np.asarray(cells, dtype=str).reshape(-1))
    if arr.size == 0:
        return np.empty(0)
    codes = arr.view(np.uint32)
    if (codes >= 128).any() or not _NUMBER_CHARS[codes].all():
        return None
    try:
        values = arr.astype(np.float64)
    except ValueError:  # an empty cell, "1e", "--1", ...
        return None
    return values if np.isfinite(values).all() else None


def _read_careful(path: str, req: _Request) -> Table:
    text, encoding_error = _decode(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    lay: _Layout | None = None
    values: list[list[float]] = []
    cells: list[list[str]] = []
    lines: list[int] = []
    prev_end = 0
    try:
        for row in reader:
            line = prev_end + 1
            prev_end = reader.line_num
            if _is_blank(row):
                continue
            if lay is None:
                lay = _resolve_columns([c.strip() for c in row], req, path)
                order = sorted([(c, "num", j) for j, c in enumerate(lay.num_cols)]
                               + [(c, "text", k) for k, c in enumerate(lay.text_cols)])
                continue
            if len(row) != len(lay.header):
                raise DataError(
                    f"expected {len(lay.header)} fields, found {len(row)}", path=path, line=line,
                    hint="Every row needs one value per header column; a decimal comma or an "
                    "unquoted comma inside a value adds fields.")
            values.append(_careful_row(row, line, order, lay, req, path))
            cells.append([row[c].strip() for c in lay.text_cols])
            lines.append(line)
    except csv.Error as exc:
        if encoding_error is not None:
            raise encoding_error from None
        raise DataError(f"malformed CSV ({exc})", path=path, line=prev_end + 1) from None
    if encoding_error is not None:
        raise encoding_error
    if lay is None:
        raise DataError("the file is empty, expected a header line", path=path)
    if not lines:
        raise DataError("the file has a header but no data rows", path=path,
                        hint="A CSV file needs a header line, then one line per sample.")
    return _table(path, lay, np.array(values, dtype=np.float64).reshape(len(lines), -1),
                  np.array(cells, dtype=str).reshape(len(lines), -1) if lay.text_cols else None,
                  np.asarray(lines, dtype=np.int64))


def _careful_row(row: list[str], line: int, order: list, lay: _Layout, req: _Request,
                 path: str) -> list[float]:
    """The numeric cells of one row, checking every selected cell left to right."""
    out = [0.0] * len(lay.num_cols)
    for col, kind, j in order:
        name = lay.header[col]
        cell = row[col]
        if kind == "text":
            if cell.strip() == "" and (col == lay.target_col or not req.allow_missing):
                what = "target cell, expected a label or a value" if col == lay.target_col \
                    else "cell, expected a category"
                raise DataError(f"empty {what}", path=path, line=line, column=name)
            continue
        is_weight = col == lay.weight_col
        if req.allow_missing and not is_weight and cell.strip() == "":
            out[j] = math.nan
            continue
        out[j] = _cell_number(cell, path, line, name, None if is_weight else _NOT_NUMERIC_HINT)
        if is_weight and out[j] < 0:
            raise DataError(f"negative sample weight {_shown(cell.strip())}, expected a "
                            "weight >= 0", path=path, line=line, column=name)
    return out


def read_columns(path: str, columns: list[str], lines: np.ndarray) -> list[list[str]]:
    """The raw cells of ``columns`` (any type: ids, names) for the rows starting at physical
    ``lines`` (a Table's ``lines``), in that order, whitespace stripped. Used to carry
    identifying columns into a predictions file; raises DataError for an unknown column."""
    text, encoding_error = _decode(path)
    if encoding_error is not None:
        raise encoding_error
    reader = csv.reader(io.StringIO(text, newline=""))
    prev_end = 0
    header: list[str] | None = None
    slots: list[int] = []
    by_line: dict[int, list[str]] = {}
    try:
        for row in reader:
            line = prev_end + 1
            prev_end = reader.line_num
            if _is_blank(row):
                continue
            if header is None:
                header = [c.strip() for c in row]
                missing = [c for c in columns if c not in header]
                if missing:
                    raise DataError(f"no column {missing[0]!r} to keep; the columns are "
                                    f"{_column_list(header)}", path=path)
                slots = [header.index(c) for c in columns]
                continue
            by_line[line] = [row[i].strip() if i < len(row) else "" for i in slots]
    except csv.Error as exc:
        raise DataError(f"malformed CSV ({exc})", path=path, line=prev_end + 1) from None
    return [by_line[int(n)] for n in lines]
