"""The class probabilities of a submission, written beside it for blending runs:
``<submission>.proba.csv`` with ``ImageId`` and one column per class."""

from pathlib import Path

import numpy as np
import pandas as pd

from kagdigits.files.atomic import atomic_write

#: What a probabilities file adds to its submission's name (``lenet5-...csv`` ->
#: ``lenet5-....proba.csv``); ``kagdigits submit`` never takes such a file for a submission.
PROBA_SUFFIX = ".proba.csv"


def proba_path(submission):
    """Where the probabilities of the submission file ``submission`` go."""
    submission = Path(submission)
    return submission.with_name(submission.stem + PROBA_SUFFIX)


def write_proba_csv(submission, proba, classes):
    """Write ``proba`` (one row per test image, one column per class of ``classes``) beside
    ``submission`` as ``ImageId,<class>,...`` (ImageId 1..n, as in the submission); its path.
    Read them back with ``pandas.read_csv(path, index_col="ImageId")``."""
    proba = np.asarray(proba, dtype=np.float64)
    frame = pd.DataFrame(proba, columns=[str(c) for c in classes])
    frame.insert(0, "ImageId", np.arange(1, len(proba) + 1))
    path = proba_path(submission)
    with atomic_write(path, newline="") as f:
        frame.to_csv(f, index=False, float_format="%.6g")
    return path
