"""Estimator parameters: which names an estimator takes, which differ from its defaults,
and building a registered model with parameters checked before any training."""

import difflib
import inspect

from sklearn.base import clone

from kagdigits.errors import InputError
from kagdigits.models.augment import augmentation_class
from kagdigits.models.ensemble import is_ensemble
from kagdigits.registry import get_model_class

#: skorch prefixes whose targets' constructors tell which ``<prefix>__<name>`` exist.
PREFIXES = ("module", "criterion", "optimizer", "iterator_train", "iterator_valid", "dataset",
            "augment")


class ParameterError(InputError):
    """A parameter name or value an estimator refuses; ``param`` is the name (if one)."""

    def __init__(self, message, param=None):
        super().__init__(message)
        self.param = param


def _init_arguments(target):
    """Keyword names ``target`` (a class) takes, or ``None`` if it takes any (``**kwargs``)."""
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return [p.name for p in parameters if p.kind is not p.VAR_POSITIONAL]


def known_param_names(estimator):
    """Names ``set_params`` accepts for ``estimator``, and the prefixes that take any name."""
    if is_ensemble(estimator):
        return set(estimator.get_params()), []
    names = {n for n in estimator.get_params(deep=False) if not n.startswith("_")}
    open_prefixes = []
    for prefix in PREFIXES:
        target = getattr(estimator, prefix)
        arguments = _init_arguments(augmentation_class(target) if prefix == "augment" else target)
        if arguments is None:
            open_prefixes.append(f"{prefix}__")
        else:
            names |= {f"{prefix}__{name}" for name in arguments if name != "params"}
    for item in estimator.get_default_callbacks() + list(estimator.callbacks or []):
        if not isinstance(item, tuple):
            continue
        name, callback = item
        names.add(f"callbacks__{name}")
        names |= {f"callbacks__{name}__{p}" for p in callback.get_params(deep=False)}
    open_prefixes.append("compile__")
    return names, open_prefixes


def check_param_names(estimator, params, model):
    """Raise a :class:`ParameterError` naming close matches for any name ``estimator`` lacks."""
    names, open_prefixes = known_param_names(estimator)
    for name in params:
        if name in names or name.startswith(tuple(open_prefixes)):
            continue
        prefix, _, leaf = name.rpartition("__")
        same_kind = {n.rpartition("__")[2]: n for n in sorted(names)
                     if n.rpartition("__")[0] == prefix}
        close = [same_kind[c] for c in difflib.get_close_matches(leaf, same_kind, cutoff=0.75)]
        if close:
            hint = f"did you mean {' or '.join(close)}?"
        elif same_kind and prefix:
            hint = f"{prefix}__<name> takes one of: {', '.join(same_kind)}"
        else:
            hint = ("use an estimator parameter such as lr, max_epochs, batch_size, patience, "
                    "or module__<option> for the network")
        raise ParameterError(f"{model} has no parameter {name!r}; {hint}", param=name)


def make_estimator(model, params=None, **fixed):
    """The registered ``model`` built with ``fixed`` then ``params`` set, all checked.

    Parameters
    ----------
    model : str
        A registered name (:func:`kagdigits.registry.list_models`).
    params : dict or None, default=None
        Parameters to ``set_params``; unknown names raise with close matches.
    **fixed
        Constructor arguments, e.g. ``device="cpu", random_state=3``.

    Bad values raise :class:`ParameterError` here, from a trial ``initialize()`` of a
    CPU copy, before any data are read.
    """
    estimator = get_model_class(model)(**fixed)
    params = dict(params or {})
    check_param_names(estimator, params, model)
    try:
        estimator.set_params(**params)
        clone(estimator).set_params(device="cpu").initialize()
    except ParameterError:
        raise
    except (ValueError, TypeError) as exc:
        raise ParameterError(str(exc)) from None
    return estimator


def _same(a, b):
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):
        return False


def non_default_params(estimator):
    """The parameters of ``estimator`` that differ from a fresh instance's (``deep=False``)."""
    defaults = type(estimator)().get_params(deep=False)
    return {name: value for name, value in estimator.get_params(deep=False).items()
            if not name.startswith("_") and not _same(value, defaults.get(name, object()))}
