"""The time a fit has left, from the epochs it measured (issue 42: estimates that hold on
the way): ``remaining_seconds(net)`` for a budget callback, and on the batch bar."""

import re
import time
from types import SimpleNamespace

import pytest
from skorch.callbacks import Callback, EpochTimer

from kagdigits import LeNet5Classifier
from kagdigits.models import progress
from kagdigits.models.callbacks import EpochBudget
from kagdigits.models.history import epoch_seconds, epochs_left, remaining_seconds
from tests.helpers import tiny_net


def net_with(durs, max_epochs, restored=0, running=None):
    """A stand-in net whose history holds epochs of ``durs`` seconds (the first
    ``restored`` of them restored by a checkpoint), and an epoch begun ``running``
    seconds ago (``None``: none running)."""
    budget = EpochBudget()
    budget.first_row = restored
    timer = EpochTimer()
    callbacks = [("epoch_budget", budget), ("epoch_timer", timer),
                 ("checkpoint", SimpleNamespace(resumed_epochs_=restored))]
    history = [{"epoch": i + 1, "dur": d} for i, d in enumerate(durs)]
    if running is not None:
        history.append({"epoch": len(durs) + 1})
        timer.epoch_start_time_ = time.time() - running
    return SimpleNamespace(history=history, max_epochs=max_epochs, callbacks_=callbacks)


def test_the_latest_epochs_set_the_pace_the_first_is_warm_up():
    net = net_with([10.0, 4.0, 6.0], max_epochs=10)
    assert epoch_seconds(net) == 5.0 and epochs_left(net) == 7
    assert remaining_seconds(net) == 35.0
    net = net_with([10.0, 4.0, 6.0, 2.0, 2.0, 2.0], max_epochs=10)  # the load went down
    assert remaining_seconds(net) == 4 * 2.0


def test_nothing_to_say_before_an_epoch_ended_and_nothing_left_at_the_end():
    assert remaining_seconds(net_with([], max_epochs=5, running=1.0)) is None
    assert remaining_seconds(net_with([3.0] * 5, max_epochs=5)) == 0.0


def test_a_running_epoch_counts_what_it_has_left():
    net = net_with([8.0, 8.0], max_epochs=4, running=3.0)
    assert epochs_left(net) == 2  # the running one and one more
    assert remaining_seconds(net) == pytest.approx(2 * 8.0 - 3.0, abs=0.1)


def test_a_resumed_run_counts_only_its_epochs_left():
    # 57 of 60 epochs restored, at 30 s each; the first epoch of this fit is running
    net = net_with([30.0] * 57, max_epochs=60, restored=57, running=10.0)
    assert epochs_left(net) == 3
    assert remaining_seconds(net) == pytest.approx(3 * 30.0 - 10.0, abs=0.1)
    net = net_with([30.0] * 57 + [20.0], max_epochs=60, restored=57)  # this machine: 20 s
    assert remaining_seconds(net) == pytest.approx(2 * 20.0)


class Watch(Callback):
    """Records ``remaining_seconds(net)`` at each epoch's end, as a budget callback reads it."""

    def on_train_begin(self, net, **kwargs):
        self.seen_ = []

    def on_epoch_end(self, net, **kwargs):
        self.seen_.append((remaining_seconds(net), [row["dur"] for row in net.history]))


def test_a_fit_re_estimates_after_every_epoch(digits):
    X, y = digits
    clf = tiny_net(max_epochs=3, callbacks=[("watch", Watch())]).fit(X, y)
    seen = dict(clf.callbacks_)["watch"].seen_
    (first, [d1]), (second, [_, d2]), (third, _) = seen
    assert first == pytest.approx(2 * d1) and second == pytest.approx(d2) and third == 0.0
    assert len(seen) == 3


def test_the_batch_bar_shows_the_time_the_fit_has_left(digits, capsys, monkeypatch):
    monkeypatch.setattr(progress, "BAR_DELAY", 0)
    monkeypatch.setattr(progress, "BAR_DISABLE", False)
    monkeypatch.setattr(progress, "REMAINING_EVERY", 1)
    X, y = digits
    LeNet5Classifier(max_epochs=2, train_split=None, device="cpu", verbose=1,
                     batch_size=100).fit(X, y)
    shown = capsys.readouterr().err.split("\r")  # each drawing of the bar
    assert any(re.search(r"^epoch 2: .*fit: about [\d.]+ s left", bar) for bar in shown)
    assert not any(bar.startswith("epoch 1:") and "fit:" in bar for bar in shown)  # none yet
