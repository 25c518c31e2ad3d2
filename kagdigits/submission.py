"""Writing Kaggle submission files: ``ImageId,Label``, a new file every time."""

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from kagdigits.atomic import atomic_write
from kagdigits.errors import KagdigitsError


def new_submission_path(out_dir, model_name, now=None):
    """``<out_dir>/<model>-<UTC timestamp>.csv``, with a suffix if that name is taken."""
    now = now or datetime.now(UTC)
    stem = f"{model_name}-{now:%Y%m%dT%H%M%SZ}"
    path = Path(out_dir) / f"{stem}.csv"
    n = 1
    while path.exists():
        n += 1
        path = Path(out_dir) / f"{stem}-{n}.csv"
    return path


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
    """Write a submission to a new ``<out_dir>/<model>-<timestamp>.csv``; return its path.

    Earlier submissions are never overwritten.
    """
    for _ in range(5):  # another process may take the same name between check and write
        path = new_submission_path(out_dir, model_name)
        try:
            write_labels_csv(path, labels)
            return path
        except KagdigitsError:
            if not path.exists():
                raise
    raise KagdigitsError(f"could not find a free file name in {out_dir}")
