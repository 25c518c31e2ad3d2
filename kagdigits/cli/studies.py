"""What ``compare`` and ``grid`` share: estimators from the study options, and running a
study with its report path printed."""

from kagdigits.cli.args import command_line, parse_params


def study_estimator(args, model, seed=0):
    """``model``'s estimator with ``--epochs``, ``--device`` and ``--set`` applied and checked;
    skorch's per-epoch table is off (``verbose=0``): studies show a progress bar instead."""
    from kagdigits.cli.training import set_error
    from kagdigits.models.params import ParameterError, make_estimator

    params = {**parse_params(args.params), "verbose": 0}
    if args.epochs is not None:
        params["max_epochs"] = args.epochs
    try:
        return make_estimator(model, params, device=args.device, random_state=seed)
    except ParameterError as exc:
        raise set_error(exc) from None


def print_estimates(args, estimators, X, y, fits):
    """Print how long the study's fits may take here (``fits`` per model in
    ``estimators``, a dict name -> estimator, on ``X``); with ``--dry-run`` say that
    nothing is trained. Returns whether to stop (``--dry-run``)."""
    for estimator in estimators.values():
        print(estimator.estimated_cost(X, y, fits=fits), flush=True)
    if args.dry_run:
        print("Dry run: nothing trained or written.")
    return args.dry_run


def print_results(folder):
    """Print the result table of the study saved in ``folder``, then where it is; the
    report's path is the last line."""
    from kagdigits.studies.report import summary_text
    from kagdigits.studies.results import load_study

    print(summary_text(load_study(folder)))
    print(f"Results and report: {folder}/ (rebuild with: kagdigits report {folder})")
    print(folder / "report.md")


def run_and_report(args, data, fits, make_study):
    """Run the study (see :func:`kagdigits.studies.execute.run_study`); print its result
    table and where its results and report are (also after Ctrl-C, for the fits done)."""
    from kagdigits.studies.execute import StudyInterrupted, run_study

    try:
        folder = run_study(data, fits, make_study, kind=args.command,
                           command=command_line(args), out=args.out, backend=args.backend,
                           n_jobs=args.n_jobs, scheduler=args.scheduler)
    except StudyInterrupted as exc:
        if exc.folder is not None:
            print_results(exc.folder)
        raise
    print_results(folder)
    return folder
