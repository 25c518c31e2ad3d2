"""A misbehaving Kaggle: credentials readable by others, keys echoed back, stalled connections,
terminal escapes and spreadsheet formulas in its answers.

Part of the attacks on every input kagdigits reads (issue 14): each case asserts that the
attack is refused in one line (or handled) and that nothing runs, hangs or is lost.
"""

import os

import pytest

# -- Kaggle: credentials, stalled connections, hostile server text (defects 3, 4, 7) --

@pytest.fixture
def kaggle_json(fake_kaggle, monkeypatch):
    """Credentials in ~/.kaggle/kaggle.json only (no KAGGLE_* variables)."""
    import json
    from pathlib import Path

    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    path = Path(os.environ["HOME"]) / ".kaggle" / "kaggle.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"username": fake_kaggle.username, "key": fake_kaggle.key}))
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_kaggle_json_readable_by_others_is_warned(fake_kaggle, kaggle_json, kaggle_submission,
                                                  capsys, mode):
    kaggle_json.chmod(mode)
    code, out, err = fake_kaggle.run(capsys, "submissions")
    assert code == 0, err
    warning, = [line for line in err.splitlines() if "chmod 600" in line]
    assert f"{kaggle_json} can be read by other users" in warning
    assert warning.endswith(f"chmod 600 {kaggle_json}")


def test_kaggle_json_of_mode_600_is_not_warned(fake_kaggle, kaggle_json, kaggle_submission,
                                               capsys):
    code, out, err = fake_kaggle.run(capsys, "submissions")
    assert code == 0 and "chmod" not in err


@pytest.mark.parametrize("echo", ["key", "basic auth"])
@pytest.mark.parametrize("method", ["StartSubmissionUpload", "CreateSubmission"])
def test_a_server_echoing_the_kaggle_json_key_is_masked(fake_kaggle, kaggle_json,
                                                        kaggle_submission, capsys, echo,
                                                        method):
    echoed = fake_kaggle.key if echo == "key" else fake_kaggle._basic_auth()
    fake_kaggle.fail(method, 400, f"invalid request from {echoed} (see logs)")
    code, out, err = fake_kaggle.run(capsys, "submit", "-m", "x")  # asserts the key is absent
    assert code == 2 and "invalid request from" in err and "***" in err
    assert fake_kaggle._basic_auth().split()[1] not in out + err


def test_an_access_token_file_is_masked(fake_kaggle, kaggle_submission, capsys, monkeypatch):
    from pathlib import Path

    token = Path(os.environ["HOME"]) / "token.txt"
    token.write_text("kaggle-access-token-secret-42\n")
    monkeypatch.setenv("KAGGLE_API_TOKEN", str(token))
    fake_kaggle.fail("StartSubmissionUpload", 400, "token kaggle-access-token-secret-42 bad")
    code, out, err = fake_kaggle.run(capsys, "submit", "-m", "x")
    assert "kaggle-access-token-secret-42" not in out + err and "***" in err


@pytest.fixture
def short_timeout(monkeypatch):
    from kagdigits.kaggle import api

    monkeypatch.setattr(api, "TIMEOUT", (2, 0.3))


@pytest.mark.parametrize("command, stalled", [
    (["submit", "-m", "x"], "StartSubmissionUpload"),
    (["submit", "-m", "x"], "CreateSubmission"),
    (["submissions"], "ListSubmissions"),
    (["download"], "DownloadDataFiles"),
    (["download"], "GET"),
])
def test_a_stalled_kaggle_connection_ends_in_one_line(fake_kaggle, kaggle_submission,
                                                      short_timeout, capsys, command, stalled):
    import zipfile

    with zipfile.ZipFile("c.zip", "w") as z:
        z.writestr("train.csv", "label,pixel0\n")
    fake_kaggle.files["digit-recognizer.zip"] = open("c.zip", "rb").read()
    fake_kaggle.stall(stalled)
    code, out, err = fake_kaggle.run(capsys, *command)
    assert code == 2
    assert err.count("\n") == 1 and "Kaggle did not answer within 0.3 s" in err


def test_requests_are_bounded_only_while_talking_to_kaggle(short_timeout):
    from requests.adapters import HTTPAdapter

    from kagdigits.kaggle.api import bounded_requests

    send = HTTPAdapter.send
    with bounded_requests():
        assert HTTPAdapter.send is not send
    assert HTTPAdapter.send is send


ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[31mred\x1b[0m\x9b5n\x07\x08"


def test_terminal_escapes_from_the_server_are_not_printed(fake_kaggle, kaggle_submission,
                                                          capsys):
    fake_kaggle.submit_message = f"Successfully submitted {ESCAPES}"
    code, out, err = fake_kaggle.run(capsys, "submit", "-m", "x")
    assert code == 0, err
    assert "Successfully submitted red" in out
    fake_kaggle.submissions.append({
        "ref": 1, "date": "2024-04-01T09:00:00.000Z", "description": f"hi {ESCAPES}",
        "fileName": f"f{ESCAPES}.csv", "status": "ERROR", "errorDescription": ESCAPES})
    code, out, err = fake_kaggle.run(capsys, "submissions")
    assert code == 0, err
    assert not any(c in out + err for c in "\x1b\x07\x08\x9b")


@pytest.mark.parametrize("message", ["=HYPERLINK(\"http://x\",\"y\")", "+1+cmd|'/C calc'!A0",
                                     "-2+3", "@SUM(A1:A9)", "\t=1"])
def test_formulas_in_message_and_score_are_neutralised(fake_kaggle, kaggle_submission, capsys,
                                                       message):
    from kagdigits.kaggle.ledger import find_row, ledger_path

    fake_kaggle.public_score = "=1+1"
    assert fake_kaggle.run(capsys, "submit", f"--message={message}")[0] == 0
    assert fake_kaggle.run(capsys, "submissions")[0] == 0
    row = find_row(ledger_path("submissions"), kaggle_submission)
    assert row["message"] == "'" + message and row["public_score"] == "'=1+1"
