"""Hand-edited ledgers: other encodings and user columns kept; one that cannot be kept whole
is refused (before training, before any request) and left as it is.

Part of the attacks on every input kagdigits reads (issue 14): each case asserts that the
attack is refused in one line (or handled) and that nothing runs, hangs or is lost.
"""

import pytest

from kagdigits.errors import KagdigitsError
from tests.helpers import one_line

# -- hand-edited ledgers (defect 7) --

@pytest.fixture
def ledger(tmp_path):
    from kagdigits.kaggle.ledger import ledger_path

    path = ledger_path(tmp_path / "submissions")
    path.parent.mkdir()
    return path


def test_a_latin1_ledger_is_kept_and_grows(ledger):
    from kagdigits.kaggle.ledger import append_row, read_ledger

    ledger.write_bytes("file,model,note\na.csv,lenet5,caf\xe9 cr\xe8me\n".encode("latin-1"))
    append_row(ledger, file="b.csv", model="mlp")
    rows = read_ledger(ledger)
    assert [(r["file"], r["note"]) for r in rows] == [("a.csv", "caf\xe9 cr\xe8me"),
                                                       ("b.csv", "")]
    assert ledger.read_text(encoding="utf-8").splitlines()[0].startswith("file,model,note,")


def test_user_columns_keep_their_place_and_kagdigits_adds_its_own_at_the_end(ledger):
    from kagdigits.kaggle.ledger import COLUMNS, update_row

    ledger.write_text("my_rank,file,model,public_score,my_note\n1,a.csv,lenet5,0.9,=A1*2\n")
    update_row(ledger, ledger.parent / "a.csv", kaggle_ref=7, message="=cmd")
    header, row = ledger.read_text().splitlines()
    added = [c for c in COLUMNS if c not in ("file", "model", "public_score")]
    assert header.split(",") == ["my_rank", "file", "model", "public_score", "my_note", *added]
    values = dict(zip(header.split(","), row.split(","), strict=True))
    assert values["my_note"] == "=A1*2"  # the user's own formula stays as it is
    assert values["message"] == "'=cmd" and values["kaggle_ref"] == "7"


def test_a_utf8_bom_ledger_written_by_excel_is_read(ledger):
    from kagdigits.kaggle.ledger import find_row

    ledger.write_bytes("\ufefffile,model\na.csv,lenet5\n".encode())
    assert find_row(ledger, ledger.parent / "a.csv")["model"] == "lenet5"


@pytest.mark.parametrize("text, message", [
    ("file,model\na.csv,lenet5,extra,more\n", "line 2 has 4 values but the header names 2"),
    ("file,model,model\na.csv,lenet5,mlp\n", "names the column 'model' twice"),
    ("file,model\na.csv," + "x" * 140_000 + "\n", "line 2 is not CSV"),
])
def test_a_ledger_that_cannot_be_kept_whole_is_refused_and_left_as_it_is(ledger, text, message):
    from kagdigits.kaggle.ledger import append_row

    ledger.write_text(text)
    with pytest.raises(KagdigitsError, match=message) as info:
        append_row(ledger, file="b.csv")
    assert "repair it" in one_line(info)
    assert ledger.read_text() == text


def test_submission_with_a_broken_ledger_is_refused_before_training(tmp_path, capsys,
                                                                    tiny_kaggle_files):
    from kagdigits.cli.main import main

    train, test = tiny_kaggle_files
    out = tmp_path / "subs"
    out.mkdir()
    (out / "ledger.csv").write_text("file,model,model\na.csv,x,y\n")
    code = main(["submission", "--train", str(train), "--test", str(test), "--epochs", "1",
                 "--device", "cpu", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "names the column 'model' twice" in err
    assert not (tmp_path / "runs").exists() and sorted(p.name for p in out.iterdir()) == [
        "ledger.csv"]


def test_submit_with_a_broken_ledger_is_refused_before_any_request(fake_kaggle,
                                                                   kaggle_submission, capsys):
    from kagdigits.kaggle.ledger import ledger_path

    ledger = ledger_path("submissions")
    ledger.write_text(ledger.read_text().replace("file,", "file,file,", 1))
    code, out, err = fake_kaggle.run(capsys, "submit", str(kaggle_submission), "-m", "x")
    assert code == 2 and err.count("\n") == 1 and "names the column 'file' twice" in err
    assert fake_kaggle.requests == []
