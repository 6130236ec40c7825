"""nnlearn's data layer: CSV file -> arrays, with errors that point at a line and a column.

Rows are samples. ``read_csv`` returns a :class:`Table` holding ``X`` (n, d) float64, the raw
target cells ``y`` (n,) as strings, the physical line of every row and optional sample weights.
Everything after reading works on arrays: :func:`infer_task`, :class:`LabelEncoder`,
:func:`regression_targets`, :class:`Standardizer`, :func:`split_indices`, :func:`minibatches`,
:func:`class_weights_balanced`.

How a CSV file is read
----------------------
Two readers share one contract and one number grammar.

* The **fast path** reads the file in chunks of whole lines and converts every numeric cell of a
  chunk with vectorised numpy arithmetic (see :func:`_parse_block`). It only accepts chunks it
  can prove are clean: quotes only around whole fields without commas or newlines inside them
  (R's ``write.csv`` style), no stray carriage returns, every line with the same
  number of fields, every numeric cell matching the grammar below and finite. The moment it sees
  anything else it gives up and the file is read again by

* the **slow path**: the ``csv`` module, row by row, whose job is to parse what the fast path
  cannot (quoted fields) and otherwise to find the FIRST problem in the file and report it with
  its physical line (header = line 1) and column name.

Both produce bit-identical results on files both accept (the tests check this).

A numeric cell is, after stripping spaces and tabs, ``[+-]?(digits[.[digits]] | .digits)
([eE][+-]?digits)?`` -- what ``float()`` accepts minus ``nan``/``inf`` spellings, underscores
and non-ASCII digits. Values are rounded correctly (identical to ``float()``).

Why it is shaped like this (speed and memory)
---------------------------------------------
The fast path never holds the file in memory: it counts lines first, allocates ``X`` once at
its final size, and fills it chunk by chunk (512 KiB, so the temporaries stay in cache). Each
chunk is parsed by a fixed number of whole-array numpy operations -- no Python loop over rows
or cells -- and, when the machine has an idle core, two chunks are parsed at once (numpy
releases the GIL inside its loops). Peak memory is about the output plus a few chunks, well
under pandas'. Short numbers (up to 8 digits, e.g. ``%.6f``) take the cheapest route; full
precision numbers (17-19 digits, ``repr`` or ``%.18e``) need more arithmetic per cell and are
about twice as slow to read. ``benchmarks/csv_speed.py`` measures all of this against pandas.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from functools import partial

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nnlearn.errors import ConfigError, DataError

__all__ = [
    "MAX_CLASSES_FOR_INTEGER_TARGET",
    "LabelEncoder",
    "Standardizer",
    "Table",
    "class_weights_balanced",
    "infer_task",
    "minibatches",
    "read_csv",
    "regression_targets",
    "split_indices",
]

#: ``infer_task`` calls an integer-valued numeric target a classification target when it has at
#: most this many distinct values.
MAX_CLASSES_FOR_INTEGER_TARGET = 20

_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_CELL_SPACE = " \t"  # what is stripped around a numeric cell (the fast path agrees)
_CHUNK_BYTES = 1 << 19  # fast path chunk: 512 KiB keeps the temporary arrays in cache
_SLOW_BLOCK_ROWS = 8192  # slow path converts numeric cells in blocks of this many rows
_MAX_SHOWN = 40  # a quoted cell value is cut to this many characters in messages
_THREADS = min(2, os.cpu_count() or 1)  # at most this many chunks parsed at once

# (rows, values (rows, k), target strings or None, kept line offsets or None, physical lines)
_Parsed = tuple[int, np.ndarray, "np.ndarray | None", "np.ndarray | None", int]


@dataclass
class Table:
    """A CSV file read into arrays.

    Attributes:
        path: the file that was read.
        header: every column name, in file order (surrounding whitespace stripped).
        X: (n, d) float64 feature matrix, columns in the order of ``feature_names``.
        feature_names: the d feature columns, in the order requested.
        y: (n,) str array of raw target cells (whitespace stripped), or None when no target was
           requested or it was absent and not required.
        target: the target column name, or None when ``y`` is None.
        lines: (n,) int64 physical line number of each row (header = line 1), so that later
           errors (an unseen label, a bad regression value) can point back into the file.
        weights: (n,) float64 non-negative sample weights, or None.
    """

    path: str
    header: list[str]
    X: np.ndarray
    feature_names: list[str]
    y: np.ndarray | None
    target: str | None
    lines: np.ndarray
    weights: np.ndarray | None

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


# --------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------


def read_csv(
    path: str | os.PathLike,
    *,
    target: str | None,
    features: list[str] | None = None,
    target_required: bool = True,
    weight_column: str | None = None,
) -> Table:
    """Read a CSV file with a header line into a :class:`Table`.

    Columns are selected BY NAME, so a later file (e.g. the one to predict on) may order its
    columns differently or carry extra columns, which are ignored.

    Args:
        path: the CSV file (UTF-8, optional BOM, LF or CRLF line endings, comma separated).
        target: name of the target column, or None for no target.
        features: feature column names in the order wanted in ``X``; None means every column
            except ``target`` and ``weight_column``, in file order.
        target_required: when False and the target column is absent, ``y`` is None (predicting
            on unlabeled data) instead of an error.
        weight_column: optional column of non-negative, finite sample weights.

    Raises:
        DataError: the file is missing, unreadable, not UTF-8, empty, malformed, or a selected
            cell is empty, non-numeric or non-finite; ``line`` and ``column`` say where.
    """
    spath = os.fspath(path)
    _check_readable(spath)
    request = _Request(target, features, target_required, weight_column)
    try:
        with open(spath, "rb") as fh:
            table = _read_fast(spath, fh, request)
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", path=spath) from None
    if table is None:
        table = _read_slow(spath, request)
    return table


def _check_readable(path: str) -> None:
    if not os.path.exists(path):
        raise DataError("file not found", path=path, hint="Check the path and the file name.")
    if os.path.isdir(path):
        raise DataError("is a directory, expected a CSV file", path=path)
    if not os.path.isfile(path):
        # A FIFO or a device: the reader needs to read a file twice (and seek), and opening a
        # FIFO nobody writes to would block forever.
        raise DataError("is not a regular file (a pipe or a device?), expected a CSV file",
                        path=path, hint="Save the data to a file first.")
    if not os.access(path, os.R_OK):
        raise DataError("file is not readable (permission denied)", path=path)


# --------------------------------------------------------------------------------------------
# header and column selection (shared by both paths)
# --------------------------------------------------------------------------------------------


@dataclass
class _Request:
    target: str | None
    features: list[str] | None
    target_required: bool
    weight_column: str | None


@dataclass
class _Layout:
    """Which file columns to read, resolved against one header."""

    header: list[str]
    feature_names: list[str]
    numeric_cols: np.ndarray  # file indices of numeric columns to parse, ascending
    feature_slots: np.ndarray  # X[:, i] = parsed[:, feature_slots[i]]
    weight_slot: int | None  # parsed[:, weight_slot] is the weight column
    target_col: int | None  # file index of the target column
    target: str | None


def _parse_header(text: str, path: str) -> list[str]:
    try:
        rows = list(csv.reader([text]))
    except csv.Error as exc:
        raise DataError(f"cannot parse the header line ({exc})", path=path, line=1) from None
    names = [c.strip() for c in rows[0]] if rows else []
    return names


def _resolve_columns(header: list[str], req: _Request, path: str) -> _Layout:
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in seen and name != "":
            raise DataError(
                f"duplicate column name {name!r} (columns {seen[name] + 1} and {i + 1})",
                path=path,
                line=1,
                hint="Column names must be unique because columns are selected by name.",
            )
        seen.setdefault(name, i)
    found = _column_list(header)

    target_col: int | None = None
    target = req.target
    if target is not None:
        if target in seen:
            target_col = seen[target]
        elif req.target_required:
            raise DataError(
                f"target column {target!r} not found; columns found: {found}",
                path=path,
                line=1,
                hint="Set the target column name to one of the columns in the header.",
            )
        else:
            target = None

    weight_col: int | None = None
    if req.weight_column is not None:
        if req.weight_column not in seen:
            raise DataError(
                f"weight column {req.weight_column!r} not found; columns found: {found}",
                path=path,
                line=1,
            )
        weight_col = seen[req.weight_column]
        if req.weight_column == req.target:
            raise DataError(
                f"column {req.weight_column!r} cannot be both the target and the weights",
                path=path,
            )

    if req.features is None:
        excluded = {req.target, req.weight_column}
        names = [h for h in header if h not in excluded]
        if "" in names:
            raise DataError(
                f"column {names.index('') + 1} has an empty name in the header",
                path=path,
                line=1,
                hint="Name every column, or list the feature columns explicitly "
                "(a pandas index column saved without a name looks like this).",
            )
    else:
        names = [str(f) for f in req.features]
        dups = sorted({f for f in names if names.count(f) > 1})
        if dups:
            raise DataError(f"feature columns listed more than once: {dups}", path=path)
        missing = [f for f in names if f not in seen]
        if missing:
            raise DataError(
                f"feature column(s) {missing} not found; columns found: {found}",
                path=path,
                line=1,
            )
        for special, what in ((req.target, "target"), (req.weight_column, "weight")):
            if special is not None and special in names:
                raise DataError(
                    f"column {special!r} is listed as a feature and is also the {what} column",
                    path=path,
                )
    if not names:
        raise DataError(
            "no feature columns to read"
            + (f" (the only columns are {found})" if req.features is None else ""),
            path=path,
        )

    feat_cols = [seen[n] for n in names]
    wanted = sorted(set(feat_cols) | ({weight_col} if weight_col is not None else set()))
    slot_of = {c: i for i, c in enumerate(wanted)}
    return _Layout(
        header=list(header),
        feature_names=names,
        numeric_cols=np.asarray(wanted, dtype=np.int64),
        feature_slots=np.asarray([slot_of[c] for c in feat_cols], dtype=np.int64),
        weight_slot=slot_of[weight_col] if weight_col is not None else None,
        target_col=target_col,
        target=target,
    )


def _column_list(header: list[str]) -> str:
    shown = ", ".join(repr(h) for h in header[:30])
    more = f", ... ({len(header)} columns)" if len(header) > 30 else ""
    return f"[{shown}{more}]"


def _shown(cell: str) -> str:
    return repr(cell if len(cell) <= _MAX_SHOWN else cell[:_MAX_SHOWN] + "...")


# --------------------------------------------------------------------------------------------
# fast path
# --------------------------------------------------------------------------------------------


class _Unclean(Exception):
    """Raised inside the fast path when a chunk is not provably clean; the slow path takes over."""


def _read_fast(path: str, fh: io.BufferedReader, req: _Request) -> Table | None:
    """Read a clean file chunk by chunk; None means "let the slow path read (and judge) it".

    Peak memory is the output arrays plus a few chunk-sized temporaries: the file is never held
    in memory whole. A first pass counts newlines so ``X`` is allocated once at its final size.
    """
    first = fh.readline()
    if first.startswith(b"\xef\xbb\xbf"):
        first = first[3:]
    if not first.strip() or b"\x00" in first:
        return None  # empty file, a blank first line or a NUL: the slow path explains
    try:
        header_text = first.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return None
    if "\r" in header_text or (header_text.count('"') % 2):
        return None
    header = _parse_header(header_text, path)
    layout = _resolve_columns(header, req, path)
    ncols = len(header)

    body_start = fh.tell()
    n_max = 0
    while True:
        data = fh.read(_CHUNK_BYTES)
        if not data:
            break
        n_max += int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 10))
    n_max += 1  # a last line without a newline
    fh.seek(body_start)

    X = np.empty((n_max, len(layout.feature_names)), dtype=np.float64)
    lines = np.empty(n_max, dtype=np.int64)
    weights = np.empty(n_max, dtype=np.float64) if layout.weight_slot is not None else None
    y_parts: list[np.ndarray] = []
    job = partial(
        _parse_chunk,
        ncols=ncols,
        numeric_cols=layout.numeric_cols,
        target_col=layout.target_col,
        weight_slot=layout.weight_slot,
    )
    identity = layout.feature_slots.size == layout.numeric_cols.size and bool(
        (layout.feature_slots == np.arange(layout.numeric_cols.size)).all()
    )
    n = 0
    next_line = 2
    try:
        for rows, values, strings, kept, n_physical in _map_in_order(job, _chunks(fh)):
            if rows:
                if identity:
                    X[n : n + rows] = values
                else:
                    np.take(values, layout.feature_slots, axis=1, out=X[n : n + rows])
                if weights is not None:
                    weights[n : n + rows] = values[:, layout.weight_slot]
                if kept is None:
                    lines[n : n + rows] = np.arange(next_line, next_line + rows)
                else:
                    lines[n : n + rows] = next_line + kept
                if strings is not None:
                    y_parts.append(strings)
                n += rows
            next_line += n_physical
    except _Unclean:
        return None
    if n == 0:
        return None  # header only: the slow path words the error
    X = _shrink(X, n)
    lines = _shrink(lines, n)
    weights = _shrink(weights, n) if weights is not None else None
    y = None
    if layout.target_col is not None:
        y = np.concatenate(y_parts) if len(y_parts) > 1 else y_parts[0]
    return Table(
        path=path,
        header=layout.header,
        X=X,
        feature_names=layout.feature_names,
        y=y,
        target=layout.target,
        lines=lines,
        weights=weights,
    )


def _shrink(a: np.ndarray, n: int) -> np.ndarray:
    """Cut a preallocated array to n rows in place (no copy), or copy if numpy refuses."""
    if a.shape[0] == n:
        return a
    try:
        a.resize((n, *a.shape[1:]), refcheck=False)
        return a
    except ValueError:  # pragma: no cover - only if the buffer is shared
        return a[:n].copy()


def _chunks(fh: io.BufferedReader) -> Iterator[bytes]:
    """The rest of the file in pieces of about _CHUNK_BYTES, each ending with a newline."""
    rest = b""
    while True:
        data = fh.read(_CHUNK_BYTES)
        if not data:
            if rest:
                yield rest + b"\n"
            return
        data = rest + data
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        yield data[: cut + 1]
        rest = data[cut + 1 :]


def _map_in_order(fn: Callable[[bytes], _Parsed], items: Iterator[bytes]) -> Iterator[_Parsed]:
    """fn over items on up to _THREADS threads, results in order, few pending at a time.

    numpy releases the GIL inside its loops, so two chunks really are parsed at once; the
    window bounds memory to a few chunks.
    """
    threads = _threads_worth_using()
    if threads <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) > threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()


def _threads_worth_using() -> int:
    """_THREADS, or 1 when the machine has no idle core: numpy's many short GIL-free calls make
    two threads hand the GIL back and forth, which only pays when both can run at once."""
    if _THREADS <= 1:
        return 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on this platform
        return _THREADS
    idle = (os.cpu_count() or 1) - load
    return _THREADS if idle >= 1.0 else 1


def _parse_chunk(
    chunk: bytes,
    *,
    ncols: int,
    numeric_cols: np.ndarray,
    target_col: int | None,
    weight_slot: int | None,
) -> _Parsed:
    """Parse one chunk of whole lines -> (rows, values, strings, kept, n_physical).

    ``kept`` is None when every physical line was a row, else the 0-based offsets of the lines
    kept after dropping blank ones; ``n_physical`` is the number of lines the chunk spans.
    """
    chunk = _normalise_chunk(chunk)
    try:
        rows, values, strings = _parse_block(chunk, ncols, numeric_cols, target_col)
        kept = None
        n_physical = rows
    except _Unclean:
        if not (chunk.startswith(b"\n") or b"\n\n" in chunk):
            raise
        parts = chunk.split(b"\n")[:-1]
        keep = [i for i, p in enumerate(parts) if p]
        kept = np.asarray(keep, dtype=np.int64)
        n_physical = len(parts)
        if not keep:
            return 0, np.empty((0, numeric_cols.size)), None, kept, n_physical
        chunk = b"".join(parts[i] + b"\n" for i in keep)
        rows, values, strings = _parse_block(chunk, ncols, numeric_cols, target_col)
    if weight_slot is not None and (values[:, weight_slot] < 0).any():
        raise _Unclean  # the slow path words "negative weight"
    return rows, values, strings, kept, n_physical


def _normalise_chunk(chunk: bytes) -> bytes:
    """CRLF -> LF and simple quotes removed, for a chunk of whole lines; refuse what only the
    slow path may judge."""
    if b"\x00" in chunk:
        raise _Unclean
    if not chunk.isascii():
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError:
            raise _Unclean from None
    if b"\r" in chunk:
        if chunk.count(b"\r") != chunk.count(b"\r\n"):
            raise _Unclean  # a bare CR ends a record for the csv module; let it decide
        chunk = chunk.replace(b"\r\n", b"\n")
    if b'"' in chunk:
        chunk = _strip_simple_quotes(chunk)
    return chunk


def _strip_simple_quotes(chunk: bytes) -> bytes:
    """Remove quotes that only wrap whole fields, as R's write.csv puts around labels.

    Allowed: each quote pair opens right after a separator (or a line start) and closes right
    before one, with no comma, newline or quote inside -- then the csv module would read
    exactly the text between the quotes, so deleting the quotes changes nothing. Anything
    else (an escaped "" quote, a comma or newline inside quotes) is unclean.
    """
    buf = np.frombuffer(chunk, dtype=np.uint8)
    quotes = np.flatnonzero(buf == 34)
    if quotes.size % 2:
        raise _Unclean
    opens, closes = quotes[0::2], quotes[1::2]
    before = buf[np.maximum(opens - 1, 0)]
    after = buf[closes + 1]  # a chunk ends with a newline, so a closing quote is never last
    ok = ((before == 44) | (before == 10) | (opens == 0)) & ((after == 44) | (after == 10))
    separators = np.flatnonzero((buf == 44) | (buf == 10))
    ok &= np.searchsorted(separators, opens) == np.searchsorted(separators, closes)
    if not ok.all():
        raise _Unclean
    return chunk.replace(b'"', b"")


# --------------------------------------------------------------------------------------------
# the vectorised number parser
# --------------------------------------------------------------------------------------------

_PAD = 64  # bytes of '0' in front of a block so that right-aligned windows never underflow
_TWO53 = 1 << 53
_P10 = np.array([10.0**i for i in range(23)])  # exact in float64 up to 1e22
_DD_KMIN, _DD_KMAX = -280, 288  # double-double path: results stay normal, no overflow


def _dd_table() -> tuple[np.ndarray, np.ndarray]:
    """10**k as an unevaluated sum hi + lo of two doubles (about 106 bits), exact to the ulp."""
    his, los = [], []
    for k in range(_DD_KMIN, _DD_KMAX + 1):
        exact = Fraction(10) ** k
        hi = float(exact)  # Fraction -> float rounds correctly
        lo = float(exact - Fraction(hi))
        his.append(hi)
        los.append(lo)
    return np.array(his), np.array(los)


_DD_HI, _DD_LO = _dd_table()
_SPLITTER = 134217729.0  # 2**27 + 1, Veltkamp/Dekker splitting constant
_EXP_BITS = np.uint64(0x7FF0000000000000)
_MANT_BITS = np.uint64(0x000FFFFFFFFFFFFF)


def _veltkamp_split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x == hi + lo with both halves of at most 26 significant bits, so their products are exact."""
    c = _SPLITTER * x
    hi = c - (c - x)
    return hi, x - hi


_DD_HI_H, _DD_HI_L = _veltkamp_split(_DD_HI)


def _swar8(words: np.ndarray) -> np.ndarray:
    """Eight ASCII digits packed little-endian in a uint64 -> their value (first byte = most
    significant digit), three multiply-and-mask steps instead of eight."""
    x = words - np.uint64(0x3030303030303030)
    x = (x * np.uint64(10) + (x >> np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    x = (x * np.uint64(100) + (x >> np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    x = (x * np.uint64(10000) + (x >> np.uint64(32))) & np.uint64(0xFFFFFFFF)
    return x


_PREFIX = b"0" * (_PAD - 1) + b"\n"  # '0' padding, then a newline acting as the 0-th separator
_P10U = np.array([10**i for i in range(20)], dtype=np.uint64)
_P10_FLOAT = np.array([10.0**i for i in range(25)])


def _parse_block(
    chunk: bytes, ncols: int, numeric_cols: np.ndarray, string_col: int | None
) -> tuple[int, np.ndarray, np.ndarray | None]:
    """Parse a clean block of CSV lines without a Python-level loop over cells.

    ``chunk`` holds whole lines, each ending in ``\\n``, no blank line, no CR, no quote. Returns
    ``(rows, values, strings)``: values (rows, len(numeric_cols)) float64 for the numeric
    columns in ``numeric_cols`` order, strings (rows,) stripped str cells of ``string_col``
    (None without one). Raises :class:`_Unclean` unless every line has ``ncols`` fields, every
    numeric cell matches the number grammar and is finite, and every string cell is non-empty.

    How: a number is ``sign * mantissa * 10**k``. Bytes that are not digits are few (the
    separators, a dot, a sign, an exponent), so one ``flatnonzero`` finds them all and the
    grammar is checked on them alone (:func:`_lean_numbers`). The digits of a cell are then
    fetched as right-aligned 8-byte words -- the dot squeezed out when the whole mantissa fits
    in one word -- and converted eight at a time (:func:`_swar8_digits`). ``mantissa * 10**k`` is
    rounded correctly: one IEEE operation when mantissa <= 2**53 and |k| <= 22 (Clinger's fast
    path), else a double-double product with an explicit test that the rounding is not
    ambiguous (:func:`_dd_scale`); the rare cells that fail that test, or whose mantissa needs
    more than 64 bits, go through ``float()``. Blocks the lean reader does not handle (spaces
    around numbers) go to :func:`_parse_general`, which is slower but as exact.
    """
    buf = np.frombuffer(_PREFIX + chunk, dtype=np.uint8)
    nd = np.flatnonzero((buf - np.uint8(48)) > 9)  # every byte that is not a digit
    ch = buf[nd]
    sq = np.flatnonzero((ch == 44) | (ch == 10))  # separators; sq[0] is the prefix newline
    rows = int(np.count_nonzero(ch == 10)) - 1
    nfields = sq.size - 1
    if rows == 0 or nfields != rows * ncols or nd[-1] != buf.size - 1:
        raise _Unclean
    if not (ch[sq[ncols::ncols]] == 10).all():
        raise _Unclean  # newlines are not where every line has ncols fields
    ends = sq[1:].reshape(rows, ncols)  # index into nd of the separator ending each field
    prevs = sq[:-1].reshape(rows, ncols)  # ... and of the one before it

    strings = None
    if string_col is not None:
        strings = _gather_strings(buf, nd[prevs[:, string_col]] + 1, nd[ends[:, string_col]])
    if numeric_cols.size == ncols:
        Q = sq[1:]
    elif numeric_cols[-1] - numeric_cols[0] == numeric_cols.size - 1:  # a range: no fancy copy
        Q = ends[:, numeric_cols[0] : numeric_cols[-1] + 1].ravel()
    else:
        Q = ends[:, numeric_cols].ravel()
    values = _lean_numbers(buf, nd, ch, Q, chunk)
    if values is None:
        return _parse_general(chunk, ncols, numeric_cols, string_col)
    return rows, values.reshape(rows, numeric_cols.size), strings


def _lean_numbers(
    buf: np.ndarray,
    nd: np.ndarray,
    ch: np.ndarray,
    Q: np.ndarray,
    chunk: bytes,
) -> np.ndarray | None:
    """Values of the fields ending at separators nd[Q], or None.

    Walks each field right to left over its non-digit bytes: [exponent [sign]] [dot] [sign],
    checking each one's kind, and requires that the walk then lands on a separator (which is
    necessarily the previous one). None means a field is
    not ``[+-]digits[.digits][(e|E)[+-]digits]`` without spaces (the caller decides).
    """
    words = np.ndarray(shape=(buf.size - 7,), dtype="<u8", buffer=buf, strides=(1,))
    m = Q.size
    # Positions and kinds of the non-digit bytes walked over; a run of digits is the gap
    # between two consecutive non-digit positions.
    p_end = nd[Q]
    c1 = ch[Q - 1]
    p1 = nd[Q - 1]
    hard = None
    exp10 = None
    M, mend, cd, p_prev = Q, p_end, c1, p1
    if b"e" in chunk or b"E" in chunk:
        bad = np.zeros(m, dtype=bool)
        is_e1 = (c1 | np.uint8(32)) == 101
        sign1 = (c1 == 43) | (c1 == 45)
        is_e2 = None
        if sign1.any():
            c2 = ch[np.maximum(Q - 2, 0)]
            is_e2 = sign1 & ((c2 | np.uint8(32)) == 101)
            if not is_e2.any():
                is_e2 = None
        if is_e1.any() or is_e2 is not None:
            has_e = is_e1 if is_e2 is None else (is_e1 | is_e2)
            n_exp_bytes = is_e1.astype(np.int64)
            if is_e2 is not None:
                n_exp_bytes += 2 * is_e2
                # no digits between 'e' and its sign
                bad |= is_e2 & (p1 - nd[np.maximum(Q - 2, 0)] != 1)
            n_exp = np.where(has_e, p_end - p1 - 1, 0)
            bad |= has_e & (n_exp == 0)
            if bad.any():
                return None
            hard = n_exp > 8
            with_e = np.flatnonzero(has_e)
            if with_e.size * 4 < m:  # a few cells in scientific notation: decode only those
                exp10 = np.zeros(m, dtype=np.int64)
                exp10[with_e] = _run_values(buf, p_end[with_e], np.minimum(n_exp[with_e], 8), 1)[0]
            else:
                exp10 = _run_values(buf, p_end, np.minimum(n_exp, 8), 1)[0].astype(np.int64)
            if is_e2 is not None:
                np.negative(exp10, out=exp10, where=is_e2 & (c1 == 45))
            M = Q - n_exp_bytes
            mend = p_end - n_exp - n_exp_bytes
            cd = ch[M - 1]
            p_prev = nd[M - 1]
    # int64 flags, so that the arithmetic below never mixes dtypes (mixed ufuncs are slow)
    dot = (cd == 46).view(np.uint8).astype(np.int64)
    S = M - 1 - dot  # a leading sign, or the previous separator
    pS = nd[S]
    cs = ch[S]
    n_frac = mend - p_prev - 1  # digits right before the mantissa end ...
    n_frac *= dot  # ... are the fraction if a dot precedes them
    n_dig = mend - pS - 1 - dot  # every byte between S and the mantissa end is a digit or the dot
    sign = (cs == 43) | (cs == 45)
    # S must be the previous separator, or a sign right after it (a bitwise select: np.where
    # has no fast uint8 loop)
    pick = np.negative(sign.view(np.uint8))  # 0xFF where there is a sign
    before = buf[pS - 1]
    before &= pick
    before |= cs & ~pick
    bad = (before != 44) & (before != 10)
    bad |= n_dig <= 0
    if bad.any():
        return None
    n_int = n_dig - n_frac
    has_dot = dot

    span = n_dig + has_dot
    if int(span.max()) <= 8:
        mant = _squeezed_mantissas(words, mend, n_frac, n_dig, has_dot)
    else:
        # Integer and fraction digits as two runs of up to 24 digits each. Leading zeros are
        # free, so what must fit in 64 bits is the value, not the number of digits.
        if hard is None:
            hard = np.zeros(m, dtype=bool)
        hard |= (n_int > 24) | (n_frac > 24)
        int_end = mend - n_frac - has_dot
        mant, over = _run_values(buf, int_end, n_int, _n_words(n_int, hard))
        hard |= over
        if has_dot.any():
            frac, over = _run_values(buf, mend, n_frac, _n_words(n_frac, hard))
            hard |= over
            # mant * 10**n_frac + frac must stay below 2**64 (with a safety margin in float)
            nz = mant > 0
            if nz.any():
                scaled = mant.astype(np.float64) * _P10_FLOAT[np.minimum(n_frac, 24)]
                hard |= nz & ((n_frac > 19) | (scaled >= 1.8e19))
            mant *= _P10U[np.minimum(n_frac, 19)]
            mant += frac
    negative = cs == 45

    mf = mant.astype(np.float64)
    exact = exp10 is None and (hard is None or not hard.any())
    if exact and int(n_dig.max()) <= 15 and int(n_frac.max()) <= 22:
        mf /= _P10[n_frac]  # Clinger: both exact, so one correctly rounded division
        return _set_sign(mf, negative)
    if hard is None:
        hard = np.zeros(m, dtype=bool)
    k = -n_frac if exp10 is None else exp10 - n_frac
    small = (mant <= np.uint64(_TWO53)) & (np.abs(k) <= 22)
    zero = mant == 0
    rest = ~(small | zero | hard)
    if rest.all():  # typical of 17-19 digit numbers: every cell takes the double-double path
        ok, values = _dd_scale(mant, k)
        hard |= ~ok
    else:
        kk = np.clip(k, -22, 22)
        with np.errstate(over="ignore", invalid="ignore"):
            values = np.where(kk >= 0, mf * _P10[np.abs(kk)], mf / _P10[np.abs(kk)])
        if rest.any():
            idx = np.flatnonzero(rest)
            ok, v = _dd_scale(mant[idx], k[idx])
            values[idx[ok]] = v[ok]
            hard[idx[~ok]] = True
    values[zero & ~hard] = 0.0
    if hard.any():
        starts = pS + 1 - sign - _PAD  # field start (after the previous separator)
        for i in np.flatnonzero(hard).tolist():
            values[i] = abs(float(chunk[starts[i] : p_end[i] - _PAD]))
    values = _set_sign(values, negative)
    if not np.isfinite(values).all():
        raise _Unclean
    return values


_TOP = np.array([0] + [((1 << (8 * k)) - 1) << (64 - 8 * k) for k in range(1, 9)], dtype=np.uint64)
_TOP_DIGITS = _TOP & np.uint64(0x0F0F0F0F0F0F0F0F)  # ASCII '0'..'9' & 0x0F == 0..9


def _set_sign(values: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Set the sign bit where ``negative`` (so "-0" gives -0.0, as float() does); in place."""
    bits = values.view(np.uint64)
    bits |= negative.view(np.uint8).astype(np.uint64) << np.uint64(63)
    return values


def _squeezed_mantissas(
    words: np.ndarray, mend: np.ndarray, n_frac: np.ndarray, n_dig: np.ndarray, has_dot: np.ndarray
) -> np.ndarray:
    """Mantissas of cells whose digits and dot fit in the 8 bytes ending at ``mend``.

    One word per cell: the digits left of the dot are shifted one byte up over the dot, bytes
    that are not this cell's digits are masked to 0, then :func:`_swar8_digits` converts.
    """
    x = words[mend - 8]
    if int(has_dot.min()) == 1:
        above = _TOP[n_frac]  # the fraction digits
    else:
        above = _TOP[n_frac + 8 - 8 * has_dot]  # ... or all bytes, for cells without a dot
    shifted = x << np.uint64(8)
    shifted &= ~above
    x &= above
    x |= shifted
    x &= _TOP_DIGITS[n_dig]
    return _swar8_digits(x)


def _n_words(lengths: np.ndarray, hard: np.ndarray) -> int:
    longest = int(lengths.max()) if lengths.size else 0
    if longest > 8 and hard.any():
        longest = int(np.where(hard, 0, lengths).max())
    return max(1, min(3, (longest + 7) // 8))


def _run_values(
    buf: np.ndarray, end: np.ndarray, length: np.ndarray, n_words: int
) -> tuple[np.ndarray, np.ndarray]:
    """uint64 value of the ``length`` digits ending (exclusive) at byte ``end``, and where that
    value does not fit in 64 bits (possible only with three words).

    Short runs (at most 3 digits everywhere, e.g. an integer part or an exponent) are read byte
    by byte; longer ones as ``n_words`` 8-byte words fetched in ONE gather of 8 * n_words bytes
    (a wide gather costs about the same as a narrow one), masked, and converted by SWAR.
    """
    longest = int(length.max()) if length.size else 0
    if longest <= 3:
        total = np.zeros(end.size, dtype=np.uint64)
        for j in range(longest):
            digit = buf[end - (j + 1)].astype(np.uint64)
            digit -= np.uint64(48)
            digit *= (length > j).view(np.uint8)
            if j:
                digit *= np.uint64(10**j)
            total += digit
        return total, np.zeros(end.size, dtype=bool)
    wide = _wide_view(buf, n_words)
    x = wide[end - 8 * n_words].view("<u8").reshape(end.size, n_words)
    x &= (
        _WIDE_MASKS[n_words][np.minimum(length, 8 * n_words)].view("<u8").reshape(end.size, n_words)
    )
    x = _swar8_digits(x)
    total = x[:, 0].copy()
    for w in range(1, n_words):
        total *= np.uint64(100_000_000)
        total += x[:, w]
    overflow = x[:, 0] >= 1845 if n_words == 3 else np.zeros(end.size, dtype=bool)
    return total, overflow


def _wide_view(buf: np.ndarray, n_words: int) -> np.ndarray:
    """Every (overlapping) 8*n_words-byte window of ``buf`` as one opaque item: a gather of
    these fetches n_words unaligned words at once."""
    width = 8 * n_words
    return np.ndarray(
        shape=(buf.size - width + 1,), dtype=np.dtype((np.void, width)), buffer=buf, strides=(1,)
    )


def _wide_masks(n_words: int) -> np.ndarray:
    """Row L keeps the digit values of the last L bytes of an 8*n_words-byte window."""
    width = 8 * n_words
    rows = np.zeros((width + 1, width), dtype=np.uint8)
    for length in range(width + 1):
        rows[length, width - length :] = 0x0F  # keeps the digit value of ASCII digits
    return rows.view(np.dtype((np.void, width))).ravel()


_WIDE_MASKS = {n: _wide_masks(n) for n in (1, 2, 3)}


def _swar8_digits(x: np.ndarray) -> np.ndarray:
    """Eight digit values (0..9) packed little-endian in a uint64, first byte most significant
    -> their value, in place: three multiply-shift-mask steps instead of eight (each multiply
    adds every lane, scaled, to its neighbour: 10 * d0 + d1, then 100 * p0 + p1, ...)."""
    for mul, shift, mask in _SWAR_STEPS:
        x *= mul
        x >>= shift
        if mask is not None:
            x &= mask
    return x


_SWAR_STEPS = [
    (np.uint64(10 * 2**8 + 1), np.uint64(8), np.uint64(0x00FF00FF00FF00FF)),
    (np.uint64(100 * 2**16 + 1), np.uint64(16), np.uint64(0x0000FFFF0000FFFF)),
    (np.uint64(10000 * 2**32 + 1), np.uint64(32), None),
]


def _parse_general(
    chunk: bytes, ncols: int, numeric_cols: np.ndarray, string_col: int | None
) -> tuple[int, np.ndarray, np.ndarray | None]:
    """Parse a clean block of CSV lines without a Python-level loop over cells (any layout).

    ``chunk`` holds whole lines, each ending in ``\\n``, no blank line, no CR, no quote. Returns
    ``(rows, values, strings)``: values (rows, len(numeric_cols)) float64 for the numeric
    columns in ``numeric_cols`` order, strings (rows,) stripped str cells of ``string_col``.
    Raises :class:`_Unclean` unless every line has ``ncols`` fields, every numeric cell matches
    the number grammar and is finite, and every string cell is non-empty.

    How: each number is ``sign * mantissa * 10**k``. Non-digit bytes are rare (separators, one
    dot, a sign, an exponent) so the grammar is checked on them alone. The mantissa digits of a
    cell are gathered right-aligned into 8-byte words (dot squeezed out) and converted eight at
    a time (:func:`_swar8`). ``mantissa * 10**k`` is then rounded correctly: exactly one IEEE
    operation when mantissa <= 2**53 and |k| <= 22 (Clinger's fast path), else a double-double
    product with an explicit test that the rounding cannot be ambiguous; the rare cells that
    fail that test, or have more than 19 significant digits, go through ``float()``.
    """
    buf = np.frombuffer(b"0" * _PAD + chunk, dtype=np.uint8)
    nd_pos = np.flatnonzero((buf - np.uint8(48)) > 9)  # every byte that is not a digit
    ch = buf[nd_pos]
    is_sep = (ch == 44) | (ch == 10)
    sep_rank = np.flatnonzero(is_sep)
    sep_pos = nd_pos[sep_rank]
    nfields = sep_pos.size
    rows = nfields // ncols
    if rows == 0 or rows * ncols != nfields or sep_pos[-1] != buf.size - 1:
        raise _Unclean
    is_nl = ch[sep_rank] == 10
    if int(is_nl.sum()) != rows or not is_nl[ncols - 1 :: ncols].all():
        raise _Unclean  # some line has the wrong number of fields
    ends_all = sep_pos.reshape(rows, ncols)
    starts_all = np.empty(nfields, dtype=np.int64)
    starts_all[0] = _PAD
    starts_all[1:] = sep_pos[:-1] + 1
    starts_all = starts_all.reshape(rows, ncols)

    strings = None
    if string_col is not None:
        strings = _gather_strings(buf, starts_all[:, string_col], ends_all[:, string_col])

    k = numeric_cols.size
    s = starts_all[:, numeric_cols].ravel()
    e = ends_all[:, numeric_cols].ravel()
    m = s.size

    # Non-digit, non-separator bytes, and the selected field each one sits in.
    o_rank = np.flatnonzero(~is_sep)
    o_pos = nd_pos[o_rank]
    o_ch = ch[o_rank]
    o_field = o_rank - np.arange(o_rank.size)  # separators before it = its field index
    slot = np.full(ncols, -1, dtype=np.int64)
    slot[numeric_cols] = np.arange(k)
    o_slot = slot[o_field % ncols]
    keep = o_slot >= 0
    o_pos, o_ch = o_pos[keep], o_ch[keep]
    f = (o_field[keep] // ncols) * k + o_slot[keep]

    space = (o_ch == 32) | (o_ch == 9)
    if space.any():
        s, e = s.copy(), e.copy()
        _trim_spaces(buf, s, e, np.unique(f[space]))
        inside = (o_pos >= s[f]) & (o_pos < e[f])
        o_pos, o_ch, f = o_pos[inside], o_ch[inside], f[inside]

    is_dot = o_ch == 46
    is_e = (o_ch | 32) == 101
    is_sign = (o_ch == 43) | (o_ch == 45)
    if not (is_dot | is_e | is_sign).all():
        raise _Unclean  # a letter, a space inside a number, any other byte

    epos = e.copy()  # where the mantissa ends
    has_e = np.zeros(m, dtype=bool)
    if is_e.any():
        fe = f[is_e]
        if fe.size > 1 and not (np.diff(fe) > 0).all():
            raise _Unclean  # two exponents in one cell
        epos[fe] = o_pos[is_e]
        has_e[fe] = True
    has_dot = np.zeros(m, dtype=bool)
    dot_pos = np.zeros(m, dtype=np.int64)
    if is_dot.any():
        fd = f[is_dot]
        if fd.size > 1 and not (np.diff(fd) > 0).all():
            raise _Unclean  # two dots in one cell
        dp = o_pos[is_dot]
        if (dp > epos[fd]).any():
            raise _Unclean  # a dot in the exponent
        has_dot[fd] = True
        dot_pos[fd] = dp
    lead_sign = np.zeros(m, dtype=bool)
    negative = np.zeros(m, dtype=bool)
    exp_sign = np.zeros(m, dtype=bool)
    exp_negative = np.zeros(m, dtype=bool)
    if is_sign.any():
        fs = f[is_sign]
        ps = o_pos[is_sign]
        minus = o_ch[is_sign] == 45
        at_start = ps == s[fs]
        after_e = has_e[fs] & (ps == epos[fs] + 1)
        if not (at_start | after_e).all():
            raise _Unclean  # a sign in the middle of a number
        lead_sign[fs[at_start]] = True
        negative[fs[at_start & minus]] = True
        exp_sign[fs[after_e]] = True
        exp_negative[fs[after_e & minus]] = True

    mstart = s + lead_sign
    n_mant = epos - mstart - has_dot  # mantissa digits
    if (n_mant < 1).any():
        raise _Unclean  # empty cell, a lone sign or dot, "e5"
    hard = n_mant > 24

    exp10 = np.zeros(m, dtype=np.int64)
    if has_dot.any():
        exp10 -= np.where(has_dot, epos - dot_pos - 1, 0)
    if has_e.any():
        n_exp = e - epos - 1 - exp_sign
        if (has_e & (n_exp < 1)).any():
            raise _Unclean  # "1e", "1e+"
        hard |= has_e & (n_exp > 4)
        idx = np.flatnonzero(has_e)
        win = sliding_window_view(buf, 4)[e[idx] - 4]
        pad = np.arange(4) < (4 - n_exp[idx])[:, None]
        digits = np.where(pad, 0, win.astype(np.int64) - 48)
        ev = digits @ np.array([1000, 100, 10, 1], dtype=np.int64)
        exp10[idx] += np.where(exp_negative[idx], -ev, ev)

    mant, overflow = _mantissas(buf, epos, n_mant, has_dot, dot_pos, hard)
    hard |= overflow

    # Clinger: one correctly rounded operation when both factors are exact doubles.
    small = (mant <= np.uint64(_TWO53)) & (np.abs(exp10) <= 22) & ~hard
    mf = mant.astype(np.float64)
    kk = np.clip(exp10, -22, 22)
    with np.errstate(over="ignore", invalid="ignore"):
        values = np.where(kk >= 0, mf * _P10[np.abs(kk)], mf / _P10[np.abs(kk)])
    zero = mant == 0
    values[zero & ~hard] = 0.0
    rest = ~(small | zero | hard)
    if rest.any():
        idx = np.flatnonzero(rest)
        ok, v = _dd_scale(mant[idx], exp10[idx])
        values[idx[ok]] = v[ok]
        hard[idx[~ok]] = True
    if hard.any():
        for i in np.flatnonzero(hard).tolist():
            values[i] = abs(float(chunk[s[i] - _PAD : e[i] - _PAD]))
    np.negative(values, out=values, where=negative)
    if not np.isfinite(values).all():
        raise _Unclean
    return rows, values.reshape(rows, k), strings


def _trim_spaces(buf: np.ndarray, s: np.ndarray, e: np.ndarray, fields: np.ndarray) -> None:
    """Move s forward and e back over spaces/tabs, for the listed fields only (in place)."""
    ss, ee = s[fields], e[fields]
    while True:
        c = buf[ss]
        move = (ss < ee) & ((c == 32) | (c == 9))
        if not move.any():
            break
        ss += move
    while True:
        c = buf[ee - 1]
        move = (ee > ss) & ((c == 32) | (c == 9))
        if not move.any():
            break
        ee -= move
    s[fields], e[fields] = ss, ee


def _mantissas(
    buf: np.ndarray,
    epos: np.ndarray,
    n_mant: np.ndarray,
    has_dot: np.ndarray,
    dot_pos: np.ndarray,
    hard: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The integer formed by each cell's mantissa digits (dot removed), as uint64.

    Gathers the bytes ending at ``epos`` right-aligned into ``nw`` 8-byte words, squeezes out the
    dot by shifting the digits left of it one place right, pads with '0' and converts.
    Returns (mantissa, overflow) where overflow marks values that do not fit 64 bits.
    """
    m = epos.size
    longest = int(np.max(np.where(hard, 1, n_mant))) if m else 1
    nw = (longest + 7) // 8
    width = 8 * nw
    any_dot = bool(has_dot.any())
    W = width + 1 if any_dot else width
    R = sliding_window_view(buf, W)[epos - W]
    cols = np.arange(W)
    if any_dot:
        dot_col = np.where(has_dot, W - (epos - dot_pos), -1)
        shifted = np.empty_like(R)
        shifted[:, 1:] = R[:, :-1]
        left_of_dot = cols <= dot_col[:, None]
        R = np.where(left_of_dot, shifted, R)[:, 1:]
        cols = cols[1:] - 1
    R = np.where(cols < (width - n_mant)[:, None], np.uint8(48), R)
    words = _swar8(np.ascontiguousarray(R).view("<u8"))
    mant = words[:, 0].copy()
    for w in range(1, nw):
        mant = mant * np.uint64(100_000_000) + words[:, w]
    overflow = np.zeros(m, dtype=bool)
    if nw == 3:
        overflow = words[:, 0] >= 1845  # 1845e16 > 2**64 - 1
    return mant, overflow


def _dd_scale(mant: np.ndarray, exp10: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correctly rounded mant * 10**exp10 where it can be proved, via double-double arithmetic.

    ``10**k`` is ``hi + lo`` from an exact table; ``mant`` (< 2**64) splits exactly into two
    doubles a + b. The product is formed to about 2**-102 relative error (Dekker's exact
    product, since numpy has no fused multiply-add), so rounding it to one double gives the
    correctly rounded result unless the exact value lies within that error of a rounding
    midpoint. ``ok`` is False for those (and for exponents outside the table); the caller then
    uses ``float()``. Written in place on six buffers: fresh temporaries cost page faults.
    """
    ok = (exp10 >= _DD_KMIN) & (exp10 <= _DD_KMAX)
    kk = np.clip(exp10, _DD_KMIN, _DD_KMAX)
    kk -= _DD_KMIN
    ph, pl, phh, phl = _DD_HI[kk], _DD_LO[kk], _DD_HI_H[kk], _DD_HI_L[kk]
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        # mant == a + b exactly: a = fl(mant) from its two exact 32-bit halves, b the rest
        a = (mant >> np.uint64(32)).astype(np.float64)
        a *= 4294967296.0
        b = (mant & np.uint64(0xFFFFFFFF)).astype(np.float64)
        s = a + b
        np.subtract(s, a, out=a)
        np.subtract(b, a, out=b)  # b = lo - (s - a), exact because |a| >= |lo|
        a = s
        # p + e == a * ph exactly (ph is pre-split into phh + phl)
        p = a * ph
        c = a * _SPLITTER
        t = c - a
        np.subtract(c, t, out=c)  # c = high half of a
        np.subtract(a, c, out=t)  # t = low half of a
        e = c * phh
        e -= p
        e += np.multiply(c, phl, out=c)
        np.multiply(t, phh, out=c)
        e += c
        e += np.multiply(t, phl, out=t)
        # the small terms: a * pl + b * ph, then the sum's exact rounding error d
        e += np.multiply(a, pl, out=t)
        e += np.multiply(b, ph, out=t)
        r = np.add(p, e, out=c)
        np.subtract(r, p, out=t)
        np.subtract(e, t, out=e)  # d = e - (r - p), exact because |p| >= |e|
        d = e
        # Distance to the nearest rounding midpoint must exceed the error bound. Half an ulp
        # of a normal double is 2**(exponent - 53): its exponent bits, scaled. Just below a
        # power of two (mantissa bits all zero) the spacing halves, so be conservative there.
        bits = r.view(np.uint64)
        half_ulp = np.bitwise_and(bits, _EXP_BITS, out=b.view(np.uint64)).view(np.float64)
        half_ulp *= 2.0**-53
        half_ulp[(bits & _MANT_BITS) == 0] *= 0.5
        err = np.abs(r, out=t)
        err *= 2.0**-95
        err += np.abs(d, out=d)
        ok &= err < half_ulp
        ok &= np.isfinite(r)
    return ok, r


def _gather_strings(buf: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Cells [s, e) of a block as a stripped (rows,) str array; empty cells are unclean."""
    lengths = e - s
    if lengths.size == 0:
        return np.empty(0, dtype=str)
    width = int(lengths.max())
    if lengths.min() == 0 or width > 4096:
        raise _Unclean
    if int(s[-1]) + width > buf.size:  # windows must not run past the end
        buf = np.concatenate([buf, np.zeros(width, dtype=np.uint8)])
    R = sliding_window_view(buf, width)[s]
    R[np.arange(width) >= lengths[:, None]] = 0  # R is a copy; NUL pads like numpy strings
    if (R >= 128).any():
        out = np.char.decode(np.ascontiguousarray(R).view(f"S{width}").ravel(), "utf-8")
    else:
        # ASCII: widening each byte to a UCS4 code point *is* the str array, without decoding
        out = R.astype(np.uint32).view(f"U{width}").ravel()
        if not (R[R != 0] <= 32).any():
            return out  # no whitespace or control byte: nothing to strip
    out = np.char.strip(out)
    if (out == "").any():
        raise _Unclean
    return out


def _bulk_numbers(cells: list[str]) -> np.ndarray | None:
    """Convert many numeric cell strings at once; None when any cell is not clean."""
    if not cells:
        return np.empty(0, dtype=np.float64)
    text = "\n".join(cells) + "\n"
    if not text.isascii() or '"' in text:  # quotes in a cell's value are never a number
        return None
    try:
        chunk = _normalise_chunk(text.encode("ascii"))
        rows, values, _ = _parse_block(chunk, 1, np.zeros(1, dtype=np.int64), None)
        if rows != len(cells):
            return None
    except _Unclean:
        return None
    return values[:, 0]


# --------------------------------------------------------------------------------------------
# slow path
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
            path=path,
            line=data.count(b"\n", 0, exc.start) + 1,
            hint="Save the file as UTF-8 (e.g. from a spreadsheet: 'CSV UTF-8').",
        )
    return text.removeprefix("\ufeff"), error


def _is_blank(row: list[str]) -> bool:
    return len(row) <= 1 and (not row or not row[0].strip())


def _cell_number(cell: str, path: str | None, line: int | None, column: str | None) -> float:
    """The exact (reporting) conversion of one numeric cell."""
    text = cell.strip(_CELL_SPACE)
    if text == "":
        raise DataError("empty cell, expected a number", path=path, line=line, column=column)
    if _NUMBER_RE.fullmatch(text):
        value = float(text)
        if math.isfinite(value):
            return value
        raise DataError(
            f"value {_shown(text)} is too large for a 64-bit float (non-finite)",
            path=path,
            line=line,
            column=column,
        )
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is not None and not math.isfinite(value):
        raise DataError(
            f"non-finite value {_shown(text)}, expected a finite number",
            path=path,
            line=line,
            column=column,
            hint="Missing values must be removed or filled in before training.",
        )
    raise DataError(
        f"non-numeric value {_shown(text)}, expected a number like 3.5 or -2e-3",
        path=path,
        line=line,
        column=column,
    )


class _SlowBlock:
    """Rows collected by the slow path, converted in bulk, checked cell by cell on failure."""

    def __init__(self, path: str, layout: _Layout) -> None:
        self.path = path
        self.layout = layout
        self.cells: list[list[str]] = []  # per row, the numeric cells in numeric_cols order
        self.targets: list[str] = []
        self.lines: list[int] = []
        self.values: list[np.ndarray] = []
        self.y: list[np.ndarray] = []
        self.all_lines: list[np.ndarray] = []

    def add(self, row: list[str], line: int) -> None:
        cols = self.layout.numeric_cols
        self.cells.append([row[c] for c in cols])
        if self.layout.target_col is not None:
            self.targets.append(row[self.layout.target_col])
        self.lines.append(line)
        if len(self.lines) >= _SLOW_BLOCK_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.lines:
            return
        lay = self.layout
        k = lay.numeric_cols.size
        flat = [c for row in self.cells for c in row]
        values = _bulk_numbers(flat)
        targets = np.char.strip(np.array(self.targets, dtype=str)) if self.targets else None
        bad_target = targets is not None and bool((targets == "").any())
        bad_weight = False
        if values is not None:
            values = values.reshape(-1, k)
            bad_weight = lay.weight_slot is not None and bool(
                (values[:, lay.weight_slot] < 0).any()
            )
        if values is None or bad_target or bad_weight:
            self._check_exactly()  # raises the first problem
            values = np.array([[float(c) for c in row] for row in self.cells], dtype=np.float64)
            values = values.reshape(-1, k)
        self.values.append(values)
        if targets is not None:
            self.y.append(targets)
        self.all_lines.append(np.asarray(self.lines, dtype=np.int64))
        self.cells, self.targets, self.lines = [], [], []

    def _check_exactly(self) -> None:
        lay = self.layout
        header = lay.header
        order = sorted(
            [(int(c), "num", i) for i, c in enumerate(lay.numeric_cols)]
            + ([(lay.target_col, "target", -1)] if lay.target_col is not None else [])
        )
        for r, line in enumerate(self.lines):
            for col, kind, i in order:
                name = header[col]
                if kind == "target":
                    if not self.targets[r].strip():
                        raise DataError(
                            "empty target cell, expected a label or a value",
                            path=self.path,
                            line=line,
                            column=name,
                        )
                    continue
                value = _cell_number(self.cells[r][i], self.path, line, name)
                if i == lay.weight_slot and value < 0:
                    raise DataError(
                        f"negative sample weight {_shown(self.cells[r][i].strip())}, "
                        "expected a weight >= 0",
                        path=self.path,
                        line=line,
                        column=name,
                    )
            self.cells[r] = [c.strip(_CELL_SPACE) for c in self.cells[r]]


def _read_slow(path: str, req: _Request) -> Table:
    text, encoding_error = _decode(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    prev_end = 0
    header: list[str] | None = None
    block: _SlowBlock | None = None
    layout: _Layout | None = None
    n_rows = 0
    try:
        for row in reader:
            line = prev_end + 1
            prev_end = reader.line_num
            if _is_blank(row):
                continue
            if header is None:
                header = [c.strip() for c in row]
                layout = _resolve_columns(header, req, path)
                block = _SlowBlock(path, layout)
                continue
            assert block is not None
            if len(row) != len(header):
                block.flush()  # an earlier bad cell is the first problem, if there is one
                raise DataError(
                    f"expected {len(header)} fields, found {len(row)}",
                    path=path,
                    line=line,
                    hint="Every row needs one value per header column; a decimal comma "
                    "or an unquoted comma inside a value adds fields.",
                )
            block.add(row, line)
            n_rows += 1
    except csv.Error as exc:
        if block is not None:
            block.flush()
        if encoding_error is not None:
            raise encoding_error from None
        raise DataError(f"malformed CSV ({exc})", path=path, line=prev_end + 1) from None
    if encoding_error is not None:
        if block is not None:
            block.flush()
        raise encoding_error
    if header is None:
        raise DataError("the file is empty, expected a header line", path=path)
    if n_rows == 0:
        raise DataError(
            "the file has a header but no data rows",
            path=path,
            hint="A CSV file needs a header line, then one line per sample.",
        )
    assert block is not None and layout is not None
    block.flush()
    values = np.concatenate(block.values)
    X = np.ascontiguousarray(values[:, layout.feature_slots])
    weights = values[:, layout.weight_slot].copy() if layout.weight_slot is not None else None
    y = np.concatenate(block.y) if layout.target_col is not None else None
    return Table(
        path=path,
        header=layout.header,
        X=X,
        feature_names=layout.feature_names,
        y=y,
        target=layout.target,
        lines=np.concatenate(block.all_lines),
        weights=weights,
    )


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
    return _bulk_numbers(_cells_of(arr))


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
    text = cell.strip(_CELL_SPACE)
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
