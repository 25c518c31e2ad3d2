"""Estimator parameters: the one table of the values each parameter takes
(:data:`PARAMETERS`, checked by :func:`validate_params` when an estimator is initialised,
before any data are read), which names an estimator takes, which differ from its
defaults, and building a registered model with parameters checked before any training."""

import difflib
import inspect
import math
import numbers
from dataclasses import dataclass

from sklearn.base import clone

from kagdigits.errors import InputError, choose
from kagdigits.models.augment import AUGMENTATIONS, Augment, augmentation_class
from kagdigits.models.ensemble import is_ensemble
from kagdigits.models.schedules import SCHEDULES
from kagdigits.registry import get_model_class

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


@dataclass(frozen=True)
class Integer:
    """A whole number (not a bool) of at least ``low``."""

    low: int

    def accepts(self, value):
        return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                and value >= self.low)

    def __str__(self):
        return f"an integer >= {self.low}"


@dataclass(frozen=True)
class Number:
    """A finite real number (not a bool) between ``low`` and ``high`` (``None``: no bound);
    ``open`` ends (``"low"``, ``"high"``) exclude the bound itself."""

    low: float
    high: float | None = None
    open: tuple = ()

    def accepts(self, value):
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            return False
        above = value > self.low if "low" in self.open else value >= self.low
        below = self.high is None or (value < self.high if "high" in self.open
                                      else value <= self.high)
        return math.isfinite(value) and above and below

    def __str__(self):
        if self.high is None:
            return f"a number {'>' if 'low' in self.open else '>='} {self.low:g}"
        left = "(" if "low" in self.open else "["
        right = ")" if "high" in self.open else "]"
        return f"a number in {left}{self.low:g}, {self.high:g}{right}"


@dataclass(frozen=True)
class Options:
    """One of ``values`` (strings)."""

    values: tuple

    def accepts(self, value):
        return isinstance(value, str) and value in self.values

    def __str__(self):
        return "one of " + ", ".join(map(repr, self.values))


class _Kind:
    """Values passing ``test``, described as ``text``."""

    def __init__(self, text, test):
        self.text, self.test = text, test

    def accepts(self, value):
        return self.test(value)

    def __str__(self):
        return self.text


BOOLEAN = _Kind("True or False", lambda v: isinstance(v, bool) or type(v).__name__ == "bool_")
CALLABLE = _Kind("a callable", callable)
CLASS = _Kind("a class", lambda v: isinstance(v, type))
NONE = _Kind("None", lambda v: v is None)
DICT = _Kind("a dict", lambda v: isinstance(v, dict))

#: The values each estimator parameter takes (any one of the listed kinds), checked by
#: :func:`validate_params`; parameters not listed are checked by what they configure
#: (the network's own options by the network, ``device`` by
#: :func:`kagdigits.models.device.resolve_device`).
PARAMETERS = {
    "lr": (Number(0),),
    "max_epochs": (Integer(1),),
    "batch_size": (Integer(1),),
    "patience": (Integer(1), NONE),
    "lr_decay": (Number(0, open=("low",)), NONE),
    "lr_schedule": (Options(SCHEDULES), NONE),
    "precision": (Options(("auto", "fp32", "bf16", "fp16")),),
    "channels_last": (BOOLEAN, Options(("auto",))),
    "compile": (BOOLEAN,),
    "random_state": (Integer(0), NONE),
    "verbose": (Integer(0), BOOLEAN),
    "warm_start": (BOOLEAN,),
    "train_split": (CALLABLE, NONE),
    "augment": (Options(tuple(AUGMENTATIONS)), CLASS, NONE),
    "ema": (Number(0, 1, open=("low", "high")), NONE),
    "tta": (Integer(0),),
    "tta_params": (DICT, NONE),
    "iterator_train__batch_size": (Integer(1),),
    "iterator_valid__batch_size": (Integer(1),),
    "iterator_train__shuffle": (BOOLEAN,),
    "criterion__label_smoothing": (Number(0, 1),),
    "module__num_classes": (Integer(2),),
    "module__in_chans": (Integer(1),),
    "module__dropout": (Number(0, 1, open=("high",)),),
    "optimizer__weight_decay": (Number(0),),
    "optimizer__momentum": (Number(0),),
}

#: ``augment__<name>`` values of the built-in :class:`~kagdigits.models.augment.Augment`.
AUGMENT_PARAMETERS = {
    "augment__rotation": (Number(0, 180),),
    "augment__zoom": (Number(0, 1, open=("high",)),),
    "augment__shift": (Number(0, 1),),
    "augment__elastic": (Number(0),),
    "augment__elastic_sigma": (Number(0, open=("low",)),),
    "augment__erase": (Number(0, 1),),
    "augment__flip": (Number(0, 1),),
    "augment__padding_mode": (Options(("border", "zeros", "reflection")),),
}


def _allowed(estimator, name):
    """The kinds of value parameter ``name`` of ``estimator`` takes (empty: not checked)."""
    if name in PARAMETERS:
        return PARAMETERS[name]
    augment = getattr(estimator, "augment", None)
    builtin = Augment in (augment, isinstance(augment, str) and AUGMENTATIONS.get(augment))
    if name.startswith("augment__") and builtin:
        return AUGMENT_PARAMETERS.get(name, ())
    return ()


def validate_params(estimator):
    """Raise a :class:`ParameterError` for the first parameter of ``estimator`` whose value
    :data:`PARAMETERS` refuses, e.g. ``batch_size: expected an integer >= 1, got 'abc'``."""
    for name, value in estimator.get_params(deep=False).items():
        allowed = _allowed(estimator, name)
        if allowed and not any(kind.accepts(value) for kind in allowed):
            raise _refusal(name, value, allowed)


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
