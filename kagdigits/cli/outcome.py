"""What the training and predicting commands print about their result: the summary line,
predictions with a progress bar, the submission (and its probabilities) and its copy in
a Kaggle Notebook."""


def summary_line(estimator, train_seconds):
    """``Summary: epochs run: N; best validation accuracy: A; train time: T s``; for an
    ensemble the members' epochs and their validation accuracy, named as theirs."""
    from kagdigits.models.history import best_score

    networks = estimator.networks()
    if networks != [estimator]:
        return "Summary: " + _ensemble_summary(networks, train_seconds)
    history = estimator.history
    summary = [f"epochs run: {len(history)}", f"train time: {train_seconds:.1f} s"]
    best = best_score(history)
    if best is not None:
        summary.insert(1, f"best validation accuracy: {best:.4f}")
    return "Summary: " + "; ".join(summary)


def _ensemble_summary(members, train_seconds):
    from kagdigits.models.history import best_score

    epochs = [len(m.history) for m in members]
    parts = [f"{len(members)} members", f"epochs run per member: "
             f"{', '.join(map(str, epochs))} ({sum(epochs)} in all)"]
    scores = [s for s in (best_score(m.history) for m in members) if s is not None]
    if scores:
        parts.append(f"members' best validation accuracy {min(scores):.4f}–{max(scores):.4f} "
                     f"(mean {sum(scores) / len(scores):.4f}; each member on its own "
                     "validation split, so the ensemble itself has no validation score)")
    parts.append(f"train time: {train_seconds:.1f} s")
    return "; ".join(parts)


def predict_labels(estimator, X, proba=False):
    """``(labels, probabilities)`` of ``X``: ``estimator.predict(X)`` and, with ``proba``,
    the class probabilities its labels are the highest of (else ``None``), with a progress
    bar when it takes more than a few seconds (``verbose=2`` for the call, the estimator's
    own setting restored after it; an ensemble counts its members). Probabilities that
    are not finite (a damaged model, a diverged training) are an error: nothing is written
    from them."""
    import numpy as np

    from kagdigits.errors import KagdigitsError
    from kagdigits.models.inputs import warn_if_unlike_training

    verbose = estimator.verbose
    estimator.verbose = max(verbose, 2)
    try:
        warn_if_unlike_training(X)  # as predict does
        probabilities = np.asarray(estimator.predict_proba(X))
    finally:
        estimator.verbose = verbose
    bad = int((~np.isfinite(probabilities)).any(axis=1).sum())
    if bad:
        raise KagdigitsError(f"the model gave probabilities that are not finite (NaN or "
                             f"infinite) for {bad:,} of {len(probabilities):,} images, so "
                             "no submission is written; retrain it (a lower lr, e.g. --set "
                             "lr=1e-3) or load another model file")
    labels = estimator.classes_[probabilities.argmax(axis=1)]
    return labels, probabilities if proba else None


def warn_if_kaggle_cannot_score(source):
    """Warn, before any training or predicting, when the test file of ``source`` (not the
    demo set) has another number of rows than Kaggle's test.csv: Kaggle cannot score the
    submission it gives, and `kagdigits submit` refuses it."""
    import warnings

    from kagdigits.files.submission import KAGGLE_TEST_ROWS

    rows = len(source.X_test)
    if source.is_demo or rows == KAGGLE_TEST_ROWS:
        return
    warnings.warn(f"{source.test_path} has {rows:,} rows, but Kaggle's digit-recognizer "
                  f"test.csv has {KAGGLE_TEST_ROWS:,}: Kaggle cannot score a submission made "
                  "from it (`kagdigits submit` refuses it); pass Kaggle's test.csv for one "
                  "it can score", stacklevel=2)


def notebook_line(submission, is_demo):
    """In a Kaggle Notebook, copy a submission that `kagdigits submit` would accept (28,000
    rows, ImageId 1..28000) to /kaggle/working/submission.csv and say so, or say why the file
    there is left as it was; ``None`` elsewhere or for a demo submission."""
    from kagdigits.errors import InputError
    from kagdigits.files.sources import notebook_copy, notebook_submission
    from kagdigits.files.submission import KAGGLE_TEST_ROWS, read_labels_csv

    target = notebook_submission()
    if is_demo or target is None:
        return None
    try:
        read_labels_csv(submission, n_rows=KAGGLE_TEST_ROWS)
    except InputError as exc:
        return (f"Kaggle Notebook: {target} left as it was, since Kaggle cannot score this "
                f"submission ({exc}; Kaggle's test.csv has {KAGGLE_TEST_ROWS:,})")
    copy = notebook_copy(submission)
    return f"Kaggle Notebook: also written as {copy} (the file this notebook submits)"


def write_and_report(labels, out, model, estimator, source, train_seconds=None, summary=None,
                     proba=None):
    """Write the submission of ``labels`` and its ledger row, and ``proba`` (if given)
    beside it (:mod:`kagdigits.files.proba`); print ``summary`` (if any), the demo accuracy
    (when ``source`` knows the test labels), the Kaggle Notebook copy and, last, the new
    file's path. Whatever goes wrong once the file exists (Ctrl-C, a ledger or a notebook
    copy that cannot be written), its path is printed before the error."""
    import numpy as np

    from kagdigits.files.proba import write_proba_csv
    from kagdigits.files.submission import write_submission
    from kagdigits.kaggle.ledger import ledger_path, record_submission

    path = write_submission(labels, out, model)
    recorded = False
    try:
        if proba is not None:
            print(f"Probabilities: {write_proba_csv(path, proba, estimator.classes_)}")
        record_submission(path, estimator, model=model, train_seconds=train_seconds,
                          data="demo" if source.is_demo else str(source.train_path or ""))
        recorded = True
        if summary:
            print(summary)
        if source.y_test is not None:
            print(f"Demo test accuracy of this submission: "
                  f"{np.mean(labels == source.y_test):.4f} ({len(source.y_test):,} digits)")
        if line := notebook_line(path, source.is_demo):
            print(line)
    except BaseException:
        row = "" if recorded else f"; it has no row in {ledger_path(out)}"
        print(f"The submission is written: {path}{row}", flush=True)
        raise
    print(path)
    return path
