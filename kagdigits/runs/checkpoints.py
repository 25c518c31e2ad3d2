"""The checkpoint callback: every epoch's state saved in a run folder, and restored to resume.

:class:`RunCheckpoint` writes into a run folder (:mod:`kagdigits.runs.layout`)::

    runs/<run-id>/
      best.safetensors      weights of the epoch with the best validation loss so far
      epoch-0007/           all that is needed to continue after epoch 7 (the latest only)
        tensors.safetensors   network and loss weights, callback tensors, RNG states
        optimizer.pt          optimizer state (read back with torch.load(weights_only=True))
        history.json          the skorch history
        state.json            the callbacks' plain state (LR scheduler, early stopping,
                              best scores) and the fp16 loss scaler's

Each epoch folder is filled under a temporary name and renamed into place, so a crash
at any moment leaves the previous epoch intact. Every fit gets its own folder, so
parallel fits (``GridSearchCV(n_jobs=2)``) never share files.

Why not skorch's ``Checkpoint`` + ``LoadInitState`` alone: ``Checkpoint`` writes files in
place under fixed names and swallows errors while saving; ``LoadInitState`` loads after
the default callbacks have started from an empty history, and neither saves callback
or random-number state. A run resumed that way trains on, but records the wrong learning
rate, restarts early stopping's patience and best-loss tracking, and draws different
shuffles and dropout masks, so it ends differently from an uninterrupted run.
:class:`RunCheckpoint` restores all of that: a resumed run equals an uninterrupted one.
"""

import io
import json
import pickle
import shutil
import threading
from pathlib import Path

import torch
from safetensors import SafetensorError
from skorch.callbacks import Callback
from skorch.history import History

from kagdigits.errors import KagdigitsError
from kagdigits.files.atomic import WriteError, atomic_dir, atomic_write
from kagdigits.models.ensemble import MemberCallbacks
from kagdigits.runs.callback_state import json_default, object_state, restore_object
from kagdigits.runs.layout import (
    BEST,
    latest_epoch_dir,
    new_run_dir,
    remove_leftovers,
    saved_epochs,
)
from kagdigits.runs.persist import load_trained_state, save_trained_state
from kagdigits.runs.tensors import read_tensors, write_tensors

#: A trained ensemble member in its ``member-NN/`` folder (see :class:`MemberCheckpoints`).
MEMBER = "member.safetensors"
#: Set by the first Ctrl-C while :func:`kagdigits.runs.fitting.stop_on_sigint` is active;
#: :class:`StopOnRequest` then stops training after the current batch.
STOP = threading.Event()


class TrainingInterrupted(KagdigitsError):
    """Training was stopped by Ctrl-C; the run folder holds the last finished epoch."""

    exit_code = 130


class CheckpointError(KagdigitsError):
    """A checkpoint file is damaged: the run cannot be resumed."""


class CheckpointSaveError(KagdigitsError, OSError):
    """A checkpoint could not be written (e.g. a full disk); the previous one is kept."""


#: What reading a damaged checkpoint file raises (safetensors, JSON, torch.load, pickle).
DAMAGED = (OSError, EOFError, ValueError, KeyError, TypeError, IndexError, AttributeError,
           RuntimeError, pickle.UnpicklingError, SafetensorError)


def interrupted(run_dir, hint=""):
    """The :class:`TrainingInterrupted` for a stop after the last epoch saved in ``run_dir``."""
    return TrainingInterrupted(f"training stopped by Ctrl-C after {saved_epochs(run_dir)} "
                               f"finished epoch(s); checkpoints are in {run_dir}{hint}")


def _torch_bytes(value):
    """``torch.save(value)`` as bytes: written to the file in one call, so that a full disk is
    the system's error naming the file, not torch's "unexpected pos" from its zip writer."""
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _rng_tensors():
    tensors = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update({f"rng.cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return tensors


def _restore_rng(tensors):
    torch.set_rng_state(tensors["rng.cpu"].cpu())
    cuda = [tensors[f"rng.cuda{i}"].cpu() for i in range(len(tensors))
            if f"rng.cuda{i}" in tensors]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


class RunCheckpoint(Callback):
    """Checkpoint every epoch into a run folder, and resume from it.

    After every epoch it saves, in ``<run>/epoch-NNNN/``, the network, optimizer,
    history, the other callbacks' state (learning-rate scheduler, early stopping, best
    scores) and the random-number generators' state, and keeps only the newest epoch
    folder; it also saves the weights of the best epoch so far (``monitor``) in
    ``<run>/best.safetensors``. With ``resume=True`` it restores all of that when
    training begins, so that continuing gives exactly the run that was interrupted.
    A kagdigits estimator then trains only the remaining epochs (``resumed_epochs_``
    tells it how many were restored).

    Parameters
    ----------
    dirname : str or Path or None, default=None
        The run folder. ``None``: a new ``runs/run-<time>-<random>/`` for every fit,
        so that parallel fits never share files.
    resume : bool, default=False
        Continue from the newest epoch saved in ``dirname`` (from the start if none).
    monitor : str, default="valid_loss_best"
        History key that marks the best epoch (ignored when it is missing, e.g.
        without a validation split).
    """

    def __init__(self, dirname=None, resume=False, monitor="valid_loss_best"):
        self.dirname = dirname
        self.resume = resume
        self.monitor = monitor

    def initialize(self):
        self.dirname_ = None if self.dirname is None else Path(self.dirname)
        self.resumed_epochs_ = 0
        return self

    def _others(self, net):
        return [(name, cb) for name, cb in net.callbacks_ if cb is not self]

    def on_train_begin(self, net, **kwargs):
        if self.dirname_ is None:
            self.dirname_ = new_run_dir()
        self.dirname_.mkdir(parents=True, exist_ok=True)
        latest = latest_epoch_dir(self.dirname_)
        if latest is not None and not self.resume:
            raise KagdigitsError(f"{self.dirname_} already holds checkpoints; resume it or "
                                 "use a new run folder")
        if latest is not None:
            remove_leftovers(self.dirname_)
            self._restore(net, latest)
            self.resumed_epochs_ = len(net.history)

    def _restore(self, net, folder):
        """Restore everything from ``folder``; a one-line error naming a damaged file."""
        device = next(net.module_.parameters()).device
        path = folder / "tensors.safetensors"
        try:
            tensors = read_tensors(path, device)
            net.module_.load_state_dict(
                {k[7:]: v for k, v in tensors.items() if k.startswith("module.")})
            net.criterion_.load_state_dict(
                {k[10:]: v for k, v in tensors.items() if k.startswith("criterion.")})
            path = folder / "optimizer.pt"
            net.optimizer_.load_state_dict(torch.load(path, map_location=device,
                                                      weights_only=True))
            path = folder / "history.json"
            history = json.loads(path.read_text())
            if not (isinstance(history, list) and all(isinstance(e, dict) for e in history)):
                raise ValueError("not a list of epochs")
            net.history = History(history)
            path = folder / "state.json"
            state = json.loads(path.read_text())
            restore_object(net, state["net"], tensors)
            for name, callback in self._others(net):
                if name in state["callbacks"]:
                    restore_object(callback, state["callbacks"][name], tensors)
            path = folder / "tensors.safetensors"
            _restore_rng(tensors)
        except DAMAGED as exc:
            if isinstance(exc, KagdigitsError):
                raise
            raise _damaged(path, exc) from None

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        tensors = {}
        state = {"epoch": epoch, "net": object_state(net, "net", tensors, plain=False),
                 "callbacks": {name: object_state(cb, f"callbacks.{i}", tensors)
                               for i, (name, cb) in enumerate(self._others(net))}}
        tensors.update({f"module.{k}": v for k, v in net.module_.state_dict().items()})
        tensors.update({f"criterion.{k}": v for k, v in net.criterion_.state_dict().items()})
        tensors.update(_rng_tensors())
        previous = latest_epoch_dir(self.dirname_)
        target = self.dirname_ / f"epoch-{epoch:04d}"
        try:
            if net.history[-1].get(self.monitor):
                write_tensors(self.dirname_ / BEST, net.module_.state_dict(), overwrite=True)
            with atomic_dir(target) as folder:
                write_tensors(folder / "tensors.safetensors", tensors)
                with atomic_write(folder / "optimizer.pt", "wb") as f:
                    f.write(_torch_bytes(net.optimizer_.state_dict()))
                with atomic_write(folder / "history.json") as f:
                    json.dump(net.history.to_list(), f, default=json_default)
                with atomic_write(folder / "state.json") as f:
                    json.dump(state, f)
        except OSError as exc:
            if isinstance(exc, KagdigitsError) and not isinstance(exc, WriteError):
                raise
            raise CheckpointSaveError(
                f"cannot save the checkpoint of epoch {epoch} in {target} "
                f"({exc.strerror or exc}); "
                + (f"the run keeps epoch {epoch - 1}" if epoch > 1 else "no epoch is saved yet")
                + ": free disk space or fix the folder") from None
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)


class StopOnRequest(Callback):
    """Ends training after the current batch once Ctrl-C asked for it (:data:`STOP`),
    raising :class:`TrainingInterrupted` naming the run folder ``run_dir`` and the epochs
    saved there. It comes after the run's :class:`RunCheckpoint` (:func:`run_callbacks`),
    so an epoch that has ended is saved first."""

    def __init__(self, run_dir):
        self.run_dir = run_dir

    def on_batch_end(self, net, **kwargs):
        if STOP.is_set():
            raise interrupted(self.run_dir)

    def on_epoch_end(self, net, **kwargs):
        self.on_batch_end(net)


def run_callbacks(run_dir, resume=False):
    """The ``(name, callback)`` pairs a fit in ``run_dir`` runs: a :class:`RunCheckpoint`
    (resuming when ``resume``), then :class:`StopOnRequest`."""
    return [("run_checkpoint", RunCheckpoint(run_dir, resume=resume)),
            ("stop_on_request", StopOnRequest(run_dir))]


def _damaged(path, exc):
    detail = " ".join(str(exc).split())[:120] or type(exc).__name__
    return CheckpointError(f"{path}: the checkpoint is damaged ({detail}), so this run cannot "
                           f"be resumed; start the run again (without --resume), or delete "
                           f"{path.parent} to resume from nothing")


class MemberCheckpoints(MemberCallbacks):
    """An ensemble's ``member_callbacks``: checkpoints in ``run_dir``, resumed when ``resume``.

    A lone member ``i`` checkpoints in ``member-<i + 1>/`` (two digits); a stack of members
    in ``stack-<i + 1>-<j + 1>-.../``, one :class:`RunCheckpoint` for all of them (each epoch
    saved for all its members at once, or not at all). A trained member comes back to this
    process (from a joblib or Dask worker too) and is saved as
    ``member-<i + 1>/member.safetensors``; resuming loads it instead of training the member
    again, and a stack with a checkpoint continues from it. After a Ctrl-C nothing
    unfinished is saved as finished.
    """

    def __init__(self, run_dir, resume=False):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.resume = resume

    def folder(self, index):
        return self.run_dir / f"member-{index + 1:02d}"

    def stack_folder(self, indices):
        return self.run_dir / ("stack-" + "-".join(f"{i + 1:02d}" for i in indices))

    def __call__(self, index):
        return run_callbacks(self.folder(index), self.resume)

    def stack_callbacks(self, indices):
        """The stack's :func:`run_callbacks`; a one-line error for a member checkpointed
        alone by an older kagdigits, which a stack cannot continue."""
        for i in indices:
            epochs = saved_epochs(self.folder(i))
            if self.resume and epochs:
                raise CheckpointError(
                    f"{self.folder(i)} holds member {i + 1}'s own checkpoint (epoch {epochs}, "
                    "saved by an older kagdigits), which a stack of members cannot continue: "
                    "resume with --set stack_size=None to train the members one at a time, "
                    "or start the run again without --resume")
        return run_callbacks(self.stack_folder(indices), self.resume)

    def saved_stacks(self):
        """The member indices of each stack with a checkpoint, when resuming."""
        if not self.resume:
            return []
        return [[int(part) - 1 for part in folder.name.split("-")[1:]]
                for folder in sorted(self.run_dir.glob("stack-*")) if saved_epochs(folder)]

    def finished(self, index, member):
        """Save the trained ``member`` (index ``index``) in its folder, atomically; after a
        Ctrl-C (a second one ends skorch's fit early, as if done) raise instead."""
        if STOP.is_set():
            folders = [*self.run_dir.glob("stack-*"), *self.run_dir.glob("member-*")]
            epochs = max((saved_epochs(folder) for folder in folders), default=0)
            raise TrainingInterrupted(
                f"training stopped by Ctrl-C after {epochs} finished epoch(s); checkpoints "
                f"are in {self.run_dir} (no unfinished member was saved as finished)")
        folder = self.folder(index)
        folder.mkdir(parents=True, exist_ok=True)
        save_trained_state(member, folder / MEMBER)
        for epoch in folder.glob("epoch-[0-9][0-9][0-9][0-9]"):
            shutil.rmtree(epoch)
        (folder / BEST).unlink(missing_ok=True)

    def stack_finished(self, indices):
        """Remove the checkpoints of the stack of members ``indices``, all saved now."""
        shutil.rmtree(self.stack_folder(indices), ignore_errors=True)

    def restored(self, index, member):
        """The unfitted ``member`` (index ``index``) given the trained state that
        :meth:`finished` saved, when resuming; else ``None``."""
        path = self.folder(index) / MEMBER
        return load_trained_state(member, path) if self.resume and path.exists() else None
