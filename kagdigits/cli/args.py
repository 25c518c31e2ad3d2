"""Command-line arguments and their parsing: ``--model``, ``--set``, ``--param``, the
training and study options, and turning parsed arguments back into a command line.

Imports nothing heavy, so that ``kagdigits --help`` answers at once.
"""

import argparse
import ast
from pathlib import Path

from kagdigits.errors import KagdigitsError

BACKENDS = ("local", "dask")
#: Options not shown in a report's command line.
HIDDEN = ("command", "run", "debug", "dry_run")
#: Repeatable options: dest -> flag.
REPEATED = {"params": "--set", "grid": "--param"}


def plural(count, word, many=None):
    """``plural(1, "fit")`` -> ``"1 fit"``, ``plural(3, "fit")`` -> ``"3 fits"``."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def fraction(text):
    """argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number between 0 and 1")
    return value


def add_model_argument(parser):
    """--model: a registered model name, default lenet5."""
    parser.add_argument("--model", default="lenet5",
                        help="registered model name (see `kagdigits models`), default lenet5")


def add_set_argument(parser, what="set an estimator parameter"):
    """--set NAME=VALUE (repeatable), collected in ``params``."""
    parser.add_argument("--set", dest="params", action="append", default=[],
                        metavar="NAME=VALUE",
                        help=f"{what}, e.g. --set module__dropout=0.3 or --set lr=1e-3 "
                             "(repeatable)")


def add_threads_argument(parser):
    """--threads N: CPU threads for torch (default: the rule of :mod:`kagdigits.models.threads`)."""
    parser.add_argument("--threads", type=positive_int, metavar="N",
                        help="CPU threads torch computes with (default: the cores free for "
                             "this process, decided at start; see Troubleshooting)")


def add_proba_argument(parser):
    """--proba: also write the class probabilities beside the submission."""
    parser.add_argument("--proba", action="store_true",
                        help="also write the class probabilities beside the submission, as "
                             "<submission>.proba.csv (ImageId and one column per class), "
                             "for blending runs")


def add_dry_run_argument(parser):
    """--dry-run: estimate the training time, train nothing."""
    parser.add_argument("--dry-run", action="store_true",
                        help="print how long training would take here (from a few timed "
                             "steps) and stop; nothing is trained or written")


def add_training_arguments(parser):
    """--model, --epochs, --device, --seed, --set, --resume, --threads and --dry-run."""
    add_model_argument(parser)
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="maximum number of epochs (default: the model's own)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available), cpu or cuda; default auto")
    parser.add_argument("--seed", type=int, default=0, help="random seed, default 0")
    add_set_argument(parser)
    parser.add_argument("--resume", metavar="RUN_ID",
                        help="continue the interrupted run runs/RUN_ID (latest: the newest "
                             "unfinished one) with the settings it was started with (other "
                             "options but --threads are ignored)")
    add_threads_argument(parser)
    add_dry_run_argument(parser)


def add_budget_argument(parser):
    """--budget DURATION: the measured recipe expected to be most accurate in that time here.
    It chooses the model, so --model and --epochs become errors with it (no default model)."""
    parser.add_argument("--budget", metavar="DURATION",
                        help="train the measured recipe expected to be most accurate within "
                             "DURATION here (30s, 5m, 1h, 1h30m; see docs/benchmarks/tiers.md); "
                             "it chooses the model and its epochs, --set still applies")
    parser.set_defaults(model=None)  # so that --model given with --budget can be refused


def add_remote_arguments(parser):
    """--on {local,kaggle} and --accelerator: where the run trains."""
    parser.add_argument("--on", choices=("local", "kaggle"), default="local",
                        help="where to train: local (this machine, the default) or kaggle "
                             "(a private kernel on Kaggle's GPU, run with the same options; "
                             "see docs: Train on Kaggle's GPU)")
    parser.add_argument("--accelerator", metavar="NAME",
                        help="with --on kaggle: the kernel's GPU, e.g. NvidiaTeslaT4 "
                             "(default: Kaggle's default GPU)")


def add_force_argument(parser, what):
    """--force: allow replacing an existing ``what``."""
    parser.add_argument("--force", action="store_true",
                        help=f"replace {what} if it exists (default: refuse)")


def add_study_arguments(parser):
    """--data, --root, --test-size, --epochs, --device, --set, --out and the backend."""
    parser.add_argument("--data", default="auto",
                        help="demo, kaggle (data/train.csv), a dataset name (mnist, "
                             "fashion-mnist, ...; see --root) or PATH: a train CSV or a folder "
                             "with train.csv [+ test.csv and solution.csv]; default auto: "
                             "kaggle when data/train.csv exists, else demo")
    parser.add_argument("--root", type=Path, default=Path("data"),
                        help="folder of the named datasets' files, default data/")
    parser.add_argument("--test-size", type=fraction, default=0.2,
                        help="share of labelled rows held out as the test set when the data "
                             "have no labelled test set (kaggle, a train CSV); default 0.2")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="maximum number of epochs (default: each model's own)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available, decided on each worker), cpu or cuda")
    add_set_argument(parser, "set an estimator parameter for every fit")
    parser.add_argument("--out", type=Path, default=Path("reports"),
                        help="folder that gets the new report folder, default reports/")
    parser.add_argument("--backend", choices=BACKENDS, default="local",
                        help="local: this machine (--n-jobs processes); dask: Dask workers "
                             "(--scheduler, or a local cluster of --n-jobs workers)")
    parser.add_argument("--n-jobs", type=positive_int, default=None,
                        help="fits at once: local default 1; with --backend dask and no "
                             "--scheduler, the number of local workers (default: CPU cores)")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="address of a running Dask scheduler (implies --backend dask)")
    add_threads_argument(parser)
    add_dry_run_argument(parser)


def parse_value(text):
    """Interpret a --set value as a Python literal when it is one, else as a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_params(pairs):
    """``["lr=1e-3", "module__dropout=0.3"]`` -> ``{"lr": 0.001, "module__dropout": 0.3}``."""
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise KagdigitsError(f"--set {pair!r} is not NAME=VALUE; e.g. --set lr=1e-3")
        params[name.strip()] = parse_value(value.strip())
    return params


def split_values(text):
    """``"a,(1,2),b"`` -> ``["a", "(1,2)", "b"]``: split on commas outside brackets/quotes."""
    parts, depth, quote, current = [], 0, None, ""
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += char
    return [part.strip() for part in [*parts, current]]


def parse_grid_param(text):
    """``"optimizer__weight_decay=0,1e-3"`` -> ``("optimizer__weight_decay", [0, 0.001])``."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip() or not values.strip():
        raise KagdigitsError(f"--param {text!r} is not NAME=VALUE[,VALUE...]; e.g. "
                             "--param module__activation=sigmoid,relu")
    parsed = []
    for value in split_values(values):
        if not value:
            raise KagdigitsError(f"--param {text!r} has an empty value; remove the extra comma")
        parsed.append(parse_value(value))
    return name.strip(), parsed


def build_grid(param_texts, early_stopping=None, patience=5):
    """The grid as ``{name: [values]}`` in the order given; ``early_stopping`` is
    ``"on"``, ``"off"`` or ``"on,off"`` and becomes a ``patience`` dimension (off: ``None``)."""
    grid = {}
    if early_stopping:
        choices = {"on": patience or 5, "off": None}
        words = split_values(early_stopping)
        if not words or any(w not in choices for w in words):
            raise KagdigitsError(f"--early-stopping {early_stopping!r}: use on, off or on,off")
        grid["patience"] = [choices[w] for w in dict.fromkeys(words)]
    for text in param_texts:
        name, values = parse_grid_param(text)
        if name in grid:
            hint = " (set by --early-stopping)" if name == "patience" else ""
            raise KagdigitsError(f"--param {name} is given twice{hint}; give it once")
        grid[name] = values
    return grid


def shown_command(rest, make_target=None):
    """How to type ``kagdigits <rest>`` in this shell: as is when ``kagdigits`` is on the PATH;
    when it runs from a virtual environment that is not (``make submission`` runs
    ``.venv/bin/kagdigits``), by its path, after the ``make <make_target> ARGS="..."`` form
    if one is given (``rest`` then starts with that target's command)."""
    import shutil
    import sys

    program = Path(sys.argv[0])
    on_path = shutil.which("kagdigits")
    if program.name != "kagdigits" or (on_path and Path(on_path).resolve() == program.resolve()):
        return f"kagdigits {rest}"
    direct = f"{program} {rest}"
    if make_target and Path("Makefile").is_file():
        arguments = rest.split(" ", 1)[1] if " " in rest else ""
        return f'make {make_target} ARGS="{arguments}" (or: {direct})'
    return direct


def command_line(args):
    """The full ``kagdigits`` command line (every option spelled out) that reruns ``args``."""
    import shlex

    words = ["kagdigits", args.command]
    for name, value in vars(args).items():
        if name in HIDDEN or value is None or value is False:
            continue
        if name in REPEATED:
            words += [w for item in value for w in (REPEATED[name], item)]
        else:
            words.append(f"--{name.replace('_', '-')}")
            if value is not True:
                words.append(str(value))
    return shlex.join(words)
