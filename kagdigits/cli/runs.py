"""List the training run folders in runs/, or remove them.

`kagdigits runs` lists every run: its id, model, start time (UTC), epochs trained (summed
over an ensemble's members), state (finished: it holds model.kd; unfinished: it can be
resumed with --resume), size on disk, best validation accuracy (none for an ensemble,
whose members each score their own validation split) and the data it trained on.

`kagdigits runs clean RUN_ID ...` removes the runs named; `--older-than 7d` those started
more than 7 days ago (units m, h, d, w; 1m at least); `--all` every run. Nothing is removed
otherwise; `--dry-run` only lists what would go. A run that a process is training (state
"training") is skipped, and a symbolic link in runs/ is removed as a link, never what it
points to.
"""

import argparse
import re
import time
from pathlib import Path

from kagdigits.cli.args import plural
from kagdigits.errors import KagdigitsError

HELP = "list the training runs in runs/ (model, epochs, state, size) or remove them"
HEADER = ["run", "model", "started (UTC)", "epochs", "state", "size", "valid_acc", "data"]
#: ``--older-than`` units, in seconds, and the form of an age: ASCII digits, then the unit.
UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
AGE = re.compile(r"([0-9]+(?:\.[0-9]+)?)([mhdw])", re.ASCII | re.IGNORECASE)
#: The longest age ``--older-than`` takes (older than any run): 100 years.
MAX_AGE = 100 * 365.25 * 86400


def add_arguments(parser):
    parser.add_argument("--dir", type=Path, default=Path("runs"),
                        help="the folder of the runs, default runs/")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    clean = actions.add_parser("clean", help="remove runs: those named, --older-than AGE "
                                             "or --all", description=__doc__)
    clean.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="runs to remove")
    clean.add_argument("--older-than", metavar="AGE",
                       help="remove the runs started more than AGE ago, e.g. 7d, 12h, 30m, 2w")
    clean.add_argument("--all", action="store_true", help="remove every run")
    clean.add_argument("--dry-run", action="store_true",
                       help="list what would be removed, remove nothing")
    clean.add_argument("--dir", type=Path, default=argparse.SUPPRESS,
                       help="the folder of the runs, default runs/")


def human_size(n_bytes):
    """``1536`` -> ``"1.5 KB"`` (powers of 1,000, as ``ls -h --si``)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return None  # not reached


def parse_age(text):
    """``"7d"``, ``"12h"``, ``"30m"``, ``"2w"``, ``"1.5d"`` -> seconds; a ``KagdigitsError``
    for anything else (``nan``, ``1e400d``, ``1_0d``, non-ASCII digits), for an age under
    a minute, which would take runs that have only just started, and for one over 100
    years."""
    text = str(text).strip()
    match = AGE.fullmatch(text)
    if match is None:
        raise KagdigitsError(f"age {text!r} is not a number with a unit m, h, d or w; "
                             "e.g. 7d (seven days) or 12h")
    seconds = float(match[1]) * UNITS[match[2].lower()]
    if seconds < 60:
        raise KagdigitsError(f"age {text!r} is under a minute and would take runs that have "
                             "only just started; give 1m or more, or use --all")
    if seconds > MAX_AGE:
        raise KagdigitsError(f"age {text!r} is longer than 100 years, older than any run; "
                             "give a shorter age (e.g. 52w), or use --all")
    return seconds


def table_rows(runs):
    """The listing's rows, one per :class:`~kagdigits.runs.listing.RunInfo`."""
    return [[r.path.name, r.model, time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.started)),
             str(r.epochs), r.state, human_size(r.size),
             "-" if r.valid_acc is None else f"{r.valid_acc:.4f}", r.data] for r in runs]


def selected(args, runs):
    """The runs ``clean`` removes."""
    if not (args.run_ids or args.older_than or args.all):
        raise KagdigitsError("say which runs to remove: RUN_ID ..., --older-than AGE "
                             "(e.g. 7d) or --all")
    by_name = {r.path.name: r for r in runs}
    unknown = [name for name in args.run_ids if name not in by_name]
    if unknown:
        raise KagdigitsError(f"no run {unknown[0]!r} in {args.dir}/; `kagdigits runs` lists "
                             "them")
    chosen = {name: by_name[name] for name in args.run_ids}
    if args.older_than:
        cutoff = time.time() - parse_age(args.older_than)
        chosen.update({r.path.name: r for r in runs if r.started < cutoff})
    if args.all:
        chosen = by_name
    return list(chosen.values())


def run(args):
    from kagdigits.cli.submissions import format_table
    from kagdigits.runs.listing import list_runs, remove_runs

    runs = list_runs(args.dir)
    if args.action != "clean":
        if not runs:
            print(f"No runs in {args.dir}/.")
            return 0
        print(format_table(HEADER, table_rows(runs)))
        for run in runs:
            if run.problem:
                print(f"Damaged: {run.problem}; resume cannot continue it (remove it with: "
                      f"kagdigits runs clean {run.path.name})")
        total = sum(r.size for r in runs)
        print(f"{plural(len(runs), 'run')}, {human_size(total)} in "
              f"{args.dir}/ (remove some with: kagdigits runs clean --older-than 7d)")
        return 0
    chosen = selected(args, runs)
    if not chosen:
        print(f"No run in {args.dir}/ matches; nothing removed.")
        return 0
    if args.dry_run:
        going = [r for r in chosen if r.state != "training"]
        skipped_line([r for r in chosen if r.state == "training"])
        print("\n".join(str(r.path) for r in going))
        print(f"Would remove {what(going, dry_run=True)} (--dry-run: nothing removed).")
        return 0
    removed, skipped, _ = remove_runs(chosen)
    skipped_line(skipped)
    print(f"Removed {what(removed)} from {args.dir}/.")
    return 0


def what(runs, dry_run=False):
    """``"2 runs (1.5 MB)"`` (``dry_run``: ``"2 runs, 1.5 MB"``), then ``" and 1 symbolic
    link"`` if any: what removing ``runs`` removes."""
    links = sum(r.is_link for r in runs)
    folders = plural(len(runs) - links, "run")
    size = human_size(sum(r.size for r in runs))
    text = f"{folders}, {size}" if dry_run else f"{folders} ({size})"
    return text + (f" and {plural(links, 'symbolic link')}" if links else "")


def skipped_line(runs):
    """Say which of the runs to remove are being trained, and so are kept."""
    if runs:
        names = ", ".join(r.path.name for r in runs[:3]) + (", ..." if len(runs) > 3 else "")
        print(f"Skipped {plural(len(runs), 'run')} being trained by another process ({names}); "
              "clean again once it has ended")
