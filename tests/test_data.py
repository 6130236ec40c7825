"""Tests for nnlearn.data: CSV reading (errors located by line and column, the inputs that must
just work, fast path == slow path), target handling, scaling, splitting and batching."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from nnlearn.data import (
    LabelEncoder,
    Standardizer,
    class_weights_balanced,
    infer_task,
    read_csv,
    regression_targets,
    split_indices,
)
from nnlearn.data import reader as csvread
from nnlearn.errors import ConfigError, DataError


def write(tmp_path, content, name="d.csv"):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return str(path)


def read_slow(path, **kw):
    """The careful csv-module pass alone (what the fast path falls back to)."""
    kw.setdefault("target", None)
    req = csvread._Request(
        kw["target"], kw.get("features"), kw.get("target_required", True), kw.get("weight_column")
    )
    return csvread._read_careful(path, req)


def read_fast(path, target, weight_column=None):
    """The parser library's result, or None when it leaves the file to the careful pass."""
    return csvread._read_fast(path, csvread._Request(target, None, True, weight_column))


def assert_same_table(a, b):
    assert a.header == b.header
    assert a.feature_names == b.feature_names
    assert a.X.dtype == b.X.dtype == np.float64
    # bitwise: -0.0 vs 0.0 and the last ulp matter
    assert np.array_equal(a.X.view(np.int64), b.X.view(np.int64))
    assert np.array_equal(a.lines, b.lines)
    if a.y is None or b.y is None:
        assert a.y is None and b.y is None
    else:
        assert a.y.tolist() == b.y.tolist()
    if a.weights is None or b.weights is None:
        assert a.weights is None and b.weights is None
    else:
        assert np.array_equal(a.weights, b.weights)


SIMPLE = "a,b,y\n1,2.5,cat\n-3,4e2,dog\n0.5,-.25,cat\n"


# ------------------------------------------------------------------------------------------
# reading: the basics
# ------------------------------------------------------------------------------------------


def test_reads_features_target_and_lines(tmp_path):
    t = read_csv(write(tmp_path, SIMPLE), target="y")
    assert t.header == ["a", "b", "y"]
    assert t.feature_names == ["a", "b"]
    np.testing.assert_array_equal(t.X, [[1, 2.5], [-3, 400], [0.5, -0.25]])
    assert t.X.dtype == np.float64 and t.X.shape == (3, 2)
    assert t.y.tolist() == ["cat", "dog", "cat"]
    assert t.target == "y"
    assert t.lines.tolist() == [2, 3, 4]
    assert t.weights is None


def test_features_are_returned_in_requested_order(tmp_path):
    t = read_csv(write(tmp_path, SIMPLE), target="y", features=["b", "a"])
    assert t.feature_names == ["b", "a"]
    np.testing.assert_array_equal(t.X, [[2.5, 1], [400, -3], [-0.25, 0.5]])


def test_reordered_columns_give_identical_X(tmp_path):
    p1 = write(tmp_path, "a,b,c,y\n1,2,3,x\n4,5,6,z\n", "one.csv")
    p2 = write(tmp_path, "y,c,a,b\nx,3,1,2\nz,6,4,5\n", "two.csv")
    t1 = read_csv(p1, target="y")
    t2 = read_csv(p2, target="y", features=t1.feature_names)
    np.testing.assert_array_equal(t1.X, t2.X)
    assert t2.y.tolist() == ["x", "z"]


def test_extra_columns_are_ignored_even_if_not_numeric(tmp_path):
    p = write(tmp_path, "id,a,note,b,y\nr1,1,hello,2,0\nr2,3,,4,1\n")
    t = read_csv(p, target="y", features=["a", "b"])
    np.testing.assert_array_equal(t.X, [[1, 2], [3, 4]])


def test_features_none_excludes_target_and_weight(tmp_path):
    p = write(tmp_path, "a,w,b,y\n1,0.5,2,0\n3,2,4,1\n")
    t = read_csv(p, target="y", weight_column="w")
    assert t.feature_names == ["a", "b"]
    np.testing.assert_array_equal(t.weights, [0.5, 2.0])


def test_no_target_requested_means_all_columns_are_features(tmp_path):
    t = read_csv(write(tmp_path, "a,b\n1,2\n"), target=None)
    assert t.y is None and t.target is None and t.feature_names == ["a", "b"]


def test_absent_target_allowed_when_not_required(tmp_path):
    t = read_csv(write(tmp_path, "a,b\n1,2\n"), target="y", target_required=False)
    assert t.y is None and t.target is None
    np.testing.assert_array_equal(t.X, [[1, 2]])
    t2 = read_csv(write(tmp_path, SIMPLE, "l.csv"), target="y", target_required=False)
    assert t2.y.tolist() == ["cat", "dog", "cat"]


def test_numeric_target_is_kept_as_raw_strings(tmp_path):
    t = read_csv(write(tmp_path, "a,y\n1,1.50\n2,-3\n"), target="y")
    assert t.y.tolist() == ["1.50", "-3"]


def test_non_ascii_string_labels(tmp_path):
    t = read_csv(write(tmp_path, "a,y\n1,café\n2,naïve\n3, ümlaut \n"), target="y")
    assert t.y.tolist() == ["café", "naïve", "ümlaut"]


# ------------------------------------------------------------------------------------------
# inputs that must just work
# ------------------------------------------------------------------------------------------


def test_crlf_line_endings(tmp_path):
    lf = read_csv(write(tmp_path, SIMPLE, "lf.csv"), target="y")
    crlf = read_csv(write(tmp_path, SIMPLE.replace("\n", "\r\n"), "crlf.csv"), target="y")
    assert_same_table(lf, crlf)


def test_utf8_bom(tmp_path):
    t = read_csv(write(tmp_path, b"\xef\xbb\xbf" + SIMPLE.encode()), target="y")
    assert t.header == ["a", "b", "y"]
    assert t.y.tolist() == ["cat", "dog", "cat"]


def test_quoted_fields_match_unquoted(tmp_path):
    quoted = '"a","b","y"\n"1","2.5","cat"\n"-3",4e2,"dog"\n0.5,"-.25",cat\n'
    t1 = read_csv(write(tmp_path, SIMPLE, "plain.csv"), target="y")
    t2 = read_csv(write(tmp_path, quoted, "quoted.csv"), target="y")
    assert_same_table(t1, t2)


def test_r_style_quotes_take_the_fast_path(tmp_path):
    rows = [f'{i},{i / 4},"{"ab"[i % 2]}"' for i in range(50)]
    text = '"a","b","y"\n' + "\n".join(rows) + "\n"
    p = write(tmp_path, text)
    fast = read_fast(p, "y")
    assert fast is not None, "quotes around whole fields need no csv module"
    assert_same_table(fast, read_slow(p, target="y"))
    assert fast.y.tolist()[:3] == ["a", "b", "a"]


@pytest.mark.parametrize("cell", ['"a""b"', '"a,b"', '"a"b', 'a"b"', ' "ab"', '"a\nb"', '"ab" '])
def test_other_quoting_reads_as_the_csv_module_reads_it(tmp_path, cell):
    p = write(tmp_path, f"a,y\n1,{cell}\n2,z\n")
    fast = read_fast(p, "y")
    if fast is not None:
        assert_same_table(fast, read_slow(p, target="y"))
    assert_same_table(read_csv(p, target="y"), read_slow(p, target="y"))


def test_quoted_label_with_comma_and_newline(tmp_path):
    p = write(tmp_path, 'a,y\n1,"x, y"\n2,"two\nlines"\n3,z\n')
    t = read_csv(p, target="y")
    assert t.y.tolist() == ["x, y", "two\nlines", "z"]
    assert t.lines.tolist() == [2, 3, 5]  # a record starts on its first physical line


@pytest.mark.parametrize("tail", ["\n", "\n\n\n", "\r\n\r\n", "", "\n  \n"])
def test_trailing_blank_lines_and_missing_final_newline(tmp_path, tail):
    p = write(tmp_path, SIMPLE.rstrip("\n") + tail)
    t = read_csv(p, target="y")
    assert t.X.shape == (3, 2)
    assert t.lines.tolist() == [2, 3, 4]


def test_blank_lines_in_the_middle_keep_physical_line_numbers(tmp_path):
    p = write(tmp_path, "a,y\n1,x\n\n2,y\n\n\n3,z\n")
    t = read_csv(p, target="y")
    np.testing.assert_array_equal(t.X[:, 0], [1, 2, 3])
    assert t.lines.tolist() == [2, 4, 7]


def test_spaces_around_numbers_names_and_labels(tmp_path):
    p = write(tmp_path, "a , b,y\n 1 ,\t2.5 , cat\n-3,  4 ,dog \n")
    t = read_csv(p, target="y", features=["a", "b"])
    np.testing.assert_array_equal(t.X, [[1, 2.5], [-3, 4]])
    assert t.y.tolist() == ["cat", "dog"]


NUMBERS = [
    "0",
    "-0",
    "+7",
    "007",
    "1.",
    ".5",
    "-.5e-3",
    "1E5",
    "1e+5",
    "2.5e-300",
    "1.7976931348623157e308",
    "4.9e-324",
    "2.2250738585072014e-308",
    "0.1",
    "0.30000000000000004",
    "123456789012345678901234",
    "9007199254740993",
    "1e23",
    "8.98846567431158e307",
    "0.000000000000000000000000000001",
    "3.141592653589793238462643383279",
    "1e-400",
    "-0.0e10",
    "12345678.12345678",
]


def test_rounding_midpoints_tie_to_even_like_float(tmp_path):
    # Odd integers between 2**k and 2**(k+1), k >= 53, lie exactly halfway between two doubles:
    # a parser must round them to even, as float() does.
    cells = []
    for k in range(53, 64):
        base = 2**k
        half = 2 ** (k - 53)
        cells += [str(base + half), str(base + 3 * half), str(base + half + 1), f"{base + half}e-3"]
    text = "x\n" + "\n".join(cells) + "\n"
    t = read_csv(write(tmp_path, text), target=None)
    expected = np.array([float(c) for c in cells])
    assert np.array_equal(t.X[:, 0].view(np.int64), expected.view(np.int64))


def test_number_grammar_rounds_exactly_like_float(tmp_path):
    text = "x\n" + "\n".join(NUMBERS) + "\n"
    t = read_csv(write(tmp_path, text), target=None)
    expected = np.array([float(s) for s in NUMBERS])
    assert np.array_equal(t.X[:, 0].view(np.int64), expected.view(np.int64))


def test_fast_and_slow_paths_agree(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.standard_normal((300, 4)) * 10.0 ** rng.integers(-8, 8, (300, 4))
    fmt = ["%.6f", "%r", "%.3e", "%d"]
    rows = []
    for i, row in enumerate(values):
        cells = [fmt[j] % (int(v) if fmt[j] == "%d" else v) for j, v in enumerate(row.tolist())]
        rows.append(",".join(cells + [f"c{i % 3}", f"{abs(row[0]):.2f}"]))
    text = "a,b,c,d,y,w\n" + "\n".join(rows) + "\n"
    p = write(tmp_path, text)
    fast = read_fast(p, "y", "w")
    assert fast is not None, "this clean file must take the fast path"
    slow = read_slow(p, target="y", weight_column="w")
    assert_same_table(fast, slow)
    assert_same_table(read_csv(p, target="y", weight_column="w"), slow)


def test_scanning_in_small_blocks_gives_the_same_table(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3000, 3))
    lines = ["a,b,c,y"] + [
        f"{a:.5f},{b!r},{c:.2e},{i % 4}" for i, (a, b, c) in enumerate(X.tolist())
    ]
    lines[1500] = ""  # a blank line inside some chunk
    p = write(tmp_path, "\n".join(lines) + "\n")
    whole = read_csv(p, target="y")
    monkeypatch.setattr(csvread, "_SCAN_BYTES", 1000)
    assert_same_table(read_csv(p, target="y"), whole)
    assert whole.lines[1498:1500].tolist() == [1500, 1502]  # around the blank line 1501
    assert_same_table(whole, read_slow(p, target="y"))


# ------------------------------------------------------------------------------------------
# errors: what, where
# ------------------------------------------------------------------------------------------


def raises(tmp_path, content, **kw):
    kw.setdefault("target", "y")
    with pytest.raises(DataError) as info:
        read_csv(write(tmp_path, content), **kw)
    return info.value


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found") as info:
        read_csv(str(tmp_path / "nope.csv"), target="y")
    assert info.value.path.endswith("nope.csv")


def test_directory(tmp_path):
    with pytest.raises(DataError, match="directory"):
        read_csv(str(tmp_path), target="y")


def test_unreadable_file(tmp_path, monkeypatch):
    p = write(tmp_path, SIMPLE)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(DataError, match="not readable"):
        read_csv(p, target="y")


def test_open_failure_becomes_data_error(tmp_path, monkeypatch):
    p = write(tmp_path, SIMPLE)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(DataError, match="cannot read"):
        read_csv(p, target="y")


def test_non_utf8_bytes_name_the_line(tmp_path):
    e = raises(tmp_path, b"a,y\n1,x\n2,caf\xe9\n3,z\n")
    assert "UTF-8" in str(e) and e.line == 3


def test_non_utf8_after_an_earlier_bad_cell_reports_the_cell(tmp_path):
    e = raises(tmp_path, b"a,y\n1,x\nzz,y\n2,caf\xe9\n")
    assert e.line == 3 and e.column == "a"


@pytest.mark.parametrize("content", ["", "\n\n", "\xef\xbb\xbf", "  \n"])
def test_empty_file(tmp_path, content):
    e = raises(tmp_path, content.encode("latin-1") if content == "\xef\xbb\xbf" else content)
    assert "empty" in str(e)


def test_header_only(tmp_path):
    e = raises(tmp_path, "a,b,y\n")
    assert "no data rows" in str(e)


def test_duplicate_column_names(tmp_path):
    e = raises(tmp_path, "a,b,a,y\n1,2,3,x\n")
    assert "duplicate" in str(e) and "'a'" in str(e) and e.line == 1


def test_ragged_row(tmp_path):
    e = raises(tmp_path, "a,b,c,d,y\n1,2,3,4,x\n1,2,3,4\n")
    assert e.line == 3 and "expected 5 fields, found 4" in str(e)


def test_too_many_fields(tmp_path):
    e = raises(tmp_path, "a,y\n1,x\n1,5,x\n")
    assert e.line == 3 and "expected 2 fields, found 3" in str(e)


def test_empty_cell(tmp_path):
    e = raises(tmp_path, "a,b,y\n1,2,x\n3,,x\n")
    assert (e.line, e.column) == (3, "b") and "empty" in str(e)


def test_whitespace_only_cell_is_empty(tmp_path):
    e = raises(tmp_path, "a,b,y\n1, ,x\n")
    assert (e.line, e.column) == (2, "b") and "empty" in str(e)


def test_non_numeric_cell_is_quoted_and_truncated(tmp_path):
    e = raises(tmp_path, "a,b,y\n1,2,x\n3,abc,x\n")
    assert (e.line, e.column) == (3, "b") and "'abc'" in str(e) and "number" in str(e)
    long = "x" * 500
    e = raises(tmp_path, f"a,y\n{long},x\n")
    assert "..." in str(e) and len(str(e)) < 300


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1e400"])
def test_non_finite_cell(tmp_path, cell):
    e = raises(tmp_path, f"a,b,y\n1,2,x\n3,{cell},x\n")
    assert (e.line, e.column) == (3, "b") and "finite" in str(e)
    assert cell in str(e)


@pytest.mark.parametrize("cell", ["1,5", "0x10", "1_000", "١٢", "1.2.3", "--1", "1e", "e5", "."])
def test_other_non_numbers(tmp_path, cell):
    e = raises(tmp_path, f'a,y\n"{cell}",x\n')
    assert (e.line, e.column) == (2, "a") and "non-numeric" in str(e)


def test_missing_target_lists_columns(tmp_path):
    e = raises(tmp_path, "a,b,label\n1,2,x\n")
    assert "'y'" in str(e) and "'label'" in str(e) and "'a'" in str(e)


def test_missing_feature_columns_listed(tmp_path):
    e = raises(tmp_path, SIMPLE, features=["a", "zz", "qq"])
    assert "zz" in str(e) and "qq" in str(e) and "columns found" in str(e)


def test_empty_target_cell(tmp_path):
    e = raises(tmp_path, "a,y\n1,x\n2,\n")
    assert (e.line, e.column) == (3, "y") and "target" in str(e)


def test_negative_and_non_finite_weights(tmp_path):
    e = raises(tmp_path, "a,w,y\n1,1,x\n2,-0.5,x\n", weight_column="w")
    assert (e.line, e.column) == (3, "w") and "weight" in str(e)
    e = raises(tmp_path, "a,w,y\n1,nan,x\n", weight_column="w")
    assert (e.line, e.column) == (2, "w")


def test_first_problem_is_reported(tmp_path):
    # a bad value before a ragged row: the value
    e = raises(tmp_path, "a,b,y\n1,2,x\n1,zz,x\n1,2\n")
    assert e.line == 3 and e.column == "b"
    # a ragged row before a bad value: the row
    e = raises(tmp_path, "a,b,y\n1,2,x\n1,2\n1,zz,x\n")
    assert e.line == 3 and "fields" in str(e)
    # two bad cells on one line: the leftmost
    e = raises(tmp_path, "a,b,y\n1,2,x\nqq,zz,x\n")
    assert e.column == "a"


def test_error_line_is_exact_deep_in_a_big_file(tmp_path):
    rows = [f"{i},{i * 0.5},c{i % 2}" for i in range(20000)]
    rows[15321] = "7,1e999,c1"
    e = raises(tmp_path, "a,b,y\n" + "\n".join(rows) + "\n")
    assert (e.line, e.column) == (15323, "b")


def test_error_in_quoted_file_names_record_start(tmp_path):
    e = raises(tmp_path, 'a,y\n1,"multi\nline"\nbad,x\n')
    assert e.line == 4


# ------------------------------------------------------------------------------------------
# targets
# ------------------------------------------------------------------------------------------


def arr(*cells):
    return np.array(cells, dtype=str)


def test_infer_task_rule():
    assert infer_task(arr("cat", "dog")) == "classification"
    assert infer_task(arr("0", "1", "1", "2")) == "classification"
    assert infer_task(arr("1.0", "2.0")) == "classification"
    assert infer_task(arr(*[str(i) for i in range(20)])) == "classification"
    assert infer_task(arr(*[str(i) for i in range(21)])) == "regression"
    assert infer_task(arr("0.5", "1", "2")) == "regression"
    assert infer_task(arr("1", "x")) == "classification"
    assert infer_task(np.array([0.1, 0.2])) == "regression"
    assert infer_task(np.array([0, 1, 1])) == "classification"


def test_label_encoder_numeric_order_and_normalisation():
    enc = LabelEncoder().fit(arr("10", "2", "1.0", "2"))
    assert enc.classes_ == ["1", "2", "10"]
    assert enc.transform(arr("2", "10", "1", "1.0")).tolist() == [1, 2, 0, 0]
    assert enc.inverse_transform(np.array([2, 0])).tolist() == ["10", "1"]


def test_label_encoder_strings_sorted():
    enc = LabelEncoder().fit(arr("b", "a", "B", "a"))
    assert enc.classes_ == ["B", "a", "b"]
    idx = enc.transform(arr("a", "b", "B"))
    assert idx.dtype == np.int64 and idx.tolist() == [1, 2, 0]


def test_label_encoder_non_integer_numbers_sorted_by_value():
    enc = LabelEncoder().fit(arr("0.5", "0.25", "1.5"))
    assert enc.classes_ == ["0.25", "0.5", "1.5"]
    assert enc.transform(arr("1.5", ".5")).tolist() == [2, 1]


def test_label_encoder_unseen_label_names_label_line_and_classes():
    enc = LabelEncoder().fit(arr("cat", "dog"))
    with pytest.raises(DataError) as info:
        enc.transform(arr("dog", "cow"), lines=np.array([2, 9]), path="p.csv")
    e = info.value
    assert e.line == 9 and "'cow'" in str(e) and "cat" in str(e) and "dog" in str(e)
    enc = LabelEncoder().fit(arr("1", "2"))
    with pytest.raises(DataError, match="'3'"):
        enc.transform(arr("1", "3"))
    with pytest.raises(DataError, match="'x'"):
        enc.transform(arr("x"))


def test_label_encoder_dict_round_trip():
    enc = LabelEncoder().fit(arr("10", "2"))
    back = LabelEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    assert back.classes_ == enc.classes_
    assert back.transform(arr("2", "10")).tolist() == [0, 1]
    with pytest.raises(DataError):
        LabelEncoder.from_dict({"kind": "weird", "classes": []})


def test_regression_targets_shape_and_errors():
    y = regression_targets(arr("1.5", "-2", "3e2"))
    assert y.shape == (3, 1) and y.dtype == np.float64
    np.testing.assert_array_equal(y[:, 0], [1.5, -2, 300])
    with pytest.raises(DataError) as info:
        regression_targets(arr("1", "x", "nan"), lines=np.array([2, 3, 4]), path="f.csv")
    assert info.value.line == 3 and "'x'" in str(info.value)
    with pytest.raises(DataError, match="finite") as info:
        regression_targets(arr("1", "inf"), lines=np.array([2, 5]))
    assert info.value.line == 5


def test_class_weights_balanced():
    y = np.array([0, 0, 0, 1, 2, 2])
    w = class_weights_balanced(y, 4)
    np.testing.assert_allclose(w[:3], [6 / (4 * 3), 6 / (4 * 1), 6 / (4 * 2)])
    assert w[3] == 1.0  # absent class
    # weighted counts are equal across present classes
    counts = np.bincount(y, minlength=4)[:3]
    np.testing.assert_allclose(counts * w[:3], 6 / 4)


# ------------------------------------------------------------------------------------------
# scaling
# ------------------------------------------------------------------------------------------


def test_standardizer_statistics_and_constant_column():
    X = np.array([[1.0, 5.0, 0.1], [3.0, 5.0, 0.1], [5.0, 5.0, 0.1]])
    before = X.copy()
    s = Standardizer().fit(X, ["a", "b", "c"])
    np.testing.assert_allclose(s.mean_, X.mean(axis=0))
    assert s.scale_[1] == 1.0 and s.scale_[2] == 1.0  # constant columns: no division by ~0
    np.testing.assert_allclose(s.scale_[0], X[:, 0].std())
    Z = s.transform(X)
    np.testing.assert_array_equal(X, before)  # input untouched
    assert Z is not X
    np.testing.assert_allclose(Z[:, 0], [-1.224744871, 0, 1.224744871])
    np.testing.assert_allclose(Z[:, 1:], 0, atol=1e-15)


def test_standardizer_preserves_float32():
    X = np.arange(6, dtype=np.float32).reshape(3, 2)
    Z = Standardizer().fit(X).transform(X)
    assert Z.dtype == np.float32


def test_standardizer_dict_round_trip():
    X = np.random.default_rng(0).standard_normal((50, 3))
    s = Standardizer().fit(X, ["a", "b", "c"])
    back = Standardizer.from_dict(json.loads(json.dumps(s.to_dict())))
    np.testing.assert_array_equal(back.transform(X), s.transform(X))
    assert back.feature_names == ["a", "b", "c"]


def test_standardizer_overflow_names_column():
    X = np.array([[1.0, 1e300], [2.0, -1e300], [3.0, 1e300]])
    with pytest.raises(DataError) as info:
        Standardizer().fit(X, ["ok", "huge"])
    assert info.value.column == "huge"


def test_standardizer_wrong_width():
    s = Standardizer().fit(np.ones((3, 2)))
    with pytest.raises(DataError):
        s.transform(np.ones((3, 3)))


# ------------------------------------------------------------------------------------------
# splitting and batching
# ------------------------------------------------------------------------------------------


def test_split_partitions_and_is_deterministic():
    tr, va = split_indices(100, 0.2, np.random.default_rng(5))
    assert len(va) == 20 and len(tr) == 80
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(100))
    _, va2 = split_indices(100, 0.2, np.random.default_rng(5))
    np.testing.assert_array_equal(va, va2)
    _, va3 = split_indices(100, 0.2, np.random.default_rng(6))
    assert not np.array_equal(va, va3)


def test_stratified_split_proportions():
    y = np.array([0] * 80 + [1] * 15 + [2] * 3 + [3] * 2 + [4])
    rng = np.random.default_rng(0)
    tr, va = split_indices(y.size, 0.2, rng, stratify=y)
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(y.size))
    per_class = np.bincount(y[va], minlength=5).tolist()
    assert per_class == [16, 3, 1, 1, 0]  # round(n_c * 0.2), at least one when n_c >= 2
    assert np.bincount(y[tr], minlength=5).min() >= 1  # every class keeps a training row


def test_split_zero_fraction_and_bad_fraction():
    tr, va = split_indices(10, 0.0, np.random.default_rng(0))
    assert va.size == 0 and tr.tolist() == list(range(10))
    with pytest.raises(ConfigError):
        split_indices(10, 1.0, np.random.default_rng(0))


@pytest.mark.parametrize(
    "content", [b"\x00\x01", b'a,y\n"unterminated\n', b"a,y\n1,x\r2,y\n", b"a\n\xff\n"]
)
def test_odd_files_raise_only_data_error(tmp_path, content):
    try:
        t = read_csv(write(tmp_path, content), target="y", target_required=False)
    except DataError:
        return
    assert np.isfinite(t.X).all()


@pytest.mark.parametrize("sep", [";", "\t"])
def test_a_file_separated_by_something_else_gets_a_hint_saying_so(tmp_path, sep):
    (tmp_path / "d.csv").write_text(sep.join(["a", "b", "label"]) + "\n"
                                    + sep.join(["1", "2", "x"]) + "\n")
    with pytest.raises(DataError, match="target column 'label' not found") as info:
        read_csv(tmp_path / "d.csv", target="label")
    assert info.value.hint == (f"The values are separated by {sep!r}: nnlearn reads "
                               "comma-separated files, so save it with commas.")


def test_a_comma_file_whose_column_name_holds_a_semicolon_gets_no_separator_hint(tmp_path):
    (tmp_path / "d.csv").write_text("x,y (m/s; avg),label\n1,2,a\n")
    with pytest.raises(DataError, match="target column 'Label' not found") as info:
        read_csv(tmp_path / "d.csv", target="Label")
    assert "separated" not in info.value.hint
