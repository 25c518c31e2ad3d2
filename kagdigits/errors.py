"""Errors a user can cause, and the one way to look a name up in a table of choices.

The CLI prints these errors as one line, without a traceback. Where the fix is a parameter
(``pass overwrite=True``), the error holds it as a :class:`Param`, so that the CLI names
its own option instead (``pass --force``) without reading the message's words.
"""

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Param:
    """A parameter that an error's fix names, e.g. ``overwrite=True``.

    Python callers read it as ``name=value`` (``device='cpu'``), or ``name=`` when it has no
    value; the command line shows the option that sets it instead (``--device cpu``).

    Parameters
    ----------
    name : str
        The parameter's name, e.g. ``"overwrite"``.
    value : object, default=...
        The value the fix sets; ``...``: none in particular (``images=``).
    """

    name: str
    value: object = ...

    def __str__(self):
        return f"{self.name}=" if self.value is ... else f"{self.name}={self.value!r}"


class KagdigitsError(Exception):
    """A problem the user can fix; its message names the problem and the fix.

    Parameters
    ----------
    *parts : str or Param
        The message in pieces: text, and each parameter the fix names as a :class:`Param`,
        e.g. ``KagdigitsError(f"{path} exists; pass ", Param("overwrite", True))``.
        ``str(error)`` joins them (``... pass overwrite=True``); :meth:`worded` lets the
        command line word the parameters as its options.
    """

    def __init__(self, *parts):
        self.parts = parts
        super().__init__("".join(map(str, parts)))

    def worded(self, word):
        """The message with each :class:`Param` of it as ``word(param)`` gives it."""
        return "".join(word(p) if isinstance(p, Param) else str(p) for p in self.parts)


class InputError(KagdigitsError, ValueError):
    """Bad input data (a file, an array, a parameter value)."""


def choose(table, name, what, also=""):
    """``table[name]``, or an :class:`InputError` naming the choices and the closest one.

    Parameters
    ----------
    table : mapping
        The choices, in the order the message lists them.
    name : object
        The key asked for.
    what : str
        What the keys are, for the message (``"model"`` -> ``unknown model 'lenet'``).
    also : str, default=""
        Further choices the message adds after the keys (e.g. ``", a class or None"``).
    """
    try:
        return table[name]
    except (KeyError, TypeError):
        pass
    choices = [str(key) for key in table]
    close = difflib.get_close_matches(name, choices, n=1) if isinstance(name, str) else []
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise InputError(f"unknown {what} {name!r}{hint}; choose one of: {', '.join(choices)}{also}")
