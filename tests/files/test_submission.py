"""Submission files: Kaggle's format, a new file every time, nothing overwritten."""

import numpy as np
import pandas as pd
import pytest

from kagdigits.errors import InputError, KagdigitsError
from kagdigits.files.submission import read_labels_csv, write_labels_csv, write_submission


def test_format_and_order(tmp_path):
    path = write_submission(np.array([7, 2, 1]), tmp_path, "lenet5")
    assert path.name.startswith("lenet5-") and path.suffix == ".csv"
    assert path.read_text().splitlines() == ["ImageId,Label", "1,7", "2,2", "3,1"]
    np.testing.assert_array_equal(read_labels_csv(path, n_rows=3), [7, 2, 1])


def test_never_overwrites(tmp_path):
    paths = {write_submission(np.array([i]), tmp_path, "m") for i in range(3)}
    assert len(paths) == 3
    assert sorted(pd.read_csv(p)["Label"].item() for p in paths) == [0, 1, 2]
    with pytest.raises(KagdigitsError, match="already exists"):
        write_labels_csv(next(iter(paths)), np.array([5]))


def test_rejects_non_integer_labels(tmp_path):
    with pytest.raises(KagdigitsError, match="integer"):
        write_submission(np.array([0.5]), tmp_path, "m")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text, message", [
    ("ImageId,Label\n1,3\n3,4\n", "line 3: ImageId is '3', expected 2"),
    ("ImageId,Label\n1,3\n\n2,4\n", "line 3 is blank"),
    ("ImageId,Label\n1,12\n", "Label '12'"),
    ("ImageId,Label,x\n1,2,3\n", "header"),
    ("ImageId,Label\n1,2,3\n", "3 columns"),
    ("ImageId,Label\n", "no rows"),
])
def test_read_labels_errors(tmp_path, text, message):
    path = tmp_path / "s.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_labels_csv(path)


def test_read_labels_row_count(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("ImageId,Label\n1,3\n")
    with pytest.raises(InputError, match="has 1 rows, expected 28,000"):
        read_labels_csv(path, n_rows=28000)
