"""The ``kagdigits`` command line.

Each sub-command lives in ``kagdigits/cli/<name>.py`` with ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args)``; heavy imports (torch) happen inside ``run``
so that ``kagdigits --help`` answers at once.
"""

import argparse
import importlib
import sys
import warnings

from kagdigits import __version__

#: A parameter that a library error's fix names -> the option that sets it on the command
#: line (``{value}``: the parameter's value). Errors are worded for Python callers
#: (``pass overwrite=True``); :func:`error_message` shows their parameters as options.
OPTIONS = {"overwrite": "--force", "device": "--device {value}",
           "images": "--check CSV with images"}

#: sub-command name -> module implementing it
COMMANDS = {
    "submission": "kagdigits.cli.submission",
    "models": "kagdigits.cli.models",
    "download": "kagdigits.cli.download",
    "submit": "kagdigits.cli.submit",
    "submissions": "kagdigits.cli.submissions",
    "data": "kagdigits.cli.data",
    "score": "kagdigits.cli.score",
    "fit": "kagdigits.cli.fit",
    "predict": "kagdigits.cli.predict",
    "compare": "kagdigits.cli.compare",
    "grid": "kagdigits.cli.grid",
    "report": "kagdigits.cli.report",
    "serve": "kagdigits.cli.serve",
    "export": "kagdigits.cli.export",
    "runs": "kagdigits.cli.runs",
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="kagdigits",
        description="Train scikit-learn/PyTorch digit classifiers and write Kaggle "
                    "digit-recognizer submissions.")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks instead of one-line errors")
    parser.add_argument("--version", action="version", version=f"kagdigits {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")  # none: main lists them
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or "").strip()
        command = sub.add_parser(name, help=module.HELP, description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def command_list(parser):
    """What a bare ``kagdigits`` prints: the usage, then each command with its one-line help
    on one line."""
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {importlib.import_module(module).HELP}"
             for name, module in COMMANDS.items()]
    return "\n".join([parser.format_usage().rstrip(), "", "commands:", *lines, ""])


def option(param):
    """The command line's option for ``param`` (a :class:`~kagdigits.errors.Param`):
    ``overwrite=True`` -> ``--force``; a parameter without one stays as it is."""
    words = OPTIONS.get(param.name)
    return str(param) if words is None else words.format(value=param.value)


def error_message(exc):
    """The message of ``exc`` in the command line's words: the parameters its fix names
    (:class:`~kagdigits.errors.Param`) as the options that set them."""
    from kagdigits.errors import KagdigitsError

    return exc.worded(option) if isinstance(exc, KagdigitsError) else str(exc)


def warning_line(message, category, filename, lineno, line=None):
    """A warning on the command line: one line, without the source line."""
    return f"kagdigits: warning: {message}\n"


def main(argv=None):
    """Entry point of the ``kagdigits`` console script; returns the exit code.

    Errors a user can cause print one line (``--debug``: the traceback) and give a
    non-zero exit code: 2 for a ``KagdigitsError``, 1 for a file system error or
    running out of memory (numpy's ``MemoryError`` or torch's), 130 for Ctrl-C.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        print(command_list(parser), file=sys.stderr)
        print("kagdigits: error: no COMMAND given; choose one of the commands above "
              "(kagdigits COMMAND --help shows its options)", file=sys.stderr)
        return 2
    warnings.formatwarning = warning_line
    from kagdigits.errors import KagdigitsError

    def fail(message, code):
        if args.debug:
            raise
        print(f"kagdigits {args.command}: {message}", file=sys.stderr)
        return code

    try:
        if getattr(args, "threads", None):
            from kagdigits.models.threads import threads_for_process

            threads_for_process(args.threads)
        return args.run(args) or 0
    except KagdigitsError as exc:
        code = getattr(exc, "exit_code", 2)
        return fail(f"{'interrupted' if code == 130 else 'error'}: {error_message(exc)}", code)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except OSError as exc:
        return fail(f"error: {exc} (check the path, its permissions and free disk space)", 1)
    except (MemoryError, RuntimeError) as exc:  # numpy's and torch's allocation failures
        text = str(exc) or type(exc).__name__
        if not isinstance(exc, MemoryError) and not any(
                words in text for words in ("out of memory", "can't allocate memory")):
            raise
        gpu = "GPU " if "CUDA" in text else ""
        return fail(f"error: out of {gpu}memory ({text.splitlines()[0][:160]}); lower the "
                    "batch size (e.g. --set batch_size=32) or use a smaller model", 1)


if __name__ == "__main__":
    sys.exit(main())
