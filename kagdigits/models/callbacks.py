"""The callbacks every kagdigits fit runs, one job each (added by
:meth:`kagdigits.models.base.DigitClassifier.get_default_callbacks`).

:class:`EpochBudget` counts the epochs a checkpoint restored towards ``max_epochs``;
:class:`WeightAveraging` trains on the weights and evaluates with their average.
:func:`needs_batch_values` tells the estimator's epoch loop whether some callback reads
per-batch values on the host while the epoch runs.
"""

from skorch.callbacks import Callback, ProgressBar

from kagdigits.models.averaging import WeightAverage


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


def restored_epochs(net):
    """The epochs a checkpoint callback of ``net`` restored (its ``resumed_epochs_``; 0 if none)."""
    return max((getattr(cb, "resumed_epochs_", 0) for _, cb in net.callbacks_), default=0)


class EpochBudget(Callback):
    """Ends a fit once it has run ``max_epochs`` epochs, counting those a checkpoint
    callback restored (:func:`restored_epochs`), so a resumed run ends where the
    uninterrupted one would; without a restore it never acts.

    It must be the first callback: at the start of an epoch that should not run it
    removes the history row skorch has just opened for it and ends the fit the way
    skorch's ``EarlyStopping`` does (``KeyboardInterrupt``, which ``fit`` catches).
    """

    def on_train_begin(self, net, **kwargs):
        self._epochs_begun = 0  # not ``_``-suffixed: not a checkpointed state

    def on_epoch_begin(self, net, **kwargs):
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
