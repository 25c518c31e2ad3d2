"""Input conversion: every accepted shape and dtype, and the errors for the rest."""

import numpy as np
import pandas as pd
import pytest
import torch

from kagdigits.errors import InputError
from kagdigits.files.kaggle_csv import pixel_columns
from kagdigits.models.inputs import (
    check_labels,
    encode_labels,
    label_classes,
    scaled_batch,
    to_images,
    to_inputs,
)
from tests.helpers import tiny_net


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
    (np.zeros((2, 100)), "100 feature.s. per row, which is not an image.*784.*1,024.*3,072"),
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


def test_image_widths_and_any_width_for_feature_networks():
    assert to_images(np.zeros((2, 1024), dtype=np.uint8)).shape == (2, 1, 32, 32)
    assert to_images(np.zeros((2, 100)), shape=(1, 10, 10)).shape == (2, 1, 10, 10)
    assert to_images(np.zeros((2, 10, 10))).shape == (2, 1, 10, 10)  # N-D: any size
    features = to_inputs(np.full((2, 100), 51, dtype=np.uint8), features=True)
    assert features.shape == (2, 100) and features.dtype == np.float32
    np.testing.assert_allclose(features, 0.2)  # the same scaling rule as pixels
    assert to_inputs(np.zeros((2, 784)), features=True).shape == (2, 1, 28, 28)
    assert to_inputs(np.zeros((2, 784)), shape=(784,)).shape == (2, 784)


def test_labels_from_series_column_and_strings():
    assert check_labels(pd.Series([0, 9, 3]), 3).tolist() == [0, 9, 3]
    with pytest.warns(UserWarning, match="column-vector y"):  # sklearn's DataConversionWarning
        assert check_labels(np.array([[1], [2]]), 2).tolist() == [1, 2]
    classes = label_classes(np.array(["b", "a", "b"]))
    assert classes.tolist() == ["a", "b"]
    assert encode_labels(np.array(["b", "a", "b"]), classes).tolist() == [1, 0, 1]


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 2), dtype=int), "y should be a 1d array"),
    (np.array([0.5, 1.5]), "Unknown label type"),
    (np.array([1, 2, 3]), "inconsistent numbers of samples"),
])
def test_bad_labels_raise_sklearn_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        check_labels(bad, 2)


def test_one_class_and_unseen_labels():
    with pytest.raises(ValueError, match="at least 2 classes.*only one class: 7"):
        label_classes(np.array([7, 7]))
    with pytest.raises(InputError, match="not among the classes.*'c'"):
        encode_labels(np.array(["a", "c"]), np.array(["a", "b"]))
    with pytest.raises(InputError, match="num_classes=3 means labels 0..2.*\\[5\\]"):
        label_classes(np.array([0, 5]), num_classes=3)
    assert label_classes(np.array([1, 2]), num_classes=4).tolist() == [0, 1, 2, 3]
    assert label_classes(np.array([1, 2]), classes=[3, 2, 1]).tolist() == [1, 2, 3]


def test_integer_pixels_stay_uint8_and_are_scaled_per_batch_to_the_same_values(digits):
    pixels = digits[0][:8].astype(np.int64)
    kept = to_inputs(pixels, integers=True)
    assert kept.dtype == np.uint8 and kept.shape == (8, 1, 28, 28)
    assert np.array_equal(scaled_batch(torch.from_numpy(kept)).numpy(), to_inputs(pixels))
    floats = torch.from_numpy(to_inputs(pixels / 255.0, integers=True))
    assert floats.dtype == torch.float32 and scaled_batch(floats) is floats  # as given
    with pytest.raises(InputError, match="integer pixels must lie in 0..255"):
        to_inputs(pixels + 1, integers=True)


def test_predicting_uint8_gives_what_predicting_scaled_floats_gives(digits):
    X, y = digits
    net = tiny_net().fit(X, y)
    assert np.array_equal(net.predict_proba(X), net.predict_proba(X / np.float32(255)))
