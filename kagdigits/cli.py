"""The ``kagdigits`` command line.

Each sub-command lives in ``kagdigits/commands/<name>.py`` with ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args)``; heavy imports (torch) happen inside ``run``
so that ``kagdigits --help`` answers at once.
"""

import argparse
import importlib
import sys

#: sub-command name -> module implementing it
COMMANDS = {
    "submission": "kagdigits.commands.submission",
    "models": "kagdigits.commands.models",
    "download": "kagdigits.commands.download",
    "submit": "kagdigits.commands.submit",
    "submissions": "kagdigits.commands.submissions",
    "data": "kagdigits.commands.data",
    "score": "kagdigits.commands.score",
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="kagdigits",
        description="Train scikit-learn/PyTorch digit classifiers and write Kaggle "
                    "digit-recognizer submissions.")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or "").strip()
        command = sub.add_parser(name, help=module.HELP, description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv=None):
    """Entry point of the ``kagdigits`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    from kagdigits.errors import KagdigitsError

    try:
        return args.run(args) or 0
    except KagdigitsError as exc:
        if args.debug:
            raise
        print(f"kagdigits {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"kagdigits {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
