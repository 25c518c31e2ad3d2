"""A run's configuration, saved as ``run.json`` in its folder so that it can be resumed.

``run.json`` holds a :class:`RunConfig` (the command, the model and its parameters,
the files it read and writes) and a digest of the training data, so that a resumed
run trains the same model on the same data as the run it continues.
"""

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from kagdigits.errors import KagdigitsError
from kagdigits.files.atomic import atomic_write
from kagdigits.models.params import make_estimator
from kagdigits.runs.checkpoints import RUN_INFO, new_run_dir


@dataclasses.dataclass
class RunConfig:
    """How a training run was started.

    Parameters
    ----------
    command : str
        What started it (``"submission"``, ``"fit"``); a run resumes only by the same.
    model : str, default="lenet5"
        The registered model name.
    params : dict, default={}
        Estimator parameters set on the model (``set_params``).
    epochs : int or None, default=None
        ``max_epochs`` (``None``: the model's own).
    device : str, default="auto"
    seed : int, default=0
        The estimator's ``random_state``.
    train, test, out, save : str or None, default=None
        The files the run reads and the places it writes (``None``: the command's default).
    """

    command: str
    model: str = "lenet5"
    params: dict = dataclasses.field(default_factory=dict)
    epochs: int | None = None
    device: str = "auto"
    seed: int = 0
    train: str | None = None
    test: str | None = None
    out: str | None = None
    save: str | None = None

    def make_estimator(self, **overrides):
        """The estimator this run trains, its parameters checked (see
        :func:`kagdigits.models.params.make_estimator`)."""
        params = {**self.params, **overrides}
        if self.epochs is not None:
            params["max_epochs"] = self.epochs
        return make_estimator(self.model, params, device=self.device, random_state=self.seed)

    @classmethod
    def from_dict(cls, values):
        """The config ``values`` (as saved) describe; a ``KagdigitsError`` if it is not one."""
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(values, dict) or "command" not in values or set(values) - names:
            raise KagdigitsError("not a run configuration")
        return cls(**values)


def data_digest(X, y):
    """A SHA-256 of the training arrays, to tell whether a resumed run has the same data."""
    digest = hashlib.sha256(np.ascontiguousarray(X).data)
    digest.update(np.ascontiguousarray(y).data)
    return digest.hexdigest()


def start_run(config, X, y, hardware=None, root="runs"):
    """A new run folder in ``root`` holding ``run.json``: ``config``, a digest of the data
    ``X``, ``y`` and ``hardware``, what "auto" resolved to (e.g. ``cpu, bf16 autocast``)."""
    run_dir = new_run_dir(root, prefix=config.model)
    info = {"config": dataclasses.asdict(config), "data": data_digest(X, y),
            "hardware": hardware}
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
