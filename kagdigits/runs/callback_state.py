"""The plain state of a skorch net's and its callbacks' learned attributes (names ending in
``_``), found by reflection, as JSON and tensors for a checkpoint, and put back: the LR
scheduler's, early stopping's, the best scores', the fp16 loss scaler's.
:class:`~kagdigits.runs.checkpoints.RunCheckpoint` saves and restores it every epoch."""

import contextlib
import json

import numpy as np
import torch


def json_default(value):
    """``json.dump``'s ``default``: numpy scalars as Python numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _plain(value):
    """``value`` as a JSON value if it is a plain scalar, else ``...``."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return ...


def _is_tensor_dict(value):
    return (isinstance(value, dict) and value
            and all(isinstance(v, torch.Tensor) for v in value.values()))


def object_state(obj, prefix, tensors, plain=True):
    """The JSON state of ``obj``'s learned attributes (names ending in ``_``).

    Plain scalars go to JSON; dicts of tensors (early stopping's best weights) into
    ``tensors`` under ``prefix``; objects with a JSON-able ``state_dict()`` (LR schedulers,
    the fp16 GradScaler) to JSON. ``plain=False``: only the ``state_dict()`` objects.
    Networks and optimizers are left out (they are saved whole).
    """
    saved = {"plain": {}, "state_dicts": {}, "tensors": {}}
    for attr, value in vars(obj).items():
        if (not attr.endswith("_") or attr.startswith("_")
                or isinstance(value, torch.nn.Module | torch.optim.Optimizer)):
            continue
        if plain and (scalar := _plain(value)) is not ...:
            saved["plain"][attr] = scalar
        elif plain and _is_tensor_dict(value):
            saved["tensors"][attr] = f"{prefix}.{attr}."
            tensors.update({f"{prefix}.{attr}.{k}": v for k, v in value.items()})
        elif callable(getattr(value, "state_dict", None)):
            with contextlib.suppress(TypeError, ValueError):
                saved["state_dicts"][attr] = json.loads(json.dumps(value.state_dict()))
    return saved


def restore_object(obj, saved, tensors):
    """Put the state :func:`object_state` saved (``saved``, with its ``tensors``) back on
    ``obj``."""
    for attr, value in saved["plain"].items():
        setattr(obj, attr, value)
    for attr, state_dict in saved["state_dicts"].items():
        target = getattr(obj, attr, None)
        if target is not None:
            target.load_state_dict(state_dict)
    for attr, prefix in saved["tensors"].items():
        setattr(obj, attr, {k[len(prefix):]: v for k, v in tensors.items()
                            if k.startswith(prefix)})
