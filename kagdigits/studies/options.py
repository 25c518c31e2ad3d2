"""Arguments shared by ``kagdigits compare`` and ``kagdigits grid`` (no heavy imports)."""

import argparse
from pathlib import Path

from kagdigits.commands.common import positive_int

BACKENDS = ("local", "dask")


def fraction(text):
    """argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number between 0 and 1")
    return value


def add_study_arguments(parser):
    """--data, --root, --test-size, --epochs, --device, --seed, --set, --out and the backend."""
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
    parser.add_argument("--set", dest="params", action="append", default=[],
                        metavar="NAME=VALUE",
                        help="set an estimator parameter for every fit, e.g. --set lr=1e-3 "
                             "(repeatable)")
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
