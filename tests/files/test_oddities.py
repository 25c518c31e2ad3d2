"""Images unlike the training digits are named before anything is predicted for them:
a light background, pixels 0/1, blank rows, transposed digits (issue 37, item 2). Real
MNIST digits, and the warning the estimators' ``predict`` gives in Python."""

import warnings

import numpy as np
import pytest

from kagdigits.files.oddities import oddities_line, oddity_counts

HEAD = ("the images to predict look unlike the digits models are trained on (light ink on "
        "black, grey levels 0..255, upright): ")
TAIL = "; predictions for such rows are mostly wrong"


@pytest.fixture(scope="module")
def images(digits):
    return digits[0].reshape(-1, 1, 28, 28)


def test_real_digits_are_not_named(images):
    assert oddities_line(images) is None
    assert oddities_line(images / np.float32(255)) is None  # floats 0..1, scaled already
    assert oddity_counts(images)["wide"] < 0.2 * len(images)


def test_a_light_background_is_named_with_its_rows_and_the_fix(images):
    odd = images.copy()
    odd[:30] = 255 - odd[:30]
    assert oddities_line(odd) == (HEAD + "30 of 300 rows have a light background (dark ink on "
                                  "white: invert them, 255 - pixels)" + TAIL)
    assert "300 of 300 rows have a light background" in oddities_line(1 - images / 255.0)


def test_binarised_pixels_are_named(images):
    assert oddities_line((images > 127).astype(np.uint8)) == (
        HEAD + "300 of 300 rows hold only 0 and 1 (scale them to grey levels 0..255)" + TAIL)


def test_blank_rows_are_named(images):
    odd = images.copy()
    odd[:4] = 0
    odd[4] = 255
    assert oddities_line(odd) == (HEAD + "5 of 300 rows are blank (one value throughout: check "
                                  "how the file was made)" + TAIL)


def test_transposed_digits_are_named(images):
    line = oddities_line(images.transpose(0, 1, 3, 2))
    assert line.startswith(HEAD) and line.endswith(
        "rows spread wider than tall, as transposed digits do (MNIST: 1 in 10; transpose each "
        "image)" + TAIL)
    assert oddities_line(images.transpose(0, 1, 3, 2)[:19]) is None  # too few rows to judge


def test_several_oddities_share_one_line(images):
    odd = 255 - images.transpose(0, 1, 3, 2)
    odd[0] = 7
    line = oddities_line(odd)
    assert "\n" not in line and line.count(" of 300 rows ") == 3


def test_predict_warns_in_python(lenet5, digits):
    X = digits[0]
    with pytest.warns(UserWarning, match="300 of 300 rows have a light background") as caught:
        lenet5.predict(255 - X)
    assert len(caught) == 1 and caught[0].filename == __file__  # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lenet5.predict(X)
        lenet5.predict_proba(255 - X)  # probabilities are left alone: predict warns


def test_an_ensemble_warns_once(digits):
    from kagdigits import EnsembleClassifier

    X, y = digits
    ensemble = EnsembleClassifier(member="lenet5", n_members=2, recipe=False, max_epochs=1,
                                  member_params={"train_split": None}, device="cpu",
                                  verbose=0).fit(X, y)
    with pytest.warns(UserWarning, match="rows hold only 0 and 1") as caught:
        ensemble.predict((X > 127).astype(np.uint8))
    assert len(caught) == 1


def test_many_rows_are_judged_on_a_sample_then_counted_in_full(images, monkeypatch):
    import kagdigits.files.oddities as oddities

    monkeypatch.setattr(oddities, "SAMPLE_ROWS", 100)
    assert np.array_equal(oddities.sample_rows(300, 100), oddities.sample_rows(300, 100))
    seen = []
    counts = oddities.oddity_counts
    monkeypatch.setattr(oddities, "oddity_counts", lambda x: seen.append(len(x)) or counts(x))
    assert oddities_line(images) is None and seen == [100]  # ordinary rows: the sample only
    odd = images.copy()
    odd[::2] = 255 - odd[::2]
    seen.clear()
    assert "150 of 300 rows have a light background" in oddities_line(odd)  # every row counted
    assert seen == [100, 300]
