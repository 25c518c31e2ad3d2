"""Errors a user can cause: the CLI prints them as one line, without a traceback."""


class KagdigitsError(Exception):
    """A problem the user can fix; its message names the problem and the fix."""


class InputError(KagdigitsError, ValueError):
    """Bad input data (a file, an array, a parameter value)."""
