"""Reading and validating Kaggle digit-recognizer CSV files.

``train.csv`` is ``label,pixel0,...,pixel783``; ``test.csv`` is the pixel columns alone.
Pixels stay ``uint8`` in memory (42,000 x 784 is 33 MB). Every problem raises an
:class:`~kagdigits.errors.InputError` naming the file, the line/column and the fix.
"""

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from kagdigits.atomic import atomic_write
from kagdigits.errors import InputError
from kagdigits.inputs import image_shape_of_flat

N_PIXELS = 784


def pixel_columns(n_pixels=N_PIXELS):
    """``['pixel0', ..., 'pixel{n-1}']``."""
    return [f"pixel{i}" for i in range(n_pixels)]


def _read_header(path):
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; check the path (Kaggle files go in data/)")
    with open(path, newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise InputError(f"{path}: the file is empty; download it again")
    return header


def _check_header(path, header, expected, what):
    for i, (got, want) in enumerate(zip(header, expected, strict=False)):
        if got.strip() != want:
            raise InputError(
                f"{path}: column {i + 1} of the header is {got!r}, expected {want!r}; "
                f"a {what} file has the header {expected[0]},{expected[1]},...,{expected[-1]}")
    if len(header) != len(expected):
        raise InputError(
            f"{path}: the header has {len(header)} columns, expected {len(expected)}; "
            f"a {what} file has the header {expected[0]},{expected[1]},...,{expected[-1]}")


def _first_bad_cell(path, columns, lo, hi):
    """Locate the first cell that is not an integer in lo..hi; return a message."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    for row, values in enumerate(frame.itertuples(index=False), start=2):
        for column, value in zip(columns, values, strict=False):
            text = value.strip() if isinstance(value, str) else value
            if not (isinstance(text, str) and text.lstrip("+-").isdigit()
                    and lo <= int(text) <= hi):
                shown = "an empty cell" if text in ("", None) else repr(text)
                return f"line {row}, column {column}: {shown} is not an integer {lo}..{hi}"
    return None


def _read_values(path, columns, label_column=None):
    """Read all columns as int16, then check ranges; fall back to a cell-by-cell diagnosis."""
    try:
        frame = pd.read_csv(path, dtype=np.int16, encoding="utf-8-sig",
                            skip_blank_lines=True)
    except (ValueError, OverflowError):
        bad = _first_bad_cell(path, columns, 0, 255)
        raise InputError(f"{path}: {bad or 'unreadable values'}; "
                         "fix the file or download it again") from None
    values = frame.to_numpy()
    if len(values) == 0:
        raise InputError(f"{path}: the file has a header but no rows; download it again")
    if values.shape[1] != len(columns):
        raise InputError(f"{path}: rows have {values.shape[1]} values, expected {len(columns)}")
    limits = np.full(len(columns), 255)
    if label_column is not None:
        limits[label_column] = 9
    bad = (values < 0) | (values > limits)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(
            f"{path}: line {row + 2}, column {columns[col]}: {values[row, col]} is not an "
            f"integer 0..{limits[col]}; fix the file or download it again")
    return values.astype(np.uint8)


def read_train_csv(path):
    """Read a Kaggle ``train.csv``.

    Returns
    -------
    X : ndarray of uint8, shape (n, n_pixels)
    y : ndarray of int64, shape (n,)
    """
    header = _read_header(path)
    image_shape_of_flat_or_error(path, len(header) - 1)
    expected = ["label", *pixel_columns(len(header) - 1)]
    _check_header(path, header, expected, "train")
    values = _read_values(path, expected, label_column=0)
    return values[:, 1:], values[:, 0].astype(np.int64)


def read_test_csv(path):
    """Read a Kaggle ``test.csv`` (pixels only); returns uint8 array (n, n_pixels)."""
    header = _read_header(path)
    if header and header[0].strip() == "label":
        raise InputError(
            f"{path}: has a label column, so it looks like a train file; "
            "pass the test file (pixels only) with --test")
    image_shape_of_flat_or_error(path, len(header))
    expected = pixel_columns(len(header))
    _check_header(path, header, expected, "test")
    return _read_values(path, expected)


def image_shape_of_flat_or_error(path, n_pixels):
    """The image shape of ``n_pixels`` columns, or an error naming ``path``."""
    try:
        return image_shape_of_flat(n_pixels)
    except InputError:
        raise InputError(
            f"{path}: has {n_pixels} pixel columns, expected {N_PIXELS} "
            "(pixel0..pixel783); is this a Kaggle digit-recognizer file?") from None


def write_kaggle_csv(path, X, y=None, overwrite=False):
    """Write pixels (and labels first, if given) in Kaggle layout, atomically."""
    X = np.asarray(X).reshape(len(X), -1)
    frame = pd.DataFrame(X, columns=pixel_columns(X.shape[1]))
    if y is not None:
        frame.insert(0, "label", np.asarray(y))
    with atomic_write(path, overwrite=overwrite, newline="") as f:
        frame.to_csv(f, index=False)
