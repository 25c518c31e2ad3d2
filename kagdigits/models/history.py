"""Reading a training history (skorch's ``History``, or its list of per-epoch dicts)."""


def best_score(history, key="valid_acc"):
    """The highest ``key`` (default: the validation accuracy) over the epochs of ``history``
    that have one, or ``None`` if none has."""
    scores = [row[key] for row in history if row.get(key) is not None]
    return max(scores) if scores else None
