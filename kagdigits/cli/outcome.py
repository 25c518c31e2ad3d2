"""What the training and predicting commands print about their result: the device line,
the summary line, predictions with a progress bar, and the submission's copy in a
Kaggle Notebook."""


def training_line(model, estimator):
    """``Training lenet5 (LeNet5Classifier) on cpu...``: the device ``"auto"`` resolved to."""
    from kagdigits.models.device import resolve_device

    return f"Training {model} ({type(estimator).__name__}) on {resolve_device(estimator.device)}..."


def _best(history):
    scores = [row["valid_acc"] for row in history if row.get("valid_acc") is not None]
    return max(scores) if scores else None


def summary_line(estimator, train_seconds):
    """``Summary: epochs run: N; best validation accuracy: A; train time: T s``; for an
    ensemble the members' epochs and their validation accuracy, named as theirs."""
    networks = estimator.networks()
    if networks != [estimator]:
        return "Summary: " + _ensemble_summary(networks, train_seconds)
    history = estimator.history
    summary = [f"epochs run: {len(history)}", f"train time: {train_seconds:.1f} s"]
    best = _best(history)
    if best is not None:
        summary.insert(1, f"best validation accuracy: {best:.4f}")
    return "Summary: " + "; ".join(summary)


def _ensemble_summary(members, train_seconds):
    epochs = [len(m.history) for m in members]
    parts = [f"{len(members)} members", f"epochs run per member: "
             f"{', '.join(map(str, epochs))} ({sum(epochs)} in all)"]
    scores = [s for s in (_best(m.history) for m in members) if s is not None]
    if scores:
        parts.append(f"members' best validation accuracy {min(scores):.4f}–{max(scores):.4f} "
                     f"(mean {sum(scores) / len(scores):.4f}; each member on its own "
                     "validation split, so the ensemble itself has no validation score)")
    parts.append(f"train time: {train_seconds:.1f} s")
    return "; ".join(parts)


def predict_labels(estimator, X):
    """``estimator.predict(X)`` with a progress bar when it takes more than a few seconds
    (``verbose=2`` for the call, the estimator's own setting restored after it; an
    ensemble counts its members)."""
    verbose = estimator.verbose
    estimator.verbose = max(verbose, 2)
    try:
        return estimator.predict(X)
    finally:
        estimator.verbose = verbose


def notebook_line(submission, is_demo):
    """In a Kaggle Notebook, copy a Kaggle submission to /kaggle/working/submission.csv and
    say so; ``None`` elsewhere or for a demo submission (Kaggle could not score it)."""
    from kagdigits.files.sources import notebook_copy

    if is_demo:
        return None
    copy = notebook_copy(submission)
    if copy is None:
        return None
    return f"Kaggle Notebook: also written as {copy} (the file this notebook submits)"


def write_and_report(labels, out, model, estimator, source, train_seconds=None, summary=None):
    """Write the submission of ``labels`` and its ledger row; print ``summary`` (if any),
    the demo accuracy (when ``source`` knows the test labels), the Kaggle Notebook copy and,
    last, the new file's path."""
    import numpy as np

    from kagdigits.files.submission import write_submission
    from kagdigits.kaggle.ledger import record_submission

    path = write_submission(labels, out, model)
    record_submission(path, estimator, model=model, train_seconds=train_seconds,
                      data="demo" if source.is_demo else str(source.train_path or ""))
    if summary:
        print(summary)
    if source.y_test is not None:
        print(f"Demo test accuracy of this submission: {np.mean(labels == source.y_test):.4f} "
              f"({len(source.y_test):,} digits)")
    if line := notebook_line(path, source.is_demo):
        print(line)
    print(path)
    return path
