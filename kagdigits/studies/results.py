"""A study's results as data next to its report: study.json, CSV tables, test images (.npz).

A report folder holds everything needed to rebuild the report without retraining::

    reports/<UTC time>-<kind>/
      study.json         what was run: command, settings, data, backend, times
      <table>.csv        the results (compare: runs, history, predictions; grid: folds)
      test_images.npz    compare: the test images and labels, for the image plots
      report.md, *.png   the report
"""

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kagdigits.errors import InputError
from kagdigits.files.atomic import atomic_write, create_unique, utc_timestamp

INFO = "study.json"
IMAGES = "test_images.npz"


@dataclass
class Study:
    """``info`` (JSON-able dict, ``info["kind"]`` is ``"compare"`` or ``"grid"``), named
    tables and, for a comparison, the test images (uint8 (n, C, H, W)) and labels."""

    info: dict
    tables: dict = field(default_factory=dict)
    images: np.ndarray | None = None
    labels: np.ndarray | None = None


def new_report_dir(root, kind, now=None):
    """Create and return a new, empty ``<root>/<UTC time>-<kind>`` folder (suffix if taken)."""
    return create_unique(root, f"{utc_timestamp(now)}-{kind}")


def save_study(folder, study):
    """Write ``study`` into ``folder`` (new files only, each written atomically)."""
    folder = Path(folder)
    with atomic_write(folder / INFO) as f:
        json.dump({**study.info, "tables": list(study.tables)}, f, indent=2, default=str)
        f.write("\n")
    for name, table in study.tables.items():
        with atomic_write(folder / f"{name}.csv", newline="") as f:
            table.to_csv(f, index=False)
    if study.images is not None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, images=study.images, labels=study.labels)
        with atomic_write(folder / IMAGES, "wb") as f:
            f.write(buffer.getvalue())


def load_study(folder):
    """Read back what :func:`save_study` wrote; a one-line error if it is not a report folder."""
    folder = Path(folder)
    path = folder / INFO
    if not path.is_file():
        raise InputError(f"{folder}: no {INFO}; pass a folder written by kagdigits compare "
                         "or kagdigits grid (e.g. reports/<time>-compare)")
    try:
        info = json.loads(path.read_text())
        tables = {name: pd.read_csv(folder / f"{name}.csv") for name in info["tables"]}
        images = labels = None
        if (folder / IMAGES).is_file():
            with np.load(folder / IMAGES) as saved:
                images, labels = saved["images"], saved["labels"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{folder}: cannot read the saved results ({exc}); "
                         "the folder is incomplete or was edited") from None
    return Study(info, tables, images, labels)
