"""One module per ``kagdigits`` sub-command (see :mod:`kagdigits.cli`)."""
