"""The draw-a-digit page in a real headless Chromium (selenium), served by a real uvicorn:
draw a "1" with the mouse and a "0" with a finger, upload a digit, clear.

Skipped, saying why, only where Chromium or its driver cannot be found; `.ci/run` installs
Debian's ``chromium`` and ``chromium-driver``.
"""

import numpy as np
import pytest

pytest.register_assert_rewrite("tests.serve.serving")
from PIL import Image  # noqa: E402

from kagdigits.serve.preprocess import preprocess_image  # noqa: E402
from tests.helpers import CHROMEDRIVER, CHROMIUM, NO_CHROMIUM, start_chromium  # noqa: E402
from tests.serve.serving import call, png  # noqa: E402 (skips without the serve extra)

webdriver = pytest.importorskip("selenium.webdriver",
                                reason="selenium is not installed: pip install -e .[serve]")
from selenium.webdriver.common.actions import interaction  # noqa: E402
from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: E402
from selenium.webdriver.common.actions.pointer_input import PointerInput  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytest_plugins = ["tests.serve.serving"]

pytestmark = pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason=NO_CHROMIUM)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, server):
    browser.get(server + "/")
    WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
    return browser


def draw(driver, points, pointer="mouse"):
    """One stroke through ``points`` (CSS pixels from the pad's centre)."""
    kind = interaction.POINTER_TOUCH if pointer == "touch" else interaction.POINTER_MOUSE
    builder = ActionBuilder(driver, mouse=PointerInput(kind, pointer), duration=20)
    pad = driver.find_element(By.ID, "pad")
    builder.pointer_action.move_to(pad, *points[0]).pointer_down()
    for x, y in points[1:]:
        builder.pointer_action.move_to(pad, x, y)
    builder.pointer_action.pointer_up()
    builder.perform()


def cards(driver):
    """What each model card shows: name -> (label text, [bar probabilities], top rows)."""
    shown = {}
    for card in driver.find_elements(By.CSS_SELECTOR, ".card"):
        rows = card.find_elements(By.CSS_SELECTOR, ".row")
        shown[card.get_attribute("data-model")] = (
            card.find_element(By.CSS_SELECTOR, ".digit").text,
            [float(r.get_attribute("data-p") or "nan") for r in rows],
            [r.find_element(By.CSS_SELECTOR, ".cls").text for r in rows
             if "top" in r.get_attribute("class")])
    return shown


def seen_image(driver):
    """The 28x28 image the page shows as what the models saw (grey levels)."""
    rgba = driver.execute_script(
        "return Array.from(document.getElementById('seen').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data);")
    return np.asarray(rgba, dtype=np.uint8).reshape(28, 28, 4)[..., 0]


def wait_for_answer(driver):
    """Until the page shows the answer to its newest drawing (no request still pending):
    the seen image and every model's label."""
    def answered(d):
        ink = d.find_element(By.ID, "seen").get_attribute("data-ink")
        labels = [c.get_attribute("data-label") for c in d.find_elements(By.CSS_SELECTOR, ".card")]
        pending = d.find_element(By.TAG_NAME, "body").get_attribute("data-pending")
        return ink is not None and all(labels) and pending is None
    return WebDriverWait(driver, 30).until(answered)


def check_cards(driver, server, served):
    """Every model shows a digit and its 10 bars, and that is the API's answer for the
    image the page shows it saw."""
    image = seen_image(driver)
    status, answer = call(server + "/predict",
                          f'{{"pixels": {image.ravel().tolist()}}}'.encode(), "application/json")
    assert status == 200
    api = {p["name"]: p for p in answer["predictions"]}
    shown = cards(driver)
    assert set(shown) == {m.name for m in served}
    for name, (label, bars, top) in shown.items():
        assert len(bars) == 10 and sum(bars) == pytest.approx(1, abs=1e-3)
        assert label == str(api[name]["label"]) and top == [label]
        np.testing.assert_allclose(bars, api[name]["probabilities"], atol=1e-3)
    return image


def test_draw_a_one_and_a_zero(page, server, served, tmp_path):
    draw(page, [(0, y) for y in range(-95, 96, 10)])  # a vertical line, with the mouse
    wait_for_answer(page)
    one = check_cards(page, server, served)
    rows, cols = np.nonzero(one > 64)
    assert rows.max() - rows.min() >= 17 and cols.max() - cols.min() <= 6  # tall and thin
    page.find_element(By.ID, "clear").click()
    assert all(label == "–" for label, _, _ in cards(page).values())
    angles = np.linspace(0, 2 * np.pi, 40)
    draw(page, [(int(60 * np.sin(a)), int(-90 * np.cos(a))) for a in angles], "touch")
    wait_for_answer(page)
    zero = check_cards(page, server, served)
    assert zero[14, 14] < 32 and zero[14, :10].max() > 128 and zero[14, 18:].max() > 128
    shot = tmp_path / "page-after-drawing.png"
    assert page.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    picture = np.asarray(Image.open(shot).convert("L"))
    assert picture.shape[1] >= 1000 and picture.std() > 20
    errors = [e for e in page.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_upload_a_demo_digit(page, server, served, digits, tmp_path):
    X, y = digits
    lenet = next(m for m in served if m.name == "lenet5")
    # a demo digit the tiny model reads right, as a photo would be: dark ink on paper, larger
    pictures = [np.kron(255 - row.reshape(28, 28), np.ones((4, 4), dtype=np.uint8))
                for row in X[:40]]
    index = next(i for i, p in enumerate(pictures) if lenet.estimator.predict(
        preprocess_image(png(p))[None, None])[0] == y[i])
    path = tmp_path / "digit.png"
    path.write_bytes(png(pictures[index]))
    page.find_element(By.ID, "upload").send_keys(str(path))
    wait_for_answer(page)
    seen = check_cards(page, server, served)
    assert np.array_equal(seen, preprocess_image(path.read_bytes()))
    assert cards(page)["lenet5"][0] == str(y[index])


def test_an_error_is_shown_and_the_page_goes_on(page, server, served, tmp_path):
    path = tmp_path / "blank.png"
    path.write_bytes(png(np.full((60, 60), 255)))
    page.find_element(By.ID, "upload").send_keys(str(path))
    WebDriverWait(page, 30).until(lambda d: d.find_element(By.ID, "status").text)
    assert "blank" in page.find_element(By.ID, "status").text
    draw(page, [(0, y) for y in range(-80, 81, 10)])
    wait_for_answer(page)
    assert page.find_element(By.ID, "status").text == ""
    check_cards(page, server, served)
