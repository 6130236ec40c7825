"""Property tests for nnlearn.data.read_csv.

1. Any bytes at all: read_csv returns a Table or raises DataError -- never anything else.
2. Well-formed numeric tables, written in many spellings (repr, %.6f, %e, integers, signs,
   spaces, quotes, CRLF, BOM, blank lines): the parsed values equal float() of each cell, bit
   for bit, and the fast reader agrees with the csv-module reader.
"""

from __future__ import annotations

import contextlib
import string

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlearn.data import read_csv
from nnlearn.data import reader as csvread
from nnlearn.errors import DataError

SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@contextlib.contextmanager
def small_chunks(n_bytes):
    """Make the fast reader's scan read the file in many small blocks."""
    saved = csvread._SCAN_BYTES
    csvread._SCAN_BYTES = n_bytes
    try:
        yield
    finally:
        csvread._SCAN_BYTES = saved


def write(tmp_path, raw: bytes):
    path = tmp_path / "p.csv"
    path.write_bytes(raw)
    return str(path)


CELLS = st.one_of(
    st.sampled_from(["", " ", "nan", "inf", "-inf", "1e999", '"', '""', "a", "é", "1,5", "x\ny"]),
    st.from_regex(r"[+-]?[0-9]{0,4}(\.[0-9]{0,4})?([eE][+-]?[0-9]{0,3})?", fullmatch=True),
    st.text(alphabet=string.printable + "éß€\x00", max_size=6),
)


@st.composite
def messy_csv(draw):
    n_cols = draw(st.integers(1, 4))
    header = draw(
        st.lists(st.sampled_from(["a", "b", "y", "w", "", " a"]), min_size=1, max_size=n_cols + 1)
    )
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=n_cols + 1), max_size=6))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(",".join(r) for r in [header, *rows])
    if draw(st.booleans()):
        text += newline * draw(st.integers(1, 2))
    raw = text.encode("utf-8")
    if draw(st.booleans()):
        raw = draw(st.binary(max_size=3)) + raw + draw(st.binary(max_size=3))
    return raw


@SETTINGS
@given(
    raw=messy_csv(),
    target=st.sampled_from(["y", None]),
    required=st.booleans(),
    chunk=st.sampled_from([1 << 20, 7]),
)
def test_any_input_gives_a_table_or_a_data_error(tmp_path, raw, target, required, chunk):
    path = write(tmp_path, raw)
    with small_chunks(chunk):
        try:
            t = read_csv(path, target=target, target_required=required)
        except DataError as exc:
            assert str(exc)  # a message, not a crash
            return
    assert t.X.dtype == np.float64 and t.X.ndim == 2
    assert np.isfinite(t.X).all()
    assert t.lines.shape == (t.X.shape[0],) and (np.diff(t.lines) > 0).all()
    assert t.y is None or t.y.shape == (t.X.shape[0],)


@SETTINGS
@given(raw=st.binary(max_size=60))
def test_arbitrary_bytes_give_a_table_or_a_data_error(tmp_path, raw):
    try:
        read_csv(write(tmp_path, raw), target=None)
    except DataError:
        pass


FINITE = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def spelled(draw):
    """A finite float and a string spelling of it (not necessarily round-tripping)."""
    style = draw(st.sampled_from(["repr", "fixed", "exp", "int", "digits"]))
    if style == "digits":  # long hand-made decimals, leading zeros, exponents
        sign = draw(st.sampled_from(["", "-", "+"]))
        ip = draw(st.text("0123456789", min_size=1, max_size=25))
        fp = draw(st.text("0123456789", max_size=25))
        ex = draw(st.sampled_from(["", "e5", "E-17", "e+300", "e-330", "e22", "e-22"]))
        text = f"{sign}{ip}.{fp}{ex}" if draw(st.booleans()) else f"{sign}{ip}{ex}"
        return text if np.isfinite(float(text)) else "0"
    x = draw(FINITE)
    if style == "fixed" and abs(x) < 1e15:
        text = f"{x:.{draw(st.integers(0, 9))}f}"
    elif style == "exp":
        text = f"{x:.{draw(st.integers(0, 18))}e}"
    elif style == "int" and abs(x) < 1e18:
        text = str(int(x))
    else:
        text = repr(x)
    return text if np.isfinite(float(text)) else repr(x)  # "%.0e" % 1.7e308 == "2e+308"


@st.composite
def numeric_table(draw):
    n_cols = draw(st.integers(1, 5))
    n_rows = draw(st.integers(1, 12))
    cells = draw(
        st.lists(
            st.lists(spelled(), min_size=n_cols, max_size=n_cols), min_size=n_rows, max_size=n_rows
        )
    )
    labels = draw(
        st.lists(st.sampled_from(["cat", "dog", "0", "1", "ému"]), min_size=n_rows, max_size=n_rows)
    )
    pad = draw(st.sampled_from(["", " ", "\t", "  "]))
    quote = draw(st.booleans())
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    names = [f"f{j}" for j in range(n_cols)]
    lines = [",".join([*names, "label"])]
    for row, label in zip(cells, labels):
        shown = [f'"{c}"' if quote and k % 2 else f"{pad}{c}{pad}" for k, c in enumerate(row)]
        lines.append(",".join([*shown, label]))
    text = newline.join(lines) + newline * draw(st.integers(0, 2))
    bom = draw(st.booleans())
    expected = np.array([[float(c) for c in row] for row in cells])
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(), expected, labels


@SETTINGS
@given(case=numeric_table(), chunk=st.sampled_from([1 << 20, 16]))
def test_parsed_values_equal_float_of_each_cell(tmp_path, case, chunk):
    raw, expected, labels = case
    path = write(tmp_path, raw)
    with small_chunks(chunk):
        t = read_csv(path, target="label")
    assert t.X.shape == expected.shape
    assert np.array_equal(t.X.view(np.int64), expected.view(np.int64)), (t.X, expected)
    assert t.y.tolist() == labels
    assert t.lines.tolist() == list(range(2, 2 + len(labels)))
    slow = csvread._read_careful(path, csvread._Request("label", None, True, None))
    assert np.array_equal(slow.X.view(np.int64), t.X.view(np.int64))
    assert slow.y.tolist() == labels
