"""Reading a user's CSV as its author meant it: delimiters, number formats, missing markers."""

import pytest

from formcast.dataset import DatasetError, read_csv


def write(tmp_path, text: str, name="data.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("text", [
    "x,colour,y\n1.5,red,a\n2.5,blue,b\n",
    "x;colour;y\n1.5;red;a\n2.5;blue;b\n",
    "x\tcolour\ty\n1.5\tred\ta\n2.5\tblue\tb\n",
    "x|colour|y\n1.5|red|a\n2.5|blue|b\n",
    "\ufeffx,colour,y\r\n1.5,red,a\r\n2.5,blue,b\r\n",   # Excel: byte order mark and CRLF
    "x,colour,y,\n1.5,red,a,\n2.5,blue,b,\n",            # a trailing delimiter on every line
    " x , colour ,y\n1.5, red,a\n2.5, blue,b\n",         # spaces around names and values
])
def test_common_csv_dialects_read_the_same(tmp_path, text):
    frame = read_csv(write(tmp_path, text))

    assert list(frame.columns)[:3] == ["x", "colour", "y"]
    assert frame["x"].tolist() == [1.5, 2.5]
    assert frame["colour"].tolist() == ["red", "blue"]


def test_quoted_thousands_separators_in_a_comma_file_are_numbers(tmp_path):
    frame = read_csv(write(tmp_path, 'price,y\n"1,234",a\n"12,500.5",b\n7,a\n'))

    assert frame["price"].tolist() == [1234, 12500.5, 7]


def test_decimal_commas_in_a_semicolon_file_are_numbers(tmp_path):
    frame = read_csv(write(tmp_path, "weight;y\n3,5;a\n12,25;b\n7;a\n"))

    assert frame["weight"].tolist() == [3.5, 12.25, 7]


@pytest.mark.parametrize("marker", ["", "NA", "N/A", "null", "NULL", "NaN", "?", "#N/A"])
def test_missing_markers_become_missing(tmp_path, marker):
    frame = read_csv(write(tmp_path, f"x,c\n1,{marker}\n2,b\n"))

    assert frame["c"].isna().tolist() == [True, False]


def test_none_is_a_value_not_a_missing_marker(tmp_path):
    frame = read_csv(write(tmp_path, "severity,x\nNone,1\nLow,2\nHigh,3\n"))

    assert frame["severity"].tolist() == ["None", "Low", "High"]


@pytest.mark.parametrize("text, words", [
    ("", "is empty"),
    ("\n\n  \n", "is empty"),
    ("x,y\n", "no data rows"),
    ("x,x ,y\n1,2,3\n", "more than one column named 'x'"),
])
def test_files_that_are_not_usable_tables_are_refused(tmp_path, text, words):
    with pytest.raises(DatasetError, match=words):
        read_csv(write(tmp_path, text))


def test_latin_1_text_is_refused_with_the_fix(tmp_path):
    with pytest.raises(DatasetError, match="not UTF-8 text; save it as UTF-8"):
        read_csv(write(tmp_path, "name,y\ncafé,1\n", encoding="latin-1"))


def test_a_binary_file_is_refused(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(bytes(range(1, 128)) + b"\x00" * 10)

    with pytest.raises(DatasetError, match="not a text file"):
        read_csv(path)
