"""The fast CSV path's speed tricks must not change a single bit: exact rounding on the cells
that stress each route of the parser (one to three 8-byte words, the dot squeezed out of any
word, Clinger, double-double, float() for the rest), threads that give the same table as one
thread, and errors found in a worker thread that still point at the right line and column."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlearn.data import fastparse as csvfast
from nnlearn.data import read_csv
from nnlearn.data import reader as csvread
from nnlearn.errors import DataError

# Cells chosen to hit one route each; the comment says which.
HARD_CELLS = [
    # mantissas of 20 digits starting 1844..: v0 * 10**16 may pass 2**64 - 1 (once wrapped)
    "0.18449999999999999999", "18449999999999999999", "0.18446744073709551616",
    "18446744073709551615", "18440000000000000000", "1844.9999999999999999",
    "0.18439999999999999999",
    # exact midpoints between two doubles: the double-double test must refuse, float() decides
    "9007199254740993", "9007199254740995", "0.5000000000000000555111512312578270211815834045",
    "2.0000000000000004440892098500626161694526672363281250",
    # powers of two written at full precision (np.savetxt), and zeros with any exponent
    "1.000000000000000000e+00", "5.000000000000000000e-01", "2.500000000000000000e-01",
    "-0.000000000000000000e+00", "0e-400", "0.0", "-0", "+0.0e5",
    # extremes: largest double, smallest normal and subnormal, underflow to zero
    "1.7976931348623157e308", "2.2250738585072014e-308", "4.9406564584124654e-324",
    "1e-400", "2.4703282292062328e-324",
    # Clinger's bounds: 2**53, 10**22, 10**-22
    "9007199254740992", "1e22", "1e23", "1e-22", "1e-23", "123456789012345678e-22",
    # no dot, dot first, dot last, signs, one/three/nine-digit exponents, E
    "7", "-7", "+7", ".5", "-.5", "5.", "-5.", "1e5", "1E+5", "-1e-5", "7E-09", "1e007",
    "3e-123456789", "1.5e0",
    # the dot in the first, second and third word of a three-word mantissa
    "1.23456789012345678", "1234567.8901234567", "123456789012345.67", "0.0012345678901234567",
    # longer than three words (24 bytes) with leading zeros: float() reads them
    "0.0000000000000000000000000000012", "000000000000000000000000001.5",
    "123456789012345678901234567",
]


def test_hard_cells_round_exactly_like_float():
    values = csvfast.parse_numbers(HARD_CELLS)
    assert values is not None
    expected = np.array([float(c) for c in HARD_CELLS])
    wrong = [c for c, v, x in zip(HARD_CELLS, values.tolist(), expected.tolist())
             if np.float64(v).tobytes() != np.float64(x).tobytes()]
    assert wrong == []


def test_hard_cells_in_a_file_take_the_fast_path(tmp_path):
    rows = [f"{a},{b},c{i % 2}" for i, (a, b) in enumerate(zip(HARD_CELLS, HARD_CELLS[::-1]))]
    p = tmp_path / "hard.csv"
    p.write_text("a,b,y\n" + "\n".join(rows) + "\n")
    with open(p, "rb") as fh:
        t = csvread._read_fast(str(p), fh, csvread._Request("y", None, True, None))
    assert t is not None, "a clean file must not need the slow path"
    expected = np.array([[float(a), float(b)] for a, b in zip(HARD_CELLS, HARD_CELLS[::-1])])
    assert np.array_equal(t.X.view(np.int64), expected.view(np.int64))


def test_the_double_double_route_refuses_what_it_cannot_prove():
    # an exact midpoint: rounding depends on digits beyond the double-double's reach
    mant = np.array([9007199254740993, 10**18], dtype=np.uint64)
    ok, values = csvfast._dd_scale(mant, np.array([0, -18]))
    assert ok.tolist() == [False, True]
    assert values[1] == 1.0


@settings(max_examples=300, deadline=None)
@given(
    sign=st.sampled_from(["", "-", "+"]),
    int_digits=st.text("0123456789", max_size=12),
    frac_digits=st.text("0123456789", max_size=21),
    dot=st.booleans(),
    exponent=st.one_of(st.just(""), st.integers(-330, 310).map(lambda e: f"e{e:+d}")),
)
def test_random_decimals_round_like_float(sign, int_digits, frac_digits, dot, exponent):
    body = f"{int_digits}.{frac_digits}" if dot else int_digits + frac_digits
    if not body.strip("."):
        body = "0"
    cell = sign + body + exponent
    value = csvfast.parse_numbers([cell])
    expected = float(cell)
    if not np.isfinite(expected):
        assert value is None  # non-finite: the slow path words the error
    else:
        assert value is not None and value[0].tobytes() == np.float64(expected).tobytes(), cell


def test_a_block_mixing_every_layout_matches_float():
    """One chunk holding all the shapes at once, so that each route runs on a subset (the
    few cells with an exponent among plain decimals, cells with and without a dot)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(4000) * 10.0 ** rng.integers(-12, 12, 4000)
    styles = rng.integers(0, 6, x.size)
    cells = [
        repr(v) if s == 0 else f"{v:.18e}" if s == 1 else f"{v:.3E}" if s == 2
        else f"{v:.6f}" if s == 3 else str(int(v)) if s == 4 else f"{v:.0f}."
        for v, s in zip(x.tolist(), styles.tolist())
    ]
    values = csvfast.parse_numbers(cells)
    expected = np.array([float(c) for c in cells])
    assert values is not None
    assert np.array_equal(values.view(np.int64), expected.view(np.int64))


@pytest.mark.parametrize("digits", [8, 9, 14, 16, 17, 18, 19, 21])
def test_blocks_of_scientific_notation_match_float(digits):
    """All cells '%.Ne' (as np.savetxt writes): every dot sits in the first word, the case
    the mantissa reader squeezes in that word alone."""
    rng = np.random.default_rng(digits)
    x = rng.standard_normal(3000) * 10.0 ** rng.integers(-300, 300, 3000)
    x[:5] = [0.0, -0.0, 1.0, 0.5, 1e-310]
    cells = [f"{v:.{digits}e}" for v in x.tolist()]
    values = csvfast.parse_numbers(cells)
    expected = np.array([float(c) for c in cells])
    assert values is not None
    assert np.array_equal(values.view(np.int64), expected.view(np.int64))


# ------------------------------------------------------------------------------------------
# threads
# ------------------------------------------------------------------------------------------


def _big_file(tmp_path, n=3000, bad_line=None):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((n, 3)) * [1.0, 1e3, 1e-4]
    lines = ["a,b,c,w,y"] + [
        f"{a!r},{b:.6f},{c:.18e},{abs(a):.3f},k{i % 3}" for i, (a, b, c) in enumerate(X.tolist())
    ]
    if bad_line is not None:  # file line numbers count the header as line 1
        cells = lines[bad_line - 1].split(",")
        cells[1] = "1.2.3"  # column b
        lines[bad_line - 1] = ",".join(cells)
    p = tmp_path / "big.csv"
    p.write_text("\n".join(lines) + "\n")
    return str(p)


@pytest.fixture
def many_cpus(monkeypatch):
    """Small chunks (many of them) and as many CPUs as a test asks for."""
    monkeypatch.setattr(csvread, "_CHUNK_BYTES", 2048)
    monkeypatch.setattr(csvread, "_threads_worth_using", lambda: 4)


def _record_threads(monkeypatch):
    seen: list[tuple[int, bool]] = []
    real = csvread.parse_chunk

    def spy(chunk, **kw):
        try:
            out = real(chunk, **kw)
        except csvfast.Unclean:
            seen.append((threading.get_ident(), True))
            raise
        seen.append((threading.get_ident(), False))
        return out

    monkeypatch.setattr(csvread, "parse_chunk", spy)
    return seen


@pytest.mark.parametrize("threads", [2, 3, 4])
def test_threads_give_the_same_table_as_one(tmp_path, many_cpus, monkeypatch, threads):
    p = _big_file(tmp_path)
    one = read_csv(p, target="y", weight_column="w", threads=1)
    seen = _record_threads(monkeypatch)
    many = read_csv(p, target="y", weight_column="w", threads=threads)
    workers = {ident for ident, _ in seen}
    assert len(seen) > 2 * threads and threading.get_ident() not in workers
    assert 1 < len(workers) <= threads
    for name in ("X", "y", "lines", "weights"):
        a, b = getattr(one, name), getattr(many, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert (a.view(np.int64) == b.view(np.int64)).all() if a.dtype.kind == "f" else (
            a == b).all(), name


def test_a_bad_cell_found_by_a_worker_thread_points_at_its_line(tmp_path, many_cpus,
                                                                 monkeypatch):
    p = _big_file(tmp_path, bad_line=2345)
    seen = _record_threads(monkeypatch)
    with pytest.raises(DataError) as info:
        read_csv(p, target="y", threads=2)
    assert (info.value.line, info.value.column) == (2345, "b")
    assert "1.2.3" in str(info.value)
    refused = [ident for ident, raised in seen if raised]
    assert refused and threading.get_ident() not in refused, "a worker found the bad chunk"


def test_thread_budget(monkeypatch):
    for var in ("NNLEARN_THREADS", *csvread.ENV_VARS):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(csvread, "_threads_worth_using", lambda: 8)
    assert csvread._thread_budget(None) == csvread._MAX_THREADS  # all CPUs, at most 4
    assert csvread._thread_budget(3) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what `nnlearn train --threads 1` sets
    assert csvread._thread_budget(None) == 1
    monkeypatch.setenv("NNLEARN_THREADS", "2")  # wins over the BLAS variables
    assert csvread._thread_budget(None) == 2
    assert csvread._thread_budget(3) == 3  # an explicit argument wins over both
    monkeypatch.setattr(csvread, "_threads_worth_using", lambda: 2)
    assert csvread._thread_budget(3) == 2  # never more threads than CPUs


@pytest.mark.parametrize("bad", [0, -1, 1.5, 2.0, "2", True])
def test_threads_must_be_a_positive_integer(tmp_path, bad):
    p = tmp_path / "t.csv"
    p.write_text("a,y\n1,2\n")
    with pytest.raises(ValueError, match="threads"):
        read_csv(p, target="y", threads=bad)


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), threads=st.integers(1, 4))
def test_any_thread_count_any_chunking_same_table(tmp_path, many_cpus, seed, threads):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    X = rng.standard_normal((n, 2)) * 10.0 ** rng.integers(-5, 5, (n, 2))
    text = "p,q,y\n" + "".join(f"{a!r},{b:.4e},{i % 2}\n" for i, (a, b) in enumerate(X.tolist()))
    p = tmp_path / "r.csv"
    p.write_text(text)
    t = read_csv(p, target="y", threads=threads)
    expected = np.array([[float(f"{a!r}"), float(f"{b:.4e}")] for a, b in X.tolist()])
    assert np.array_equal(t.X.view(np.int64), expected.view(np.int64))
    assert t.lines.tolist() == list(range(2, n + 2))


def test_x_grows_when_later_lines_are_shorter(tmp_path, many_cpus, monkeypatch):
    """X is sized from the first chunk's line lengths; a file whose lines get much shorter
    further on must still come out whole, equal to what the csv module reads."""
    long_rows = [f"{i},{i / 8},{i % 3},{'x' * 300}" for i in range(20)]
    short_rows = [f"{i},{i % 7}.5,{i % 3},k" for i in range(20, 9000)]
    p = tmp_path / "shrinking.csv"
    p.write_text("a,b,w,y\n" + "\n".join(long_rows + short_rows) + "\n")
    grown = []
    real_grow = csvread._grow
    monkeypatch.setattr(csvread, "_grow", lambda a, n, cap: grown.append(cap) or real_grow(a, n, cap))
    for threads in (1, 2):
        t = read_csv(p, target="y", weight_column="w", threads=threads)
        slow = csvread._read_slow(str(p), csvread._Request("y", None, True, "w"))
        assert np.array_equal(t.X.view(np.int64), slow.X.view(np.int64))
        assert np.array_equal(t.weights, slow.weights)
        assert t.lines.tolist() == slow.lines.tolist() == list(range(2, 9002))
        assert t.y.tolist() == slow.y.tolist()
    assert grown, "the first chunk's long lines must have led to too small an estimate"
