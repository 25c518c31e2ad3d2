"""The models the CLI and saved files know by name: ``@register_model("lenet5")``.

Imports no model: each estimator class registers itself where it is defined
(:mod:`kagdigits.models`), and importing that package registers them all.
"""

from types import MappingProxyType

from kagdigits.errors import choose

_MODELS = {}
#: Registry name -> estimator class, read-only (fill it with :func:`register_model`).
REGISTRY = MappingProxyType(_MODELS)


def register_model(name):
    """Class decorator: register an estimator class as ``name`` (its ``registry_name``)."""

    def register(cls):
        if _MODELS.setdefault(name, cls) is not cls:
            raise ValueError(f"model name {name!r} is already taken by {_MODELS[name].__name__}")
        cls.registry_name = name
        return cls

    return register


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
