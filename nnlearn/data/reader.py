"""A CSV file into a :class:`Table`, with errors that point at a line and a column.

What is accepted is stated in docs/config.md. A parser library reads the file (``np.loadtxt``,
or ``pyarrow.csv`` with ``nnlearn[fast]``) after :func:`_scan` has checked what it does not.
If anything is off, the ``csv`` module reads the file again row by row (:func:`_read_careful`):
that pass is the reference; it reads odd files (multi-line quoted fields, blank lines between
rows) and reports the first problem by line and column. Both paths give the same arrays.
"""

from __future__ import annotations

import csv
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
_SCAN_BYTES = 1 << 20  # _scan reads the file in chunks of this many bytes (and to a newline)
_BLOCK_BYTES = 1 << 24  # pyarrow reads whole chunks, at least this many bytes at a time
_ARROW_BLOCK = 1 << 22  # and parses them in pieces of this size, in parallel
_BLANK = b" \t\r\n"
_NOT_NUMERIC_HINT = ("list the column in data.categorical to one-hot encode it, or leave it out "
                     "with data.features")
#: Cells that people (and other programs) write for "no value"; nnlearn's missing value is an
#: empty cell, so these get a hint saying so instead of the categorical one.
_MISSING_MARKERS = frozenset({"na", "n/a", "nan", "null", "none", "?", "-", "missing", "#n/a"})
_MISSING_HINT = ("if it marks a missing value, leave the cell empty (data.missing: mean fills "
                 "those); if it is a category, list the column in data.categorical")


@dataclass
class Table:
    """A CSV file read into arrays; rows are samples.

    ``X`` (n, d) float64 holds the numeric features ``feature_names`` (NaN only where a cell was
    empty and missing values were allowed); ``y`` (n,) the stripped target cells as str (None
    without a target); ``lines`` (n,) each row's line in the file (header = 1); ``weights``
    (n,) or None; ``text`` categorical column -> (n,) str cells ("" where empty); ``columns``
    every feature column (numeric and categorical) in the order requested.
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
        self.columns = self.columns or list(self.feature_names)

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


def read_csv(path: str | os.PathLike, *, target: str | None, features: list[str] | None = None,
             target_required: bool = True, weight_column: str | None = None,
             categorical: list[str] | tuple[str, ...] = (), allow_missing: bool = False,
             for_model: bool = False) -> Table:
    """Read a CSV file with a header line; columns are selected by name (others are ignored).

    ``features`` None means every column but the target and weights, in file order. Without
    ``target_required`` an absent target column gives ``y`` None. ``categorical`` columns are
    read as text into ``Table.text``. ``allow_missing``: empty feature cells become NaN (or "")
    instead of an error. ``for_model``: the file is read for a trained model, whose column
    settings can no longer change, so a non-numeric cell gets no hint about ``data.categorical``.
    Raises DataError naming the line and column of the first problem.
    """
    spath = os.fspath(path)
    if not os.path.exists(spath):
        raise DataError("file not found", path=spath, hint="Check the path and the file name.")
    if os.path.isdir(spath):
        raise DataError("is a directory, expected a CSV file", path=spath)
    if not os.path.isfile(spath):  # a FIFO nobody writes to would block the second read
        raise DataError("is not a regular file (a pipe or a device?), expected a CSV file",
                        path=spath, hint="Save the data to a file first.")
    if not os.access(spath, os.R_OK):
        raise DataError("file is not readable (permission denied)", path=spath)
    req = _Request(target, features, target_required, weight_column, tuple(categorical),
                   allow_missing, for_model)
    try:
        table = _read_fast(spath, req)
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", path=spath) from None
    return table if table is not None else _read_careful(spath, req)


@dataclass
class _Request:
    target: str | None
    features: list[str] | None
    target_required: bool
    weight_column: str | None
    categorical: tuple[str, ...] = ()
    allow_missing: bool = False
    for_model: bool = False


@dataclass
class _Layout:
    """Which file columns to read, resolved against one header."""

    header: list[str]
    columns: list[str]  # every feature column, in the order requested
    numeric: list[str]
    categorical: list[str]
    num_cols: list[int]  # file indices of the numeric features, then of the weight column
    text_cols: list[int]  # file indices of the target (first, if any), then categorical columns
    weight_col: int | None
    target_col: int | None
    target: str | None


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
    target = req.target
    if target is not None and target not in seen:
        if req.target_required:
            separator = next((c for c in (";", "\t", "|") if len(header) == 1 and c in header[0]),
                             None)  # one column whose name holds the separators
            raise DataError(f"target column {target!r} not found; columns found: {found}",
                            path=path, line=1,
                            hint=f"The values are separated by {separator!r}: nnlearn reads "
                                 "comma-separated files, so save it with commas." if separator
                            else f"The model predicts {target!r}: scoring needs that column "
                                 "(nnlearn predict reads a file without it)." if req.for_model
                            else "Set the target column name to one of the columns in the "
                                 "header.")
        target = None
    weight = req.weight_column
    if weight is not None and weight not in seen:
        raise DataError(f"weight column {weight!r} not found; columns found: {found}",
                        path=path, line=1)
    if weight is not None and weight == req.target:
        raise DataError(f"column {weight!r} cannot be both the target and the weights", path=path)
    if req.features is None:
        names = [h for h in header if h not in (req.target, weight)]
        if "" in names:
            raise DataError(
                f"column {names.index('') + 1} has an empty name in the header", path=path,
                line=1, hint="Name every column, or list the feature columns explicitly "
                "(a pandas index column saved without a name looks like this).")
    else:
        names = [str(f) for f in req.features]
        dups = sorted({f for f in names if names.count(f) > 1})
        if dups:
            raise DataError(f"feature columns listed more than once: {dups}", path=path)
        missing = [f for f in names if f not in seen]
        if missing:
            raise DataError(f"feature column(s) {missing} not found; columns found: {found}",
                            path=path, line=1)
        for special, what in ((req.target, "target"), (weight, "weight")):
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
    numeric = [n for n in names if n not in req.categorical]
    categorical = [n for n in names if n in req.categorical]
    weight_col = seen[weight] if weight is not None else None
    target_col = seen[target] if target is not None else None
    return _Layout(list(header), names, numeric, categorical,
                   [seen[n] for n in numeric] + ([weight_col] if weight is not None else []),
                   ([target_col] if target is not None else []) + [seen[n] for n in categorical],
                   weight_col, target_col, target)


def _column_list(header: list[str]) -> str:
    more = f", ... ({len(header)} columns)" if len(header) > 30 else ""
    return "[" + ", ".join(repr(h) for h in header[:30]) + more + "]"


def _shown(cell: str) -> str:
    return repr(cell if len(cell) <= 40 else cell[:40] + "...")


def _table(path: str, lay: _Layout, values: np.ndarray, text: list[np.ndarray],
           lines: np.ndarray) -> Table:
    """A Table from the numeric columns (``lay.num_cols`` order) and the text columns."""
    d = len(lay.numeric)
    y = text.pop(0) if lay.target_col is not None else None
    return Table(path, lay.header, values[:, :d] if values.shape[1] > d else values, lay.numeric,
                 y, lay.target, lines, values[:, d].copy() if lay.weight_col is not None else None,
                 dict(zip(lay.categorical, text)), lay.columns)


# -- fast: a parser library, after a scan that tells whether its result can be trusted ----------


def _read_fast(path: str, req: _Request) -> Table | None:
    """A table from the parser library, or None: "let the careful pass read (and judge) it"."""
    with open(path, "rb") as fh:
        try:
            first = fh.readline().removeprefix(b"\xef\xbb\xbf").decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            return None
        if not first.strip() or "\r" in first or "\x00" in first or first.count('"') % 2:
            return None  # empty, or a header the csv module must parse (and judge)
        try:
            header = [c.strip() for c in next(csv.reader([first]))]
        except csv.Error:
            return None
        lay = _resolve_columns(header, req, path)
        arrow = _has_arrow()  # pyarrow checks the number of fields itself; np.loadtxt does not
        scanned = _scan(fh, None if arrow else len(header))
    if scanned is None or not scanned[0]:
        return None  # something the parsers would misread, or no rows: the careful pass says
    rows, blocks = scanned
    parsed = (_parse_arrow(path, lay, len(header), rows, blocks, req) if arrow
              else _parse_numpy(path, lay, rows, req))
    if parsed is None:
        return None
    values, text = parsed
    if lay.weight_col is not None and (values[:, len(lay.numeric)] < 0).any():
        return None
    text = [np.char.strip(col) for col in text]
    # empty text cells: never in the target (first), in categorical columns if allowed
    skip = len(text) if not req.allow_missing else 1 if lay.target_col is not None else 0
    if any((col == "").any() for col in text[:skip]):
        return None
    return _table(path, lay, values, text, np.arange(2, rows + 2, dtype=np.int64))


def _scan(fh: io.BufferedReader, n_fields: int | None) -> tuple[int, list[tuple[int, int]]] | None:
    """The number of lines after the header up to the last one with data, and the (offset, size)
    of blocks of whole lines (of about _BLOCK_BYTES) for pyarrow; or None when the parsers could
    misread the file: not UTF-8, a NUL byte, a carriage return that does not end a line, or
    (``n_fields`` given, for np.loadtxt, which only looks at some columns) a comma count other
    than n_fields - 1 per line. A blank line between rows or a multi-line quoted field shows up
    as fewer rows parsed than counted here."""
    lines = rows = commas = 0
    blocks: list[tuple[int, int]] = []
    start = fh.tell()
    chunk = bytearray(_SCAN_BYTES)  # reused: a new buffer per chunk is new pages to fault in
    while size := fh.readinto(chunk):
        del chunk[size:]  # the last chunk is shorter
        chunk += fh.readline()  # end on a newline: no "\r\n" nor UTF-8 character cut in two
        if not chunk.isascii():
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError:
                return None
        if b"\x00" in chunk or b"\r" in chunk and chunk.count(b"\r") != chunk.count(b"\r\n"):
            return None
        tail = chunk[-4096:]  # strip trailing blanks without copying the whole chunk
        end = len(chunk) - len(tail) + len(tail.rstrip(_BLANK))
        if end == len(chunk) - len(tail):
            end = len(chunk.rstrip(_BLANK))
        inside = chunk.count(b"\n", 0, end)
        if end:
            rows = lines + inside + 1
        lines += inside + chunk.count(b"\n", end)
        if n_fields is not None:
            commas += chunk.count(b",")
        if blocks and blocks[-1][1] < _BLOCK_BYTES:
            blocks[-1] = (blocks[-1][0], blocks[-1][1] + len(chunk))
        else:
            blocks.append((start, len(chunk)))
        start += len(chunk)
    if n_fields is not None and commas != rows * (n_fields - 1):
        return None  # a row with more or fewer fields, or commas inside quotes
    return rows, blocks


def _has_arrow() -> bool:
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


def _finite(values: np.ndarray, nulls: int, req: _Request, d: int) -> bool:
    """No NaN or infinity in ``values`` except one NaN per empty feature cell (``nulls`` of
    them, when missing values are allowed; never in the weights, columns d and on)."""
    bad = ~np.isfinite(values)
    return not bad.any() or (req.allow_missing and int(np.count_nonzero(bad)) == nulls
                             and not bad[:, d:].any())


_Parsed = tuple[np.ndarray, list[np.ndarray]]  # numbers, text columns


def _parse_numpy(path: str, lay: _Layout, rows: int, req: _Request) -> _Parsed | None:
    """np.loadtxt, once for the numeric columns, once for the text columns. It refuses empty
    numeric cells, so a file with missing values is read by the careful pass."""
    opts = {"delimiter": ",", "skiprows": 1, "comments": None, "quotechar": '"', "ndmin": 2,
            "encoding": "utf-8"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = (np.loadtxt(path, usecols=lay.num_cols, **opts) if lay.num_cols
                      else np.empty((rows, 0)))
            text = (np.loadtxt(path, dtype=str, usecols=lay.text_cols, **opts).T
                    if lay.text_cols else np.empty((0, rows), dtype=str))
    except (ValueError, UnicodeError, OverflowError, TypeError):
        return None  # a cell it cannot convert, a short row, ...: the careful pass words it
    if values.shape[0] != rows or text.shape[1] != rows or not _finite(values, 0, req, 0):
        return None
    return values, list(text)


def _parse_arrow(path: str, lay: _Layout, n_fields: int, rows: int, blocks: list[tuple[int, int]],
                 req: _Request) -> _Parsed | None:
    """pyarrow.csv on its threads, one block of the scan at a time, each table copied into one
    preallocated matrix and dropped: the peak is the result plus one block's table, where a
    table of the whole file would be a second copy of the result."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(n_fields)]
    num = [names[i] for i in lay.num_cols]
    txt = [names[i] for i in lay.text_cols]
    # text as dictionary-encoded columns: few distinct labels, converted once per batch
    types = {**{n: pa.float64() for n in num},
             **{n: pa.dictionary(pa.int32(), pa.string()) for n in txt}}
    convert = pacsv.ConvertOptions(column_types=types, include_columns=num + txt,
                                   null_values=[""], strings_can_be_null=False,
                                   quoted_strings_can_be_null=False)
    read = pacsv.ReadOptions(column_names=names, block_size=_ARROW_BLOCK, use_threads=True)
    # the C library's allocator rather than Arrow's default pool: with a table allocated and
    # freed per block on Arrow's threads, the default pool spent more time in the kernel and
    # peaked higher (benchmarks/README.md)
    pool = pa.system_memory_pool()
    values = np.empty((rows, len(num)))
    strings: list[list[np.ndarray]] = [[] for _ in txt]
    n = 0
    try:
        with pa.OSFile(path, memory_pool=pool) as fh:
            for start, size in blocks:
                # read_buffer: memory Arrow owns. (read_at returns Python bytes, which Arrow's
                # threads may release after read_csv has returned -- during the interpreter's
                # shutdown, too, where taking the GIL to free them aborts the process.)
                fh.seek(start)
                batches = pacsv.read_csv(pa.BufferReader(fh.read_buffer(size)),
                                         read_options=read, convert_options=convert,
                                         memory_pool=pool).to_batches()
                batches.reverse()  # popped in file order, each released once copied
                while batches:
                    batch = batches.pop()
                    m = batch.num_rows
                    if n + m > rows:
                        return None
                    if num:
                        part = batch.select(num)
                        nulls = sum(col.null_count for col in part.columns)
                        part = np.asarray(part.to_tensor(null_to_nan=nulls > 0, memory_pool=pool))
                        if not _finite(part, nulls, req, len(lay.numeric)):
                            return None
                        values[n : n + m] = part
                    for k, name in enumerate(txt):  # the int32 indices from their buffer:
                        col = batch.column(name)  # to_numpy() would import pandas
                        index = np.frombuffer(col.indices.buffers()[1], dtype=np.int32,
                                              count=len(col), offset=4 * col.indices.offset)
                        strings[k].append(np.asarray(col.dictionary.to_pylist(), dtype=str)[index])
                    n += m
    except (pa.ArrowException, ValueError):
        return None
    if n != rows:
        return None
    return values, [np.concatenate(parts) for parts in strings]


# -- careful: the csv module, row by row; finds the first problem and says where it is ----------


def _decode(path: str) -> tuple[str, DataError | None]:
    """The file as text, BOM removed. If it is not valid UTF-8: the text of the whole lines
    before the bad byte, and the error to raise once those lines have been checked (so that an
    earlier problem is still reported first)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", path=path) from None
    try:
        return data.decode("utf-8").removeprefix("\ufeff"), None
    except UnicodeDecodeError as exc:
        text = data[:data.rfind(b"\n", 0, exc.start) + 1].decode("utf-8", errors="replace")
        return text.removeprefix("\ufeff"), DataError(
            f"the file is not valid UTF-8 (byte {data[exc.start:exc.start + 1]!r} at offset "
            f"{exc.start})", path=path, line=data.count(b"\n", 0, exc.start) + 1,
            hint="Save the file as UTF-8 (e.g. from a spreadsheet: 'CSV UTF-8').")


def _rows(path: str, text: str, encoding_error: DataError | None):
    """(line, cells) of every non-blank row; the encoding error, if any, after the last."""
    reader = csv.reader(io.StringIO(text, newline=""))
    end = 0
    try:
        for row in reader:
            line, end = end + 1, reader.line_num
            if len(row) > 1 or row and row[0].strip():
                yield line, row
    except csv.Error as exc:
        if encoding_error is not None:
            raise encoding_error from None
        raise DataError(f"malformed CSV ({exc})", path=path, line=end + 1) from None
    if encoding_error is not None:
        raise encoding_error


def _cell_number(cell: str, path: str | None, line: int | None, column: str | None,
                 hint: str | None = None) -> float:
    """The exact (reporting) conversion of one numeric cell. ``hint`` goes with a
    non-numeric value."""
    text = cell.strip()
    if text == "":
        raise DataError("empty cell, expected a number", path=path, line=line, column=column,
                        hint="data.missing: mean fills empty cells (a column's mean, or a "
                             "categorical column's most frequent value)"
                        if hint is _NOT_NUMERIC_HINT else None)
    if _NUMBER_RE.fullmatch(text):
        value = float(text)
        if math.isfinite(value):
            return value
        raise DataError(f"value {_shown(text)} is too large for a 64-bit float (non-finite)",
                        path=path, line=line, column=column)
    if hint is _NOT_NUMERIC_HINT and text.lower() in _MISSING_MARKERS:  # a training feature
        hint = _MISSING_HINT
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not math.isfinite(value):
        raise DataError(f"non-finite value {_shown(text)}, expected a finite number",
                        path=path, line=line, column=column,
                        hint=hint if hint is _MISSING_HINT else "remove the row or fill the "
                                                                  "value in")
    raise DataError(f"non-numeric value {_shown(text)}, expected a number like 3.5 or -2e-3",
                    path=path, line=line, column=column, hint=hint)


_NUMBER_CHARS = np.zeros(128, dtype=bool)
_NUMBER_CHARS[[0, *map(ord, "0123456789+-.eE")]] = True  # 0: numpy pads strings with NUL


def parse_numbers(cells: np.ndarray | list[str]) -> np.ndarray | None:
    """(n,) float64 when every cell (stripped) follows the number grammar and is finite, else
    None. Only digits, signs, '.', 'e' and 'E' may appear (no nan, inf, underscores, non-ASCII
    digits, which ``float()`` takes); then ``float()`` judges their order and rounds."""
    arr = np.char.strip(np.asarray(cells, dtype=str).reshape(-1))
    codes = arr.view(np.uint32)
    if (codes >= 128).any() or not _NUMBER_CHARS[codes].all():
        return None
    try:
        values = arr.astype(np.float64)
    except ValueError:  # an empty cell, "1e", "--1", ...
        return None
    return values if np.isfinite(values).all() else None


def _read_careful(path: str, req: _Request) -> Table:
    lay: _Layout | None = None
    values: list[list[float]] = []
    cells: list[list[str]] = []
    lines: list[int] = []
    for line, row in _rows(path, *_decode(path)):
        if lay is None:
            lay = _resolve_columns([c.strip() for c in row], req, path)
            order = sorted([(c, j) for j, c in enumerate(lay.num_cols)]
                           + [(c, -1) for c in lay.text_cols])
            continue
        if len(row) != len(lay.header):
            raise DataError(
                f"expected {len(lay.header)} fields, found {len(row)}", path=path, line=line,
                hint="Every row needs one value per header column; a decimal comma or an "
                "unquoted comma inside a value adds fields.")
        values.append(_careful_row(row, line, order, lay, req, path))
        cells.append([row[c].strip() for c in lay.text_cols])
        lines.append(line)
    if lay is None:
        raise DataError("the file is empty, expected a header line", path=path)
    if not lines:
        raise DataError("the file has a header but no data rows", path=path,
                        hint="A CSV file needs a header line, then one line per sample.")
    text = np.array(cells, dtype=str).reshape(len(lines), -1).T
    return _table(path, lay, np.array(values, dtype=np.float64).reshape(len(lines), -1),
                  list(text), np.asarray(lines, dtype=np.int64))


def _careful_row(row: list[str], line: int, order: list, lay: _Layout, req: _Request,
                 path: str) -> list[float]:
    """The numeric cells of one row, checking every selected cell left to right."""
    out = [0.0] * len(lay.num_cols)
    for col, j in order:  # j: the column's place among the numbers, -1 for a text column
        name, cell = lay.header[col], row[col]
        if j < 0:
            if cell.strip() == "" and (col == lay.target_col or not req.allow_missing):
                what = "target cell, expected a label or a value" if col == lay.target_col \
                    else "cell, expected a category"
                raise DataError(f"empty {what}", path=path, line=line, column=name)
        elif req.allow_missing and col != lay.weight_col and cell.strip() == "":
            out[j] = math.nan
        else:
            out[j] = _cell_number(cell, path, line, name,
                                  None if col == lay.weight_col or req.for_model
                                  else _NOT_NUMERIC_HINT)
            if col == lay.weight_col and out[j] < 0:
                raise DataError(f"negative sample weight {_shown(cell.strip())}, expected a "
                                "weight >= 0", path=path, line=line, column=name)
    return out


def read_columns(path: str, columns: list[str], lines: np.ndarray) -> list[list[str]]:
    """The stripped cells of ``columns`` (ids, names...) in the rows at ``lines`` (a Table's),
    in that order: identifying columns carried into a predictions file."""
    text, encoding_error = _decode(path)
    if encoding_error is not None:
        raise encoding_error
    slots: list[int] | None = None
    by_line: dict[int, list[str]] = {}
    for line, row in _rows(path, text, None):
        if slots is None:
            header = [c.strip() for c in row]
            missing = [c for c in columns if c not in header]
            if missing:
                raise DataError(f"no column {missing[0]!r} to keep; the columns are "
                                f"{_column_list(header)}", path=path)
            slots = [header.index(c) for c in columns]
        else:
            by_line[line] = [row[i].strip() if i < len(row) else "" for i in slots]
    return [by_line[int(n)] for n in lines]
