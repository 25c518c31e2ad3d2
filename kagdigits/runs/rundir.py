"""A run folder as one object: :class:`RunDir` opens (or creates) ``runs/<run-id>/``
once, reads its ``run.json`` once and holds the run's lock from open to close, so that
no ``kagdigits runs clean`` and no second process takes the run while it is used; it
answers what the commands ask (the saved epochs, the state, whether the data are the
run's, finishing and removing it). What the folder holds is described in
:mod:`kagdigits.runs.layout`; ``run.json`` holds a
:class:`~kagdigits.runs.config.RunConfig` and a digest of the training data, so that a
resumed run trains the same model on the same data as the run it continues.
"""

import dataclasses
import difflib
import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np

from kagdigits.errors import KagdigitsError
from kagdigits.files.atomic import WriteError, atomic_write
from kagdigits.registry import get_model_class, is_ensemble, model_kind
from kagdigits.runs.config import RunConfig
from kagdigits.runs.layout import (
    BEST,
    EPOCHS,
    MEMBERS,
    MODEL,
    RESULT,
    RUN_INFO,
    RUNS_DIR,
    STACKS,
    DamagedFile,
    RunState,
    has_saved_work,
    is_finished,
    is_run_dir,
    lock_run,
    new_run_dir,
    read_json,
    saved_epochs,
)
from kagdigits.runs.listing import best_valid_acc
from kagdigits.runs.persist import save_model

#: Seconds :meth:`RunDir.open` waits for the run's lock: a listing holds it for a moment
#: to see whether the run is in use; a training run holds it for good.
OPEN_WAIT = 2.0


def data_digest(X, y):
    """A SHA-256 of the training arrays, to tell whether a resumed run has the same data."""
    digest = hashlib.sha256(np.ascontiguousarray(X).data)
    digest.update(np.ascontiguousarray(y).data)
    return digest.hexdigest()


def find_run_dir(run_id, root=RUNS_DIR):
    """The folder of run ``run_id`` (a name in ``root`` or a path); a clear error if none,
    and for a symbolic link in ``root`` (naming the run it points to)."""
    run_id = str(run_id)
    if not run_id.strip() or run_id != run_id.strip() or not run_id.isprintable():
        raise KagdigitsError(f"{run_id!r} is not a run id; pass the name of a folder in "
                             f"{root}/ (`kagdigits runs` lists them), e.g. lenet5-20240501T100000Z")
    path = Path(run_id)
    if not path.is_dir() or path.is_symlink():
        path = Path(root) / run_id
    if path.is_symlink():
        target = path.resolve()
        hint = (f"resume the run it points to: --resume {target.name}"
                if is_run_dir(target) and target.parent == Path(root).resolve()
                else f"resume the run by its own folder: --resume {target}")
        raise KagdigitsError(f"{path} is a symbolic link, not a run folder; {hint}")
    if is_run_dir(path):
        return path
    runs = sorted(p.name for p in Path(root).glob("*")
                  if is_run_dir(p) and not p.is_symlink()) if Path(root).is_dir() else []
    close = difflib.get_close_matches(run_id, runs, n=3, cutoff=0.5)
    hint = (f"did you mean {', '.join(close)}?" if close
            else f"runs there: {', '.join(runs[-5:])}" if runs else f"{root}/ has no runs")
    raise KagdigitsError(f"no run {run_id!r} in {root}/; {hint}")


def _read_info(path):
    """The checked contents of ``run.json`` in ``path``: a dict whose ``"config"`` is a
    :class:`RunConfig`; a one-line error naming the file if it is not one."""
    file = path / RUN_INFO
    try:
        info = read_json(file)
        if not isinstance(info, dict) or not isinstance(info.get("data"), str | None):
            raise KagdigitsError("not a run description")
        return {**info, "config": RunConfig.from_dict(info.get("config"))}
    except KagdigitsError as exc:
        why = str(exc).removeprefix(f"{file}: cannot be read (").removesuffix(")")
        raise DamagedFile(f"{file}: cannot be read ({why}); this run cannot be resumed, "
                          "start a new one") from None


def _states(run_dir):
    """The folders and files of ``run_dir`` that only resuming needs."""
    return [*run_dir.glob(EPOCHS), *run_dir.glob(MEMBERS), *run_dir.glob(STACKS),
            *run_dir.glob(".epoch-*.tmp"), run_dir / BEST]


class RunDir:
    """An open run folder: its ``run.json`` read, its lock held until :meth:`close`.

    Make one with :meth:`create` (a new run), :meth:`open` (a run to resume) or
    :meth:`latest`; use it as a context manager, or :meth:`close` it.

    Attributes
    ----------
    path : Path
        The folder.
    config : RunConfig
        How the run was started.
    info : dict
        The rest of ``run.json``: ``data`` (the digest of the training data; ``None`` for a
        run trained elsewhere),
        ``hardware`` (what "auto" resolved to), ``source`` (the data's name).
    """

    def __init__(self, path, info, lock):
        self.path = Path(path)
        self.config = info["config"]
        self.info = info
        self._lock = lock

    @classmethod
    def create(cls, config, X, y, hardware=None, root=RUNS_DIR, source=None):
        """A new run folder in ``root`` holding ``run.json``: ``config``, a digest of the data
        ``X``, ``y``, ``hardware`` (what "auto" resolved to, e.g. ``cpu, bf16 autocast``)
        ``source``, the data's name for ``kagdigits runs`` (``"demo"`` or the train file),
        and ``kind``, the model's (:func:`kagdigits.registry.model_kind`); opened (locked)
        at once."""
        path = new_run_dir(root, prefix=config.model)
        lock = lock_run(path)
        info = {"config": dataclasses.asdict(config), "data": data_digest(X, y),
                "hardware": hardware, "source": source,
                "kind": model_kind(get_model_class(config.model))}
        try:
            with atomic_write(path / RUN_INFO) as f:
                json.dump(info, f, indent=1)
        except WriteError as exc:
            lock.release()
            shutil.rmtree(path, ignore_errors=True)
            raise KagdigitsError(f"{exc}; nothing was trained: free disk space or fix the "
                                 "folder, then run again") from None
        return cls(path, {**info, "config": config}, lock)

    @classmethod
    def open(cls, run_id, root=RUNS_DIR, wait=OPEN_WAIT):
        """The unfinished run ``run_id`` (a name in ``root`` or a path), locked, to resume;
        a one-line error when it is in use, has finished or its ``run.json`` is damaged."""
        path = find_run_dir(run_id, root)
        lock = lock_run(path, wait)
        try:
            if not is_run_dir(path):  # removed before the lock was taken
                raise KagdigitsError(f"run {path.name} was removed meanwhile; start a new run")
            if is_finished(path):
                raise KagdigitsError(f"run {path.name} has finished; its model is "
                                     f"{path / MODEL} (use it with: kagdigits predict "
                                     f"--load {path / MODEL})")
            return cls(path, _read_info(path), lock)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def latest(cls, command, root=RUNS_DIR):
        """The newest unfinished run started by ``kagdigits <command>`` that no process
        uses, opened; runs whose ``run.json`` is damaged are passed over."""
        root = Path(root)
        candidates = [p for p in root.iterdir() if not p.is_symlink() and is_run_dir(p)
                      and has_saved_work(p) and not is_finished(p)] if root.is_dir() else []
        candidates.sort(key=lambda p: ((p / RUN_INFO).stat().st_mtime
                                       if (p / RUN_INFO).exists() else 0, p.name))
        for path in reversed(candidates):
            try:
                run = cls.open(path, root, wait=0)
            except KagdigitsError:
                continue
            if run.config.command == command:
                return run
            run.close()
        raise KagdigitsError(f"no unfinished `kagdigits {command}` run in {root}/ to resume; "
                             "`kagdigits runs` lists the runs")

    @property
    def name(self):
        """The run id."""
        return self.path.name

    @property
    def is_open(self):
        """Whether this object holds the run's lock."""
        return self._lock is not None

    @property
    def latest_epoch(self):
        """How many epochs the run has checkpointed (0 if none)."""
        return saved_epochs(self.path)

    @property
    def state(self):
        """The run's :class:`~kagdigits.runs.layout.RunState` as seen from here."""
        if is_finished(self.path):
            return RunState.FINISHED
        return RunState.UNFINISHED if has_saved_work(self.path) else RunState.NO_EPOCH

    @property
    def hardware(self):
        """What "auto" resolved to when the run started (``None``: not saved)."""
        return self.info.get("hardware")

    def check_data(self, X, y):
        """Raise unless ``X``, ``y`` are the data the run started with."""
        if self.info["data"] != data_digest(X, y):
            raise KagdigitsError(f"the training data differ from those run {self.name} "
                                 "started with; restore them, or start a new run")

    def finish(self, estimator):
        """Save the fitted ``estimator`` (its best epoch's weights) as ``model.kd``, record
        its result and remove the epoch states; return the model file's path. A write that
        fails keeps the epoch states (the run stays resumable)."""
        histories = [net.history.to_list() for net in estimator.networks()]
        result = {"epochs": sum(len(h) for h in histories), "members": len(histories),
                  "valid_acc": None if is_ensemble(estimator) else best_valid_acc(histories),
                  "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with atomic_write(self.path / RESULT, overwrite=True) as f:
            json.dump(result, f, indent=1)
        path = save_model(estimator, self.path / MODEL, overwrite=True)
        for state in _states(self.path):
            if state.is_dir():
                shutil.rmtree(state, ignore_errors=True)
            elif state.exists():
                state.unlink()
        return path

    def remove(self):
        """Delete the run folder (its lock still held, then released)."""
        shutil.rmtree(self.path, ignore_errors=True)
        self.close()

    def close(self):
        """Release the run's lock (its file is kept); closing twice does nothing."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"RunDir({str(self.path)!r}, {'open' if self.is_open else 'closed'})"
