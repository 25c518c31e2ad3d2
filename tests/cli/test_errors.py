"""Errors a user can cause end in one line on stderr and a non-zero exit code."""

import pytest
import torch

from kagdigits.cli.main import main
from kagdigits.errors import KagdigitsError, Param


def one_line_error(capsys):
    """The error on stderr, which must be one line (warnings before it aside)."""
    err = capsys.readouterr().err
    err = "".join(line for line in err.splitlines(keepends=True)
                  if not line.startswith("kagdigits: warning:"))
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


# --- library errors name parameters; the command line names its options ------------------

def fails_with(monkeypatch, capsys, error):
    """What ``kagdigits models`` prints when it raises ``error``, and its exit code."""
    def run(args):
        raise error

    monkeypatch.setattr("kagdigits.cli.models.run", run)
    code = main(["models"])
    return code, one_line_error(capsys)


@pytest.mark.parametrize("parts, python, command_line", [
    (("m.kd already exists; choose another name or pass ", Param("overwrite", True)),
     "m.kd already exists; choose another name or pass overwrite=True",
     "m.kd already exists; choose another name or pass --force"),
    # reworded: the parameter, not the words around it, makes the option
    (("m.kd is taken; to replace it, set ", Param("overwrite", True), " and run again"),
     "m.kd is taken; to replace it, set overwrite=True and run again",
     "m.kd is taken; to replace it, set --force and run again"),
    (("no GPU here; try ", Param("device", "cpu"), " (or ", Param("device", "auto"), ")"),
     "no GPU here; try device='cpu' (or device='auto')",
     "no GPU here; try --device cpu (or --device auto)"),
    (("give ", Param("images"), " of another shape"), "give images= of another shape",
     "give --check CSV with images of another shape"),
    (("set ", Param("no_such_option", 3)), "set no_such_option=3", "set no_such_option=3"),
])
def test_a_parameter_in_an_error_becomes_its_option(monkeypatch, capsys, parts, python,
                                                    command_line):
    error = KagdigitsError(*parts)
    assert str(error) == python
    assert fails_with(monkeypatch, capsys, error) == (2, f"kagdigits models: error: "
                                                         f"{command_line}")


def test_the_old_words_without_a_param_are_left_alone(monkeypatch, capsys):
    # a message that merely contains the Python words is not rewritten (no substring matching)
    error = KagdigitsError("pass overwrite=True in Python")
    assert fails_with(monkeypatch, capsys, error)[1].endswith("pass overwrite=True in Python")


def test_library_errors_keep_their_params(tmp_path):
    import pickle

    from kagdigits.files.atomic import ExistsError, atomic_write

    (tmp_path / "f").write_text("x")
    with pytest.raises(ExistsError) as info, atomic_write(tmp_path / "f"):
        pass
    assert str(info.value).endswith("choose another name or pass overwrite=True")
    assert Param("overwrite", True) in info.value.parts
    again = pickle.loads(pickle.dumps(info.value))  # from a joblib or Dask worker
    assert again.parts == info.value.parts and str(again) == str(info.value)
    assert isinstance(again, FileExistsError) and again.errno is None


@pytest.mark.parametrize("error, shown", [
    (MemoryError("Unable to allocate 7.28 TiB for an array"), "out of memory (Unable to allocate"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate "
                  "memory: you tried to allocate 4000 bytes"), "out of memory ([enforce fail"),
    (RuntimeError("CUDA out of memory. Tried to allocate 2 GiB\nmore"), "out of GPU memory (CUDA"),
])
def test_numpys_and_torchs_allocation_failures_are_one_line(monkeypatch, capsys, error, shown):
    code, err = fails_with(monkeypatch, capsys, error)
    assert code == 1 and shown in err and err.endswith("or use a smaller model")
