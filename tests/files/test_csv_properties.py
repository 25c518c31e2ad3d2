"""Property tests of the CSV readers: every valid file reads, every corrupted one gives one
readable ``InputError`` naming the file (and the line and column where there is one)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kagdigits.errors import InputError
from kagdigits.files.kaggle_csv import pixel_columns, read_test_csv, read_train_csv
from kagdigits.files.submission import read_labels_csv

N_PIXELS = 16  # 4x4 images keep every example tiny; 15 or 17 columns are no image
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def tables(draw, labelled=True):
    """(header, rows) of a valid Kaggle-layout file of 4x4 images."""
    n = draw(st.integers(1, 6))
    pixels = draw(st.lists(st.lists(st.integers(0, 255), min_size=N_PIXELS,
                                    max_size=N_PIXELS), min_size=n, max_size=n))
    header = pixel_columns(N_PIXELS)
    if not labelled:
        return header, pixels
    labels = draw(st.lists(st.integers(0, 9), min_size=n, max_size=n))
    return ["label", *header], [[label, *row] for label, row in zip(labels, pixels, strict=True)]


@st.composite
def layouts(draw):
    """Valid ways to lay the text out: BOM, line ends, quotes, trailing blank lines."""
    return dict(bom=draw(st.booleans()), newline=draw(st.sampled_from(["\n", "\r\n"])),
                quoted=draw(st.booleans()), blank_lines=draw(st.integers(0, 3)),
                final_newline=draw(st.booleans()))


def render(header, rows, bom=False, newline="\n", quoted=False, blank_lines=0,
           final_newline=True):
    def cell(value):
        return f'"{value}"' if quoted else str(value)

    lines = [",".join(header), *(",".join(cell(v) for v in row) for row in rows)]
    text = newline.join(lines) + (newline if final_newline or blank_lines else "")
    return ("\ufeff" if bom else "") + text + newline * blank_lines


def read(path, labelled):
    return read_train_csv(path) if labelled else read_test_csv(path)


def assert_one_line_error(path, labelled, *expected):
    with pytest.raises(InputError) as info:
        read(path, labelled)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    for part in expected:
        assert part in message, (part, message)
    return message


@SETTINGS
@given(labelled=st.booleans(), data=st.data(), layout=layouts())
def test_every_valid_layout_reads_back_the_values(tmp_path, labelled, data, layout):
    header, rows = data.draw(tables(labelled))
    path = tmp_path / "file.csv"
    path.write_bytes(render(header, rows, **layout).encode())
    values = np.array(rows)
    if labelled:
        X, y = read_train_csv(path)
        assert np.array_equal(X, values[:, 1:]) and np.array_equal(y, values[:, 0])
        assert X.dtype == np.uint8 and y.dtype == np.int64
    else:
        X = read_test_csv(path)
        assert np.array_equal(X, values) and X.dtype == np.uint8


BAD_VALUES = ["", "NaN", "nan", "-1", "256", "3.5", "5.0", "1e2", "abc", "True", "7 7", "0x1",
              "99999999999999999999", "٣"]


@SETTINGS
@given(labelled=st.booleans(), data=st.data(), value=st.sampled_from(BAD_VALUES),
       layout=layouts())
def test_a_bad_cell_is_named_by_line_and_column(tmp_path, labelled, data, value, layout):
    header, rows = data.draw(tables(labelled))
    row = data.draw(st.integers(0, len(rows) - 1))
    col = data.draw(st.integers(0, len(header) - 1))
    rows[row][col] = value
    path = tmp_path / "file.csv"
    path.write_bytes(render(header, rows, **{**layout, "quoted": False}).encode())
    assert_one_line_error(path, labelled, f"line {row + 2}, column {header[col]}: ")


@SETTINGS
@given(data=st.data())
def test_a_label_above_9_is_refused(tmp_path, data):
    header, rows = data.draw(tables(True))
    row = data.draw(st.integers(0, len(rows) - 1))
    rows[row][0] = data.draw(st.integers(10, 255))
    path = tmp_path / "train.csv"
    path.write_text(render(header, rows))
    assert_one_line_error(path, True, f"line {row + 2}, column label: ", "0..9")


def _drop(items, i):
    return items[:i] + items[i + 1:]


def _swap(items, i):
    j = (i + 1) % len(items)
    items = list(items)
    items[i], items[j] = items[j], items[i]
    return items


HEADER_DAMAGE = {  # (damaged header, what happens to the rows)
    "renamed column": lambda h, i: (h[:i] + ["pixelX"] + h[i + 1:], None),
    "missing column": lambda h, i: (_drop(h, i), "drop"),
    "extra column": lambda h, i: (h + [f"pixel{N_PIXELS}"], "extend"),
    "duplicate column": lambda h, i: (h[:i] + [h[i - 1] if i else h[1]] + h[i + 1:], None),
    "shuffled columns": lambda h, i: (_swap(h, i), None),
}


@SETTINGS
@given(labelled=st.booleans(), data=st.data(), damage=st.sampled_from(sorted(HEADER_DAMAGE)))
def test_a_damaged_header_is_refused(tmp_path, labelled, data, damage):
    header, rows = data.draw(tables(labelled))
    i = data.draw(st.integers(0, len(header) - 1))
    new_header, change = HEADER_DAMAGE[damage](header, i)
    if change == "drop":
        rows = [_drop(row, i) for row in rows]
    elif change == "extend":
        rows = [[*row, 0] for row in rows]
    path = tmp_path / "file.csv"
    path.write_text(render(new_header, rows))
    assert new_header != header
    assert_one_line_error(path, labelled, "column")


@SETTINGS
@given(labelled=st.booleans(), data=st.data(), extra=st.booleans())
def test_a_row_with_a_missing_or_extra_value_is_refused(tmp_path, labelled, data, extra):
    header, rows = data.draw(tables(labelled))
    row = data.draw(st.integers(0, len(rows) - 1))
    rows[row] = [*rows[row], 7] if extra else rows[row][:-1]
    path = tmp_path / "file.csv"
    path.write_text(render(header, rows))
    assert_one_line_error(path, labelled, f"line {row + 2} has {len(rows[row])} values, "
                                          f"expected {len(header)}")


@pytest.mark.parametrize("content, expected", [
    (b"", "the file is empty"),
    (b"\n\n", "the file is empty or starts with a blank line"),
    (b"\x1f\x8b\x08\x00binary", "not a UTF-8 text CSV file"),
    (b"label,pixel0,pixel1,pixel2,pixel3\n", "header but no rows"),
    (b"label,pixel0,pixel1,pixel2,pixel3\r\n\r\n", "header but no rows"),
    ("label,pixel0,pixel1,pixel2,pixel3\n1,2,3,4,\xff\n".encode("latin-1"),
     "line 2, column pixel3: '\ufffd' is not an integer 0..255"),
])
def test_empty_binary_and_header_only_files_are_refused(tmp_path, content, expected):
    path = tmp_path / "train.csv"
    path.write_bytes(content)
    assert_one_line_error(path, True, expected)


def test_blank_lines_between_rows_are_skipped_and_counted_in_line_numbers(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("label,pixel0,pixel1,pixel2,pixel3\n1,0,0,0,0\n\n\n2,0,0,0,0\n3,0,0,0,300\n")
    assert_one_line_error(path, True, "line 6, column pixel3: 300 is not an integer 0..255")
    path.write_text("label,pixel0,pixel1,pixel2,pixel3\n1,0,0,0,0\n\n\n2,0,0,0,9\n")
    X, y = read_train_csv(path)
    assert y.tolist() == [1, 2] and X.tolist() == [[0, 0, 0, 0], [0, 0, 0, 9]]


def test_a_file_larger_than_memory_is_refused_before_reading(tmp_path):
    path = tmp_path / "train.csv"
    with open(path, "w") as f:
        f.write("label," + ",".join(pixel_columns()) + "\n")
        f.truncate(2**40)  # a sparse 1 TiB file: no disk space used
    assert_one_line_error(path, True, "GiB of memory but only", "split the file")


@SETTINGS
@given(data=st.data(), bom=st.booleans(), newline=st.sampled_from(["\n", "\r\n"]),
       damage=st.sampled_from([None, "label", "image_id", "blank", "columns", "header"]))
def test_labels_csv_reads_valid_files_and_names_the_bad_line(tmp_path, data, bom, newline,
                                                             damage):
    labels = data.draw(st.lists(st.integers(0, 9), min_size=1, max_size=6))
    rows = [[i + 1, label] for i, label in enumerate(labels)]
    row = data.draw(st.integers(0, len(rows) - 1))
    header = ["ImageId", "Label"]
    if damage == "label":
        rows[row][1] = data.draw(st.sampled_from(["10", "-1", "x", "", "2.5"]))
    elif damage == "image_id":
        rows[row][0] = rows[row][0] + 1
    elif damage == "blank":
        rows.insert(row, [])
    elif damage == "columns":
        rows[row] = [*rows[row], 0]
    elif damage == "header":
        header = ["ImageID", "Label"]
    path = tmp_path / "submission.csv"
    path.write_bytes(render(header, rows, bom=bom, newline=newline).encode())
    if damage is None:
        assert read_labels_csv(path).tolist() == labels
        return
    with pytest.raises(InputError) as info:
        read_labels_csv(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    assert f"line {1 if damage == 'header' else row + 2}" in message
