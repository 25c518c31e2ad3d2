"""Reading a training history (skorch's ``History``, or its list of per-epoch dicts): the
best score, the epochs a checkpoint restored, and how long the fit still has to go.

:func:`remaining_seconds` is the figure a callback that keeps a fit within a time budget
reads (``net.history[-1]["dur"]`` is the last epoch's own time); the progress bar shows it.
"""

import time

from skorch.callbacks import EpochTimer

#: Epochs :func:`remaining_seconds` averages (the latest ones: they show the load now).
RECENT_EPOCHS = 3


def best_score(history, key="valid_acc"):
    """The highest ``key`` (default: the validation accuracy) over the epochs of ``history``
    that have one, or ``None`` if none has."""
    scores = [row[key] for row in history if row.get(key) is not None]
    return max(scores) if scores else None


def restored_epochs(net):
    """The epochs a checkpoint callback of ``net`` restored (its ``resumed_epochs_``; 0 if none)."""
    return max((getattr(cb, "resumed_epochs_", 0) for _, cb in getattr(net, "callbacks_", [])),
               default=0)


def _fit_start(net):
    """The history row where the current (or last) fit's first epoch began: the
    ``first_row`` an :class:`~kagdigits.models.callbacks.EpochBudget` of ``net`` noted,
    else 0."""
    rows = [getattr(cb, "first_row", None) for _, cb in getattr(net, "callbacks_", [])]
    return next((row for row in rows if row is not None), 0)


def epochs_left(net):
    """The epochs the current fit of ``net`` has yet to finish (the one running included):
    ``max_epochs``, less the epochs a checkpoint restored and those this fit finished.
    Early stopping may end the fit sooner."""
    done = sum("dur" in row for row in net.history[_fit_start(net):])
    return max(0, net.max_epochs - restored_epochs(net) - done)


def epoch_seconds(net):
    """Seconds an epoch of ``net``'s fit takes now: the mean ``dur`` of its latest
    :data:`RECENT_EPOCHS` finished epochs (the fit's first left out once there are
    others: it holds the warm-up), else of the restored ones; ``None`` before any."""
    start = _fit_start(net)
    durs = [row["dur"] for row in net.history[start:] if "dur" in row]
    durs = durs[1:] if len(durs) > 1 else durs
    durs = durs or [row["dur"] for row in net.history[:start] if "dur" in row]
    durs = durs[-RECENT_EPOCHS:]
    return sum(durs) / len(durs) if durs else None


def remaining_seconds(net):
    """Seconds until ``net`` (a skorch net, while or after it trains) has trained the
    epochs its fit has left (:func:`epochs_left`), at the pace of its latest epochs
    (:func:`epoch_seconds`), less what the running epoch has run so far; ``None`` before
    an epoch has ended. Early stopping may end the fit sooner; a member of a stacked
    ensemble reports its share of the stack's epochs."""
    per_epoch = epoch_seconds(net)
    if per_epoch is None:
        return None
    seconds = per_epoch * epochs_left(net)
    if net.history and "dur" not in net.history[-1]:  # an epoch is running
        timers = [cb for _, cb in getattr(net, "callbacks_", []) if isinstance(cb, EpochTimer)]
        started = timers[0].epoch_start_time_ if timers else None
        seconds -= min(per_epoch, time.time() - started) if started else 0.0
    return max(0.0, seconds)
