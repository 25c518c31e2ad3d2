"""The default validation split: stratified, falling back to a plain one on tiny data."""

import math
import warnings

import numpy as np
from skorch.dataset import ValidSplit, get_len
from skorch.utils import to_numpy

from kagdigits.models.inputs import caller_stacklevel


class SmallDataWarning(UserWarning):
    """The data are too few for what was asked; what was done instead is said."""


class FallbackValidSplit(ValidSplit):
    """skorch's ``ValidSplit`` that never fails on a small training set.

    A stratified split of ``cv`` (a fraction) needs at least one row of every class
    in both parts and two rows of each class; 2 to about 100 rows of 10 classes have
    fewer (10 % of 60 rows is 6 rows for 10 classes). Then the rows are split at random,
    not stratified, with a :class:`SmallDataWarning` saying so. Parameters as
    ``ValidSplit``'s.
    """

    def __call__(self, dataset, y=None, groups=None):
        if not (self.stratified and self._is_float(self.cv) and y is not None
                and self._too_few(to_numpy(y))):
            return super().__call__(dataset, y, groups)
        n = get_len(dataset)
        warnings.warn(
            f"{n} training rows are too few for a stratified {self.cv:.0%} validation split "
            f"of {len(np.unique(to_numpy(y)))} classes; using a plain random split instead "
            "(more rows, or train_split=None to train on all rows)",
            SmallDataWarning, stacklevel=caller_stacklevel())
        plain = ValidSplit(self.cv, stratified=False, random_state=self.random_state)
        return plain(dataset, y, groups)

    def _too_few(self, y):
        """Whether a stratified split of ``y`` by ``cv`` is impossible."""
        counts = np.unique(y, return_counts=True)[1]
        n_valid = math.ceil(self.cv * len(y))
        return counts.min() < 2 or min(n_valid, len(y) - n_valid) < len(counts)
