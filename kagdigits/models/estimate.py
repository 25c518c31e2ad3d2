"""How long a fit will take on this machine, from training steps timed after a warm-up.

The first steps of a process are slow (memory is mapped, kernels are chosen and compiled,
caches fill): timed by hand, 21 of 25 first steps took 2.5 s and the later ones 0.045 s,
so an estimate from the first 3 steps swung 46-fold between starts. Here a copy of the
estimator trains on a few batches of the data, through the same path as ``fit``
(batches, augmentation, precision, callbacks), with the threads the fit will use: the
steps until one takes at most :data:`SETTLED` times the fastest so far are the warm-up,
then steps are timed for at least :data:`TIMED_SECONDS` seconds or
:data:`PROBE_SHARE` of the fit they foretell, whichever is less (and at least
:data:`TIMED_STEPS` steps), and their mean is the time per step; a step :data:`SETTLED`
times faster than their median makes the steps timed so far warm-up too, and timing
starts again. A step is timed from the end of the one before, so that taking the batch
and augmenting it count (with an affine augmentation that was a sixth of LeNet-5's
epoch, left out before), and the mean, not the median, counts the steps another job
slowed down. An epoch adds the validation split's forward passes, timed on the copy
after its steps (a prediction of a few batches, after one to warm up).

While a fit runs, :func:`kagdigits.models.history.remaining_seconds` re-estimates from
the epochs it has measured.
"""

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import clone
from skorch.callbacks import Callback

from kagdigits.models.progress import duration

__all__ = ["StepTime", "StepTimer", "duration", "estimate_line", "fit_seconds",
           "predict_seconds", "steps_per_epoch", "time_training_steps"]

#: A step is past the warm-up when it takes at most this many times the fastest step yet.
SETTLED = 1.5
#: Warm-up steps at least, and at most (or :data:`WARMUP_SECONDS`, whichever comes first).
WARMUP_STEPS, MAX_WARMUP_STEPS, WARMUP_SECONDS = 3, 40, 30.0
#: Steps timed after the warm-up: at least this many, and at least this long (while
#: fewer than :data:`MAX_TIMED_STEPS`).
TIMED_STEPS, TIMED_SECONDS, MAX_TIMED_STEPS = 5, 2.0, 150
#: ... or at least this share of the fit's training steps' time, if that is less (a fit
#: of seconds is not timed for seconds).
PROBE_SHARE = 0.02
#: A forward pass without gradients, per row, as a share of a training step's, where it
#: is not timed (a stack of ensemble members).
FORWARD_SHARE = 1 / 3
#: Batches of the forward passes timed after the steps: at least, and at most (doubling
#: until they take :data:`FORWARD_SECONDS`).
FORWARD_BATCHES, MAX_FORWARD_BATCHES, FORWARD_SECONDS = 2, 32, 0.3


@dataclass(frozen=True)
class StepTime:
    """``seconds`` per training step of ``batch_size`` rows (the mean of ``timed`` steps
    after ``warmup`` steps, each from the end of the one before) on ``hardware`` (the
    threads included); ``forward_seconds`` per row of a forward pass without gradients
    (``None``: not timed, :data:`FORWARD_SHARE` of a step's)."""

    seconds: float
    batch_size: int
    warmup: int
    timed: int
    hardware: str
    forward_seconds: float | None = None

    @property
    def forward_per_row(self):
        """Seconds of a forward pass without gradients per row (timed, or estimated)."""
        if self.forward_seconds is not None:
            return self.forward_seconds
        return self.seconds / self.batch_size * FORWARD_SHARE


class _Enough(Exception):
    """Raised by :class:`StepTimer` to end the probe fit once its steps are timed."""


class StepTimer(Callback):
    """Times each training step from the end of the one before (the first from its
    start), waiting for a GPU to finish it, and ends the fit by raising :class:`_Enough`
    once the warm-up is over and enough steps are timed (``steps``: the training steps of
    the fit to estimate, ``None``: many)."""

    def __init__(self, cuda=False, steps=None):
        self.cuda = cuda
        self.steps = steps

    def initialize(self):
        self.warmup_, self.timed_, self.start_ = [], [], None
        return self

    @property
    def seconds(self):
        """The time per step: the mean of the timed steps (the later half of all steps
        when the data ran out before any were timed)."""
        steps = self.warmup_ + self.timed_
        timed = self.timed_ or steps[len(steps) // 2:]
        return sum(timed) / len(timed), len(timed)

    def _now(self):
        if self.cuda:
            torch.cuda.synchronize()  # a GPU runs queued steps later: time until done
        return time.perf_counter()

    def on_batch_begin(self, net, training=False, **kwargs):
        if training and self.start_ is None:
            self.start_ = self._now()

    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        now = self._now()
        seconds, self.start_ = now - self.start_, now
        if (self.timed_ and seconds * SETTLED < np.median(self.timed_)
                and not self._warm_up_spent()):
            self.warmup_ += self.timed_  # much faster now: what was timed was warm-up too
            self.timed_ = []
        if self.timed_ or self._warm(seconds):
            self.timed_.append(seconds)
        else:
            self.warmup_.append(seconds)
        if len(self.timed_) >= MAX_TIMED_STEPS or len(self.timed_) >= TIMED_STEPS and (
                sum(self.timed_) >= self._enough_seconds()):
            raise _Enough

    def _enough_seconds(self):
        if self.steps is None:
            return TIMED_SECONDS
        return min(TIMED_SECONDS, PROBE_SHARE * self.steps * np.mean(self.timed_))

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


def _forward_seconds(probe, X, enough=FORWARD_SECONDS):
    """Seconds per row of ``probe``'s forward pass without gradients (no test-time
    augmentation) over batches of ``X``: one batch to warm up, then
    :data:`FORWARD_BATCHES` batches and more, doubling, until they take ``enough``
    seconds (at most :data:`MAX_FORWARD_BATCHES`)."""
    probe.tta = 0  # a copy: validation runs without it (prediction: predict_seconds)
    size = probe.get_params_for("iterator_valid").get("batch_size", probe.batch_size)
    probe.predict_proba(X[:size])
    batches = FORWARD_BATCHES
    while True:
        rows = min(len(X), batches * size)
        start = time.perf_counter()
        probe.predict_proba(X[:rows])
        seconds = time.perf_counter() - start
        if seconds >= enough or batches >= MAX_FORWARD_BATCHES or rows == len(X):
            return seconds / rows
        batches *= 2


def time_training_steps(estimator, X, y=None):
    """The :class:`StepTime` of ``estimator`` (a single network, unfitted or not; left as
    it is) training on batches of ``X`` (and labels ``y``; ``None``: made up), on this
    machine, after a warm-up, and of its forward passes (see the module doc). A stack of
    ensemble members (``StackedClassifier``): its steps (forward passes not timed)."""
    probe = clone(estimator)
    batch_size = probe.get_params_for("iterator_train").get("batch_size", probe.batch_size)
    steps = MAX_WARMUP_STEPS + MAX_TIMED_STEPS
    X_probe, y_probe = _probe_data(X, y, batch_size * steps)
    fit_steps = steps_per_epoch(probe, len(X)) * probe.max_epochs
    timer = StepTimer(cuda=torch.device(probe.device or "cpu").type == "cuda", steps=fit_steps)
    probe.set_params(max_epochs=1, train_split=None, verbose=0, warm_start=False,
                     callbacks=[("step_timer", timer)])  # no checkpoints
    stacked = hasattr(probe, "unstack")
    try:  # the fit sets the threads as the real one will (models.threads)
        probe.fit(X_probe, y_probe)
    except _Enough:
        pass
    timer = dict(probe.callbacks_)["step_timer"]
    seconds, timed = timer.seconds
    enough = min(FORWARD_SECONDS, PROBE_SHARE * fit_steps * seconds)
    forward = None if stacked else _forward_seconds(probe, X_probe, enough)
    hardware = probe.hardware_summary()
    if probe._device_type() == "cpu":
        threads = torch.get_num_threads()
        hardware += f", {threads} thread{'s' if threads != 1 else ''}"
    return StepTime(seconds, batch_size, len(timer.warmup_), timed, hardware, forward)


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


def fit_seconds(estimator, n_rows, step, epochs=None):
    """Seconds ``estimator`` trains on ``n_rows`` rows for ``epochs`` epochs (``None``: its
    ``max_epochs``), at ``step`` (:class:`StepTime`): training steps and the validation
    split's forward passes."""
    validation = n_rows - _train_rows(estimator, n_rows)
    epoch = steps_per_epoch(estimator, n_rows) * step.seconds
    epoch += validation * step.forward_per_row
    return epoch * (estimator.max_epochs if epochs is None else epochs)


def predict_seconds(estimator, n_rows, step):
    """Seconds ``estimator`` predicts ``n_rows`` rows in, at ``step``'s forward passes
    (:class:`StepTime`), its test-time augmentation (``tta`` copies) included."""
    return n_rows * step.forward_per_row * (1 + getattr(estimator, "tta", 0))


def estimate_line(name, estimator, X, y=None, fits=1, epochs_done=0):
    """One line: how long fitting ``estimator`` (registered as ``name``) on ``X`` may take
    here, e.g. ``Estimate: lenet5, up to 30 epochs on 42,000 rows: about 4 min on cpu,
    bf16 autocast, channels_last, 1 thread (30 x 8 s; 0.028 s per step of 128 rows, timed
    after a warm-up of 3 steps)``; ``fits`` > 1: each of that many fits, and all of them
    one after another; ``epochs_done`` epochs already trained (a resumed run): only the
    epochs left, ``57 of 60 epochs left``."""
    step = time_training_steps(estimator, X, y)
    epochs = max(estimator.max_epochs - epochs_done, 0)
    seconds = fit_seconds(estimator, len(X), step, epochs)
    stops = getattr(estimator, "stops_early", False)
    each = f"{fits} fits of " if fits > 1 else ""
    total = f", {duration(fits * seconds)} in all one after another" if fits > 1 else ""
    counted = f"{epochs} epoch{'s' if epochs != 1 else ''}"
    if epochs_done:
        counted = f"{epochs} of {estimator.max_epochs} epochs left"
    per_epoch = duration(seconds / epochs) if epochs else "0 s"
    return (f"Estimate: {name}, {each}{'up to ' if stops else ''}{counted} on {len(X):,} "
            f"rows: about {duration(seconds)}{' each' if fits > 1 else ''}{total} on "
            f"{step.hardware} ({epochs} x {per_epoch}; {step.seconds:.3g} s per step of "
            f"{step.batch_size} rows, timed after a warm-up of {step.warmup} steps"
            f"{'; early stopping can end it sooner' if stops else ''}).")
