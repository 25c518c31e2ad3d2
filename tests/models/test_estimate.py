"""Cost estimates from steps timed after a warm-up (issue 38 items 2 and 7)."""

import re

import pytest

from kagdigits import EnsembleClassifier, LeNet5Classifier
from kagdigits.models import estimate
from kagdigits.models.estimate import StepTime, StepTimer, fit_seconds


class Clock:
    """``time.perf_counter`` stand-in that moves on by scripted step times."""

    def __init__(self, steps):
        self.steps, self.now, self.calls = list(steps), 0.0, 0

    def __call__(self):
        self.calls += 1
        if self.calls % 2 == 0:  # the end of a step
            self.now += self.steps.pop(0)
        return self.now


def timed_median(monkeypatch, steps):
    """The median a :class:`StepTimer` reports for steps of the given durations."""
    monkeypatch.setattr(estimate.time, "perf_counter", Clock(steps))
    timer = StepTimer().initialize()
    with pytest.raises(estimate._Enough):
        for _ in range(len(steps)):
            timer.on_batch_begin(None, training=True)
            timer.on_batch_end(None, training=True)
    return sorted(timer.timed_)[len(timer.timed_) // 2], timer


def test_slow_first_steps_are_a_warm_up_not_the_estimate(monkeypatch):
    # as timed by hand in issue 38: the first steps of a process take 2.5 s, then 0.045 s;
    # an estimate from the first 3 steps was 55 times too high
    median, timer = timed_median(monkeypatch, [2.5] * 6 + [0.045] * 60)
    assert median == pytest.approx(0.045)
    assert len(timer.timed_) >= estimate.TIMED_STEPS
    assert sum(timer.timed_) >= estimate.TIMED_SECONDS


def test_steady_steps_are_timed_after_the_minimal_warm_up(monkeypatch):
    median, timer = timed_median(monkeypatch, [0.3] + [0.2] * 20)
    assert median == pytest.approx(0.2) and len(timer.warmup_) == estimate.WARMUP_STEPS


def test_fit_seconds_count_epochs_steps_and_validation():
    clf = LeNet5Classifier(max_epochs=10, batch_size=100)
    step = StepTime(seconds=0.1, batch_size=100, warmup=3, timed=10, hardware="cpu")
    # 10,000 rows: 9,000 train in 90 steps (9 s) + 1,000 validation rows (a third of a step
    # per 100 rows: 0.33 s), times 10 epochs
    assert fit_seconds(clf, 10_000, step) == pytest.approx(10 * (9 + 1 / 3))
    assert fit_seconds(clf.set_params(train_split=None), 10_000, step) == pytest.approx(100)


def test_estimate_line_of_a_single_model(digits):
    X, y = digits
    clf = LeNet5Classifier(max_epochs=4, device="cpu")
    line = estimate.estimate_line("lenet5", clf, X, y)
    assert re.fullmatch(r"Estimate: lenet5, up to 4 epochs on 300 rows: about [\d.]+ s on cpu, "
                        r".+ \(4 x [\d.]+ s; [\d.e-]+ s per step of 128 rows, timed after a "
                        r"warm-up of \d+ steps; early stopping can end it sooner\)\.", line)
    assert not hasattr(clf, "module_")  # the estimator itself is left untouched


def test_ensemble_estimate_times_each_kind_of_member_once(digits, monkeypatch):
    X, y = digits
    probed = []
    real = estimate.time_training_steps

    def counting(member, X, y=None):
        probed.append(type(member).__name__)
        return real(member, X, y)

    monkeypatch.setattr("kagdigits.models.ensemble.time_training_steps", counting)
    ensemble = EnsembleClassifier(member=["lenet5", "mlp"], n_members=4, max_epochs=1,
                                  device="cpu", stack_size=None)
    line = ensemble.estimated_cost(X, y)
    assert probed == ["LeNet5Classifier", "MLP3Classifier"]
    assert line.startswith("Ensemble: 4 members x 1 epochs on 300 rows, about ")
