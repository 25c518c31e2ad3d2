"""The built-in callbacks: epochs a checkpoint restored count toward ``max_epochs``."""

import pytest
from skorch.callbacks import Callback

from kagdigits import LeNet5Classifier


class Restored(Callback):
    """Says, as a checkpoint callback does after a restore, that ``epochs`` epochs ran before."""

    def __init__(self, epochs):
        self.epochs = epochs

    def on_train_begin(self, net, **kwargs):
        self.resumed_epochs_ = self.epochs


@pytest.mark.parametrize("restored, runs", [(0, 3), (1, 2), (3, 0), (5, 0)])
def test_restored_epochs_count_toward_max_epochs(digits, restored, runs):
    X, y = digits
    clf = LeNet5Classifier(max_epochs=3, device="cpu", verbose=0, batch_size=100,
                           patience=None,  # (early stopping needs the restored history)
                           callbacks=[Restored(restored)]).fit(X, y)
    assert len(clf.history) == runs  # no row is left for an epoch that did not run
    assert all("train_loss" in row for row in clf.history)


def test_warm_start_trains_max_epochs_more(digits):
    X, y = digits
    clf = LeNet5Classifier(max_epochs=2, device="cpu", verbose=0, batch_size=100).fit(X, y)
    clf.set_params(warm_start=True).fit(X, y)
    assert [row["epoch"] for row in clf.history] == [1, 2, 3, 4]
