"""The measuring steps of ``tests/bench/gpu_check.sh`` (one per call, each writing its result
to OUTDIR as it goes, so a step cut off by its timeout still leaves what it measured).

    python tests/bench/gpu_steps.py split DATA OUTDIR      # the 42,000-row split, from IDX
    python tests/bench/gpu_steps.py fit OUTDIR              # the kagglecnn default fit
    python tests/bench/gpu_steps.py ensemble OUTDIR         # 15 members, 3 epochs, extrapolated
    python tests/bench/gpu_steps.py predict OUTDIR          # lenet5: 28,000 images

``--rehearse`` runs each on the CPU at tiny sizes (the rows, members and epochs below).
Targets (issue 45, one H100): the kagglecnn fit <= 30 s, the ensemble <= 60 s, predicting
28,000 images <= 0.03 s (lenet5) and <= 0.5 s (the ensemble).
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

#: name -> (full size, rehearsal size)
SIZES = {"train_rows": (42_000, 600), "test_rows": (18_000, 300), "predict_rows": (28_000, 500),
         "members": (15, 2),
         "ensemble_epochs": (3, 1), "fit_epochs": (None, 1)}


def size(name, rehearse):
    return SIZES[name][1 if rehearse else 0]


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def record(out, name, **values):
    """Append one JSON line ``{"step": name, ...}`` to OUTDIR/results.jsonl and print it."""
    line = json.dumps({"step": name, **values})
    with open(Path(out) / "results.jsonl", "a") as f:
        f.write(line + "\n")
    print(line, flush=True)


def load_split(out):
    data = np.load(Path(out) / "split.npz")
    return data["X_train"], data["y_train"], data["X_test"], data["y_test"]


def split(data, out, rehearse):
    """Read the two IDX files (kagdigits.files.idx) and write the split as OUTDIR/split.npz:
    rows of MNIST's training digits drawn as ``make_split.py`` draws them (seed 0)."""
    from kagdigits.files.idx import read_idx

    X = read_idx(next(Path(data).glob("*images*")))
    y = read_idx(next(Path(data).glob("*labels*"))).astype(np.int64)
    X = X.reshape(len(X), -1)
    order = np.random.default_rng(0).permutation(len(X))
    n = min(size("train_rows", rehearse), len(X) - 1)
    train, test = order[:n], order[n:n + size("test_rows", rehearse)]
    np.savez(Path(out) / "split.npz", X_train=X[train], y_train=y[train], X_test=X[test],
             y_test=y[test])
    record(out, "split", train_rows=len(train), test_rows=len(test))


class EpochLog(Callback):
    """Writes each epoch's seconds to OUTDIR as the epoch ends."""

    def __init__(self, out, step):
        self.out, self.step = out, step

    def on_train_begin(self, net, **kwargs):
        sync()
        self.start = time.perf_counter()

    def on_epoch_end(self, net, **kwargs):
        sync()
        record(self.out, self.step, epoch=len(net.history),
               seconds=round(time.perf_counter() - self.start, 3),
               valid_acc=net.history[-1].get("valid_acc"))


def device(rehearse):
    return "cpu" if rehearse else "cuda"


def fit(out, rehearse):
    """The kagglecnn default fit (its defaults: early stopping, augmentation...)."""
    from kagdigits import KaggleCNNClassifier

    X, y, X_test, y_test = load_split(out)
    clf = KaggleCNNClassifier(device=device(rehearse), verbose=0,
                              callbacks=[("epoch_log", EpochLog(out, "fit-epoch"))])
    if size("fit_epochs", rehearse):
        clf.set_params(max_epochs=size("fit_epochs", rehearse))
    sync()
    start = time.perf_counter()
    clf.fit(X, y)
    sync()
    record(out, "fit", model="kagglecnn", seconds=round(time.perf_counter() - start, 2),
           epochs=len(clf.history), hardware=clf.hardware_summary(),
           graphs=clf.graph_capture_, test_accuracy=float(clf.score(X_test, y_test)),
           target_s=30)


def timed_predict(estimator, X, repeats=5):
    """Median seconds of ``estimator.predict_proba(X)`` after a warm-up call."""
    estimator.predict_proba(X)
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        estimator.predict_proba(X)
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def predict_rows(X, rehearse):
    n = size("predict_rows", rehearse)
    return np.resize(X, (n, X.shape[1]))  # Kaggle's test.csv has 28,000 rows


def ensemble(out, rehearse):
    """The 15-member kagglecnn ensemble for 3 epochs, extrapolated to its default epochs;
    then its prediction of 28,000 images."""
    from kagdigits import EnsembleClassifier

    X, y, X_test, _ = load_split(out)
    model = EnsembleClassifier(n_members=size("members", rehearse), device=device(rehearse),
                               verbose=0)
    epochs = model.new_members()[0].max_epochs
    model.set_params(member_params={**(model.member_params or {}),
                                    "max_epochs": size("ensemble_epochs", rehearse),
                                    "patience": None})
    sync()
    start = time.perf_counter()
    model.fit(X, y)
    sync()
    seconds = time.perf_counter() - start
    record(out, "ensemble", members=model.n_members, epochs=size("ensemble_epochs", rehearse),
           seconds=round(seconds, 2), default_epochs=epochs,
           extrapolated_s=round(seconds * epochs / size("ensemble_epochs", rehearse), 1),
           target_s=60)
    rows = predict_rows(X_test, rehearse)
    record(out, "ensemble-predict", rows=len(rows), seconds=round(timed_predict(model, rows), 4),
           target_s=0.5)


def predict(out, rehearse):
    """lenet5 (one epoch) predicting 28,000 uint8 images, whole calls."""
    from kagdigits import LeNet5Classifier

    X, y, X_test, _ = load_split(out)
    clf = LeNet5Classifier(device=device(rehearse), max_epochs=1, verbose=0).fit(X, y)
    rows = predict_rows(X_test, rehearse)
    record(out, "predict", model="lenet5", rows=len(rows),
           seconds=round(timed_predict(clf, rows), 4), target_s=0.03)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["split", "fit", "ensemble", "predict"])
    parser.add_argument("paths", nargs="+", help="split: DATA OUTDIR; others: OUTDIR")
    parser.add_argument("--rehearse", action="store_true", help="CPU, tiny sizes")
    args = parser.parse_args(argv)
    if args.rehearse:
        torch.set_num_threads(1)
    if args.step == "split":
        split(*args.paths, args.rehearse)
    else:
        globals()[args.step](args.paths[0], args.rehearse)


if __name__ == "__main__":
    main()
