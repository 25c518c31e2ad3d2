"""What an ensemble prints while it trains and predicts: a bar over its members (the
training stack's or member's epoch beside it), a line per finished member."""

from skorch.callbacks import Callback

from kagdigits.models.history import best_score
from kagdigits.models.progress import progress


class UnitProgress(Callback):
    """Shows the epochs of what trains (a stack or a member, named ``label``) on the
    ensemble's ``bar`` (``None`` once done, so the fitted estimator pickles)."""

    def __init__(self, label="", bar=None):
        self.label = label
        self.bar = bar

    def on_epoch_end(self, net, **kwargs):
        if self.bar is not None:
            row = net.history[-1]
            score = (f", valid_acc {row['valid_acc']:.4f}"
                     if row.get("valid_acc") is not None else "")
            self.bar.set_postfix_str(f"{self.label}: epoch {row['epoch']}/{net.max_epochs}"
                                     f"{score}")


def members_bar(total, verbose, desc="ensemble"):
    """A bar over ``total`` members when ``verbose``, else ``None``."""
    return progress(total=total, unit="member", desc=desc, leave=True) if verbose else None


def member_summary(index, total, member):
    """One line on a finished ensemble member: its epochs, best validation accuracy, time."""
    history = member.history
    best = best_score(history)
    best = "" if best is None else f", best valid_acc {best:.4f}"
    seconds = sum(row.get("dur", 0.0) for row in history)
    return (f"Ensemble member {index}/{total} ({type(member).__name__}, seed "
            f"{member.random_state}): {len(history)} epoch{'s' if len(history) != 1 else ''}"
            f"{best}, {seconds:.1f} s")
