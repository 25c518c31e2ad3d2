"""What a study records of one fit: per-epoch history, the epoch kept, test predictions."""

import time

import numpy as np

#: Per-epoch values kept from a skorch history (missing ones are NaN).
HISTORY_KEYS = ("train_loss", "train_acc", "valid_loss", "valid_acc", "dur")


def with_train_accuracy(estimator):
    """``estimator`` with a ``train_acc`` history column: accuracy on each epoch's batches."""
    from skorch.callbacks import EpochScoring

    callbacks = [c for c in estimator.callbacks or [] if not _is_named(c, "train_acc")]
    scoring = EpochScoring("accuracy", lower_is_better=False, on_train=True, name="train_acc")
    return estimator.set_params(callbacks=[*callbacks, ("train_acc", scoring)], verbose=0)


def _is_named(callback, name):
    return isinstance(callback, tuple) and callback[0] == name


def early_stopping_on(estimator):
    """Whether ``estimator`` stops early (and keeps its best epoch's weights)."""
    return estimator.patience is not None and estimator.train_split is not None


def kept_epoch(estimator):
    """The epoch whose weights the fitted ``estimator`` holds (1-based)."""
    if early_stopping_on(estimator):
        return int(np.argmin(estimator.history[:, "valid_loss"])) + 1
    return len(estimator.history)


def epochs_scorer(estimator, X=None, y=None):
    """scikit-learn scorer: epochs run."""
    return len(estimator.history)


def kept_epoch_scorer(estimator, X=None, y=None):
    """scikit-learn scorer: :func:`kept_epoch`."""
    return kept_epoch(estimator)


def history_rows(estimator):
    """One dict per epoch: ``epoch`` and :data:`HISTORY_KEYS`."""
    return [{"epoch": entry["epoch"], **{k: entry.get(k, np.nan) for k in HISTORY_KEYS}}
            for entry in estimator.history]


def fit_and_evaluate(model, seed, estimator, X_train, y_train, X_test, y_test):
    """Fit ``estimator`` with ``random_state=seed``; its scores, history and test predictions."""
    from sklearn.base import clone
    from sklearn.metrics import log_loss

    from kagdigits.nets import count_params

    estimator = with_train_accuracy(clone(estimator).set_params(random_state=seed))
    start = time.perf_counter()
    estimator.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    proba = estimator.predict_proba(X_test)
    predicted = proba.argmax(axis=1)
    return {
        "run": {"model": model, "seed": seed, "params": count_params(estimator.module_),
                "epochs": len(estimator.history), "kept_epoch": kept_epoch(estimator),
                "train_seconds": seconds,
                "train_acc": float(np.mean(estimator.predict(X_train) == y_train)),
                "test_acc": float(np.mean(predicted == y_test)),
                "test_loss": float(log_loss(y_test, proba, labels=estimator.classes_)),
                "device": str(estimator.device)},
        "history": history_rows(estimator),
        "predicted": predicted.astype(np.int64),
        "confidence": proba.max(axis=1).astype(np.float32),
    }
