"""List the registered models: CLI name, estimator class, parameter counts on 1x28x28
(MNIST) and 3x32x32 (CIFAR-10) input with 10 classes, and a one-line description.
Pass a name to --model (or MODEL= to make) to train one.

The table is computed once per kagdigits version and source and cached in
$XDG_CACHE_HOME/kagdigits/ (default ~/.cache/kagdigits/), so later calls answer at once.
"""

import hashlib
import json
import os
import re
import sys
from pathlib import Path

import kagdigits

HELP = "list the models --model accepts, with their parameter counts"
CACHE_NAME = "models.json"


def add_arguments(parser):
    pass


def summary(docstring):
    """A docstring's first paragraph as one line, Sphinx roles (``:data:`X```) as plain text."""
    paragraph = docstring.strip().split("\n\n", 1)[0]
    return re.sub(r":\w+:`~?([^`]*)`", r"\1", " ".join(paragraph.split()))


def model_rows():
    """One [name, class name, params 1x28x28, params 3x32x32, description] per model, the
    single networks in registry order, then the ensembles (whatever the import order).

    The networks are built on torch's ``meta`` device: shapes only, no memory and no
    weight initialisation, so counting even ResNet-18's 11 million parameters is cheap.
    """
    import torch

    from kagdigits.models import REGISTRY
    from kagdigits.nets import count_params

    rows = []
    for name, cls in REGISTRY.items():
        estimator = cls()
        members = estimator.networks()  # an ensemble's: those it would train
        with torch.device("meta"):
            counts = [sum(count_params(m.module(**{**m.get_params_for("module"),
                                                   "in_chans": chans})) for m in members)
                      for chans in (1, 3)]
        description = summary(cls.__doc__)
        rows.append((members != [estimator], [name, cls.__name__, *counts, description]))
    return [row for _, row in sorted(rows, key=lambda pair: pair[0])]


def source_key():
    """A digest of the package version and its source files (path, size, mtime): the cache
    is valid while it matches."""
    digest = hashlib.sha256(kagdigits.__version__.encode())
    package = Path(kagdigits.__file__).parent
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(package)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def cache_path():
    """Where the table is cached: ``$XDG_CACHE_HOME/kagdigits/models.json``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "kagdigits" / CACHE_NAME


def cached_rows():
    """:func:`model_rows`, from the cache when it matches the source, else computed (and
    cached when the cache folder is writable)."""
    from kagdigits.files.atomic import atomic_write

    path, key = cache_path(), source_key()
    try:
        saved = json.loads(path.read_text())
        if saved["key"] == key:
            return saved["rows"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    print("Counting the models' parameters (once; cached in "
          f"{path.parent}/)...", file=sys.stderr, flush=True)
    rows = model_rows()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, overwrite=True) as f:
            json.dump({"key": key, "rows": rows}, f)
    except OSError:
        pass  # no cache: the next call computes the table again
    return rows


def run(args):
    header = ("name", "estimator", "1x28x28", "3x32x32", "description")
    rows = [header] + [(n, c, f"{a:,}", f"{b:,}", d) for n, c, a, b, d in cached_rows()]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.rjust(w) if i in (2, 3) else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=False))]
        print("  ".join([*cells, row[4]]))
