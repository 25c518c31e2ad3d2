"""Fixtures of the Kaggle tests (the fake Kaggle itself is ``tests/fake_kaggle.py``)."""

import pytest


@pytest.fixture
def kaggle_submission(fake_kaggle):
    """A valid submission in submissions/ with its ledger row; the fake Kaggle running."""
    from pathlib import Path

    import numpy as np

    from kagdigits.files.submission import write_labels_csv
    from kagdigits.kaggle.ledger import append_row, ledger_path

    path = Path("submissions/lenet5-20240501T100000Z.csv")
    write_labels_csv(path, np.arange(28_000) % 10)
    append_row(ledger_path("submissions"), file=path.name, model="lenet5")
    return path
