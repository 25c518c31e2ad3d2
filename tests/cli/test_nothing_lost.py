"""Nothing lost when a run is starved or fed nonsense (issue 43): a full disk at every write
of a run is one line naming what is kept; values no float32, no machine or no clock can
hold are refused before any data are read; the resume says what it ignores."""

import contextlib
import errno
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kagdigits.cli.main import main
from tests.helpers import run_cli
from tests.runs.test_resume import CtrlCAfterEpoch


@pytest.fixture
def full_disk(monkeypatch):
    """``full_disk(match)``: from then on, a file opened through ``os.fdopen`` (every atomic
    write of kagdigits) whose path contains ``match`` writes to /dev/full, so that its first
    real write fails with the kernel's ENOSPC, as on a full disk."""
    fdopen = os.fdopen

    def start(match):
        def fdopen_full(fd, *args, **kwargs):
            with contextlib.suppress(OSError):
                if match in os.readlink(f"/proc/self/fd/{fd}"):
                    full = os.open("/dev/full", os.O_WRONLY)
                    os.dup2(full, fd)
                    os.close(full)
            return fdopen(fd, *args, **kwargs)

        monkeypatch.setattr(os, "fdopen", fdopen_full)

    return start


def no_traceback(err):
    assert err.count("\n") == 1 and "Traceback" not in err and "enforce fail" not in err
    return err.strip()


# --- item 2: a full disk at every write of a run --------------------------------------------

@pytest.mark.parametrize("name", ["optimizer.pt", "tensors.safetensors", "history.json"])
def test_a_full_disk_during_a_checkpoint_is_the_resume_line(tiny_kaggle_files, tmp_path,
                                                            monkeypatch, capsys, full_disk,
                                                            name):
    monkeypatch.chdir(tmp_path)
    train, _ = tiny_kaggle_files
    full_disk(f".{name}.")
    code, _, err = run_cli(capsys, "fit", "--train", train, "--epochs", "2", "--device", "cpu",
                           "--save", "m.kd")
    line = no_traceback(err)
    assert code == 2 and "cannot save the checkpoint of epoch 1 in runs/" in line
    assert "No space left on device" in line and "resume with: kagdigits fit --resume" in line


def test_a_full_disk_writing_run_json_is_one_line(tiny_kaggle_files, tmp_path, monkeypatch,
                                                  capsys, full_disk):
    monkeypatch.chdir(tmp_path)
    train, _ = tiny_kaggle_files
    full_disk(".run.json.")
    code, _, err = run_cli(capsys, "fit", "--train", train, "--epochs", "1", "--device", "cpu",
                           "--save", "m.kd")
    line = no_traceback(err)
    assert code == 2 and re.search(r"cannot write runs/lenet5-\S+/run\.json \(No space left "
                                   r"on device\)", line)
    assert not list(Path("runs").glob("*/run.json"))


def test_a_full_disk_writing_the_model_of_a_run_keeps_its_checkpoint(tiny_kaggle_files,
                                                                    tmp_path, monkeypatch,
                                                                    capsys, full_disk):
    monkeypatch.chdir(tmp_path)
    train, _ = tiny_kaggle_files
    full_disk(".model.kd.")
    code, _, err = run_cli(capsys, "fit", "--train", train, "--epochs", "1", "--device", "cpu",
                           "--save", "m.kd")
    line = no_traceback(err)
    [run] = Path("runs").iterdir()
    assert code == 2 and f"cannot write {run}/model.kd (No space left on device)" in line
    assert (run / "epoch-0001").is_dir()  # the run keeps what it trained


def test_a_full_disk_writing_fit_save_says_the_model_is_safe(tiny_kaggle_files, tmp_path,
                                                             monkeypatch, capsys, full_disk):
    monkeypatch.chdir(tmp_path)
    train, _ = tiny_kaggle_files
    full_disk(".m.kd.")
    code, _, err = run_cli(capsys, "fit", "--train", train, "--epochs", "1", "--device", "cpu",
                           "--save", "m.kd")
    line = no_traceback(err)
    [run] = Path("runs").iterdir()
    assert code == 2 and "cannot write m.kd (No space left on device)" in line
    assert f"the model is safe in {run}/model.kd" in line and (run / "model.kd").is_file()


def test_a_full_disk_writing_the_submission_says_the_model_is_safe(tiny_kaggle_files,
                                                                   tmp_path, monkeypatch,
                                                                   capsys, full_disk):
    monkeypatch.chdir(tmp_path)
    train, test = tiny_kaggle_files
    full_disk("submissions/.lenet5-")
    code, _, err = run_cli(capsys, "submission", "--train", train, "--test", test, "--epochs",
                           "1", "--device", "cpu")
    line = no_traceback(err)
    [run] = Path("runs").iterdir()
    assert code == 2 and re.search(r"cannot write submissions/lenet5-\S+\.csv \(No space left "
                                   r"on device\)", line)
    assert f"the model is safe in {run}/model.kd" in line
    assert not list(Path("submissions").glob("*.csv"))


def test_a_full_disk_writing_the_ledger_is_one_line(tiny_kaggle_files, tmp_path, monkeypatch,
                                                    capsys, full_disk):
    monkeypatch.chdir(tmp_path)
    train, test = tiny_kaggle_files
    full_disk(".ledger.csv.")
    code, out, err = run_cli(capsys, "submission", "--train", train, "--test", test,
                             "--epochs", "1", "--device", "cpu")
    line = no_traceback(err)
    assert code == 2 and "was written, but the ledger was not updated" in line
    assert "No space left on device" in line and "The submission is written" in out


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """``small_disk(free_kb)``: the working folder on a real 2 MB tmpfs filled to leave
    ``free_kb`` KiB; returns the filler file (delete it to free the space). Skips where a
    tmpfs cannot be mounted (not root); the injected cases above cover those machines."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
            capture_output=True).returncode:
        pytest.skip("a tmpfs cannot be mounted here (needs root)")

    def fill(free_kb):
        stat = os.statvfs(disk)
        filler = disk / "filler"
        filler.write_bytes(bytes(stat.f_bavail * stat.f_frsize - free_kb * 1024))
        monkeypatch.chdir(disk)
        return filler

    yield fill
    monkeypatch.chdir(tmp_path)
    subprocess.run(["umount", str(disk)], check=True)


def test_a_2_mb_disk_full_at_the_optimizer_state_is_the_checkpoint_line(
        tiny_kaggle_files, small_disk, capsys):
    train, _ = tiny_kaggle_files
    small_disk(800)  # best.safetensors and the weights fit, the optimizer state does not
    code, _, err = run_cli(capsys, "fit", "--train", train, "--epochs", "1", "--device", "cpu",
                           "--save", "m.kd")
    line = no_traceback(err)
    assert code == 2 and "cannot save the checkpoint of epoch 1" in line
    assert "No space left on device" in line and "no epoch is saved yet" in line


def test_a_2_mb_disk_full_at_the_model_loses_nothing(tiny_kaggle_files, small_disk, capsys):
    train, _ = tiny_kaggle_files
    filler = small_disk(1300)  # the checkpoint fits, model.kd does not
    code, _, err = run_cli(capsys, "fit", "--train", train, "--epochs", "1", "--device", "cpu",
                           "--save", "m.kd")
    line = no_traceback(err)
    [run] = Path("runs").iterdir()
    assert code == 2 and f"cannot write {run}/model.kd (No space left on device)" in line
    filler.unlink()
    code, out, _ = run_cli(capsys, "fit", "--resume", run.name, "--save", "m.kd")
    assert code == 0 and (run / "model.kd").is_file() and Path("m.kd").is_file()


# --- items 3, 9, 10: values refused before any data are read --------------------------------

def refused_before_reading(tmp_path, monkeypatch, capsys, *options, model="lenet5"):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "no-such-train.csv"  # read only after the values are checked
    code, _, err = run_cli(capsys, "submission", "--model", model, "--train", missing,
                           "--test", missing, "--device", "cpu", *options)
    assert code == 2 and err.count("\n") == 1, err
    assert "no such file" not in err and not (tmp_path / "runs").exists()
    return err.strip()


@pytest.mark.parametrize("setting, name", [
    ("lr=1e39", "lr"), ("optimizer__weight_decay=1e39", "optimizer__weight_decay"),
    ("lr_decay=1e300", "lr_decay"), ("tta=1000000000", "tta"),
    ("batch_size=10000000000", "batch_size"), ("max_epochs=99999999999999999999999",
                                               "max_epochs"),
    ("iterator_valid__batch_size=10000000000", "iterator_valid__batch_size"),
])
def test_values_no_machine_can_run_are_refused_first(tmp_path, monkeypatch, capsys, setting,
                                                     name):
    err = refused_before_reading(tmp_path, monkeypatch, capsys, "--set", setting)
    assert f"--set {name}: expected" in err


@pytest.mark.parametrize("seed", ["-1", "99999999999999999999999"])
def test_a_bad_seed_names_seed(tmp_path, monkeypatch, capsys, seed):
    err = refused_before_reading(tmp_path, monkeypatch, capsys, "--seed", seed)
    assert f"--seed: expected an integer in [0, 4294967295], got {seed}" in err
    assert "random_state" not in err and "Overflow" not in err


def test_too_many_epochs_names_epochs(tmp_path, monkeypatch, capsys):
    err = refused_before_reading(tmp_path, monkeypatch, capsys, "--epochs", "100001")
    assert "--epochs: expected an integer in [1, 100000], got 100001" in err


@pytest.mark.parametrize("setting, words", [  # the ensemble's constraints (issue 41)
    ("n_jobs=0", "--set n_jobs: expected"),
    ("member_params={'lr': 1e39}", "lr"),
    ("batch_size=2000", "member_params"),
    ("member_params=[1]", "--set member_params: expected"),
    ("member=['lenet5', 5]", "--set member: expected"),
])
def test_the_ensembles_bad_values_are_one_line(tmp_path, monkeypatch, capsys, setting, words):
    err = refused_before_reading(tmp_path, monkeypatch, capsys, "--set", setting,
                                 model="ensemble")
    assert words in err and "Parallel" not in err and "Cannot clone" not in err
    if setting == "batch_size=2000":
        assert "such as lr, max_epochs, batch_size" not in err


# --- item 10: --resume says what it ignores; its help is true; --dry-run writes nothing -------

@pytest.fixture
def stopped_submission(tiny_kaggle_files, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    train, test = tiny_kaggle_files
    with contextlib.redirect_stdout(CtrlCAfterEpoch(1)):
        assert main(["submission", "--train", str(train), "--test", str(test), "--epochs",
                     "2", "--device", "cpu"]) == 130
    return re.search(r"--resume (\S+)", capsys.readouterr().err).group(1)


def test_resume_says_which_options_it_ignores(stopped_submission, capsys):
    code, out, _ = run_cli(capsys, "submission", "--resume", stopped_submission,
                           "--epochs", "5", "--set", "lr=0.1", "--model", "mlp",
                           "--seed", "3")
    assert code == 0
    assert ("Ignoring --epochs, --model, --seed, --set: a resumed run keeps the settings it "
            "started with (start a new run to change them)") in out
    assert "Continuing after epoch 1 of 2." in out


def test_resume_says_nothing_of_options_not_given(stopped_submission, capsys):
    code, out, _ = run_cli(capsys, "submission", "--resume", stopped_submission)
    assert code == 0 and "Ignoring" not in out


def test_the_resume_help_names_what_it_keeps(capsys):
    for command, kept in (("submission", "--out"), ("fit", "--save")):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert f"(other options but --threads and {kept} are ignored)" in text


def test_the_resume_hint_of_a_make_submission_is_make_resume(stopped_submission, tmp_path,
                                                             monkeypatch, capsys):
    from kagdigits.cli.args import shown_command

    (tmp_path / "Makefile").write_text("resume:\n")
    monkeypatch.setattr("sys.argv", [str(tmp_path / ".venv" / "bin" / "kagdigits")])
    monkeypatch.setattr("shutil.which", lambda name: None)
    shown = shown_command(f"submission --resume {stopped_submission}", "resume")
    assert shown.startswith(f"make resume RUN_ID={stopped_submission} (or: ")


def test_dry_run_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "submission", "--dry-run", "--epochs", "1", "--device",
                           "cpu")
    assert code == 0 and "Dry run" in out
    assert list(tmp_path.iterdir()) == []


def test_the_full_disk_fixture_gives_the_kernels_error(tmp_path, full_disk):
    from kagdigits.files.atomic import atomic_write

    full_disk("target")
    with pytest.raises(OSError) as info, atomic_write(tmp_path / "target.txt") as f:
        f.write("x" * 10)
    assert info.value.errno == errno.ENOSPC and not list(tmp_path.iterdir())
