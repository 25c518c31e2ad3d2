"""How long a fit will take on this machine, from training steps timed after a warm-up.

The first steps of a process are slow (memory is mapped, kernels are chosen and compiled,
caches fill): timed by hand, 21 of 25 first steps took 2.5 s and the later ones 0.045 s,
so an estimate from the first 3 steps swung 46-fold between starts. Here a copy of the
estimator trains on a few batches of the data, through the same path as ``fit``
(batches, augmentation, precision, callbacks), with the threads the fit will use: the
steps until one takes at most :data:`SETTLED` times the fastest so far are the warm-up,
then :data:`TIMED_STEPS` steps (at least :data:`TIMED_SECONDS` seconds) are timed and
their median is the time per step; a step :data:`SETTLED` times faster than that median
makes the steps timed so far warm-up too, and timing starts again. An epoch adds the
validation split's forward passes (a third of a training step per row: no backward pass).
"""

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import clone
from skorch.callbacks import Callback

#: A step is past the warm-up when it takes at most this many times the fastest step yet.
SETTLED = 1.5
#: Warm-up steps at least, and at most (or :data:`WARMUP_SECONDS`, whichever comes first).
WARMUP_STEPS, MAX_WARMUP_STEPS, WARMUP_SECONDS = 3, 40, 30.0
#: Steps timed after the warm-up: at least this many, and at least this long (while
#: fewer than :data:`MAX_TIMED_STEPS`).
TIMED_STEPS, TIMED_SECONDS, MAX_TIMED_STEPS = 5, 1.0, 50
#: A forward pass without gradients, per row, as a share of a training step's.
FORWARD_SHARE = 1 / 3


@dataclass(frozen=True)
class StepTime:
    """``seconds`` per training step of ``batch_size`` rows (median of ``timed`` steps after
    ``warmup`` steps) on ``hardware``."""

    seconds: float
    batch_size: int
    warmup: int
    timed: int
    hardware: str


class _Enough(Exception):
    """Raised by :class:`StepTimer` to end the probe fit once its steps are timed."""


class StepTimer(Callback):
    """Times each training step (waiting for a GPU to finish it) and ends the fit by
    raising :class:`_Enough` once the warm-up is over and enough steps are timed."""

    def __init__(self, cuda=False):
        self.cuda = cuda

    def initialize(self):
        self.warmup_, self.timed_, self.start_ = [], [], None
        return self

    def _now(self):
        if self.cuda:
            torch.cuda.synchronize()  # a GPU runs queued steps later: time until done
        return time.perf_counter()

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            self.start_ = self._now()

    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        seconds = self._now() - self.start_
        if (self.timed_ and seconds * SETTLED < np.median(self.timed_)
                and not self._warm_up_spent()):
            self.warmup_ += self.timed_  # much faster now: what was timed was warm-up too
            self.timed_ = []
        if self.timed_ or self._warm(seconds):
            self.timed_.append(seconds)
        else:
            self.warmup_.append(seconds)
        if (len(self.timed_) >= TIMED_STEPS and sum(self.timed_) >= TIMED_SECONDS
                or len(self.timed_) >= MAX_TIMED_STEPS):
            raise _Enough

    def _warm_up_spent(self):
        return len(self.warmup_) >= MAX_WARMUP_STEPS or sum(self.warmup_) >= WARMUP_SECONDS

    def _warm(self, seconds):
        if self._warm_up_spent():
            return True
        done = self.warmup_
        return len(done) >= WARMUP_STEPS and seconds <= SETTLED * min(done)


def _probe_data(X, y, rows):
    """``rows`` rows of ``X`` and labels (``y``, or made up), repeated if ``X`` is shorter."""
    index = np.arange(rows) % len(X)
    labels = np.arange(rows) % 10 if y is None else np.asarray(y)[index]
    if y is not None and len(np.unique(labels)) < 2:  # a classifier needs two classes
        labels = np.arange(rows) % 10
    X = X.iloc[index] if hasattr(X, "iloc") else np.asarray(X)[index]
    return X, labels


def time_training_steps(estimator, X, y=None):
    """The :class:`StepTime` of ``estimator`` (a single network, unfitted or not; left as
    it is; a stack of ensemble members too) training on batches of ``X`` (and labels ``y``;
    ``None``: made up), on this machine, after a warm-up (see the module doc)."""
    probe = clone(estimator)
    batch_size = probe.get_params_for("iterator_train").get("batch_size", probe.batch_size)
    steps = MAX_WARMUP_STEPS + MAX_TIMED_STEPS
    X_probe, y_probe = _probe_data(X, y, batch_size * steps)
    timer = StepTimer(cuda=torch.device(probe.device or "cpu").type == "cuda")
    probe.set_params(max_epochs=1, train_split=None, verbose=0, warm_start=False,
                     callbacks=[("step_timer", timer)])  # no checkpoints
    try:  # the fit sets the threads as the real one will (models.threads)
        probe.fit(X_probe, y_probe)
    except _Enough:
        pass
    timer = dict(probe.callbacks_)["step_timer"]
    steps = timer.warmup_ + timer.timed_  # (timed_ is empty only if the data ran out)
    timed = timer.timed_ or steps[len(steps) // 2:]
    return StepTime(float(np.median(timed)), batch_size, len(timer.warmup_), len(timed),
                    probe.hardware_summary())


def steps_per_epoch(estimator, n_rows):
    """Training steps in one epoch over ``n_rows`` rows (the validation split held out)."""
    batch_size = estimator.get_params_for("iterator_train").get("batch_size",
                                                                 estimator.batch_size)
    return math.ceil(_train_rows(estimator, n_rows) / batch_size)


def _train_rows(estimator, n_rows):
    split = estimator.train_split
    share = getattr(split, "cv", 0.1) if split is not None else 0.0
    share = share if isinstance(share, float) and 0 < share < 1 else (0.1 if split else 0.0)
    return n_rows * (1 - share)


def fit_seconds(estimator, n_rows, step):
    """Seconds ``estimator`` trains on ``n_rows`` rows for ``max_epochs`` epochs, at
    ``step`` (:class:`StepTime`) per step: training steps and the validation forward passes."""
    train_rows = _train_rows(estimator, n_rows)
    per_row = step.seconds / step.batch_size
    epoch = steps_per_epoch(estimator, n_rows) * step.seconds
    epoch += (n_rows - train_rows) * per_row * FORWARD_SHARE
    return epoch * estimator.max_epochs


def duration(seconds):
    """``"0.4 s"``, ``"45 s"``, ``"12 min"``, ``"3.4 h"``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def estimate_line(name, estimator, X, y=None, fits=1):
    """One line: how long fitting ``estimator`` (registered as ``name``) on ``X`` may take
    here, e.g. ``Estimate: lenet5, up to 30 epochs on 42,000 rows: about 4 min (30 x 8 s;
    0.028 s per step of 128 rows, timed after a warm-up of 3 steps)``; ``fits`` > 1: each
    of that many fits, and all of them one after another."""
    step = time_training_steps(estimator, X, y)
    seconds = fit_seconds(estimator, len(X), step)
    epochs = estimator.max_epochs
    stops = getattr(estimator, "stops_early", False)
    each = f"{fits} fits of " if fits > 1 else ""
    total = f", {duration(fits * seconds)} in all one after another" if fits > 1 else ""
    return (f"Estimate: {name}, {each}{'up to ' if stops else ''}{epochs} epoch"
            f"{'s' if epochs != 1 else ''} on {len(X):,} rows: about {duration(seconds)}"
            f"{' each' if fits > 1 else ''}{total} on {step.hardware} ({epochs} x "
            f"{duration(seconds / epochs)}; {step.seconds:.3g} s per step of "
            f"{step.batch_size} rows, timed after a warm-up of {step.warmup} steps"
            f"{'; early stopping can end it sooner' if stops else ''}).")
