"""The built docs site, read as HTML (issue 44, items 2 and 8): the API reference renders
each parameter once with its description, links what it names, and the pages have no
doubled words."""

import re
from html import unescape
from pathlib import Path

import pytest

from kagdigits.models import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
ITEM = re.compile(r'<li class="doc-section-item field-body">\s*<b><code>([^<]+)</code></b>'
                  r'(.*?)<div class="doc-md-description">(.*?)</div>\s*</li>', re.S)


def sections(page, heading_id):
    """The HTML of each documented object under ``heading_id``'s heading, by identifier."""
    start = page.index(f'id="{heading_id}"')
    parts = re.split(r'<h2 id="(kagdigits\.[\w.]+)" class="doc doc-heading">', page[start:])
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.fixture(scope="module")
def api(site):
    return (site / "api" / "index.html").read_text(encoding="utf-8")


def test_every_estimator_parameter_is_one_item_with_a_description(api):
    classes = {cls.__name__ for name, cls in REGISTRY.items() if name != "ensemble"}
    objects = sections(api, "estimators")
    for name in classes:
        [html] = [v for k, v in objects.items() if k.endswith(f".{name}")]
        items = ITEM.findall(html)
        names = [item[0] for item in items]
        assert "augment" in names and "max_epochs" in names or name == "SmallVGGClassifier", name
        assert len(names) == len(set(names)), name
        assert not {"augment__rotation", "augment__zoom", "criterion__label_smoothing"} & set(
            names), f"{name}: the AUGMENTED line is split into items"
        empty = [n for n, _, description in items
                 if not re.sub(r"<[^>]+>", "", description).strip()]
        assert not empty, f"{name}: no description for {empty}"


def test_augmented_is_documented_and_linked(api):
    assert 'id="kagdigits.models.classifiers.AUGMENTED"' in api
    links = re.findall(r'<a [^>]*href="#kagdigits\.models\.classifiers\.AUGMENTED"[^>]*>'
                       r'<code>AUGMENTED</code></a>', api)
    assert len(links) >= 7  # every estimator's augment item, and the module's


def test_docs_pages_named_in_docstrings_are_links_that_resolve(api, site):
    text = unescape(re.sub(r"<a [^>]*>.*?</a>", "", api, flags=re.S))
    assert not re.search(r"docs/[\w/]+\.md", re.sub(r"<[^>]+>", "", text))  # none left as text
    targets = re.findall(r'<a href="\.\./([\w/-]+)/">docs/\1\.md</a>', api)
    assert "benchmarks/accuracy" in targets
    for target in set(targets):
        assert (site / target / "index.html").is_file(), target


def test_no_page_has_a_doubled_word():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    doubled = re.compile(r"\b([A-Za-z]+)(?:[ \t]+|[ \t]*\n[ \t]*)\1\b(?![-\w])")  # in a paragraph
    found = []
    for page in pages:
        prose = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        found += [f"{page.name}: {m[0]!r}" for m in doubled.finditer(prose)
                  if m[1].lower() not in {"that", "had"}]
    assert not found
