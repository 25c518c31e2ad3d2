"""File locks: one policy for every lock kagdigits takes (a run folder's, the ledger's).

A lock is the operating system's lock on a file (released when its process ends, however
it ends). The file itself is kept, never deleted: a process that opened it before a
deletion would lock the old file while the next one creates and locks a new one, and both
would hold "the" lock (as ``filelock`` found, tox-dev/filelock#574). Waiting for a held
lock is bounded or not as the caller says; a lock that cannot be taken at all (an
unwritable folder) is one line naming the file.
"""

import contextlib
from pathlib import Path

from filelock import FileLock, Timeout

from kagdigits.errors import KagdigitsError


def acquire(path, wait=None, busy=None):
    """Take the lock of the file ``path`` (created if missing) and return it (a
    ``filelock.FileLock``; ``release()`` it).

    Parameters
    ----------
    path : str or Path
        The lock file; kept after the lock is released.
    wait : float or None, default=None
        Seconds to wait for another holder to release it (``None``: as long as it takes;
        ``0``: not at all).
    busy : str, default=None
        The message of the ``KagdigitsError`` raised when ``wait`` runs out.
    """
    lock = FileLock(path, timeout=-1 if wait is None else wait)
    try:
        lock.acquire()
    except Timeout:
        raise KagdigitsError(busy or f"{path} is locked by another process; wait for it to "
                             "end") from None
    except OSError as exc:
        raise KagdigitsError(f"cannot lock {path} ({exc.strerror or exc}); check the folder "
                             "and its permissions") from None
    return lock


@contextlib.contextmanager
def hold(path, wait=None, busy=None):
    """Hold the lock of ``path`` for the block (:func:`acquire`)."""
    lock = acquire(path, wait, busy)
    try:
        yield lock
    finally:
        lock.release()


def is_held(path):
    """Whether a process holds the lock of the file ``path`` now (``False`` when there is no
    such file, or it cannot be opened to find out)."""
    if not Path(path).is_file():
        return False
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    except OSError:
        return False
    lock.release()
    return False
