"""Checkpoints and resume: an interrupted and resumed run equals an uninterrupted one."""

import contextlib
import io
import json
import re
import signal

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

from kagdigits import LeNet5Classifier
from kagdigits.cli.main import main
from kagdigits.errors import KagdigitsError
from kagdigits.runs.checkpoints import RunCheckpoint, TrainingInterrupted
from kagdigits.runs.fitting import fit_run
from kagdigits.runs.folders import BEST, latest_epoch_dir, saved_epochs

# Dropout and shuffling draw random numbers every epoch, the learning rate decays, and
# with this seed early stopping ends the run after epoch 10 (best epoch 8; epoch 9 is
# a miss), so a resume that lost RNG, scheduler or early-stopping state would differ.
SETTINGS = dict(max_epochs=12, patience=2, lr=0.02, module__dropout=0.3, batch_size=32,
                iterator_train__shuffle=True, device="cpu", verbose=0,
                augment=None, criterion__label_smoothing=0.0,  # (test_ensemble resumes with them)
                precision="fp32")  # the early-stopping story above is fp32's
COMPARED = ["train_loss", "valid_loss", "valid_acc", "valid_loss_best", "event_lr"]


class StopAfter(Callback):
    """Interrupt training at the end of epoch ``epoch``, as ``KeyboardInterrupt`` would."""

    def __init__(self, epoch, signals=0):
        self.epoch = epoch
        self.signals = signals

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            if not self.signals:
                raise KeyboardInterrupt
            for _ in range(self.signals):  # real Ctrl-C presses, through the handler
                signal.raise_signal(signal.SIGINT)


@pytest.fixture(scope="module")
def reference(digits):
    """The uninterrupted run."""
    X, y = digits
    clf = LeNet5Classifier(**SETTINGS).fit(X, y)
    assert len(clf.history) == 10 and not clf.history[-1, "valid_loss_best"]
    return clf


def assert_same_run(resumed, reference, X):
    for key in COMPARED:
        assert resumed.history[:, key] == reference.history[:, key], key
    assert np.array_equal(resumed.predict_proba(X), reference.predict_proba(X))


@pytest.mark.parametrize("epoch", [3, 9])
def test_resume_after_keyboard_interrupt_equals_the_uninterrupted_run(
        digits, reference, tmp_path, epoch):
    X, y = digits
    stopped = fit_run(LeNet5Classifier(**SETTINGS, callbacks=[("stop", StopAfter(epoch))]),
                      X, y, tmp_path)
    assert len(stopped.history) == epoch
    # the interrupt came before the checkpoint callback saw epoch `epoch`
    assert saved_epochs(tmp_path) == epoch - 1 and (tmp_path / BEST).is_file()
    resumed = fit_run(LeNet5Classifier(**SETTINGS), X, y, tmp_path, resume=True)
    assert_same_run(resumed, reference, X)


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(digits, reference, tmp_path, presses):
    X, y = digits
    clf = LeNet5Classifier(**SETTINGS, callbacks=[("stop", StopAfter(5, signals=presses))])
    handler = signal.getsignal(signal.SIGINT)  # SIG_IGN where the tests run in the background
    with pytest.raises(TrainingInterrupted) as info:
        fit_run(clf, X, y, tmp_path, resume_hint="resume with: X")
    assert info.value.exit_code == 130
    # one press finishes and saves epoch 5; a second stops at once (epoch 5 unsaved)
    done = 5 if presses == 1 else 4
    assert str(info.value) == (f"training stopped by Ctrl-C after {done} finished epoch(s); "
                               f"checkpoints are in {tmp_path}; resume with: X")
    assert signal.getsignal(signal.SIGINT) is handler  # restored
    assert sorted(p.name for p in tmp_path.iterdir()) == [BEST, f"epoch-{done:04d}"]
    resumed = fit_run(LeNet5Classifier(**SETTINGS), X, y, tmp_path, resume=True)
    assert_same_run(resumed, reference, X)


def test_resuming_a_finished_run_trains_no_more(digits, reference, tmp_path):
    X, y = digits
    settings = {**SETTINGS, "max_epochs": 3}
    first = fit_run(LeNet5Classifier(**settings), X, y, tmp_path)
    again = fit_run(LeNet5Classifier(**settings), X, y, tmp_path, resume=True)
    assert len(again.history) == 3 == saved_epochs(tmp_path)
    assert np.array_equal(again.predict_proba(X), first.predict_proba(X))


def test_a_run_folder_with_checkpoints_is_not_overwritten(digits, tmp_path):
    X, y = digits
    settings = {**SETTINGS, "max_epochs": 1}
    fit_run(LeNet5Classifier(**settings), X, y, tmp_path)
    saved = latest_epoch_dir(tmp_path)
    with pytest.raises(KagdigitsError, match="already holds checkpoints; resume it"):
        fit_run(LeNet5Classifier(**settings), X, y, tmp_path)
    assert latest_epoch_dir(tmp_path) == saved


def test_parallel_fits_get_their_own_run_folders(digits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = digits
    clf = LeNet5Classifier(max_epochs=1, device="cpu", verbose=0, batch_size=64,
                           callbacks=[("checkpoint", RunCheckpoint())])
    search = GridSearchCV(clf, {"lr": [1e-3, 2e-3]}, cv=2, n_jobs=2, refit=False)
    with joblib.parallel_backend("threading"):
        search.fit(X, y)
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 4  # 2 settings x 2 folds, each in its own folder
    assert all((run / "epoch-0001" / "tensors.safetensors").is_file() for run in runs)


class CtrlCAfterEpoch(io.StringIO):
    """stdout that presses Ctrl-C once the progress table shows epoch ``epoch``."""

    def __init__(self, epoch):
        super().__init__()
        self.row = re.compile(rf"^\s+{epoch}\s", re.MULTILINE)
        self.pressed = False

    def write(self, text):
        n = super().write(text)
        if not self.pressed and self.row.search(self.getvalue()):
            self.pressed = True
            signal.raise_signal(signal.SIGINT)
        return n


def test_cli_ctrl_c_writes_no_submission_and_resume_finishes_the_run(
        tiny_kaggle_files, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    train, test = tiny_kaggle_files
    command = ["submission", "--train", str(train), "--test", str(test), "--epochs", "4",
               "--set", "batch_size=64", "--set", "module__dropout=0.2", "--out"]
    assert main([*command, "straight"]) == 0
    stdout = CtrlCAfterEpoch(2)
    with contextlib.redirect_stdout(stdout):
        code = main([*command, "stopped"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and stdout.pressed
    run_id = re.search(r"--resume (\S+)", err[-1]).group(1)
    assert err[-1] == (f"kagdigits submission: interrupted: training stopped by Ctrl-C after "
                       f"2 finished epoch(s); checkpoints are in runs/{run_id}; "
                       f"resume with: kagdigits submission --resume {run_id}")
    assert not (tmp_path / "stopped").exists()  # no partial submission
    assert (tmp_path / "runs" / run_id / BEST).is_file()

    assert main(["submission", "--resume", run_id]) == 0
    out = capsys.readouterr().out
    assert "Continuing after epoch 2 of 4." in out
    assert "Estimate: lenet5, up to 2 of 4 epochs left on 200 rows: about " in out  # issue 42
    [straight] = (tmp_path / "straight").glob("lenet5-*.csv")
    [resumed] = (tmp_path / "stopped").glob("lenet5-*.csv")
    assert resumed.read_text() == straight.read_text()


def test_cli_resume_refuses_changed_data_another_command_and_unknown_runs(
        tiny_kaggle_files, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    train, test = tiny_kaggle_files
    assert main(["submission", "--train", str(train), "--test", str(test), "--epochs", "1"]) == 0
    [run] = (tmp_path / "runs").iterdir()
    capsys.readouterr()
    assert main(["submission", "--resume", run.name]) == 2  # finished: nothing to resume
    assert f"run {run.name} has finished; its model is runs/{run.name}/model.kd" in \
        capsys.readouterr().err
    (run / "model.kd").unlink()  # as if it had not finished, to check the other refusals
    assert main(["fit", "--resume", run.name, "--save", "m.kd"]) == 2
    assert f"resume it with: kagdigits submission --resume {run.name}" in capsys.readouterr().err
    assert main(["submission", "--resume", run.name[:-1]]) == 2
    assert f"did you mean {run.name}?" in capsys.readouterr().err
    lines = train.read_text().split("\n")
    lines[1] = ("2" if lines[1][0] == "1" else "1") + lines[1][1:]  # change one label
    train.write_text("\n".join(lines))
    assert main(["submission", "--resume", run.name]) == 2
    assert "the training data differ from those run" in capsys.readouterr().err


def test_resume_restores_the_fp16_loss_scaler(digits, tmp_path):
    X, y = digits
    settings = {**SETTINGS, "max_epochs": 3, "precision": "fp16"}
    reference = LeNet5Classifier(**settings).fit(X, y)
    fit_run(LeNet5Classifier(**settings, callbacks=[("stop", StopAfter(3))]), X, y, tmp_path)
    state = json.loads((latest_epoch_dir(tmp_path) / "state.json").read_text())
    assert state["net"]["state_dicts"]["grad_scaler_"]["scale"] == 2.0**16
    resumed = fit_run(LeNet5Classifier(**settings), X, y, tmp_path, resume=True)
    assert_same_run(resumed, reference, X)
