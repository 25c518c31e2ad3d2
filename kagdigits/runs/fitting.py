"""Fitting an estimator in a run folder: a checkpoint every epoch, Ctrl-C handled, resuming,
and the training time of a resumed fit.

``fit_run(clf, X, y, "runs/exp1")`` is what ``kagdigits fit`` and ``kagdigits submission`` do
around ``clf.fit``; :mod:`kagdigits.runs.checkpoints` holds the callback that saves and
restores, :mod:`kagdigits.runs.folders` what the folder holds.
"""

import contextlib
import signal
import sys
import threading
from pathlib import Path

from kagdigits.models.callbacks import restored_epochs
from kagdigits.registry import is_ensemble
from kagdigits.runs.checkpoints import (
    STOP,
    CheckpointSaveError,
    MemberCheckpoints,
    TrainingInterrupted,
    interrupted,
    run_callbacks,
)
from kagdigits.runs.folders import hold_run


@contextlib.contextmanager
def stop_on_sigint():
    """While active, the first Ctrl-C stops training after the current batch (raising
    :class:`TrainingInterrupted` from :class:`~kagdigits.runs.checkpoints.StopOnRequest`); a
    second one at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum, frame):
        if STOP.is_set():
            raise KeyboardInterrupt
        STOP.set()
        print("\nStopping after this batch (Ctrl-C again to stop at once)...",
              file=sys.stderr, flush=True)

    STOP.clear()
    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _with_checkpoint(estimator, run_dir, resume):
    """``estimator`` set to checkpoint into ``run_dir`` (an ensemble: each member in its own
    sub-folder), replacing any run checkpoint it had."""
    if is_ensemble(estimator):
        return estimator.set_params(member_callbacks=MemberCheckpoints(run_dir, resume))
    added = run_callbacks(run_dir, resume)
    names = {name for name, _ in added}
    callbacks = [cb for cb in (estimator.callbacks or [])
                 if not (isinstance(cb, tuple) and cb[0] in names)]
    return estimator.set_params(callbacks=[*callbacks, *added])


def fit_run(estimator, X, y, run_dir, resume=False, resume_hint=None):
    """Fit ``estimator`` with a checkpoint in ``run_dir`` (:func:`run_callbacks`); return it.

    With ``resume=True`` it continues from the newest saved epoch and trains only the
    epochs left of ``max_epochs``; an ensemble's members are checkpointed (and
    resumed) one folder each. Ctrl-C stops after the current batch and raises
    :class:`TrainingInterrupted` (a second Ctrl-C stops at once); ``resume_hint`` is
    added to its message. The run's lock is held meanwhile (see
    :func:`~kagdigits.runs.folders.hold_run`): ``kagdigits runs clean`` skips the run, and
    a second process cannot train it at the same time.
    """
    run_dir = Path(run_dir)
    _with_checkpoint(estimator, run_dir, resume)
    hint = f"; {resume_hint}" if resume_hint else ""
    with hold_run(run_dir), stop_on_sigint():
        try:
            estimator.fit(X, y)
        except (TrainingInterrupted, CheckpointSaveError) as exc:
            raise type(exc)(f"{exc}{hint}") from None
        if STOP.is_set():  # a second Ctrl-C, which skorch takes as "stop training"
            raise interrupted(run_dir, hint)
    return estimator


def restored_seconds(estimator):
    """Seconds the epochs restored by a :class:`RunCheckpoint` took when they ran (the
    ``dur`` of each), summed over an ensemble's members: add them to the time of a
    resumed fit to get the whole training time."""
    total = 0.0
    for net in estimator.networks():
        total += sum(epoch.get("dur", 0.0) for epoch in net.history[:restored_epochs(net)])
    return total
