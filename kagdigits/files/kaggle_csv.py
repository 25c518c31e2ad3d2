"""Reading and validating Kaggle digit-recognizer CSV files.

``train.csv`` is ``label,pixel0,...,pixel783``; ``test.csv`` is the pixel columns alone.
Pixels stay ``uint8`` in memory (42,000 x 784 is 33 MB). Every problem raises an
:class:`~kagdigits.errors.InputError` naming the file, the line/column and the fix.

Files are read in chunks (pandas' C parser) into one ``uint8`` array sized from the file
size, so reading needs about ``file size / 2 + CHUNK_BYTES * 3`` bytes of memory; a file
that would not fit in the available memory is refused before reading, with a clear error.
Accepted: a UTF-8 byte-order mark, CRLF line ends, blank lines, quoted values, spaces
around values. Every value must be an integer literal (``5``, not ``5.0``).
"""

import csv
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from kagdigits.errors import InputError
from kagdigits.files.atomic import atomic_write
from kagdigits.files.images import image_shape_of_flat
from kagdigits.files.memory import available_memory

N_PIXELS = 784
#: Bytes of parsed values held per chunk while reading (the parser's own buffers come on top).
CHUNK_BYTES = 16 * 2**20
#: A header line longer than this is not a Kaggle header.
MAX_HEADER_BYTES = 2**20
_INTEGER = re.compile(r"\s*[+-]?\d+\s*", re.ASCII)


def pixel_columns(n_pixels=N_PIXELS):
    """``['pixel0', ..., 'pixel{n-1}']``."""
    return [f"pixel{i}" for i in range(n_pixels)]


#: Separators a spreadsheet may have used instead of commas, as the error names them.
OTHER_SEPARATORS = {";": "semicolons (;)", "\t": "tabs", "|": "bars (|)"}
#: Fewer pixels than this per row are not an image.
MIN_PIXELS = 4


def _first_line(path):
    """The first line of ``path`` as text, whatever its line end (LF, CRLF or CR alone)."""
    with open(path, "rb") as f:
        data = f.read(MAX_HEADER_BYTES)
    ends = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
    if not ends and len(data) >= MAX_HEADER_BYTES:
        raise InputError(f"{path}: the first line is longer than {MAX_HEADER_BYTES:,} "
                         "characters, so it is not a Kaggle CSV header; check the file")
    line = data[:min(ends)] if ends else data
    if line.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{path}: is UTF-16 text; save it as UTF-8 CSV (comma-separated)")
    try:
        return line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: is not a UTF-8 text CSV file (is it zipped or compressed? "
                         "unpack it first)") from None


def _read_header(path):
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; check the path (Kaggle files go in data/)")
    line = _first_line(path)
    try:
        header = next(csv.reader([line]), None)
    except csv.Error as exc:
        raise InputError(f"{path}: the header line is not CSV ({exc}); "
                         "check the file") from None
    if not header or not "".join(header).strip():
        raise InputError(f"{path}: the file is empty or starts with a blank line; "
                         "download it again")
    if len(header) == 1:
        found = [name for sep, name in OTHER_SEPARATORS.items() if sep in line]
        if found:
            raise InputError(f"{path}: the header is separated by {found[0]}, not commas; "
                             "save it as CSV with commas, as Kaggle's files are")
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


def _allocate(path, n_rows, n_cols):
    """An empty uint8 array of ``n_rows`` x ``n_cols``, or an error if memory is short."""
    need = n_rows * n_cols + 3 * CHUNK_BYTES
    free = available_memory()
    if free is not None and need > free:
        raise InputError(
            f"{path}: reading it needs about {need / 2**30:.1f} GiB of memory but only "
            f"{free / 2**30:.1f} GiB is available; free memory, use a machine with more, "
            "or split the file")
    try:
        return np.empty((n_rows, n_cols), dtype=np.uint8)
    except MemoryError:
        raise InputError(f"{path}: too large to read into memory ({n_rows:,} rows x "
                         f"{n_cols} columns); use a machine with more memory") from None


def _first_bad_cell(path, columns, limits, skip_rows):
    """Locate the first bad row or cell after ``skip_rows`` data rows; return a message."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        f.readline()  # the header
        line_no, rows = 1, 0
        for line in f:  # skip the rows known to be good; blank lines are not rows
            line_no += 1
            if rows == skip_rows:
                break
            rows += line.strip("\r\n") != ""
        else:
            return None
        reader = csv.reader(_chain_first(line, f))
        try:
            for row in reader:
                if bad := _bad_row(row, line_no + reader.line_num - 1, columns, limits):
                    return bad
        except csv.Error as exc:
            at = line_no + reader.line_num - 1
            if "field larger" in str(exc):
                return (f"line {at} has a value longer than {csv.field_size_limit():,} "
                        "characters, expected integers 0..255")
            return f"line {at} is not CSV ({exc})"
    return None


def _bad_row(row, at, columns, limits):
    """What is wrong with ``row`` (line ``at``), or ``None``."""
    if not row:
        return None
    if len(row) != len(columns):
        return f"line {at} has {len(row)} values, expected {len(columns)} (one per header column)"
    for column, text, hi in zip(columns, row, limits, strict=True):
        if len(text) > 40 or not (_INTEGER.fullmatch(text) and 0 <= int(text) <= hi):
            shown = ("an empty cell" if not text.strip() else repr(text) if len(text) <= 40
                     else f"a value of {len(text):,} characters")
            return f"line {at}, column {column}: {shown} is not an integer 0..{hi}"
    return None


def _chain_first(first, rest):
    yield first
    yield from rest


def _line_of_row(path, row):
    """The line number of data row ``row`` (0-based), counting blank lines."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        f.readline()
        for line_no, line in enumerate(f, start=2):
            if line.strip("\r\n"):
                if row == 0:
                    return line_no
                row -= 1
    return None


def _read_values(path, columns, label_column=None):
    """All values as a uint8 array (n_rows, n_columns), read chunk by chunk and validated."""
    path = Path(path)
    n_cols = len(columns)
    limits = np.full(n_cols, 255)
    if label_column is not None:
        limits[label_column] = 9
    # A row holds at least n_cols one-character values and n_cols separators.
    out = _allocate(path, path.stat().st_size // (2 * n_cols) + 1, n_cols)
    n = 0
    try:
        # index_col=False: a row with an extra value must not turn column 1 into an index;
        # pandas then only warns that it drops the value, so that warning is an error.
        with warnings.catch_warnings(), pd.read_csv(
                path, encoding="utf-8-sig", skip_blank_lines=True, index_col=False,
                chunksize=max(1, CHUNK_BYTES // (8 * n_cols))) as reader:
            warnings.simplefilter("error", pd.errors.ParserWarning)
            for chunk in reader:
                if not all(dtype.kind in "iu" for dtype in chunk.dtypes):
                    raise ValueError("a column that is not all integers")
                values = chunk.to_numpy()
                if values.min() < 0 or (values > limits).any():
                    row, col = np.argwhere((values < 0) | (values > limits))[0]
                    raise InputError(
                        f"{path}: line {_line_of_row(path, n + row)}, column {columns[col]}: "
                        f"{values[row, col]} is not an integer 0..{limits[col]}; "
                        "fix the file or download it again")
                out[n:n + len(values)] = values
                n += len(values)
    except InputError:
        raise
    except (ValueError, OverflowError, UnicodeDecodeError, pd.errors.ParserWarning):
        bad = _first_bad_cell(path, columns, limits, n)
        if bad is not None or n:
            raise InputError(f"{path}: {bad or 'unreadable values'}; "
                             "fix the file or download it again") from None
    except MemoryError:
        raise InputError(f"{path}: ran out of memory while reading it; "
                         "use a machine with more memory") from None
    if n == 0:
        raise InputError(f"{path}: the file has a header but no rows; download it again")
    return out[:n]


def read_train_csv(path):
    """Read a Kaggle ``train.csv``.

    Returns
    -------
    X : ndarray of uint8, shape (n, n_pixels)
    y : ndarray of int64, shape (n,)
    """
    header = _read_header(path)
    if header[0].strip() == "pixel0":
        raise InputError(f"{path}: has no label column (its header starts with pixel0): is "
                         "this the test file? pass the train file (label,pixel0,...) instead")
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
            "pass the test file (pixels only) instead")
    image_shape_of_flat_or_error(path, len(header))
    expected = pixel_columns(len(header))
    _check_header(path, header, expected, "test")
    return _read_values(path, expected)


def image_shape_of_flat_or_error(path, n_pixels):
    """The image shape of ``n_pixels`` columns, or an error naming ``path``."""
    try:
        if n_pixels < MIN_PIXELS:
            raise InputError("too few pixels")
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
