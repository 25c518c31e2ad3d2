"""Run a grid of settings of one model through scikit-learn's cross_validate; report a table.

Each --param NAME=V1,V2,... adds a dimension (NAME is an estimator parameter, as for
--set); --early-stopping on|off|on,off adds early stopping. Every setting is scored on
the same splits of the train images (--folds 1: one stratified 80/20 hold-out split;
K: stratified K-fold), with train and validation loss and accuracy and the epochs run.

Writes a new folder reports/<UTC time>-grid/ with report.md (one row per setting:
early stopping (epoch stopped), activation, pooling, weight decay, init, optimizer,
epochs, train loss/accuracy, valid loss/accuracy; the best setting named), grid.png,
and the results as data (study.json, folds.csv) for `kagdigits report DIR`.
Runs locally (--n-jobs) or on Dask workers: --backend dask [--scheduler tcp://HOST:PORT].

Example: kagdigits grid --model lenet5 --param module__activation=sigmoid,relu
         --param optimizer__weight_decay=0,1e-3 --param module__pooling=avg,max
"""

from kagdigits.cli.args import (
    add_model_argument,
    add_study_arguments,
    build_grid,
    plural,
    positive_int,
)

HELP = "score a grid of settings of one model (cross_validate); report a technique table"


def add_arguments(parser):
    add_model_argument(parser)
    parser.add_argument("--param", dest="grid", action="append", default=[],
                        metavar="NAME=V1,V2,...",
                        help="a grid dimension, e.g. --param module__activation=sigmoid,relu "
                             "(repeatable)")
    parser.add_argument("--early-stopping", metavar="on|off|on,off",
                        help="early stopping on, off, or both as a grid dimension "
                             "(default: the model's, on)")
    parser.add_argument("--folds", type=positive_int, default=1,
                        help="1: one stratified 80/20 hold-out split (default); K: stratified "
                             "K-fold cross-validation")
    parser.add_argument("--seed", type=int, default=0,
                        help="random_state of every fit and seed of the splits, default 0")
    add_study_arguments(parser)


def run(args):
    from kagdigits.cli.studies import print_estimates, run_and_report, study_estimator
    from kagdigits.errors import KagdigitsError
    from kagdigits.models.params import ParameterError, check_param_names
    from kagdigits.studies.data import load_study_data
    from kagdigits.studies.grid import (
        check_settings,
        cv_splits,
        display,
        grid_study,
        run_grid,
        settings_of,
    )

    if not args.grid and not args.early_stopping:
        raise KagdigitsError("give at least one --param NAME=V1,V2 (or --early-stopping on,off)")
    estimator = study_estimator(args, args.model, seed=args.seed)
    if estimator.networks() != [estimator]:
        raise KagdigitsError(f"grid varies the settings of one network; {args.model} is not "
                             "one: grid its member model instead (e.g. --model kagglecnn)")
    grid = build_grid(args.grid, args.early_stopping, estimator.patience)
    try:
        check_param_names(estimator, grid, args.model)
    except ParameterError as exc:
        raise KagdigitsError(f"--param {exc.param}: {exc}") from None
    settings = settings_of(grid)
    try:
        check_settings(estimator, settings)
    except KagdigitsError as exc:
        raise KagdigitsError(f"--param: {exc}") from None
    data = load_study_data(args.data, args.root, args.test_size)
    splits = cv_splits(data.y_train, args.folds, args.seed)
    print(f"Data: {data.description}; the grid uses its {len(data.y_train):,} train images. "
          f"{plural(len(settings), 'setting')} x {plural(len(splits), 'split')} = "
          f"{plural(len(settings) * len(splits), 'fit')}.")
    X_fit = data.X_train[splits[0][0]]  # the rows one fit trains on (the first split's)
    if print_estimates(args, {args.model: estimator}, X_fit, data.y_train[splits[0][0]],
                       len(settings) * len(splits)):
        return 0
    fixed = ", ".join(args.params + ([f"max_epochs={args.epochs}"] if args.epochs else []))
    extra = {"model": args.model, "folds": args.folds, "seed": args.seed, "fixed": fixed,
             "grid": {name: [display(v) for v in values] for name, values in grid.items()}}
    run_and_report(args, data,
              lambda: run_grid(estimator, settings, data.X_train, data.y_train, splits),
              lambda results, info: grid_study(estimator, settings, results,
                                               {**info, **extra}))
