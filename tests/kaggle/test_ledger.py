"""The submissions ledger: rows appended atomically, never lost, joined by file."""

import json
import multiprocessing

import pytest

from kagdigits import __version__
from kagdigits.cli.main import main
from kagdigits.errors import KagdigitsError
from kagdigits.kaggle.ledger import (
    COLUMNS,
    append_row,
    describe,
    editing,
    find_row,
    ledger_path,
    read_ledger,
    update_row,
)
from kagdigits.models import LeNet5Classifier
from kagdigits.models.params import non_default_params


@pytest.fixture
def ledger(tmp_path):
    return ledger_path(tmp_path / "submissions")


def test_rows_are_appended_and_kept(ledger):
    append_row(ledger, file="a.csv", model="lenet5")
    append_row(ledger, file="b.csv", model="mlp", not_a_column="dropped")

    rows = read_ledger(ledger)
    assert [(r["file"], r["model"]) for r in rows] == [("a.csv", "lenet5"), ("b.csv", "mlp")]
    assert ledger.read_text().splitlines()[0] == ",".join(COLUMNS)


def test_update_finds_the_row_of_a_file_however_named(ledger, monkeypatch):
    append_row(ledger, file="a.csv", model="lenet5")
    monkeypatch.chdir(ledger.parent.parent)

    update_row(ledger, "submissions/a.csv", kaggle_ref=123)
    update_row(ledger, ledger.parent / "new.csv", kaggle_ref=456)
    update_row(ledger, ledger.parent.parent / "elsewhere.csv", kaggle_ref=789)

    rows = read_ledger(ledger)
    assert [(r["file"], r["model"], r["kaggle_ref"]) for r in rows] == [
        ("a.csv", "lenet5", "123"), ("new.csv", "", "456"),
        (str(ledger.parent.parent / "elsewhere.csv"), "", "789")]
    assert find_row(ledger, ledger.parent / "a.csv")["kaggle_ref"] == "123"
    assert find_row(ledger, "nothing.csv") is None


class Unprintable:
    def __str__(self):
        raise RuntimeError("interrupted while writing")


def test_interrupted_write_keeps_the_old_file(ledger):
    append_row(ledger, file="a.csv", model="lenet5")
    before = ledger.read_bytes()

    with pytest.raises(RuntimeError, match="interrupted"), editing(ledger) as rows:
        rows.append({"file": "b.csv"})
        rows.append({"file": "c.csv", "model": Unprintable()})  # fails mid-write

    assert ledger.read_bytes() == before
    assert sorted(p.name for p in ledger.parent.iterdir()) == ["ledger.csv"]  # no lock file


def test_unknown_columns_are_kept(ledger):
    ledger.parent.mkdir()
    ledger.write_text("file,model,my_note\na.csv,lenet5,keep me\n")

    update_row(ledger, ledger.parent / "a.csv", kaggle_ref=1)

    assert read_ledger(ledger) == [dict.fromkeys(COLUMNS, "") | {
        "file": "a.csv", "model": "lenet5", "kaggle_ref": "1", "my_note": "keep me"}]


def test_a_foreign_file_is_refused_and_left_alone(ledger):
    ledger.parent.mkdir()
    ledger.write_text("name,score\nx,1\n")

    with pytest.raises(KagdigitsError, match="not a kagdigits ledger"):
        append_row(ledger, file="a.csv")
    assert ledger.read_text() == "name,score\nx,1\n"


def _append_many(path, worker):
    for i in range(20):
        append_row(path, file=f"{worker}-{i}.csv")


def test_params_are_described_without_memory_addresses():
    import torch
    from skorch.dataset import ValidSplit

    from kagdigits import LeNet5Classifier

    clf = LeNet5Classifier(lr=0.01, optimizer=torch.optim.SGD, train_split=ValidSplit(0.2),
                           callbacks=[("stop", ValidSplit(3))])
    params = non_default_params(clf)

    assert set(params) == {"lr", "optimizer", "train_split", "callbacks"}
    assert json.loads(json.dumps(params, default=describe)) == {
        "lr": 0.01, "optimizer": "torch.optim.sgd.SGD",
        "train_split": "ValidSplit(stratified=False, random_state=None, cv=0.2)",
        "callbacks": [["stop", "ValidSplit(stratified=False, random_state=None, cv=3)"]]}


def test_concurrent_appends_lose_no_row(ledger):
    append_row(ledger, file="first.csv")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(ledger, w)) for w in "ab"]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)

    assert [w.exitcode for w in workers] == [0, 0]
    files = [r["file"] for r in read_ledger(ledger)]
    assert files[0] == "first.csv"
    assert sorted(files[1:]) == sorted(f"{w}-{i}.csv" for w in "ab" for i in range(20))


def test_submission_command_records_its_file(tiny_kaggle_files, tmp_path, capsys):
    train, test = tiny_kaggle_files
    out = tmp_path / "subs"

    code = main(["submission", "--train", str(train), "--test", str(test), "--epochs", "1",
                 "--device", "cpu", "--set", "module__activation=tanh", "--out", str(out)])

    assert code == 0
    written = capsys.readouterr().out.strip().splitlines()[-1]
    (row,) = read_ledger(ledger_path(out))
    assert row["file"] == written.rsplit("/", 1)[-1]
    chosen = LeNet5Classifier(device="cpu").initialize().hardware_summary()
    assert (row["model"], row["device"], row["data"], row["version"]) == (
        "lenet5", chosen, str(train), __version__)
    params = json.loads(row["params"])
    assert {"device": "cpu", "max_epochs": 1, "module__activation": "tanh"}.items() <= \
        params.items()
    assert "lr" not in params and "batch_size" not in params  # defaults are left out
    assert " at 0x" not in row["params"]
    assert 0 <= float(row["valid_acc"]) <= 1 and float(row["train_seconds"]) > 0
    assert row["kaggle_ref"] == "" and row["written_at"].endswith("Z")
