"""The weight average (``ema``) and single-model test-time augmentation (``tta``)."""

import numpy as np
import pytest
import torch

from kagdigits import EnsembleClassifier, KaggleCNNClassifier, LeNet5Classifier
from kagdigits.errors import InputError
from kagdigits.models.augment import tta_views
from kagdigits.models.averaging import WeightAverage
from kagdigits.models.inputs import to_images
from kagdigits.models.params import ParameterError

FAST = {"max_epochs": 2, "batch_size": 32, "verbose": 0, "device": "cpu"}


def test_weight_average_follows_the_ema_formula_with_warm_up():
    net = torch.nn.Linear(3, 2)
    average = WeightAverage(net, decay=0.9)
    expected = net.weight.detach().clone()  # the first update copies the weights
    average.update(net)
    for step in range(1, 6):
        with torch.no_grad():
            net.weight.add_(1.0)
        average.update(net)
        decay = min(0.9, (1 + step) / (10 + step))
        expected = decay * expected + (1 - decay) * net.weight.detach()
    assert torch.allclose(average.module.weight, expected)


def test_swapping_the_average_in_and_out_keeps_the_trained_weights():
    net = torch.nn.Linear(3, 2)
    average = WeightAverage(net, decay=0.5)
    average.update(net)
    with torch.no_grad():
        net.weight.add_(2.0)
    trained = net.weight.detach().clone()
    average.update(net)
    average.swap_in(net)
    assert not torch.equal(net.weight, trained)
    average.swap_in(net)  # twice is once: the trained weights are not lost
    average.swap_out(net)
    assert torch.equal(net.weight, trained)


def test_ema_changes_the_weights_and_the_validation_it_is_judged_by(digits):
    X, y = digits
    plain = LeNet5Classifier(**FAST).fit(X, y)
    averaged = LeNet5Classifier(ema=0.9, **FAST).fit(X, y)
    assert dict(averaged.callbacks_)["weight_average"].average_ is None  # dropped after training
    # same seed, same batches: the validation losses differ only by the averaged weights
    assert plain.history[:, "valid_loss"] != averaged.history[:, "valid_loss"]
    # the trained network holds the average: predictions follow the best (averaged) epoch
    proba = averaged.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert not np.allclose(proba, plain.predict_proba(X))


def test_ema_with_batchnorm_counters_trains(digits):
    X, y = digits
    net = KaggleCNNClassifier(ema=0.95, max_epochs=1, batch_size=64, verbose=0,
                              device="cpu").fit(X, y)
    counters = [b for name, b in net.module_.named_buffers() if "num_batches" in name]
    assert counters and all(int(c) > 0 for c in counters)
    running = [b for name, b in net.module_.named_buffers() if "running_var" in name]
    assert running and all(torch.isfinite(b).all() and (b > 0).all() for b in running)
    proba = net.predict_proba(X)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


@pytest.mark.parametrize("value", [0, 1, 1.5, "high"])
def test_ema_refuses_a_decay_outside_0_1(digits, value):
    X, y = digits
    with pytest.raises(ParameterError, match=r"^ema: expected a number in \(0, 1\) or None"):
        LeNet5Classifier(ema=value, **FAST).fit(X, y)


def test_tta_averages_the_images_and_their_seeded_copies(digits):
    X, y = digits
    net = LeNet5Classifier(**FAST).fit(X, y)
    plain = net.predict_proba(X[:50])
    net.set_params(tta=2, tta_params={"rotation": 8, "zoom": 0, "shift": 0.1})
    proba = net.predict_proba(X[:50])
    assert np.array_equal(proba, net.predict_proba(X[:50]))  # seeded: the same copies
    assert not np.allclose(proba, plain)
    views = list(tta_views(to_images(X[:50]), 2, net.tta_params, net.random_state))
    assert len(views) == 3 and np.array_equal(views[0], to_images(X[:50]))
    net.set_params(tta=0)
    expected = np.mean([net.predict_proba(view) for view in views], axis=0)
    assert np.allclose(proba, expected, atol=1e-6)


def test_tta_is_not_used_for_validation_during_training(digits):
    X, y = digits
    plain = LeNet5Classifier(**FAST).fit(X, y)
    with_tta = LeNet5Classifier(tta=3, **FAST).fit(X, y)
    assert plain.history[:, "valid_acc"] == with_tta.history[:, "valid_acc"]


@pytest.mark.parametrize("estimator", [
    LeNet5Classifier(tta=1, tta_params={"rotate": 5}, **FAST),
    EnsembleClassifier(member="lenet5", n_members=1, tta=1, tta_params={"rotate": 5},
                       device="cpu", verbose=0)])
def test_tta_params_with_an_unknown_name_is_refused_before_training(digits, estimator):
    X, y = digits
    with pytest.raises(InputError, match=r"^tta_params: .*unexpected keyword.*rotate.*rotation"):
        estimator.fit(X, y)
    assert not hasattr(estimator, "members_") and not getattr(estimator, "initialized_", False)
