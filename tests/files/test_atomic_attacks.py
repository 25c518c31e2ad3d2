"""File systems without hard links (FAT/exFAT, many network and FUSE mounts): atomic
writes still write new files, never overwrite, and submissions and the ledger still work.

Part of the attacks on every input kagdigits reads (issue 14): each case asserts that the
attack is refused in one line (or handled) and that nothing runs, hangs or is lost.
"""

import errno
import os

import pytest

from kagdigits.errors import KagdigitsError
from kagdigits.files.atomic import atomic_write
from tests.helpers import one_line

# -- file systems without hard links (defect 12) --

@pytest.fixture(params=[errno.EPERM, errno.ENOTSUP])
def no_hard_links(monkeypatch, request):
    """``os.link`` failing as it does on FAT/exFAT and many network/FUSE mounts."""
    def link(src, dst, *args, **kwargs):
        raise OSError(request.param, os.strerror(request.param))

    monkeypatch.setattr(os, "link", link)


def test_atomic_write_without_hard_links_writes_new_files(tmp_path, no_hard_links):
    path = tmp_path / "a.csv"
    with atomic_write(path) as f:
        f.write("new\n")
    assert path.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_atomic_write_without_hard_links_never_overwrites(tmp_path, no_hard_links):
    path = tmp_path / "a.csv"
    with pytest.raises(KagdigitsError, match="already exists") as info, \
            atomic_write(path) as f:
        f.write("second writer\n")
        path.write_text("first writer\n")  # another process got there first
    one_line(info)
    assert path.read_text() == "first writer\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_submission_and_ledger_without_hard_links(tmp_path, no_hard_links):
    import numpy as np

    from kagdigits.files.submission import read_labels_csv, write_submission
    from kagdigits.kaggle.ledger import append_row, ledger_path, read_ledger

    first = write_submission(np.arange(20) % 10, tmp_path, "lenet5")
    second = write_submission(np.zeros(20, dtype=int), tmp_path, "lenet5")
    assert first != second
    np.testing.assert_array_equal(read_labels_csv(first), np.arange(20) % 10)
    append_row(ledger_path(tmp_path), file=first.name)
    append_row(ledger_path(tmp_path), file=second.name)
    assert [r["file"] for r in read_ledger(ledger_path(tmp_path))] == [first.name, second.name]
