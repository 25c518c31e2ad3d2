"""Score a submission against known labels: `kagdigits score SUBMISSION --solution FILE`.

Both files are ImageId,Label CSVs with the same rows (e.g. a file from `kagdigits submission`
and the solution.csv written by `kagdigits data export`). Prints the accuracy and a table
of the accuracy on each true class.
"""

from pathlib import Path

HELP = "print the accuracy (overall and per class) of a submission against known labels"


def add_arguments(parser):
    parser.add_argument("submission", type=Path, metavar="SUBMISSION",
                        help="the submission CSV (ImageId,Label)")
    parser.add_argument("--solution", type=Path, required=True,
                        help="the true labels (ImageId,Label), e.g. data/mnist/solution.csv")


def accuracy_report(truth, predicted):
    """The overall accuracy line and a per-class table, as text."""
    import numpy as np

    correct = truth == predicted
    lines = [f"Accuracy: {correct.mean():.4f} ({correct.sum():,} of {len(truth):,} correct)",
             f"{'class':>5} {'images':>8} {'correct':>8} {'accuracy':>9}"]
    for label in np.unique(truth):
        mask = truth == label
        lines.append(f"{label:>5} {mask.sum():>8,} {correct[mask].sum():>8,} "
                     f"{correct[mask].mean():>9.4f}")
    return "\n".join(lines)


def run(args):
    from kagdigits.files.submission import read_labels_csv

    truth = read_labels_csv(args.solution)
    predicted = read_labels_csv(args.submission, n_rows=len(truth))
    print(accuracy_report(truth, predicted))
