"""Writing files so that a crash never leaves a half-written or clobbered file, and
naming new files and folders so that none is ever taken twice."""

import contextlib
import errno
import itertools
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from kagdigits.errors import KagdigitsError, Param


class ExistsError(KagdigitsError, FileExistsError):
    """The file or folder to write already exists (and is kept)."""


class WriteError(KagdigitsError, OSError):
    """A file could not be written (a full disk, an I/O error, no permission): one line
    naming it and the system's reason; the file is left as it was.

    Parameters
    ----------
    path : str or Path
        The file that was being written.
    exc : OSError
        What the system said.
    """

    def __init__(self, path, exc):
        super().__init__(f"cannot write {path} ({exc.strerror or exc})")
        self.path = Path(path)
        self.errno, self.strerror = exc.errno, exc.strerror or str(exc)

    def __str__(self):  # OSError's would be "[Errno 28] ..."
        return "".join(map(str, self.parts))


def _exists_error(path):
    return ExistsError(f"{path} already exists; choose another name or pass ",
                       Param("overwrite", True))


def check_target(path, overwrite=False):
    """Raise unless a file could be written at ``path``: not a folder, no parent of it a
    file, and, without ``overwrite``, not there yet. Checked before any work is done for
    the file (and again by :func:`atomic_write`); creates nothing."""
    path = Path(path)
    if path.is_dir():
        raise KagdigitsError(f"{path} is a folder, not a file; give the path of a file in it "
                             "or another name")
    base = next(p for p in path.absolute().parents if p.exists() or p == p.parent)
    if not base.is_dir():
        raise KagdigitsError(f"cannot write {path}: {base} is a file, not a folder; choose "
                             "another path")
    if not overwrite and path.exists():
        raise _exists_error(path)


def utc_timestamp(now=None):
    """The UTC time (default: now) as it appears in file names: ``20240501T100000Z``."""
    return f"{now or datetime.now(UTC):%Y%m%dT%H%M%SZ}"


def create_unique(folder, stem, suffix="", create=Path.mkdir):
    """Create the first free ``<stem><suffix>``, ``<stem>-2<suffix>``, ... in ``folder``.

    ``create(path)`` makes it (default: an empty folder) and must raise
    ``FileExistsError`` when the name is taken, so that two processes never get the
    same name. Returns the path created.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        path = folder / f"{stem}{'' if n == 1 else f'-{n}'}{suffix}"
        try:
            create(path)
            return path
        except FileExistsError:
            if n >= 10_000:
                raise ExistsError(f"{folder}: no free name {stem}-N{suffix}; "
                                  "clean the folder up") from None


def _umask_mode(mode=0o666):
    """``mode`` less the process umask (what ``open`` would give a new file)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


#: ``os.link`` errors that mean "this file system has no hard links" (FAT, exFAT, many
#: network and FUSE mounts).
NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}


def _rename_new(tmp, path):
    """Move the finished file ``tmp`` to ``path``, which must not exist: never overwrites.

    A hard link fails if ``path`` appeared meanwhile. Where the file system has no hard
    links, the name is claimed by creating ``path`` exclusively (``O_EXCL``, so a file
    that appeared meanwhile is kept) and the finished file is renamed onto that claim.
    """
    try:
        os.link(tmp, path)  # fails, instead of clobbering, if path appeared meanwhile
    except FileExistsError:
        raise _exists_error(path) from None
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
        _claim_and_rename(tmp, path)
        return
    os.unlink(tmp)


def _claim_and_rename(tmp, path):
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise _exists_error(path) from None
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)  # our empty claim, not someone's file
        raise


@contextlib.contextmanager
def atomic_write(path, mode="w", overwrite=False, **open_kwargs):
    """Open a temporary file next to ``path``; rename it onto ``path`` on success.

    On any error the temporary file is removed and ``path`` is left as it was; a
    system error while writing (a full disk, an I/O error) is a :class:`WriteError`
    naming ``path``. With ``overwrite=False`` an existing ``path`` is an error, never
    replaced. The new file gets the permissions ``open`` would give it (umask applied).
    """
    path = Path(path)
    check_target(path, overwrite)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, _umask_mode())
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _rename_new(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, KagdigitsError):
            raise WriteError(path, exc) from None
        raise


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary folder next to ``path``; rename it to ``path`` on success.

    Readers see either no ``path`` or the complete folder. On any error the temporary
    folder is removed. An existing ``path`` is an error, never replaced.
    """
    path = Path(path)
    if path.exists():
        raise _exists_error(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise WriteError(path, exc) from None
    try:
        os.chmod(tmp, _umask_mode(0o777))
        yield tmp
        if path.exists():
            raise _exists_error(path)
        os.rename(tmp, path)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, KagdigitsError):
            raise WriteError(path, exc) from None
        raise
