"""Run folders ``runs/<run-id>/``: naming and finding them, what they hold (``run.json``,
the finished model), listing and removing them.

A run folder holds::

    runs/<run-id>/
      run.json              how the run was started (the CLI writes it; see --resume)
      best.safetensors      weights of the epoch with the best validation loss so far
      epoch-0007/           all that is needed to continue after epoch 7 (the latest only;
                            see :mod:`kagdigits.runs.checkpoints`)
      member-01/ ...        an ensemble's members, one run folder each

A finished run keeps its model as a ``.kd`` file and drops the epoch states::

    runs/<run-id>/
      run.json      how the run was started
      model.kd      the trained model (best epoch's weights), for ``predict --load`` and ``serve``
      result.json   epochs run, best validation accuracy, when it finished

An unfinished run (interrupted, or still training) keeps its ``epoch-NNNN/`` state (and
an ensemble its ``member-NN/`` folders) so that ``--resume`` can continue it. While a process
trains a run it holds the lock of ``.lock`` in its folder (an OS file lock, released when
the process ends, however it ends), so that ``kagdigits runs clean`` leaves the run alone.

``run.json`` holds a :class:`~kagdigits.runs.config.RunConfig` and a digest of the training
data, so that a resumed run trains the same model on the same data as the run it continues.
"""

import contextlib
import dataclasses
import difflib
import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from kagdigits.errors import KagdigitsError
from kagdigits.files.atomic import atomic_write, create_unique, utc_timestamp
from kagdigits.models import get_model_class
from kagdigits.models.history import best_score
from kagdigits.registry import KINDS, is_ensemble, model_kind
from kagdigits.runs.config import RunConfig
from kagdigits.runs.persist import save_model

RUNS_DIR = Path("runs")
RUN_INFO = "run.json"
BEST = "best.safetensors"
MODEL = "model.kd"
RESULT = "result.json"
LOCK = ".lock"
#: ``--older-than`` units, in seconds, and the form of an age: ASCII digits (at most six
#: before the point), then the unit.
UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
AGE = re.compile(r"([0-9]{1,6}(?:\.[0-9]{1,6})?)([mhdw])", re.ASCII | re.IGNORECASE)


def new_run_dir(root=RUNS_DIR, prefix="run"):
    """Create and return a new, empty ``<root>/<prefix>-<UTC time>`` folder (``-2``, ...
    when several start in the same second)."""
    return create_unique(root, f"{prefix}-{utc_timestamp()}")


def find_run_dir(run_id, root=RUNS_DIR):
    """The folder of run ``run_id`` (a name in ``root`` or a path); a clear error if none."""
    run_id = str(run_id)
    if not run_id.strip() or run_id != run_id.strip() or not run_id.isprintable():
        raise KagdigitsError(f"{run_id!r} is not a run id; pass the name of a folder in "
                             f"{root}/ (`kagdigits runs` lists them), e.g. lenet5-20240501T100000Z")
    path = Path(run_id)
    if not path.is_dir():
        path = Path(root) / run_id
    if (path / RUN_INFO).is_file() or latest_epoch_dir(path) is not None:
        return path
    runs = sorted(p.name for p in Path(root).glob("*") if p.is_dir()) if Path(root).is_dir() else []
    close = difflib.get_close_matches(str(run_id), runs, n=3, cutoff=0.5)
    hint = (f"did you mean {', '.join(close)}?" if close
            else f"runs there: {', '.join(runs[-5:])}" if runs else f"{root}/ has no runs")
    raise KagdigitsError(f"no run {run_id!r} in {root}/; {hint}")


def _release(lock):
    """Remove the lock file while still holding it (a process that opened it meanwhile finds
    it unlinked and tries again), then release the lock."""
    Path(lock.lock_file).unlink(missing_ok=True)
    lock.release()


@contextlib.contextmanager
def hold_run(run_dir):
    """Hold the lock of the run in ``run_dir`` (the file ``.lock`` in it) while training it;
    a one-line error when another process holds it. The operating system releases it when
    the process ends, however it ends; the file is removed when the lock is released."""
    lock = FileLock(Path(run_dir) / LOCK, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise KagdigitsError(f"run {Path(run_dir).name} is being trained by another process; "
                             "wait for it to end, or stop it first") from None
    try:
        yield
    finally:
        _release(lock)


def is_running(run_dir):
    """Whether a process is training the run in ``run_dir`` now (holds its lock); the lock
    file of a process that has ended is removed."""
    path = Path(run_dir) / LOCK
    if not path.is_file():
        return False
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    _release(lock)
    return False


def latest_epoch_dir(run_dir):
    """The newest complete ``epoch-NNNN`` folder of ``run_dir``, or ``None``."""
    folders = sorted(Path(run_dir).glob("epoch-[0-9][0-9][0-9][0-9]"))
    return folders[-1] if folders else None


def saved_epochs(run_dir):
    """How many epochs ``run_dir`` has checkpointed (0 if none)."""
    latest = latest_epoch_dir(run_dir)
    return 0 if latest is None else int(latest.name.split("-")[1])


def remove_leftovers(run_dir):
    """Delete what a killed process left half-written in ``run_dir``: temporary epoch
    folders (``.epoch-NNNN.*.tmp``, up to the size of a checkpoint each) and files."""
    for leftover in Path(run_dir).glob(".*.tmp"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def data_digest(X, y):
    """A SHA-256 of the training arrays, to tell whether a resumed run has the same data."""
    digest = hashlib.sha256(np.ascontiguousarray(X).data)
    digest.update(np.ascontiguousarray(y).data)
    return digest.hexdigest()


def start_run(config, X, y, hardware=None, root="runs", source=None):
    """A new run folder in ``root`` holding ``run.json``: ``config``, a digest of the data
    ``X``, ``y``, ``hardware``, what "auto" resolved to (e.g. ``cpu, bf16 autocast``),
    ``source``, the data's name for ``kagdigits runs`` (``"demo"`` or the train file), and
    ``kind``, the model's (:func:`kagdigits.registry.model_kind`)."""
    run_dir = new_run_dir(root, prefix=config.model)
    info = {"config": dataclasses.asdict(config), "data": data_digest(X, y),
            "hardware": hardware, "source": source,
            "kind": model_kind(get_model_class(config.model))}
    with atomic_write(run_dir / RUN_INFO) as f:
        json.dump(info, f, indent=1)
    return run_dir


def _read_info(run_dir):
    path = Path(run_dir) / RUN_INFO
    try:
        info = json.loads(path.read_text())
        return RunConfig.from_dict(info["config"]), info["data"], info.get("hardware")
    except (OSError, ValueError, KeyError, TypeError, KagdigitsError) as exc:
        raise KagdigitsError(f"{path}: cannot be read ({exc}); this run cannot be resumed, "
                             "start a new one") from None


def read_run_config(run_dir):
    """The :class:`RunConfig` saved in ``run_dir``; a one-line error if it cannot be read."""
    return _read_info(run_dir)[0]


def check_same_data(run_dir, X, y):
    """Raise unless ``X``, ``y`` are the data the run in ``run_dir`` started with."""
    if _read_info(run_dir)[1] != data_digest(X, y):
        raise KagdigitsError(f"the training data differ from those run {Path(run_dir).name} "
                             "started with; restore them, or start a new run")


def saved_hardware(run_dir):
    """What "auto" resolved to when the run in ``run_dir`` started (``None``: not saved)."""
    return _read_info(run_dir)[2]


def best_valid_acc(histories):
    """The best ``valid_acc`` of one network's history (a list with one list of dicts), or
    ``None``: also for an ensemble (several histories), whose members each score their own
    validation split, so that no figure of the ensemble itself exists."""
    return best_score(histories[0]) if len(histories) == 1 else None


def _histories(estimator):
    return [net.history.to_list() for net in estimator.networks()]


def _states(run_dir):
    """The folders and files of ``run_dir`` that only resuming needs."""
    run_dir = Path(run_dir)
    return [*run_dir.glob("epoch-[0-9][0-9][0-9][0-9]"), *run_dir.glob("member-[0-9][0-9]"),
            *run_dir.glob("stack-[0-9][0-9]*"),
            *run_dir.glob(".epoch-*.tmp"), run_dir / BEST]


def finish_run(estimator, run_dir):
    """Save the fitted ``estimator`` (its best epoch's weights) as ``<run_dir>/model.kd``,
    record its result and remove the epoch states; return the model file's path."""
    run_dir = Path(run_dir)
    path = save_model(estimator, run_dir / MODEL, overwrite=True)
    histories = _histories(estimator)
    result = {"epochs": sum(len(h) for h in histories), "members": len(histories),
              "valid_acc": None if is_ensemble(estimator) else best_valid_acc(histories),
              "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with atomic_write(run_dir / RESULT, overwrite=True) as f:
        json.dump(result, f, indent=1)
    for state in _states(run_dir):
        if state.is_dir():
            shutil.rmtree(state, ignore_errors=True)
        elif state.exists():
            state.unlink()
    return path


def check_unfinished(run_dir):
    """Raise when the run in ``run_dir`` has finished (there is nothing to resume)."""
    run_dir = Path(run_dir)
    if (run_dir / MODEL).is_file():
        raise KagdigitsError(f"run {run_dir.name} has finished; its model is {run_dir / MODEL} "
                             f"(use it with: kagdigits predict --load {run_dir / MODEL})")


@dataclass
class RunInfo:
    """What ``kagdigits runs`` shows of one run folder."""

    path: Path
    model: str
    started: float
    epochs: int
    state: str
    size: int
    valid_acc: float | None
    is_link: bool = False
    data: str = "-"


def folder_size(path):
    """Bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _unfinished_histories(run_dir):
    folders = (sorted(Path(run_dir).glob("member-[0-9][0-9]"))
               + sorted(Path(run_dir).glob("stack-[0-9][0-9]*"))) or [Path(run_dir)]
    histories = []
    for folder in folders:
        latest = latest_epoch_dir(folder)
        history = _read_json(latest / "history.json") if latest else None
        histories.append(history if isinstance(history, list) else [])
    return histories


def _run_kind(info, model):
    """The kind of model a run trains, as its ``run.json`` says (a run started before it
    said: as the registry says of ``model``)."""
    if isinstance(info, dict) and info.get("kind") in KINDS:
        return info["kind"]
    try:
        return model_kind(get_model_class(model))
    except (KagdigitsError, ValueError, TypeError):
        return "single"


def run_info(run_dir):
    """The :class:`RunInfo` of ``run_dir`` (damaged files count as missing). A symbolic link
    to a run folder is shown as ``link``, with no size (removing it frees nothing). An
    ensemble has no validation accuracy of its own (each member scores its own split)."""
    run_dir = Path(run_dir)
    if run_dir.is_symlink():
        return RunInfo(run_dir, "?", run_dir.lstat().st_mtime, 0, "link", 0, None, True)
    info = _read_json(run_dir / RUN_INFO) or {}
    config = info.get("config") if isinstance(info, dict) else None
    config = config if isinstance(config, dict) else {}
    model = config.get("model", "?")
    data = info.get("source") or config.get("train") or "-" if isinstance(info, dict) else "-"
    result = _read_json(run_dir / RESULT)
    if (run_dir / MODEL).is_file() and isinstance(result, dict):
        epochs, state, valid_acc = result.get("epochs", 0), "finished", result.get("valid_acc")
    else:
        histories = _unfinished_histories(run_dir)
        epochs, valid_acc = sum(len(h) for h in histories), best_valid_acc(histories)
        state = "unfinished" if epochs else "no epoch saved"
    if is_running(run_dir):
        state = "training"
    kaggle = info.get("kaggle") if isinstance(info, dict) else None
    if isinstance(kaggle, dict) and state != "finished":  # trains in a Kaggle kernel
        state = "failed on Kaggle" if kaggle.get("state") in ("error", "cancelled") \
            else "on Kaggle"
    if any(run_dir.glob("member-[0-9][0-9]")) or any(run_dir.glob("stack-[0-9][0-9]*")) \
            or _run_kind(info, model) == "ensemble":
        valid_acc = None
    started = (run_dir / RUN_INFO).stat().st_mtime if (run_dir / RUN_INFO).exists() \
        else run_dir.stat().st_mtime
    return RunInfo(run_dir, model, started, epochs, state, folder_size(run_dir), valid_acc,
                   data=str(data))


def list_runs(root=RUNS_DIR):
    """The :class:`RunInfo` of every run folder in ``root``, oldest first; a symbolic link
    in ``root`` counts as a run (a ``link``) whatever it points to."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [run_info(p) for p in root.iterdir() if not p.name.startswith(".") and (
        p.is_symlink() or p.is_dir() and ((p / RUN_INFO).exists()
                                          or latest_epoch_dir(p) is not None))]
    return sorted(runs, key=lambda r: (r.started, r.path.name))


def parse_age(text):
    """``"7d"``, ``"12h"``, ``"30m"``, ``"2w"``, ``"1.5d"`` -> seconds; a ``KagdigitsError``
    for anything else (``nan``, ``1e400d``, ``1_0d``, non-ASCII digits) and for an age under
    a minute, which would take runs that have only just started."""
    text = str(text).strip()
    match = AGE.fullmatch(text)
    if match is None:
        raise KagdigitsError(f"age {text!r} is not a number with a unit m, h, d or w; "
                             "e.g. 7d (seven days) or 12h")
    seconds = float(match[1]) * UNITS[match[2].lower()]
    if seconds < 60:
        raise KagdigitsError(f"age {text!r} is under a minute and would take runs that have "
                             "only just started; give 1m or more, or use --all")
    return seconds


def remove_runs(runs):
    """Delete the folders of ``runs`` (:class:`RunInfo`; a link: the link only, never what
    it points to) and return the bytes freed. A run being trained (see :func:`hold_run`) is
    not removed: its lock is taken for the removal, so that none can start meanwhile.
    Returns ``(removed, skipped, freed)``: the runs removed, those skipped as in training."""
    removed, skipped, freed = [], [], 0
    for run in runs:
        try:
            if run.is_link:
                run.path.unlink()
            else:
                with hold_run(run.path):
                    shutil.rmtree(run.path)
        except KagdigitsError:
            skipped.append(run)
            continue
        except OSError as exc:
            raise KagdigitsError(f"removed {len(removed)} of {len(runs)} runs, then could not "
                                 f"remove {run.path} ({exc.strerror or exc}); fix it and run "
                                 "the clean again") from None
        removed.append(run)
        freed += run.size
    return removed, skipped, freed
