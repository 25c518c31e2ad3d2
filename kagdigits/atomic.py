"""Writing files so that a crash never leaves a half-written or clobbered file."""

import contextlib
import os
import tempfile
from pathlib import Path

from kagdigits.errors import KagdigitsError


@contextlib.contextmanager
def atomic_write(path, mode="w", overwrite=False, **open_kwargs):
    """Open a temporary file next to ``path``; rename it onto ``path`` on success.

    On any error the temporary file is removed and ``path`` is left as it was.
    With ``overwrite=False`` an existing ``path`` is an error, never replaced.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise KagdigitsError(f"{path} already exists; choose another name or pass --force")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails, instead of clobbering, if path appeared meanwhile
            except FileExistsError:
                raise KagdigitsError(
                    f"{path} already exists; choose another name or pass --force") from None
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
