"""Every "auto" decided once: ``device_``, ``precision_`` and ``channels_last_`` are fitted
at ``initialize``, never decided again per batch; parameters are checked once per fit; the
hardware line needs no network."""

import collections
import pickle

import pytest
import torch
from sklearn.base import clone

from kagdigits.models import LeNet5Classifier, MLP3Classifier, base, params
from kagdigits.models import device as device_module
from kagdigits.models.device import PRECISIONS
from tests.helpers import tiny_net

FITTED = ("device_", "precision_", "channels_last_")


@pytest.fixture
def calls(monkeypatch):
    """Count the calls of what decides the device, precision and memory format, and of the
    parameter check."""
    counts = collections.Counter()

    def counted(module, name):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            counts[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    for name in ("resolve_device", "auto_precision", "auto_channels_last", "decide_hardware"):
        counted(device_module, name)
    counted(base, "resolve_device")  # the name base imported
    counted(params, "check_params")
    return counts


def test_the_choices_are_fitted_attributes(digits):
    X, y = digits
    unfitted = tiny_net(device="auto")
    assert not any(hasattr(unfitted, name) for name in FITTED)
    fitted = tiny_net(device="auto").fit(X, y)
    assert fitted.device_ == ("cuda" if torch.cuda.is_available() else "cpu")
    assert fitted.precision_ in PRECISIONS and isinstance(fitted.channels_last_, bool)
    assert fitted.get_params()["device"] == "auto"  # the parameter stays as set
    assert not any(hasattr(clone(fitted), name) for name in FITTED)  # clone: unfitted
    loaded = pickle.loads(pickle.dumps(fitted))
    assert [getattr(loaded, n) for n in FITTED] == [getattr(fitted, n) for n in FITTED]
    assert loaded.get_params()["device"] == "auto"
    assert fitted.hardware_summary() == ", ".join([
        fitted.device_, "fp32" if fitted.precision_ == "fp32" else f"{fitted.precision_} autocast",
        "channels_last" if fitted.channels_last_ else "contiguous"])


def test_a_pickle_decides_again_where_it_is_loaded(digits, monkeypatch):
    X, y = digits
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)
    fitted = tiny_net().fit(X, y)
    assert (fitted.precision_, fitted.channels_last_) == ("bf16", True)
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: False)  # another CPU
    loaded = pickle.loads(pickle.dumps(fitted))
    assert (loaded.precision_, loaded.channels_last_) == ("fp32", False)


def test_set_params_on_a_fitted_estimator_decides_at_once(digits, monkeypatch):
    """As serving does: a loaded model set to fp32 predicts in fp32."""
    X, y = digits
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)
    fitted = tiny_net().fit(X, y)
    assert fitted.set_params(precision="fp32").precision_ == "fp32"
    assert not fitted.channels_last_  # "auto": off in fp32 on the CPU
    assert fitted.hardware_summary() == "cpu, fp32, contiguous"


def test_nothing_is_decided_per_batch(digits, calls):
    X, y = digits
    counts = []
    for epochs in (1, 3):  # 3x the batches, the same decisions
        calls.clear()
        clf = tiny_net(device="auto", max_epochs=epochs, batch_size=16).fit(X, y)
        clf.predict_proba(X)
        counts.append(dict(calls))
    assert counts[0] == counts[1]
    assert counts[0]["resolve_device"] == 1 and counts[0]["decide_hardware"] == 1
    assert counts[0]["auto_precision"] == counts[0]["auto_channels_last"] == 1
    assert counts[0]["check_params"] == 1  # parameters checked once per fit


def test_parameters_are_checked_again_only_when_they_change(digits, calls):
    X, y = digits
    clf = tiny_net()
    params.validate_params(clf)  # as the CLI does before reading the data
    clf.fit(X, y)
    assert calls["check_params"] == 1
    clf.set_params(max_epochs=2).fit(X, y)
    assert calls["check_params"] == 2
    clf.batch_size = "many"  # set behind set_params' back: still refused
    with pytest.raises(params.ParameterError, match="batch_size: expected an integer"):
        clf.initialize()


@pytest.mark.parametrize("cls", [LeNet5Classifier, MLP3Classifier])
def test_the_hardware_line_needs_no_network(cls, monkeypatch):
    built = []
    monkeypatch.setattr(torch.nn.Module, "to", lambda self, *a, **k: built.append(a) or self)
    estimator = cls(device="cpu")
    line = estimator.hardware_summary()
    assert not built and not hasattr(estimator, "module_")  # nothing put on a device
    monkeypatch.undo()
    assert line == cls(device="cpu").initialize().hardware_summary()
