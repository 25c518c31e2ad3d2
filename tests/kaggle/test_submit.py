"""`kagdigits submit` and `kagdigits submissions` with the real kaggle client and a fake Kaggle."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from kagdigits.files.submission import write_labels_csv
from kagdigits.kaggle.ledger import append_row, find_row, ledger_path, read_ledger

LEDGER = ledger_path("submissions")


@pytest.fixture
def submission(fake_kaggle):
    """A valid 28,000-row submission in submissions/, with its ledger row."""
    path = Path("submissions/lenet5-20240501T100000Z.csv")
    write_labels_csv(path, np.arange(28_000) % 10)
    append_row(LEDGER, file=path.name, model="lenet5", valid_acc="0.9876",
               data="data/train.csv")
    return path


def test_upload_arrives_byte_for_byte_and_is_recorded(fake_kaggle, submission, capsys):
    older = Path("submissions/older.csv")
    write_labels_csv(older, np.zeros(28_000, dtype=int))
    os.utime(older, (1_000_000, 1_000_000))

    code, out, err = fake_kaggle.run(capsys, "submit", "-m", "LeNet-5, 20 epochs")

    assert code == 0, err
    assert fake_kaggle.api_calls() == [
        "StartSubmissionUpload", "CreateSubmission", "GetSubmissionLimits"]
    (token, uploaded), = fake_kaggle.uploads.items()
    assert uploaded == submission.read_bytes()  # the newest file, byte for byte
    start, create = [r.json() for r in fake_kaggle.requests if r.method == "POST"][:2]
    assert start == {"competitionName": "digit-recognizer", "fileName": submission.name,
                     "contentLength": submission.stat().st_size,
                     "lastModifiedEpochSeconds": int(submission.stat().st_mtime)}
    assert create == {"competitionName": "digit-recognizer", "blobFileTokens": token,
                      "submissionDescription": "LeNet-5, 20 epochs"}
    assert "Successfully submitted to Digit Recognizer (ref 40000001)" in out
    assert "4 submissions left today" in out
    row = find_row(LEDGER, submission)
    assert (row["kaggle_ref"], row["message"], row["model"]) == (
        "40000001", "LeNet-5, 20 epochs", "lenet5")
    assert row["uploaded_at"].endswith("Z")
    assert fake_kaggle.key not in LEDGER.read_text()


def test_official_kaggle_cli_accepts_our_file(fake_kaggle, submission, monkeypatch, capsys):
    import kaggle
    from kaggle.cli import main

    monkeypatch.setattr(kaggle.api, "_authenticated", False)  # sign in with this test's env
    monkeypatch.setattr(sys, "argv", ["kaggle", "competitions", "submit", "-c",
                                      "digit-recognizer", "-f", str(submission), "-m", "cli"])
    main()

    assert "Successfully submitted" in capsys.readouterr().out
    assert list(fake_kaggle.uploads.values()) == [submission.read_bytes()]


def _lines(n):
    return ["ImageId,Label", *(f"{i},{i % 10}" for i in range(1, n + 1))]


BAD_FILES = {
    "header": (["ImageId,Labels", *_lines(28_000)[1:]], "line 1: header"),
    "too few rows": (_lines(27_999), "27,999 rows, expected 28,000"),
    "order": (_lines(28_000)[:3] + ["4,4", "3,3"] + _lines(28_000)[5:], "line 4: ImageId"),
    "label": (_lines(28_000)[:10] + ["10,10"] + _lines(28_000)[11:], "line 11: Label '10'"),
    "blank": (_lines(28_000)[:6] + [""] + _lines(28_000)[6:], "line 7 is blank"),
    "extra column": (_lines(28_000)[:2] + ["2,2,9"] + _lines(28_000)[3:], "line 3 has 3"),
}


@pytest.mark.parametrize("problem", BAD_FILES)
def test_invalid_file_refused_without_any_request(fake_kaggle, capsys, problem):
    lines, expected = BAD_FILES[problem]
    path = Path("mine.csv")
    path.write_text("\n".join(lines) + "\n")

    code, out, err = fake_kaggle.run(capsys, "submit", path, "-m", "x")

    assert code == 2
    assert err.count("\n") == 1 and expected in err, err
    assert fake_kaggle.requests == []


def test_demo_submission_refused(fake_kaggle, capsys):
    path = Path("submissions/lenet5-demo.csv")
    write_labels_csv(path, np.arange(1_000) % 10)
    append_row(LEDGER, file=path.name, model="lenet5", data="demo")

    code, out, err = fake_kaggle.run(capsys, "submit", "-m", "x")

    assert code == 2
    assert "demo set" in err and "kagdigits download" in err
    assert fake_kaggle.requests == []


@pytest.mark.parametrize(("method", "status", "message", "expected"), [
    ("StartSubmissionUpload", 403, "You must accept this competition's rules",
     "accept the competition rules at https://www.kaggle.com/competitions/digit-recognizer/rules"),
    ("CreateSubmission", 500, "Internal error", "HTTP 500 (Internal error): a problem on "
     "Kaggle's side"),
    ("CreateSubmission", 429, "Submission limit reached", "no submissions left today"),
    ("PUT", 500, "storage down", "the upload of submissions/lenet5-20240501T100000Z.csv "
     "failed"),
])
def test_error_answers_give_one_line(fake_kaggle, submission, capsys, method, status,
                                     message, expected):
    fake_kaggle.fail(method, status, message)

    code, out, err = fake_kaggle.run(capsys, "submit", "-m", "x")

    assert code == 2
    assert err.count("\n") == 1 and err.startswith("kagdigits submit: error: ")
    assert expected in err
    assert find_row(LEDGER, submission)["kaggle_ref"] == ""
    if method == "PUT":
        assert "CreateSubmission" not in fake_kaggle.api_calls()


def test_bad_credentials_401(fake_kaggle, submission, capsys, monkeypatch):
    monkeypatch.setenv("KAGGLE_KEY", "wrong-key-5678")

    code, out, err = fake_kaggle.run(capsys, "submit", "-m", "x")

    assert code == 2
    assert "HTTP 401" in err and "credentials were rejected" in err
    assert "wrong-key-5678" not in out + err


@pytest.fixture(params=["download", "submit", "submissions"])
def command(request, submission):
    return {"download": ["download"], "submit": ["submit", "-m", "x"],
            "submissions": ["submissions"]}[request.param]


def test_no_credentials(fake_kaggle, command, capsys, monkeypatch):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")

    code, out, err = fake_kaggle.run(capsys, *command)

    assert code == 2
    assert err.count("\n") == 1 and "no Kaggle credentials found" in err
    kaggle_json = Path(os.environ["HOME"]) / ".config" / "kaggle" / "kaggle.json"
    assert f"as {kaggle_json} (chmod 600)" in err and "KAGGLE_USERNAME and KAGGLE_KEY" in err
    assert "Authentication required" not in out  # kaggle's own multi-line help is hidden
    assert fake_kaggle.requests == []


def test_network_down(fake_kaggle, command, capsys, monkeypatch):
    fake_kaggle.go_offline(monkeypatch)

    code, out, err = fake_kaggle.run(capsys, *command)

    assert code == 2
    assert err.count("\n") == 1 and "cannot reach Kaggle" in err


def test_submissions_lists_scores_joined_with_ledger(fake_kaggle, submission, capsys):
    assert fake_kaggle.run(capsys, "submit", "-m", "first")[0] == 0
    fake_kaggle.submissions.append({  # an older one, made elsewhere, still being scored
        "ref": 39_000_000, "date": "2024-04-01T09:00:00.000Z", "description": "by hand",
        "fileName": "hand.csv", "status": "PENDING"})

    code, out, err = fake_kaggle.run(capsys, "submissions")

    assert code == 0, err
    header, first, second = out.splitlines()[:3]
    assert header.split()[:3] == ["ref", "date", "(UTC)"]
    assert first.split() == ["40000001", "2024-05-01", "10:00", "complete", "0.98765",
                             submission.name, "lenet5", "0.9876", "first"]
    assert second.split() == ["39000000", "2024-04-01", "09:00", "pending", "-", "hand.csv",
                              "-", "-", "by", "hand"]
    listed = [r.json() for r in fake_kaggle.requests if r.api_method == "ListSubmissions"]
    assert listed[0]["competitionName"] == "digit-recognizer"
    assert listed[0]["pageSize"] == 20
    assert read_ledger(LEDGER)[0]["public_score"] == "0.98765"
