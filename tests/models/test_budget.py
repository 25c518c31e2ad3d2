"""The time budget: parsing durations, choosing a tier from a measured step, keeping to it."""

import pytest
import torch
from skorch.callbacks import Callback

from kagdigits.errors import InputError
from kagdigits.models.budget import (
    TIERS,
    BudgetGuard,
    choose_recipe,
    choose_tier,
    compress_one_cycle,
    parse_duration,
    recipe_for_budget,
)
from tests.helpers import one_line, tiny_net

KAGGLE_ROWS, KAGGLE_TEST = 42_000, 28_000


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("90", 90), ("2.5min", 150),
    (" 10 MIN ", 600), ("1h 5m 10s", 3910), (45, 45)])
def test_durations_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["abc", "5x", "", "-3s", "0s", "5m30", "1.2.3s", "m"])
def test_a_bad_duration_is_one_line_naming_the_forms(text):
    with pytest.raises(InputError) as exc:
        parse_duration(text)
    assert "e.g. 30s, 5m, 1h or 1h30m" in one_line(exc)


def fastest_fit(budget, row_seconds):
    return choose_tier(budget, KAGGLE_ROWS, row_seconds, n_test=KAGGLE_TEST)


def test_the_same_budget_chooses_a_quicker_recipe_on_a_slower_machine():
    fast, slow = 0.5e-3, 2e-3  # measured seconds per training row of the probe
    quick = min(TIERS, key=lambda t: t.accuracy)
    best = max(TIERS, key=lambda t: t.accuracy)
    budget = 1.2 * fastest_fit(3600, fast).seconds / 0.9  # the best tier just fits, fast
    assert fastest_fit(budget, fast).tier is best
    slower = fastest_fit(budget, slow)
    assert slower.tier is quick and slower.seconds <= 0.9 * budget
    assert slower.epochs <= quick.epochs


def test_a_long_budget_takes_the_best_tier_and_a_shorter_one_fewer_of_its_epochs():
    best = max(TIERS, key=lambda t: t.accuracy)
    long = fastest_fit(3600, 1e-3)
    assert long.tier is best and long.epochs == best.epochs
    per_epoch = KAGGLE_ROWS * 1e-3 * best.cost
    predict = KAGGLE_TEST * 1e-3 * best.cost * 0.4
    epochs = best.min_epochs + 1
    short = fastest_fit((predict + (epochs + 0.5) * per_epoch) / 0.9, 1e-3)
    assert short.tier is best and short.epochs == epochs < best.epochs
    assert "fewer epochs than tier" in short.line()
    shorter = fastest_fit((predict + (best.min_epochs - 0.5) * per_epoch) / 0.9, 1e-3)
    assert shorter.tier is TIERS[0]  # below its fewest epochs, the quick tier instead


def test_a_budget_too_short_for_one_epoch_is_one_line():
    with pytest.raises(InputError) as exc:
        fastest_fit(5, 1e-3)
    assert "too short here" in one_line(exc) and "longer --budget" in one_line(exc)


def test_the_line_names_recipe_estimate_and_expected_accuracy():
    best = max(TIERS, key=lambda t: t.accuracy)
    line = fastest_fit(3600, 1e-3).line("1h")
    assert line.startswith("Budget 1h: kagglecnn, ") and "estimated" in line
    assert f"{best.accuracy:.4f}" in line and "tiers.md" in line


def one_cycle(total=100):
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    return optimizer, torch.optim.lr_scheduler.OneCycleLR(optimizer, 1e-2, total_steps=total)


@pytest.mark.filterwarnings("ignore:To get the last learning rate")
def test_a_compressed_cycle_goes_on_from_its_rate_and_ends_at_the_lowest_in_time():
    optimizer, scheduler = one_cycle()
    for _ in range(40):
        optimizer.step()
        scheduler.step()
    before = scheduler.get_last_lr()[0]
    reference_optimizer, reference = one_cycle()
    for _ in range(99):
        reference_optimizer.step()
        reference.step()
    lowest = reference.get_last_lr()[0]
    compress_one_cycle(scheduler, 20)  # 20 steps left instead of 60
    assert scheduler.get_lr()[0] == pytest.approx(before)  # the rate it would set next
    rates = []
    for _ in range(59):  # the planned steps still run without an error, at the lowest rate
        optimizer.step()
        scheduler.step()
        rates.append(scheduler.get_last_lr()[0])
    assert rates[18] == pytest.approx(lowest) and rates[-1] == pytest.approx(lowest)
    assert all(a >= b - 1e-12 for a, b in zip(rates[:19], rates[1:19], strict=False))


class FakeDurations(Callback):
    """Records every epoch as taking ``seconds`` (before the guard reads it)."""

    def __init__(self, seconds):
        self.seconds = seconds

    def on_epoch_end(self, net, **kwargs):
        net.history.record("dur", self.seconds)


def test_the_guard_finishes_early_at_an_epoch_with_the_cycle_compressed(digits, capsys):
    X, y = digits
    clock = {"now": 0.0}

    class Clock(Callback):
        def on_epoch_end(self, net, **kwargs):
            clock["now"] += 10.0

    guard = BudgetGuard(35, clock=lambda: clock["now"])
    net = tiny_net(max_epochs=6, lr_schedule="onecycle", lr=1e-2, verbose=1, callbacks=[
        ("clock", Clock()), ("durations", FakeDurations(10.0)), ("budget", guard)])
    net.fit(X[:128], y[:128])
    assert len(net.history) == 3  # 10 s per epoch: after the first, two more fit in 35 s
    out = capsys.readouterr().out
    assert "finishing after epoch 3 of 6" in out and "compressed" in out
    scheduler = dict(net.callbacks_)["lr_schedule"].lr_scheduler_
    assert scheduler.get_last_lr()[0] < 1e-2 / 1e3  # ended at the cycle's lowest rate


def test_the_guard_does_nothing_when_training_keeps_time(digits):
    X, y = digits
    guard = BudgetGuard(1e6)
    net = tiny_net(max_epochs=3, callbacks=[("budget", guard)])
    net.fit(X[:64], y[:64])
    assert len(net.history) == 3 and guard.stop_after_ is None


def test_the_chosen_recipe_is_the_registered_model_with_its_guard(digits):
    X, y = digits
    choice = choose_recipe("1h", X, y, row_seconds=1e-3)
    estimator = choice.estimator(random_state=3)
    assert type(estimator).__name__ == "KaggleCNNClassifier"
    assert estimator.random_state == 3 and estimator.max_epochs == choice.epochs
    assert 0 < dict(estimator.callbacks)["budget"].seconds <= 3600


def test_recipe_for_budget_probes_this_machine_and_says_its_choice(digits, capsys):
    X, y = digits
    estimator = recipe_for_budget("1h", X, y, random_state=1, device="cpu", n_threads=1)
    line = capsys.readouterr().out.strip()
    assert line.startswith("Budget 1h: kagglecnn") and "expected held-out accuracy" in line
    assert dict(estimator.callbacks)["budget"].seconds > 0 and estimator.random_state == 1
