"""The thread rule and the cost estimates against what fits take (issue 42).

Benches (each result is one JSON line on stdout, also appended to ``--log``):

- ``threads``: one epoch of ``--model`` (default lenet5) on ``--rows`` rows of the MNIST
  split, with the threads the rule chooses (decided afresh before each fit, as a new
  process would), with 1 and with 2 threads, in turn, on the machine as it is ("quiet")
  and with ``--busy`` (default 2) ``python -c 'while 1: pass'`` jobs started by the bench,
  alternating the two conditions ``--repeats`` times; each fit says what the rule saw in
  ``/proc/stat`` and the load average before and after.
- ``estimates``: ``--models`` (default lenet5, kagglecnn) on the 42,000 training rows of
  the split: the estimate (:func:`~kagdigits.models.estimate.time_training_steps` and
  ``fit_seconds``), then the fit, for ``--epochs`` epochs (default: the model's own;
  ``patience=None`` with ``--no-early-stopping``), with the re-estimates
  (:func:`~kagdigits.models.history.remaining_seconds`) after each epoch.
- ``ensemble``: ``EnsembleClassifier(n_members=3, max_epochs=5)`` on the demo set's 4,000
  training rows: its estimate (``estimated_cost``) against its fit.

Times are wall and CPU seconds (this process); on a machine shared with other jobs the
wall time follows their load.

    python tests/bench/estimates.py threads --repeats 3
    python tests/bench/estimates.py estimates --models lenet5
    python tests/bench/estimates.py estimates --models kagglecnn --epochs 2
    python tests/bench/estimates.py ensemble
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import torch
from skorch.callbacks import Callback

from kagdigits import EnsembleClassifier
from kagdigits.files.demo import demo_arrays
from kagdigits.models import get_model_class, threads
from kagdigits.models.estimate import fit_seconds, time_training_steps
from kagdigits.models.history import remaining_seconds

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import MNIST_TRAIN, mnist_split  # noqa: E402  (a sibling bench script)

LOG = Path("/tmp/kagdigits-estimates.jsonl")
#: ``duration()``'s units, to read an estimate line's figure back.
UNITS = {"s": 1, "min": 60, "h": 3600}


def report(record, log):
    line = json.dumps(record)
    print(line, flush=True)
    with open(log, "a") as f:
        f.write(line + "\n")


def loads():
    return [round(x, 2) for x in os.getloadavg()]


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def spinners(n):
    """``n`` busy jobs (``python -c 'while 1: pass'``); stop them with :func:`stop`."""
    return [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(n)]


def stop(jobs):
    for job in jobs:
        job.kill()
        job.wait()


def bench_threads(args, X, y):
    make = get_model_class(args.model)
    clf = make(device="cpu", max_epochs=1, train_split=None, verbose=0)
    X, y = X[:args.rows], y[:args.rows]
    for n in (1, 2):  # warm-up fits (kernels, memory), not timed
        clf.set_params(n_threads=n).fit(X, y)
    for repeat in range(args.repeats):
        for condition in ("quiet", "busy"):
            jobs = spinners(args.busy) if condition == "busy" else []
            try:
                time.sleep(1.0 if jobs else 0.0)  # the jobs running before the rule looks
                settings = ["auto", 1, 2]
                settings = settings[repeat % 3:] + settings[:repeat % 3]  # rotate the order
                for setting in settings:
                    before = loads()
                    threads._decided = None  # the rule decides afresh, as a new process
                    choice = threads.decide_threads() if setting == "auto" else None
                    n = choice.threads if choice else setting
                    _, wall, cpu = timed(lambda n=n: clf.set_params(n_threads=n).fit(X, y))
                    report({"bench": "threads", "model": args.model, "rows": len(X),
                            "condition": condition, "busy_jobs": len(jobs),
                            "setting": setting, "threads": n,
                            "rule_saw": None if choice is None else str(choice),
                            "epoch_dur": round(clf.history[-1]["dur"], 3),
                            "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                            "load_before": before, "load_after": loads(),
                            "repeat": repeat}, args.log)
            finally:
                stop(jobs)


class Reestimates(Callback):
    """Records :func:`remaining_seconds` and the time since the fit began at each epoch's end."""

    def on_train_begin(self, net, **kwargs):
        self.start_, self.seen_ = time.perf_counter(), []

    def on_epoch_end(self, net, **kwargs):
        self.seen_.append((round(time.perf_counter() - self.start_, 2),
                           round(remaining_seconds(net), 2)))


def bench_estimates(args, X, y):
    for name in args.models:
        params = {} if args.epochs is None else {"max_epochs": args.epochs}
        if args.no_early_stopping:
            params["patience"] = None
        clf = get_model_class(name)(device="cpu", verbose=0, **params)
        before = loads()
        step, probe_wall, _ = timed(lambda clf=clf: time_training_steps(clf, X, y))
        estimate = fit_seconds(clf, len(X), step)
        watch = Reestimates()
        clf.set_params(callbacks=[("reestimates", watch)])
        _, wall, cpu = timed(lambda clf=clf: clf.fit(X, y))
        epochs = len(clf.history)
        report({"bench": "estimates", "model": name, "rows": len(X),
                "max_epochs": clf.max_epochs, "epochs_run": epochs,
                "estimate_s": round(estimate, 1),
                "estimate_for_epochs_run_s": round(estimate * epochs / clf.max_epochs, 1),
                "fit_wall_s": round(wall, 1), "fit_cpu_s": round(cpu, 1),
                "actual_over_estimate": round(wall / (estimate * epochs / clf.max_epochs), 3),
                "step_s": round(step.seconds, 4), "forward_s_per_row": step.forward_seconds,
                "hardware": step.hardware, "probe_wall_s": round(probe_wall, 2),
                "epoch_durs": [round(row["dur"], 2) for row in clf.history],
                "reestimates": watch.seen_, "load_before": before, "load_after": loads()},
               args.log)


def seconds_of(line):
    """The ``about N unit`` figure of an estimate line, in seconds."""
    number, unit = re.search(r"about ([\d.]+) (s|min|h)\b", line).groups()
    return float(number) * UNITS[unit]


def bench_ensemble(args):
    X, y, _, _ = demo_arrays()
    ensemble = EnsembleClassifier(n_members=3, max_epochs=5, device="cpu", verbose=0)
    before = loads()
    line, probe_wall, _ = timed(lambda: ensemble.estimated_cost(X, y))
    _, wall, cpu = timed(lambda: ensemble.fit(X, y))
    epochs = [len(member.history) for member in ensemble.networks()]
    report({"bench": "ensemble", "members": 3, "max_epochs": 5, "rows": len(X),
            "estimate": line, "estimate_s": seconds_of(line), "fit_wall_s": round(wall, 1),
            "fit_cpu_s": round(cpu, 1), "epochs_run": epochs,
            "actual_over_estimate": round(wall / seconds_of(line), 3),
            "probe_wall_s": round(probe_wall, 2), "load_before": before,
            "load_after": loads()}, args.log)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench", choices=["threads", "estimates", "ensemble"])
    parser.add_argument("--model", default="lenet5", help="threads: the model")
    parser.add_argument("--rows", type=int, default=10_000, help="threads: rows per epoch")
    parser.add_argument("--busy", type=int, default=2, help="threads: busy jobs started")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["lenet5", "kagglecnn"])
    parser.add_argument("--epochs", type=int, default=None,
                        help="estimates: max_epochs (default: each model's own)")
    parser.add_argument("--no-early-stopping", action="store_true",
                        help="estimates: patience=None (every epoch runs)")
    parser.add_argument("--mnist", type=Path, default=MNIST_TRAIN)
    parser.add_argument("--log", type=Path, default=LOG)
    args = parser.parse_args()
    print(f"# torch {torch.__version__}, load {loads()}", flush=True)
    if args.bench == "ensemble":
        return bench_ensemble(args)
    X, y, _, _ = mnist_split(args.mnist, 0)
    return bench_threads(args, X, y) if args.bench == "threads" else bench_estimates(args, X, y)


if __name__ == "__main__":
    main()
