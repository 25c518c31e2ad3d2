"""Comparing models: each model fitted once per seed on the same split, scored on the test set."""

import numpy as np
import pandas as pd

from kagdigits.errors import InputError
from kagdigits.studies.fits import HISTORY_KEYS, fit_and_evaluate
from kagdigits.studies.results import Study
from kagdigits.studies.runner import run_tasks

#: The z-value of the "mean ± 1.96·std" intervals.
Z = 1.96


def run_compare(estimators, seeds, data):
    """Yield one :func:`~kagdigits.studies.fits.fit_and_evaluate` result per (model, seed).

    ``estimators`` maps model names to unfitted estimators; every fit uses the same
    train/test split (``data``) and, within the estimator, the same validation split.
    """
    pairs = [(model, seed) for model in estimators for seed in seeds]
    tasks = [(model, seed, estimators[model], data.X_train, data.y_train, data.X_test,
              data.y_test) for model, seed in pairs]
    yield from run_tasks(fit_and_evaluate, tasks, [f"{m} seed {s}" for m, s in pairs])


def compare_study(results, data, info):
    """The :class:`Study` of finished fits: tables ``runs``, ``history``, ``predictions``."""
    runs = pd.DataFrame([r["run"] for r in results])
    history = pd.DataFrame(
        [{"model": r["run"]["model"], "seed": r["run"]["seed"], **row}
         for r in results for row in r["history"]],
        columns=["model", "seed", "epoch", *HISTORY_KEYS])
    n = len(data.y_test)
    predictions = pd.DataFrame({
        "model": np.repeat([r["run"]["model"] for r in results], n),
        "seed": np.repeat([r["run"]["seed"] for r in results], n),
        "index": np.tile(np.arange(n), len(results)),
        "label": np.tile(data.y_test, len(results)),
        "predicted": np.concatenate([r["predicted"] for r in results]) if results else [],
        "confidence": np.concatenate([r["confidence"] for r in results]) if results else [],
    })
    tables = {"runs": runs, "history": history, "predictions": predictions}
    return Study({"kind": "compare", **info}, tables, data.X_test, data.y_test)


def _interval(values):
    """``mean ± 1.96·std`` of ``values`` (sample std; ``nan`` for a single value)."""
    values = np.asarray(values, dtype=float)
    std = values.std(ddof=1) if len(values) > 1 else np.nan
    return values.mean(), Z * std


def summarise(runs):
    """One row per model, in the order run: means and 1.96·std over its seeds."""
    rows = []
    for model, group in runs.groupby("model", sort=False):
        test_mean, test_half = _interval(group["test_acc"])
        train_mean, train_half = _interval(group["train_acc"])
        rows.append({"model": model, "seeds": len(group), "params": int(group["params"].iloc[0]),
                     "test_acc": test_mean, "test_acc_pm": test_half,
                     "train_acc": train_mean, "train_acc_pm": train_half,
                     "epochs_mean": group["epochs"].mean(), "epochs_min": group["epochs"].min(),
                     "epochs_max": group["epochs"].max(),
                     "train_seconds": group["train_seconds"].mean()})
    return pd.DataFrame(rows)


def best_model(summary):
    """Name of the model with the highest mean test accuracy."""
    return summary.loc[summary["test_acc"].idxmax(), "model"]


def representative_seed(runs, model):
    """The seed of ``model`` whose test accuracy is closest to its median (lowest seed on ties)."""
    group = runs[runs["model"] == model]
    distance = (group["test_acc"] - group["test_acc"].median()).abs()
    return int(group.assign(distance=distance).sort_values(["distance", "seed"])["seed"].iloc[0])


def _sources(study, name):
    """What a merged report says of each study it merges (a merge of merges: their parts)."""
    if study.info.get("merged"):
        return study.info["merged"]
    runs = study.tables["runs"]
    return [{"folder": str(name), "command": study.info["command"],
             "created": study.info["created"], "backend": study.info["backend"],
             "wall_seconds": study.info["wall_seconds"],
             "models": list(dict.fromkeys(runs["model"]))}]


def seeds_by_model(runs):
    """``{model: [seeds]}`` in the order the models were run."""
    return {model: sorted(group["seed"].tolist())
            for model, group in runs.groupby("model", sort=False)}


def merge_compare(studies, names):
    """One comparison from several saved ``compare`` studies of the same test set."""
    first = studies[0]
    for study, name in zip(studies, names, strict=True):
        if study.info["kind"] != "compare":
            raise InputError(f"{name}: is a {study.info['kind']} report; only compare "
                             "reports can be merged")
        if not (np.array_equal(study.labels, first.labels)
                and np.array_equal(study.images, first.images)):
            raise InputError(f"{name}: has another test set than {names[0]}; only reports "
                             "of the same data and split can be merged")
    tables = {name: pd.concat([s.tables[name] for s in studies], ignore_index=True)
              for name in first.tables}
    repeated = tables["runs"].duplicated(["model", "seed"])
    if repeated.any():
        model, seed = tables["runs"].loc[repeated.idxmax(), ["model", "seed"]]
        raise InputError(f"{model} seed {seed} is in more than one report; merge reports "
                         "of different models or seeds")
    info = {**first.info, "wall_seconds": sum(s.info["wall_seconds"] for s in studies),
            "merged": [merged for study, name in zip(studies, names, strict=True)
                       for merged in _sources(study, name)]}
    return Study(info, tables, first.images, first.labels)
