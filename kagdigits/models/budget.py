"""A time budget: the measured recipe expected to be most accurate in the time given, and a
fit that keeps to it.

The recipes are the tiers of docs/benchmarks/tiers.md (:data:`TIERS`): ordinary
parameters of registered models, for Kaggle-size data (42,000 training rows) on 2 CPU
cores; each tier says where its expected accuracy comes from (3 seeds end to end on 18,000
held-out rows, or a plain loop's figure where the package's run is still to be measured).
:func:`choose_recipe` times a few training steps of one probe recipe on this machine
(:func:`probe_step`), so that the choice follows this machine's speed (and its load)
rather than a fixed table: each tier's cost is its measured cost relative to the probe's,
times the probe's step here. It picks
the most accurate tier whose estimate fits; when none does, the quickest one with fewer
epochs. :class:`BudgetGuard` then watches the epochs' durations while it trains: when the
epochs left would end past the budget, it compresses the rest of the one-cycle schedule
into the epochs that fit (or, for another schedule, stops at an epoch boundary) and says so.

``kagdigits submission --budget 5m`` uses it; in Python, ``recipe_for_budget("5m", X, y)``
returns the estimator.
"""

import math
import re
import time
from dataclasses import dataclass, field

from skorch.callbacks import Callback, LRScheduler
from torch.optim.lr_scheduler import OneCycleLR

from kagdigits.errors import InputError
from kagdigits.models.estimate import duration, time_training_steps
from kagdigits.models.params import make_estimator

#: Units of a duration, in seconds.
UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)")

#: Predicting a row costs this share of training on it (measured: 18,000 rows predicted in
#: 0.39 of the time per row of training, kagglecnn, one thread).
PREDICT_SHARE = 0.4
#: A tier is chosen when its estimate is at most this share of the time left (the estimate
#: of a loaded machine drifts; :class:`BudgetGuard` takes care of the rest).
FILL = 0.9


def parse_duration(text):
    """Seconds in ``text``: ``"30s"``, ``"5m"``, ``"1h"``, ``"1h30m"``, ``"90"`` (seconds),
    ``"2.5min"``; a one-line :class:`~kagdigits.errors.InputError` for anything else."""
    spoken = str(text).strip().lower()
    parts = list(_PART.finditer(spoken))
    covered = "".join(p.group(0) for p in parts).replace(" ", "")
    seconds = 0.0
    if parts and covered == spoken.replace(" ", ""):
        for part in parts:
            unit = part.group(2) or ("s" if len(parts) == 1 else "")
            if unit not in UNITS:
                break
            seconds += float(part.group(1)) * UNITS[unit]
        else:
            if seconds > 0:
                return seconds
    raise InputError(f"budget {text!r} is not a duration; write e.g. 30s, 5m, 1h or 1h30m")


@dataclass(frozen=True)
class Tier:
    """A measured recipe: ``model`` with ``params``, its held-out ``accuracy`` (mean of 3
    seeds, ``spread`` their standard deviation) and its training ``cost`` per row and epoch
    relative to the probe recipe's (:data:`PROBE`) on the machine it was measured on.
    Short of time, it may run as few as ``min_epochs`` epochs (where it still beats the
    tier below). ``source`` says where ``accuracy`` comes from."""

    name: str
    model: str
    params: dict = field(hash=False)
    accuracy: float
    spread: float
    cost: float
    min_epochs: int = 1
    source: str = "3 seeds on the split"

    @property
    def epochs(self):
        return self.params["max_epochs"]

    def describe(self, epochs=None):
        """``kagglecnn, 12 epochs, batch 128, one-cycle to 3e-3, augmented``."""
        p = self.params
        epochs = self.epochs if epochs is None else epochs
        words = [self.model, f"{epochs} epoch{'s' if epochs != 1 else ''}",
                 f"batch {p['batch_size']}", f"one-cycle to {p['lr']:g}"]
        if p.get("module__width", 1) != 1:
            words.append(f"width {p['module__width']:g}")
        words.append(f"dropout {p['module__dropout']:g}" if p.get("module__dropout")
                     else "no dropout")
        words.append("augmented" if p.get("augment") else "no augmentation")
        return ", ".join(words)


#: What every tier sets: all rows train (no validation split, no early stopping), one cycle
#: of the learning rate, label smoothing 0.1, no weight average.
COMMON = {"train_split": None, "patience": None, "lr_schedule": "onecycle",
          "criterion__label_smoothing": 0.1, "ema": None}

#: The tiers, quickest first (docs/benchmarks/tiers.md).
TIERS = (
    Tier("30s", "kagglecnn", {**COMMON, "max_epochs": 1, "batch_size": 64, "lr": 5e-3,
                              "module__dropout": 0, "augment": None},
         accuracy=0.9918, spread=0.0006, cost=1.0),
    Tier("5m", "kagglecnn", {**COMMON, "max_epochs": 15, "batch_size": 128, "lr": 3e-3,
                             "module__dropout": 0.4, "augment": "affine",
                             "augment__rotation": 10, "augment__zoom": 0.1,
                             "augment__shift": 0.1},
         accuracy=0.9955, spread=0.0004, cost=0.9, min_epochs=5,
         source="3 seeds on the split, end to end"),
)

#: The recipe timed on this machine: the first tier's.
PROBE = TIERS[0]


@dataclass(frozen=True)
class Choice:
    """What :func:`choose_tier` chose: ``tier`` trained for ``epochs`` epochs, expected to
    take ``seconds`` (``train_seconds`` of it training) of the ``budget`` seconds left, at
    ``row_seconds`` per training row of the probe."""

    tier: Tier
    epochs: int
    seconds: float
    train_seconds: float
    budget: float
    row_seconds: float

    @property
    def params(self):
        """The recipe's parameters, with the epochs chosen."""
        return {**self.tier.params, "max_epochs": self.epochs}

    def guard(self):
        """The :class:`BudgetGuard` for the fit: the time left less the prediction's."""
        predict = self.seconds - self.train_seconds
        return BudgetGuard(round(max(self.budget - predict, self.train_seconds), 1))

    def estimator(self, params=None, **fixed):
        """The registered estimator of the recipe (``params`` on top) with :meth:`guard`
        among its callbacks; ``fixed``: constructor arguments (``random_state``, ...)."""
        params = {**self.params, **(params or {})}
        params["callbacks"] = [*(params.get("callbacks") or []), ("budget", self.guard())]
        return make_estimator(self.tier.model, params, **fixed)

    def line(self, budget_text=None):
        """The one line said before training: recipe, estimated time, expected accuracy."""
        budget = budget_text or duration(self.budget)
        tier = self.tier
        if self.epochs == tier.epochs:
            expected = (f"expected held-out accuracy {tier.accuracy:.4f} "
                        f"(tier {tier.name}: {tier.source}; docs/benchmarks/tiers.md)")
        else:
            expected = (f"fewer epochs than tier {tier.name}'s {tier.epochs}, so expect less "
                        f"than its {tier.accuracy:.4f} (docs/benchmarks/tiers.md)")
        return (f"Budget {budget}: {tier.describe(self.epochs)}; estimated "
                f"{duration(self.seconds)} here ({self.row_seconds * 1e3:.2f} ms per training "
                f"row of the probe); {expected}.")


def tier_seconds(tier, epochs, n_rows, n_test, row_seconds):
    """``(total, training)`` seconds ``tier`` takes for ``epochs`` epochs on ``n_rows`` rows
    and predicting ``n_test`` rows, at ``row_seconds`` per training row of the probe."""
    row = row_seconds * tier.cost
    train = epochs * n_rows * row
    return train + n_test * row * PREDICT_SHARE, train


def _epochs_that_fit(tier, budget, n_rows, n_test, row_seconds):
    """The most epochs of ``tier`` (at most its own) whose estimate is within :data:`FILL` of
    ``budget``."""
    one, one_train = tier_seconds(tier, 1, n_rows, n_test, row_seconds)
    return min(tier.epochs, math.floor((FILL * budget - (one - one_train)) / one_train))


def choose_tier(budget, n_rows, row_seconds, n_test=0, tiers=TIERS, spent=0.0):
    """The :class:`Choice` for ``budget`` seconds left: the most accurate of ``tiers`` whose
    estimate (:func:`tier_seconds` at ``row_seconds``, this machine's measured time per
    training row of the probe) is at most :data:`FILL` of it with all its epochs, or with
    fewer but at least its ``min_epochs``; else the quickest tier (the first of ``tiers``)
    with the most epochs that fit. Raises a one-line ``InputError`` when not even one epoch
    of the quickest fits (``spent``: seconds of the budget already used, for the message)."""
    ranked = sorted(tiers, key=lambda t: t.accuracy, reverse=True)
    quickest = tiers[0]  # quickest first
    for tier in [*ranked, quickest]:
        epochs = _epochs_that_fit(tier, budget, n_rows, n_test, row_seconds)
        if epochs >= (1 if tier is quickest else tier.min_epochs):
            seconds, train = tier_seconds(tier, epochs, n_rows, n_test, row_seconds)
            return Choice(tier, epochs, seconds, train, budget, row_seconds)
    one = tier_seconds(quickest, 1, n_rows, n_test, row_seconds)[0]
    used = (f" after {duration(spent)} of start-up, reading the data and timing steps,"
            if spent >= 1 else "")
    raise InputError(f"a budget of {duration(budget + spent)} is too short here:{used} "
                     f"the quickest recipe needs about {duration(one / FILL)} for one "
                     f"epoch on {n_rows:,} rows ({row_seconds * 1e3:.2f} ms per training "
                     "row measured); give a longer --budget")


def probe_step(X, y=None, **fixed):
    """This machine's seconds per training row of the :data:`PROBE` recipe, from a few timed
    steps after a warm-up (:func:`kagdigits.models.estimate.time_training_steps`)."""
    probe = make_estimator(PROBE.model, {**PROBE.params, "verbose": 0}, **fixed)
    step = time_training_steps(probe, X, y)
    return step.seconds / step.batch_size


def choose_recipe(budget, X, y=None, n_test=0, elapsed=0.0, row_seconds=None, **fixed):
    """The :class:`Choice` for ``budget`` (seconds, or a duration such as ``"5m"``): that of
    :func:`choose_tier` for the time left after ``elapsed`` seconds and the probe, at this
    machine's measured step (:func:`probe_step`; ``row_seconds``: given instead, e.g. by a
    test). ``fixed``: constructor arguments of the probe (``device``, ``n_threads``)."""
    seconds = parse_duration(budget) if isinstance(budget, str) else float(budget)
    if row_seconds is None:
        start = time.monotonic()
        row_seconds = probe_step(X, y, **fixed)
        elapsed += time.monotonic() - start
    return choose_tier(seconds - elapsed, len(X), row_seconds, n_test=n_test, spent=elapsed)


def recipe_for_budget(budget, X, y=None, n_test=0, verbose=1, **fixed):
    """The estimator expected to be most accurate when trained on ``X`` (and ``y``) within
    ``budget`` here, then predicting ``n_test`` rows.

    Parameters
    ----------
    budget : str or float
        A duration (``"30s"``, ``"5m"``, ``"1h"``) or seconds.
    X, y : array-like
        The training data: their size enters the estimate, a few of their rows the probe.
    n_test : int, default=0
        Rows to be predicted after training (their time is kept out of the training's).
    verbose : int, default=1
        Print the choice (recipe, estimated time, expected accuracy) in one line.
    **fixed
        Constructor arguments, e.g. ``random_state=1`` or ``device="cpu"``.

    Returns
    -------
    DigitClassifier
        Unfitted; its ``callbacks`` hold the :class:`BudgetGuard`.
    """
    choice = choose_recipe(budget, X, y, n_test=n_test,
                           **{k: v for k, v in fixed.items() if k in ("device", "n_threads")})
    if verbose:
        print(choice.line(budget if isinstance(budget, str) else None), flush=True)
    return choice.estimator(**fixed)


def _one_cycle(net):
    """The running ``OneCycleLR`` of ``net``'s schedule callback, or ``None``."""
    for _, callback in getattr(net, "callbacks_", []):
        scheduler = getattr(callback, "lr_scheduler_", None)
        if isinstance(callback, LRScheduler) and isinstance(scheduler, OneCycleLR):
            return scheduler
    return None


def compress_one_cycle(scheduler, steps_left):
    """Make ``scheduler`` (a ``OneCycleLR`` that has taken ``last_epoch`` steps) reach its
    end in ``steps_left`` more steps instead of those it planned: its phases' ends are moved
    towards the current step by the same factor, so the learning rate goes on from where it
    is, and it stays at the lowest rate for any step after (its step count unchanged)."""
    now = scheduler.last_epoch
    end = scheduler.total_steps - 1
    if steps_left < 1 or end - now <= steps_left - 1:
        return
    factor = (steps_left - 1) / (end - now)
    phases = [{**phase, "end_step": now + (phase["end_step"] - now) * factor}
              for phase in scheduler._schedule_phases]
    last = phases[-1]
    phases.append({**last, "end_step": end, "start_lr": last["end_lr"],
                   "start_momentum": last["end_momentum"]})
    scheduler._schedule_phases = phases


class BudgetGuard(Callback):
    """Keeps a fit within ``seconds`` of its start by its epochs' measured durations.

    After each epoch it compares the time left with the epochs left, each taking as long as
    the slower of the last two (history ``dur``). When they would not fit, it plans to stop
    after the epochs that do and says so: a one-cycle schedule is compressed into them
    (:func:`compress_one_cycle`), so the fit still ends at the lowest learning rate; with
    another schedule training just stops at that epoch boundary. It never adds epochs.

    Parameters
    ----------
    seconds : float
        Time the fit may take, from its start (``on_train_begin``).
    clock : callable, default=time.monotonic
        Seconds now (a test passes a fake clock).
    """

    def __init__(self, seconds, clock=time.monotonic):
        self.seconds = seconds
        self.clock = clock

    def on_train_begin(self, net, **kwargs):
        self.start_ = self.clock()
        self.first_ = len(net.history)  # epochs a resumed run restored are not timed here
        self.stop_after_ = None

    def on_epoch_begin(self, net, **kwargs):
        if self.stop_after_ is not None and len(net.history) > self.stop_after_:
            del net.history[-1]
            raise KeyboardInterrupt  # skorch ends the fit, as EarlyStopping does

    def on_epoch_end(self, net, **kwargs):
        done = len(net.history)
        left = net.max_epochs - done
        if self.stop_after_ is not None or left <= 0:
            return
        durations = [row["dur"] for row in net.history[self.first_:] if "dur" in row]
        epoch = max(durations[-2:]) if durations else 0.0
        remaining = self.seconds - (self.clock() - self.start_)
        fit = min(left, int(remaining // epoch)) if epoch > 0 else left
        if fit >= left:
            return
        self.stop_after_ = done + fit
        scheduler = _one_cycle(net)
        how = "stopping at that epoch boundary"
        if scheduler is not None and fit > 0:  # its steps: max_epochs x steps per epoch
            compress_one_cycle(scheduler, fit * (scheduler.total_steps // net.max_epochs))
            how = "the learning-rate cycle compressed into them"
        if net.verbose:
            print(f"Budget: behind time ({max(remaining, 0):.0f} s left, {epoch:.0f} s per "
                  f"epoch): finishing after epoch {self.stop_after_} of {net.max_epochs}, "
                  f"{how}.", flush=True)
