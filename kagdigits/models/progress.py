"""What the estimators print while they work: epoch tables without colour codes where no
terminal shows them, and progress bars for long predictions and for ensembles.

Colour (skorch's ``PrintLog`` marks the best epoch's values in ANSI colours): off when
``NO_COLOR`` is set (https://no-color.org), on when ``FORCE_COLOR`` is set, else on only
when stdout is a terminal or a Jupyter kernel (which shows the colours); so a log file
gets plain text.
"""

import os
import re
import sys
import time

from skorch.callbacks import Callback, PrintLog
from tqdm.auto import tqdm

from kagdigits.models.history import best_score

#: A progress bar appears only after this many seconds (short calls show nothing).
BAR_DELAY = 2.0
#: ``None``: no bar when stderr is not a terminal (a log file gets no bar), as tqdm does.
BAR_DISABLE = None
#: The ANSI escape sequences skorch writes.
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def use_colour(stream=None):
    """Whether to write ANSI colours to ``stream`` (default: stdout); see the module doc."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    stream = stream or sys.stdout
    if "ipykernel" in sys.modules:
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class EpochTable(PrintLog):
    """skorch's ``PrintLog`` (the per-epoch table), in colour only where it is shown
    (:func:`use_colour`); the same table as plain text elsewhere."""

    def table(self, row):
        text = super().table(row)
        return text if self.sink is not print or use_colour() else ANSI.sub("", text)


def progress(iterable=None, *, total=None, unit="it", desc=None, leave=False):
    """A tqdm bar on stderr that appears only after :data:`BAR_DELAY` seconds."""
    return tqdm(iterable, total=total, unit=unit, desc=desc, leave=leave, delay=BAR_DELAY,
                dynamic_ncols=True, file=sys.stderr, disable=BAR_DISABLE)


def prediction_progress(outputs, n_rows, verbose):
    """``outputs`` (the network's outputs, batch by batch) counted in a bar over ``n_rows``
    images when ``verbose >= 2``; unchanged otherwise."""
    if verbose < 2:
        yield from outputs
        return
    with progress(total=n_rows, unit="img", desc="predict") as bar:
        for batch in outputs:
            bar.update(len(batch))
            yield batch


class MemberProgress(Callback):
    """Shows a training member's epochs on an ensemble's bar (``bar``: set while it trains,
    ``None`` afterwards, so the fitted member pickles)."""

    def __init__(self, label="", bar=None):
        self.label = label
        self.bar = bar

    def on_epoch_end(self, net, **kwargs):
        if self.bar is None:
            return
        row = net.history[-1]
        score = f", valid_acc {row['valid_acc']:.4f}" if row.get("valid_acc") is not None else ""
        self.bar.set_postfix_str(f"{self.label}: epoch {row['epoch']}/{net.max_epochs}{score}")


def member_summary(index, total, member, seconds):
    """One line on a finished ensemble member: its epochs, best validation accuracy, time."""
    history = member.history
    best = best_score(history)
    best = "" if best is None else f", best valid_acc {best:.4f}"
    return (f"Ensemble member {index}/{total} ({type(member).__name__}, seed "
            f"{member.random_state}): {len(history)} epoch{'s' if len(history) != 1 else ''}"
            f"{best}, {seconds:.1f} s")


def fit_in_turn(members, X, y, verbose=1, finished=None):
    """Fit ``members`` one after another; return them. ``finished(i, member)`` is called
    after member ``i`` (0-based) is trained.

    ``verbose >= 1``: a bar over the members finished (with the ETA; the current member's
    epoch and validation accuracy beside it) and a line per finished member
    (:func:`member_summary`); ``verbose >= 2`` also the members' epoch tables.
    """
    finished = finished or (lambda i, member: None)
    if not verbose:
        for i, member in enumerate(members):
            finished(i, member.fit(X, y))
        return members
    with progress(total=len(members), unit="member", desc="ensemble", leave=True) as bar:
        for i, member in enumerate(members, start=1):
            label = f"member {i}/{len(members)} (seed {member.random_state})"
            watcher = MemberProgress(label, bar)
            member.set_params(verbose=verbose - 1,
                              callbacks=[*(member.callbacks or []), ("progress", watcher)])
            bar.set_postfix_str(label)
            start = time.perf_counter()
            try:
                member.fit(X, y)
            finally:
                watcher.bar = None
            bar.write(member_summary(i, len(members), member, time.perf_counter() - start),
                      file=sys.stdout)
            finished(i - 1, member)
            bar.update()
    return members


def member_progress(pairs, total, verbose):
    """The ``total`` (view, member) ``pairs`` an ensemble predicts, counted in a bar when
    ``verbose >= 2``."""
    if verbose < 2:
        return pairs
    return progress(pairs, total=total, unit="member", desc="ensemble predict")
