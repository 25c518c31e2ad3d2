"""Run folders after training: a finished run keeps its model as a ``.kd`` file and drops
the epoch states; listing runs and removing them.

A finished run folder holds::

    runs/<run-id>/
      run.json      how the run was started
      model.kd      the trained model (best epoch's weights), for ``predict --load`` and ``serve``
      result.json   epochs run, best validation accuracy, when it finished

An unfinished run (interrupted, or still training) keeps its ``epoch-NNNN/`` state (and
an ensemble its ``member-NN/`` folders) so that ``--resume`` can continue it.
"""

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from kagdigits.errors import KagdigitsError
from kagdigits.files.atomic import atomic_write
from kagdigits.models import is_ensemble
from kagdigits.runs.checkpoints import BEST, RUN_INFO, RUNS_DIR, latest_epoch_dir
from kagdigits.runs.persist import save_model

MODEL = "model.kd"
RESULT = "result.json"
#: ``--older-than`` units, in seconds.
UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def best_valid_acc(histories):
    """The best ``valid_acc`` of one network's history (a list with one list of dicts), or
    ``None``: also for an ensemble (several histories), whose members each score their own
    validation split, so that no figure of the ensemble itself exists."""
    if len(histories) != 1:
        return None
    values = [row["valid_acc"] for row in histories[0] if row.get("valid_acc") is not None]
    return max(values) if values else None


def _histories(estimator):
    members = estimator.members_ if is_ensemble(estimator) else [estimator]
    return [member.history.to_list() for member in members]


def _states(run_dir):
    """The folders and files of ``run_dir`` that only resuming needs."""
    run_dir = Path(run_dir)
    return [*run_dir.glob("epoch-[0-9][0-9][0-9][0-9]"), *run_dir.glob("member-[0-9][0-9]"),
            *run_dir.glob(".epoch-*.tmp"), run_dir / BEST]


def finish_run(estimator, run_dir):
    """Save the fitted ``estimator`` (its best epoch's weights) as ``<run_dir>/model.kd``,
    record its result and remove the epoch states; return the model file's path."""
    run_dir = Path(run_dir)
    path = save_model(estimator, run_dir / MODEL, overwrite=True)
    histories = _histories(estimator)
    result = {"epochs": sum(len(h) for h in histories), "members": len(histories),
              "valid_acc": best_valid_acc(histories),
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


def folder_size(path):
    """Bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _unfinished_histories(run_dir):
    folders = sorted(Path(run_dir).glob("member-[0-9][0-9]")) or [Path(run_dir)]
    histories = []
    for folder in folders:
        latest = latest_epoch_dir(folder)
        history = _read_json(latest / "history.json") if latest else None
        histories.append(history if isinstance(history, list) else [])
    return histories


def run_info(run_dir):
    """The :class:`RunInfo` of ``run_dir`` (damaged files count as missing)."""
    run_dir = Path(run_dir)
    info = _read_json(run_dir / RUN_INFO) or {}
    config = info.get("config") if isinstance(info, dict) else None
    model = config.get("model", "?") if isinstance(config, dict) else "?"
    result = _read_json(run_dir / RESULT)
    if (run_dir / MODEL).is_file() and isinstance(result, dict):
        epochs, state, valid_acc = result.get("epochs", 0), "finished", result.get("valid_acc")
    else:
        histories = _unfinished_histories(run_dir)
        epochs, valid_acc = sum(len(h) for h in histories), best_valid_acc(histories)
        state = "unfinished" if epochs else "no epoch saved"
    started = (run_dir / RUN_INFO).stat().st_mtime if (run_dir / RUN_INFO).exists() \
        else run_dir.stat().st_mtime
    return RunInfo(run_dir, model, started, epochs, state, folder_size(run_dir), valid_acc)


def list_runs(root=RUNS_DIR):
    """The :class:`RunInfo` of every run folder in ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [run_info(p) for p in root.iterdir()
            if p.is_dir() and not p.name.startswith(".")
            and ((p / RUN_INFO).exists() or latest_epoch_dir(p) is not None)]
    return sorted(runs, key=lambda r: (r.started, r.path.name))


def parse_age(text):
    """``"7d"``, ``"12h"``, ``"30m"``, ``"2w"`` -> seconds; a ``KagdigitsError`` otherwise."""
    text = str(text).strip()
    number, unit = text[:-1], text[-1:].lower()
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in UNITS or value < 0:
        raise KagdigitsError(f"age {text!r} is not a number with a unit m, h, d or w; "
                             "e.g. 7d (seven days) or 12h")
    return value * UNITS[unit]


def remove_runs(runs):
    """Delete the folders of ``runs`` (:class:`RunInfo`); return the bytes freed."""
    freed = 0
    for run in runs:
        shutil.rmtree(run.path)
        freed += run.size
    return freed
