"""Crafted ``.kd`` files (issue 43, items 6, 7, 9, 10): metadata nested 100,000 deep, weights
holding NaN or of the wrong dtype, a ``tta`` no clock can wait for, classes that are not
integers, another model's weights: each refused at load, in one short line naming the file;
and predictions that are not finite are never written as a submission."""

import json

import numpy as np
import pytest
import torch

from kagdigits.cli.main import main
from kagdigits.errors import InputError
from kagdigits.runs.persist import load_model, save_model
from kagdigits.runs.tensors import read_tensors, write_tensors
from tests.helpers import one_line, tiny_net


@pytest.fixture(scope="module")
def lenet(digits, tmp_path_factory):
    X, y = digits
    path = tmp_path_factory.mktemp("kd") / "lenet.kd"
    return save_model(tiny_net().fit(X, y), path)


def metadata_of(path):
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return f.metadata()


def crafted(src, dst, tensors=None, **metadata):
    """``src`` with its tensors replaced by ``tensors(tensors)`` and metadata entries set."""
    weights = read_tensors(src)
    if tensors is not None:
        weights = tensors(weights)
    write_tensors(dst, weights, {**metadata_of(src), **metadata})
    return dst


def refused(path):
    with pytest.raises(InputError) as info:
        load_model(path, device="cpu")
    message = one_line(info)
    assert message.startswith(f"{path}: ") and len(message) - len(str(path)) < 300, message
    return message


def first_weight(weights):
    return next(k for k, v in weights.items() if v.is_floating_point())


@pytest.mark.parametrize("field", ["params", "classes", "fitted"])
def test_metadata_nested_100000_deep_is_one_line(lenet, tmp_path, field):
    deep = "[" * 100_000 + "]" * 100_000
    assert "damaged metadata" in refused(crafted(lenet, tmp_path / "m.kd", **{field: deep}))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_weights_that_are_not_finite_are_refused(lenet, tmp_path, value):
    def poison(weights):
        name = first_weight(weights)
        weights[name] = weights[name].clone().flatten()
        weights[name][3] = value
        weights[name] = weights[name].reshape(read_tensors(lenet)[name].shape)
        return weights

    message = refused(crafted(lenet, tmp_path / "m.kd", poison))
    assert "NaN or infinite" in message and "damaged" in message


@pytest.mark.parametrize("dtype", [torch.int8, torch.bool, torch.float64])
def test_weights_of_another_dtype_are_refused(lenet, tmp_path, dtype):
    def retype(weights):
        name = first_weight(weights)
        weights[name] = weights[name].to(dtype)
        return weights

    assert "float32" in refused(crafted(lenet, tmp_path / "m.kd", retype))


def test_a_tta_no_clock_can_wait_for_is_refused(lenet, tmp_path):
    params = {**json.loads(metadata_of(lenet)["params"]), "tta": 10**6}
    message = refused(crafted(lenet, tmp_path / "m.kd", params=json.dumps(params)))
    assert "tta" in message


@pytest.mark.parametrize("classes", [[0.5, 1.5], [[1], [2]], [True, False], [1, "a"]])
def test_classes_that_are_not_labels_are_refused_at_load(lenet, tmp_path, classes):
    message = refused(crafted(lenet, tmp_path / "m.kd", classes=json.dumps(classes)))
    assert "classes" in message


def test_a_model_of_text_classes_is_refused_before_predicting(lenet, tmp_path, monkeypatch,
                                                              capsys):
    from kagdigits.models.contract import SklearnContract

    path = crafted(lenet, tmp_path / "m.kd", classes=json.dumps(list("abcdefghij")))
    monkeypatch.chdir(tmp_path)
    predicted = []
    monkeypatch.setattr(SklearnContract, "predict_proba",
                        lambda self, X: predicted.append(1) or np.ones((len(X), 10)) / 10)
    code = main(["predict", "--load", str(path), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and not predicted
    assert f"{path}: its classes are 'a', 'b', ... not digits" in err


def test_a_file_of_another_model_is_a_short_line(lenet, digits, tmp_path):
    from kagdigits import MLP3Classifier

    mlp = save_model(MLP3Classifier(max_epochs=1, train_split=None, verbose=0,
                                    device="cpu").fit(*digits), tmp_path / "mlp.kd")
    path = crafted(lenet, tmp_path / "m.kd", lambda w: read_tensors(mlp))
    message = refused(path)
    assert "does not match the lenet5 model" in message and "missing" in message


def test_predictions_that_are_not_finite_are_not_written(lenet, tmp_path, monkeypatch,
                                                         capsys):
    from kagdigits.files.kaggle_csv import write_kaggle_csv
    from kagdigits.models.contract import SklearnContract

    monkeypatch.chdir(tmp_path)
    write_kaggle_csv(tmp_path / "test.csv", np.zeros((5, 784), np.uint8))
    monkeypatch.setattr(SklearnContract, "predict_proba",
                        lambda self, X: np.full((len(X), 10), np.nan))
    code = main(["predict", "--load", str(lenet), "--test", "test.csv", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "probabilities that are not finite (NaN or infinite)" in err
    assert not (tmp_path / "submissions").exists() or not list(
        (tmp_path / "submissions").glob("*.csv"))
