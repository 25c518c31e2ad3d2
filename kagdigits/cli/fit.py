"""Train a model on train.csv and save it as a .kd file for `kagdigits predict`.

The file holds the weights (safetensors) and the estimator's settings (JSON), never a
pickle, so it is safe to share; a model trained on a GPU loads on a CPU-only machine.
Without --train and data/train.csv it trains on the demo set (see `kagdigits submission`).
Every epoch is checkpointed in runs/<run-id>/; after Ctrl-C, continue with
kagdigits fit --resume <run-id>.
"""

import time
from pathlib import Path

from kagdigits.cli.args import add_force_argument, add_training_arguments
from kagdigits.errors import KagdigitsError

HELP = "train a model and save it to a .kd file"


def add_arguments(parser):
    add_training_arguments(parser)
    parser.add_argument("--save", type=Path, required=True, metavar="PATH",
                        help="where to save the model, e.g. models/lenet5.kd")
    parser.add_argument("--train", type=Path, help="train CSV (default data/train.csv)")
    add_force_argument(parser, "the --save file")


def run(args):
    from kagdigits.cli.outcome import summary_line
    from kagdigits.cli.training import (
        build_estimator,
        check_outputs,
        data_name,
        fit_in_run,
        load_training_data,
        print_estimate,
        run_config,
    )
    from kagdigits.runs.fitting import restored_seconds
    from kagdigits.runs.persist import save_model

    config, run_dir = run_config(args, train=args.train, save=args.save)
    save = Path(config.save)
    if save.exists() and not args.force:
        raise KagdigitsError(f"{save} already exists; choose another name or pass --force")
    check_outputs(config)
    estimator = build_estimator(config)
    source = load_training_data(config, need_test=False)
    X, y = source.X_train, source.y_train
    print(f"Train: {source.train_path} ({len(X):,} rows)")
    print_estimate(config, estimator, X, y, dry_run=args.dry_run)
    if args.dry_run:
        return 0
    start = time.perf_counter()
    fit_in_run(config, estimator, X, y, run_dir, data=data_name(source))
    print(summary_line(estimator, time.perf_counter() - start + restored_seconds(estimator)))
    print(save_model(estimator, save, overwrite=args.force))
