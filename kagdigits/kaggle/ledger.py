"""The submissions ledger: ``submissions/ledger.csv``, one row per written submission.

A row holds the file, the model, the parameters that differ from its defaults, the
best validation accuracy, the training time, the device, the training data ("demo" or
the train file), the package version and, once uploaded, the Kaggle reference and the
public score. Every change rewrites the whole file through a temporary file and a
rename, under a lock, so an interrupted or concurrent run never loses earlier rows.
"""

import contextlib
import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock

from kagdigits.errors import KagdigitsError
from kagdigits.files.atomic import atomic_write

LEDGER_NAME = "ledger.csv"
COLUMNS = ["file", "written_at", "model", "params", "valid_acc", "train_seconds", "device",
           "data", "version", "kaggle_ref", "uploaded_at", "message", "public_score"]


def ledger_path(folder="submissions"):
    """The ledger of the submissions in ``folder``."""
    return Path(folder) / LEDGER_NAME


def utc_now():
    """The current UTC time as ``2024-05-01T10:00:00Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read(path):
    """(rows, columns) of the ledger at ``path``; no file means no rows."""
    if not path.exists():
        return [], list(COLUMNS)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        if "file" not in columns:
            raise KagdigitsError(f"{path} is not a kagdigits ledger (its header has no 'file' "
                                 "column); move it away and run again")
        rows = list(reader)
    return rows, list(COLUMNS) + [c for c in columns if c not in COLUMNS]


def read_ledger(path):
    """The rows of the ledger at ``path`` (a list of dicts; empty when it does not exist)."""
    return _read(Path(path))[0]


@contextlib.contextmanager
def editing(path):
    """Lock the ledger and yield its rows to change in place; then rewrite it atomically.

    Columns the file has beyond :data:`COLUMNS` are kept. Nothing is written if the
    block raises.
    """
    path = Path(path)
    lock = FileLock(path.parent / f".{path.name}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except OSError as exc:
        raise KagdigitsError(f"cannot write {path}: {exc.strerror}; check the folder") from exc
    try:
        rows, columns = _read(path)
        yield rows
        try:
            with atomic_write(path, "w", overwrite=True, newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=columns, restval="",
                                        extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
        except OSError as exc:
            raise KagdigitsError(f"cannot write {path}: {exc.strerror}; "
                                 "check the folder and the free disk space") from exc
    finally:
        lock.release()


def _key(path, file):
    return (Path(path).parent / file).resolve()


def file_entry(path, file):
    """How ``file`` is named in the ledger at ``path``: relative to it when inside its folder."""
    file = Path(file).resolve()
    folder = Path(path).parent.resolve()
    return str(file.relative_to(folder)) if file.is_relative_to(folder) else str(file)


def find_row(path, file):
    """The ledger row of ``file`` (a dict), or ``None``."""
    wanted = Path(file).resolve()
    for row in read_ledger(path):
        if _key(path, row["file"]) == wanted:
            return row
    return None


def append_row(path, **fields):
    """Append one row (unknown columns are ignored, missing ones left empty)."""
    with editing(path) as rows:
        rows.append({name: "" if value is None else str(value) for name, value in fields.items()})


def update_row(path, file, **fields):
    """Set ``fields`` on the row of ``file``, appending a row for it when there is none."""
    fields = {name: "" if value is None else str(value) for name, value in fields.items()}
    wanted = Path(file).resolve()
    with editing(path) as rows:
        for row in rows:
            if _key(path, row["file"]) == wanted:
                row.update(fields)
                return
        rows.append({"file": file_entry(path, file), **fields})


def describe(value):
    """A JSON-able stand-in for a parameter value JSON cannot hold (no memory addresses)."""
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        return f"{value.__module__}.{value.__qualname__}"
    text = repr(value)
    if " at 0x" not in text:
        return text
    fields = ", ".join(f"{name}={item!r}" for name, item in vars(value).items()
                       if not name.startswith("_") and " at 0x" not in repr(item))
    return f"{type(value).__name__}({fields})"


def record_submission(file, estimator, *, model, train_seconds, data, ledger=None):
    """Add the row of a newly written submission ``file`` to the ledger next to it.

    ``params`` holds the parameters the user set (those that differ from the model's
    defaults, without the checkpoint callbacks training adds); ``valid_acc`` stays empty
    for an ensemble, whose members each score a validation split of their own.

    Parameters
    ----------
    file : path
        The submission just written.
    estimator : DigitClassifier
        The fitted estimator that predicted it.
    model : str
        Its registry name.
    train_seconds : float or None
        ``None``: not trained here (a loaded model).
    data : str
        ``"demo"`` for the demo set, else the train file.
    ledger : path, default=None
        The ledger file; ``None`` means ``ledger.csv`` in the folder of ``file``.
    """
    from kagdigits import __version__
    from kagdigits.models.params import non_default_params  # torch: only when recording

    ledger = Path(ledger) if ledger is not None else ledger_path(Path(file).parent)
    history = estimator.history
    valid_acc = (f"{max(history[:, 'valid_acc']):.4f}" if len(history) and not
                 hasattr(estimator, "members_") and "valid_acc" in history[-1] else "")
    # only what the user set: the checkpoint callbacks the CLI adds differ run by run
    params = {name: value for name, value in non_default_params(estimator).items()
              if name not in ("callbacks", "member_callbacks")}
    params = json.dumps(params, default=describe, sort_keys=True)
    seconds = "" if train_seconds is None else f"{train_seconds:.3f}"
    try:
        append_row(ledger, file=file_entry(ledger, file), written_at=utc_now(), model=model,
                   params=params, valid_acc=valid_acc, train_seconds=seconds,
                   device=estimator.hardware_summary(), data=data, version=__version__)
    except KagdigitsError as exc:
        raise KagdigitsError(f"{file} was written, but the ledger was not updated: {exc}") from exc
