"""Download the digit-recognizer files from Kaggle into data/ and check them.

Fetches the competition zip with the official kaggle client, unpacks train.csv,
test.csv and sample_submission.csv, and checks their headers and row counts
(42,000 / 28,000) before putting them in place. Skips the download when valid files
are already there; --force downloads again and replaces them.

Needs Kaggle credentials (kaggle.json, or KAGGLE_USERNAME and KAGGLE_KEY) and the
competition rules accepted on https://www.kaggle.com/competitions/digit-recognizer/rules
"""

from pathlib import Path

HELP = "download the Kaggle digit-recognizer files into data/"
FILES = ("train.csv", "test.csv", "sample_submission.csv")
EXPECTED_ROWS = {"train.csv": 42_000, "test.csv": 28_000}


def add_arguments(parser):
    parser.add_argument("--out", type=Path, default=Path("data"),
                        help="folder for the files, default data/")
    parser.add_argument("--force", action="store_true",
                        help="download again and replace the files in --out")


def check_files(folder):
    """Check train.csv and test.csv in ``folder``; return their row counts.

    Raises ``InputError`` naming the first problem (header, values, row count).
    """
    from kagdigits.errors import InputError
    from kagdigits.files.kaggle_csv import read_test_csv, read_train_csv

    folder = Path(folder)
    counts = {"train.csv": len(read_train_csv(folder / "train.csv")[0]),
              "test.csv": len(read_test_csv(folder / "test.csv"))}
    for name, expected in EXPECTED_ROWS.items():
        if counts[name] != expected:
            raise InputError(f"{folder / name}: has {counts[name]:,} rows, expected "
                             f"{expected:,}")
    return counts


def unpack(archive, folder):
    """Extract the competition files from ``archive`` into ``folder``."""
    import zipfile

    from kagdigits.errors import KagdigitsError

    try:
        with zipfile.ZipFile(archive) as zf:
            names = set(zf.namelist())
            missing = [name for name in FILES if name not in names]
            if missing:
                raise KagdigitsError(
                    f"the Kaggle download has no {', '.join(missing)} (it holds "
                    f"{', '.join(sorted(names)) or 'nothing'}); nothing was written")
            for name in FILES:
                zf.extract(name, folder)
    except zipfile.BadZipFile:
        raise KagdigitsError("the Kaggle download is not a valid zip file; nothing was written, "
                             "retry") from None


def run(args):
    import shutil
    import tempfile

    from kagdigits.errors import InputError, KagdigitsError
    from kagdigits.files.atomic import atomic_write
    from kagdigits.kaggle.api import COMPETITION, connect, kaggle_errors

    out = args.out
    present = [name for name in FILES if (out / name).exists()]
    if present and not args.force:
        if not {"train.csv", "test.csv"} <= set(present):
            raise KagdigitsError(f"{out} holds {', '.join(present)} but not both train.csv "
                                 "and test.csv; pass --force to download and replace them")
        try:
            counts = check_files(out)
        except InputError as exc:
            raise KagdigitsError(f"{exc}; pass --force to download the files again") \
                from None
        print(f"{out / 'train.csv'} ({counts['train.csv']:,} rows) and {out / 'test.csv'} "
              f"({counts['test.csv']:,} rows) are already there and valid; nothing "
              "downloaded (--force to download again)")
        return 0

    api = connect()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=out) as tmp:
        with kaggle_errors():
            api.competition_download_files(COMPETITION, path=tmp, force=True, quiet=False)
        archives = sorted(Path(tmp).glob("*.zip"))
        if not archives:
            raise KagdigitsError("Kaggle sent no zip file; nothing was written, retry later")
        unpacked = Path(tmp) / "files"
        unpack(archives[0], unpacked)
        try:
            counts = check_files(unpacked)
        except InputError as exc:
            raise KagdigitsError(f"the downloaded files are not valid: {exc}") from None
        for name in FILES:
            with open(unpacked / name, "rb") as src, \
                    atomic_write(out / name, "wb", overwrite=args.force) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    print(f"Wrote {out / 'train.csv'} ({counts['train.csv']:,} rows), {out / 'test.csv'} "
          f"({counts['test.csv']:,} rows) and {out / 'sample_submission.csv'}")
    return 0
