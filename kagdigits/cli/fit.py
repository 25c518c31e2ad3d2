"""Train a model on train.csv and save it as a .kd file for `kagdigits predict`.

The file holds the weights (safetensors) and the estimator's settings (JSON), never a
pickle, so it is safe to share; a model trained on a GPU loads on a CPU-only machine.
Without --train and data/train.csv it trains on the demo set (see `kagdigits submission`).
Every epoch is checkpointed in runs/<run-id>/; after Ctrl-C, continue with
kagdigits fit --resume <run-id>.
"""

from pathlib import Path

from kagdigits.cli.args import add_force_argument, add_training_arguments

HELP = "train a model and save it to a .kd file"


def add_arguments(parser):
    add_training_arguments(parser, kept="--save")
    parser.add_argument("--save", type=Path, required=True, metavar="PATH",
                        help="where to save the model, e.g. models/lenet5.kd")
    parser.add_argument("--train", type=Path, help="train CSV (default data/train.csv)")
    add_force_argument(parser, "the --save file")


def run(args):
    from kagdigits.cli.outcome import summary_line
    from kagdigits.cli.training import model_is_safe, train
    from kagdigits.files.atomic import WriteError
    from kagdigits.runs.persist import save_model

    trained = train(args, need_test=False, train=args.train, save=args.save)
    if trained is None:  # --dry-run
        return 0
    config, estimator, _, train_seconds, model = trained
    print(summary_line(estimator, train_seconds))
    try:
        print(save_model(estimator, config.save, overwrite=args.force))
    except WriteError as exc:
        raise model_is_safe(exc, model) from None
