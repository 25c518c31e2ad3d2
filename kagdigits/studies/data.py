"""The labelled train and test images a study fits and scores on (``--data``)."""

from typing import NamedTuple

import numpy as np

from kagdigits.files.sources import load_source


class StudyData(NamedTuple):
    """uint8 images (n, C, H, W), int64 labels, and a one-line description of the source."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    description: str


def load_study_data(data="auto", root="data", test_size=0.2, seed=0):
    """The data ``data`` names (see :func:`kagdigits.files.sources.load_source`), with a
    labelled test set: data without one have ``test_size`` of their rows held out
    (stratified, ``seed``)."""
    from sklearn.model_selection import train_test_split

    source = load_source(data, root=root)
    if source.y_test is not None:
        return StudyData(source.X_train, source.y_train, source.X_test, source.y_test,
                         source.description)
    X_train, X_test, y_train, y_test = train_test_split(
        source.X_train, source.y_train, test_size=test_size, stratify=source.y_train,
        random_state=seed)
    return StudyData(X_train, y_train, X_test, y_test,
                     f"{source.description}, {test_size:.0%} held out as the test set "
                     f"(stratified, seed {seed})")
