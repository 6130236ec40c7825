"""The fast path's number parser: CSV bytes -> float64 values, rounded exactly as ``float()``.

Why it exists
-------------
Converting numeric cells is nearly all the work of reading a numeric CSV file, and the ``csv``
module followed by ``float()`` costs Python-level work for every cell. Here a whole chunk of
lines is parsed by a fixed number of whole-array numpy operations -- no Python loop over rows or
cells. Speed may not cost exactness: every value is the correctly rounded double, bit-identical
to ``float(cell)``, so the fast and the slow reader of :mod:`nnlearn.csvread` agree bit for bit
and a trained model never depends on which of them read its data.

How
---
A number is ``sign * mantissa * 10**k``.

* Bytes that are not digits are few (the separators, a dot, a sign, an exponent), so one
  ``flatnonzero`` finds them all, and the line layout (``ncols`` fields on every line) and the
  number grammar are checked on them alone (:func:`_parse_block`, :func:`_lean_numbers`).
* The digits of a cell are fetched as right-aligned 8-byte words and converted eight at a time
  by SWAR arithmetic: three multiply-shift-mask steps per word instead of eight
  (:func:`_swar8_digits`).
* ``mantissa * 10**k`` is rounded correctly: one IEEE operation when mantissa <= 2**53 and
  |k| <= 22 (Clinger's fast path), else a double-double product with ``10**k`` taken from an
  exact table and an explicit test that the rounding is not ambiguous (:func:`_dd_scale`). The
  rare cells that fail that test, or whose mantissa needs more than 64 bits, go through
  ``float()``.

Short numbers (up to 8 digits, e.g. ``%.6f``) take the cheapest route; full precision numbers
(17-19 digits, ``repr`` or ``%.18e``) need more arithmetic per cell and are about twice as slow.
Blocks with spaces around numbers go to :func:`_parse_general`, slower but as exact.

What it accepts
---------------
Only chunks it can prove clean: valid UTF-8 without NUL bytes, CRLF or LF line endings, quotes
only around whole fields without commas or newlines inside them, every line with ``ncols``
fields, every numeric cell matching the grammar stated in :mod:`nnlearn.csvread` and finite,
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
    (None without one). Raises :class:`Unclean` unless every line has ``ncols`` fields, every
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
        raise Unclean
    if not (ch[sq[ncols::ncols]] == 10).all():
        raise Unclean  # newlines are not where every line has ncols fields
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
        raise Unclean
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
    Raises :class:`Unclean` unless every line has ``ncols`` fields, every numeric cell matches
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
        raise Unclean
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
        raise Unclean
    return out
