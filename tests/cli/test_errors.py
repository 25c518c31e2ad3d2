"""Errors a user can cause end in one line on stderr and a non-zero exit code."""

import pytest
import torch

from kagdigits.cli.main import main
from kagdigits.errors import KagdigitsError


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.fixture
def data(tiny_kaggle_files):
    train, test = tiny_kaggle_files
    return ["--train", str(train), "--test", str(test)]


@pytest.mark.parametrize("args, message", [
    (["--set", "module__dropot=0.2"],
     "--set module__dropot: lenet5 has no parameter 'module__dropot'; did you mean "
     "module__dropout?"),
    (["--set", "lrr=1e-3"], "lenet5 has no parameter 'lrr'; did you mean lr?"),
    (["--set", "module__size=3"],
     "module__<name> takes one of: activation, batchnorm, dropout, in_chans, init, "
     "num_classes, pooling"),
    (["--set", "optimizer__momentum=0.9"], "optimizer__<name> takes one of: amsgrad, betas"),
    (["--set", "module__activation=swish"],
     "--set: unknown activation 'swish'; choose one of: elu, relu, sigmoid, tanh"),
    (["--set", "lr"], "--set 'lr' is not NAME=VALUE; e.g. --set lr=1e-3"),
    (["--model", "lenet"],
     "unknown model 'lenet' (did you mean lenet5?); choose one of: allcnn, "),
    (["--model", "lenet"], "(did you mean lenet5?)"),
    (["--device", "gpu"], "unknown device 'gpu'; use 'auto', 'cpu' or 'cuda'"),
    (["--resume", "no-such-run"], "no run 'no-such-run' in runs/; runs/ has no runs"),
])
def test_bad_settings_fail_before_training_in_one_line(data, args, message, capsys, tmp_path,
                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["submission", *data, *args]) == 2
    assert message in one_line_error(capsys)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "submissions").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without a GPU")
def test_cuda_without_a_gpu_says_what_to_use(data, capsys):
    assert main(["submission", *data, "--device", "cuda"]) == 2
    assert one_line_error(capsys).endswith(
        "device 'cuda' was asked for but no CUDA GPU is available; "
        "use --device auto or --device cpu")


def test_a_bad_csv_names_file_line_and_column(tiny_kaggle_files, capsys):
    train, test = tiny_kaggle_files
    lines = train.read_text().splitlines()
    lines[3] = lines[3][:-1] + "x"  # the last pixel of line 4
    train.write_text("\n".join(lines) + "\n")
    assert main(["submission", "--train", str(train), "--test", str(test)]) == 2
    assert one_line_error(capsys) == (
        f"kagdigits submission: error: {train}: line 4, column pixel783: "
        f"'{lines[3].rsplit(',', 1)[1]}' is not an integer 0..255; "
        "fix the file or download it again")


@pytest.mark.parametrize("args, message", [
    (["--train", "nowhere.csv"], "pass both --train and --test, or neither"),
    (["--train", "nowhere.csv", "--test", "nowhere.csv"],
     "nowhere.csv: no such file; check the path"),
])
def test_missing_files_are_named(args, message, capsys):
    assert main(["submission", *args]) == 2
    assert message in one_line_error(capsys)


def test_argument_errors_exit_2_with_usage(capsys):
    with pytest.raises(SystemExit) as info:
        main(["submission", "--epochs", "0"])
    assert info.value.code == 2
    assert "argument --epochs: '0' is not a whole number >= 1" in capsys.readouterr().err


def test_debug_shows_the_traceback(data):
    with pytest.raises(KagdigitsError, match="unknown model"):
        main(["--debug", "submission", *data, "--model", "nope"])


def test_a_file_system_error_is_one_line_with_exit_1(data, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").write_text("")  # where run folders go is a file
    # (an --out under a file is refused before training: tests/test_adversarial.py)
    assert main(["submission", *data, "--epochs", "1"]) == 1
    err = one_line_error(capsys)
    assert err.startswith("kagdigits submission: error: [Errno 17] File exists")
    assert err.endswith("(check the path, its permissions and free disk space)")


def test_fit_refuses_a_save_path_under_a_file_before_training(data, tmp_path, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    assert main(["fit", *data[:2], "--save", str(blocker / "m.kd")]) == 2
    assert "a parent of it is a file, not a folder" in one_line_error(capsys)


def test_running_out_of_memory_is_one_line_with_exit_1(data, capsys):
    # a 10^12-class output layer asks for 336 TB at once: the allocation fails at once
    assert main(["submission", *data, "--set", "module__num_classes=1000000000000"]) == 1
    err = one_line_error(capsys)
    assert "error: out of memory (" in err and "lower the batch size" in err
