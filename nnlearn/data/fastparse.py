"""The fast path's number parser: CSV bytes -> float64 values, rounded exactly as ``float()``.

Why it exists
-------------
Converting numeric cells is nearly all the work of reading a numeric CSV file, and the ``csv``
module followed by ``float()`` costs Python-level work for every cell. Here a whole chunk of
lines is parsed by a fixed number of whole-array numpy operations -- no Python loop over rows or
cells. Speed may not cost exactness: every value is the correctly rounded double, bit-identical
to ``float(cell)``, so the fast and the slow reader of :mod:`nnlearn.data.reader` agree bit for bit
and a trained model never depends on which of them read its data.

How
---
A number is ``sign * mantissa * 10**k``. Each step below is a handful of whole-array
operations, and each trick is there because a measurement said so (``benchmarks/README.md``):

* Bytes that are not digits are few (the separators, a dot, a sign, an exponent), so one
  ``flatnonzero`` finds them all, and the line layout (``ncols`` fields on every line) and the
  number grammar are checked on them alone (:func:`_parse_block`, :func:`_lean_numbers`).
  Exponents are decoded only for the cells that have one (:func:`_exponents`).
* Gathers are the dearest operations, so they are ``ndarray.take`` (about twice as fast as
  ``a[idx]``) and as few as possible: one gather fetches all 8-24 bytes of a mantissa.
* The dot is squeezed out of those bytes by a one-byte shift and two masks from small tables,
  and the digits are converted eight at a time by SWAR arithmetic: three multiply-shift-mask
  steps per word instead of eight (:func:`_mantissas`).
* ``mantissa * 10**k`` is rounded correctly: one IEEE operation when mantissa <= 2**53 and
  |k| <= 22 (Clinger's fast path), else a double-double product with ``10**k`` taken from an
  exact table and an explicit test that the rounding is not ambiguous (:func:`_dd_scale`).
  Whichever route most cells of a block need runs on all of them, without gather or scatter
  (:func:`_scale`). The rare cells the test refuses (about one in 2**40, and exact midpoints),
  or whose mantissa needs more than 24 bytes or 64 bits, go through ``float()``.

Short numbers (``%.6f``) take the cheapest route; full precision numbers (17-19 digits,
``repr`` or ``%.18e``) need three words and the double-double product, about 1.5-2x the work
per cell. Blocks with spaces around numbers go to :func:`_parse_general`, slower but as exact.

What it accepts
---------------
Only chunks it can prove clean: valid UTF-8 without NUL bytes, CRLF or LF line endings, quotes
only around whole fields without commas or newlines inside them, every line with ``ncols``
fields, every numeric cell matching the grammar stated in :mod:`nnlearn.data.reader` and finite,
every string cell non-empty. Anything else raises :class:`Unclean`, and the caller lets the
``csv`` module read the file and report the first problem by line and column.

Public surface (this module imports nothing from nnlearn):

* :func:`parse_chunk` -- one chunk of whole lines -> :data:`Parsed`
  ``(rows, values, strings, kept, n_physical)``;
* :func:`parse_numbers` -- numeric cell strings -> (n,) float64, or None if any is not clean;
* :class:`Unclean` -- raised by ``parse_chunk`` when a chunk is not provably clean.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["Parsed", "Unclean", "parse_chunk", "parse_numbers"]


# --------------------------------------------------------------------------------------------
# entry points: a chunk of lines, or a list of cells, in; float64 values out
# --------------------------------------------------------------------------------------------

# (rows, values (rows, k), target strings or None, kept line offsets or None, physical lines)
Parsed = tuple[int, np.ndarray, "np.ndarray | None", "np.ndarray | None", int]


class Unclean(Exception):
    """Raised inside the fast path when a chunk is not provably clean; the slow path takes over."""


def parse_chunk(
    chunk: bytes,
    *,
    ncols: int,
    numeric_cols: np.ndarray,
    target_col: int | None,
    weight_slot: int | None,
) -> Parsed:
    """Parse one chunk of whole lines -> (rows, values, strings, kept, n_physical).

    ``kept`` is None when every physical line was a row, else the 0-based offsets of the lines
    kept after dropping blank ones; ``n_physical`` is the number of lines the chunk spans.
    """
    chunk = _normalise_chunk(chunk)
    try:
        rows, values, strings = _parse_block(chunk, ncols, numeric_cols, target_col)
        kept = None
        n_physical = rows
    except Unclean:
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
        raise Unclean  # the slow path words "negative weight"
    return rows, values, strings, kept, n_physical


def parse_numbers(cells: list[str]) -> np.ndarray | None:
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
    except Unclean:
        return None
    return values[:, 0]


# --------------------------------------------------------------------------------------------
# chunk clean-up: CRLF and R-style quotes
# --------------------------------------------------------------------------------------------


def _normalise_chunk(chunk: bytes) -> bytes:
    """CRLF -> LF and simple quotes removed, for a chunk of whole lines; refuse what only the
    slow path may judge."""
    if b"\x00" in chunk:
        raise Unclean
    if not chunk.isascii():
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError:
            raise Unclean from None
    if b"\r" in chunk:
        if chunk.count(b"\r") != chunk.count(b"\r\n"):
            raise Unclean  # a bare CR ends a record for the csv module; let it decide
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
        raise Unclean
    opens, closes = quotes[0::2], quotes[1::2]
    before = buf[np.maximum(opens - 1, 0)]
    after = buf[closes + 1]  # a chunk ends with a newline, so a closing quote is never last
    ok = ((before == 44) | (before == 10) | (opens == 0)) & ((after == 44) | (after == 10))
    separators = np.flatnonzero((buf == 44) | (buf == 10))
    ok &= np.searchsorted(separators, opens) == np.searchsorted(separators, closes)
    if not ok.all():
        raise Unclean
    return chunk.replace(b'"', b"")



# --------------------------------------------------------------------------------------------
# the vectorised number parser
# --------------------------------------------------------------------------------------------

_PAD = 64  # bytes of '0' in front of a block so that right-aligned windows never underflow
_PREFIX = b"0" * (_PAD - 1) + b"\n"  # '0' padding, then a newline acting as the 0-th separator
_TWO53 = 1 << 53
_P10 = np.array([10.0**i for i in range(23)])  # exact in float64 up to 1e22
_MAX_SPAN = 24  # mantissa bytes (digits and dot) read as three words; longer ones use float()


def _parse_block(
    chunk: bytes, ncols: int, numeric_cols: np.ndarray, string_col: int | None
) -> tuple[int, np.ndarray, np.ndarray | None]:
    """Parse a clean block of CSV lines without a Python-level loop over cells.

    ``chunk`` holds whole lines, each ending in ``\\n``, no blank line, no CR, no quote. Returns
    ``(rows, values, strings)``: values (rows, len(numeric_cols)) float64 for the numeric
    columns in ``numeric_cols`` order, strings (rows,) stripped str cells of ``string_col``
    (None without one). Raises :class:`Unclean` unless every line has ``ncols`` fields, every
    numeric cell matches the number grammar and is finite, and every string cell is non-empty.

    Bytes that are not digits are few (separators, a dot, a sign, an exponent), so one
    ``flatnonzero`` finds them all, and both the line layout and the number grammar are checked
    on them alone (:func:`_lean_numbers`). Blocks the lean reader does not handle (spaces around
    numbers) go to :func:`_parse_general`, slower but as exact.
    """
    buf = np.frombuffer(_PREFIX + chunk, dtype=np.uint8)
    nd = np.flatnonzero((buf - np.uint8(48)) > 9)  # every byte that is not a digit
    ch = buf.take(nd)
    sq = np.flatnonzero((ch == 44) | (ch == 10))  # separators; sq[0] is the prefix newline
    rows = int(np.count_nonzero(ch == 10)) - 1
    nfields = sq.size - 1
    if rows == 0 or nfields != rows * ncols or nd[-1] != buf.size - 1:
        raise Unclean
    if not (ch.take(sq[ncols::ncols]) == 10).all():
        raise Unclean  # newlines are not where every line has ncols fields
    ends = sq[1:].reshape(rows, ncols)  # index into nd of the separator ending each field
    prevs = sq[:-1].reshape(rows, ncols)  # ... and of the one before it

    strings = None
    if string_col is not None:
        strings = _gather_strings(
            buf, nd.take(prevs[:, string_col]) + 1, nd.take(ends[:, string_col])
        )
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
    buf: np.ndarray, nd: np.ndarray, ch: np.ndarray, Q: np.ndarray, chunk: bytes
) -> np.ndarray | None:
    """(m,) values of the fields ending at the separators ``nd[Q]``, or None.

    ``buf`` is the block, ``nd`` the positions of its non-digit bytes and ``ch`` those bytes.
    Each field is walked right to left over its non-digit bytes -- [exponent [sign]] [dot]
    [sign] -- checking each one's kind; the walk must then land on the previous separator.
    A run of digits is the gap between two consecutive non-digit positions, so the number of
    digits before and after the dot comes out of subtractions. None means some field is not
    ``[+-]digits[.digits][(e|E)[+-]digits]`` without spaces (the caller decides).

    Every gather below is ``ndarray.take``: on these arrays it is about twice as fast as
    ``a[idx]``, and gathers are the dearest operations of the parser.
    """
    p_end = nd.take(Q)  # where each field ends
    M1 = Q - 1
    c1 = ch.take(M1)  # the last non-digit byte before that ...
    p1 = nd.take(M1)  # ... and where it is
    mend, cd, p_prev = p_end, c1, p1  # the byte ending the mantissa: separator or 'e'
    exp10 = None
    hard = None
    if b"e" in chunk or b"E" in chunk:
        exponents = _exponents(buf, nd, ch, Q, p_end, c1, p1)
        if exponents is False:
            return None
        if exponents is not None:
            M, mend, exp10, hard = exponents
            M1 = M - 1
            cd = ch.take(M1)
            p_prev = nd.take(M1)
    # int64 flags, so that the arithmetic below never mixes dtypes (mixed ufuncs are slow)
    dot = (cd == 46).view(np.uint8).astype(np.int64)
    S = M1 - dot  # a leading sign, or the previous separator
    pS = nd.take(S)
    cs = ch.take(S)
    n_frac = mend - p_prev
    n_frac -= 1  # digits right before the mantissa end ...
    n_frac *= dot  # ... are the fraction if a dot precedes them
    n_dig = mend - pS
    n_dig -= 1
    n_dig -= dot  # every byte between S and the mantissa end is a digit or the dot
    sign = (cs == 43) | (cs == 45)
    # S must be the previous separator, or a sign right after it (a bitwise select: np.where
    # has no fast uint8 loop)
    pick = np.negative(sign.view(np.uint8))  # 0xFF where there is a sign
    before = buf.take(pS - 1)
    before &= pick
    before |= cs & ~pick
    bad = (before != 44) & (before != 10)
    bad |= n_dig <= 0
    if bad.any():
        return None
    n_int = n_dig - n_frac

    mant, hard = _mantissas(buf, mend, n_int, n_frac, dot, hard)
    k = -n_frac if exp10 is None else exp10 - n_frac
    values, hard = _scale(mant, k, hard)
    if hard is not None and hard.any():
        starts = pS + 1 - sign - _PAD  # field start (after the previous separator)
        for i in np.flatnonzero(hard).tolist():
            values[i] = abs(float(chunk[starts[i] : p_end[i] - _PAD]))
    values = _set_sign(values, cs == 45)
    if not np.isfinite(values).all():
        raise Unclean
    return values


def _exponents(
    buf: np.ndarray,
    nd: np.ndarray,
    ch: np.ndarray,
    Q: np.ndarray,
    p_end: np.ndarray,
    c1: np.ndarray,
    p1: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None] | None | bool:
    """Exponents of the fields ending at ``nd[Q]``: ``(M, mend, exp10, hard)``, None when no
    field has one, False when one is malformed ("1e", "1e+", "1e5e"...).

    ``M`` indexes (into ``nd``) the byte ending each mantissa, ``mend`` is its position: the
    'e' where there is one, else the separator. ``hard`` (or None) marks exponents of more than
    8 digits (left to ``float()``). Only the cells with an exponent are decoded, so a few
    "1e-05" among plain decimals (as ``repr`` writes small numbers) cost little.
    """
    is_e2 = (c1 == 43) | (c1 == 45)  # "1e-5": a sign ...
    if is_e2.any():  # (Q - 2 >= -1: take wraps -1 to a harmless last element)
        is_e2 &= (ch.take(Q - 2) | np.uint8(32)) == 101  # ... right after an 'e'
    has_e = is_e2 | ((c1 | np.uint8(32)) == 101)  # or "1e5"
    every = bool(has_e.all())
    cells = None if every else np.flatnonzero(has_e)
    if cells is not None and cells.size == 0:
        return None
    q = Q if every else Q.take(cells)
    two = is_e2 if every else is_e2.take(cells)
    pe = p_end if every else p_end.take(cells)
    pp = p1 if every else p1.take(cells)
    n_exp = pe - pp
    n_exp -= 1  # digits after the 'e' or its sign
    if (n_exp <= 0).any():
        return False
    ebytes = two.view(np.uint8).astype(np.int64)
    ebytes += 1
    Me = q - ebytes
    me = nd.take(Me)  # where the 'e' is
    if two.any() and (two & (me != pp - 1)).any():
        return False  # digits between the 'e' and its sign
    ev = _exponent_digits(buf, pe, n_exp)
    sign_byte = c1 if every else c1.take(cells)
    if two.all():  # every exponent has a sign: '+' is 44 - 1, '-' is 44 + 1
        ev *= 44 - sign_byte.astype(np.int64)
    else:
        ev *= np.where(two & (sign_byte == 45), -1, 1)
    over = n_exp > 8  # more digits than one word holds: float() reads those cells
    hard = over if over.any() else None
    if every:
        return Me, me, ev, hard
    M = Q.copy()
    M[cells] = Me
    mend = p_end.copy()
    mend[cells] = me
    exp10 = np.zeros(Q.size, dtype=np.int64)
    exp10[cells] = ev
    if hard is not None:
        hard = np.zeros(Q.size, dtype=bool)
        hard[cells] = over
    return M, mend, exp10, hard


def _exponent_digits(buf: np.ndarray, end: np.ndarray, length: np.ndarray) -> np.ndarray:
    """int64 value of the ``length`` (>= 1) digits ending (exclusive) at byte ``end``, for the
    cells with ``length <= 8`` (the rest come out as garbage).

    Exponents of two digits everywhere (as '%e' writes them) take four cheap steps; up to two
    are read byte by byte; longer ones as one 8-byte word, masked and converted by SWAR.
    """
    shortest, longest = int(length.min()), int(length.max())
    if shortest == longest == 2:
        ev = buf.take(end - 2).astype(np.int64)
        ev *= 10
        ev += buf.take(end - 1).astype(np.int64)
        ev -= 11 * 48
        return ev
    if longest <= 2:
        ev = buf.take(end - 1).astype(np.int64)
        ev -= 48
        tens = buf.take(end - 2).astype(np.int64)
        tens -= 48
        tens *= 10 * (length > 1).view(np.uint8)
        ev += tens
        return ev
    x = _wide_view(buf, 1)[end - 8].view("<u8")
    x &= _TOP_DIGITS.take(np.minimum(length, 8))
    return _swar8_digits(x).view(np.int64)


# --------------------------------------------------------------------------------------------
# mantissa digits -> uint64, eight at a time
# --------------------------------------------------------------------------------------------

_TOP = np.array([0] + [((1 << (8 * k)) - 1) << (64 - 8 * k) for k in range(1, 9)], dtype=np.uint64)
_TOP_DIGITS = _TOP & np.uint64(0x0F0F0F0F0F0F0F0F)  # ASCII '0'..'9' & 0x0F == 0..9


def _mantissas(
    buf: np.ndarray,
    mend: np.ndarray,
    n_int: np.ndarray,
    n_frac: np.ndarray,
    dot: np.ndarray,
    hard: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The integer formed by each mantissa's digits, dot removed: ``(mant, hard)``.

    A mantissa is ``n_int`` digits, then (where ``dot`` is 1) a dot and ``n_frac`` digits,
    ending (exclusive) at byte ``mend``. ``hard`` (or None) comes back with the cells added
    whose mantissa is longer than 24 bytes or does not fit 64 bits; their ``mant`` is garbage.

    How, per cell, in ``nw`` = 1..3 little-endian 8-byte words (as few as the longest needs):

    1. one gather fetches the ``8 * nw`` bytes ending at ``mend`` (a wide gather costs about
       what a narrow one does);
    2. the dot is squeezed out: ``X`` keeps the fraction digits in place, and ``Y``, the same
       bytes moved one place towards the end (a shift across the words), brings the integer
       digits next to them. Two masks from small tables -- indexed by the digit counts --
       select each part and turn ASCII into digit values, so ``(X & A) | (Y & B)`` is the
       digit string right-aligned;
    3. SWAR turns each word into its 8-digit value with three multiply-shift-mask steps
       instead of eight, and the words are joined: ``v0 * 10**16 + v1 * 10**8 + v2``.
    """
    m = mend.size
    # (digits moved one byte, digits in place): (n_int, n_frac) after a dot, (0, n_int) without
    if bool(dot.all()):
        before, after = n_int, n_frac
    elif not dot.any():
        before, after = np.zeros_like(n_int), n_int
    else:
        before = n_int * dot
        after = n_int - before
        after += n_frac
    span = before + after
    span += dot
    longest = int(span.max())
    if longest > _MAX_SPAN or (hard is not None and hard.any()):
        # cells read by float() (too many digits, or hard already) read nothing here
        skip = span > _MAX_SPAN
        if hard is not None:
            skip |= hard
        hard = skip
        before = np.where(skip, 0, before)
        after = np.where(skip, 0, after)
        longest = int(np.where(skip, 0, span).max())
    nw = max(1, (longest + 7) // 8)
    width = 8 * nw

    X = _wide_view(buf, nw)[mend - width].view("<u8")  # (m * nw,) words, cell after cell
    if nw > 1 and int(after.min()) >= width - 8 and bool(dot.all()):
        # Every dot is in the first word (one digit before it, as '%e' writes): the other
        # words are all fraction digits, and only the first needs squeezing.
        X &= _TOP_DIGITS[8]
        first = X[::nw]
        a = after - (width - 8)
        moved = first << np.uint64(8)
        moved &= _MOVED[1].take(before * 9 + a)
        first &= _IN_PLACE[1].take(a)
        first |= moved
        return _join_words(_swar8_digits(X).reshape(m, nw), hard)
    in_place = _IN_PLACE[nw].take(after, axis=0).ravel()
    if before.any():
        Y = X << np.uint64(8)
        Y[1:] |= X[:-1] >> np.uint64(56)  # the top byte of each word moves into the next
        moved = before * (width + 1)
        moved += after
        Y &= _MOVED[nw].take(moved, axis=0).ravel()
        X &= in_place
        X |= Y
    else:
        X &= in_place
    return _join_words(_swar8_digits(X).reshape(m, nw), hard)


def _join_words(v: np.ndarray, hard: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(m, nw) 8-digit word values -> (m,) uint64 ``v0 * 10**16 + v1 * 10**8 + v2``, and
    ``hard`` with the cells added that may not fit 64 bits."""
    nw = v.shape[1]
    if nw == 1:
        return v[:, 0], hard
    mant = v[:, 0] * np.uint64(100_000_000)
    mant += v[:, 1]
    if nw == 3:
        mant *= np.uint64(100_000_000)
        mant += v[:, 2]
        # 1844 * 10**16 + (10**16 - 1) may exceed 2**64 - 1: leave those to float()
        over = v[:, 0] >= 1844
        if over.any():
            hard = over if hard is None else hard | over
    return mant, hard


def _wide_view(buf: np.ndarray, n_words: int) -> np.ndarray:
    """Every (overlapping) 8*n_words-byte window of ``buf`` as one opaque item: a gather of
    these fetches n_words unaligned words at once."""
    width = 8 * n_words
    return np.ndarray(
        shape=(buf.size - width + 1,), dtype=np.dtype((np.void, width)), buffer=buf, strides=(1,)
    )


def _digit_masks(n_words: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks of a ``8 * n_words``-byte window, as (rows, n_words) little-endian words.

    in_place[a] keeps the digit values of the last ``a`` bytes; moved[b * (width + 1) + a]
    those of the ``b`` bytes before them (0x0F per kept byte: ASCII digit -> its value).
    """
    width = 8 * n_words
    in_place = np.zeros((width + 1, width), dtype=np.uint8)
    moved = np.zeros(((width + 1) ** 2, width), dtype=np.uint8)
    for a in range(width + 1):
        in_place[a, width - a :] = 0x0F
        for b in range(width + 1 - a):
            moved[b * (width + 1) + a, width - a - b : width - a] = 0x0F
    return in_place.view("<u8"), moved.view("<u8")


_IN_PLACE, _MOVED = {}, {}
for _nw in (1, 2, 3):
    _IN_PLACE[_nw], _MOVED[_nw] = _digit_masks(_nw)


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


def _set_sign(values: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Set the sign bit where ``negative`` (so "-0" gives -0.0, as float() does); in place."""
    bits = values.view(np.uint64)
    bits |= negative.view(np.uint8).astype(np.uint64) << np.uint64(63)
    return values


# --------------------------------------------------------------------------------------------
# mantissa * 10**k, correctly rounded
# --------------------------------------------------------------------------------------------


def _scale(
    mant: np.ndarray, k: np.ndarray, hard: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Correctly rounded ``mant * 10**k`` (float64) and ``hard`` with the cells added whose
    rounding could not be proved (rare: the caller uses ``float()`` for them).

    Two exact routes. Clinger's: when ``mant <= 2**53`` and ``|k| <= 22`` both factors are
    exact doubles, so one IEEE multiply or divide rounds correctly -- short numbers such as
    '%.6f' need nothing else. Otherwise the double-double product of :func:`_dd_scale`.
    Whichever route most cells need runs over all of them (no gather, no scatter); the other
    only over the exceptions.
    """
    m = mant.size
    short = mant <= np.uint64(_TWO53)
    short &= np.abs(k) <= 22
    n_short = int(np.count_nonzero(short))
    if n_short * 2 >= m:  # mostly short numbers: Clinger for all, the rest redone
        values = _clinger(mant, k)
        if n_short < m:
            idx = np.flatnonzero(~short)
            ok, v = _dd_scale(mant.take(idx), k.take(idx))
            values[idx] = v
            if not ok.all():
                hard = _mark(hard, idx[~ok], m)
        return values, hard
    ok, values = _dd_scale(mant, k)  # mostly long numbers: no Clinger step at all
    if not ok.all():
        idx = np.flatnonzero(~ok)
        fast = short.take(idx)
        if fast.any():  # e.g. an exact midpoint, which Clinger rounds correctly
            values[idx[fast]] = _clinger(mant.take(idx[fast]), k.take(idx[fast]))
        if not fast.all():
            hard = _mark(hard, idx[~fast], m)
    return values, hard


def _mark(hard: np.ndarray | None, idx: np.ndarray, m: int) -> np.ndarray:
    if hard is None:
        hard = np.zeros(m, dtype=bool)
    hard[idx] = True
    return hard


def _clinger(mant: np.ndarray, k: np.ndarray) -> np.ndarray:
    """mant * 10**k in one IEEE operation: exact where mant <= 2**53 and |k| <= 22, garbage
    elsewhere (the caller redoes those cells)."""
    mf = mant.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if int(k.max()) <= 0:  # decimals: divide by an exact power of ten
            mf /= _P10.take(np.minimum(-k, 22))
        else:  # one of the two factors is 1.0, so this is still one rounding
            mf *= _P10.take(np.clip(k, 0, 22))
            mf /= _P10.take(np.clip(-k, 0, 22))
    return mf


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


def _veltkamp_split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x == hi + lo with both halves of at most 26 significant bits, so their products are exact."""
    c = _SPLITTER * x
    hi = c - (c - x)
    return hi, x - hi


_DD_HI_H, _DD_HI_L = _veltkamp_split(_DD_HI)


def _dd_scale(mant: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correctly rounded mant * 10**k where it can be proved, via double-double arithmetic:
    ``(ok, values)``.

    ``10**k`` is ``ph + pl`` from an exact table; ``mant`` (< 2**64) is exactly ``a + b``,
    ``a`` its nearest double. The product is formed to about 2**-95 relative error (Dekker's
    exact product ``a * ph``, since numpy has no fused multiply-add, plus the small terms), so
    rounding it to one double gives the correctly rounded result unless the exact value lies
    within that error of a rounding midpoint. ``ok`` is False for those (about one cell in
    2**40), and for exponents outside the table. Zero mantissas are ok (the value is 0).
    (mant and the result are never negative: the caller sets the sign.)
    Most steps write in place: fresh temporaries cost page faults.
    """
    ok = None
    kk = k - _DD_KMIN
    if int(k.min()) < _DD_KMIN or int(k.max()) > _DD_KMAX:
        ok = (k >= _DD_KMIN) & (k <= _DD_KMAX)
        np.clip(kk, 0, _DD_KMAX - _DD_KMIN, out=kk)
    ph, pl, phh, phl = _DD_HI.take(kk), _DD_LO.take(kk), _DD_HI_H.take(kk), _DD_HI_L.take(kk)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        a = mant.astype(np.float64)  # mant rounded to a double ...
        b = mant - a.astype(np.uint64)  # ... and the exact rest, |b| <= 2**10
        b = b.view(np.int64).astype(np.float64)
        # p + e == a * ph exactly (Dekker: a split into ah + al, ph pre-split into phh + phl)
        p = a * ph
        ah = a * _SPLITTER
        al = ah - a
        ah -= al  # high half of a
        np.subtract(a, ah, out=al)  # low half of a
        e = ah * phh
        e -= p
        e += np.multiply(ah, phl, out=ah)
        e += np.multiply(al, phh, out=ah)
        e += np.multiply(al, phl, out=al)
        # the small terms a * pl + b * ph, then the sum's exact rounding error d
        e += np.multiply(a, pl, out=al)
        e += np.multiply(b, ph, out=b)
        r = np.add(p, e, out=ah)
        np.subtract(r, p, out=p)
        np.subtract(e, p, out=e)  # d = e - (r - p), exact because |p| >= |e|
        # The exact value is r + d + (error <= r * 2**-95): within t = |d| + r * 2**-94 of r
        # (twice the bound: a margin for rounding t itself). It rounds to r if r - t rounds
        # to r: the spacing below r is never wider than above it (half as wide at a power of
        # two), so the upper side then holds too. r >= 0 here; zero mantissas pass (r == 0).
        t = np.abs(e, out=e)
        t += np.multiply(r, 2.0**-94, out=p)
        good = np.subtract(r, t, out=p) == r
    if ok is not None:
        good &= ok
    return good, r


def _parse_general(
    chunk: bytes, ncols: int, numeric_cols: np.ndarray, string_col: int | None
) -> tuple[int, np.ndarray, np.ndarray | None]:
    """Parse a clean block of CSV lines without a Python-level loop over cells (any layout).

    ``chunk`` holds whole lines, each ending in ``\\n``, no blank line, no CR, no quote. Returns
    ``(rows, values, strings)``: values (rows, len(numeric_cols)) float64 for the numeric
    columns in ``numeric_cols`` order, strings (rows,) stripped str cells of ``string_col``.
    Raises :class:`Unclean` unless every line has ``ncols`` fields, every numeric cell matches
    the number grammar and is finite, and every string cell is non-empty.

    How: each number is ``sign * mantissa * 10**k``. Non-digit bytes are rare (separators, one
    dot, a sign, an exponent) so the grammar is checked on them alone, with spaces trimmed
    first. Mantissas and their rounding are the lean reader's (:func:`_mantissas`,
    :func:`_scale`).
    """
    buf = np.frombuffer(b"0" * _PAD + chunk, dtype=np.uint8)
    nd_pos = np.flatnonzero((buf - np.uint8(48)) > 9)  # every byte that is not a digit
    ch = buf.take(nd_pos)
    is_sep = (ch == 44) | (ch == 10)
    sep_rank = np.flatnonzero(is_sep)
    sep_pos = nd_pos[sep_rank]
    nfields = sep_pos.size
    rows = nfields // ncols
    if rows == 0 or rows * ncols != nfields or sep_pos[-1] != buf.size - 1:
        raise Unclean
    is_nl = ch[sep_rank] == 10
    if int(is_nl.sum()) != rows or not is_nl[ncols - 1 :: ncols].all():
        raise Unclean  # some line has the wrong number of fields
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
        raise Unclean  # a letter, a space inside a number, any other byte

    epos = e.copy()  # where the mantissa ends
    has_e = np.zeros(m, dtype=bool)
    if is_e.any():
        fe = f[is_e]
        if fe.size > 1 and not (np.diff(fe) > 0).all():
            raise Unclean  # two exponents in one cell
        epos[fe] = o_pos[is_e]
        has_e[fe] = True
    has_dot = np.zeros(m, dtype=bool)
    dot_pos = np.zeros(m, dtype=np.int64)
    if is_dot.any():
        fd = f[is_dot]
        if fd.size > 1 and not (np.diff(fd) > 0).all():
            raise Unclean  # two dots in one cell
        dp = o_pos[is_dot]
        if (dp > epos[fd]).any():
            raise Unclean  # a dot in the exponent
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
            raise Unclean  # a sign in the middle of a number
        lead_sign[fs[at_start]] = True
        negative[fs[at_start & minus]] = True
        exp_sign[fs[after_e]] = True
        exp_negative[fs[after_e & minus]] = True

    mstart = s + lead_sign
    n_mant = epos - mstart - has_dot  # mantissa digits
    if (n_mant < 1).any():
        raise Unclean  # empty cell, a lone sign or dot, "e5"
    hard = n_mant > 24

    exp10 = np.zeros(m, dtype=np.int64)
    if has_dot.any():
        exp10 -= np.where(has_dot, epos - dot_pos - 1, 0)
    if has_e.any():
        n_exp = e - epos - 1 - exp_sign
        if (has_e & (n_exp < 1)).any():
            raise Unclean  # "1e", "1e+"
        hard |= has_e & (n_exp > 4)
        idx = np.flatnonzero(has_e)
        win = sliding_window_view(buf, 4)[e[idx] - 4]
        pad = np.arange(4) < (4 - n_exp[idx])[:, None]
        digits = np.where(pad, 0, win.astype(np.int64) - 48)
        ev = digits @ np.array([1000, 100, 10, 1], dtype=np.int64)
        exp10[idx] += np.where(exp_negative[idx], -ev, ev)

    n_frac = np.where(has_dot, epos - dot_pos - 1, 0)
    mant, hard = _mantissas(buf, epos, n_mant - n_frac, n_frac, has_dot.astype(np.int64), hard)
    values, hard = _scale(mant, exp10, hard)
    if hard is not None and hard.any():
        for i in np.flatnonzero(hard).tolist():
            values[i] = abs(float(chunk[s[i] - _PAD : e[i] - _PAD]))
    np.negative(values, out=values, where=negative)
    if not np.isfinite(values).all():
        raise Unclean
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


def _gather_strings(buf: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Cells [s, e) of a block as a stripped (rows,) str array; empty cells are unclean."""
    lengths = e - s
    if lengths.size == 0:
        return np.empty(0, dtype=str)
    width = int(lengths.max())
    if lengths.min() == 0 or width > 4096:
        raise Unclean
    if int(s[-1]) + width > buf.size:  # windows must not run past the end
        buf = np.concatenate([buf, np.zeros(width, dtype=np.uint8)])
    windows = np.ndarray(
        shape=(buf.size - width + 1,), dtype=np.dtype((np.void, width)), buffer=buf, strides=(1,)
    )
    R = windows[s].view(np.uint8).reshape(-1, width)  # a copy, one gather of whole windows
    if int(lengths.min()) < width:
        R[np.arange(width) >= lengths[:, None]] = 0  # NUL pads, like numpy strings
    if (R >= 128).any():
        out = np.char.decode(R.view(f"S{width}").ravel(), "utf-8")
    else:
        # ASCII: widening each byte to a UCS4 code point *is* the str array, without decoding
        out = R.astype(np.uint32).view(f"U{width}").ravel()
        if not ((R - np.uint8(1)) < 32).any():
            return out  # no whitespace or control byte (NUL padding wraps to 255): no strip
    out = np.char.strip(out)
    if (out == "").any():
        raise Unclean
    return out
