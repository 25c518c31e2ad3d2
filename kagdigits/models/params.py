"""Estimator parameters: checking their values against what each estimator class declares
(``_parameter_constraints``, of the kinds in :mod:`kagdigits.models.constraints`), once
at the start of ``fit``/``initialize`` and by the CLI before it reads any data; which
names an estimator takes; which differ from its defaults; and building a registered
model with its parameters checked before any training."""

import difflib
import inspect
import weakref

import torch
from sklearn.base import clone

from kagdigits.errors import InputError, choose
from kagdigits.models.augment import augmentation_class
from kagdigits.models.constraints import Options
from kagdigits.registry import get_model_class, is_ensemble

#: skorch prefixes whose targets' constructors tell which ``<prefix>__<name>`` exist.
PREFIXES = ("module", "criterion", "optimizer", "iterator_train", "iterator_valid", "dataset",
            "augment")


class ParameterError(InputError):
    """A parameter name or value an estimator refuses.

    ``param`` is the parameter's name (if one) and ``reason`` the message without it
    (``"expected an integer >= 1, got 'abc'"``), for the CLI's ``--set <param>: <reason>``.
    """

    def __init__(self, message, param=None, reason=None):
        super().__init__(message)
        self.param = param
        self.reason = message if reason is None else reason


def parameter_constraints(estimator):
    """The values each parameter of ``estimator`` takes: its classes' ``_parameter_constraints``
    (scikit-learn's shape: name -> list of kinds, any one of which a value must be), merged
    along the class hierarchy so that a subclass only adds or overrides its own (a
    registered classifier declares its network's options, e.g. ``module__dropout``), and
    the ``augment__<name>`` ones its augmentation class declares."""
    merged = {}
    for cls in reversed(type(estimator).__mro__):
        merged.update(vars(cls).get("_parameter_constraints", {}))
    augment = getattr(estimator, "augment", None)
    if augment is not None:
        try:
            own = getattr(augmentation_class(augment), "_parameter_constraints", {})
        except InputError:  # an unknown name: refused by the "augment" entry
            own = {}
        merged.update({f"augment__{name}": kinds for name, kinds in own.items()})
    return merged


def validate_params(estimator):
    """Raise a :class:`ParameterError` for the first parameter of ``estimator`` whose value
    :func:`parameter_constraints` refuses, e.g. ``batch_size: expected an integer >= 1,
    got 'abc'``. Parameters without constraints are checked by what they configure (the
    network's own options by the network, ``device`` by
    :func:`kagdigits.models.device.resolve_device`).

    Checks once: again only when a parameter has been set to another object since
    ``estimator``'s last check (``fit`` checks before reading the data, ``initialize``
    then skips it)."""
    params = estimator.get_params(deep=False)
    if _same_objects(_CHECKED.get(estimator), params):
        return
    check_params(estimator, params)
    _CHECKED[estimator] = params


def check_params(estimator, params):
    """:func:`validate_params`' check of ``params`` (``estimator``'s, ``deep=False``)."""
    constraints = parameter_constraints(estimator)
    for name, value in params.items():
        allowed = constraints.get(name, ())
        if allowed and not any(kind.accepts(value) for kind in allowed):
            raise _refusal(name, value, allowed)


#: Estimator -> its parameters at its last passed check (weakly held: they go with it).
_CHECKED = weakref.WeakKeyDictionary()


def _same_objects(seen, params):
    """Whether ``params`` hold the very objects ``seen`` does (``None``: never checked)."""
    return (seen is not None and seen.keys() == params.keys()
            and all(seen[name] is value for name, value in params.items()))


def _refusal(name, value, allowed):
    """The :class:`ParameterError` for ``value`` of ``name``: a string among options gets
    :func:`~kagdigits.errors.choose`'s "unknown ... (did you mean ...?)" line."""
    options = [kind for kind in allowed if isinstance(kind, Options)]
    others = [str(kind) for kind in allowed if not isinstance(kind, Options)]
    if options and isinstance(value, str):
        also = (", " * (len(others) > 1) + ", ".join(others[:-1])
                + f" or {others[-1]}") if others else ""
        try:
            choose(dict.fromkeys(options[0].values), value, name, also=also)
        except InputError as exc:
            return ParameterError(str(exc), param=name)
    kinds = [str(kind) for kind in allowed]
    expected = ", ".join(kinds[:-1]) + " or " + kinds[-1] if len(kinds) > 1 else kinds[0]
    reason = f"expected {expected}, got {value!r}"
    return ParameterError(f"{name}: {reason}", param=name, reason=reason)


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
        elif "member_params" in names:
            hint = (f"set the members' parameters in member_params, e.g. --set "
                    f"\"member_params={{'{name}': ...}}\"")
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

    Bad values raise :class:`ParameterError` here, before any data are read: from
    :func:`validate_params` and from what the parts they configure check themselves (the
    network's options, the augmentation, the schedule), through an ``initialize()`` of a
    copy on torch's ``meta`` device (shapes only: no memory, no weight initialisation).
    """
    estimator = get_model_class(model)(**fixed)
    params = dict(params or {})
    check_param_names(estimator, params, model)
    try:
        estimator.set_params(**params)
        with torch.device("meta"):
            clone(estimator).set_params(device="meta").initialize()
    except ParameterError:
        raise
    except (ValueError, TypeError) as exc:
        raise ParameterError(str(exc)) from None
    return estimator


def _same(a, b):
    if a is b:
        return True
    try:
        if type(a) is type(b) and bool(a == b):
            return True
    except (TypeError, ValueError):
        return False
    # objects without == (e.g. a cloned ValidSplit) are the same when their attributes are
    try:
        return type(a) is type(b) and hasattr(a, "__dict__") and bool(vars(a) == vars(b))
    except (TypeError, ValueError):
        return False


def non_default_params(estimator):
    """The parameters of ``estimator`` that differ from a fresh instance's (``deep=False``);
    constructor arguments without a default (a bare ``DigitClassifier``'s ``module``) always."""
    required = {name: getattr(estimator, name)
                for name, p in inspect.signature(type(estimator)).parameters.items()
                if p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    defaults = type(estimator)(**required).get_params(deep=False)
    return {name: value for name, value in estimator.get_params(deep=False).items()
            if not name.startswith("_")
            and (name in required or not _same(value, defaults.get(name, object())))}
