"""Saved models (.kd): round trip, and files that must be refused without unpickling."""

import json
import os
import pickle

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save
from sklearn.base import clone
from skorch.dataset import ValidSplit

from kagdigits import LeNet5Classifier
from kagdigits.cli.main import main
from kagdigits.errors import InputError, KagdigitsError
from kagdigits.files.submission import read_labels_csv
from kagdigits.runs.persist import load_model, save_model

PARAMS = dict(max_epochs=1, batch_size=64, lr=1e-3, module__activation="tanh",
              module__dropout=0.1, optimizer=torch.optim.SGD, optimizer__momentum=0.9,
              criterion=torch.nn.CrossEntropyLoss, criterion__label_smoothing=0.1,
              train_split=None, verbose=0)


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    return LeNet5Classifier(device="cpu", **PARAMS).fit(X, y)


@pytest.fixture
def saved(fitted, tmp_path):
    return save_model(fitted, tmp_path / "model.kd")


def test_round_trip_gives_the_same_model(fitted, saved, digits):
    X, _ = digits
    loaded = load_model(saved, device="cpu")
    assert type(loaded) is LeNet5Classifier
    assert np.array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert loaded.classes_.tolist() == list(range(10))
    params = loaded.get_params(deep=False)
    assert {k: params[k] for k in PARAMS} == PARAMS
    assert clone(loaded).get_params(deep=False).keys() == params.keys()


def test_the_file_is_safetensors_holding_no_device_and_no_code(saved):
    with safe_open(saved, framework="pt") as f:
        metadata = f.metadata()
        assert set(f.keys()) == set(LeNet5Classifier().initialize().module_.state_dict())
    params = json.loads(metadata["params"])
    assert metadata["model"] == "lenet5" and "device" not in params
    assert params["optimizer"] == {"class": "torch.optim.SGD"}
    assert params["module__activation"] == "tanh" and "lr_decay" not in params  # defaults


def test_an_existing_file_is_replaced_only_when_asked(fitted, saved):
    before = saved.read_bytes()
    with pytest.raises(KagdigitsError, match="already exists; choose another name or pass"):
        save_model(fitted, saved)
    assert saved.read_bytes() == before
    save_model(fitted.set_params(module__dropout=0.2), saved, overwrite=True)
    assert load_model(saved).module__dropout == 0.2
    fitted.set_params(module__dropout=0.1)


def test_a_setting_a_file_cannot_hold_is_refused_by_name(fitted, tmp_path):
    odd = clone(fitted).set_params(train_split=ValidSplit(0.2))
    odd.initialize()
    with pytest.raises(KagdigitsError, match="cannot save parameter.*train_split"):
        save_model(odd, tmp_path / "odd.kd")
    assert not (tmp_path / "odd.kd").exists()


class Payload:
    """A pickle that creates a folder when unpickled (as a malicious file would run code)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def _with_metadata(path, **changes):
    with safe_open(path, framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        metadata = {**f.metadata(), **changes}
    path.write_bytes(save(tensors, metadata=metadata))
    return path


@pytest.mark.parametrize("tamper, message", [
    ("pickle", "is a pickle or torch.save file, which kagdigits never loads"),
    ("torch.save", "is a pickle or torch.save file, which kagdigits never loads"),
    ("truncated", "is not a kagdigits model file"),
    ("text", "is not a kagdigits model file"),
    ("evil class", "names 'os.system', which is not a torch.optim optimizer or torch.nn loss"),
    ("foreign safetensors", "is a safetensors file but not a kagdigits model"),
    ("unknown model", "holds model 'gpt5', unknown to this kagdigits"),
    ("bad params", "has damaged metadata"),
    ("wrong weights", "does not match the lenet5 model"),
])
def test_tampered_files_are_refused_without_running_code(saved, tmp_path, tamper, message):
    marker = tmp_path / "code-ran"
    if tamper == "pickle":
        saved.write_bytes(pickle.dumps(Payload(marker)))
    elif tamper == "torch.save":
        torch.save({"weights": Payload(marker)}, saved)
    elif tamper == "truncated":
        saved.write_bytes(saved.read_bytes()[:100])
    elif tamper == "text":
        saved.write_text("label,pixel0\n")
    elif tamper == "evil class":
        _with_metadata(saved, params=json.dumps({"optimizer": {"class": "os.system"}}))
    elif tamper == "foreign safetensors":
        saved.write_bytes(save({"w": torch.zeros(2)}))
    elif tamper == "unknown model":
        _with_metadata(saved, model="gpt5")
    elif tamper == "bad params":
        _with_metadata(saved, params=pickle.dumps(Payload(marker)).hex())
    elif tamper == "wrong weights":
        _with_metadata(saved, params=json.dumps({"module__num_classes": 7}))
    with pytest.raises(InputError) as info:
        load_model(saved)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


@pytest.mark.cuda
def test_a_model_trained_on_gpu_loads_on_cpu(digits, tmp_path):
    X, y = digits
    gpu = LeNet5Classifier(device="cuda", **PARAMS).fit(X, y)
    path = save_model(gpu, tmp_path / "gpu.kd")
    cpu = load_model(path, device="cpu")
    assert next(cpu.module_.parameters()).device.type == "cpu"
    assert np.allclose(cpu.predict_proba(X), gpu.predict_proba(X), atol=1e-4)


def test_cli_fit_then_predict_writes_a_submission(tiny_kaggle_files, tmp_path, monkeypatch,
                                                  capsys):
    monkeypatch.chdir(tmp_path)
    train, test = tiny_kaggle_files
    fit = ["fit", "--train", str(train), "--epochs", "1", "--set", "module__dropout=0.2",
           "--save", "models/m.kd"]
    assert main(fit) == 0
    assert capsys.readouterr().out.strip().endswith("models/m.kd")
    assert main(fit) == 2
    assert "models/m.kd already exists; choose another name or pass --force" in (
        capsys.readouterr().err)
    assert main([*fit, "--force"]) == 0
    assert main(["predict", "--load", "models/m.kd", "--test", str(test), "--out", "subs"]) == 0
    path = capsys.readouterr().out.strip().splitlines()[-1]
    model = load_model("models/m.kd")
    from kagdigits.files.kaggle_csv import read_test_csv

    expected = model.predict(read_test_csv(test))
    assert path.startswith("subs/lenet5-")
    assert np.array_equal(read_labels_csv(path, n_rows=len(expected)), expected)


def test_cli_predict_refuses_a_pickle_in_one_line(tiny_kaggle_files, tmp_path, capsys):
    _, test = tiny_kaggle_files
    bad = tmp_path / "model.kd"
    bad.write_bytes(pickle.dumps(Payload(tmp_path / "code-ran")))
    assert main(["predict", "--load", str(bad), "--test", str(test),
                 "--out", str(tmp_path / "subs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "which kagdigits never loads" in err
    assert not (tmp_path / "code-ran").exists() and not (tmp_path / "subs").exists()


# --- what fit learns round-trips (issue 13) -------------------------------------------------

@pytest.mark.parametrize("kind", ["binary", "strings", "pca-mlp", "frame"])
def test_fitted_attributes_round_trip_in_kd_files_and_pickles(digits, tmp_path, kind):
    import pandas as pd
    from sklearn.decomposition import PCA

    from kagdigits import MLP3Classifier
    from kagdigits.files.kaggle_csv import pixel_columns

    X, y = digits
    fast = dict(max_epochs=1, batch_size=32, train_split=None, verbose=0, device="cpu")
    clf, X_test = LeNet5Classifier(**fast), X
    if kind == "binary":
        clf.fit(X, (y > 4).astype(int))
    elif kind == "strings":
        clf.fit(X, np.array(list("abcdefghij"))[y])
    elif kind == "pca-mlp":
        X_test = PCA(30, random_state=0).fit_transform(X / 255)
        clf = MLP3Classifier(**fast).fit(X_test, y)
    else:
        X_test = pd.DataFrame(X, columns=pixel_columns())
        clf.fit(X_test, y)
    for again in (load_model(save_model(clf, tmp_path / "m.kd"), device="cpu"),
                  pickle.loads(pickle.dumps(clf))):
        np.testing.assert_array_equal(again.classes_, clf.classes_)
        assert again.n_features_in_ == clf.n_features_in_
        assert again.input_shape_ == clf.input_shape_
        np.testing.assert_array_equal(again.predict(X_test), clf.predict(X_test))
        if kind == "frame":
            assert again.feature_names_in_.tolist() == pixel_columns()
            with pytest.raises(InputError, match="another order"):
                again.predict(X_test[X_test.columns[::-1]])


def test_a_kd_file_without_fitted_attributes_still_loads(fitted, saved, digits):
    with safe_open(saved, framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        metadata = {k: v for k, v in f.metadata().items() if k != "fitted"}
    saved.write_bytes(save(tensors, metadata=metadata))  # as written before issue 13
    loaded = load_model(saved, device="cpu")
    assert loaded.classes_.tolist() == list(range(10))
    np.testing.assert_array_equal(loaded.predict(digits[0]), fitted.predict(digits[0]))
