"""The time tiers end to end: ``kagdigits submission`` on a Kaggle-layout split, scored.

Each run is what a user types, timed from the start of the process to the written file
(the CSVs read, training, the test rows predicted): ``kagdigits submission --train
SPLIT/train.csv --test SPLIT/test.csv --budget TIER --seed S`` (or ``--model M --set ...``
for any other recipe), in a process of its own, with the default thread rule. It prints
one JSON line per run (also appended to ``--log``): held-out accuracy against
``SPLIT/solution.csv``, wall seconds, the process's CPU-seconds (user + system) and the
1-minute load before and after, then a summary per recipe (mean and spread of the seeds,
best wall)::

    python ../shared/data/mnist-train/make_split.py /tmp/split0 --seed 0   # and 1, 2
    python tests/bench/tiers.py --splits /tmp/split{0,1,2} --budget 30s 5m
    python tests/bench/tiers.py --splits /tmp/split0 --recipe "kagglecnn batch_size=256"

A split's seed is its folder's trailing number (``split1``: seed 1); the model is seeded
with it too. Results: docs/benchmarks/tiers.md.
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kagdigits.models.budget import TIERS

ROOT = Path(__file__).resolve().parents[2]
KAGDIGITS = Path(sys.executable).with_name("kagdigits")
LOG = ROOT / "reports" / "bench-tiers.jsonl"


def split_seed(folder):
    """The seed in a split folder's name (``split2`` -> 2; 0 without a number)."""
    found = re.search(r"(\d+)$", Path(folder).name)
    return int(found.group(1)) if found else 0


def accuracy(submission, solution):
    """The share of ``submission``'s labels equal to ``solution``'s (ImageId,Label CSVs)."""
    predicted = np.loadtxt(submission, delimiter=",", skiprows=1, dtype=np.int64)[:, 1]
    truth = np.loadtxt(solution, delimiter=",", skiprows=1, dtype=np.int64)[:, 1]
    return float(np.mean(predicted == truth))


def run_one(split, words, seed, extra=()):
    """Run ``kagdigits submission`` with ``words`` on ``split``; the measured result."""
    with tempfile.TemporaryDirectory() as out:
        command = [str(KAGDIGITS), "submission", "--train", str(split / "train.csv"),
                   "--test", str(split / "test.csv"), "--out", out, "--seed", str(seed),
                   *words, *extra]
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=out)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if done.returncode:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
        written = Path(done.stdout.strip().splitlines()[-1])  # its last line: the file
        acc = accuracy(written, split / "solution.csv")
    lines = [line for line in done.stdout.splitlines()
             if line.startswith(("Budget", "Estimate", "Training on", "Summary", "Finished"))]
    return {"acc": round(acc, 5), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
            "lines": lines}


def recipe_words(recipe):
    """``"kagglecnn batch_size=256 max_epochs=2"`` -> the CLI's ``--model``/``--set`` words."""
    model, *pairs = recipe.split()
    return ["--model", model, *[w for pair in pairs for w in ("--set", pair)]]


#: Registered models' defaults on the seed-0 split (docs/benchmarks/accuracy.md, one thread,
#: 2026-12-04; kagglecnn's from issue 42's trial on MNIST's test digits): (label, CPU-s, accuracy).
DEFAULTS = [("lenet5 defaults", 119, 0.9924), ("lenet5 --epochs 60", 159, 0.9933),
            ("kagglecnn defaults (MNIST test digits)", 1460, 0.9965)]


def plot(logs, path):
    """Accuracy against CPU-seconds: each run in the JSON-lines ``logs`` (one colour per
    recipe, its seeds' mean as a larger mark) and the defaults' figures, as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [json.loads(line) for log in logs for line in Path(log).read_text().splitlines()
            if line.strip()]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, name in enumerate(dict.fromkeys(r["recipe"] for r in runs)):
        mine = [r for r in runs if r["recipe"] == name]
        colour = f"C{i}"
        ax.scatter([r["cpu_s"] for r in mine], [r["acc"] for r in mine], color=colour, s=18,
                   alpha=0.6)
        ax.scatter(np.mean([r["cpu_s"] for r in mine]), np.mean([r["acc"] for r in mine]),
                   color=colour, s=90, marker="D", label=f"{name} ({len(mine)} seeds)")
    for label, cpu, acc in DEFAULTS:
        ax.scatter(cpu, acc, color="grey", marker="s", s=50)
        ax.annotate(label, (cpu, acc), textcoords="offset points", xytext=(6, -10), fontsize=8)
    for mark, cpu in ((0.992, 60), (0.9965, 600)):  # the marks at 2 x 30 s and 2 x 5 min
        ax.plot([cpu, cpu], [mark, 1.0], color="black", lw=0.8, ls=":")
        ax.plot([0, cpu], [mark, mark], color="black", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("CPU-seconds, end to end (CSV read, training, 18,000 rows predicted)")
    ax.set_ylabel("held-out accuracy (18,000 rows)")
    ax.set_title("kagdigits submission on 42,000 MNIST rows, 2-core AMD EPYC (Zen 4)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def tier_recipe(tier):
    """A tier as ``"MODEL NAME=VALUE ..."`` (:func:`recipe_words` reads it)."""
    return " ".join([tier.model, *(f"{k}={v!r}".replace(" ", "") for k, v in tier.params.items())])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", nargs="+", type=Path, default=[],
                        help="folders of make_split.py (train.csv, test.csv, solution.csv)")
    parser.add_argument("--budget", nargs="*", default=[],
                        help="budgets to run as a user would (--budget X: chosen here, now)")
    parser.add_argument("--tier", nargs="*", default=[],
                        help="tiers to run by their recipe (kagdigits.models.budget.TIERS), "
                             "as the tier measurements of docs/benchmarks/tiers.md")
    parser.add_argument("--recipe", action="append", default=[],
                        help='"MODEL NAME=VALUE ..." to run instead (repeatable)')
    parser.add_argument("--args", default="", help="more submission arguments, e.g. --threads 1")
    parser.add_argument("--log", type=Path, default=LOG, help=f"JSON lines log, default {LOG}")
    parser.add_argument("--plot", type=Path, metavar="PNG",
                        help="draw accuracy against CPU-seconds from --logs (and the defaults' "
                             "figures) into PNG, and stop")
    parser.add_argument("--logs", nargs="*", type=Path, default=[], help="logs for --plot")
    args = parser.parse_args(argv)
    if args.plot:
        plot(args.logs or [args.log], args.plot)
        return 0
    runs = [(f"--budget {b}", ["--budget", b]) for b in args.budget]
    tiers = {tier.name: tier for tier in TIERS}
    for name in args.tier:
        tier = tiers[name]
        runs.append((f"tier {name}", recipe_words(tier_recipe(tier))))
    runs += [(r, recipe_words(r)) for r in args.recipe]
    if not runs or not args.splits:
        parser.error("give --splits and --budget DURATION ..., --tier NAME ... or --recipe RECIPE")
    args.log.parent.mkdir(parents=True, exist_ok=True)
    for name, words in runs:
        results = []
        for split in args.splits:
            seed = split_seed(split)
            result = {"recipe": name, "split": str(split), "seed": seed,
                      **run_one(split, words, seed, args.args.split())}
            results.append(result)
            line = json.dumps(result)
            print(line, flush=True)
            with args.log.open("a") as log:
                log.write(line + "\n")
        accs = np.array([r["acc"] for r in results])
        print(f"{name}: accuracy {accs.mean():.4f} +- {accs.std():.4f} "
              f"({accs.min():.4f}-{accs.max():.4f}, {len(accs)} seeds); wall best "
              f"{min(r['wall_s'] for r in results):.1f} s, CPU "
              f"{min(r['cpu_s'] for r in results):.0f}-{max(r['cpu_s'] for r in results):.0f} s",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
