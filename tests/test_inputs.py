"""Input conversion: every accepted shape and dtype, and the errors for the rest."""

import numpy as np
import pandas as pd
import pytest

from kagdigits.errors import InputError
from kagdigits.files.kaggle_csv import pixel_columns
from kagdigits.models.inputs import to_images, to_labels


@pytest.fixture
def pixels(digits):
    return digits[0][:8]


@pytest.mark.parametrize("shape", [(8, 784), (8, 28, 28), (8, 1, 28, 28)])
def test_integer_shapes_become_scaled_nchw(pixels, shape):
    images = to_images(pixels.reshape(shape))
    assert images.shape == (8, 1, 28, 28)
    assert images.dtype == np.float32
    np.testing.assert_allclose(images.reshape(8, 784), pixels / 255, rtol=1e-6)


def test_kaggle_dataframe_with_int64_columns(pixels):
    frame = pd.DataFrame(pixels.astype(np.int64), columns=pixel_columns())
    np.testing.assert_allclose(to_images(frame).reshape(8, 784), pixels / 255, rtol=1e-6)


def test_floats_are_used_as_given(pixels):
    scaled = pixels.astype(np.float64) / 255 - 0.5
    np.testing.assert_allclose(to_images(scaled).reshape(8, 784), scaled, rtol=1e-6)


def test_float_pixels_in_0_255_warn(pixels):
    with pytest.warns(UserWarning, match="used as given"):
        to_images(pixels.astype(np.float32))


def test_cifar_shapes(pixels):
    rgb = np.zeros((2, 3072), dtype=np.uint8)
    assert to_images(rgb).shape == (2, 3, 32, 32)
    assert to_images(rgb.reshape(2, 3, 32, 32)).shape == (2, 3, 32, 32)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 100 + 1)), "cannot read 101 values"),
    (np.zeros((2, 2, 2, 2, 2)), "shape"),
    (np.full((2, 784), 256), "0..255"),
    (np.full((2, 784), -1), "0..255"),
    (np.full((2, 784), np.nan), "NaN"),
    (np.full((2, 784), "a"), "numbers"),
    (np.zeros((0, 784), dtype=np.uint8), "no rows"),
])
def test_bad_pixels_raise_a_clear_value_error(bad, message):
    with pytest.raises(ValueError, match=message):
        to_images(bad)


def test_labels_from_series_and_float_ints():
    assert to_labels(pd.Series([0, 9, 3])).dtype == np.int64
    np.testing.assert_array_equal(to_labels(np.array([1.0, 2.0])), [1, 2])


@pytest.mark.parametrize("bad", [np.array([0, 10]), np.array([-1]), np.array(["a"]),
                                 np.array([0.5]), np.zeros((2, 2), dtype=int)])
def test_bad_labels(bad):
    with pytest.raises(InputError):
        to_labels(bad)
