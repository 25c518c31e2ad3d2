"""Epochs without a host-device sync per batch (issue 35): the losses stay on the device and
are read once per epoch; the history holds the same numbers as skorch's own loop."""

import sys
import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from kagdigits import KaggleCNNClassifier, LeNet5Classifier

FAST = {"max_epochs": 2, "verbose": 0, "random_state": 0}
cuda = pytest.mark.cuda  # skipped without a GPU (tests/conftest.py)


def host_reads(monkeypatch):
    """Count ``.item()``, ``.cpu()`` and ``bool()`` on tensors called from skorch or kagdigits."""
    counts = {"n": 0}
    for name in ("item", "cpu", "__bool__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            counts["n"] += caller.startswith(("skorch", "kagdigits"))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return counts


def test_host_reads_do_not_grow_with_the_number_of_batches(digits, monkeypatch):
    X, y = digits
    reads = []
    for batch_size in (100, 20):  # 3 and 14 training batches an epoch
        counts = host_reads(monkeypatch)
        LeNet5Classifier(device="cpu", batch_size=batch_size, ema=0.9, **FAST).fit(X, y)
        reads.append(counts["n"])
        monkeypatch.undo()
    assert reads[0] == reads[1]  # skorch's own loop reads every batch's loss: 2 x 11 more


class BatchLosses(Callback):
    """Reads each batch's loss from the history as the batch ends."""

    needs_batch_values = True

    def on_train_begin(self, net, **kwargs):
        self.losses = []

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.losses.append(net.history[-1, "batches", -1, "train_loss"])


def test_the_history_holds_the_same_numbers_as_skorchs_loop(digits):
    X, y = digits
    seen = BatchLosses()
    synced = LeNet5Classifier(device="cpu", callbacks=[seen], **FAST).fit(X, y)
    free = LeNet5Classifier(device="cpu", **FAST).fit(X, y)
    assert seen.losses == [b["train_loss"] for e in synced.history for b in e["batches"]
                           if "train_loss" in b]  # the callback got every loss in its batch
    assert synced.history.to_list() != []
    for one, other in zip(synced.history, free.history, strict=True):
        assert {k: v for k, v in one.items() if k != "dur"} == \
            {k: v for k, v in other.items() if k != "dur"}
    np.testing.assert_array_equal(synced.predict_proba(X), free.predict_proba(X))


class SyncsAreErrors(Callback):
    """From the second epoch on, any host-device sync raises from the end of an epoch's
    first training batch to the start of its last: the whole step (the iterator's slicing
    and moving, the augmentation, forward, backward, optimizer) of every batch between."""

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        self.left = -(-len(dataset_train) // net.batch_size)

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.left -= 1
            armed = len(net.history) > 1 and self.left > 0
            torch.cuda.set_sync_debug_mode("error" if armed else "default")


@cuda
@pytest.mark.parametrize(("precision", "compile", "augment"), [
    ("auto", False, None), ("fp16", False, None), ("auto", "auto", None),
    ("auto", "auto", "affine")])
def test_a_cuda_training_step_does_not_sync(digits, precision, compile, augment):
    X, y = digits
    clf = KaggleCNNClassifier(device="cuda", precision=precision, batch_size=32,
                              compile=compile, augment=augment,
                              callbacks=[SyncsAreErrors()], **FAST)
    try:
        clf.fit(X, y)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert len(clf.history) == 2 and clf.optimizer_.defaults["fused"]
    assert clf.graph_capture_ == ("captured" if compile else "off")


def count_syncs(fit):
    """Host-device syncs that ``fit()`` makes (CUDA's sync debug mode, as warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fit()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchronizing" in str(w.message) for w in caught)


@cuda
def test_stacked_training_syncs_do_not_grow_with_the_number_of_batches(digits):
    from kagdigits import EnsembleClassifier

    X, y = digits
    syncs = [count_syncs(lambda b=batch_size: EnsembleClassifier(
        member="lenet5", n_members=3, max_epochs=2, device="cuda", verbose=0,
        member_params={"batch_size": b}).fit(X, y)) for batch_size in (100, 20)]
    assert syncs[0] == syncs[1]


@cuda
@pytest.mark.parametrize("member", ["allcnn", "wrn"])
def test_a_stacked_bf16_ensemble_with_batchnorm_trains_and_predicts(digits, member):
    from kagdigits import EnsembleClassifier

    X, y = digits
    ensemble = EnsembleClassifier(member=member, n_members=2, max_epochs=1, device="cuda",
                                  verbose=0, member_params={"precision": "bf16",
                                                            "batch_size": 32})
    ensemble.fit(X, y)
    proba = ensemble.predict_proba(X)
    assert proba.shape == (len(X), 10) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-4)


@cuda
def test_cuda_syncs_do_not_grow_with_the_number_of_batches(digits):
    X, y = digits
    syncs = [count_syncs(lambda b=batch_size: KaggleCNNClassifier(
        device="cuda", batch_size=b, **FAST).fit(X, y)) for batch_size in (100, 20)]
    assert syncs[0] == syncs[1]
