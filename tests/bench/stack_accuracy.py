"""Accuracy of stacked against separately trained ensemble members: demo set (5,000 digits),
stratified 5-fold CV, ``--seeds`` ensembles per fold of ``--members`` members of ``--model``
(Deotte's recipe, ``--epochs`` epochs), fitted stacked (``stack_size="auto"``) and one at a
time (``stack_size=None``) on the same folds; the mean accuracy of each way over all folds
and seeds, its standard deviation and whether the difference of the means is within 1.96
of the larger one. CPU-seconds are reported too (the machine may be shared).

    python tests/bench/stack_accuracy.py --model lenet5 --members 2 --epochs 5 --seeds 0 1 2
"""

import argparse
import resource
import time

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from kagdigits import EnsembleClassifier
from kagdigits.files.demo import demo_arrays


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    X_train, y_train, X_test, y_test = demo_arrays()
    X, y = np.concatenate([X_train, X_test]), np.concatenate([y_train, y_test])
    scores, cpu = {"auto": [], None: []}, {"auto": 0.0, None: 0.0}
    folds = StratifiedKFold(5, shuffle=True, random_state=0).split(X, y)
    for fold, (train, test) in enumerate(folds):
        for seed in args.seeds:
            for size in ("auto", None):
                start = time.process_time()
                ensemble = EnsembleClassifier(member=args.model, n_members=args.members,
                                              max_epochs=args.epochs, stack_size=size,
                                              random_state=100 * seed, device="cpu", verbose=0)
                ensemble.fit(X[train], y[train])
                scores[size].append(float(np.mean(ensemble.predict(X[test]) == y[test])))
                cpu[size] += time.process_time() - start
                print(f"fold {fold} seed {seed} stack_size={size}: {scores[size][-1]:.4f}",
                      flush=True)
    for size in ("auto", None):
        print(f"stack_size={size}: mean {np.mean(scores[size]):.4f}, std "
              f"{np.std(scores[size], ddof=1):.4f}, {cpu[size]:.0f} CPU-s")
    delta = np.mean(scores["auto"]) - np.mean(scores[None])
    bound = 1.96 * max(np.std(scores["auto"], ddof=1), np.std(scores[None], ddof=1))
    verdict = "within" if abs(delta) <= bound else "OUTSIDE"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"delta {delta:+.4f}, 1.96 std {bound:.4f}: {verdict}; max RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
