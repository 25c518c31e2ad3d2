"""How rows of pixels stand for images: the one place that reshapes them."""

import math

import numpy as np

from kagdigits.errors import InputError

#: Image shapes (channels, height, width) a flat row of pixels can stand for.
FLAT_SHAPES = {784: (1, 28, 28), 3072: (3, 32, 32)}


def image_shape_of_flat(n_pixels):
    """The (C, H, W) shape of a flat row of ``n_pixels`` values."""
    if n_pixels in FLAT_SHAPES:
        return FLAT_SHAPES[n_pixels]
    for channels in (1, 3):
        side = math.isqrt(n_pixels // channels)
        if channels * side * side == n_pixels:
            return (channels, side, side)
    raise InputError(
        f"cannot read {n_pixels} values per row as an image; pass (n, 784) Kaggle pixels, "
        "(n, H, W), (n, C, H, W) or (n, C*H*W) with square H=W and C in {1, 3}")


def as_image_array(X):
    """Pixels of shape (n, n_pixels), (n, H, W) or (n, C, H, W) as (n, C, H, W), values as given."""
    X = np.asarray(X)
    if X.ndim == 2:
        return X.reshape(len(X), *image_shape_of_flat(X.shape[1]))
    return X[:, None] if X.ndim == 3 else X
