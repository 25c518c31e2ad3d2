"""Rebuild a study's report from its saved results, without retraining.

DIR is a folder written by `kagdigits compare` or `kagdigits grid`. The report
(report.md and the PNGs) is written, with a copy of the results, to a new folder
reports/<UTC time>-<kind>/; DIR is left as it is. Several `compare` folders scored
on the same test set (e.g. one run per model, or on different machines) are merged
into one comparison.
"""

from pathlib import Path

HELP = "rebuild (or merge) study reports from saved results, without retraining"


def add_arguments(parser):
    parser.add_argument("dirs", type=Path, nargs="+", metavar="DIR",
                        help="report folder(s) holding study.json and the results CSVs")
    parser.add_argument("--out", type=Path, default=Path("reports"),
                        help="folder that gets the new report folder, default reports/")


def run(args):
    from kagdigits.cli.studies import print_results
    from kagdigits.studies.compare import merge_compare
    from kagdigits.studies.report import write_report
    from kagdigits.studies.results import load_study, new_report_dir, save_study

    studies = [load_study(folder) for folder in args.dirs]
    study = studies[0] if len(studies) == 1 else merge_compare(studies, args.dirs)
    study.info["rebuilt_from"] = [str(folder) for folder in args.dirs]
    folder = new_report_dir(args.out, study.info["kind"])
    save_study(folder, study)
    write_report(folder, study)
    print_results(folder)
