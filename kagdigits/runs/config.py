"""A run's configuration and the estimator it builds.

A :class:`RunConfig` (the command, the model and its parameters, the files it reads and
writes) is saved in the run folder's ``run.json`` (see :mod:`kagdigits.runs.rundir`), so
that a resumed run trains the same model as the run it continues.
"""

import dataclasses

from kagdigits.errors import KagdigitsError
from kagdigits.models.device import resolve_device
from kagdigits.models.params import make_estimator


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
        """The estimator this run trains, its device and parameters checked now (see
        :func:`kagdigits.models.params.make_estimator`), before any data are read.

        Raises
        ------
        ParameterError
            A parameter name or value the estimator refuses.
        """
        resolve_device(self.device)  # fail early and clearly on an unusable device
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
        for name, value in values.items():
            if not _KINDS[name](value):
                raise KagdigitsError(f"its {name} is {repr(value)[:40]}, not a valid {name}")
        return cls(**values)


def _text(value):
    return isinstance(value, str) and value.isprintable()


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


#: What each field of a saved :class:`RunConfig` may hold.
_KINDS = {
    "command": _text, "model": _text, "device": _text,
    "params": lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
    "epochs": lambda v: v is None or _whole(v) and v >= 1,
    "seed": lambda v: _whole(v) and v >= 0,
    **{name: lambda v: v is None or _text(v) for name in ("train", "test", "out", "save")},
}
