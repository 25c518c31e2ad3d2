"""`kagdigits download` with the real kaggle client against a fake Kaggle on loopback.

The fake serves a small zip in the real layout (train.csv, test.csv,
sample_submission.csv); the expected row counts are lowered to its 200 / 100 rows
where a test needs the files to pass the check. The no-credentials and no-network
paths of download, submit and submissions are tested together in test_kaggle_submit.py.
"""

import io
import zipfile
from pathlib import Path

import pytest

from kagdigits.cli import download

DATA = Path("data")


@pytest.fixture
def competition_zip(fake_kaggle, tiny_kaggle_files):
    """The fake serves digit-recognizer.zip built from the tiny train/test files."""
    train, test = tiny_kaggle_files
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(train, "train.csv")
        zf.write(test, "test.csv")
        zf.writestr("sample_submission.csv", "ImageId,Label\n" + "".join(
            f"{i},0\n" for i in range(1, 101)))
    fake_kaggle.files["digit-recognizer.zip"] = buffer.getvalue()
    return train, test


@pytest.fixture
def tiny_counts(monkeypatch):
    monkeypatch.setattr(download, "EXPECTED_ROWS", {"train.csv": 200, "test.csv": 100})


def test_download_unpacks_and_checks(fake_kaggle, competition_zip, tiny_counts, capsys):
    code, out, err = fake_kaggle.run(capsys, "download")

    assert code == 0, err
    train, test = competition_zip
    assert (DATA / "train.csv").read_bytes() == train.read_bytes()
    assert (DATA / "test.csv").read_bytes() == test.read_bytes()
    assert (DATA / "sample_submission.csv").read_text().startswith("ImageId,Label\n1,0\n")
    assert sorted(p.name for p in DATA.iterdir()) == [  # no temporary files left
        "sample_submission.csv", "test.csv", "train.csv"]
    call, fetch = fake_kaggle.requests
    assert call.api_method == "DownloadDataFiles"
    assert call.json() == {"competitionName": "digit-recognizer"}
    assert (fetch.method, fetch.path) == ("GET", "/files/digit-recognizer.zip?signature=fake")
    assert "data/train.csv (200 rows), data/test.csv (100 rows)" in out


def test_valid_files_are_not_downloaded_again(fake_kaggle, competition_zip, tiny_counts,
                                              capsys):
    assert fake_kaggle.run(capsys, "download")[0] == 0
    fake_kaggle.requests.clear()

    code, out, err = fake_kaggle.run(capsys, "download")

    assert code == 0
    assert "already there and valid" in out
    assert fake_kaggle.requests == []


def test_force_downloads_and_replaces(fake_kaggle, competition_zip, tiny_counts, capsys):
    assert fake_kaggle.run(capsys, "download")[0] == 0
    (DATA / "sample_submission.csv").write_text("stale")

    code, out, err = fake_kaggle.run(capsys, "download", "--force")

    assert code == 0, err
    assert fake_kaggle.api_calls() == ["DownloadDataFiles", "DownloadDataFiles"]
    assert (DATA / "sample_submission.csv").read_text().startswith("ImageId,Label")


def test_invalid_existing_file_is_kept_without_force(fake_kaggle, competition_zip,
                                                     tiny_counts, capsys):
    DATA.mkdir()
    (DATA / "train.csv").write_text("label,pixel0\n1,0\n")
    (DATA / "test.csv").write_text("pixel0\n0\n")

    code, out, err = fake_kaggle.run(capsys, "download")

    assert code == 2
    assert err.count("\n") == 1 and "pass --force" in err
    assert (DATA / "train.csv").read_text() == "label,pixel0\n1,0\n"
    assert fake_kaggle.requests == []


def test_wrong_row_count_is_rejected(fake_kaggle, competition_zip, capsys):
    code, out, err = fake_kaggle.run(capsys, "download")  # expects 42,000 / 28,000 rows

    assert code == 2
    assert "train.csv: has 200 rows, expected 42,000" in err.splitlines()[-1]
    assert list(DATA.iterdir()) == []


def test_not_a_zip_is_rejected(fake_kaggle, capsys):
    fake_kaggle.files["digit-recognizer.zip"] = b"<html>sign in</html>"

    code, out, err = fake_kaggle.run(capsys, "download")

    assert code == 2
    assert "not a valid zip file" in err.splitlines()[-1]
    assert list(DATA.iterdir()) == []


def test_rules_not_accepted_403(fake_kaggle, competition_zip, capsys):
    fake_kaggle.fail("DownloadDataFiles", 403, "You must accept this competition's rules")

    code, out, err = fake_kaggle.run(capsys, "download")

    assert code == 2
    assert err.count("\n") == 1
    assert ("HTTP 403 (You must accept this competition's rules): accept the competition "
            "rules at https://www.kaggle.com/competitions/digit-recognizer/rules") in err
    assert list(DATA.iterdir()) == []
