"""Errors a user can cause, and the one way to look a name up in a table of choices.

The CLI prints these errors as one line, without a traceback.
"""

import difflib


class KagdigitsError(Exception):
    """A problem the user can fix; its message names the problem and the fix."""


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
