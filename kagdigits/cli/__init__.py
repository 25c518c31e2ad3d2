"""The ``kagdigits`` command line: argument parsing and one module per command.

The only part of the package that knows about flags and exit codes."""
