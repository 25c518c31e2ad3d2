"""Load test of `kagdigits serve` on loopback: latency per model under concurrent requests.

For each model a real `kagdigits serve --port 0` process serves that model alone (and, last,
all of them together, as the page shows them); a bounded number of requests (``--requests``,
default 500), ``--concurrency`` at a time (default 16, each client thread on its own
keep-alive connection), each POSTs the same 280x280 PNG drawing of a demo digit (what the
page's canvas sends: decode, MNIST layout, predict). Every request must answer 200; the
run stops by itself (a 60 s timeout per request). Reported: p50 / p99 / mean latency and
requests per second, after 20 warm-up requests. The models are trained for one epoch on
300 demo digits: latency does not depend on how well they are trained.

    python tests/bench/serve.py                                   # lenet5, kagglecnn, resnet18
    python tests/bench/serve.py --models lenet5 --requests 200 --concurrency 4
"""

import argparse
import http.client
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

WARM_UP = 20


def train_models(names, folder):
    """One tiny saved model per name: name -> path."""
    from kagdigits import get_model_class
    from kagdigits.files.demo import demo_arrays
    from kagdigits.runs.persist import save_model

    X, y, _, _ = demo_arrays()
    paths = {}
    for name in names:
        clf = get_model_class(name)(max_epochs=1, train_split=None, verbose=0, device="cpu")
        paths[name] = save_model(clf.fit(X[:300], y[:300]), Path(folder) / f"{name}.kd")
    return paths


def drawing():
    """A 280x280 PNG of a demo digit, dark ink on white, like the page's canvas."""
    from kagdigits.files.demo import demo_arrays

    digit = demo_arrays()[2][0].reshape(28, 28)
    buffer = io.BytesIO()
    Image.fromarray(255 - np.kron(digit, np.ones((10, 10), dtype=np.uint8))).save(buffer, "PNG")
    return buffer.getvalue()


class Client:
    """One keep-alive connection; ``post`` returns (seconds, status)."""

    def __init__(self, url):
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def post(self, body):
        start = time.perf_counter()
        self.connection.request("POST", "/predict", body, {"Content-Type": "image/png"})
        response = self.connection.getresponse()
        answer = response.read()
        seconds = time.perf_counter() - start
        ok = response.status == 200 and "predictions" in json.loads(answer)
        return seconds, response.status if not ok else 200


def load(url, body, requests, concurrency):
    """Latencies (s) of ``requests`` POSTs, ``concurrency`` at a time; raises on a failure."""
    clients = [Client(url) for _ in range(concurrency)]
    for i in range(WARM_UP):
        clients[i % concurrency].post(body)
    per_client = [requests // concurrency + (i < requests % concurrency)
                  for i in range(concurrency)]

    def work(index):
        return [clients[index].post(body) for _ in range(per_client[index])]

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = [r for batch in pool.map(work, range(concurrency)) for r in batch]
    wall = time.perf_counter() - start
    failed = [status for _, status in results if status != 200]
    if failed:
        raise SystemExit(f"{len(failed)} of {requests} requests failed: {sorted(set(failed))}")
    return [seconds for seconds, _ in results], wall


def serve(paths):
    """A `kagdigits serve` process for ``paths`` and its URL."""
    command = [sys.executable, "-m", "kagdigits.cli.main", "serve", "--port", "0",
               "--device", "cpu"] + [arg for p in paths for arg in ("--load", str(p))]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    line = process.stdout.readline()
    if " at " not in line:
        process.kill()
        raise SystemExit(f"kagdigits serve did not start: {line!r}")
    return process, line.split(" at ")[1].split()[0]


def measure(label, paths, body, args):
    process, url = serve(paths)
    try:
        latencies, wall = load(url, body, args.requests, args.concurrency)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    ms = np.asarray(latencies) * 1000
    row = {"served": label, "requests": len(ms), "p50_ms": float(np.percentile(ms, 50)),
           "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(statistics.fmean(ms)),
           "per_s": len(ms) / wall}
    print(f"| {label} | {row['requests']} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
          f"{row['mean_ms']:.1f} | {row['per_s']:.0f} |", flush=True)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lenet5", "kagglecnn", "resnet18"])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    print(f"{args.requests} requests, {args.concurrency} at a time, on loopback; "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    print("| served | requests | p50 ms | p99 ms | mean ms | requests/s |")
    print("|---|---:|---:|---:|---:|---:|")
    body = drawing()
    with tempfile.TemporaryDirectory() as folder:
        paths = train_models(args.models, folder)
        rows = [measure(name, [path], body, args) for name, path in paths.items()]
        if len(paths) > 1:
            rows.append(measure(" + ".join(paths), list(paths.values()), body, args))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
