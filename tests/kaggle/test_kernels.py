"""`kagdigits submission --on kaggle` with the real client against the fake Kaggle, whose
kernels run the script they are pushed (tests/fake_kaggle.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kagdigits.cli import remote
from kagdigits.kaggle import bundle
from kagdigits.kaggle.kernel_script import MANIFEST, script_text
from tests.fake_kaggle import FakeKaggle

SHARED = [p for p in sys.path if p.endswith("site-packages")]


@pytest.fixture(scope="session")
def wheels(tmp_path_factory):
    """The kernel's wheels, built once: this checkout's kagdigits, skorch, tabulate."""
    return bundle.build_wheels(tmp_path_factory.mktemp("wheels"))


@pytest.fixture(scope="session")
def kernel_python(tmp_path_factory):
    """A venv like Kaggle's image: the packages installed here (through a .pth file, as
    with --system-site-packages) but not kagdigits, which the kernel installs itself."""
    venv = tmp_path_factory.mktemp("kernel-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True, check=True)
    Path(purelib.stdout.strip(), "00-image.pth").write_text("\n".join(SHARED) + "\n")
    return str(python)


@pytest.fixture(scope="session")
def kernel_input(tmp_path_factory):
    """The competition's files in the kernel: demo digits as Kaggle CSVs (1,000 train
    rows, 60 test rows, to keep the run short)."""
    from kagdigits.files.demo import demo_arrays
    from kagdigits.files.kaggle_csv import write_kaggle_csv

    X_train, y_train, X_test, _ = demo_arrays()
    folder = tmp_path_factory.mktemp("kernel-input")
    write_kaggle_csv(folder / "train.csv", X_train[:1000], y_train[:1000])
    write_kaggle_csv(folder / "test.csv", X_test[:60])
    return {name: (folder / name).read_bytes() for name in ("train.csv", "test.csv")}


@pytest.fixture
def kaggle_kernels(fake_kaggle, kernel_python, kernel_input, wheels, monkeypatch):
    """The fake Kaggle with kernels that run; a poll that waits for the kernel's run."""
    import shutil

    fake_kaggle.kernel_input = dict(kernel_input)
    fake_kaggle.kernel_python = kernel_python

    def cached_wheels(dest):
        Path(dest).mkdir(parents=True, exist_ok=True)
        return [Path(shutil.copy2(w, Path(dest) / w.name)) for w in wheels]

    monkeypatch.setattr(bundle, "build_wheels", cached_wheels)
    monkeypatch.setattr(remote, "pause", fake_kaggle.wait_kernels)
    return fake_kaggle


def _run_id(err):
    return err.split("--resume ")[1].split()[0]


def _error(err):
    lines = [line for line in err.splitlines() if line.startswith("kagdigits submission:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.slow
def test_push_ctrl_c_resume_downloads_the_kernels_submission(kaggle_kernels, capsys):
    fake = kaggle_kernels
    fake.hold_kernels()
    remote_pause = remote.pause

    def interrupt():
        raise KeyboardInterrupt

    remote.pause = interrupt
    try:
        code, out, err = fake.run(capsys, "submission", "--on", "kaggle", "--model", "lenet5",
                                  "--epochs", "1", "--set", "batch_size=64", "--proba")
    finally:
        remote.pause = remote_pause
    assert code == 130
    assert "keeps running on Kaggle; come back with: kagdigits submission --resume" in \
        _error(err)
    run_id = _run_id(err)
    assert f"{fake.url}/code/" in out and "Kaggle: queued" in out
    sent = fake.kernels[next(iter(fake.kernels))].request
    assert sent["isPrivate"] is True and sent["enableGpu"] is True
    assert sent["enableInternet"] is False and sent["kernelType"] == "script"
    assert sent["competitionDataSources"] == ["digit-recognizer"]
    assert "machineShape" not in sent  # the client's default
    assert json.loads(Path("runs", run_id, "kernel", "kernel-metadata.json").read_text())[
        "competition_sources"] == ["digit-recognizer"]
    code, out, _ = fake.run(capsys, "runs")
    assert "on Kaggle" in out

    fake.release_kernels()
    code, out, err = fake.run(capsys, "submission", "--resume", run_id)
    assert code == 0, out + err
    submission = Path(out.strip().splitlines()[-1])
    assert submission.parent == Path("submissions") and submission.is_file()
    assert len(submission.read_text().splitlines()) == 61  # header + 60 test rows
    assert submission.with_suffix(".proba.csv").is_file()
    run_dir = Path("runs", run_id)
    assert (run_dir / "model.kd").is_file() and (run_dir / "result.json").is_file()
    manifest = json.loads((run_dir / "kernel-output" / MANIFEST).read_text())
    assert manifest["exit_code"] == 0
    from kagdigits.kaggle.ledger import read_ledger

    row = read_ledger("submissions/ledger.csv")[-1]
    assert row["file"] == submission.name and row["model"] == "lenet5"
    assert row["device"] and row["data"].endswith("digit-recognizer/train.csv")
    assert '"batch_size": 64' in row["params"]
    code, out, _ = fake.run(capsys, "runs")
    assert "finished" in out and "on Kaggle" not in out
    code, out, err = fake.run(capsys, "submission", "--resume", run_id)
    assert code == 2 and "has finished" in _error(err)


def test_missing_competition_data_fails_the_kernel_in_one_line(kaggle_kernels, capsys):
    kaggle_kernels.kernel_input = {}  # the real script runs, and finds no train.csv
    code, out, err = kaggle_kernels.run(capsys, "submission", "--on", "kaggle")
    line = _error(err)
    assert code == 2 and "the kernel failed on Kaggle: kagdigits kernel: error:" in line
    assert "accept the rules at https://www.kaggle.com/competitions/digit-recognizer/rules" in line
    assert ".log" in line
    code, out, _ = kaggle_kernels.run(capsys, "runs")
    assert "failed on Kaggle" in out


def test_failed_kernel_brings_back_its_log_and_last_error(kaggle_kernels, capsys):
    kaggle_kernels.kernel_outcome = (
        "ERROR", "Epoch 1\nTraceback (most recent call last):\nRuntimeError: CUDA error: "
        "no kernel image is available\n", "The script exited with code 1", {})
    code, out, err = kaggle_kernels.run(capsys, "submission", "--on", "kaggle")
    line = _error(err)
    assert code == 2 and "failed on Kaggle: RuntimeError: CUDA error: no kernel image" in line
    log = Path(line.split("its log is ")[1].split()[0])
    assert "Traceback" in log.read_text()
    # resuming downloads again, into a new folder: nothing already there is replaced
    code, _, err = kaggle_kernels.run(capsys, "submission", "--resume", _run_id_of(log))
    assert code == 2
    assert (log.parent.parent / "kernel-output-2").is_dir() and log.is_file()


def _run_id_of(log):
    return log.parent.parent.name


def test_output_without_a_submission_is_one_line(kaggle_kernels, capsys):
    manifest = {"exit_code": 0, "last_line": "something else", "submission": None}
    kaggle_kernels.kernel_outcome = ("COMPLETE", "done\n", None,
                                     {MANIFEST: json.dumps(manifest).encode()})
    code, _, err = kaggle_kernels.run(capsys, "submission", "--on", "kaggle")
    assert code == 2 and "the kernel ended without a submission (its last line: something " \
        "else)" in _error(err)
    assert not list(Path(".").glob("submissions/*.csv"))


@pytest.mark.parametrize("answer, words", [
    ({"error": "Notebook rejected: competition rules not accepted"},
     "accept the rules at https://www.kaggle.com/competitions/digit-recognizer/rules"),
    ({"invalidCompetitionSources": ["digit-recognizer"]}, "cannot attach the competition"),
    ({"error": "Weekly GPU quota exceeded"}, "no GPU time left on Kaggle"),
    ({"error": "Invalid machine shape NvidiaH900"}, "does not know the accelerator"),
])
def test_push_refused_is_one_line_and_leaves_no_run(kaggle_kernels, capsys, answer, words):
    kaggle_kernels.push_answer = answer
    code, _, err = kaggle_kernels.run(capsys, "submission", "--on", "kaggle")
    assert code == 2 and words in _error(err)
    assert not list(Path(".").glob("runs/*"))


@pytest.mark.parametrize("status, message, words", [
    (403, "Phone verification required", "phone-verified account"),
    (400, "Unknown machineShape", "does not know the accelerator NvidiaH900"),
    (429, "Quota", "no GPU time left on Kaggle"),
])
def test_push_http_errors_are_one_line(kaggle_kernels, capsys, status, message, words):
    kaggle_kernels.fail("SaveKernel", status, message)
    code, _, err = kaggle_kernels.run(capsys, "submission", "--on", "kaggle",
                                      "--accelerator", "NvidiaH900")
    assert code == 2 and words in _error(err)


def test_no_gpu_quota_is_found_before_the_push(kaggle_kernels, capsys):
    kaggle_kernels.gpu_quota = {"timeUsed": "108000s", "totalTimeAllowed": "108000s"}
    code, _, err = kaggle_kernels.run(capsys, "submission", "--on", "kaggle")
    assert code == 2 and "no GPU time left on Kaggle (30.0 of 30.0 GPU hours" in _error(err)
    assert "SaveKernel" not in kaggle_kernels.api_calls()


@pytest.mark.parametrize("argv, words", [
    (["--accelerator", "TpuV5E8"], "is a TPU"),
    (["--accelerator", "T4 x2"], "is not a Kaggle accelerator name"),
    (["--train", "train.csv", "--test", "test.csv"], "--train is for runs on this machine"),
    (["--dry-run"], "--dry-run is for runs on this machine"),
    (["--model", "lenet"], "unknown model"),
])
def test_bad_options_are_refused_before_any_call(kaggle_kernels, capsys, argv, words):
    code, _, err = kaggle_kernels.run(capsys, "submission", "--on", "kaggle", *argv)
    assert code == 2 and words in _error(err)
    assert kaggle_kernels.api_calls() == []


def test_dropped_connection_leaves_the_kernel_and_resume_latest_finds_it(
        kaggle_kernels, capsys, monkeypatch):
    from kagglesdk.kaggle_env import KaggleEnv, _env_to_endpoint

    fake = kaggle_kernels
    fake.hold_kernels()
    fake.kernel_outcome = ("COMPLETE", "done\n", None, {})
    monkeypatch.setattr(remote, "pause", lambda: FakeKaggle.go_offline(monkeypatch))
    code, _, err = fake.run(capsys, "submission", "--on", "kaggle")
    line = _error(err)
    assert code == 130 and "lost the connection to Kaggle" in line
    assert "come back with: kagdigits submission --resume" in line
    monkeypatch.setitem(_env_to_endpoint, KaggleEnv.PROD, fake.url)  # back online
    monkeypatch.setattr(remote, "pause", fake.wait_kernels)
    fake.release_kernels()
    code, out, err = fake.run(capsys, "submission", "--resume", "latest")
    assert f"Re-attaching to run {_run_id(line)}" in out
    assert code == 2 and "without a submission" in _error(err)


def test_on_kaggle_does_not_resume_a_local_run(kaggle_kernels, capsys):
    run = Path("runs/lenet5-20240501T100000Z")
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"config": {"command": "submission"}}))
    code, _, err = kaggle_kernels.run(capsys, "submission", "--on", "kaggle", "--resume",
                                      run.name)
    assert code == 2 and "trains on this machine, not on Kaggle" in _error(err)


def test_kernel_start_names_an_image_outside_the_ranges(wheels, capsys):
    text = script_text("run-x", ["submission"], [], {"torch": ">=99", "scikit-learn": ">=1"})
    namespace = {"__name__": "kernel"}
    exec(compile(text, "kagdigits_kernel.py", "exec"), namespace)
    namespace["check_ranges"]()
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "this Kaggle image has torch " in out
    assert "(kagdigits needs torch>=99)" in out and "scikit-learn" not in out


def test_installed_wheel_round_trips(tmp_path):
    import zipfile

    wheel = bundle.installed_wheel("tabulate", tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        record = archive.read(next(n for n in names if n.endswith("RECORD"))).decode()
    assert "tabulate/__init__.py" in names and not any(n.startswith("..") for n in names)
    assert all(line.split(",")[0] in names for line in record.splitlines())


def test_failed_download_keeps_the_run_to_come_back_to(kaggle_kernels, capsys):
    kaggle_kernels.kernel_outcome = ("COMPLETE", "done\n", None, {})
    kaggle_kernels.fail("ListKernelSessionOutput", 503, "Service Unavailable")
    code, _, err = kaggle_kernels.run(capsys, "submission", "--on", "kaggle")
    line = _error(err)
    assert code == 130 and "could not download the kernel's output" in line
    assert "come back with: kagdigits submission --resume" in line
    assert not list(Path("runs").glob("*/kernel-output*"))
    code, out, _ = kaggle_kernels.run(capsys, "runs")
    assert "on Kaggle" in out


def test_ctrl_c_while_pushing_keeps_the_run(kaggle_kernels, capsys, monkeypatch):
    from kagdigits.kaggle import kernels

    def interrupted_push(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(kernels, "push", interrupted_push)
    code, _, err = kaggle_kernels.run(capsys, "submission", "--on", "kaggle")
    assert code == 130 and "stopped while pushing; the kernel may be on Kaggle" in _error(err)
    assert (Path("runs", _run_id(err), "kernel", "kagdigits_kernel.py")).is_file()


def test_accelerator_without_on_kaggle_is_refused(fake_kaggle, capsys):
    code, _, err = fake_kaggle.run(capsys, "submission", "--accelerator", "NvidiaTeslaT4")
    assert code == 2 and "add --on kaggle" in _error(err)


def test_a_deeply_nested_run_json_is_not_a_kaggle_run(tmp_path):
    from kagdigits.cli.remote import kaggle_run_info

    (tmp_path / "run.json").write_text("[" * 100_000 + "]" * 100_000)
    assert kaggle_run_info(tmp_path) is None  # a RecursionError before
