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
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


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
    """From the second epoch on, any host-device sync during a training step raises."""

    def on_batch_begin(self, net, training=False, **kwargs):
        if training and len(net.history) > 1:
            torch.cuda.set_sync_debug_mode("error")

    def on_batch_end(self, net, **kwargs):
        torch.cuda.set_sync_debug_mode("default")


@cuda
@pytest.mark.parametrize("precision", ["auto", "fp16"])
def test_a_cuda_training_step_does_not_sync(digits, precision):
    X, y = digits
    clf = KaggleCNNClassifier(device="cuda", precision=precision, batch_size=32,
                              callbacks=[SyncsAreErrors()], **FAST)
    try:
        clf.fit(X, y)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert len(clf.history) == 2 and clf.optimizer_.defaults["fused"]


@cuda
def test_cuda_syncs_do_not_grow_with_the_number_of_batches(digits):
    X, y = digits
    syncs = []
    for batch_size in (100, 20):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                KaggleCNNClassifier(device="cuda", batch_size=batch_size, **FAST).fit(X, y)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        syncs.append(sum("synchronizing" in str(w.message) for w in caught))
    assert syncs[0] == syncs[1]
