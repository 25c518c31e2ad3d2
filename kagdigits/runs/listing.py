"""Listing the runs of a folder (``kagdigits runs``) and removing them (``runs clean``),
from what their files say: ``run.json``, ``result.json``, the latest epoch's history.
Imports no torch, so the listing answers at once."""

import shutil
from dataclasses import dataclass
from pathlib import Path

from kagdigits.errors import KagdigitsError
from kagdigits.files import locks
from kagdigits.registry import KINDS
from kagdigits.runs.layout import (
    LOCK,
    MEMBERS,
    RESULT,
    RUN_INFO,
    RUNS_DIR,
    STACKS,
    DamagedFile,
    RunState,
    busy_message,
    is_finished,
    is_run_dir,
    is_running,
    latest_epoch_dir,
    read_json,
)


@dataclass
class RunInfo:
    """What ``kagdigits runs`` shows of one run folder."""

    path: Path
    model: str
    started: float
    epochs: int
    state: RunState
    size: int
    valid_acc: float | None
    is_link: bool = False
    data: str = "-"
    command: str | None = None
    is_ensemble: bool = False
    problem: str | None = None


def folder_size(path):
    """Bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _json_or_none(path):
    try:
        return read_json(path)
    except DamagedFile:
        return None


def best_valid_acc(histories):
    """The best ``valid_acc`` of one network's history (a list with one list of dicts), or
    ``None``: also for an ensemble (several histories), whose members each score their own
    validation split, so that no figure of the ensemble itself exists."""
    if len(histories) != 1:
        return None
    scores = [e["valid_acc"] for e in histories[0] if isinstance(e, dict)
              and isinstance(e.get("valid_acc"), int | float)]
    return max(scores) if scores else None


def _unfinished_histories(run_dir):
    folders = (sorted(Path(run_dir).glob(MEMBERS))
               + sorted(Path(run_dir).glob(STACKS))) or [Path(run_dir)]
    histories = []
    for folder in folders:
        latest = latest_epoch_dir(folder)
        history = _json_or_none(latest / "history.json") if latest else None
        histories.append(history if isinstance(history, list) else [])
    return histories


def _run_json(run_dir):
    """``(info, problem)``: the dict of ``run.json`` (empty if damaged) and, when it is
    damaged, the one line saying so."""
    try:
        info = read_json(run_dir / RUN_INFO)
    except DamagedFile as exc:
        return {}, str(exc) if (run_dir / RUN_INFO).exists() else None
    config = info.get("config") if isinstance(info, dict) else None
    if not isinstance(config, dict):
        return {}, f"{run_dir / RUN_INFO}: cannot be read (not a run description)"
    return info, None


def _text(value, default):
    return value if isinstance(value, str) and value.isprintable() else default


def _run_kind(info, model, run_dir):
    """The kind of model a run trains (:data:`kagdigits.registry.KINDS`), as its
    ``run.json`` says; for a run started before it said, from its folders (an ensemble's
    ``member-NN``, ``stack-NN...``) or its model's name, without importing the models."""
    if info.get("kind") in KINDS:
        return info["kind"]
    if model == "ensemble" or any(run_dir.glob(MEMBERS)) or any(run_dir.glob(STACKS)):
        return "ensemble"
    return "single"


def run_info(run_dir):
    """The :class:`RunInfo` of ``run_dir``. A symbolic link to a run folder is shown as
    ``link``, with no size (removing it frees nothing); a run whose ``run.json`` is damaged
    as ``damaged``, with its ``problem``. An ensemble (``run.json``'s ``kind``, else its
    member folders or its model's name) has no validation accuracy of its own."""
    run_dir = Path(run_dir)
    if run_dir.is_symlink():
        return RunInfo(run_dir, "?", run_dir.lstat().st_mtime, 0, RunState.LINK, 0, None, True)
    info, problem = _run_json(run_dir)
    config = info.get("config", {})
    model = _text(config.get("model"), "?")
    data = _text(info.get("source") or config.get("train"), "-")
    result = _json_or_none(run_dir / RESULT)
    if is_finished(run_dir) and isinstance(result, dict):
        epochs, state = result.get("epochs", 0), RunState.FINISHED
        valid_acc = result.get("valid_acc")
    else:
        histories = _unfinished_histories(run_dir)
        epochs, valid_acc = sum(len(h) for h in histories), best_valid_acc(histories)
        state = RunState.UNFINISHED if epochs else RunState.NO_EPOCH
    if problem:
        state = RunState.DAMAGED
    if is_running(run_dir):
        state = RunState.TRAINING
    kaggle = info.get("kaggle")
    if isinstance(kaggle, dict) and state != RunState.FINISHED:  # trains in a Kaggle kernel
        state = (RunState.FAILED_ON_KAGGLE if kaggle.get("state") in ("error", "cancelled")
                 else RunState.ON_KAGGLE)
    ensemble = _run_kind(info, model, run_dir) == "ensemble"
    if ensemble or not isinstance(valid_acc, int | float):
        valid_acc = None
    started = ((run_dir / RUN_INFO) if (run_dir / RUN_INFO).exists() else run_dir).stat().st_mtime
    return RunInfo(run_dir, model, started, epochs if isinstance(epochs, int) else 0, state,
                   folder_size(run_dir), valid_acc, data=data,
                   command=_text(config.get("command"), None), is_ensemble=ensemble,
                   problem=problem)


def list_runs(root=RUNS_DIR):
    """The :class:`RunInfo` of every run folder in ``root``, oldest first; a symbolic link
    in ``root`` counts as a run (a ``link``) whatever it points to."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [run_info(p) for p in root.iterdir() if not p.name.startswith(".")
            and (p.is_symlink() or is_run_dir(p))]
    return sorted(runs, key=lambda r: (r.started, r.path.name))


def remove_runs(runs):
    """Delete the folders of ``runs`` (:class:`RunInfo`; a link: the link only, never what
    it points to). A run whose lock a process holds (training it, or resuming it) is not
    removed: its lock is taken for the removal, so that none can start meanwhile.
    Returns ``(removed, skipped, freed)``: the runs removed, those skipped as in use, and
    the bytes freed."""
    removed, skipped, freed = [], [], 0
    for run in runs:
        try:
            if run.is_link:
                run.path.unlink()
            else:
                with locks.hold(run.path / LOCK, wait=0, busy=busy_message(run.path)):
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
