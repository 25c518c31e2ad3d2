"""Predict test.csv with a model saved by `kagdigits fit --save` and write a new submission.

The model file is read without unpickling anything; a model trained on a GPU runs on
the CPU here if no GPU is available (--device auto). Without --test it predicts Kaggle's
test.csv in data/ (in a Kaggle Notebook: /kaggle/input/digit-recognizer/), else the demo
set's 1,000 test digits and prints the submission's accuracy on them. The submission gets
a row in the ledger (submissions/ledger.csv); a run's finished model is
runs/<run-id>/model.kd.
"""

from pathlib import Path

from kagdigits.cli.args import add_proba_argument

HELP = "predict test.csv with a saved .kd model; writes submissions/<model>-<timestamp>.csv"


def add_arguments(parser):
    parser.add_argument("--load", type=Path, required=True, metavar="PATH",
                        help="model file written by `kagdigits fit --save` (or a run's "
                             "runs/<run-id>/model.kd)")
    parser.add_argument("--test", type=Path,
                        help="test CSV (default data/test.csv; without it the demo set)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available), cpu or cuda; default auto")
    parser.add_argument("--out", type=Path, default=Path("submissions"),
                        help="folder for the submission file, default submissions/")
    add_proba_argument(parser)


def check_digit_classes(path, classes):
    """Raise unless the model of file ``path`` has integer ``classes`` (a submission's labels)."""
    import numpy as np

    from kagdigits.errors import KagdigitsError

    classes = np.asarray(classes)
    if classes.dtype.kind not in "iu":
        shown = ", ".join(map(repr, classes[:2].tolist())) + (", ..." if len(classes) > 2 else "")
        raise KagdigitsError(f"{path}: its classes are {shown} not digits, and a submission's "
                             "labels are integers; load a model trained on digit labels")


def run(args):
    from kagdigits.cli.outcome import (
        predict_labels,
        warn_if_kaggle_cannot_score,
        write_and_report,
    )
    from kagdigits.cli.training import check_submission_out
    from kagdigits.files.sources import load_test_source
    from kagdigits.models.device import resolve_device
    from kagdigits.runs.persist import load_model, model_name

    resolve_device(args.device)
    check_submission_out(args.out)
    estimator = load_model(args.load, device=args.device)
    check_digit_classes(args.load, estimator.classes_)
    source = load_test_source(args.test)
    if source.is_demo:
        print("No --test and no Kaggle test.csv in data/: predicting the DEMO set's 1,000 "
              "test digits (data/demo/test.csv), whose labels are known.")
    name = model_name(estimator)
    print(f"Model: {args.load} ({name}); test: {source.test_path} ({len(source.X_test):,} rows)")
    warn_if_kaggle_cannot_score(source)
    labels, proba = predict_labels(estimator, source.X_test, proba=args.proba)
    write_and_report(labels, args.out, name, estimator, source,
                     proba=proba)
