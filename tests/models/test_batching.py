"""The batched fast path against skorch's default DataLoader path, and the speed options."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback
from skorch.dataset import Dataset, ValidSplit
from torch.utils.data import DataLoader, Subset

from kagdigits import LeNet5Classifier
from kagdigits.errors import InputError
from kagdigits.models.batching import BatchIterator

DEFAULT_PATH = {"iterator_train": DataLoader, "iterator_valid": DataLoader}
cuda = pytest.mark.cuda  # skipped without a GPU (tests/conftest.py)


def both_paths(**params):
    """The same estimator on the fast path and on skorch's default path."""
    return (LeNet5Classifier(verbose=0, device="cpu", **params),
            LeNet5Classifier(verbose=0, device="cpu", **params, **DEFAULT_PATH))


def batches(iterator):
    return [(X.clone(), None if y is None else y.clone()) for X, y in iterator]


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.RandomState(0)
    return rng.rand(23, 1, 4, 4).astype(np.float32), rng.randint(0, 10, 23).astype(np.int64)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batches_are_dataloaders_batches(arrays, shuffle, drop_last):
    dataset = Subset(Dataset(*arrays), np.arange(20, 1, -1))
    kwargs = {"batch_size": 5, "shuffle": shuffle, "drop_last": drop_last}
    fast, slow = BatchIterator(dataset, **kwargs), DataLoader(dataset, **kwargs)
    assert fast.fast and len(fast) == len(slow)
    runs = []
    for iterator in (fast, slow):  # two epochs each, then the global generator's state
        torch.manual_seed(1)
        runs.append((batches(iterator) + batches(iterator), torch.rand(3)))
    (got, rng_after), (want, rng_after_ref) = runs
    assert len(got) == len(want) and torch.equal(rng_after, rng_after_ref)
    for (X, y), (X_ref, y_ref) in zip(got, want, strict=True):
        assert torch.equal(X, X_ref) and torch.equal(y, y_ref)


def test_unlabelled_rows_come_in_order_as_views(arrays):
    X = arrays[0]
    got = batches(BatchIterator(Dataset(X), batch_size=10))
    assert [len(b) for b, _ in got] == [10, 10, 3] and all(y is None for _, y in got)
    assert torch.equal(torch.cat([b for b, _ in got]), torch.from_numpy(X))


def test_custom_datasets_and_loader_options_use_dataloader(arrays):
    class Flipped(Dataset):
        def transform(self, X, y):
            return X[..., ::-1].copy(), y

    custom = BatchIterator(Flipped(*arrays), batch_size=8)
    assert not custom.fast
    X, _ = next(iter(custom))
    assert torch.equal(X, torch.from_numpy(arrays[0][:8, ..., ::-1].copy()))
    options = BatchIterator(Dataset(*arrays), batch_size=8, num_workers=0)
    assert not options.fast and [len(X) for X, _ in options] == [8, 8, 7]


def test_fit_is_the_same_as_on_skorchs_default_path(digits):
    X, y = digits
    fast, slow = both_paths(max_epochs=3, module__dropout=0.3, iterator_train__shuffle=True)
    fast.fit(X, y), slow.fit(X, y)
    for key in ("train_loss", "valid_loss", "valid_acc", "train_batch_count"):
        assert fast.history[:, key] == slow.history[:, key]
    np.testing.assert_array_equal(fast.predict_proba(X), slow.predict_proba(X))
    assert fast.history[-1, "train_batch_count"] == 3  # 270 rows in batches of 128


def test_early_stopping_is_unchanged(digits):
    X, y = digits
    fast, slow = both_paths(max_epochs=10, patience=2, lr=0.0)  # valid loss never improves
    fast.fit(X, y), slow.fit(X, y)
    assert len(fast.history) == len(slow.history) == 3
    assert fast.history[:, "valid_loss"] == slow.history[:, "valid_loss"]


def test_pipeline_and_grid_search_are_unchanged(digits):
    X, y = digits
    results = []
    for clf in both_paths(max_epochs=1, train_split=ValidSplit(0.2, random_state=0)):
        search = GridSearchCV(make_pipeline(StandardScaler(), clf),
                              {"lenet5classifier__lr": [1e-3, 3e-3]}, cv=2)
        search.fit(X.astype(np.float32), y)
        results.append((search.cv_results_["mean_test_score"], search.predict(X)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_new_parameters_clone_and_pickle(digits):
    X, y = digits
    clf = LeNet5Classifier(max_epochs=1, verbose=0, precision="fp32", channels_last=False)
    params = clone(clf).get_params()
    assert params["iterator_train"] is params["iterator_valid"] is BatchIterator
    assert params["iterator_valid__batch_size"] == 1024
    assert (params["precision"], params["channels_last"]) == ("fp32", False)
    clf.fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


def test_unknown_precision_is_one_clear_error(digits):
    X, y = digits
    with pytest.raises(InputError,
                       match="unknown precision 'fp8'.*; choose one of: auto, fp32, bf16, fp16"):
        LeNet5Classifier(max_epochs=1, verbose=0, precision="fp8").fit(X, y)


class ScalerSeen(Callback):
    def on_batch_end(self, net, **kwargs):
        self.scaler = net.grad_scaler_


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_on_cpu(digits, precision):
    X, y = digits
    seen = ScalerSeen()
    clf = LeNet5Classifier(max_epochs=2, verbose=0, device="cpu", precision=precision,
                           train_split=None, callbacks=[seen]).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float32 and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert (seen.scaler is not None) == (precision == "fp16") and clf.grad_scaler_ is None
    assert clf.history[-1, "train_loss"] < clf.history[0, "train_loss"]


def test_channels_last_and_auto_defaults_on_cpu(digits, monkeypatch):
    from kagdigits.models import device

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)  # else bf16 + NHWC
    X, y = digits
    plain, nhwc = (LeNet5Classifier(max_epochs=1, verbose=0, device="cpu", channels_last=c,
                                    train_split=None).fit(X, y) for c in ("auto", True))
    assert plain._autocast_dtype() is None and not plain._uses_channels_last()
    weight = nhwc.module_.features[0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(nhwc.predict_proba(X), plain.predict_proba(X), atol=1e-3)


def test_compile_option(digits):
    X, y = digits
    params = {"max_epochs": 1, "verbose": 0, "device": "cpu", "train_split": None}
    compiled = LeNet5Classifier(compile=True, compile__backend="eager", **params).fit(X, y)
    assert isinstance(compiled.module_, torch._dynamo.eval_frame.OptimizedModule)
    eager = LeNet5Classifier(**params).fit(X, y)
    np.testing.assert_allclose(compiled.predict_proba(X), eager.predict_proba(X), atol=1e-5)


def test_cli_help_does_not_import_torch():
    code = "import sys, kagdigits.cli.main; kagdigits.cli.main.build_parser(); print(sorted(" \
           "m for m in ('torch', 'pandas', 'skorch', 'sklearn') if m in sys.modules))"
    assert subprocess.check_output([sys.executable, "-c", code], text=True).strip() == "[]"


@cuda
def test_cuda_fit_uses_bf16_channels_last_and_device_batches(digits):
    X, y = digits
    # 5 epochs of batch 32 (3 of the default 128 leave LeNet-5 near chance on 300 digits,
    # on the CPU as on an H200: 0.13-0.30)
    clf = LeNet5Classifier(max_epochs=5, batch_size=32, verbose=0, device="cuda").fit(X, y)
    capability = torch.cuda.get_device_capability()[0]
    assert clf._autocast_dtype() is (torch.bfloat16 if capability >= 8 else None)
    assert clf._uses_channels_last()
    iterator = clf.get_iterator(clf.get_dataset(X.astype(np.float32) / 255), training=False)
    assert next(iter(iterator))[0].is_cuda
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float32 and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert (proba.argmax(1) == y).mean() > 0.5


@cuda
def test_cuda_fp16_and_fp32_learn(digits):
    X, y = digits
    for precision in ("fp16", "fp32"):
        clf = LeNet5Classifier(max_epochs=3, verbose=0, device="cuda", precision=precision,
                               train_split=None).fit(X, y)
        assert clf.history[-1, "train_loss"] < clf.history[0, "train_loss"]
