"""kagdigits serve reads images as their authors see them: EXIF orientation, 16-bit grey,
JSON pixels on 0..1 only when said so, blank images refused, long thin images refused
before decoding (issue 37, items 1-2)."""

import io
import json

import numpy as np
import pytest

pytest.register_assert_rewrite("tests.serve.serving")
from PIL import Image  # noqa: E402

from kagdigits.errors import InputError  # noqa: E402
from kagdigits.serve.preprocess import decode_image, pixels_from_json, preprocess_image  # noqa: E402
from tests.serve.serving import call, png  # noqa: E402 (skips without the serve extra)

pytest_plugins = ["tests.serve.serving"]


def digit_page(digits, index=0):
    """A real MNIST digit, dark ink on white paper, 4x larger (a photo of a digit)."""
    digit = 255 - digits[0][index].reshape(28, 28)
    return np.kron(digit, np.ones((4, 4), dtype=np.uint8))


def saved(image, format="PNG", **options):
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("format", ["PNG", "JPEG"])
def test_a_photo_stored_sideways_is_read_upright(digits, format):
    """Phones store portrait photos sideways with EXIF orientation 6 (rotate 90° clockwise
    to view): the digit must be read as the viewer sees it."""
    upright = digit_page(digits)
    stored = Image.fromarray(np.rot90(upright, k=1))  # what the sensor wrote
    exif = Image.Exif()
    exif[0x0112] = 6
    data = saved(stored, format, exif=exif.tobytes())
    want = preprocess_image(saved(Image.fromarray(upright), format))
    got = preprocess_image(data)
    assert np.abs(got.astype(int) - want.astype(int)).mean() < 2
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.99


def test_16_bit_grey_is_scaled_not_clipped(digits):
    page = digit_page(digits, 3)
    wide = Image.fromarray(page.astype(np.uint16) * 257)  # 0..65535, mode I;16
    assert wide.mode == "I;16"
    grey = decode_image(saved(wide))
    np.testing.assert_allclose(grey, page / 255, atol=1e-6)
    assert np.array_equal(preprocess_image(saved(wide)), preprocess_image(png(page)))


def test_a_long_thin_image_is_refused_by_its_side_before_decoding():
    data = png(np.zeros((1, 9000)))
    with pytest.raises(InputError, match="9000x1 pixels, longer than the 8,192 pixels "
                                         "accepted along a side; send a smaller image"):
        decode_image(data)


def test_the_server_refuses_a_long_thin_image(server):
    status, answer = call(server + "/predict", png(np.zeros((1, 9000))), "image/png")
    assert status == 400 and "longer than the 8,192 pixels accepted along a side" in answer[
        "error"]


# --- JSON pixels ---------------------------------------------------------------------------

def test_json_pixels_on_0_1_are_refused_without_scale(digits):
    pixels = (digits[0][0] / 255).tolist()
    with pytest.raises(InputError, match=r'"pixels" all lie in 0\.\.1, which on the default '
                                         r"scale of grey levels 0\.\.255 is a blank image; "
                                         r'send 0\.\.255, or add "scale": 1'):
        pixels_from_json({"pixels": pixels})
    binarised = (digits[0][0] > 127).astype(int).tolist()  # integers 0/1 too
    with pytest.raises(InputError, match="all lie in 0..1"):
        pixels_from_json({"pixels": binarised})


def test_json_pixels_on_0_1_with_scale_1_read_as_0_255(digits):
    row = digits[0][0]
    image = pixels_from_json({"pixels": (row / 255).tolist(), "scale": 1})
    assert np.array_equal(image.ravel(), row)
    assert np.array_equal(pixels_from_json({"pixels": row.tolist(), "scale": 255}).ravel(), row)


@pytest.mark.parametrize("payload, words", [
    ({"pixels": [0] * 784}, '"pixels" are all 0: the image is blank; send a digit'),
    ({"pixels": [255] * 784}, "are all 255: the image is blank"),
    ({"pixels": [0.5] * 784, "scale": 1}, "are all 0.5: the image is blank"),
    ({"pixels": [0] * 783 + [2], "scale": 1}, r'"pixels" must lie in 0\.\.1, found 0\.\.2'),
    ({"pixels": [0] * 783 + [1], "scale": 2}, '"scale" must be 255'),
    ({"pixels": [0] * 783 + [1], "scale": True}, '"scale" must be 255'),
    ({"pixels": [0] * 783 + [1], "scale": "1"}, '"scale" must be 255'),
    ({"pixels": [0] * 783 + [10**400]}, "found 0..a huge number"),
])
def test_blank_or_misscaled_json_pixels_are_refused(payload, words):
    with pytest.raises(InputError, match=words) as info:
        pixels_from_json(payload)
    assert "\n" not in str(info.value)


def test_the_server_answers_0_1_json_pixels_only_with_scale(server, served, digits):
    row = digits[0][5]
    body = {"pixels": (row / 255).round(6).tolist()}
    status, answer = call(server + "/predict", json.dumps(body).encode(), "application/json")
    assert status == 400 and 'add "scale": 1' in answer["error"]
    body["scale"] = 1
    status, answer = call(server + "/predict", json.dumps(body).encode(), "application/json")
    assert status == 200 and np.array_equal(answer["image"], row)
    want = served[0].estimator.predict_proba(row.reshape(1, 1, 28, 28))[0]
    assert answer["predictions"][0]["label"] == int(np.argmax(want))


def test_the_server_refuses_a_blank_json_image(server):
    status, answer = call(server + "/predict", json.dumps({"pixels": [0] * 784}).encode(),
                          "application/json")
    assert status == 400 and answer["error"] == ('"pixels" are all 0: the image is blank; '
                                                 "send a digit")
