"""Compare models: train each once per seed on the same split and write a report.

Writes a new folder reports/<UTC time>-compare/ with report.md (per model: test and
train accuracy as mean ± 1.96·std over the seeds, parameters, epochs run, train time;
the best model named), PNG plots (train/valid loss and accuracy per epoch for every
model; the best model's confusion matrix, sample test predictions and most confident
mistakes) and the results as data (study.json, runs.csv, history.csv, predictions.csv,
test_images.npz): `kagdigits report DIR` rebuilds the report from them.

Without a labelled test set (--data kaggle, a train CSV) --test-size of the labelled
rows is held out as the test set. Fits run one at a time here, --n-jobs N at a time
in processes, or on Dask workers: --backend dask [--scheduler tcp://HOST:PORT].
Ctrl-C stops; the finished fits are still saved and reported.
"""

from kagdigits.cli.args import add_study_arguments, plural, positive_int

HELP = "train models x seeds on one split; report accuracy ± 1.96·std, curves, mistakes"


def add_arguments(parser):
    parser.add_argument("--models", default="lenet5,mlp",
                        help="comma-separated model names (see `kagdigits models`), "
                             "default lenet5,mlp")
    parser.add_argument("--seeds", type=positive_int, default=3,
                        help="fits per model, with seeds --seed, --seed+1, ...; default 3")
    parser.add_argument("--seed", type=int, default=0, help="first seed, default 0")
    add_study_arguments(parser)


def run(args):
    from kagdigits.cli.studies import print_estimates, run_and_report, study_estimator
    from kagdigits.errors import KagdigitsError
    from kagdigits.studies.compare import compare_study, run_compare
    from kagdigits.studies.data import load_study_data

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models or len(set(models)) < len(models):
        raise KagdigitsError(f"--models {args.models!r}: give distinct model names, "
                             "e.g. --models lenet5,mlp")
    estimators = {model: study_estimator(args, model) for model in models}
    seeds = list(range(args.seed, args.seed + args.seeds))
    data = load_study_data(args.data, args.root, args.test_size)
    print(f"Data: {data.description}; {len(data.y_train):,} train / {len(data.y_test):,} "
          f"test images. {plural(len(models), 'model')} x {plural(len(seeds), 'seed')} = "
          f"{plural(len(models) * len(seeds), 'fit')}.")
    if print_estimates(args, estimators, data.X_train, data.y_train, len(seeds)):
        return 0
    run_and_report(args, data, lambda: run_compare(estimators, seeds, data),
              lambda results, info: compare_study(results, data, info))
