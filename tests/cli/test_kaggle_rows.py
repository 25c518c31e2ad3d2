"""A submission Kaggle cannot score is announced before training (issue 38, item 13)."""

import re
import warnings

import pytest

from kagdigits.cli.main import main
from kagdigits.files import submission


def test_a_test_file_of_other_than_kaggles_rows_is_warned_before_training(
        tiny_kaggle_files, in_tmp, capsys):
    train, test = tiny_kaggle_files
    expected = (f"{test} has 100 rows, but Kaggle's digit-recognizer test.csv has 28,000: "
                "Kaggle cannot score a submission made from it")
    with pytest.warns(UserWarning, match=re.escape(expected)):  # a dry run: before training
        code = main(["submission", "--train", str(train), "--test", str(test), "--dry-run"])
    assert code == 0
    assert capsys.readouterr().out.rstrip().endswith("Dry run: no run started, nothing trained.")


def test_a_test_file_of_kaggles_rows_is_not_warned(tiny_kaggle_files, in_tmp, capsys,
                                                   monkeypatch):
    monkeypatch.setattr(submission, "KAGGLE_TEST_ROWS", 100)
    train, test = tiny_kaggle_files
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "(?s).*Kaggle cannot score")
        assert main(["submission", "--train", str(train), "--test", str(test),
                     "--dry-run"]) == 0


def test_the_demo_set_is_not_warned(in_tmp, capsys):
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "(?s).*Kaggle cannot score")
        assert main(["submission", "--dry-run"]) == 0
    assert "DEMO set" in capsys.readouterr().out
