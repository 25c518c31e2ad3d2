"""`kagdigits score` on hand-made submission and solution files."""

import numpy as np
import pytest

from kagdigits.cli.main import main
from kagdigits.cli.score import accuracy_report

SOLUTION = "ImageId,Label\n1,3\n2,3\n3,7\n4,0\n5,7\n"
SUBMISSION = "ImageId,Label\n1,3\n2,8\n3,7\n4,0\n5,7\n"  # one 3 taken for an 8


@pytest.fixture
def files(tmp_path):
    solution, submission = tmp_path / "solution.csv", tmp_path / "submission.csv"
    solution.write_text(SOLUTION)
    submission.write_text(SUBMISSION)
    return submission, solution


def test_score_prints_accuracy_and_per_class_table(files, capsys):
    submission, solution = files
    assert main(["score", str(submission), "--solution", str(solution)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "Accuracy: 0.8000 (4 of 5 correct)",
        "class   images  correct  accuracy",
        "    0        1        1    1.0000",
        "    3        2        1    0.5000",
        "    7        2        2    1.0000",
    ]


def test_perfect_submission(files, capsys):
    _, solution = files
    assert main(["score", str(solution), "--solution", str(solution)]) == 0
    assert capsys.readouterr().out.startswith("Accuracy: 1.0000 (5 of 5 correct)\n")


def test_submission_with_other_rows_is_one_line(files, capsys):
    submission, solution = files
    submission.write_text(SUBMISSION + "6,1\n")
    assert main(["score", str(submission), "--solution", str(solution)]) == 2
    err = capsys.readouterr().err
    assert err == f"kagdigits score: error: {submission}: has 6 rows, expected 5\n"


def test_bad_solution_file_is_named(files, capsys):
    submission, solution = files
    solution.write_text("ImageId,Label\n1,3\n2,x\n")
    assert main(["score", str(submission), "--solution", str(solution)]) == 2
    assert f"{solution}: line 3: Label 'x' is not an integer 0..9" in capsys.readouterr().err


def test_accuracy_report_counts_every_true_class():
    truth = np.array([0, 0, 1, 1, 1, 9])
    report = accuracy_report(truth, np.array([0, 1, 1, 1, 0, 9])).splitlines()
    assert report[0] == "Accuracy: 0.6667 (4 of 6 correct)"
    assert [line.split() for line in report[2:]] == [
        ["0", "2", "1", "0.5000"], ["1", "3", "2", "0.6667"], ["9", "1", "1", "1.0000"]]
