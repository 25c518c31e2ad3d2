"""Cost estimates from steps timed after a warm-up (issue 38 items 2 and 7)."""

import re

import pytest

from kagdigits import EnsembleClassifier, LeNet5Classifier
from kagdigits.models import estimate
from kagdigits.models.estimate import StepTime, StepTimer, fit_seconds

pytestmark = pytest.mark.real_probe  # the probe's own settings (tests/conftest.py)


class Clock:
    """``time.perf_counter`` stand-in that moves on only when told."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def timed_mean(monkeypatch, steps, gaps=None):
    """The time per step a :class:`StepTimer` reports for steps of the given durations
    (``gaps``: seconds between one step's end and the next one's start, e.g. taking and
    augmenting the batch), and the timer."""
    clock = Clock()
    monkeypatch.setattr(estimate.time, "perf_counter", clock)
    timer = StepTimer().initialize()
    gaps = gaps or [0.0] * len(steps)
    with pytest.raises(estimate._Enough):
        for step, gap in zip(steps, gaps, strict=True):
            clock.now += gap
            timer.on_batch_begin(None, training=True)
            clock.now += step
            timer.on_batch_end(None, training=True)
    return timer.seconds[0], timer


def test_slow_first_steps_are_a_warm_up_not_the_estimate(monkeypatch):
    # as timed by hand in issue 38: the first steps of a process take 2.5 s, then 0.045 s;
    # an estimate from the first 3 steps was 55 times too high
    seconds, timer = timed_mean(monkeypatch, [2.5] * 6 + [0.045] * 100)
    assert seconds == pytest.approx(0.045)
    assert len(timer.timed_) >= estimate.TIMED_STEPS
    assert sum(timer.timed_) >= estimate.TIMED_SECONDS


def test_steady_steps_are_timed_after_the_minimal_warm_up(monkeypatch):
    seconds, timer = timed_mean(monkeypatch, [0.3] + [0.2] * 20)
    assert seconds == pytest.approx(0.2) and len(timer.warmup_) == estimate.WARMUP_STEPS


def test_the_time_between_steps_counts(monkeypatch):
    # taking and augmenting a batch happens between skorch's on_batch_end and the next
    # on_batch_begin: 10 ms of it per 40 ms step was left out of LeNet-5's estimates
    seconds, _ = timed_mean(monkeypatch, [0.04] * 100, gaps=[0.01] * 100)
    assert seconds == pytest.approx(0.05)


def test_steps_slowed_by_other_jobs_count_in_the_mean(monkeypatch):
    # a busy machine: every third step waits for a core; the epoch takes the mean, the
    # median would say 0.1 s
    seconds, timer = timed_mean(monkeypatch, [0.1] * 3 + [0.1, 0.1, 0.4] * 40)
    assert seconds == pytest.approx(sum(timer.timed_) / len(timer.timed_))
    assert seconds > 0.17


def test_fit_seconds_count_epochs_steps_and_validation():
    clf = LeNet5Classifier(max_epochs=10, batch_size=100)
    step = StepTime(seconds=0.1, batch_size=100, warmup=3, timed=10, hardware="cpu")
    # 10,000 rows: 9,000 train in 90 steps (9 s) + 1,000 validation rows (a third of a step
    # per 100 rows: 0.33 s), times 10 epochs
    assert fit_seconds(clf, 10_000, step) == pytest.approx(10 * (9 + 1 / 3))
    assert fit_seconds(clf.set_params(train_split=None), 10_000, step) == pytest.approx(100)
    assert fit_seconds(clf, 10_000, step, epochs=3) == pytest.approx(30)  # a resumed run's


def test_timed_forward_passes_count_for_validation_and_prediction():
    clf = LeNet5Classifier(max_epochs=2, batch_size=100)
    step = StepTime(seconds=0.1, batch_size=100, warmup=3, timed=10, hardware="cpu",
                    forward_seconds=0.002)  # 2 ms per row, timed
    assert fit_seconds(clf, 10_000, step) == pytest.approx(2 * (9 + 1_000 * 0.002))
    assert estimate.predict_seconds(clf, 500, step) == pytest.approx(1.0)
    assert estimate.predict_seconds(clf.set_params(tta=3), 500, step) == pytest.approx(4.0)


def test_estimate_line_of_a_single_model(digits):
    X, y = digits
    clf = LeNet5Classifier(max_epochs=4, device="cpu")
    line = estimate.estimate_line("lenet5", clf, X, y)
    assert re.fullmatch(r"Estimate: lenet5, up to 4 epochs on 300 rows: about [\d.]+ s on cpu, "
                        r".+, \d+ threads? \(4 x [\d.]+ s; [\d.e-]+ s per step of 128 rows, "
                        r"timed after a warm-up of \d+ steps; early stopping can end it "
                        r"sooner\)\.", line)
    assert not hasattr(clf, "module_")  # the estimator itself is left untouched


def test_a_resumed_run_is_estimated_for_the_epochs_left(digits, monkeypatch):
    step = StepTime(seconds=0.1, batch_size=128, warmup=3, timed=10, hardware="cpu",
                    forward_seconds=0.0)
    monkeypatch.setattr(estimate, "time_training_steps", lambda *args: step)
    X, y = digits
    clf = LeNet5Classifier(max_epochs=60, train_split=None)  # 300 rows: 3 steps, 0.3 s
    line = estimate.estimate_line("lenet5", clf, X, y, epochs_done=3)
    assert line.startswith("Estimate: lenet5, 57 of 60 epochs left on 300 rows: about 17 s ")
    assert "(57 x 0.3 s;" in line


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
