"""Tiny train files: the stratified validation split falls back to a plain one and says so.

Part of the attacks on every input kagdigits reads (issue 14): each case asserts that the
attack is refused in one line (or handled) and that nothing runs, hangs or is lost.
"""

import pytest

from tests.helpers import tiny_net

# -- tiny train files: the stratified validation split falls back (defect 6) --

@pytest.mark.parametrize("n_rows, n_classes", [(2, 2), (3, 2), (7, 3), (12, 10), (20, 10),
                                               (37, 10), (60, 10), (10, 5)])
def test_tiny_train_sets_fit_with_a_plain_split_and_say_so(digits, n_rows, n_classes):
    import numpy as np

    from kagdigits import LeNet5Classifier
    from kagdigits.models.splits import SmallDataWarning

    X, y = digits
    keep = np.flatnonzero(y < n_classes)[:n_rows]
    keep = np.concatenate([keep[:n_rows - 1], np.flatnonzero(y == n_classes - 1)[-1:]])
    clf = tiny_net(train_split=LeNet5Classifier().train_split)
    with pytest.warns(SmallDataWarning, match=f"{n_rows} training rows are too few") as info:
        clf.fit(X[keep], y[keep])
    assert len(info) == 1 and "\n" not in str(info[0].message)
    assert "valid_acc" in clf.history[-1] and clf.predict(X[:3]).shape == (3,)


def test_enough_rows_stay_stratified_without_a_warning(digits):
    import warnings

    from kagdigits import LeNet5Classifier

    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiny_net(train_split=LeNet5Classifier().train_split).fit(X[:200], y[:200])


def test_cli_submission_on_a_15_row_train_file_says_so_in_one_line(tmp_path, digits, capsys,
                                                                   monkeypatch):
    import sys
    import warnings

    from kagdigits.cli.main import main
    from kagdigits.files.kaggle_csv import write_kaggle_csv

    def show(message, category, filename, lineno, file=None, line=None):  # Python's own
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    monkeypatch.setattr(warnings, "showwarning", show)  # not pytest's recorder
    monkeypatch.chdir(tmp_path)
    X, y = digits
    write_kaggle_csv("train.csv", X[:15], y[:15])
    write_kaggle_csv("test.csv", X[15:20])
    code = main(["submission", "--train", "train.csv", "--test", "test.csv", "--epochs", "1",
                 "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 0, err
    warning, = [line for line in err.splitlines() if "too few" in line]
    assert warning.startswith("kagdigits: warning: 15 training rows are too few for a "
                              "stratified 10% validation split")
    assert "skorch" not in err
