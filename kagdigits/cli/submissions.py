"""List your recent digit-recognizer submissions on Kaggle with their public scores.

Each one is joined, by its Kaggle reference, with its row in the local ledger
(submissions/ledger.csv) to show the model and its validation accuracy; public scores
Kaggle reports are saved into the ledger.
"""

from pathlib import Path

from kagdigits.cli.args import plural

HELP = "list your Kaggle submissions and public scores, joined with the ledger"
HEADER = ["ref", "date (UTC)", "status", "public", "file", "model", "valid_acc", "description"]


def add_arguments(parser):
    parser.add_argument("-n", "--limit", type=int, default=20,
                        help="how many recent submissions to list, default 20")
    parser.add_argument("--dir", type=Path, default=Path("submissions"),
                        help="folder of the ledger.csv, default submissions/")


def format_table(header, rows):
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = ("  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True))
             for line in [header, *rows])
    return "\n".join(line.rstrip() for line in lines)


def run(args):
    from kagdigits.kaggle.api import COMPETITION, connect, kaggle_errors, redact
    from kagdigits.kaggle.ledger import editing, ledger_path, read_ledger

    api = connect()
    with kaggle_errors():
        submissions = api.competition_submissions(COMPETITION, page_size=args.limit) or []
    submissions = [s for s in submissions if s is not None]
    if not submissions:
        print(f"No submissions to {COMPETITION} yet; upload one with `kagdigits submit`.")
        return 0
    ledger = ledger_path(args.dir)
    by_ref = {row["kaggle_ref"]: row for row in read_ledger(ledger) if row.get("kaggle_ref")}
    table, new_scores = [], {}
    for s in submissions:
        ref, score = str(s.ref), s.public_score or ""
        row = by_ref.get(ref, {})
        if row and score and row.get("public_score") != score:
            new_scores[ref] = score
        status = s.status.name.lower()
        note = s.error_description if status == "error" and s.error_description else s.description
        cells = [ref, f"{s.date:%Y-%m-%d %H:%M}" if s.date else "", status, score or "-",
                 s.file_name or "", row.get("model") or "-", row.get("valid_acc") or "-",
                 note or ""]
        table.append([redact(cell) for cell in cells])  # server text: no terminal codes
    print(format_table(HEADER, table))
    if new_scores:
        with editing(ledger) as rows:
            for row in rows:
                if row.get("kaggle_ref") in new_scores:
                    row["public_score"] = new_scores[row["kaggle_ref"]]
        print(f"Saved {plural(len(new_scores), 'public score')} in {ledger}")
    return 0
