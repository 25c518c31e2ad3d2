"""Prediction's overhead: the time ``predict`` and ``predict_proba`` spend outside the network.

A one-layer network (global average pool, then one linear layer: its forward over 28,000
images takes a few milliseconds) is fitted on 2,000 rows; then, for 28,000 uint8 rows,
alternating after a warm-up of each:

- ``network``: the module's forward over the batches of the images already scaled to
  float32 (no checks, no conversion, no copies): the part that is not overhead;
- ``predict_proba`` and ``predict`` as they are now (integer pixels kept as uint8 and
  scaled batch by batch, probabilities read back once, the oddity check on a sample);
- ``before``: the same calls as they were (issue 45): the whole input converted to
  float32 on the host, skorch's ``predict_proba`` reading every batch back, and for
  ``predict`` the oddity check over every row.

Each figure is the median of ``--repeats`` calls (wall and process CPU time); overhead is
a call's median minus the network's.

    python tests/bench/predict_overhead.py                # one thread, 28,000 rows, 11 calls
    python tests/bench/predict_overhead.py --device cuda  # the same on a GPU
"""

import argparse
import os
import sys
import time

import numpy as np
import torch
from skorch import NeuralNetClassifier

#: glibc's adaptive malloc thresholds add +-30% to timings (see DESIGN.md).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "4294967296"}


class PoolLinear(torch.nn.Module):
    """One linear layer over each channel's mean pixel."""

    def __init__(self, num_classes=10, in_chans=1):
        super().__init__()
        self.fc = torch.nn.Linear(in_chans, num_classes)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))


def digit_like(n, seed=0):
    """``n`` uint8 rows of 784 pixels with a black border and sparse ink inside, which the
    oddity check takes for ordinary digits."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    ink = rng.integers(0, 256, (n, 20, 20), dtype=np.uint8)
    images[:, 4:24, 4:24] = np.where(rng.random((n, 20, 20)) < 0.2, ink, 0)
    return images.reshape(n, 784)


def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def clock(fn, device):
    """(wall, CPU) seconds of ``fn()``, once the device has finished."""
    sync(device)
    start = np.array([time.perf_counter(), time.process_time()])
    fn()
    sync(device)
    return np.array([time.perf_counter(), time.process_time()]) - start


def before_proba(net, X):
    """``predict_proba`` as it was: float32 on the host, then skorch's batch-by-batch reads."""
    from kagdigits.models.inputs import to_inputs

    images = to_inputs(net._checked_array(X, reset=False), shape=net.input_shape_)
    return NeuralNetClassifier.predict_proba(net, images)


def before_predict(net, X):
    """``predict`` as it was: the oddity check over every row, then :func:`before_proba`."""
    from kagdigits.files.oddities import _line, oddity_counts

    _line(oddity_counts(X.reshape(len(X), 1, 28, 28)), "the images to predict")
    return net.classes_[before_proba(net, X).argmax(axis=1)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=28_000)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if argv is None and any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MALLOC_ENV})
    torch.set_num_threads(args.threads)

    from kagdigits.models.base import DigitClassifier

    net = DigitClassifier(PoolLinear, max_epochs=1, train_split=None, device=args.device,
                          verbose=0, n_threads=args.threads)
    net.fit(digit_like(2_000, seed=1), np.arange(2_000) % 10)
    X = digit_like(args.rows)
    device = net.device
    images = torch.from_numpy(X.reshape(-1, 1, 28, 28)).to(device).float().div_(255)
    size = net.iterator_valid__batch_size

    @torch.no_grad()
    def network():
        net.module_.eval()
        for batch in images.split(size):
            net.module_(batch)

    np.testing.assert_allclose(net.predict_proba(X), before_proba(net, X), rtol=1e-6)
    assert np.array_equal(net.predict(X), before_predict(net, X))
    runs = {"network": network,
            "predict_proba": lambda: net.predict_proba(X),
            "predict_proba, before": lambda: before_proba(net, X),
            "predict": lambda: net.predict(X),
            "predict, before": lambda: before_predict(net, X)}
    samples = {name: [] for name in runs}
    for fn in runs.values():
        fn()  # warm-up
    for r in range(args.repeats):
        for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            samples[name].append(clock(runs[name], device))
    median = {name: np.median(values, axis=0) for name, values in samples.items()}
    net_s = median["network"]
    print(f"# {args.rows:,} uint8 rows, device {device}, {torch.get_num_threads()} thread(s), "
          f"median of {args.repeats} calls, alternating")
    print("| call | wall, ms | CPU, ms | outside the network: wall, ms | CPU, ms |")
    print("|---|---:|---:|---:|---:|")
    for name, (wall, cpu) in median.items():
        extra = ("", "") if name == "network" else (f"{1e3 * (wall - net_s[0]):.1f}",
                                                     f"{1e3 * (cpu - net_s[1]):.1f}")
        print(f"| {name} | {1e3 * wall:.1f} | {1e3 * cpu:.1f} | {extra[0]} | {extra[1]} |")


if __name__ == "__main__":
    main()
