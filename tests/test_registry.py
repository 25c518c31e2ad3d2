"""The registry of estimators: every name fits, clones, pickles and is reachable from the CLI."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

import kagdigits
from kagdigits.cli.main import main
from kagdigits.models import REGISTRY, get_model_class
from kagdigits.models.base import DigitClassifier
from kagdigits.models.classifiers import AllCNNClassifier
from kagdigits.runs.config import RunConfig

NAMES = ["lenet5", "mlp", "resnet18", "vgg", "allcnn", "wrn", "kagglecnn"]  # single networks


def test_registry_names_every_model():
    assert sorted(REGISTRY) == sorted([*NAMES, "ensemble"])  # tests/test_ensemble.py
    for name, cls in REGISTRY.items():
        assert get_model_class(name) is cls
        assert issubclass(cls, DigitClassifier) or name == "ensemble"
        assert getattr(kagdigits, cls.__name__) is cls
        assert cls.__name__ in kagdigits.__all__


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'lenet' \\(did you mean lenet5\\?\\); "
                                         "choose one of: allcnn, ensemble, "):
        get_model_class("lenet")


def test_mlp_estimator_does_not_shadow_sklearn():
    assert "MLPClassifier" not in dir(kagdigits)


@pytest.mark.parametrize("name", NAMES)
def test_fit_one_epoch_clone_and_pickle(name, digits):
    X, y = digits[0][:64], digits[1][:64]
    clf = REGISTRY[name](max_epochs=1, train_split=None, batch_size=32, device="cpu",
                              verbose=0)
    assert clf.fit(X, y) is clf
    assert len(clf.history) == 1 and np.isfinite(clf.history[-1, "train_loss"])
    proba = clf.predict_proba(X[:16])
    assert proba.shape == (16, 10) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    expected = clf.predict(X[:16])
    assert np.array_equal(pickle.loads(pickle.dumps(clf)).predict(X[:16]), expected)
    twin = clone(clf)
    assert twin.get_params(deep=False).keys() == clf.get_params(deep=False).keys()
    assert np.array_equal(twin.fit(X, y).predict(X[:16]), expected)


@pytest.mark.parametrize("name", NAMES)
def test_every_network_trains_with_light_augmentation_by_default(name):
    clf = REGISTRY[name]()
    assert (clf.augment, clf.augment__zoom, clf.augment__shift) == ("affine", 0.05, 0.05)
    assert clf.criterion__label_smoothing == 0.1


def test_allcnn_defaults_to_its_batchnorm_form():
    clf = AllCNNClassifier(device="cpu").initialize()
    assert (clf.max_epochs, clf.module__input_dropout) == (10, 0)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in clf.module_.modules()) == 8
    paper = AllCNNClassifier(module__batchnorm=False, device="cpu").initialize()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in paper.module_.modules())


@pytest.mark.parametrize("name", NAMES)
def test_cli_builds_every_model(name):
    args = RunConfig("fit", model=name, device="cpu", seed=3, epochs=2,
                     params={"module__num_classes": 5})
    clf = args.make_estimator()
    assert isinstance(clf, REGISTRY[name])
    assert (clf.max_epochs, clf.random_state, clf.module__num_classes) == (2, 3, 5)


def test_cli_rejects_an_unknown_model_in_one_line(capsys, tmp_path):
    assert main(["submission", "--model", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "choose one of: allcnn" in err


def test_models_command_prints_the_table(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["name", "estimator", "1x28x28", "3x32x32"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert list(rows) == [*NAMES, "ensemble"]
    assert rows["lenet5"][1:4] == ["LeNet5Classifier", "61,706", "62,006"]
    assert rows["mlp"][1:4] == ["MLP3Classifier", "64,630", "247,670"]
    assert rows["resnet18"][3] == "11,173,962"  # the small stem's 3x3 conv


@pytest.mark.slow
@pytest.mark.parametrize("function", [kagdigits.get_model_class, kagdigits.list_models])
def test_a_pickled_lookup_finds_the_models_in_a_fresh_process(function):
    """A joblib or Dask worker unpickles a user's function that calls it: the models are there."""
    import subprocess
    import sys

    code = ("import pickle, sys; lookup = pickle.loads(sys.stdin.buffer.read()); "
            "print(lookup('lenet5').__name__ if lookup.__name__ == 'get_model_class' "
            "else len(lookup()))")
    done = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(function),
                          capture_output=True, check=True)
    assert done.stdout.decode().strip() in ("LeNet5Classifier", str(len(REGISTRY)))
