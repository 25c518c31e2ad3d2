"""The callbacks every kagdigits fit runs, one job each (:func:`default_callbacks`).

:class:`EpochBudget` counts the epochs a checkpoint restored towards ``max_epochs``;
:class:`WeightAveraging` trains on the weights and evaluates with their average.
:func:`needs_batch_values` tells the estimator's epoch loop whether some callback reads
per-batch values on the host while the epoch runs.
"""

import numpy as np
from skorch.callbacks import Callback, EarlyStopping, EpochScoring, LRScheduler, ProgressBar

from kagdigits.models.averaging import WeightAverage
from kagdigits.models.history import restored_epochs
from kagdigits.models.progress import BatchProgress, EpochTable
from kagdigits.models.schedules import lr_schedule_callbacks


def needs_batch_values(callbacks):
    """Whether one of ``callbacks`` (skorch's ``(name, callback)`` pairs) reads a batch's
    loss from the history while the epoch runs, so each must be on the host at once.

    A callback says so with a true ``needs_batch_values`` attribute; skorch's
    ``ProgressBar`` (which shows each batch's loss) does implicitly. Otherwise the
    estimator reads the epoch's losses once, after its last batch (no GPU sync per
    batch); ``on_batch_end`` still gets each step's ``loss`` and ``y_pred`` as tensors.
    """
    return any(getattr(cb, "needs_batch_values", False) or isinstance(cb, ProgressBar)
               for _, cb in callbacks)


class EpochBudget(Callback):
    """Ends a fit once it has run ``max_epochs`` epochs, counting those a checkpoint
    callback restored (:func:`restored_epochs`), so a resumed run ends where the
    uninterrupted one would; without a restore it never acts.

    It must be the first callback: at the start of an epoch that should not run it
    removes the history row skorch has just opened for it and ends the fit the way
    skorch's ``EarlyStopping`` does (``KeyboardInterrupt``, which ``fit`` catches).
    It notes the history row of the fit's first epoch (``first_row``), after a restore,
    for :func:`kagdigits.models.history.remaining_seconds`.
    """

    def on_train_begin(self, net, **kwargs):
        self._epochs_begun = 0  # not ``_``-suffixed: not a checkpointed state
        self.first_row = None

    def on_epoch_begin(self, net, **kwargs):
        if not self._epochs_begun:
            self.first_row = len(net.history) - 1
        self._epochs_begun += 1
        if self._epochs_begun > net.max_epochs - restored_epochs(net):
            del net.history[-1]
            raise KeyboardInterrupt


class WeightAveraging(Callback):
    """Keeps an exponential moving average of the weights (:class:`WeightAverage`, decay
    ``decay`` per training step) and puts it into the network for everything but training:
    validation, the epoch's end (scores, early stopping, checkpoints) and, after ``fit``,
    prediction. Training goes on from the trained weights at the next epoch's start.

    A resumed run restarts the average from the checkpoint's (averaged) weights.
    """

    def __init__(self, decay):
        self.decay = decay

    def on_train_begin(self, net, **kwargs):
        self.average_ = WeightAverage(net.module_, self.decay)

    def on_epoch_begin(self, net, **kwargs):
        self.average_.swap_out(net.module_)

    def on_batch_begin(self, net, training=False, **kwargs):
        if not training:  # the first validation batch
            self.average_.swap_in(net.module_)

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.average_.update(net.module_)

    def on_epoch_end(self, net, **kwargs):
        self.average_.swap_in(net.module_)  # no validation split: swapped in here

    def on_train_end(self, net, **kwargs):
        self.average_ = None  # the network keeps the averaged weights


#: Built-in callbacks a user callback of the same kind replaces (see ``callbacks``).
REPLACEABLE = (EarlyStopping, LRScheduler)

def index_accuracy(net, X, y):
    """Accuracy of ``net`` on a validation split whose labels ``y`` are class indices (the
    ``valid_acc`` column; ``net.predict`` returns the original labels)."""
    return float(np.mean(net.predict_proba(X).argmax(axis=1) == np.asarray(y)))


def _kind_of(callback):
    """The built-in callback class ``callback`` (an instance, a class or a ``(name, callback)``
    pair) does the job of, or ``None``."""
    callback = callback[1] if isinstance(callback, tuple) else callback
    cls = callback if isinstance(callback, type) else type(callback)
    return next((kind for kind in REPLACEABLE if issubclass(cls, kind)), None)


def default_callbacks(net, skorch_defaults):
    """The built-in ``(name, callback)`` pairs of ``net``: :class:`EpochBudget`, the weight
    average (``ema``), skorch's ``skorch_defaults`` (the table as
    :class:`~kagdigits.models.progress.EpochTable`, ``valid_acc`` by :func:`index_accuracy`),
    the schedule (``lr_schedule``) and early stopping (``patience``), each of the last two
    unless a user callback of its kind replaces it (:data:`REPLACEABLE`)."""
    replaced = {_kind_of(callback) for callback in net.callbacks or []}
    callbacks = [("epoch_budget", EpochBudget())]
    if net.ema:
        callbacks.append(("weight_average", WeightAveraging(net.ema)))
    for name, callback in skorch_defaults:
        if name == "print_log":
            callbacks.append(("batch_progress", BatchProgress()))
            callback = EpochTable()
        elif name == "valid_acc":
            callback = EpochScoring(index_accuracy, name="valid_acc", lower_is_better=False)
        callbacks.append((name, callback))
    if LRScheduler not in replaced:
        callbacks.extend(lr_schedule_callbacks(net))
    if EarlyStopping not in replaced and net.stops_early:
        callbacks.append(("early_stopping", EarlyStopping(
            monitor="valid_loss", patience=net.patience, load_best=True)))
    return callbacks
