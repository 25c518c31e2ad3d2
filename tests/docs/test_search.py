"""The docs site's search in a real headless Chromium (issue 44, item 6): served over HTTP
on loopback, as `mkdocs serve` or any web server does, a query finds the Kaggle workflow.

Material's search runs in a Web Worker that fetches ``search/search_index.json``. Opened as a
``file://`` URL (as the report that found the box stuck on "Initializing search" did), the
page hides the box and the search never starts: the site is read over HTTP
(docs/development.md says how).
"""

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers import CHROMEDRIVER, CHROMIUM, NO_CHROMIUM, start_chromium

pytest.importorskip("selenium", reason="selenium is not installed: pip install -e .[serve]")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason=NO_CHROMIUM)


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served_site(site):
    """The built site on a free loopback port: its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=site))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


def search(driver, query):
    """Type ``query`` into the search box; the result links once they are shown."""
    box = driver.find_element(By.CSS_SELECTOR, "input[data-md-component=search-query]")
    box.click()
    box.send_keys(query)
    return WebDriverWait(driver, 60).until(lambda d: d.find_elements(
        By.CSS_SELECTOR, "li.md-search-result__item a.md-search-result__link"))


def test_a_query_finds_the_kaggle_workflow_page(browser, served_site):
    browser.get(served_site)
    links = search(browser, "Kaggle workflow")
    assert links[0].get_attribute("href") == f"{served_site}kaggle/"
    assert "Kaggle workflow" in links[0].text
    meta = browser.find_element(By.CSS_SELECTOR, ".md-search-result__meta").text
    assert meta.endswith("matching documents"), meta


def test_a_page_opened_as_a_file_cannot_search(browser, site):
    browser.get((site / "index.html").as_uri())  # why the box stayed on "Initializing search"
    box = browser.find_element(By.CSS_SELECTOR, "input[data-md-component=search-query]")
    meta = browser.find_element(By.CSS_SELECTOR, ".md-search-result__meta")
    assert not box.is_displayed()
    assert meta.get_attribute("textContent").strip() == "Initializing search"
