"""A grid of settings of one model, each scored by scikit-learn's ``cross_validate``.

The table has one row per setting, like the seed study's technique table: early
stopping, activation, pooling, weight decay, init, optimizer (and any other grid
parameter), epochs run, the epoch kept, and train/validation loss and accuracy.
"""

import itertools

import numpy as np
import pandas as pd
from sklearn.base import clone

from kagdigits.errors import KagdigitsError
from kagdigits.signature import parameters
from kagdigits.studies.fits import epochs_scorer, kept_epoch_scorer
from kagdigits.studies.results import Study
from kagdigits.studies.runner import run_tasks

SCORING = {"acc": "accuracy", "loss": "neg_log_loss", "epochs": epochs_scorer,
           "kept_epoch": kept_epoch_scorer}
#: Grid parameter -> its column in the table; these columns are shown for every grid.
COLUMNS = {"patience": "early stopping", "module__activation": "activation",
           "module__pooling": "pooling", "optimizer__weight_decay": "weight decay",
           "module__init": "init", "optimizer": "optimizer"}
RESULTS = ["epochs", "kept epoch", "train loss", "train acc", "valid loss", "valid acc"]


def settings_of(grid):
    """Every combination of the grid's values, the first parameter varying slowest."""
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]


def display(value):
    """A short text for a parameter value: ``relu``, ``0.001``, ``Adam``, ``none``."""
    if value is None:
        return "none"
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return getattr(value, "__name__", None) or repr(value)


def _defaults(target):
    return {p.name: p.default for p in parameters(target) or () if p.default is not p.empty}


def technique_columns(estimator, setting):
    """The table's description of ``estimator`` with ``setting`` applied: column -> text."""
    module = {**_defaults(estimator.module), **estimator.get_params_for("module")}
    optimizer = {**_defaults(estimator.optimizer), **estimator.get_params_for("optimizer")}
    columns = {"early stopping": "on" if estimator.stops_early else "off"}
    for name in ("activation", "pooling"):
        if name in module:
            columns[name] = display(module[name])
    columns["weight decay"] = display(optimizer.get("weight_decay", 0))
    if "init" in module:
        columns["init"] = display(module["init"])
    columns["optimizer"] = display(estimator.optimizer)
    for name, value in setting.items():
        if name not in COLUMNS:
            columns[name] = display(value)
    return columns


def check_settings(estimator, settings):
    """Raise a one-line error for the first setting the estimator refuses."""
    for setting in settings:
        try:
            clone(estimator).set_params(**setting, device="cpu").initialize()
        except (ValueError, TypeError) as exc:
            shown = ", ".join(f"{k}={display(v)}" for k, v in setting.items())
            raise KagdigitsError(f"the setting {shown} fails: {exc}") from None
        if setting.get("patience") is not None and estimator.train_split is None:
            raise KagdigitsError("early stopping (patience) needs a validation split; "
                                 "train_split is None")


def score_setting(estimator, X, y, split):
    """``cross_validate`` on one (train, valid) split; train/valid scores and the epochs."""
    from sklearn.model_selection import cross_validate

    scores = cross_validate(estimator, X, y, cv=[split], scoring=SCORING,
                            return_train_score=True, error_score="raise")
    return {"epochs": scores["test_epochs"][0], "kept epoch": scores["test_kept_epoch"][0],
            "train loss": -scores["train_loss"][0], "train acc": scores["train_acc"][0],
            "valid loss": -scores["test_loss"][0], "valid acc": scores["test_acc"][0],
            "fit seconds": scores["fit_time"][0], "device": str(estimator.device)}


def cv_splits(y, folds, seed):
    """One stratified 80/20 hold-out split (``folds=1``) or stratified K-fold splits."""
    from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

    if folds == 1:
        cv = StratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=seed)
    else:
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(y)), y))


def run_grid(estimator, settings, X, y, splits):
    """Yield ``(setting index, fold, scores)`` for every setting and split."""
    pairs = [(s, f) for s in range(len(settings)) for f in range(len(splits))]
    tasks = [(clone(estimator).set_params(**settings[s]), X, y, splits[f]) for s, f in pairs]
    labels = [f"setting {s + 1}/{len(settings)} "
              f"({', '.join(display(v) for v in settings[s].values())}) fold {f + 1}"
              for s, f in pairs]
    for (s, f), scores in zip(pairs, run_tasks(score_setting, tasks, labels), strict=False):
        yield s, f, scores


def grid_study(estimator, settings, results, info):
    """The :class:`Study` of finished (setting, fold, scores) results: table ``folds``."""
    described = []
    for setting in settings:
        configured = clone(estimator).set_params(**setting)
        described.append({"columns": technique_columns(configured, setting),
                          "max_epochs": configured.max_epochs})
    folds = pd.DataFrame([{"setting": s, "fold": f, **scores} for s, f, scores in results],
                         columns=["setting", "fold", *RESULTS, "fit seconds", "device"])
    return Study({"kind": "grid", **info, "settings": described}, {"folds": folds})


def _early_stopping_text(base, epochs, max_epochs):
    if base != "on":
        return base
    stopped = epochs[epochs < max_epochs]
    if not len(stopped):
        return "on (not triggered)"
    at = f"{stopped.min():g}" if stopped.min() == stopped.max() else \
        f"{stopped.min():g}–{stopped.max():g}"
    some = f" in {len(stopped)} of {len(epochs)} folds" if len(stopped) < len(epochs) else ""
    return f"on (stopped at {at}{some})"


def grid_table(study):
    """One row per setting: the technique columns, then mean results over the folds.

    Adds ``valid acc ±`` (1.96·std over folds) when there are several folds.
    """
    folds = study.tables["folds"]
    rows = []
    for index, described in enumerate(study.info["settings"]):
        group = folds[folds["setting"] == index]
        if not len(group):
            continue
        row = dict(described["columns"])
        row["early stopping"] = _early_stopping_text(
            row["early stopping"], group["epochs"].to_numpy(), described["max_epochs"])
        row.update({name: group[name].mean() for name in RESULTS})
        row["valid acc ±"] = 1.96 * group["valid acc"].std(ddof=1) if len(group) > 1 else np.nan
        row["setting"] = index
        rows.append(row)
    return pd.DataFrame(rows)
