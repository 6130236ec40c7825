"""The two parsers behind read_csv -- numpy's np.loadtxt (default) and pyarrow.csv (the [fast]
extra) -- give the same tables, bit for bit, and the same errors, as the careful csv-module pass
that judges every file either of them refuses."""

from __future__ import annotations

import numpy as np
import pytest

from nnlearn.data import LabelEncoder, read_csv
from nnlearn.data import reader as csvread
from nnlearn.errors import DataError


@pytest.fixture(params=["numpy", "pyarrow"])
def parser(request, monkeypatch):
    if request.param == "pyarrow":
        pytest.importorskip("pyarrow.csv", reason="pyarrow is not installed (pip install "
                                                  "'nnlearn[fast]'): only numpy's parser is tested")
    else:
        monkeypatch.setattr(csvread, "_has_arrow", lambda: False)
    return request.param


NUMBERS = ["0", "-0", "+7", "1.", ".5", "-.5e-3", "1E5", "2.5e-300", "4.9e-324", "0.1",
           "1.7976931348623157e308", "9007199254740993", "0.30000000000000004", "1e-400",
           "123456789012345678901234", "3.141592653589793238462643383279"]
PLAIN = "a,b,y\n1,2.5,cat\n-3,4e2,dog\n0.5,-.25,cat\n"

# clean files: both parsers must read them (not leave them to the careful pass)
CLEAN = {
    "plain": PLAIN,
    "crlf": PLAIN.replace("\n", "\r\n"),
    "bom": "\ufeff" + PLAIN,
    "quoted": '"a","b","y"\n"1","2.5","cat"\n"-3",4e2,"dog"\n0.5,"-.25",cat\n',
    "one_row": "a,b,y\n1,2,x\n",
    "no_final_newline": PLAIN.rstrip("\n"),
    "trailing_blank_lines": PLAIN + "\n\n",
    "spaces": "a,b,y\n 1 ,2.5 , cat\n-3,  4e2,dog \n",
    "numbers": "a,b,y\n" + "".join(f"{n},{m},{i % 2}\n" for i, (n, m)
                                     in enumerate(zip(NUMBERS, reversed(NUMBERS)))),
}
# files the parsers leave to the careful pass, which reads them
CAREFUL = {
    "blank_line_inside": "a,b,y\n1,2,x\n\n3,4,z\n",
    "multi_line_label": 'a,b,y\n1,2,"two\nlines"\n3,4,z\n',
    "comma_in_label": 'a,b,y\n1,2,"x, y"\n3,4,z\n',
}
# refusals: the same message whichever parser ran first
REFUSED = {
    "string_in_numeric": "a,b,y\n1,2,x\n3,abc,z\n",
    "empty_cell": "a,b,y\n1,2,x\n3,,z\n",
    "empty_target": "a,b,y\n1,2,x\n3,4,\n",
    "header_only": "a,b,y\n",
    "nan": "a,b,y\n1,nan,x\n",
    "overflow": "a,b,y\n1,2,x\n1e999,2,x\n",
    "short_row": "a,b,y\n1,2,x\n3,4\n",
    "long_row": "a,b,y\n1,2,x\n3,4,z,5\n",
    "underscore": "a,b,y\n1_000,2,x\n",
    "not_utf8": b"a,b,y\n1,2,x\n3,4,caf\xe9\n",
    "bad_weight": "a,w,y\n1,-2,x\n",
}


def _write(tmp_path, content, name="f.csv"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


def _careful(path, **kw):
    req = csvread._Request(kw.get("target", "y"), None, True, kw.get("weight_column"),
                           tuple(kw.get("categorical", ())), kw.get("allow_missing", False))
    return csvread._read_careful(path, req)


def _same(a, b):
    assert (a.header, a.feature_names, a.columns, a.target) == \
        (b.header, b.feature_names, b.columns, b.target)
    assert a.X.dtype == b.X.dtype == np.float64 and a.X.shape == b.X.shape
    assert np.array_equal(a.X.view(np.int64), b.X.view(np.int64))  # -0.0 and the last ulp
    assert a.lines.tolist() == b.lines.tolist()
    assert (a.y is None and b.y is None) or a.y.tolist() == b.y.tolist()
    assert a.text.keys() == b.text.keys()
    for k in a.text:
        assert a.text[k].tolist() == b.text[k].tolist()
    assert (a.weights is None and b.weights is None) or np.array_equal(a.weights, b.weights)


@pytest.mark.parametrize("name", list(CLEAN))
def test_clean_files_are_read_by_the_parser_exactly_as_the_careful_pass_reads_them(
        tmp_path, parser, name):
    path = _write(tmp_path, CLEAN[name])
    fast = csvread._read_fast(path, csvread._Request("y", None, True, None))
    assert fast is not None, f"{parser} left a clean file to the careful pass"
    careful = _careful(path)
    _same(fast, careful)
    _same(read_csv(path, target="y"), careful)
    classes = LabelEncoder().fit(fast.y).classes_
    assert classes == LabelEncoder().fit(careful.y).classes_


@pytest.mark.parametrize("name", list(CAREFUL))
def test_files_the_parsers_leave_alone_are_read_by_the_careful_pass(tmp_path, parser, name):
    path = _write(tmp_path, CAREFUL[name])
    fast = csvread._read_fast(path, csvread._Request("y", None, True, None))
    careful = _careful(path)
    if fast is not None:  # pyarrow checks the fields of each row itself: a quoted comma is fine
        assert (parser, name) == ("pyarrow", "comma_in_label")
        _same(fast, careful)
    _same(read_csv(path, target="y"), careful)


@pytest.mark.parametrize("name", list(REFUSED))
def test_refusals_have_the_same_message_on_either_parser(tmp_path, parser, name):
    path = _write(tmp_path, REFUSED[name])
    kw = {"weight_column": "w"} if name == "bad_weight" else {}
    with pytest.raises(DataError) as careful:
        _careful(path, **kw)
    with pytest.raises(DataError) as fast:
        read_csv(path, target="y", **kw)
    assert (str(fast.value), fast.value.hint) == (str(careful.value), careful.value.hint)


def test_empty_cells_with_missing_values_allowed(tmp_path, parser):
    path = _write(tmp_path, "a,b,c,y\n1,,p,x\n,2.5,,z\n3,4,q,x\n")
    kw = {"categorical": ["c"], "allow_missing": True}
    table = read_csv(path, target="y", **kw)
    _same(table, _careful(path, **kw))
    assert np.isnan(table.X).tolist() == [[False, True], [True, False], [False, False]]
    assert table.text["c"].tolist() == ["p", "", "q"]


def _random_file(tmp_path, rows=2000, empty_every=0):
    rng = np.random.default_rng(7)
    values = rng.standard_normal((rows, 3)) * 10.0 ** rng.integers(-30, 30, (rows, 3))
    lines = [f"{a!r},{b:.6e},{c:.3f},{i % 5},lvl{i % 3}" for i, (a, b, c) in
             enumerate(values.tolist())]
    if empty_every:
        lines = [r if i % empty_every else "," + r.split(",", 1)[1]
                 for i, r in enumerate(lines)]
    return _write(tmp_path, "a,b,c,y,k\n" + "\n".join(lines) + "\n"), lines


def test_a_large_random_file(tmp_path, parser):
    path, rows = _random_file(tmp_path)
    fast = csvread._read_fast(path, csvread._Request("y", None, True, None, ("k",)))
    assert fast is not None
    _same(fast, _careful(path, categorical=["k"]))
    expected = np.array([[float(v) for v in r.split(",")[:3]] for r in rows])
    assert np.array_equal(fast.X.view(np.int64), expected.view(np.int64))


def test_pyarrow_is_given_memory_it_owns(tmp_path, monkeypatch):
    """Arrow's threads may release read_csv's input after it has returned, even while Python
    shuts down; freeing Python-owned bytes there needs the GIL and aborts the process ("terminate
    called without an active exception", exit -6, about 1 run in 100 on a busy machine). So
    every block handed to pyarrow must be an Arrow buffer, never Python bytes."""
    pa = pytest.importorskip("pyarrow")
    pytest.importorskip("pyarrow.csv")
    monkeypatch.setattr(csvread, "_SCAN_BYTES", 1024)
    monkeypatch.setattr(csvread, "_BLOCK_BYTES", 4096)
    given = []
    buffer_reader = pa.BufferReader

    def spy(source):
        given.append(source)
        return buffer_reader(source)

    monkeypatch.setattr(pa, "BufferReader", spy)
    path, _ = _random_file(tmp_path, empty_every=0)
    table = csvread._read_fast(path, csvread._Request("y", None, True, None, ("k",), False))
    assert table is not None and len(given) > 1
    for source in given:
        assert isinstance(source, pa.Buffer), type(source)  # not bytes


@pytest.mark.parametrize("empty_every", [0, 7])
def test_a_file_read_in_many_blocks(tmp_path, parser, monkeypatch, empty_every):
    """The scan reads the file in chunks, pyarrow one block of chunks at a time, each block in
    smaller pieces: row counts, empty cells and the copy into one matrix add up across them."""
    monkeypatch.setattr(csvread, "_SCAN_BYTES", 1024)
    monkeypatch.setattr(csvread, "_BLOCK_BYTES", 4096)
    monkeypatch.setattr(csvread, "_ARROW_BLOCK", 1024)
    path, _ = _random_file(tmp_path, empty_every=empty_every)
    with open(path, "rb") as fh:
        fh.readline()
        assert len(csvread._scan(fh, None)[1]) > 20
    kw = {"categorical": ["k"], "allow_missing": bool(empty_every)}
    req = csvread._Request("y", None, True, None, ("k",), bool(empty_every))
    fast = csvread._read_fast(path, req)
    assert (fast is None) == (parser == "numpy" and empty_every > 0)  # np.loadtxt: no empties
    careful = _careful(path, **kw)
    assert np.isnan(careful.X).any() == (empty_every > 0)
    if fast is not None:
        _same(fast, careful)
