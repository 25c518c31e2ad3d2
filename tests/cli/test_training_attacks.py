"""The training commands check run ids, inputs, outputs and parameter values before training,
each refusal in one line.

Part of the attacks on every input kagdigits reads (issue 14): each case asserts that the
attack is refused in one line (or handled) and that nothing runs, hangs or is lost.
"""

import os

import pytest

# -- the command line: run ids, inputs and outputs checked before training (defects 9, 10) --

@pytest.mark.parametrize("run_id", ["", " ", "a\nb", "\x1b[2J", " lenet5-x", "run\t1"])
@pytest.mark.parametrize("command", [["submission"], ["fit", "--save", "m.kd"]])
def test_empty_or_malformed_resume_ids_are_refused(tmp_path, monkeypatch, capsys, run_id,
                                                   command):
    from kagdigits.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main([*command, "--resume", run_id]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a run id" in err and "\x1b" not in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "submissions").exists()


@pytest.fixture
def cifar_like_test(tmp_path):
    """A valid test.csv of 3x32x32 images (another shape than MNIST's)."""
    import numpy as np

    from kagdigits.files.kaggle_csv import write_kaggle_csv

    path = tmp_path / "test32.csv"
    write_kaggle_csv(path, np.zeros((3, 3072), dtype=np.uint8))
    return path


def test_a_test_file_of_another_shape_is_refused_before_training(tiny_kaggle_files, tmp_path,
                                                                 monkeypatch, capsys,
                                                                 cifar_like_test):
    from kagdigits.cli.main import main

    monkeypatch.chdir(tmp_path)
    train, _ = tiny_kaggle_files
    code = main(["submission", "--train", str(train), "--test", str(cifar_like_test),
                 "--epochs", "1", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "its images are 3x32x32 but those of" in err and "are 1x28x28" in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("flag, target", [("--out", "afile/subs"), ("--save", "afile/m.kd"),
                                          ("--out", "afile")])
def test_an_unwritable_output_is_refused_before_training(tiny_kaggle_files, tmp_path,
                                                         monkeypatch, capsys, flag, target):
    from kagdigits.cli.main import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("a file, not a folder")
    train, test = tiny_kaggle_files
    command = (["submission", "--test", str(test)] if flag == "--out" else ["fit"])
    code = main([*command, "--train", str(train), "--epochs", "1", "--device", "cpu",
                 flag, target])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "a parent of it is a file" in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_a_read_only_out_folder_is_refused_before_training(tiny_kaggle_files, tmp_path,
                                                           monkeypatch, capsys):
    from kagdigits.cli.main import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ro").mkdir(mode=0o500)
    train, test = tiny_kaggle_files
    code = main(["submission", "--train", str(train), "--test", str(test), "--epochs", "1",
                 "--out", "ro"])
    assert code == 2 and "cannot write the submission to ro in ro" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_resume_takes_a_new_save_and_out_and_counts_the_whole_training(
        tiny_kaggle_files, tmp_path, monkeypatch, capsys):
    import contextlib
    import json
    import re

    from kagdigits.cli.main import main
    from kagdigits.kaggle.ledger import ledger_path, read_ledger
    from tests.runs.test_resume import CtrlCAfterEpoch

    monkeypatch.chdir(tmp_path)
    train, test = tiny_kaggle_files
    (tmp_path / "afile").write_text("x")
    command = ["submission", "--train", str(train), "--test", str(test), "--epochs", "3",
               "--device", "cpu", "--out", "old"]
    with contextlib.redirect_stdout(CtrlCAfterEpoch(2)):
        assert main(command) == 130
    run_id = re.search(r"--resume (\S+)", capsys.readouterr().err).group(1)
    history = (tmp_path / "runs" / run_id / "epoch-0002" / "history.json").read_text()
    before = sum(epoch["dur"] for epoch in json.loads(history))

    assert main(["submission", "--resume", run_id, "--out", "afile/x"]) == 2  # checked first
    assert "a parent of it is a file" in capsys.readouterr().err
    assert main(["submission", "--resume", run_id, "--out", "new"]) == 0
    assert "Resuming with --out new (the run started with old)" in capsys.readouterr().out
    assert not list((tmp_path / "old").glob("*.csv"))
    (row,) = read_ledger(ledger_path(tmp_path / "new"))
    assert float(row["train_seconds"]) > before > 0


# -- bad parameter values: one line before any data are read (defect 11; the validation
#    itself is issue 13's, kagdigits/models/params.py) --

@pytest.mark.parametrize("setting, name", [
    ("batch_size=0", "batch_size"), ("train_split=0.5", "train_split"),
    ("criterion__label_smoothing=2", "criterion__label_smoothing"),
    ("iterator_train__batch_size=None", "iterator_train__batch_size"),
])
def test_bad_parameter_values_are_one_line_before_any_data_are_read(tmp_path, monkeypatch,
                                                                    capsys, setting, name):
    from kagdigits.cli.main import main

    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "no-such-train.csv"  # read only after the parameters are checked
    code = main(["submission", "--train", str(missing), "--test", str(missing),
                 "--epochs", "1", "--device", "cpu", "--set", setting])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"--set {name}" in err
    assert "no such file" not in err and not (tmp_path / "runs").exists()
