"""Reading a CSV file into a :class:`Table`, with errors that point at a line and a column.

``read_csv`` and ``Table`` are re-exported by :mod:`nnlearn.data`, which is where callers import
them from. Columns are selected by name; rows are samples.

How a CSV file is read
----------------------
Two readers share one contract and one number grammar.

* The **fast path** reads the file in chunks of whole lines and converts every numeric cell of a
  chunk with vectorised numpy arithmetic (:mod:`nnlearn.data.fastparse`). It only accepts chunks it
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
The fast path never holds the file in memory: it allocates ``X`` once, for the rows the first
chunk's line lengths predict and a margin (memory never written costs nothing), and fills it
chunk by chunk (512 KiB, so the temporaries stay in cache). Each
chunk is parsed by a fixed number of whole-array numpy operations -- no Python loop over rows
or cells -- and several chunks are parsed at once on threads (numpy releases the GIL inside its
loops; 1 MiB chunks then, so the threads wait less for each other), at most ``threads`` of them
(:func:`_thread_budget`). Results are used in file order, so the table, and the first error
reported, are the same for any number of threads. Freed temporaries are kept by the allocator
rather than faulted in afresh for every chunk (:func:`_keep_freed_memory`). Peak memory is
about the output plus a few chunks, well under pandas'. ``benchmarks/csv_speed.py`` measures
all of this against pandas.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import numbers
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np

from nnlearn.data.fastparse import Parsed, Unclean, parse_chunk, parse_numbers
from nnlearn.errors import DataError

__all__ = ["Table", "read_csv"]

_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_CELL_SPACE = " \t"  # what is stripped around a numeric cell (the fast path agrees)
_CHUNK_BYTES = 1 << 19  # fast path chunk: 512 KiB keeps the temporary arrays in cache ...
_THREADED_CHUNKS = 2  # ... but threads parse chunks 2x larger: fewer, longer numpy calls, so
# they wait less for each other's GIL (measured on 2 cores: 2 threads 1.1-1.3x faster than 1
# with 512 KiB chunks, 1.5-1.8x with 1-2 MiB; 2 MiB spills the cache on short numbers)
_MAX_THREADS = 4  # threads that parse chunks at once, at most (see _thread_budget)
_MALLOC_WARMUP = 24 << 20  # bytes; see _keep_freed_memory
_SLOW_BLOCK_ROWS = 8192  # slow path converts numeric cells in blocks of this many rows
_MAX_SHOWN = 40  # a quoted cell value is cut to this many characters in messages


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
    threads: int | None = None,
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
        threads: at most this many threads parse chunks at once (the result is the same for
            any number). None: ``$NNLEARN_THREADS``, else the thread count ``--threads`` gives
            BLAS (``$OMP_NUM_THREADS`` and kin, see :mod:`nnlearn.runs.threads`), else the CPUs
            this process may run on, at most 4.

    Raises:
        DataError: the file is missing, unreadable, not UTF-8, empty, malformed, or a selected
            cell is empty, non-numeric or non-finite; ``line`` and ``column`` say where.
    """
    spath = os.fspath(path)
    _check_readable(spath)
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1
    ):
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    request = _Request(target, features, target_required, weight_column, threads)
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
    threads: int | None = None


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


def _read_fast(path: str, fh: io.BufferedReader, req: _Request) -> Table | None:
    """Read a clean file chunk by chunk; None means "let the slow path read (and judge) it".

    Peak memory is the output arrays plus a few chunk-sized temporaries: the file is never held
    in memory whole. ``X`` is allocated once, for a few more rows than the first chunk's line
    lengths predict (:func:`_rows_estimate`), and trimmed at the end.
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

    body_bytes = os.fstat(fh.fileno()).st_size - fh.tell()
    _keep_freed_memory()
    threads = _thread_budget(req.threads)
    chunks = _chunks(fh, _CHUNK_BYTES if threads == 1 else _CHUNK_BYTES * _THREADED_CHUNKS)
    head = next(chunks, None)
    if head is None:
        return None  # header only: the slow path words the error
    capacity = _rows_estimate(head, body_bytes)
    X = np.empty((capacity, len(layout.feature_names)), dtype=np.float64)
    lines = np.empty(capacity, dtype=np.int64)
    weights = np.empty(capacity, dtype=np.float64) if layout.weight_slot is not None else None
    y_parts: list[np.ndarray] = []
    job = partial(
        parse_chunk,
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
        for rows, values, strings, kept, n_physical in _map_in_order(
            job, itertools.chain([head], chunks), threads
        ):
            if n + rows > capacity:  # the lines got shorter than the first chunk's: grow
                capacity = max(2 * capacity, n + rows)
                X, lines = _grow(X, n, capacity), _grow(lines, n, capacity)
                weights = _grow(weights, n, capacity) if weights is not None else None
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
    except Unclean:
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


def _rows_estimate(chunk: bytes, body_bytes: int) -> int:
    """Rows to allocate for: the first chunk's lines per byte times the file's bytes, plus a
    quarter. Memory never written costs nothing (the OS maps a page when it is first written),
    so overestimating is free, and it spares reading the whole file once just to count lines;
    if later lines are shorter, the arrays grow (:func:`_grow`)."""
    newlines = int(np.count_nonzero(np.frombuffer(chunk, dtype=np.uint8) == 10))
    return int(max(body_bytes, len(chunk)) * newlines / len(chunk) * 1.25) + 1024


def _grow(a: np.ndarray, n: int, capacity: int) -> np.ndarray:
    """A copy of ``a[:n]`` with room for ``capacity`` rows."""
    bigger = np.empty((capacity, *a.shape[1:]), dtype=a.dtype)
    bigger[:n] = a[:n]
    return bigger


def _shrink(a: np.ndarray, n: int) -> np.ndarray:
    """Cut a preallocated array to n rows in place (no copy), or copy if numpy refuses."""
    if a.shape[0] == n:
        return a
    try:
        a.resize((n, *a.shape[1:]), refcheck=False)
        return a
    except ValueError:  # pragma: no cover - only if the buffer is shared
        return a[:n].copy()


def _chunks(fh: io.BufferedReader, size: int) -> Iterator[bytes]:
    """The rest of the file in pieces of about ``size`` bytes, each ending with a newline."""
    rest = b""
    while True:
        data = fh.read(size)
        if not data:
            if rest:
                yield rest + b"\n"
            return
        cut = data.rfind(b"\n")
        if cut < 0:
            rest += data
            continue
        yield b"".join((rest, memoryview(data)[: cut + 1]))  # one copy
        rest = data[cut + 1 :]


def _map_in_order(
    fn: Callable[[bytes], Parsed], items: Iterator[bytes], threads: int
) -> Iterator[Parsed]:
    """fn over items on ``threads`` threads, results in order, few pending at a time.

    numpy releases the GIL inside its loops, so two chunks really are parsed at once; the
    window bounds memory to a few chunks. Results (and the first exception) come back in item
    order whatever the thread count, so the table and the error reported never depend on it.
    """
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


def _thread_budget(threads: int | None) -> int:
    """How many threads parse chunks: ``threads``; else ``$NNLEARN_THREADS``; else the BLAS
    thread variables, which ``nnlearn train --threads`` and sweep workers set (a process told
    to use one thread for BLAS should not read with two); else one per CPU. Never more than
    the CPUs this process may use, nor _MAX_THREADS (beyond that the reader waits on the file
    and on the GIL rather than computing)."""
    if threads is None:
        threads = _threads_from_env()
    cpus = _threads_worth_using()
    return max(1, min(threads or cpus, cpus, _MAX_THREADS))


#: the variables through which BLAS libraries read their thread count
ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def _threads_from_env() -> int | None:
    """The first positive integer among $NNLEARN_THREADS and the BLAS thread variables."""
    for name in ("NNLEARN_THREADS", *ENV_VARS):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def _threads_worth_using() -> int:
    """The CPUs this process may run on (its affinity mask, where the OS has one): a thread
    more than that would only take turns with the others.

    A busy machine is no reason to use fewer: measured on 2 cores with another process keeping
    one busy, 2 threads read as fast as 1 (within 5%), and on an idle machine 1.5-1.8x faster.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_freed_memory_kept = False


def _keep_freed_memory() -> None:
    """Allocate and free one untouched _MALLOC_WARMUP-byte block, once per process.

    Why: parsing a chunk allocates a few MiB of numpy temporaries and frees them all. glibc's
    malloc hands memory at the top of its heap back to the OS as soon as more than twice its
    "mmap threshold" is free there, and that threshold starts at 128 KiB -- so every chunk
    would page-fault its temporaries in afresh: measured, 900,000 faults and a third of the
    time for a 400 MB file. glibc raises the threshold (up to 32 MiB) whenever a block it
    mmapped is freed, which is what this does, once; from then on the temporaries reuse the
    same pages (about 1,000 faults). Any numpy program that frees a large array ends up in the
    same state. Elsewhere (another libc, another OS) it is a harmless malloc and free.
    """
    global _freed_memory_kept
    if not _freed_memory_kept:
        np.empty(_MALLOC_WARMUP, dtype=np.uint8)  # freed at once; its pages are never touched
        _freed_memory_kept = True


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
        values = parse_numbers(flat)
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
