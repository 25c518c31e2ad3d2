"""Turning user input (DataFrames, arrays of many shapes) into image tensors and labels.

Scaling rule, by dtype: integer pixels must lie in 0..255 and are divided by 255;
float pixels are used exactly as given (you have scaled them yourself, e.g. with a
``StandardScaler`` in a ``Pipeline``).
"""

import sys
import warnings
from pathlib import Path

import numpy as np
import sklearn
import skorch
import torch

import kagdigits
from kagdigits.errors import InputError
from kagdigits.files.images import as_image_array

#: Libraries whose frames a warning skips to reach the user's line (kagdigits, skorch,
#: scikit-learn, torch).
LIBRARY_DIRS = tuple(str(Path(m.__file__).parent) for m in (kagdigits, skorch, sklearn, torch))


def caller_stacklevel():
    """The ``stacklevel`` of the first caller outside :data:`LIBRARY_DIRS`, so that a
    warning points at the user's line, not at skorch's or scikit-learn's."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(LIBRARY_DIRS):
        frame, level = frame.f_back, level + 1
    return level


def to_images(X):
    """Return ``X`` as a C-contiguous float32 array of shape (n, C, H, W).

    Parameters
    ----------
    X : DataFrame or array-like
        Kaggle pixel DataFrame, or an array of shape (n, 784), (n, 28, 28) or
        (n, 1, 28, 28) (any square size, 1 or 3 channels), integer 0..255 or float.
    """
    if hasattr(X, "to_numpy"):  # pandas
        X = X.to_numpy()
    X = np.asarray(X)
    if X.dtype == object or X.dtype.kind not in "biuf":
        raise InputError(
            f"pixels must be numbers, got dtype {X.dtype}; convert X with .astype('uint8')")
    if X.ndim in (2, 3):
        X = as_image_array(X)
    elif X.ndim != 4:
        raise InputError(
            f"X has shape {X.shape}; pass (n, 784), (n, 28, 28) or (n, 1, 28, 28)")
    if len(X) == 0:
        raise InputError("X has no rows; pass at least one image")
    if X.dtype.kind in "biu":
        if X.size and (X.min() < 0 or X.max() > 255):
            raise InputError(
                f"integer pixels must lie in 0..255, found {X.min()}..{X.max()}; "
                "pass uint8 pixels or floats you have scaled yourself")
        return np.ascontiguousarray(X, dtype=np.float32) / np.float32(255)
    X = np.ascontiguousarray(X, dtype=np.float32)
    if not np.isfinite(X).all():
        raise InputError("X contains NaN or infinite values; fill or drop those rows")
    head = X[:256]
    if head.max() > 1.5 and np.array_equal(head, np.round(head)):
        warnings.warn(
            "float pixels look like 0..255 values; they are used as given. "
            "Pass them as integers (e.g. .astype('uint8')) to have them scaled to 0..1",
            stacklevel=caller_stacklevel())
    return X


def to_labels(y, num_classes=10):
    """Return ``y`` as an int64 array of class indices 0..num_classes-1."""
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    y = np.asarray(y)
    if y.ndim != 1:
        raise InputError(f"y must be one label per row, got shape {y.shape}")
    if y.dtype.kind == "f" and np.array_equal(y, np.round(y)):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise InputError(
            f"labels must be integers 0..{num_classes - 1}, got dtype {y.dtype}; "
            "encode them first (e.g. sklearn.preprocessing.LabelEncoder)")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise InputError(
            f"labels must lie in 0..{num_classes - 1}, found {y.min()}..{y.max()}; "
            "set module__num_classes or encode the labels")
    return y.astype(np.int64, copy=False)
