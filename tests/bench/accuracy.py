"""Accuracy: the demo set (as `kagdigits submission` sees it), its 5-fold CV, Fashion-MNIST.

Benches (each result is one JSON line on stdout, also appended to ``--log``):

- ``demo``: fit on the demo set's 4,000 train digits, score on its 1,000 test digits,
  once per model and seed -- what ``kagdigits submission --model M --seed S`` does.
- ``cv``: 5-fold stratified cross-validated accuracy (``cross_val_score``) on all
  5,000 demo digits, per model.
- ``fashion``: Fashion-MNIST's official split (60,000 / 10,000) from ``--root``.
- ``split``: Kaggle-size data: the ``--split-seed`` split of MNIST's 60,000 training digits
  (``--mnist``, default ``../shared/data/mnist-train``) into 42,000 train rows and 18,000
  held-out rows, the same rows ``make_split.py OUT --seed S`` writes as Kaggle CSVs.
- ``mix``: the CV accuracy of averaging networks that ``cv --proba DIR`` saved, fold by fold
  (the first K members of an ensemble run, or members of several runs together), with no
  training: member ``i`` of an ensemble has the same initial weights, batches, augmentation
  and held-out rows whatever ``n_members`` is, so the first five of a 6-member run stand
  for the 5-member ensemble (bit for bit on the CPU without dropout; with dropout, or
  stacked by ``vmap`` on a GPU, statistically: the same recipe, other random draws).

Times are wall and CPU seconds; the CPU time counts this process and its worker processes
(an ensemble's ``n_jobs`` members) and is the steadier figure on a busy shared machine.
``--cpu-minutes`` stops a fit after the epoch that would overrun that much CPU time (an
ensemble shares it out among its members); ``--threads`` sets torch's threads (on a
machine shared with other jobs use 1: OpenMP threads that wait for a busy core slow
training down many times).

    python tests/bench/accuracy.py demo --models lenet5 --seeds 0 1 2
    python tests/bench/accuracy.py demo --models lenet5 --seeds 0 1 2 --set augment=None
    python tests/bench/accuracy.py cv --models lenet5 mlp kagglecnn ensemble --epochs 10
    python tests/bench/accuracy.py cv --models ensemble --set n_members=6 --proba /tmp/p
    python tests/bench/accuracy.py mix --mix /tmp/p/ensemble-s0:5
    python tests/bench/accuracy.py fashion --models lenet5 kagglecnn --cpu-minutes 20
    python tests/bench/accuracy.py fashion --models ensemble --set n_members=3 --subset 10000
    python tests/bench/accuracy.py split --models lenet5 kagglecnn --threads 1
    python tests/bench/accuracy.py                  # what `make bench` runs: demo, lenet5, seed 0
"""

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import torch
from skorch.callbacks import Callback

from kagdigits.cli.args import parse_params
from kagdigits.files.datasets import load_dataset
from kagdigits.files.idx import read_idx
from kagdigits.models import get_model_class

FASHION = Path("/usr/share/datasets/fashion-mnist")
MNIST_TRAIN = Path(__file__).resolve().parents[2].parent / "shared/data/mnist-train"
LOG = Path("/tmp/kagdigits-accuracy.jsonl")


class CPUTimeLimit(Callback):
    """Stop training (as Ctrl-C does) when the next epoch would overrun ``seconds`` of CPU."""

    def __init__(self, seconds):
        self.seconds = seconds

    def on_train_begin(self, net, **kwargs):
        self.start_ = self.last_ = time.process_time()

    def on_epoch_end(self, net, **kwargs):
        now = time.process_time()
        epoch, self.last_ = now - self.last_, now
        if now - self.start_ + epoch > self.seconds:
            raise KeyboardInterrupt  # skorch ends the fit cleanly (best weights restored)


def make_estimator(name, seed, params, cpu_seconds=None):
    """The registered estimator ``name`` on the CPU with ``params`` and an optional CPU limit."""
    estimator = get_model_class(name)(device="cpu", random_state=seed)
    estimator.set_params(**params)
    if cpu_seconds is None:
        return estimator
    if estimator.networks() != [estimator]:  # an ensemble: share the time among members
        limit = CPUTimeLimit(cpu_seconds / estimator.n_members)
        member_params = {**(estimator.member_params or {}), "callbacks": [("cpu_limit", limit)]}
        return estimator.set_params(member_params=member_params)
    return estimator.set_params(callbacks=[("cpu_limit", CPUTimeLimit(cpu_seconds))])


def epochs_run(estimator):
    """Epochs trained (summed over an ensemble's members)."""
    return len(estimator.history)


def process_tree_cpu():
    """CPU seconds (user + system) so far: of this process and each live child process by
    pid, and (key ``"ended"``) of the child processes that have ended."""
    cpu, this = {}, psutil.Process()
    for process in [this, *this.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.Error:  # ended between listing and reading
            continue
        cpu[process.pid] = times.user + times.system
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu["ended"] = ended.ru_utime + ended.ru_stime
    return cpu


def cpu_since(before):
    """CPU seconds used by this process and its children since ``before = process_tree_cpu()``,
    counting workers that ended meanwhile (loky ends an ensemble's ``n_jobs`` workers after
    5 idle minutes): each child's whole life is in ``"ended"`` once it ends."""
    now = process_tree_cpu()
    gone = sum(seconds for pid, seconds in before.items() if pid not in now)
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items()) - gone


def timed_fit(estimator, X, y):
    wall, cpu = time.perf_counter(), process_tree_cpu()
    estimator.fit(X, y)
    return time.perf_counter() - wall, cpu_since(cpu)


def machine():
    return {"host": platform.node(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
            "load1": round(os.getloadavg()[0], 1), "torch": torch.__version__}


def report(record, log):
    line = json.dumps(record, default=str)
    print(line, flush=True)
    with open(log, "a") as f:
        f.write(line + "\n")


def bench_holdout(args, X_train, y_train, X_test, y_test, bench):
    for name in args.models:
        for seed in args.seeds:
            estimator = make_estimator(name, seed, args.params, args.cpu_seconds)
            start = machine()
            wall, cpu = timed_fit(estimator, X_train, y_train)
            accuracy = np.mean(estimator.predict(X_test) == y_test)
            extra = {}
            if args.tta:  # also with test-time augmentation
                tta_accuracy = np.mean(estimator.set_params(tta=args.tta).predict(X_test) == y_test)
                extra["test_acc_tta"] = round(float(tta_accuracy), 4)
            report({"bench": bench, "model": name, "seed": seed, "params": args.params,
                    "train_rows": len(X_train), "test_rows": len(X_test),
                    "test_acc": round(float(accuracy), 4), **extra, "epochs": epochs_run(estimator),
                    "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "start": start,
                    "end_load1": round(os.getloadavg()[0], 1)}, args.log)


def tta_scorer(copies):
    """A scorer: the accuracy of a fitted estimator predicting with ``copies`` TTA copies."""

    def score(estimator, X, y):
        return float(np.mean(estimator.set_params(tta=copies).predict(X) == y))

    return score


def save_probabilities(folder, name, seed, result, X, y):
    """Save, for each fold of ``cross_validate(..., return_estimator=True,
    return_indices=True)``, the probabilities of each network (an ensemble's members in
    order) on its test rows to ``folder/NAME-sSEED-foldK.npz``, without TTA."""
    folder.mkdir(parents=True, exist_ok=True)
    for fold, (estimator, rows) in enumerate(zip(result["estimator"],
                                                 result["indices"]["test"], strict=True)):
        estimator.set_params(tta=0)  # the TTA scorer left its copies set
        proba = np.stack([net.predict_proba(X[rows]) for net in estimator.networks()])
        np.savez_compressed(folder / f"{name}-s{seed}-fold{fold}.npz", proba=proba,
                            y=y[rows], classes=estimator.classes_)


def bench_cv(args):
    from sklearn.model_selection import StratifiedKFold, cross_validate

    X_train, y_train, X_test, y_test = load_dataset("demo")
    X, y = np.concatenate([X_train, X_test]), np.concatenate([y_train, y_test])
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    for name in args.models:
        for seed in args.seeds:
            estimator = make_estimator(name, seed, args.params, args.cpu_seconds)
            start, wall, cpu = machine(), time.perf_counter(), process_tree_cpu()
            scoring = {"acc": tta_scorer(0), **({"tta": tta_scorer(args.tta)} if args.tta else {})}
            result = cross_validate(estimator, X, y, cv=folds, scoring=scoring,
                                    return_estimator=bool(args.proba),
                                    return_indices=bool(args.proba))
            scores = result["test_acc"]
            extra = {}
            if args.tta:
                extra = {"cv_acc_tta": round(result["test_tta"].mean(), 4),
                         "cv_std_tta": round(result["test_tta"].std(), 4)}
            report({"bench": "cv", "model": name, "seed": seed, "params": args.params,
                    "folds": args.folds, "rows": len(X), "cv_acc": round(scores.mean(), 4),
                    "cv_std": round(scores.std(), 4), "fold_acc": scores.round(4).tolist(), **extra,
                    "wall_s": round(time.perf_counter() - wall, 1),
                    "cpu_s": round(cpu_since(cpu), 1), "start": start,
                    "end_load1": round(os.getloadavg()[0], 1)}, args.log)
            if args.proba:
                save_probabilities(args.proba, name, seed, result, X, y)


def bench_mix(args):
    """CV accuracy of the mean probabilities of networks saved by ``cv --proba``: each
    ``--mix DIR/NAME-sSEED[:K]`` adds the first K networks of that run (all without K)."""
    runs = [spec.rsplit(":", 1) if ":" in spec else [spec, None] for spec in args.mix]
    scores, errors = [], 0
    for fold in range(args.folds):
        saved = [np.load(f"{prefix}-fold{fold}.npz") for prefix, _ in runs]
        proba = np.concatenate([f["proba"][:None if k is None else int(k)]
                                for f, (_, k) in zip(saved, runs, strict=True)])
        wrong = saved[0]["classes"][proba.mean(axis=0).argmax(axis=1)] != saved[0]["y"]
        scores.append(1 - wrong.mean())
        errors += int(wrong.sum())
    scores = np.array(scores)
    report({"bench": "mix", "mix": args.mix, "networks": len(proba),
            "cv_acc": round(scores.mean(), 4), "cv_std": round(scores.std(), 4),
            "fold_acc": scores.round(4).tolist(), "errors": errors}, args.log)


def mnist_split(root, seed, train_rows=42000):
    """``(X_train, y_train, X_test, y_test)``: MNIST's 60,000 training digits in ``root``
    split as ``make_split.py --seed SEED`` splits them (a permutation by
    ``numpy.random.default_rng(seed)``; its first ``train_rows`` rows train)."""
    X = read_idx(root / "train-images.idx3-ubyte.gz").reshape(60000, -1)
    y = read_idx(root / "train-labels.idx1-ubyte.gz").astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(X))
    train, test = order[:train_rows], order[train_rows:]
    return X[train], y[train], X[test], y[test]


def subset(X, y, n, seed=0):
    """A stratified random ``n`` rows of (X, y) (all when ``n`` is None)."""
    if n is None or n >= len(X):
        return X, y
    from sklearn.model_selection import train_test_split

    X, _, y, _ = train_test_split(X, y, train_size=n, stratify=y, random_state=seed)
    return X, y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench", nargs="?", default="demo",
                        choices=["demo", "cv", "fashion", "mix", "split"])
    parser.add_argument("--models", nargs="+", default=["lenet5"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, help="max_epochs (default: the model's)")
    parser.add_argument("--set", dest="pairs", action="append", default=[], metavar="NAME=VALUE",
                        help="estimator parameter, as the CLI's --set (repeatable)")
    parser.add_argument("--cpu-minutes", type=float, help="CPU-time limit per fit")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--subset", type=int, help="fashion: train on this many rows")
    parser.add_argument("--test-subset", type=int, help="fashion: test on this many rows")
    parser.add_argument("--folds", type=int, default=5, help="cv: folds, default 5")
    parser.add_argument("--tta", type=int, default=0,
                        help="also score with this many test-time augmentation copies")
    parser.add_argument("--proba", type=Path, metavar="DIR",
                        help="cv: save each fold's test probabilities per network to DIR")
    parser.add_argument("--mix", nargs="+", metavar="DIR/NAME-sSEED[:K]",
                        help="mix: runs saved by cv --proba, each's first K networks")
    parser.add_argument("--root", type=Path, default=FASHION, help="fashion: the IDX files")
    parser.add_argument("--mnist", type=Path, default=MNIST_TRAIN,
                        help="split: MNIST's training IDX files (and make_split.py)")
    parser.add_argument("--split-seed", type=int, default=0, help="split: its seed, default 0")
    parser.add_argument("--log", type=Path, default=LOG, help=f"JSON lines log, default {LOG}")
    args = parser.parse_args(argv)
    if args.bench == "mix" and not args.mix:
        parser.error("mix needs --mix DIR/NAME-sSEED[:K] (runs saved by cv --proba DIR)")
    args.params = parse_params(args.pairs)
    if args.epochs is not None:
        args.params["max_epochs"] = args.epochs
    args.cpu_seconds = None if args.cpu_minutes is None else 60 * args.cpu_minutes
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.bench == "cv":
        bench_cv(args)
        return 0
    if args.bench == "mix":
        bench_mix(args)
        return 0
    if args.bench == "split":
        X_train, y_train, X_test, y_test = mnist_split(args.mnist, args.split_seed)
    else:
        X_train, y_train, X_test, y_test = load_dataset(
            "demo" if args.bench == "demo" else "fashion-mnist", args.root, download=False)
    X_train, y_train = subset(X_train, y_train, args.subset)
    X_test, y_test = subset(X_test, y_test, args.test_subset)
    bench_holdout(args, X_train, y_train, X_test, y_test, args.bench)
    return 0


if __name__ == "__main__":
    sys.exit(main())
