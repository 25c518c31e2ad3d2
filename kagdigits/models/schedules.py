"""Learning-rate schedules, chosen by an estimator's ``lr_schedule`` parameter.

``"exponential"`` multiplies the learning rate by ``lr_decay`` after every epoch,
``"onecycle"`` runs the one-cycle policy (Smith & Topin, 2019) over all batches of
``max_epochs`` epochs, peaking at ``lr``, and ``"plateau"`` halves the learning
rate after 2 epochs without a lower validation loss. Their settings are the
callback's: ``callbacks__lr_schedule__<name>`` (e.g. ``..._pct_start=0.2`` or
``..._factor=0.2``), or ``callbacks__lr_decay__gamma`` for the exponential one.
"""

from skorch.callbacks import LRScheduler
from torch.optim.lr_scheduler import ExponentialLR, OneCycleLR, ReduceLROnPlateau

from kagdigits.errors import choose

SCHEDULES = ("exponential", "onecycle", "plateau")


class OneCycleScheduler(LRScheduler):
    """skorch's ``LRScheduler`` for ``OneCycleLR``, sized to the fit it runs in.

    ``total_steps`` is the number of training batches of ``max_epochs`` epochs (after
    the validation split) and ``max_lr`` the net's ``lr``, unless given.
    """

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        train, _ = net.get_split_datasets(X, y)
        batch_size = net.get_params_for("iterator_train").get("batch_size", net.batch_size)
        self.total_steps_ = net.max_epochs * -(-len(train) // batch_size)
        super().on_train_begin(net, X=X, y=y, **kwargs)

    def _get_scheduler(self, net, policy, **kwargs):
        kwargs.setdefault("total_steps", self.total_steps_)
        kwargs.setdefault("max_lr", net.lr)
        return super()._get_scheduler(net, policy, **kwargs)


def lr_schedule_callbacks(net):
    """The ``(name, callback)`` pairs that run ``net.lr_schedule`` (none for ``None``)."""
    schedule = net.lr_schedule
    if schedule == "exponential":
        if net.lr_decay is None:
            return []
        return [("lr_decay", LRScheduler(ExponentialLR, gamma=net.lr_decay))]
    if schedule == "onecycle":
        return [("lr_schedule", OneCycleScheduler(OneCycleLR, step_every="batch"))]
    if schedule == "plateau":
        monitor = "train_loss" if net.train_split is None else "valid_loss"
        return [("lr_schedule", LRScheduler(ReduceLROnPlateau, monitor=monitor,
                                            factor=0.5, patience=2))]
    if schedule is None:
        return []
    choose(dict.fromkeys(SCHEDULES), schedule, "lr_schedule", also=" or None")
