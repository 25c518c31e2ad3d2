"""Speed: kagdigits estimators against a plain PyTorch loop over tensors.

The same network, data, batch size (each model's default), optimizer (Adam, lr decay
per epoch) and epochs go through (a) a hand-written fp32 loop over tensors and (b) the
registered estimator with its defaults (``precision`` and ``channels_last`` "auto", as
this machine resolves them and the bench prints) but the same work: no augmentation,
no label smoothing, ``train_split=None`` (both train on every image), in one
process, alternating A/B (then B/A) after a warm-up run of each. Each figure is a
median over all epochs of all repeats: wall-clock time, and the process's CPU time,
which other programs on a shared machine disturb less. Also: predicting 28,000
images (a plain batched ``eval`` loop vs ``predict_proba``, whole calls, conversion
included) and reading a 42,000-row Kaggle ``train.csv`` (time; peak memory in a
fresh process).

Data: Fashion-MNIST from /usr/share/datasets/fashion-mnist (Debian package
``dataset-fashion-mnist``), else a synthetic set of the same shape.

    python tests/bench/speed.py                     # what `make bench` runs
    python tests/bench/speed.py --models lenet5 kagglecnn --repeats 3 --threads 1
    python tests/bench/speed.py --models resnet18 --small-images 42000 --device cuda
    python tests/bench/speed.py --stack 8 --threads 1   # stacked ensemble vs one at a time

``--stack N`` times instead an N-member ensemble of ``--stack-model`` (default lenet5, the
ensemble's recipe, ``--epochs`` epochs on ``--images``, default 5,000) fitted as one stack
against the same members fitted one at a time (``stack_size=None``), alternating, best of
``--repeats``. ``--ops`` counts the aten operators (torch.profiler, nested ones included)
and optimizer steps per training step of a 15-member kagglecnn stack, batch 64, by
``vmap`` (as on CUDA): (a 1,024-row one-epoch fit without a validation split - a 256-row
one) / 12, so that set-up is not counted.

    python tests/bench/speed.py --ops --threads 1
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

FASHION = Path("/usr/share/datasets/fashion-mnist")
#: glibc's adaptive malloc thresholds add +-30% to epoch times (see DESIGN.md).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "4294967296"}


def load_data():
    """(X_train uint8 (60000, 784), y_train int64, X_test uint8 (10000, 784), source name)."""
    files = [FASHION / "train-images-idx3-ubyte.gz", FASHION / "train-labels-idx1-ubyte.gz",
             FASHION / "t10k-images-idx3-ubyte.gz"]
    if all(f.exists() for f in files):
        from kagdigits.files.idx import read_idx

        X, y, X_test = (read_idx(f) for f in files)
        return X.reshape(len(X), -1), y.astype(np.int64), X_test.reshape(len(X_test), -1), \
            "Fashion-MNIST"
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (60_000, 784), dtype=np.uint8),
            rng.integers(0, 10, 60_000).astype(np.int64),
            rng.integers(0, 256, (10_000, 784), dtype=np.uint8), "synthetic")


def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def now(device):
    """(wall, CPU) clock readings, once the device has finished its queued work."""
    sync(device)
    return np.array([time.perf_counter(), time.process_time()])


class EpochClock(Callback):
    """Records each epoch's (wall, CPU) seconds, epoch-end callbacks included."""

    def __init__(self, device):
        self.device = device

    def on_train_begin(self, net, **kwargs):
        self.epochs = []

    def on_epoch_begin(self, net, **kwargs):
        self.start = now(self.device)

    def on_epoch_end(self, net, **kwargs):
        self.epochs.append(now(self.device) - self.start)


def make_estimator(name, args, epochs):
    from kagdigits.cli.args import parse_params
    from kagdigits.models import get_model_class

    clf = get_model_class(name)(device=args.device, max_epochs=epochs, train_split=None,
                                verbose=0, augment=None, criterion__label_smoothing=0.0)
    return clf.set_params(**parse_params(args.params))


#: The plain loop's settings: fp32 (no autocast), contiguous memory.
PLAIN = (None, False)
#: Training images per model (cheap nets get more), unless --images says otherwise.
IMAGES = {"lenet5": 60_000, "mlp": 60_000, "kagglecnn": 10_000}
SMALL_IMAGES = 2_048


def plain_fit(clf, settings, X, y, epochs):
    """A hand-written loop with ``clf``'s network and settings; each epoch's (wall, CPU) s."""
    device, (amp_dtype, channels_last) = clf.device, settings
    torch.manual_seed(0)
    module = clf.module(**clf.get_params_for("module")).to(device)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    Xt = torch.from_numpy(X.reshape(len(X), 1, 28, 28)).to(device).float().div_(255)
    yt = torch.from_numpy(y).to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=clf.lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=clf.lr_decay)
    criterion = torch.nn.CrossEntropyLoss()
    module.train()
    times = []
    for _ in range(epochs):
        start = now(device)
        total = torch.zeros((), device=device)
        for idx in torch.randperm(len(Xt), device=device).split(clf.batch_size):
            xb = Xt[idx]
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(torch.device(device).type, dtype=amp_dtype,
                                enabled=amp_dtype is not None):
                loss = criterion(module(xb).float(), yt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach()
        scheduler.step()
        total.item()
        times.append(now(device) - start)
    return times


def plain_predict(clf, module, X):
    device, batch = clf.device, clf.iterator_valid__batch_size
    Xt = torch.from_numpy(X.reshape(len(X), 1, 28, 28)).to(device).float().div_(255)
    module.eval()
    with torch.no_grad():
        return np.concatenate([torch.softmax(module(xb).float(), 1).cpu().numpy()
                               for xb in Xt.split(batch)])


def timed(fn, device):
    """[(wall, CPU) seconds] that ``fn()`` takes."""
    start = now(device)
    fn()
    return [now(device) - start]


def ab(run_a, run_b, repeats):
    """Median (wall, CPU) seconds over the samples that ``run_a()`` and ``run_b()`` return,
    alternating A/B then B/A, after a warm-up run of each."""
    run_a(), run_b()
    samples = ([], [])
    for r in range(repeats):
        for which in ((0, 1) if r % 2 == 0 else (1, 0)):
            samples[which].extend((run_a, run_b)[which]())
    return np.median(samples[0], axis=0), np.median(samples[1], axis=0)


def n_images(name, args):
    return args.images or IMAGES.get(name, args.small_images)


def bench_training(name, X, y, args):
    n = n_images(name, args)
    X, y = X[:n], y[:n]
    clf = make_estimator(name, args, args.epochs)
    clock = EpochClock(clf.device)
    clf.set_params(callbacks=[("epoch_clock", clock)])

    def estimator_run():
        clf.fit(X, y)
        return clock.epochs

    plain_s, est_s = ab(lambda: plain_fit(clf, PLAIN, X, y, args.epochs), estimator_run,
                        args.repeats)
    return n, plain_s, est_s, clf.hardware_summary()


def bench_predict(name, X, y, X_test, args):
    clf = make_estimator(name, args, 1)
    small = slice(0, min(len(X), n_images(name, args), 4096))
    clf.fit(X[small], y[small])
    module, device = clf.module_, clf.device
    return ab(lambda: timed(lambda: plain_predict(clf, module, X_test), device),
              lambda: timed(lambda: clf.predict_proba(X_test), device), args.repeats)


def bench_csv(X, y, rows):
    """(median read seconds, peak MiB the read adds) for a ``rows``-row train.csv."""
    from kagdigits.files.kaggle_csv import read_train_csv, write_kaggle_csv

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.csv"
        write_kaggle_csv(path, X[:rows], y[:rows])
        seconds = statistics.median(timed(lambda: read_train_csv(path), "cpu")[0][0]
                                    for _ in range(3))
        # VmHWM (peak resident memory) starts afresh in a new process, ru_maxrss does not.
        probe = ("import re, sys; from kagdigits.files.kaggle_csv import read_train_csv; "
                 "peak = lambda: int(re.search(r'VmHWM:\\s*(\\d+)', "
                 "open('/proc/self/status').read()).group(1)); "
                 "before = peak(); read_train_csv(sys.argv[1]); print(peak() - before)")
        kib = int(subprocess.check_output([sys.executable, "-c", probe, str(path)]))
    return seconds, kib / 1024


def bench_stack(X, y, args):
    """Best (wall, CPU) seconds of fitting an ``args.stack``-member ensemble one member at a
    time (A) and stacked (B), alternating A/B then B/A after a warm-up of each."""
    from kagdigits import EnsembleClassifier

    n = args.images or 5_000
    X, y = X[:n], y[:n]

    def fit(stack_size):
        ensemble = EnsembleClassifier(member=args.stack_model, n_members=args.stack,
                                      max_epochs=args.epochs, stack_size=stack_size,
                                      device=args.device, verbose=0)
        return timed(lambda: ensemble.fit(X, y), ensemble.new_members()[0].device)

    fit(None), fit("auto")
    samples = ([], [])
    for r in range(args.repeats):
        for which in ((0, 1) if r % 2 == 0 else (1, 0)):
            samples[which].extend(fit((None, "auto")[which]))
    return n, np.min(samples[0], axis=0), np.min(samples[1], axis=0)


def bench_ops(args):
    """aten operators and optimizer steps per training step of a 15-member kagglecnn stack
    (batch 64, ``vmap``): the difference of a 1,024-row and a 256-row fit, over 12 steps."""
    from torch.optim.optimizer import register_optimizer_step_post_hook
    from torch.profiler import profile

    from kagdigits import EnsembleClassifier

    X = np.random.RandomState(0).randint(0, 256, (1024, 784)).astype(np.uint8)
    y = np.arange(1024) % 10
    steps = []

    def count(n):
        ensemble = EnsembleClassifier(member="kagglecnn", n_members=15, max_epochs=1,
                                      stack_vectorize=True, device=args.device, verbose=0,
                                      member_params={"train_split": None})
        handle = register_optimizer_step_post_hook(
            lambda *a: steps.append(n))
        with profile() as prof:
            ensemble.fit(X[:n], y[:n])
        handle.remove()
        return sum(e.count for e in prof.key_averages() if e.key.startswith("aten::"))

    small, large = count(256), count(1024)
    return (large - small) / 12, (steps.count(1024) - steps.count(256)) / 12


def row(name, task, n, plain, est, chosen):
    """One table row from (wall, CPU) seconds of the plain loop and of the estimator."""
    print(f"| {name} | {task} | {n:,} | {plain[0]:.2f} | {est[0]:.2f} | "
          f"{est[0] / plain[0]:.3f} | {est[1] / plain[1]:.3f} | {chosen} |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["lenet5", "kagglecnn", "resnet18", "wrn"])
    parser.add_argument("--predict-models", nargs="+", default=["lenet5", "kagglecnn"],
                        help="models whose prediction of 28,000 images is timed")
    parser.add_argument("--images", type=int, default=None,
                        help="training images for every model (default: lenet5 and mlp "
                             "60,000, kagglecnn 10,000, others --small-images)")
    parser.add_argument("--small-images", type=int, default=SMALL_IMAGES,
                        help=f"training images for the slow models, default {SMALL_IMAGES}")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run, default 2")
    parser.add_argument("--repeats", type=int, default=5, help="A/B repeats, default 5")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--set", dest="params", action="append", default=[],
                        metavar="NAME=VALUE", help="estimator parameter, as in the CLI")
    parser.add_argument("--stack", type=int, metavar="N",
                        help="time an N-member ensemble stacked against one at a time")
    parser.add_argument("--stack-model", default="lenet5", help="the --stack members' model")
    parser.add_argument("--ops", action="store_true",
                        help="count aten ops and optimizer steps per step of a stack")
    parser.add_argument("--csv-rows", type=int, default=42_000,
                        help="rows of the train.csv read timed (0: none), default 42,000")
    args = parser.parse_args(argv)
    if any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MALLOC_ENV})

    from kagdigits.errors import KagdigitsError
    from kagdigits.models.device import resolve_device

    try:
        resolve_device(args.device)
    except KagdigitsError as exc:
        parser.error(str(exc))
    if args.threads:
        torch.set_num_threads(args.threads)
    X, y, X_test, source = load_data()
    X_test = np.concatenate([X_test, X[:28_000 - len(X_test)]])  # 28,000 like Kaggle's test.csv
    if args.ops:
        ops, optimizer_steps = bench_ops(args)
        print(f"15 x kagglecnn stack, batch 64, vmap: {ops:,.0f} aten ops and "
              f"{optimizer_steps:g} optimizer steps per training step")
        return
    if args.stack:
        n, one_by_one, stacked = bench_stack(X, y, args)
        print(f"# {source}; {torch.get_num_threads()} threads; best of {args.repeats} "
              "alternating A/B runs\n| ensemble | images x epochs | one at a time, s | "
              "stacked, s | ratio | CPU-time ratio |\n|---|---:|---:|---:|---:|---:|")
        print(f"| {args.stack} x {args.stack_model} | {n:,} x {args.epochs} | "
              f"{one_by_one[0]:.2f} | {stacked[0]:.2f} | {stacked[0] / one_by_one[0]:.3f} | "
              f"{stacked[1] / one_by_one[1]:.3f} |", flush=True)
        return
    device = make_estimator("lenet5", args, 1).device
    gpu = torch.cuda.get_device_name(device) if device.startswith("cuda") else "no GPU"
    print(f"# {source}; device {device} ({gpu}); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
          f"median of {args.repeats} alternating A/B runs")
    print("| model | task | images | plain fp32 loop, s | kagdigits, s | ratio | CPU-time ratio "
          "| kagdigits chose |")
    print("|---|---|---:|---:|---:|---:|---:|---|", flush=True)
    for name in args.models:
        n, plain_s, est_s, chosen = bench_training(name, X, y, args)
        row(name, "train, per epoch", n, plain_s, est_s, chosen)
        if name in args.predict_models:
            plain_s, est_s = bench_predict(name, X, y, X_test, args)
            row(name, "predict", len(X_test), plain_s, est_s, chosen)
    if args.csv_rows:
        seconds, mib = bench_csv(X, y, args.csv_rows)
        print(f"\nread_train_csv, {args.csv_rows:,} rows: {seconds:.2f} s, "
              f"peak memory +{mib:.0f} MiB")


if __name__ == "__main__":
    main()
