"""The submissions ledger: ``submissions/ledger.csv``, one row per written submission.

A row holds the file, the model, the parameters that differ from its defaults, the
best validation accuracy, the training time, the device, the training data ("demo" or
the train file), the package version and, once uploaded, the Kaggle reference and the
public score. Every change rewrites the whole file through a temporary file and a
rename, under a lock, so an interrupted or concurrent run never loses earlier rows. The
lock file lives in the temporary folder (:func:`lock_path`), not beside the ledger: a lock
file stays after its lock is released (deleting it would let two writers lock two files).

The ledger may be edited by hand (in a spreadsheet): every row and column a user added
is kept as it is, in its place; columns kagdigits needs and the file lacks are added at
the end. A ledger kagdigits cannot keep whole (a duplicated column name, a row with more
values than the header names) is refused in one line naming the repair. A file that is
not UTF-8 is read as Latin-1 (what spreadsheets write on many systems) and rewritten as
UTF-8. Values kagdigits writes are cleaned of terminal control sequences and, when they
start like a spreadsheet formula (``=``, ``+``, ``-``, ``@``), prefixed with ``'``.
"""

import contextlib
import csv
import hashlib
import io
import json
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock

from kagdigits.errors import KagdigitsError
from kagdigits.files.atomic import atomic_write
from kagdigits.kaggle.api import strip_terminal_codes
from kagdigits.registry import is_ensemble

LEDGER_NAME = "ledger.csv"
COLUMNS = ["file", "written_at", "model", "params", "valid_acc", "train_seconds", "device",
           "data", "version", "kaggle_ref", "uploaded_at", "message", "public_score"]


def lock_path(path):
    """The lock file of the ledger at ``path``: in the temporary folder, named after the
    ledger's absolute path (so each ledger has its own)."""
    digest = hashlib.sha256(str(Path(path).absolute()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"kagdigits-ledger-{digest}.lock"


def ledger_path(folder="submissions"):
    """The ledger of the submissions in ``folder``."""
    return Path(folder) / LEDGER_NAME


def utc_now():
    """The current UTC time as ``2024-05-01T10:00:00Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: A cell starting with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value):
    """``value`` as a ledger cell: terminal control sequences removed, and a leading ``'``
    when it would start a spreadsheet formula (``=cmd|...``, ``@SUM(...)``; plain numbers
    such as ``-0.5`` are kept as they are)."""
    text = strip_terminal_codes("" if value is None else str(value), keep_newlines=True)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def _text(path):
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # every byte is a character: nothing is lost


def _refuse(path, why):
    return KagdigitsError(f"{path}: {why}; repair it in a text editor or spreadsheet (or move it "
                          "away to start a new ledger), then run again")


def _parse(path):
    """(header, [(line number, values)]) of the ledger file at ``path``."""
    reader = csv.reader(io.StringIO(_text(path), newline=""))
    try:
        header = next(reader, [])
        lines = [(reader.line_num, values) for values in reader if values]
    except csv.Error as exc:
        raise _refuse(path, f"line {reader.line_num} is not CSV ({exc})") from None
    return header, lines


def _read(path):
    """(rows, columns) of the ledger at ``path``; no file means no rows.

    ``columns`` is the file's header followed by the :data:`COLUMNS` it lacks.
    """
    if not path.exists():
        return [], list(COLUMNS)
    header, lines = _parse(path)
    if "file" not in header:
        raise KagdigitsError(f"{path} is not a kagdigits ledger (its header has no 'file' "
                             "column); move it away and run again")
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise _refuse(path, f"its header names the column {twice[0]!r} twice, so one "
                            "of them would be lost; rename or delete one")
    columns = header + [c for c in COLUMNS if c not in header]
    rows = []
    for line, values in lines:
        if len(values) > len(header):
            raise _refuse(path, f"line {line} has {len(values)} values but the header names "
                                f"{len(header)} columns; name the extra columns in line 1 "
                                "or delete the extra values")
        rows.append(dict.fromkeys(columns, "") | dict(zip(header, values, strict=False)))
    return rows, columns


def read_ledger(path):
    """The rows of the ledger at ``path`` (a list of dicts; empty when it does not exist)."""
    return _read(Path(path))[0]


@contextlib.contextmanager
def editing(path):
    """Lock the ledger and yield its rows to change in place; then rewrite it atomically.

    Every row and column the file has is kept; values the block sets are made safe
    (:func:`safe_cell`). Nothing is written if the block raises.
    """
    path = Path(path)
    lock = FileLock(lock_path(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except OSError as exc:
        raise KagdigitsError(f"cannot write {path}: {exc.strerror}; check the folder") from exc
    try:
        rows, columns = _read(path)
        read = {id(row): dict(row) for row in rows}
        yield rows
        for row in rows:  # what kagdigits set, never what the file held
            before = read.get(id(row), {})
            row.update({k: safe_cell(v) for k, v in row.items() if before.get(k) != v})
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
    from kagdigits.models.history import best_score  # torch: only when recording
    from kagdigits.models.params import non_default_params

    ledger = Path(ledger) if ledger is not None else ledger_path(Path(file).parent)
    best = None if is_ensemble(estimator) else best_score(estimator.history)
    valid_acc = "" if best is None else f"{best:.4f}"
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
