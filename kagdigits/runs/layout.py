"""What a run folder holds, by name, and what state a run is in; read without torch.

A run folder holds::

    runs/<run-id>/
      run.json              how the run was started (the CLI writes it; see --resume)
      .lock                 the run's lock (kept; see :mod:`kagdigits.files.locks`)
      best.safetensors      weights of the epoch with the best validation loss so far
      epoch-0007/           all that is needed to continue after epoch 7 (the latest only;
                            see :mod:`kagdigits.runs.checkpoints`)
      member-01/ ...        an ensemble's members, one run folder each
      stack-01-02/ ...      an ensemble's members trained as one stack, one folder each

A finished run keeps its model as a ``.kd`` file and drops the epoch states::

    runs/<run-id>/
      run.json      how the run was started
      model.kd      the trained model (best epoch's weights), for ``predict --load`` and ``serve``
      result.json   epochs run, best validation accuracy, when it finished

While a process trains a run (or reads it to resume it) it holds the lock of ``.lock``
(an OS file lock, released when the process ends, however it ends), so that ``kagdigits
runs clean`` leaves the run alone and no second process trains it.
"""

import enum
import json
import shutil
from pathlib import Path

from kagdigits.errors import KagdigitsError
from kagdigits.files import locks
from kagdigits.files.atomic import create_unique, utc_timestamp

RUNS_DIR = Path("runs")
RUN_INFO = "run.json"
BEST = "best.safetensors"
MODEL = "model.kd"
RESULT = "result.json"
LOCK = ".lock"
EPOCHS = "epoch-[0-9][0-9][0-9][0-9]"
MEMBERS = "member-[0-9][0-9]"
#: An ensemble's stack of members trained as one (``stack-01-02-.../``).
STACKS = "stack-[0-9][0-9]*"
#: Largest ``run.json`` or ``history.json`` read (kagdigits writes a few KB).
MAX_JSON_BYTES = 16 * 2**20


class RunState(enum.StrEnum):
    """What a run folder is now, as ``kagdigits runs`` shows it. Compare with the values
    (``state == "finished"``); a run trained elsewhere adds its own state here."""

    FINISHED = "finished"
    UNFINISHED = "unfinished"
    NO_EPOCH = "no epoch saved"
    TRAINING = "training"
    LINK = "link"
    DAMAGED = "damaged"
    ON_KAGGLE = "on Kaggle"
    FAILED_ON_KAGGLE = "failed on Kaggle"

    @property
    def resumable(self):
        """Whether ``--resume`` can continue a run in this state (one on Kaggle: by
        re-attaching to its kernel)."""
        return self in (RunState.UNFINISHED, RunState.ON_KAGGLE)


class DamagedFile(KagdigitsError):
    """A file of a run folder cannot be read (missing, not JSON, nested too deeply, ...)."""


def read_json(path, max_bytes=MAX_JSON_BYTES):
    """The JSON value in the file ``path``; a :class:`DamagedFile` naming it and why,
    also for JSON nested too deeply for Python to parse."""
    path = Path(path)
    try:
        if path.exists() and not path.is_file():  # a FIFO would block, a device never end
            raise ValueError("not a regular file")
        if path.stat().st_size > max_bytes:
            raise ValueError(f"larger than {max_bytes // 2**20} MiB")
        return json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise DamagedFile(f"{path}: cannot be read (nested too deeply)") from None
    except (OSError, ValueError) as exc:
        detail = " ".join(str(getattr(exc, "strerror", None) or exc).split())[:120]
        raise DamagedFile(f"{path}: cannot be read ({detail})") from None


def new_run_dir(root=RUNS_DIR, prefix="run"):
    """Create and return a new, empty ``<root>/<prefix>-<UTC time>`` folder (``-2``, ...
    when several start in the same second)."""
    return create_unique(root, f"{prefix}-{utc_timestamp()}")


def remove_leftovers(run_dir):
    """Delete what a killed process left half-written in ``run_dir``: temporary epoch
    folders (``.epoch-NNNN.*.tmp``, up to the size of a checkpoint each) and files."""
    for leftover in Path(run_dir).glob(".*.tmp"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def epoch_dirs(run_dir):
    """The complete ``epoch-NNNN`` folders of ``run_dir``, oldest first."""
    return sorted(Path(run_dir).glob(EPOCHS))


def latest_epoch_dir(run_dir):
    """The newest complete ``epoch-NNNN`` folder of ``run_dir``, or ``None``."""
    folders = epoch_dirs(run_dir)
    return folders[-1] if folders else None


def saved_epochs(run_dir):
    """How many epochs ``run_dir`` has checkpointed (0 if none)."""
    latest = latest_epoch_dir(run_dir)
    return 0 if latest is None else int(latest.name.split("-")[1])


def has_saved_work(run_dir):
    """Whether ``run_dir`` holds a saved epoch, its own or an ensemble member's or stack's,
    or a trained member: what ``--resume`` can continue from."""
    run_dir = Path(run_dir)
    return any(any(folder.glob(EPOCHS)) or any(folder.glob("member.safetensors"))
               for folder in [run_dir, *run_dir.glob(MEMBERS), *run_dir.glob(STACKS)])


def is_finished(run_dir):
    """Whether the run in ``run_dir`` has saved its model."""
    return (Path(run_dir) / MODEL).is_file()


def is_run_dir(path):
    """Whether ``path`` is a run folder (it has a ``run.json`` or a saved epoch)."""
    path = Path(path)
    return path.is_dir() and ((path / RUN_INFO).exists() or latest_epoch_dir(path) is not None)


def busy_message(run_dir):
    return (f"run {Path(run_dir).name} is being trained by another process; wait for it to "
            "end, or stop it first")


def lock_run(run_dir, wait=0):
    """Take the lock of the run in ``run_dir`` (waiting up to ``wait`` seconds); a one-line
    error when another process holds it. Returns the lock (``release()`` it)."""
    return locks.acquire(Path(run_dir) / LOCK, wait=wait, busy=busy_message(run_dir))


def is_running(run_dir):
    """Whether a process holds the lock of the run in ``run_dir`` now."""
    return locks.is_held(Path(run_dir) / LOCK)
