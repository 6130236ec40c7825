"""Reading files nnlearn did not necessarily write, with bounds: every config, sweep file, run
folder file and model file is opened here.

    open_regular(path, what)       a file descriptor of a regular file (never blocks on a FIFO)
    read_bytes / read_text(path)   its contents, refused beyond a size cap
    json_load(text, source)        JSON with bounded nesting, integers and no NaN/Infinity
    check_not_input(out, inputs)   refuse an output path that is one of the command's inputs
    claim_folder(path)             an exclusive lock on a folder for this process's life of it

Why: a FIFO given where a file is expected would block ``open`` forever; a 50 MB "config" takes
minutes to parse; JSON nested 100,000 deep exhausts Python's recursion; a 400-digit integer
overflows ``float``. Each of these is the input's fault, so each becomes an NnlearnError (exit 2)
naming the file. Imports no numpy (sweeps read run folders without it).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from nnlearn.errors import NnlearnError

try:  # POSIX; elsewhere folders are claimed by exclusive creation only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Configs and sweep files: a long feature list fits many times over; 50 MB of YAML does not
#: parse in reasonable time.
MAX_CONFIG_BYTES = 4 * 1024 * 1024
#: manifest.json and a model file's metadata (feature names, scalers, classes).
MAX_JSON_BYTES = 64 * 1024 * 1024
#: metrics.json holds a confusion matrix, k*k counts for k classes: with
#: ``data.allow_many_classes`` nnlearn itself may write hundreds of megabytes.
MAX_METRICS_BYTES = 1024 * 1024 * 1024
#: history.csv and diagnostics.csv: one row per epoch.
MAX_TABLE_BYTES = 256 * 1024 * 1024
#: No file nnlearn writes nests deeper than a few levels; 100 leaves room and stays far below
#: Python's recursion limit.
MAX_DEPTH = 100
#: Integers in JSON: enough digits for a 128-bit random generator state, and far below ``float``'s
#: overflow at ~309 digits.
MAX_INT_DIGITS = 40

ErrorFactory = Callable[[str], Exception]


def _default_error(message: str) -> Exception:
    return NnlearnError(message)


def open_regular(path: str | os.PathLike, what: str = "file",
                 error: ErrorFactory = _default_error) -> int:
    """Open ``path`` read-only and return its descriptor, refusing anything but a regular file.

    Opened with O_NONBLOCK and checked with fstat on the opened descriptor, so neither a FIFO
    nobody writes to nor a file swapped for one between a check and the open can block."""
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise error(f"{name}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{name}: is a folder, expected a {what}") from None
    except OSError as exc:
        raise error(f"{name}: cannot read the {what} ({exc.strerror or exc})") from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise error(f"{name}: cannot read the {what} ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        os.close(fd)
        raise error(f"{name}: is a folder, expected a {what}")
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise error(f"{name}: is not a regular file (a pipe, socket or device?), "
                    f"expected a {what}")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


def read_bytes(path: str | os.PathLike, *, what: str = "file", limit: int = MAX_JSON_BYTES,
               error: ErrorFactory = _default_error) -> bytes:
    """The whole file, refused when it is larger than ``limit`` bytes (checked before reading,
    and again while reading, in case it grows)."""
    name = os.fspath(path)
    fd = open_regular(path, what, error)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise error(_too_large(name, what, size, limit))
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise error(f"{name}: cannot read the {what} ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise error(_too_large(name, what, len(data), limit))
    return data


def _too_large(name: str, what: str, size: int, limit: int) -> str:
    return (f"{name}: the {what} is {size:,} bytes, more than the {limit:,} bytes nnlearn "
            f"reads for one")


def read_text(path: str | os.PathLike, *, what: str = "file", limit: int = MAX_JSON_BYTES,
              error: ErrorFactory = _default_error, bom: bool = False) -> str:
    """``read_bytes`` decoded as UTF-8 (``bom``: a leading byte-order mark is dropped)."""
    data = read_bytes(path, what=what, limit=limit, error=error)
    try:
        return data.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{os.fspath(path)}: not UTF-8 text ({exc.reason} at byte "
                    f"{exc.start})") from None


# ------------------------------------------------------------------------------------------
# JSON


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise ValueError(f"an integer with {digits} digits")
    return int(text)


def _parse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Raise ValueError when containers nest deeper than ``limit`` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            raise ValueError(f"nested more than {limit} levels deep")
        stack.extend((child, depth + 1) for child in children)


def json_load(text: str | bytes, source: str, error: ErrorFactory = _default_error) -> Any:
    """Parse JSON written by nnlearn (or pretending to be): at most ``MAX_DEPTH`` levels,
    integers of at most ``MAX_INT_DIGITS`` digits, no NaN/Infinity. Any problem is
    ``error("<source>: not valid JSON (...)")``."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        value = json.loads(text, parse_int=_parse_int, parse_constant=_parse_constant)
        check_depth(value)
    except RecursionError:
        raise error(f"{source}: not valid JSON (nested too deeply)") from None
    except ValueError as exc:
        raise error(f"{source}: not valid JSON ({exc})"[:300]) from None
    return value


def read_json(path: str | os.PathLike, *, what: str = "JSON file", limit: int = MAX_JSON_BYTES,
              error: ErrorFactory = _default_error) -> Any:
    return json_load(read_bytes(path, what=what, limit=limit, error=error), os.fspath(path),
                     error)


# ------------------------------------------------------------------------------------------
# outputs that would overwrite inputs


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_not_input(out: str | os.PathLike | None, inputs: Iterable[str | os.PathLike | None],
                    *, option: str = "--out") -> None:
    """Refuse writing ``out`` when it is (a link to) one of the files the command reads."""
    if out is None:
        return
    target = Path(out)
    for item in inputs:
        if item is None:
            continue
        if _same(target, Path(item)):
            raise NnlearnError(f"{os.fspath(out)}: {option} names a file this command reads; "
                               "it would be overwritten", hint="choose another output file")


# ------------------------------------------------------------------------------------------
# claiming folders


@contextlib.contextmanager
def claim_folder(path: str | os.PathLike, what: str = "run folder") -> Iterator[None]:
    """Hold an exclusive lock on the folder ``path`` (which must exist) while the block runs;
    another process trying to claim it gets NnlearnError naming it. The lock is the folder's
    own (flock on its descriptor), so no lock file is left behind, and the operating system
    releases it when the process dies (kill -9 included), so it never goes stale."""
    if fcntl is None:  # pragma: no cover - Windows: exclusive creation is the only guard
        yield
        return
    name = os.fspath(path)
    fd = os.open(name, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise NnlearnError(f"{name}: this {what} is in use by another nnlearn process",
                               hint=f"wait for it to finish, or choose another {what}") from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# ------------------------------------------------------------------------------------------
# run folder files


#: The types the summary keys of a run's metrics.json must have when present.
_SUMMARY_TYPES: dict[str, tuple[type, ...]] = {
    "status": (str,), "epochs": (int,), "seed": (int,), "stopped": (str, type(None)),
    "error": (str,), "reason": (str,), "hint": (str,), "exit_code": (int,),
    "best_epoch": (int, type(None)), "restored_epoch": (int, type(None)),
    "train": (dict,), "val": (dict,), "test": (dict,),
}


def read_metrics(path: str | os.PathLike) -> dict[str, Any]:
    """A run's metrics.json: a mapping whose summary keys have the types nnlearn writes (bool
    is not an int here). Anything else is NnlearnError naming the file and the key."""
    name = os.fspath(path)
    summary = read_json(path, what="metrics file", limit=MAX_METRICS_BYTES)
    if not isinstance(summary, dict):
        raise NnlearnError(f"{name}: expected a JSON object of metrics")
    for key, types in _SUMMARY_TYPES.items():
        if key not in summary:
            continue
        value = summary[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise NnlearnError(f"{name}: {key!r} has a value of type {type(value).__name__}, "
                               f"expected {' or '.join(t.__name__ for t in types)}")
    return summary
