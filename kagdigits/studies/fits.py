"""What a study records of one fit: per-epoch history, the epoch kept, test predictions.

Works for skorch nets and for estimators made of them (``EnsembleClassifier``: its
parameters are summed over the members and its curves averaged over them).
"""

import time

import numpy as np
import pandas as pd

from kagdigits.models import n_parameters
from kagdigits.models.callbacks import index_accuracy

#: Per-epoch values kept from a skorch history (missing ones are NaN).
HISTORY_KEYS = ("train_loss", "train_acc", "valid_loss", "valid_acc", "dur")


def with_train_accuracy(estimator):
    """``estimator`` with a ``train_acc`` history column: accuracy on each epoch's batches
    (skorch nets; an ensemble is returned as it is)."""
    from skorch.callbacks import EpochScoring

    if estimator.networks() != [estimator]:  # made of several networks
        return estimator
    callbacks = [c for c in estimator.callbacks or [] if not _is_named(c, "train_acc")]
    scoring = EpochScoring(index_accuracy, lower_is_better=False, on_train=True,
                           name="train_acc")  # the batches hold class indices, not labels
    return estimator.set_params(callbacks=[*callbacks, ("train_acc", scoring)])


def _is_named(callback, name):
    return isinstance(callback, tuple) and callback[0] == name


def kept_epoch(estimator):
    """The epoch whose weights the fitted ``estimator`` holds (1-based): the best one when
    it stops early (``stops_early``, and so keeps its best epoch's weights), else the last.
    An ensemble's members each keep their own: its last (averaged) epoch."""
    if getattr(estimator, "stops_early", False):
        return int(np.argmin(estimator.history[:, "valid_loss"])) + 1
    return len(history_rows(estimator))


def epochs_scorer(estimator, X=None, y=None):
    """scikit-learn scorer: epochs run."""
    return len(estimator.history)


def kept_epoch_scorer(estimator, X=None, y=None):
    """scikit-learn scorer: :func:`kept_epoch`."""
    return kept_epoch(estimator)


def history_rows(estimator):
    """One dict per epoch: ``epoch`` and :data:`HISTORY_KEYS` (means over ensemble members)."""
    rows = pd.DataFrame([{"epoch": entry["epoch"],
                          **{k: entry.get(k, np.nan) for k in HISTORY_KEYS}}
                         for entry in estimator.history], columns=["epoch", *HISTORY_KEYS])
    return rows.groupby("epoch", as_index=False).mean().to_dict("records")


def fit_and_evaluate(model, seed, estimator, X_train, y_train, X_test, y_test):
    """Fit ``estimator`` with ``random_state=seed``; its scores, history and test predictions."""
    from sklearn.base import clone
    from sklearn.metrics import log_loss

    estimator = with_train_accuracy(clone(estimator).set_params(random_state=seed))
    start = time.perf_counter()
    estimator.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    proba = estimator.predict_proba(X_test)
    predicted = proba.argmax(axis=1)
    history = history_rows(estimator)
    return {
        "run": {"model": model, "seed": seed, "params": n_parameters(estimator),
                "epochs": len(history), "kept_epoch": kept_epoch(estimator),
                "train_seconds": seconds,
                "train_acc": float(np.mean(estimator.predict(X_train) == y_train)),
                "test_acc": float(np.mean(predicted == y_test)),
                "test_loss": float(log_loss(y_test, proba, labels=estimator.classes_)),
                "device": str(estimator.networks()[0].device)},
        "history": history,
        "predicted": predicted.astype(np.int64),
        "confidence": proba.max(axis=1).astype(np.float32),
    }
