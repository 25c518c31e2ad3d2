"""Writing Kaggle submission files: ``ImageId,Label``, a new file every time."""

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from kagdigits.errors import InputError, KagdigitsError
from kagdigits.files.atomic import atomic_write, create_unique, utc_timestamp

#: Rows of Kaggle's digit-recognizer test.csv: a submission it can score has exactly these.
KAGGLE_TEST_ROWS = 28_000


def write_labels_csv(path, labels, overwrite=False):
    """Write ``ImageId,Label`` rows (ImageId 1..n in test order) to ``path``, atomically."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise KagdigitsError(f"labels must be a 1-d integer array, got {labels.dtype} "
                             f"of shape {labels.shape}")
    frame = pd.DataFrame({"ImageId": np.arange(1, len(labels) + 1), "Label": labels})
    with atomic_write(path, overwrite=overwrite, newline="") as f:
        frame.to_csv(f, index=False)


def write_submission(labels, out_dir="submissions", model_name="model"):
    """Write a submission to a new ``<out_dir>/<model>-<UTC time>.csv`` (``-2``, ``-3``, ...
    if that name is taken); return its path. Earlier submissions are never overwritten.
    """
    return create_unique(out_dir, f"{model_name}-{utc_timestamp()}", ".csv",
                         create=lambda path: write_labels_csv(path, labels))


def short(text, most=60):
    """``text`` cut to about ``most`` characters (``"label,pixel0,pixel1,... (785 columns)"``)
    so that an error line stays one readable line."""
    if len(text) <= most:
        return text
    return f"{text[:most].rsplit(',', 1)[0]},... ({text.count(',') + 1:,} columns)"


#: A labels file larger than this is not a submission (Kaggle's is about 200 KB).
MAX_LABELS_BYTES = 64 * 2**20
_LABEL = re.compile(r"[0-9]")


def _labels_text(path):
    """The text of the labels file ``path``; one-line errors for what is not UTF-8 CSV."""
    if not path.is_file():
        raise InputError(f"{path}: no such file; check the path")
    size = path.stat().st_size
    if size > MAX_LABELS_BYTES:
        raise InputError(f"{path}: is {size / 2**20:,.0f} MiB, too large for an ImageId,Label "
                         "file (Kaggle's is about 200 KB); check the path")
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{path}: is UTF-16 text; save it as UTF-8 CSV")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line} is not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                         "save the file as UTF-8 CSV") from None


def _shown(cell):
    """``cell`` for an error message: quoted, cut to 20 characters."""
    return repr(cell) if len(cell) <= 20 else f"{cell[:20]!r}... ({len(cell):,} characters)"


def _check_row(row, line, image_id):
    """What is wrong with data row ``row`` on line ``line`` (ImageId ``image_id``), or ``None``."""
    if not row or all(not cell.strip() for cell in row):
        return f"line {line} is blank; remove blank lines"
    if len(row) != 2:
        return f"line {line} has {len(row)} columns, expected 2 (ImageId,Label)"
    got_id, label = (cell.strip(" \t") for cell in row)
    if got_id != str(image_id):
        return (f"line {line}: ImageId is {_shown(got_id)}, expected {image_id} "
                "(ImageIds run 1..n in test-file order)")
    if not _LABEL.fullmatch(label):
        return f"line {line}: Label {_shown(label)} is not an integer 0..9 (one ASCII digit)"
    return None


def _read_labels(path, text):
    reader = csv.reader(io.StringIO(text, newline=""))
    labels = []
    try:
        header = next(reader, None)
        if header is None:
            raise InputError(f"{path}: the file is empty; write it again with kagdigits")
        if [cell.strip() for cell in header] != ["ImageId", "Label"]:
            raise InputError(f"{path}: line 1: header is {short(','.join(header))!r}, "
                             "expected 'ImageId,Label'")
        line = 2  # where the next row starts (a quoted cell may span lines)
        for row in reader:
            if bad := _check_row(row, line, len(labels) + 1):
                raise InputError(f"{path}: {bad}")
            labels.append(int(row[1]))
            line = reader.line_num + 1
    except csv.Error as exc:
        reason = (f"a cell longer than {csv.field_size_limit():,} characters"
                  if "field larger" in str(exc) else f"not CSV ({exc})")
        raise InputError(f"{path}: line {reader.line_num}: {reason}; "
                         "write the file again") from None
    return labels


def read_labels_csv(path, n_rows=None):
    """Read and validate an ``ImageId,Label`` file (a submission or a solution).

    Checks: UTF-8 text; header exactly ``ImageId,Label``; ImageId 1..n, each once, in
    order; each label one ASCII digit 0..9; no blank lines or extra columns; ``n_rows``
    rows if given. Returns the labels as an int64 array. Raises ``InputError`` naming
    the first bad line.
    """
    path = Path(path)
    labels = _read_labels(path, _labels_text(path))
    if not labels:
        raise InputError(f"{path}: has a header but no rows")
    if n_rows is not None and len(labels) != n_rows:
        raise InputError(f"{path}: has {len(labels):,} rows, expected {n_rows:,}")
    return np.asarray(labels, dtype=np.int64)
