"""What `kagdigits predict`, `submission` and `export` check before they write, and what
they say once a file exists (issue 37, items 2, 3, 10, 11): real files, real models."""

import sys
import time
import warnings

import numpy as np
import pytest

from kagdigits import LeNet5Classifier
from kagdigits.files import sources
from kagdigits.files import submission as submission_module
from kagdigits.files.atomic import ExistsError, atomic_write, check_target
from kagdigits.files.kaggle_csv import write_kaggle_csv
from kagdigits.kaggle import ledger as ledger_module
from kagdigits.kaggle.ledger import read_ledger
from tests.helpers import run_cli


@pytest.fixture
def shown_warnings(monkeypatch):
    """Warnings shown on stderr as the command line shows them, not recorded by pytest."""
    def show(message, category, filename, lineno, file=None, line=None):
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        monkeypatch.setattr(warnings, "showwarning", show)
        yield


@pytest.fixture
def test_csv(tmp_path, digits):
    def write(X, name="test.csv"):
        path = tmp_path / name
        write_kaggle_csv(path, X)
        return path
    return write


# --- item 2: test images unlike the training digits ------------------------------------------

def test_predict_warns_about_inverted_images(lenet5_kd, test_csv, tmp_path, digits, capsys,
                                             shown_warnings):
    test = test_csv(255 - digits[0][:100])
    code, out, err = run_cli(capsys, "predict", "--load", lenet5_kd, "--test", test,
                             "--out", tmp_path / "subs", "--device", "cpu")
    assert code == 0
    warning = [line for line in err.splitlines() if "look unlike" in line]
    assert warning == ["kagdigits: warning: the images to predict look unlike the digits models "
                       "are trained on (light ink on black, grey levels 0..255, upright): 100 "
                       "of 100 rows have a light background (dark ink on white: invert them, "
                       "255 - pixels); predictions for such rows are mostly wrong"]


def test_predict_is_quiet_for_ordinary_digits(lenet5_kd, test_csv, tmp_path, digits, capsys,
                                              shown_warnings):
    code, out, err = run_cli(capsys, "predict", "--load", lenet5_kd, "--test",
                             test_csv(digits[0][:100]), "--out", tmp_path / "subs",
                             "--device", "cpu")
    assert code == 0 and "look unlike" not in err


def test_the_warning_comes_before_the_submission_is_written(lenet5_kd, test_csv, tmp_path,
                                                             digits, capsys, monkeypatch,
                                                             shown_warnings):
    def no_write(*args, **kwargs):
        raise KeyboardInterrupt
    from kagdigits.files import submission
    monkeypatch.setattr(submission, "write_submission", no_write)
    code, out, err = run_cli(capsys, "predict", "--load", lenet5_kd, "--test",
                             test_csv((digits[0][:100] > 127).astype(np.uint8)), "--out",
                             tmp_path / "subs", "--device", "cpu")
    assert code == 130 and "100 of 100 rows hold only 0 and 1" in err
    assert not list((tmp_path / "subs").glob("*.csv"))


# --- item 10: outputs checked before the work -------------------------------------------------

def test_predict_checks_its_out_folder_before_predicting(lenet5_kd, test_csv, tmp_path, digits,
                                                         capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("predicted although the output cannot be written")
    monkeypatch.setattr(LeNet5Classifier, "predict", never)
    out = tmp_path / "file"
    out.write_text("not a folder")
    code, _, err = run_cli(capsys, "predict", "--load", lenet5_kd, "--test",
                           test_csv(digits[0][:10]), "--out", out / "subs", "--device", "cpu")
    assert code == 2 and f"a parent of it is a file, not a folder ({out})" in err


@pytest.mark.parametrize("make, words", [
    (lambda p: p.mkdir(), "is a folder, not a file; give the path of a file in it or another "
                          "name"),
    (lambda p: None, None),
])
def test_check_target_names_a_folder(tmp_path, make, words):
    target = tmp_path / "out.onnx"
    make(target)
    if words is None:
        check_target(target)
        return
    with pytest.raises(Exception, match=words):
        check_target(target, overwrite=True)


def test_a_parent_that_is_a_file_is_one_line(tmp_path):
    parent = tmp_path / "plain"
    parent.write_text("x")
    for target in (parent / "out.onnx", parent / "deeper" / "out.onnx"):
        with pytest.raises(Exception, match=f"cannot write {target}: {parent} is a file, not a "
                                            "folder; choose another path"):
            with atomic_write(target) as f:
                f.write("never")


def test_atomic_overwrite_of_a_folder_names_it_not_a_temp_file(tmp_path):
    folder = tmp_path / "submission.csv"
    folder.mkdir()
    with pytest.raises(Exception, match=r"submission.csv is a folder, not a file") as info:
        with atomic_write(folder, overwrite=True) as f:
            f.write("x")
    assert ".tmp" not in str(info.value) and list(tmp_path.iterdir()) == [folder]


def test_export_checks_its_target_before_exporting(tmp_path):
    pytest.importorskip("onnxruntime")
    from kagdigits.runs.onnx import export_onnx

    taken = tmp_path / "taken.onnx"
    taken.write_bytes(b"keep me")
    with pytest.raises(ExistsError, match="already exists"):  # not "the model is not fitted"
        export_onnx(LeNet5Classifier(), taken)
    assert taken.read_bytes() == b"keep me"


@pytest.mark.parametrize("target, words", [
    ("dir.onnx", "dir.onnx is a folder, not a file"),
    ("plain/model.onnx", "plain is a file, not a folder"),
])
def test_export_to_a_folder_or_under_a_file_is_refused_at_once(lenet5_kd, tmp_path, capsys,
                                                               target, words):
    pytest.importorskip("onnxruntime")
    (tmp_path / "dir.onnx").mkdir()
    (tmp_path / "plain").write_text("x")
    start = time.perf_counter()
    code, out, err = run_cli(capsys, "export", lenet5_kd, "--onnx", tmp_path / target,
                             "--force")
    assert code == 2 and words in err and "Errno" not in err and err.count("\n") == 1
    assert time.perf_counter() - start < 5


# --- item 3: the Kaggle Notebook copy ----------------------------------------------------------

@pytest.fixture
def notebook(tmp_path, monkeypatch):
    root = tmp_path / "kaggle"
    (root / "working").mkdir(parents=True)
    monkeypatch.setattr(sources, "KAGGLE_ROOT", root)
    return root / "working" / "submission.csv"


def test_a_notebook_keeps_its_submission_when_the_new_one_cannot_be_scored(
        lenet5_kd, test_csv, tmp_path, digits, capsys, notebook):
    notebook.write_text("the good one")
    code, out, _ = run_cli(capsys, "predict", "--load", lenet5_kd, "--test",
                           test_csv(digits[0][:100]), "--out", tmp_path / "subs",
                           "--device", "cpu")
    assert code == 0 and notebook.read_text() == "the good one"
    written = out.strip().splitlines()[-1]
    assert (f"Kaggle Notebook: {notebook} left as it was, since Kaggle cannot score this "
            f"submission ({written}: has 100 rows, expected 28,000; Kaggle's test.csv has "
            "28,000)") in out


def test_a_notebook_gets_a_submission_kaggle_can_score(lenet5_kd, test_csv, tmp_path, digits,
                                                       capsys, notebook, monkeypatch):
    monkeypatch.setattr(submission_module, "KAGGLE_TEST_ROWS", 100)
    code, out, _ = run_cli(capsys, "predict", "--load", lenet5_kd, "--test",
                           test_csv(digits[0][:100]), "--out", tmp_path / "subs",
                           "--device", "cpu")
    written = out.strip().splitlines()[-1]
    assert code == 0 and notebook.read_bytes() == open(written, "rb").read()


def test_a_notebook_submission_that_is_a_folder_is_one_line_after_the_path(
        lenet5_kd, test_csv, tmp_path, digits, capsys, notebook, monkeypatch):
    monkeypatch.setattr(submission_module, "KAGGLE_TEST_ROWS", 100)
    notebook.mkdir()
    code, out, err = run_cli(capsys, "predict", "--load", lenet5_kd, "--test",
                             test_csv(digits[0][:100]), "--out", tmp_path / "subs",
                             "--device", "cpu")
    written = next((tmp_path / "subs").glob("lenet5-*.csv"))
    assert code == 2
    assert out.strip().splitlines()[-1] == f"The submission is written: {written}"
    assert err == (f"kagdigits predict: error: {notebook} is a folder, not a file; give the "
                   "path of a file in it or another name\n")
    assert read_ledger(tmp_path / "subs" / "ledger.csv")[-1]["file"].endswith(written.name)


# --- item 11: Ctrl-C between the submission and its ledger row --------------------------------

def test_ctrl_c_before_the_ledger_row_names_the_written_file(lenet5_kd, test_csv, tmp_path,
                                                             digits, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(ledger_module, "record_submission", interrupted)
    code, out, err = run_cli(capsys, "predict", "--load", lenet5_kd, "--test",
                             test_csv(digits[0][:100]), "--out", tmp_path / "subs",
                             "--device", "cpu")
    written = next((tmp_path / "subs").glob("lenet5-*.csv"))
    assert code == 130 and err.splitlines()[-1] == "kagdigits predict: interrupted"
    assert out.strip().splitlines()[-1] == (f"The submission is written: {written}; it has no "
                                            f"row in {tmp_path / 'subs' / 'ledger.csv'}")
