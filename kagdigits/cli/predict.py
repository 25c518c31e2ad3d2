"""Predict test.csv with a model saved by `kagdigits fit --save` and write a new submission.

The model file is read without unpickling anything; a model trained on a GPU runs on
the CPU here if no GPU is available (--device auto).
"""

from pathlib import Path

HELP = "predict test.csv with a saved .kd model; writes submissions/<model>-<timestamp>.csv"


def add_arguments(parser):
    parser.add_argument("--load", type=Path, required=True, metavar="PATH",
                        help="model file written by `kagdigits fit --save`")
    parser.add_argument("--test", type=Path, default=Path("data/test.csv"),
                        help="test CSV (default data/test.csv)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available), cpu or cuda; default auto")
    parser.add_argument("--out", type=Path, default=Path("submissions"),
                        help="folder for the submission file, default submissions/")


def run(args):
    from kagdigits.files.kaggle_csv import read_test_csv
    from kagdigits.files.submission import write_submission
    from kagdigits.models.device import resolve_device
    from kagdigits.runs.persist import load_model, model_name

    resolve_device(args.device)
    X_test = read_test_csv(args.test)
    estimator = load_model(args.load, device=args.device)
    name = model_name(estimator)
    print(f"Model: {args.load} ({name}); test: {args.test} ({len(X_test):,} rows)")
    print(write_submission(estimator.predict(X_test), args.out, name))

