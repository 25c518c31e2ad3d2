"""What the estimators print while they work: epoch tables without colour codes where no
terminal shows them, a bar over an epoch's batches, and progress bars for long predictions
(an ensemble's own progress: :mod:`kagdigits.models.ensemble_progress`).

Colour (skorch's ``PrintLog`` marks the best epoch's values in ANSI colours): off when
``NO_COLOR`` is set (https://no-color.org), on when ``FORCE_COLOR`` is set, else on only
when stdout is a terminal or a Jupyter kernel (which shows the colours); so a log file
gets plain text.
"""

import math
import multiprocessing
import os
import re
import sys
import threading

from skorch.callbacks import Callback, PrintLog
from skorch.dataset import get_len
from tqdm.auto import tqdm

from kagdigits.models.history import remaining_seconds

#: A progress bar appears only after this many seconds (short calls show nothing).
BAR_DELAY = 2.0
#: ``None``: no bar when stderr is not a terminal (a log file gets no bar), as tqdm does.
BAR_DISABLE = None
#: The bar over an epoch's batches refreshes its time left for the fit every this many batches.
REMAINING_EVERY = 16
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


def in_worker():
    """Whether this code runs in a parallel worker (a joblib or Dask process, or a thread
    other than the main one), whose output would interleave with its siblings'."""
    return (multiprocessing.parent_process() is not None
            or threading.current_thread() is not threading.main_thread())


class EpochTable(PrintLog):
    """skorch's ``PrintLog`` (the per-epoch table), in colour only where it is shown
    (:func:`use_colour`); the same table as plain text elsewhere. Every fit, a resumed one
    too, starts with the header; in a parallel worker (:func:`in_worker`, e.g.
    ``GridSearchCV(n_jobs=2)``) the table is printed whole when the fit ends, so that
    parallel fits' tables do not interleave line by line."""

    def table(self, row):
        text = super().table(row)
        return text if self.sink is not print or use_colour() else ANSI.sub("", text)

    def on_train_begin(self, net, **kwargs):
        # a resumed run restores ``first_iteration_ = False`` after this; ``_header`` is
        # private (not checkpointed), so the resumed fit shows the header again
        self._header = True
        self._held = [] if in_worker() else None

    def on_epoch_end(self, net, **kwargs):
        if getattr(self, "_header", False):
            self.first_iteration_, self._header = True, False
        super().on_epoch_end(net, **kwargs)

    def _sink(self, text, verbose):
        if getattr(self, "_held", None) is not None and verbose:
            self._held.append(text)
        else:
            super()._sink(text, verbose)

    def on_train_end(self, net, **kwargs):
        held, self._held = getattr(self, "_held", None), None
        if held:
            self.sink("\n".join(held))  # one write: whole, not mixed with other workers'


def duration(seconds):
    """``"0.4 s"``, ``"45 s"``, ``"12 min"``, ``"3.4 h"``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def progress(iterable=None, *, total=None, unit="it", desc=None, leave=False):
    """A tqdm bar on stderr that appears only after :data:`BAR_DELAY` seconds."""
    return tqdm(iterable, total=total, unit=unit, desc=desc, leave=leave, delay=BAR_DELAY,
                dynamic_ncols=True, file=sys.stderr, disable=BAR_DISABLE)


class BatchProgress(Callback):
    """A bar over the training batches of each epoch (with its rate and time left), on a
    terminal when ``verbose >= 1`` and an epoch takes longer than :data:`BAR_DELAY`
    seconds; never in a parallel worker. From the second epoch on it also shows the time
    the whole fit has left (:func:`~kagdigits.models.history.remaining_seconds`: the
    epochs left at the pace of the latest ones), ``fit: about 4 min left``. It closes when
    the epoch ends (its row of the epoch table follows)."""

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        self._bar = None
        if not net.verbose or dataset_train is None or in_worker():
            return
        batch_size = net.get_params_for("iterator_train").get("batch_size", net.batch_size)
        total = math.ceil(get_len(dataset_train) / batch_size)
        self._bar = progress(total=total, unit="batch", desc=f"epoch {len(net.history)}")
        self._show_remaining(net, refresh=True)

    def _show_remaining(self, net, refresh=False):
        seconds = remaining_seconds(net)
        if seconds is not None:
            self._bar.set_postfix_str(f"fit: about {duration(seconds)} left", refresh=refresh)

    def on_batch_end(self, net, training=False, **kwargs):
        if training and getattr(self, "_bar", None) is not None:
            self._bar.update()
            if self._bar.n % REMAINING_EVERY == 0:
                self._show_remaining(net)

    def on_epoch_end(self, net, **kwargs):
        if getattr(self, "_bar", None) is not None:
            self._bar.close()
        self._bar = None

    on_train_end = on_epoch_end  # a fit stopped mid-epoch (Ctrl-C) closes its bar too


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
