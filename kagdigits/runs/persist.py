"""Saving fitted estimators as ``.kd`` files and loading them, without pickle.

A ``.kd`` file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file: the
network's weights as tensors and, in its metadata, the estimator's registry name and
the parameters that differ from that estimator's defaults, its ``classes_`` and what
``fit`` learnt of its input (``n_features_in_``, ``feature_names_in_``, the input shape
the network was sized to), as JSON. Only plain values
(numbers, strings, booleans, lists, dicts) are stored, plus the optimizer and loss
classes by name (``torch.optim.*``, ``torch.nn.*`` losses). Loading reads JSON and raw
tensors only, so a file cannot run code; a pickle, a ``torch.save`` file or a name
outside those lists is refused. Weights are stored on the CPU, so a model trained on a
GPU loads on a machine without one.
"""

import json
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from kagdigits.errors import InputError, KagdigitsError
from kagdigits.models import REGISTRY
from kagdigits.models.params import ParameterError, non_default_params
from kagdigits.registry import registered_name
from kagdigits.runs.tensors import read_header, read_tensors, write_tensors

FORMAT = "kagdigits-model"
#: The ``format`` of an ensemble member's trained state (:func:`save_trained_state`).
STATE_FORMAT = "kagdigits-trained-state"
VERSION = "1"
#: Parameters never stored: training aids (callbacks, an ensemble's member checkpoints),
#: and the device (chosen when loading).
NOT_STORED = ("callbacks", "member_callbacks", "device")


def model_name(estimator):
    """The registry name of ``estimator``'s class; an error if it is not registered."""
    name = registered_name(estimator)
    if name is not None:
        return name
    raise KagdigitsError(f"cannot save a {type(estimator).__name__}: only the registered "
                         f"models ({', '.join(sorted(REGISTRY))}) can be saved")


def _allowed_classes():
    """Class name -> class for the optimizers and losses a file may name."""
    classes = {f"torch.optim.{name}": value for name, value in vars(torch.optim).items()
               if isinstance(value, type) and issubclass(value, torch.optim.Optimizer)}
    classes.update({f"torch.nn.{name}": value for name, value in vars(torch.nn).items()
                    if isinstance(value, type)
                    and issubclass(value, torch.nn.modules.loss._Loss)})
    return classes


def _is_plain(value):
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _encode_params(estimator):
    class_names = {cls: name for name, cls in _allowed_classes().items()}
    params, refused = {}, []
    for name, value in non_default_params(estimator).items():
        if name in NOT_STORED:
            continue
        if _is_plain(value):
            params[name] = value
        elif isinstance(value, type) and value in class_names:
            params[name] = {"class": class_names[value]}
        else:
            refused.append(name)
    if refused:
        raise KagdigitsError(
            f"cannot save parameter(s) {', '.join(refused)}: a model file stores only plain "
            "values and torch.optim / torch.nn loss classes; set them back to their defaults")
    return params


def is_fitted(estimator):
    """Whether ``estimator`` is fitted (or its network built), as scikit-learn's
    ``check_is_fitted`` says: a network once initialised, an ensemble once its members are
    trained."""
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def save_model(estimator, path, overwrite=False):
    """Save a fitted estimator to ``path`` (a ``.kd`` file), atomically.

    Parameters
    ----------
    estimator : DigitClassifier or EnsembleClassifier
        A fitted estimator of a registered model (an ensemble's members' weights are
        stored as ``member<i>.<name>``).
    path : str or Path
    overwrite : bool, default=False
        Replace an existing file (else an existing ``path`` is an error).
    """
    name = model_name(estimator)
    if not is_fitted(estimator):
        raise KagdigitsError("the model is not fitted; fit it before saving")
    metadata = {
        "format": FORMAT, "version": VERSION, "model": name,
        "params": json.dumps(_encode_params(estimator)),
        "classes": json.dumps(np.asarray(getattr(estimator, "classes_", [])).tolist()),
        "fitted": json.dumps(estimator.networks()[0].fitted_inputs()),
        "trained_on": estimator.hardware_summary(),
    }
    tensors = {prefix + k: v for prefix, net in _prefixed(estimator)
               for k, v in net.module_.state_dict().items()}
    write_tensors(path, tensors, metadata, overwrite=overwrite)
    return Path(path)


def _refuse(path, why):
    return InputError(f"{path}: {why}; kagdigits loads only .kd files written by "
                      "`kagdigits fit --save` or kagdigits.runs.persist.save_model")


def _read(path):
    """(metadata, tensors) of a safetensors file, refusing anything else."""
    from safetensors import SafetensorError

    if not path.is_file():
        raise InputError(f"{path}: no such model file; check the path")
    header = read_header(path)
    if header is None:
        with open(path, "rb") as f:
            head = f.read(2)
        if head[:1] == b"\x80" or head == b"PK":
            raise _refuse(path, "is a pickle or torch.save file, which kagdigits never loads "
                                "(unpickling can run arbitrary code)")
        raise _refuse(path, "is not a kagdigits model file")
    metadata = header.get("__metadata__") or {}
    try:
        return metadata, read_tensors(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise _refuse(path, f"is damaged ({exc})") from None


#: Parameters a file may set to these plain values only (their other values are code).
PLAIN_CHOICES = {"predict_nonlinearity": ("auto", None), "train_split": (None,),
                 "callbacks": (None,), "member_callbacks": (None,)}


def _check_code_params(path, estimator, params):
    """Refuse plain values for parameters that hold code (the network, the dataset, the
    iterators, a loss or optimizer given by other than its class...), which would only
    fail at predict time: ``params`` as decoded."""
    defaults = estimator.get_params(deep=False)
    for name, value in params.items():
        default = defaults.get(name)
        if name in PLAIN_CHOICES:
            ok = any(value is choice or value == choice for choice in PLAIN_CHOICES[name])
        elif isinstance(default, type) or callable(default):
            ok = isinstance(value, type) and name in ("criterion", "optimizer")
        else:
            continue
        if not ok:
            shown = repr(value) if len(repr(value)) <= 60 else f"{repr(value)[:60]}..."
            raise _refuse(path, f"sets parameter {name} to {shown}, which is not a valid "
                                f"{name} (a model file stores plain values and torch loss "
                                "and optimizer classes only)")
    return params


def _decode_params(path, params):
    classes = _allowed_classes()
    decoded = {}
    for name, value in params.items():
        if isinstance(value, dict) and set(value) == {"class"}:
            if value["class"] not in classes:
                raise _refuse(path, f"parameter {name} names {value['class']!r}, which is "
                                    "not a torch.optim optimizer or torch.nn loss")
            value = classes[value["class"]]
        decoded[name] = value
    return decoded


def _restore(estimator, classes, fitted):
    """Set the fitted attributes a file saved (``fitted`` is ``None`` in files written
    before they were saved: then only ``classes_``, after the network is built)."""
    if fitted is not None:
        estimator.restore_fitted(classes, fitted)
    estimator.initialize()
    if fitted is None and classes:
        estimator.classes_inferred_ = np.asarray(classes)


def _prefixed(estimator):
    """``(prefix, net)`` for each of ``estimator.networks()``: the prefix of its tensors in a
    model file, ``""`` for an estimator that is its one network, else ``member<i>.``."""
    return [("" if net is estimator else f"member{i}.", net)
            for i, net in enumerate(estimator.networks())]


def _load_networks(estimator, tensors, classes, fitted):
    """Build ``estimator``'s networks (an ensemble: its members, then ``members_``) and give
    each its tensors."""
    prefixed = _prefixed(estimator)
    for prefix, net in prefixed:
        _restore(net, classes, fitted)
        net.module_.load_state_dict(
            {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    if len(tensors) != sum(len(net.module_.state_dict()) for _, net in prefixed):
        raise ValueError("the file holds tensors of other members")
    if prefixed[0][0]:  # members of an ensemble
        estimator.members_ = [net for _, net in prefixed]
        if classes:
            estimator.classes_ = np.asarray(classes)


def load_model(path, device="auto"):
    """Load an estimator saved by :func:`save_model`; ready to ``predict``.

    Parameters
    ----------
    path : str or Path
    device : str, default="auto"
        Where to put the network (``"auto"``: CUDA when available, else the CPU),
        whatever device it was trained on.
    """
    path = Path(path)
    metadata, tensors = _read(path)
    if metadata.get("format") != FORMAT:
        raise _refuse(path, "is a safetensors file but not a kagdigits model")
    if metadata.get("version") != VERSION:
        raise _refuse(path, f"has format version {metadata.get('version')!r}; this kagdigits "
                            f"reads version {VERSION}; upgrade kagdigits")
    name = metadata.get("model")
    if name not in REGISTRY:
        raise _refuse(path, f"holds model {name!r}, unknown to this kagdigits (known: "
                            f"{', '.join(sorted(REGISTRY))})")
    try:
        params = json.loads(metadata["params"])
        classes = json.loads(metadata["classes"])
        fitted = json.loads(metadata["fitted"]) if "fitted" in metadata else None
        if not isinstance(params, dict) or not isinstance(classes, list):
            raise ValueError("params must be an object and classes a list")
        if not isinstance(fitted, dict | None):
            raise ValueError("fitted must be an object")
    except (KeyError, ValueError) as exc:
        raise _refuse(path, f"has damaged metadata ({exc})") from None
    estimator = REGISTRY[name]()
    try:
        decoded = _check_code_params(path, estimator, _decode_params(path, params))
        estimator.set_params(**decoded, device=device)
        _load_networks(estimator, tensors, classes, fitted)
    except (ValueError, TypeError, RuntimeError) as exc:
        if isinstance(exc, ParameterError):
            raise _refuse(path, f"has a bad parameter value ({exc})") from None
        if isinstance(exc, KagdigitsError):
            raise
        detail = " ".join(str(exc).split())  # one line
        raise _refuse(path, f"does not match the {name} model ({detail})") from None
    return estimator


def save_trained_state(net, path):
    """Save what training gave the one-network estimator ``net`` (weights, classes, fitted
    inputs, history) to ``path``, atomically; its parameters are not stored:
    :func:`load_trained_state` gives the state back to a net built with the same ones."""
    metadata = {"format": STATE_FORMAT, "version": VERSION,
                "classes": json.dumps(np.asarray(net.classes_).tolist()),
                "fitted": json.dumps(net.fitted_inputs()),
                "history": json.dumps(net.history.to_list(), default=float)}
    write_tensors(path, net.module_.state_dict(), metadata, overwrite=True)
    return Path(path)


def load_trained_state(net, path):
    """``net`` (unfitted, built with the parameters of the saved one) given the state
    :func:`save_trained_state` wrote to ``path``; a one-line error for another file."""
    from skorch.history import History

    path = Path(path)
    metadata, tensors = _read(path)
    if metadata.get("format") != STATE_FORMAT or metadata.get("version") != VERSION:
        raise _refuse(path, "is not a trained-member file of this kagdigits version")
    try:
        _restore(net, json.loads(metadata["classes"]), json.loads(metadata["fitted"]))
        net.module_.load_state_dict(tensors)
        net.history = History(json.loads(metadata["history"]))
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        detail = " ".join(str(exc).split())
        raise _refuse(path, f"does not match this member's model ({detail})") from None
    return net
