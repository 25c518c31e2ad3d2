"""kagdigits serve: MNIST-style preprocessing, the HTTP API against a real uvicorn server
(good and bad requests), model loading and checks, and the command line."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.register_assert_rewrite("tests.serve.serving")
from PIL import Image  # noqa: E402

from kagdigits import LeNet5Classifier  # noqa: E402
from kagdigits.cli.main import main  # noqa: E402
from kagdigits.errors import InputError  # noqa: E402
from kagdigits.runs.persist import save_model  # noqa: E402
from kagdigits.serve.app import create_app, open_socket  # noqa: E402
from kagdigits.serve.models import load_served, newest_model, train_demo_model  # noqa: E402
from kagdigits.serve.preprocess import (  # noqa: E402
    decode_image,
    mnist_layout,
    pixels_from_json,
    preprocess_image,
    to_ink,
)
from tests.helpers import TINY  # noqa: E402
from tests.serve.serving import Running, announce, call, multipart, png  # noqa: E402 (skips w/o extra)

pytest_plugins = ["tests.serve.serving"]


def centre_of_mass(image):
    image = image.astype(float)
    rows, cols = np.indices(image.shape)
    return (rows * image).sum() / image.sum(), (cols * image).sum() / image.sum()


def stroke_page(size=280, box=(40, 200, 100, 130), ink=0):
    """A white page with one dark rectangle (top, bottom, left, right)."""
    page = np.full((size, size), 255, dtype=np.uint8)
    top, bottom, left, right = box
    page[top:bottom, left:right] = ink
    return page


# --- preprocessing -------------------------------------------------------------------------

def test_layout_fits_20x20_keeping_aspect_and_centres_mass():
    ink = np.zeros((300, 300), dtype=np.float32)
    ink[10:90, 250:270] = 1  # 80 tall, 20 wide, in a corner
    out = mnist_layout(ink)
    rows, cols = np.nonzero(out)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert rows.max() - rows.min() + 1 == 20 and cols.max() - cols.min() + 1 == 5
    y, x = centre_of_mass(out)
    assert abs(y - 13.5) <= 0.5 and abs(x - 13.5) <= 0.5


def test_layout_anti_aliases_grey_levels():
    ink = np.zeros((100, 100), dtype=np.float32)
    ink[0:70, 0:70] = 1
    ink[0:70, 30:33] = 0  # a thin gap becomes grey, not black or white, when scaled down
    levels = np.unique(mnist_layout(ink))
    assert ((levels > 0) & (levels < 255)).any()


def test_dark_ink_on_paper_reads_like_light_ink_on_black():
    page = stroke_page()
    assert np.array_equal(preprocess_image(png(page)), preprocess_image(png(255 - page)))


def test_transparent_canvas_is_read_over_white_paper():
    rgba = np.zeros((280, 280, 4), dtype=np.uint8)  # transparent, strokes opaque black
    rgba[40:200, 100:130, 3] = 255
    import io
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG")
    assert np.array_equal(preprocess_image(buffer.getvalue()), preprocess_image(png(stroke_page())))


def test_a_real_mnist_digit_keeps_its_layout(digits):
    """MNIST digits are already laid out this way, so preprocessing one changes little."""
    X, _ = digits
    for row in X[:20]:
        digit = row.reshape(28, 28)
        again = preprocess_image(png(digit)).astype(float)
        assert np.corrcoef(again.ravel(), digit.ravel())[0, 1] > 0.99


def test_faint_background_noise_is_dropped():
    grey = np.full((100, 100), 0.9, dtype=np.float32)
    grey += np.random.RandomState(0).uniform(-0.03, 0.03, grey.shape).astype(np.float32)
    grey[20:80, 45:55] = 0.1
    ink = to_ink(grey)
    assert ink[:15].max() == 0 and ink[50, 50] == pytest.approx(1, abs=0.1)


@pytest.mark.parametrize("data, words", [
    (b"", "empty"), (b"not an image at all", "not an image"),
    (png(np.full((50, 50), 255)), "blank"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not an image"),
])
def test_bad_images_are_refused_in_one_line(data, words):
    with pytest.raises(InputError, match=words) as info:
        preprocess_image(data)
    assert "\n" not in str(info.value)


def test_pixel_count_is_capped_before_decoding():
    with pytest.raises(InputError, match="3000x3000 pixels, more than"):
        decode_image(png(np.zeros((3000, 3000))), max_pixels=1_000_000)


@pytest.mark.parametrize("payload, words", [
    ([0] * 784, "object"), ({"pixel": [0] * 784}, "object"), ({"pixels": [0] * 783}, "783"),
    ({"pixels": "0" * 784}, "str"), ({"pixels": [[0] * 28] * 28}, "28 values"),
    ({"pixels": [True] * 784}, "numbers only"), ({"pixels": [None] * 784}, "numbers only"),
    ({"pixels": [float("nan")] * 784}, "NaN"), ({"pixels": [300] * 784}, "0..255"),
])
def test_json_pixels_of_the_wrong_shape_are_refused(payload, words):
    with pytest.raises(InputError, match=words):
        pixels_from_json(payload)


def test_json_pixels_are_used_as_given():
    values = np.arange(784) % 256
    assert np.array_equal(pixels_from_json({"pixels": values.tolist()}).ravel(), values)


# --- the API against a running server ------------------------------------------------------

def expected(served, image):
    """Each served model's probabilities for a uint8 28x28 image, from the estimator."""
    return {m.name: m.estimator.predict_proba(image[None, None])[0] for m in served}


def check_predictions(answer, served, image):
    assert np.array_equal(np.asarray(answer["image"]).reshape(28, 28), image)
    want = expected(served, image)
    assert [p["name"] for p in answer["predictions"]] == [m.name for m in served]
    for prediction in answer["predictions"]:
        proba = np.asarray(prediction["probabilities"])
        assert prediction["classes"] == list(range(10)) and proba.sum() == pytest.approx(1, 1e-4)
        np.testing.assert_allclose(proba, want[prediction["name"]], atol=1e-5)
        assert prediction["label"] == int(np.argmax(want[prediction["name"]]))


def test_health_and_models(server, tiny_kd):
    assert call(server + "/health") == (200, {"status": "ok", "models": 2})
    status, answer = call(server + "/models")
    assert status == 200
    facts = {m["name"]: m for m in answer["models"]}
    assert set(facts) == set(tiny_kd)
    assert facts["lenet5"]["model"] == "lenet5" and facts["lenet5"]["parameters"] == 61706
    assert facts["mlp"]["classes"] == list(range(10))
    assert facts["lenet5"]["params"]["max_epochs"] == 1 and facts["lenet5"]["trained_on"]


def test_predict_an_image_raw_and_as_upload(server, served, digits):
    X, _ = digits
    data = png(255 - X[0].reshape(28, 28))  # dark ink on light paper
    image = preprocess_image(data)
    status, raw = call(server + "/predict", data, "image/png")
    assert status == 200
    check_predictions(raw, served, image)
    body, kind = multipart("file", "digit.png", data)
    assert call(server + "/predict", body, kind) == (200, raw)


def test_predict_json_pixels(server, served, digits):
    X, _ = digits
    status, answer = call(server + "/predict", json.dumps({"pixels": X[1].tolist()}).encode(),
                          "application/json")
    assert status == 200
    check_predictions(answer, served, X[1].reshape(28, 28))


BAD = {
    "empty body": (b"", "image/png", 400, "empty"),
    "not an image": (b"GIF89a but not really", "image/gif", 400, "not an image"),
    "blank image": (png(np.zeros((40, 40))), "image/png", 400, "blank"),
    "too many pixels": (png(np.zeros((4200, 4200))), "image/png", 400, "pixels, more than"),
    "text": (b"seven", "text/plain", 415, "unsupported content type"),
    "no content type": (b"seven", None, 415, "unsupported content type"),
    "invalid JSON": (b"{pixels: 1", "application/json", 400, "not valid JSON"),
    "JSON list": (b"[1, 2, 3]", "application/json", 400, "object"),
    "JSON short": (json.dumps({"pixels": [1, 2]}).encode(), "application/json", 400, "got 2"),
    "JSON NaN": (b'{"pixels": [NaN]}', "application/json", 400, "NaN"),
    "JSON Infinity": (('{"pixels": [' + ", ".join(["Infinity"] * 784) + "]}").encode(),
                      "application/json", 400, "Infinity"),
    "JSON nested NaN": (json.dumps({"pixels": [float("nan")] * 784}).encode(),
                        "application/json", 400, "NaN"),
    "form without file": (*multipart("file", "x.png", b"")[:1],
                          "multipart/form-data; boundary=other", 400, "form"),
    "bad multipart": (b"--x\r\nnonsense", "multipart/form-data; boundary=x", 400, "form"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_requests_get_a_4xx_json_line_and_the_server_goes_on(server, digits, case):
    body, kind, status, words = BAD[case]
    got, answer = call(server + "/predict", body, kind, method="POST")
    assert got == status and set(answer) == {"error"}
    assert words in answer["error"] and "\n" not in answer["error"]
    good = png(digits[0][2].reshape(28, 28))
    assert call(server + "/predict", good, "image/png")[0] == 200


def test_an_announced_oversized_upload_is_refused_before_it_is_sent(server, digits):
    status, answer = announce(server, "/predict", 4 * 1024 * 1024 + 1)
    assert status == 413 and "4,194,305 bytes, more than the 4,194,304" in answer["error"]
    assert call(server + "/predict", png(digits[0][2].reshape(28, 28)), "image/png")[0] == 200


def test_a_streamed_upload_is_cut_at_the_cap(served, digits):
    """No Content-Length (chunked): the body is counted as it arrives."""
    running = Running(create_app(served, max_bytes=2000))
    try:
        chunks = iter([b"\0" * 1000] * 3)
        got, answer = call(running.url + "/predict", chunks, "image/png", method="POST")
        assert got == 413 and "larger than the 2,000 bytes" in answer["error"]
        small = png(digits[0][2].reshape(28, 28))
        assert len(small) < 2000 and call(running.url + "/predict", small, "image/png")[0] == 200
    finally:
        running.stop()


@pytest.mark.parametrize("path, method, status", [
    ("/predict", "GET", 405), ("/nowhere", "GET", 404), ("/../../etc/passwd", "GET", 404),
    ("/static/..%2f..%2fapp.py", "GET", 404), ("/models", "POST", 405),
])
def test_wrong_routes_get_json_errors(server, path, method, status):
    got, answer = call(server + path, method=method)
    assert got == status and "error" in answer


def test_the_page_and_its_files_are_served(server):
    import urllib.request

    with urllib.request.urlopen(server + "/") as response:
        page = response.read().decode()
    assert "<canvas id=\"pad\"" in page and "/static/app.js" in page
    assert "http" not in page.replace(">kagdigits", "")  # nothing loaded from elsewhere
    for name in ("app.js", "style.css"):
        with urllib.request.urlopen(f"{server}/static/{name}") as response:
            assert response.status == 200 and b"http" not in response.read()


# --- models ---------------------------------------------------------------------------------

def test_a_model_for_colour_images_is_refused_in_one_line(tmp_path):
    X = np.random.RandomState(0).randint(0, 256, (40, 3, 32, 32), dtype=np.uint8)
    clf = LeNet5Classifier(module__in_chans=3, **TINY).fit(X, np.arange(40) % 10)
    path = save_model(clf, tmp_path / "cifar.kd")
    with pytest.raises(InputError, match="does not take 1x28x28 digits") as info:
        load_served(path, device="cpu")
    assert "\n" not in str(info.value)
    assert main(["serve", "--load", str(path), "--device", "cpu"]) == 2


def test_newest_model_and_the_demo_model(tmp_path, tiny_kd):
    assert newest_model(tmp_path / "models") is None
    path = train_demo_model(tmp_path / "models" / "first.kd", max_epochs=1, device="cpu",
                            progress=False)
    assert newest_model(tmp_path / "models") == path
    model = load_served(path, device="cpu")
    assert model.facts["model"] == "lenet5" and model.classes == list(range(10))
    older = tmp_path / "models" / "older.kd"
    older.write_bytes(tiny_kd["mlp"].read_bytes())
    os.utime(older, (1, 1))
    assert newest_model(tmp_path / "models") == path
    with pytest.raises(Exception, match="already exists"):
        train_demo_model(path, max_epochs=1, progress=False)


def test_port_in_use_is_one_line(tiny_kd, capsys):
    taken = open_socket("127.0.0.1", 0)
    port = taken.getsockname()[1]
    code = main(["serve", "--load", str(tiny_kd["lenet5"]), "--port", str(port),
                 "--device", "cpu"])
    taken.close()
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_a_bad_port_is_refused_by_the_parser(port, capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--port", port])
    assert "is not a port number 0..65535" in capsys.readouterr().err


@pytest.mark.slow
def test_the_command_serves_the_newest_model_in_models(tmp_path, tiny_kd):
    """`kagdigits serve` with no --load, as a real process; Ctrl-C stops it cleanly."""
    (tmp_path / "models").mkdir()
    for age, name in ((100, "mlp"), (0, "lenet5")):
        path = tmp_path / "models" / f"{name}.kd"
        path.write_bytes(tiny_kd[name].read_bytes())
        os.utime(path, (time.time() - age, time.time() - age))
    process = subprocess.Popen(
        [sys.executable, "-m", "kagdigits.cli.main", "serve", "--port", "0", "--device", "cpu"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = [process.stdout.readline(), process.stdout.readline()]
        assert "serving the newest trained model, models/lenet5.kd" in lines[0]
        url = lines[1].split(" at ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        assert call(url + "health") == (200, {"status": "ok", "models": 1})
        assert call(url + "models")[1]["models"][0]["name"] == "lenet5"
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
