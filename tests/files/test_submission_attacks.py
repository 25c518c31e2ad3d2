"""Attacks on the submission validator: only one ASCII digit is a label; odd files are one
line; nothing is sent to Kaggle for a file it refuses.

Part of the attacks on every input kagdigits reads (issue 14): each case asserts that the
attack is refused in one line (or handled) and that nothing runs, hangs or is lost.
"""

import pytest

from tests.helpers import one_line

# -- the submission validator (defect 5) --

def labels_text(labels, header="ImageId,Label"):
    return "\n".join([header, *(f"{i},{label}" for i, label in enumerate(labels, 1))]) + "\n"


@pytest.mark.parametrize("label", ["\u0663", "\u00b2", "\u0669", "\uff14", '"4\n"', '" 4\r"',
                                   "1" * 100_000, "4.0", "+4", "-0", "0x4", "", "٣٣"])
def test_only_one_ascii_digit_is_a_label(tmp_path, label):
    """Arabic-Indic 3, superscript 2, full-width 4, a quoted "4\\n" ... are refused."""
    from kagdigits.errors import InputError
    from kagdigits.files.submission import read_labels_csv

    path = tmp_path / "sub.csv"
    path.write_text(labels_text([1, 2, label, 5]), encoding="utf-8")
    with pytest.raises(InputError, match="line 4: Label .* is not an integer 0..9") as info:
        read_labels_csv(path)
    assert len(one_line(info)) < 300


@pytest.mark.parametrize("data, message", [
    (labels_text([1, 2]).encode("utf-16"), "is UTF-16 text; save it as UTF-8"),
    (labels_text([1, 2]).encode("utf-16-le"), "line 1 is not UTF-8|line 1: header"),
    (labels_text([1, "\xe9"]).encode("latin-1"), r"line 3 is not UTF-8 text \(byte 0xe9\)"),
    (labels_text([1, "9" * 140_000]).encode(), "line 3: a cell longer than 131,072"),
    (labels_text([1, 2]).encode().replace(b"2\n", b"2\x00\n"), "line 3"),
    (b"", "the file is empty"),
    (b"ImageId,Label\r1,3\r2,x\r", "line 3: Label 'x'"),
])
def test_labels_file_attacks_are_one_line(tmp_path, data, message):
    from kagdigits.errors import InputError
    from kagdigits.files.submission import read_labels_csv

    path = tmp_path / "sub.csv"
    path.write_bytes(data)
    with pytest.raises(InputError, match=message) as info:
        read_labels_csv(path)
    assert len(one_line(info)) < 300


def test_cr_only_and_bom_labels_files_are_read(tmp_path):
    from kagdigits.files.submission import read_labels_csv

    path = tmp_path / "sub.csv"
    path.write_bytes(b"\xef\xbb\xbfImageId,Label\r1,3\r2, 7 \r")
    assert read_labels_csv(path).tolist() == [3, 7]


def test_submit_refuses_an_arabic_indic_digit_before_any_request(fake_kaggle, capsys):
    from pathlib import Path

    path = Path("submissions/sub.csv")
    path.parent.mkdir()
    labels = [i % 10 for i in range(28_000)]
    labels[99] = "\u0663"
    path.write_text(labels_text(labels), encoding="utf-8")
    code, out, err = fake_kaggle.run(capsys, "submit", str(path), "-m", "x")
    assert code == 2 and "line 101: Label '\u0663'" in err and err.count("\n") == 1
    assert fake_kaggle.requests == []
