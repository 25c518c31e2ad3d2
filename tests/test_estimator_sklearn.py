"""LeNet5Classifier under scikit-learn's contract: Pipeline, model selection, clone, pickle."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kagdigits import LeNet5Classifier
from kagdigits.files.kaggle_csv import pixel_columns

FAST = dict(max_epochs=2, batch_size=32, verbose=0)


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    return LeNet5Classifier(**FAST).fit(X[:200], y[:200])


def test_fit_returns_self_and_predicts_labels(digits):
    X, y = digits
    clf = LeNet5Classifier(**FAST)
    assert clf.fit(X[:200], y[:200]) is clf
    labels = clf.predict(X[200:])
    assert labels.shape == (100,) and set(labels) <= set(range(10))


def test_predict_proba_rows_sum_to_one(fitted, digits):
    proba = fitted.predict_proba(digits[0][200:])
    assert proba.shape == (100, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


def test_kaggle_dataframe_and_series(digits):
    X, y = digits
    train = pd.DataFrame(X[:200], columns=pixel_columns())
    train.insert(0, "label", y[:200])
    clf = LeNet5Classifier(**FAST).fit(train.drop(columns="label"), train["label"])
    expected = LeNet5Classifier(**FAST).fit(X[:200], y[:200]).predict(X[200:])
    np.testing.assert_array_equal(clf.predict(pd.DataFrame(X[200:])), expected)


def test_same_seed_same_predictions_other_seed_differs(digits):
    X, y = digits
    runs = [LeNet5Classifier(random_state=s, **FAST).fit(X[:200], y[:200]).predict_proba(X[200:])
            for s in (1, 1, 2)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_pipeline_with_scaler(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), LeNet5Classifier(**FAST)).fit(X[:200], y[:200])
    assert 0 <= pipe.score(X[200:], y[200:]) <= 1
    assert pipe.predict(X[200:]).shape == (100,)


def test_grid_search_over_lr_and_module_parameter(digits):
    X, y = digits
    grid = GridSearchCV(
        LeNet5Classifier(max_epochs=1, batch_size=32, train_split=None, verbose=0),
        {"lr": [1e-3, 3e-3], "module__activation": ["relu", "tanh"]}, cv=2)
    grid.fit(X[:160], y[:160])
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_params_["module__activation"] in {"relu", "tanh"}
    assert grid.best_estimator_.module_.features[1].__class__.__name__ in {"ReLU", "Tanh"}


def test_cross_val_score(digits):
    X, y = digits
    scores = cross_val_score(LeNet5Classifier(**FAST, train_split=None), X, y, cv=3)
    assert scores.shape == (3,) and ((0 <= scores) & (scores <= 1)).all()


def test_clone_keeps_parameters_not_state(fitted):
    copy = clone(fitted)
    assert copy.get_params(deep=False).keys() == fitted.get_params(deep=False).keys()
    assert copy.get_params()["device"] == "auto" and copy.max_epochs == 2
    assert not hasattr(copy, "module_")


def test_pickle_round_trip(fitted, digits):
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(digits[0]), fitted.predict_proba(digits[0]))
    assert again.get_params()["device"] == "auto"


def test_device_auto_resolves(fitted):
    assert fitted.get_params()["device"] == "auto"
    assert fitted.device in {"cpu", "cuda"}


def test_no_split_trains_exactly_max_epochs(digits):
    X, y = digits
    clf = LeNet5Classifier(max_epochs=3, batch_size=32, verbose=0, train_split=None)
    clf.fit(X[:100], y[:100])
    assert len(clf.history) == 3 and "valid_loss" not in clf.history[-1]


def test_early_stopping_restores_the_best_epoch(digits):
    X, y = digits
    clf = LeNet5Classifier(lr=0.03, lr_decay=None, max_epochs=15, patience=2, batch_size=16,
                           criterion__label_smoothing=0.0, verbose=0).fit(X, y)  # = log_loss
    valid_losses = clf.history[:, "valid_loss"]
    assert len(valid_losses) < 15, "expected early stopping to end the run"
    best = int(np.argmin(valid_losses))
    assert best < len(valid_losses) - 1
    _, valid = clf.get_split_datasets(X, y)  # the same seeded stratified split as in fit
    loss = log_loss(y[valid.indices], clf.predict_proba(X[valid.indices]), labels=range(10))
    assert loss == pytest.approx(valid_losses[best], rel=1e-3)


def test_pipeline_grid_search_with_string_labels_and_a_pca_fed_mlp(digits):
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline

    from kagdigits import MLP3Classifier

    X, y = digits
    names = np.array(list("abcdefghij"))[y]
    pipe = Pipeline([("pca", PCA(random_state=0)),
                     ("mlp", MLP3Classifier(max_epochs=1, batch_size=32, train_split=None,
                                            verbose=0, device="cpu"))])
    grid = GridSearchCV(pipe, {"pca__n_components": [10, 20]}, cv=2).fit(X / 255.0, names)
    assert grid.best_estimator_[-1].module_.layers[1].in_features in {10, 20}
    assert set(grid.predict(X / 255.0)) <= set("abcdefghij")
    assert grid.predict_proba(X / 255.0).shape == (300, 10)
