"""Kaggle CSV readers: a valid file reads as uint8; each violation names file, line, column."""

import numpy as np
import pytest

from kagdigits.errors import InputError
from kagdigits.files.kaggle_csv import pixel_columns, read_test_csv, read_train_csv


def test_round_trip(tiny_kaggle_files, digits):
    train, test = tiny_kaggle_files
    X, y = read_train_csv(train)
    assert X.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(X, digits[0][:200])
    np.testing.assert_array_equal(y, digits[1][:200])
    np.testing.assert_array_equal(read_test_csv(test), digits[0][200:])


def write_lines(path, header, rows):
    path.write_text("\n".join([",".join(header), *(",".join(map(str, r)) for r in rows)]) + "\n")
    return path


HEADER = ["label", *pixel_columns()]


@pytest.mark.parametrize("header, rows, message", [
    (HEADER, [[3, *[0] * 783, 256]], r"line 2, column pixel783: 256 is not an integer 0..255"),
    (HEADER, [[3, *[0] * 784], [10, *[0] * 784]], r"line 3, column label: 10 .* 0..9"),
    (HEADER, [[3, *[0] * 783, -1]], r"line 2, column pixel783"),
    (HEADER, [[3, *[0] * 783, ""]], r"line 2, column pixel783: an empty cell"),
    (HEADER, [[3, *[0] * 783, "1.5"]], r"line 2, column pixel783: '1.5'"),
    (HEADER, [[3, *[0] * 783, "x"]], r"line 2, column pixel783: 'x'"),
    (["lbl", *pixel_columns()], [], r"column 1 of the header is 'lbl'"),
    (["label", *pixel_columns()[:-1], "pixelX"], [], r"'pixelX', expected 'pixel783'"),
    (["label", *pixel_columns()[:-1]], [], r"783 pixel columns, expected 784"),
    (HEADER, [], r"header but no rows"),
])
def test_train_errors(tmp_path, header, rows, message):
    path = write_lines(tmp_path / "train.csv", header, rows)
    with pytest.raises(InputError, match=message) as info:
        read_train_csv(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_train_csv(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty"):
        read_test_csv(tmp_path / "empty.csv")


def test_train_file_passed_as_test(tiny_kaggle_files):
    with pytest.raises(InputError, match="looks like a train file"):
        read_test_csv(tiny_kaggle_files[0])
