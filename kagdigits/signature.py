"""The parameters a class or function takes, read from its signature."""

import inspect


def parameters(target):
    """The parameters of ``target``'s signature (a class: its constructor's, without
    ``self``), as :class:`inspect.Parameter` objects; ``None`` when it cannot be read
    (e.g. some builtins and C types)."""
    try:
        return tuple(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return None
