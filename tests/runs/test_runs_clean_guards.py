"""`kagdigits runs clean` against runs being trained, symbolic links and nonsense ages
(issue 37, items 4, 5, 9): real fits in real run folders, a real killed process."""

import os
import signal
import subprocess
import sys
import threading

import pytest
from skorch.callbacks import Callback

from kagdigits import LeNet5Classifier
from kagdigits.errors import KagdigitsError
from kagdigits.runs.config import RunConfig
from kagdigits.runs.fitting import fit_run
from kagdigits.runs.folders import LOCK, hold_run, is_running, list_runs, parse_age, start_run
from tests.helpers import run_cli


class Gate(Callback):
    """Waits at the start of epoch 2 (epoch 1 is checkpointed by then) until released."""

    def __init__(self):
        self.reached, self.release = threading.Event(), threading.Event()

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) == 2:
            self.reached.set()
            assert self.release.wait(60)


def new_run(root, digits):
    X, y = digits
    return start_run(RunConfig(command="fit", model="lenet5", epochs=2, device="cpu"), X, y,
                     root=root)


# --- item 4: a run being trained is skipped by clean ----------------------------------------

def test_a_run_being_trained_is_skipped_by_clean_and_finishes(tmp_path, digits, capsys):
    root = tmp_path / "runs"
    old, training = new_run(root, digits), new_run(root, digits)
    gate = Gate()
    clf = LeNet5Classifier(max_epochs=2, train_split=None, verbose=0, device="cpu",
                           callbacks=[("gate", gate)])
    errors = []

    def train():
        try:
            fit_run(clf, *digits, training)
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            errors.append(exc)

    thread = threading.Thread(target=train, daemon=True)
    thread.start()
    try:
        assert gate.reached.wait(120)
        states = {r.path.name: r.state for r in list_runs(root)}
        assert states[training.name] == "training" and states[old.name] != "training"
        code, out, _ = run_cli(capsys, "runs", "clean", "--all", "--dir", root)
        assert code == 0 and training.is_dir() and not old.exists()
        assert out.splitlines() == [
            f"Skipped 1 run being trained by another process ({training.name}); clean again "
            "once it has ended",
            f"Removed 1 run ({out.split('(')[-1].split(')')[0]}) from {root}/."]
        code, out, _ = run_cli(capsys, "runs", "clean", training.name, "--dry-run", "--dir",
                               root)
        assert "Skipped 1 run being trained" in out and "Would remove 0 runs" in out
    finally:
        gate.release.set()
        thread.join(120)
    assert not errors and len(clf.history) == 2
    assert (training / "run.json").is_file() and not (training / LOCK).exists()
    assert [r.path for r in list_runs(root)] == [training]


def test_a_second_process_cannot_train_the_same_run(tmp_path, digits):
    run_dir = new_run(tmp_path / "runs", digits)
    with hold_run(run_dir):
        clf = LeNet5Classifier(max_epochs=1, train_split=None, verbose=0, device="cpu")
        with pytest.raises(KagdigitsError, match=f"run {run_dir.name} is being trained by "
                                                 "another process; wait for it to end, or stop "
                                                 "it first"):
            fit_run(clf, *digits, run_dir, resume=True)


def test_a_killed_trainer_does_not_hold_its_run_forever(tmp_path, digits, capsys):
    root = tmp_path / "runs"
    run_dir = new_run(root, digits)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, filelock; lock = filelock.FileLock(sys.argv[1]); "
         "lock.acquire(); print('held', flush=True); sys.stdin.read()", str(run_dir / LOCK)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert is_running(run_dir)
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        assert not is_running(run_dir) and not (run_dir / LOCK).exists()
    finally:
        if holder.poll() is None:
            holder.kill()
    code, out, _ = run_cli(capsys, "runs", "clean", "--all", "--dir", root)
    assert code == 0 and out.startswith("Removed 1 run (") and not run_dir.exists()


# --- item 5: symbolic links in runs/ --------------------------------------------------------

def test_links_in_runs_are_removed_as_links_and_counted(tmp_path, digits, capsys):
    root = tmp_path / "runs"
    real = new_run(root, digits)
    elsewhere = new_run(tmp_path / "elsewhere", digits)
    (root / "linked-run").symlink_to(elsewhere, target_is_directory=True)
    (root / "to-home").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (root / "broken").symlink_to(tmp_path / "gone")
    (tmp_path / "precious.txt").write_text("keep")
    (root / "to-file").symlink_to(tmp_path / "precious.txt")
    listed = {r.path.name: r.state for r in list_runs(root)}
    assert listed == {real.name: "no epoch saved", "linked-run": "link", "to-home": "link",
                      "broken": "link", "to-file": "link"}
    code, out, _ = run_cli(capsys, "runs", "clean", "--all", "--dir", root)
    assert code == 0
    assert out.startswith("Removed 1 run (") and out.endswith(
        f") and 4 symbolic links from {root}/.\n")
    assert list(root.iterdir()) == []
    assert (elsewhere / "run.json").is_file() and (tmp_path / "precious.txt").read_text() == "keep"
    code, out, _ = run_cli(capsys, "runs", "clean", "--all", "--dir", root)
    assert code == 0 and out == f"No run in {root}/ matches; nothing removed.\n"


# --- item 9: --older-than takes ages only ---------------------------------------------------

@pytest.mark.parametrize("text", ["nand", "infd", "1e400d", "1e2d", "\u0663d", "1_0d", "-1d",
                                  "d", "7", "7 d", "0x10d", "1234567d", "7d7", "\uff17d",
                                  "1e-400d"])
def test_ages_that_are_not_numbers_with_a_unit_are_refused(text):
    with pytest.raises(KagdigitsError, match="is not a number with a unit m, h, d or w"):
        parse_age(text)


@pytest.mark.parametrize("text", ["0d", "0.0001d", "0m", "0.5m", "00.00d"])
def test_ages_under_a_minute_are_refused(text):
    with pytest.raises(KagdigitsError, match=f"age '{text}' is under a minute and would take "
                                             "runs that have only just started; give 1m or "
                                             "more, or use --all"):
        parse_age(text)


@pytest.mark.parametrize("text, seconds", [("7d", 7 * 86400), ("12h", 43200), ("1m", 60),
                                           ("2W", 14 * 86400), ("1.5d", 1.5 * 86400),
                                           (" 30m ", 1800)])
def test_ages_are_read(text, seconds):
    assert parse_age(text) == seconds


def test_clean_with_an_age_under_a_minute_removes_nothing(tmp_path, digits, capsys):
    root = tmp_path / "runs"
    run_dir = new_run(root, digits)
    os.utime(run_dir / "run.json", (1, 1))
    code, _, err = run_cli(capsys, "runs", "clean", "--older-than", "0d", "--dir", root)
    assert code == 2 and "under a minute" in err and run_dir.is_dir()
