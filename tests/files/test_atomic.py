"""Atomic writes: a failure at any point leaves the previous file (or folder) intact."""

import errno
import os

import pytest
import torch

from kagdigits import LeNet5Classifier
from kagdigits.errors import KagdigitsError
from kagdigits.files.atomic import atomic_dir, atomic_write
from kagdigits.runs.fitting import fit_run
from kagdigits.runs.layout import LOCK, latest_epoch_dir


def leftovers(folder):
    """Half-written files left in ``folder`` (its run lock, kept on purpose, is none)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")
                  and p.name != LOCK)


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"),
                                     KeyboardInterrupt()])
def test_a_failure_mid_write_keeps_the_previous_file(tmp_path, failure):
    path = tmp_path / "ledger.csv"
    path.write_text("old content\n")
    with pytest.raises(type(failure)), atomic_write(path, overwrite=True) as f:
        f.write("new content, half")
        raise failure
    assert path.read_text() == "old content\n"
    assert leftovers(tmp_path) == []


def test_an_existing_file_is_never_overwritten_without_overwrite(tmp_path):
    path = tmp_path / "submission.csv"
    path.write_text("mine\n")
    with pytest.raises(KagdigitsError, match="already exists; choose another name or pass "
                                             "overwrite=True"):
        with atomic_write(path) as f:
            f.write("theirs\n")
    assert path.read_text() == "mine\n"


def test_a_file_that_appears_while_writing_is_not_clobbered(tmp_path):
    path = tmp_path / "submission.csv"
    with pytest.raises(KagdigitsError, match="already exists"), atomic_write(path) as f:
        f.write("second writer\n")
        path.write_text("first writer\n")  # another process got there first
    assert path.read_text() == "first writer\n"
    assert leftovers(tmp_path) == []


def test_new_files_get_the_permissions_open_would_give(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "a.csv") as f:
            f.write("x")
        with atomic_dir(tmp_path / "folder") as folder:
            (folder / "b").write_text("y")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.csv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o755


def test_a_folder_appears_complete_or_not_at_all(tmp_path):
    target = tmp_path / "epoch-0002"
    with pytest.raises(RuntimeError), atomic_dir(target) as folder:
        (folder / "params").write_text("half")
        raise RuntimeError("crash while filling the folder")
    assert not target.exists() and leftovers(tmp_path) == []
    with atomic_dir(target) as folder:
        (folder / "params").write_text("all")
        assert not target.exists()
    assert (target / "params").read_text() == "all"
    with pytest.raises(KagdigitsError, match="already exists"), atomic_dir(target):
        pass
    assert (target / "params").read_text() == "all"


def test_a_disk_full_while_checkpointing_keeps_the_last_epoch_resumable(
        digits, tmp_path, monkeypatch):
    X, y = digits
    settings = dict(max_epochs=3, batch_size=64, device="cpu", verbose=0)
    real_save = torch.save
    saves = []

    def fill_the_disk(obj, f, *args, **kwargs):  # the optimizer state of epoch 2 fails
        saves.append(1)
        if len(saves) == 2:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", fill_the_disk)
    with pytest.raises(OSError, match="No space left"):
        fit_run(LeNet5Classifier(**settings), X, y, tmp_path)
    monkeypatch.undo()
    assert latest_epoch_dir(tmp_path).name == "epoch-0001"
    assert leftovers(tmp_path) == [] and leftovers(latest_epoch_dir(tmp_path)) == []
    resumed = fit_run(LeNet5Classifier(**settings), X, y, tmp_path, resume=True)
    straight = LeNet5Classifier(**settings).fit(X, y)
    assert resumed.history[:, "valid_loss"] == straight.history[:, "valid_loss"]
