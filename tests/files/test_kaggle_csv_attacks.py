"""Attacks on the Kaggle CSV readers: other line ends, separators, headers, huge cells and
encodings, each read or refused in one line.

Part of the attacks on every input kagdigits reads (issue 14): each case asserts that the
attack is refused in one line (or handled) and that nothing runs, hangs or is lost.
"""

import pytest

from tests.helpers import one_line

# -- Kaggle CSV readers (defect 6) --

def kaggle_text(rows, n_pixels=784, label=True, sep=",", end="\n"):
    """A Kaggle CSV's text: header and ``rows`` (lists of values) joined by ``sep``/``end``."""
    header = (["label"] if label else []) + [f"pixel{i}" for i in range(n_pixels)]
    return end.join(sep.join(map(str, r)) for r in [header, *rows]) + end


def pixel_row(label, value=0, n_pixels=784):
    return [label, *[value] * n_pixels]


@pytest.mark.parametrize("end", ["\r", "\r\n", "\n"])
def test_cr_only_line_ends_are_read(tmp_path, end):
    """Excel's "CSV (Macintosh)" ends lines with CR alone."""
    from kagdigits.files.kaggle_csv import read_test_csv, read_train_csv

    train = tmp_path / "train.csv"
    with open(train, "w", newline="") as f:
        f.write(kaggle_text([pixel_row(3, 7), pixel_row(5, 9)], end=end))
    X, y = read_train_csv(train)
    assert X.shape == (2, 784) and y.tolist() == [3, 5] and X[1, 0] == 9
    test = tmp_path / "test.csv"
    with open(test, "w", newline="") as f:
        f.write(kaggle_text([[1] * 784], label=False, end=end))
    assert read_test_csv(test).shape == (1, 784)


def test_cr_only_bad_cell_names_its_line(tmp_path):
    from kagdigits.errors import InputError
    from kagdigits.files.kaggle_csv import read_train_csv

    path = tmp_path / "train.csv"
    with open(path, "w", newline="") as f:
        f.write(kaggle_text([pixel_row(3), pixel_row(4), [5, "x", *[0] * 783]], end="\r"))
    with pytest.raises(InputError, match="line 4, column pixel0: 'x'") as info:
        read_train_csv(path)
    one_line(info)


@pytest.mark.parametrize("sep, name", [(";", "semicolons"), ("\t", "tabs"), ("|", "bars")])
@pytest.mark.parametrize("label", [True, False])
def test_other_separators_are_named(tmp_path, sep, name, label):
    from kagdigits.errors import InputError
    from kagdigits.files.kaggle_csv import read_test_csv, read_train_csv

    path = tmp_path / "data.csv"
    path.write_text(kaggle_text([pixel_row(3)[not label:]], label=label, sep=sep))
    with pytest.raises(InputError, match=f"separated by {name}") as info:
        (read_train_csv if label else read_test_csv)(path)
    one_line(info)


@pytest.mark.parametrize("text, reader, message", [
    ("label\n3\n", "train", "has 0 pixel columns"),
    ("label,pixel0\n3,4\n", "train", "has 1 pixel columns"),
    ("pixel0\n4\n", "test", "has 1 pixel columns"),
    ("label,pixel0,pixel1\n3,4,5\n", "train", "has 2 pixel columns"),
    ("x" * 200_000 + ",pixel0\n", "test", "column 1 of the header|header line is not CSV"),
    ("\ufeff" + "label;pixel0;pixel1\n", "train", "separated by semicolons"),
])
def test_header_attacks(tmp_path, text, reader, message):
    from kagdigits.errors import InputError
    from kagdigits.files.kaggle_csv import read_test_csv, read_train_csv

    path = tmp_path / "data.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message) as info:
        (read_train_csv if reader == "train" else read_test_csv)(path)
    assert len(one_line(info)) < 400


@pytest.mark.parametrize("cell", ["9" * 200_000, "x" * 200_000, '"' + "1" * 140_000 + '"'])
def test_huge_cell_is_one_line(tmp_path, cell):
    from kagdigits.errors import InputError
    from kagdigits.files.kaggle_csv import read_train_csv

    path = tmp_path / "train.csv"
    path.write_text(kaggle_text([pixel_row(3), [4, *[0] * 783, cell]]))
    with pytest.raises(InputError, match="line 3") as info:
        read_train_csv(path)
    assert len(one_line(info)) < 400


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "latin-1"])
def test_other_encodings_are_one_line(tmp_path, encoding):
    from kagdigits.errors import InputError
    from kagdigits.files.kaggle_csv import read_train_csv

    path = tmp_path / "train.csv"
    text = kaggle_text([pixel_row(3)])
    if encoding == "latin-1":
        text = text.replace("0\n", "\xe9\n")  # a Latin-1 byte in the last cell
    path.write_bytes(("\ufeff" if encoding == "utf-16-be" else "").encode(encoding)
                     + text.encode(encoding))
    with pytest.raises(InputError, match="UTF-16|UTF-8|line 2") as info:
        read_train_csv(path)
    one_line(info)
