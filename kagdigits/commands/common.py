"""Arguments and steps shared by the sub-commands that train models."""

import argparse
import difflib
import inspect
from pathlib import Path

from kagdigits.errors import KagdigitsError

#: Arguments a resumed run takes from its run.json rather than from the command line.
NOT_SAVED = ("command", "run", "resume", "debug")


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def add_model_argument(parser):
    """--model: a registered model name, default lenet5."""
    parser.add_argument("--model", default="lenet5",
                        help="registered model name (see `kagdigits models`), default lenet5")


def add_training_arguments(parser):
    """--model, --epochs, --device, --seed, --set and --resume."""
    add_model_argument(parser)
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="maximum number of epochs (default: the model's own)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available), cpu or cuda; default auto")
    parser.add_argument("--seed", type=int, default=0, help="random seed, default 0")
    parser.add_argument("--set", dest="params", action="append", default=[],
                        metavar="NAME=VALUE",
                        help="set an estimator parameter, e.g. --set module__dropout=0.3 "
                             "or --set lr=1e-3 (repeatable)")
    parser.add_argument("--resume", metavar="RUN_ID",
                        help="continue the interrupted run runs/RUN_ID with the settings it "
                             "was started with (other options are ignored)")


def parse_value(text):
    """Interpret a --set value as a Python literal when it is one, else as a string."""
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_params(pairs):
    """``["lr=1e-3", "module__dropout=0.3"]`` -> ``{"lr": 0.001, "module__dropout": 0.3}``."""
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise KagdigitsError(f"--set {pair!r} is not NAME=VALUE; e.g. --set lr=1e-3")
        params[name.strip()] = parse_value(value.strip())
    return params


def _init_arguments(target):
    """Keyword names ``target`` (a class) takes, or ``None`` if it takes any (``**kwargs``)."""
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return [p.name for p in parameters if p.kind is not p.VAR_POSITIONAL]


def known_param_names(estimator):
    """Names ``--set`` accepts for ``estimator``, and the prefixes that take any name."""
    from kagdigits.augment import augmentation_class

    if not hasattr(estimator, "prefixes_"):  # not a skorch net (the ensemble)
        return set(estimator.get_params()), []
    names = {n for n in estimator.get_params(deep=False) if not n.startswith("_")}
    open_prefixes = []
    for prefix in ("module", "criterion", "optimizer", "iterator_train", "iterator_valid",
                   "dataset", "augment"):
        target = getattr(estimator, prefix)
        arguments = _init_arguments(augmentation_class(target) if prefix == "augment" else target)
        if arguments is None:
            open_prefixes.append(f"{prefix}__")
        else:
            names |= {f"{prefix}__{name}" for name in arguments if name != "params"}
    for item in estimator.get_default_callbacks() + list(estimator.callbacks or []):
        if not isinstance(item, tuple):
            continue
        name, callback = item
        names.add(f"callbacks__{name}")
        names |= {f"callbacks__{name}__{p}" for p in callback.get_params(deep=False)}
    open_prefixes.append("compile__")
    return names, open_prefixes


def check_param_names(estimator, params, model):
    """Raise a one-line error naming close matches for any unknown --set name."""
    names, open_prefixes = known_param_names(estimator)
    for name in params:
        if name in names or name.startswith(tuple(open_prefixes)):
            continue
        prefix, _, leaf = name.rpartition("__")
        same_kind = {n.rpartition("__")[2]: n for n in sorted(names)
                     if n.rpartition("__")[0] == prefix}
        close = [same_kind[c] for c in difflib.get_close_matches(leaf, same_kind, cutoff=0.75)]
        if close:
            hint = f"did you mean {' or '.join(close)}?"
        elif same_kind and prefix:
            hint = f"{prefix}__<name> takes one of: {', '.join(same_kind)}"
        else:
            hint = ("use an estimator parameter such as lr, max_epochs, batch_size, patience, "
                    "or module__<option> for the network")
        raise KagdigitsError(f"--set {name}: {model} has no parameter {name!r}; {hint}")


def model_class(name):
    """The estimator class registered as ``name``; a one-line error with close matches."""
    from kagdigits.estimators import REGISTRY, get_estimator_class

    try:
        return get_estimator_class(name)
    except ValueError as exc:
        close = difflib.get_close_matches(name, sorted(REGISTRY), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise KagdigitsError(f"{exc}{hint}") from None


def build_estimator(args, **overrides):
    """The estimator named by ``args.model`` with the CLI's settings applied and checked."""
    from sklearn.base import clone

    from kagdigits.device import resolve_device

    cls = model_class(args.model)
    resolve_device(args.device)  # fail early and clearly on an unusable device
    estimator = cls(device=args.device, random_state=args.seed)
    params = {**parse_params(args.params), **overrides}
    if args.epochs is not None:
        params["max_epochs"] = args.epochs
    check_param_names(estimator, params, args.model)
    try:
        estimator.set_params(**params)
        clone(estimator).set_params(device="cpu").initialize()  # bad values fail here
    except (ValueError, TypeError) as exc:
        raise KagdigitsError(f"--set: {exc}") from None
    return estimator


def add_force_argument(parser, what):
    """--force: allow replacing an existing ``what``."""
    parser.add_argument("--force", action="store_true",
                        help=f"replace {what} if it exists (default: refuse)")


def resume_settings(args):
    """With ``--resume RUN_ID``: load the run's saved settings into ``args``; its folder.

    Without it, return ``None``. The run must have been started by the same command.
    """
    from kagdigits.checkpoints import find_run_dir, read_run_info

    if not args.resume:
        return None
    run_dir = find_run_dir(args.resume)
    info = read_run_info(run_dir)
    if info.get("command") != args.command:
        raise KagdigitsError(f"run {run_dir.name} was started by `kagdigits {info.get('command')}`"
                             f"; resume it with: kagdigits {info.get('command')} --resume "
                             f"{run_dir.name}")
    for name, value in info["args"].items():
        setattr(args, name, value)
    print(f"Resuming run {run_dir} with its saved settings: "
          + ", ".join(f"{k}={v}" for k, v in info["args"].items()))
    return run_dir


def _data_digest(X, y):
    import hashlib

    import numpy as np

    digest = hashlib.sha256(np.ascontiguousarray(X).data)
    digest.update(np.ascontiguousarray(y).data)
    return digest.hexdigest()


def fit_checkpointed(args, estimator, X, y, run_dir=None):
    """Fit with a checkpoint every epoch in ``runs/<run-id>/``; resume when ``run_dir`` is set.

    A new run saves ``args`` and a digest of the training data in ``run.json``; a
    resumed one checks the data is unchanged. Ctrl-C raises ``TrainingInterrupted``
    whose message says how to resume.
    """
    from kagdigits.checkpoints import (
        fit_run,
        new_run_dir,
        read_run_info,
        saved_epochs,
        write_run_info,
    )

    digest = _data_digest(X, y)
    ensemble = hasattr(estimator, "new_members")
    if run_dir is None:
        run_dir = new_run_dir(prefix=args.model)
        saved = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                 if k not in NOT_SAVED}
        write_run_info(run_dir, {"command": args.command, "args": saved, "data": digest})
        resume = False
    else:
        if read_run_info(run_dir).get("data") != digest:
            raise KagdigitsError(f"the training data differ from those run {run_dir.name} "
                                 "started with; restore them, or start a new run")
        resume = True
        if not ensemble:
            print(f"Continuing after epoch {saved_epochs(run_dir)} of {estimator.max_epochs}.")
    hint = f"resume with: kagdigits {args.command} --resume {run_dir.name}"
    print(f"Checkpoints: {run_dir}/ (Ctrl-C stops cleanly; {hint})")
    if ensemble:  # each member is checkpointed in its own sub-folder

        def fit_member(index, member, X, y):
            folder = run_dir / f"member-{index + 1:02d}"
            return fit_run(member, X, y, folder, resume=resume, resume_hint=hint)

        return estimator.fit(X, y, fit_member=fit_member)
    return fit_run(estimator, X, y, run_dir, resume=resume, resume_hint=hint)
