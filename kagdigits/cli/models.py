"""List the registered models: CLI name, estimator class, parameter counts on 1x28x28
(MNIST) and 3x32x32 (CIFAR-10) input with 10 classes, and a one-line description.
Pass a name to --model (or MODEL= to make) to train one.
"""

HELP = "list the models --model accepts, with their parameter counts"


def add_arguments(parser):
    pass


def model_rows():
    """One (name, class name, params 1x28x28, params 3x32x32, description) per model."""
    from kagdigits.models import REGISTRY, is_ensemble
    from kagdigits.nets import count_params

    rows = []
    for name, cls in REGISTRY.items():
        estimator = cls()
        members = estimator.new_members() if is_ensemble(estimator) else [estimator]
        counts = [sum(count_params(m.module(**{**m.get_params_for("module"), "in_chans": chans}))
                      for m in members) for chans in (1, 3)]
        description = cls.__doc__.strip().splitlines()[0]
        rows.append((name, cls.__name__, *counts, description))
    return rows


def run(args):
    header = ("name", "estimator", "1x28x28", "3x32x32", "description")
    rows = [header] + [(n, c, f"{a:,}", f"{b:,}", d) for n, c, a, b, d in model_rows()]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.rjust(w) if i in (2, 3) else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=False))]
        print("  ".join([*cells, row[4]]))
