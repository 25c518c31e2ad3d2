"""Learning-rate schedules and label smoothing as estimator parameters."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from kagdigits.errors import InputError
from kagdigits.models.classifiers import LeNet5Classifier
from kagdigits.runs.fitting import fit_run


def fit(digits, **params):
    X, y = digits[0][:200], digits[1][:200]
    defaults = {"batch_size": 32, "device": "cpu", "verbose": 0, "augment": None}
    return LeNet5Classifier(**{**defaults, **params}).fit(X, y)


def test_onecycle_rises_to_lr_and_ends_at_the_last_batch(digits):
    clf = fit(digits, max_epochs=3, lr=2e-3, lr_schedule="onecycle", patience=None)
    lrs = [b["event_lr"] for row in clf.history for b in row["batches"] if "event_lr" in b]
    assert len(lrs) == 3 * 6  # 180 training rows after the 10% split: 6 batches an epoch
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert 0 < peak < len(lrs) - 1 and lrs[peak] == pytest.approx(2e-3, rel=0.05)
    assert lrs[0] == pytest.approx(2e-3 / 25) and lrs[-1] < 2e-3 / 1e4


class StopAfterFirstEpoch(Callback):
    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 1:
            raise KeyboardInterrupt


def test_onecycle_resumes_where_it_stopped(digits, tmp_path):
    X, y = digits[0][:200], digits[1][:200]
    settings = dict(max_epochs=3, batch_size=32, lr_schedule="onecycle", device="cpu",
                    verbose=0)
    straight = LeNet5Classifier(**settings).fit(X, y)
    fit_run(LeNet5Classifier(**settings, callbacks=[("stop", StopAfterFirstEpoch())]),
            X, y, tmp_path / "run")
    resumed = fit_run(LeNet5Classifier(**settings), X, y, tmp_path / "run", resume=True)
    assert resumed.history[:, "valid_loss"] == straight.history[:, "valid_loss"]
    assert np.array_equal(resumed.predict_proba(X), straight.predict_proba(X))


def test_plateau_halves_the_rate_after_two_epochs_without_progress(digits):
    clf = fit(digits, max_epochs=7, lr=1e-6, optimizer=torch.optim.SGD, lr_schedule="plateau",
              patience=None)
    assert clf.history[:, "event_lr"] == pytest.approx([1e-6] * 4 + [5e-7] * 3)


def test_exponential_decay_is_the_default(digits):
    clf = fit(digits, max_epochs=3, lr_decay=0.5, patience=None)
    assert clf.history[:, "event_lr"] == pytest.approx([2e-3, 1e-3, 5e-4])
    constant = fit(digits, max_epochs=2, lr_schedule=None, patience=None)
    assert "event_lr" not in constant.history[-1]


def test_unknown_schedule_is_refused_before_training(digits):
    with pytest.raises(InputError, match="unknown lr_schedule 'cosine'; choose one of: "
                                         "exponential, onecycle, plateau or None"):
        fit(digits, max_epochs=1, lr_schedule="cosine")


def test_label_smoothing_reaches_the_loss(digits):
    plain = fit(digits, max_epochs=1, train_split=None)
    smooth = fit(digits, max_epochs=1, train_split=None, criterion__label_smoothing=0.2)
    assert smooth.criterion_.label_smoothing == 0.2
    X = torch.from_numpy(digits[0][:64].reshape(-1, 1, 28, 28) / 255).float()
    y = torch.from_numpy(digits[1][:64])
    logits = plain.module_.eval()(X)
    assert smooth.criterion_(logits, y) > plain.criterion_(logits, y)  # smoothed targets cost more
