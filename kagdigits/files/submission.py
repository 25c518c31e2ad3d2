"""Writing Kaggle submission files: ``ImageId,Label``, a new file every time."""

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from kagdigits.errors import InputError, KagdigitsError
from kagdigits.files.atomic import atomic_write, create_unique, utc_timestamp


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


def read_labels_csv(path, n_rows=None):
    """Read and validate an ``ImageId,Label`` file (a submission or a solution).

    Checks: header exactly ``ImageId,Label``; ImageId 1..n, each once, in order;
    labels integers 0..9; no blank lines or extra columns; ``n_rows`` rows if given.
    Returns the labels as an int64 array. Raises ``InputError`` naming the first bad line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; check the path")
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise InputError(f"{path}: the file is empty; write it again with kagdigits")
    header = [cell.strip() for cell in rows[0]]
    if header != ["ImageId", "Label"]:
        raise InputError(f"{path}: line 1: header is {short(','.join(rows[0]))!r}, "
                         "expected 'ImageId,Label'")
    labels = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            raise InputError(f"{path}: line {line} is blank; remove blank lines")
        if len(row) != 2:
            raise InputError(f"{path}: line {line} has {len(row)} columns, expected 2 "
                             "(ImageId,Label)")
        image_id, label = (cell.strip() for cell in row)
        if image_id != str(line - 1):
            raise InputError(f"{path}: line {line}: ImageId is {image_id!r}, expected "
                             f"{line - 1} (ImageIds run 1..n in test-file order)")
        if not (label.isdigit() and int(label) <= 9):
            raise InputError(f"{path}: line {line}: Label {label!r} is not an integer 0..9")
        labels.append(int(label))
    if not labels:
        raise InputError(f"{path}: has a header but no rows")
    if n_rows is not None and len(labels) != n_rows:
        raise InputError(f"{path}: has {len(labels):,} rows, expected {n_rows:,}")
    return np.asarray(labels, dtype=np.int64)
