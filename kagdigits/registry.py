"""The models the CLI and saved files know by name: ``@register_model("lenet5")``, and
of what kind each is (:data:`KINDS`: one network, or an ensemble of them).

Imports no model: each estimator class registers itself where it is defined
(:mod:`kagdigits.models`), and importing that package registers them all.
"""

from types import MappingProxyType

from kagdigits.errors import choose

_MODELS = {}
#: Registry name -> estimator class, read-only (fill it with :func:`register_model`).
REGISTRY = MappingProxyType(_MODELS)
#: The kinds of model: ``"single"``, one network; ``"ensemble"``, several (its members).
KINDS = ("single", "ensemble")


def register_model(name, kind="single"):
    """Class decorator: register an estimator class as ``name`` (its ``registry_name``), of
    ``kind`` (one of :data:`KINDS`; its ``model_kind``, which its subclasses inherit)."""
    if kind not in KINDS:
        raise ValueError(f"model kind {kind!r} is not one of {', '.join(KINDS)}")

    def register(cls):
        if _MODELS.setdefault(name, cls) is not cls:
            raise ValueError(f"model name {name!r} is already taken by {_MODELS[name].__name__}")
        cls.registry_name = name
        cls.model_kind = kind
        return cls

    return register


def model_kind(model):
    """``"single"`` or ``"ensemble"`` (:data:`KINDS`): the kind of ``model``, a registered
    name, an estimator class or an estimator; ``"single"`` for a class registered as
    neither (e.g. a network wrapped by hand)."""
    cls = get_model_class(model) if isinstance(model, str) else model
    cls = cls if isinstance(cls, type) else type(cls)
    return getattr(cls, "model_kind", "single")


def is_ensemble(model):
    """Whether ``model`` (a name, class or estimator: :func:`model_kind`) is an ensemble of
    networks rather than one network (even an ensemble of one member is one)."""
    return model_kind(model) == "ensemble"


def get_model_class(name):
    """The estimator class registered as ``name``; a ``ValueError`` lists the known names."""
    return choose(dict(sorted(_MODELS.items())), name, "model")


def list_models():
    """The registered names, sorted."""
    return sorted(_MODELS)


def registered_name(estimator):
    """The name ``estimator``'s own class (not a subclass of it) is registered as, or None."""
    name = vars(type(estimator)).get("registry_name")
    return name if _MODELS.get(name) is type(estimator) else None
