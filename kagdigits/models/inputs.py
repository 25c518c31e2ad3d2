"""Turning user input (DataFrames, arrays of many shapes) into image tensors and labels.

Scaling rule, by dtype: integer pixels must lie in 0..255 and are divided by 255;
float pixels are used exactly as given (you have scaled them yourself, e.g. with a
``StandardScaler`` in a ``Pipeline``). For prediction, integer pixels stay ``uint8``
(``to_inputs(..., integers=True)``) and each batch is divided where the network runs
(:func:`scaled_batch`): a quarter of the bytes to copy to a GPU, and no float copy of the
whole input on the host.
"""

import math
import sys
import warnings
from pathlib import Path

import numpy as np
import sklearn
import skorch
import torch
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

import kagdigits
from kagdigits.errors import InputError
from kagdigits.files.images import as_image_array
from kagdigits.files.oddities import oddities_line

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


#: Row widths a convolutional net reads as images without being told: 28x28 (MNIST),
#: 32x32 grey and 32x32 colour (CIFAR-10). Other shapes: pass (n, H, W) or (n, C, H, W).
IMAGE_WIDTHS = {784: (1, 28, 28), 1024: (1, 32, 32), 3072: (3, 32, 32)}


def _numbers(X):
    """``X`` (a DataFrame or array-like) as a numeric numpy array, or a clear error."""
    if hasattr(X, "to_numpy"):  # pandas
        X = X.to_numpy()
    X = np.asarray(X)
    if X.dtype == object or X.dtype.kind not in "biuf":
        raise InputError(
            f"pixels must be numbers, got dtype {X.dtype}; convert X with .astype('uint8')")
    if len(X) == 0:
        raise InputError("X has no rows; pass at least one image")
    return X


def _scaled(X, warn=True, integers=False):
    """``X`` as C-contiguous float32 by the scaling rule (integers 0..255 divided by 255);
    ``integers``: integer pixels as C-contiguous uint8 instead, to be scaled batch by batch
    (:func:`scaled_batch`)."""
    if X.dtype.kind in "biu":
        if X.size and X.dtype != np.uint8 and (X.min() < 0 or X.max() > 255):
            raise InputError(
                f"integer pixels must lie in 0..255, found {X.min()}..{X.max()}; "
                "pass uint8 pixels or floats you have scaled yourself")
        if integers:
            return np.ascontiguousarray(X, dtype=np.uint8)
        return np.ascontiguousarray(X, dtype=np.float32) / np.float32(255)
    X = np.ascontiguousarray(X, dtype=np.float32)
    if not np.isfinite(X).all():
        raise InputError("X contains NaN or infinite values; fill or drop those rows")
    head = X[:256]
    if warn and head.max() > 1.5 and np.array_equal(head, np.round(head)):
        warnings.warn(
            "float pixels look like 0..255 values; they are used as given. "
            "Pass them as integers (e.g. .astype('uint8')) to have them scaled to 0..1",
            stacklevel=caller_stacklevel())
    return X


def to_images(X, shape=None, integers=False):
    """Return ``X`` as a C-contiguous float32 array of shape (n, C, H, W).

    Parameters
    ----------
    X : DataFrame or array-like
        Kaggle pixel DataFrame, or rows of 784, 1,024 or 3,072 pixels
        (:data:`IMAGE_WIDTHS`), or an array of shape (n, H, W) or (n, C, H, W);
        integer 0..255 or float.
    shape : tuple or None, default=None
        (C, H, W) that flat rows of ``C * H * W`` values stand for (an estimator passes
        the shape it was fitted on); ``None``: :data:`IMAGE_WIDTHS`.
    integers : bool, default=False
        Return integer pixels as uint8 (checked to lie in 0..255), for
        :func:`scaled_batch` to scale batch by batch; float pixels are float32 either way.
    """
    X = _numbers(X)
    if X.ndim == 2:
        width = X.shape[1]
        if shape is not None and len(shape) == 3 and math.prod(shape) == width:
            X = X.reshape(len(X), *shape)
        elif width in IMAGE_WIDTHS:
            X = X.reshape(len(X), *IMAGE_WIDTHS[width])
        elif width - 1 in IMAGE_WIDTHS:
            raise InputError(
                f"X has {width} values per row, one more than a {width - 1}-pixel image: is "
                "the label column still in X? Drop it, e.g. X = train.drop(columns='label') "
                "and y = train['label']")
        else:
            raise InputError(
                f"X has {width} feature(s) per row, which is not an image; image networks "
                "take rows of 784 (28x28), 1,024 (32x32) or 3,072 (3x32x32) pixels, or "
                "arrays of shape (n, H, W) or (n, C, H, W); MLP3Classifier takes any width")
    elif X.ndim in (3, 4):
        X = as_image_array(X)
    else:
        raise InputError(
            f"X has shape {X.shape}; pass (n, 784), (n, 28, 28) or (n, 1, 28, 28)")
    return _scaled(X, integers=integers)


def warn_if_unlike_training(X):
    """Warn (``UserWarning``, one line) when the images ``X`` about to be predicted look
    unlike training digits: a light background, integer pixels 0..1 only, blank rows, or
    transposed digits (see :func:`kagdigits.files.oddities.oddities_line`). Input that is
    not images (or not numbers) is left to the conversion's own errors."""
    try:
        X = _numbers(X)
    except InputError:
        return
    if X.ndim == 2 and X.shape[1] in IMAGE_WIDTHS:
        X = X.reshape(len(X), *IMAGE_WIDTHS[X.shape[1]])
    elif X.ndim in (3, 4):
        X = as_image_array(X)
    else:
        return
    if line := oddities_line(X):
        warnings.warn(line, stacklevel=caller_stacklevel())


def to_inputs(X, features=False, shape=None, integers=False):
    """``X`` as a network reads it: images (see :func:`to_images`) or, for a network that
    takes features, rows of any other width as a float32 (n, n_features) array.

    Parameters
    ----------
    X : DataFrame or array-like
    features : bool, default=False
        The network takes flat rows of any width (e.g. an MLP after a ``PCA``).
    shape : tuple or None, default=None
        The shape of one row the estimator was fitted on: (C, H, W) images or
        (n_features,) features; ``None``: decided from ``X``.
    integers : bool, default=False
        Return integer pixels as uint8, unscaled (see :func:`to_images`).
    """
    X = _numbers(X)
    as_features = shape is not None and len(shape) == 1
    if shape is None:
        as_features = features and X.ndim == 2 and X.shape[1] not in IMAGE_WIDTHS
    if as_features:
        if X.ndim != 2:
            raise InputError(f"X has shape {X.shape}; pass rows of {shape[0]} features")
        return _scaled(X, warn=False, integers=integers)
    return to_images(X, shape, integers=integers)


def scaled_batch(x):
    """A batch as the network reads it: a uint8 tensor (from ``to_inputs(...,
    integers=True)``) divided by 255 into float32 on its own device, the same values
    :func:`to_images` gives; any other batch as it is. (The divisor is a tensor: CUDA
    would multiply by the reciprocal of a Python number, which differs in the last bit.)"""
    if torch.is_tensor(x) and x.dtype == torch.uint8:
        return x.to(torch.float32).div_(torch.full((), 255.0, device=x.device))
    return x


def check_labels(y, n_rows):
    """``y`` as a 1-D numpy array of class labels of one label per row of X.

    A column vector is flattened with sklearn's ``DataConversionWarning``; other shapes,
    a length other than ``n_rows`` and continuous values raise sklearn's ``ValueError``.
    """
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    y = column_or_1d(y, warn=True)
    if len(y) != n_rows:
        raise InputError(f"Found input variables with inconsistent numbers of samples: "
                         f"[{n_rows}, {len(y)}]; pass one label per row of X")
    check_classification_targets(y)
    return y


def label_classes(y, classes=None, num_classes=None, name="the estimator"):
    """The sorted class labels ``y`` stands for: ``classes`` if given, else ``0..num_classes-1``
    if given (then ``y`` must hold integers in that range), else the unique labels of ``y``.

    Fewer than two classes raise a ``ValueError`` in scikit-learn's words.
    """
    if classes is not None:
        found = np.unique(np.asarray(classes))
    elif num_classes is not None:
        found = np.arange(num_classes)
        if y.dtype.kind not in "iuf" or not np.isin(y, found).all():
            raise InputError(
                f"module__num_classes={num_classes} means labels 0..{num_classes - 1}, but y "
                f"holds {_some(np.setdiff1d(y, found))}; drop module__num_classes to "
                "let the classes follow y, or pass classes=[...] listing every label")
    else:
        found = np.unique(y)
    if len(found) < 2:
        raise InputError(
            f"{name} needs samples of at least 2 classes in the data, but the data contains "
            f"only one class: {_some(found)[1:-1] or None}")
    return found


def encode_labels(y, classes):
    """``y`` as int64 indices into ``classes`` (sorted); labels not in it raise."""
    index = np.searchsorted(classes, y).clip(0, len(classes) - 1)
    unseen = classes[index] != y
    if unseen.any():
        raise InputError(
            f"y has labels not among the classes {_some(classes)}: {_some(np.unique(y[unseen]))}"
            "; fit again (warm_start=False) to learn a new set of classes")
    return index.astype(np.int64)


def _some(values, n=5):
    """Up to ``n`` of ``values`` for a message: ``[1, 2, 3, ...]``."""
    shown = ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in values[:n])
    return f"[{shown}{', ...' if len(values) > n else ''}]"
