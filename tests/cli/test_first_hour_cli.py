"""A Kaggle user's first hour on the command line (issue 38): estimates, dry runs, quiet
output, resuming and serving the latest run, probabilities beside a submission."""

import json
import os
import re
import signal
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from skorch.callbacks import Callback

from kagdigits import LeNet5Classifier
from kagdigits.cli import args as cli_args
from kagdigits.cli.models import model_rows
from kagdigits.cli.serve import newest_trained
from kagdigits.cli.training import fit_in_run
from kagdigits.errors import InputError
from kagdigits.models import progress
from kagdigits.runs.config import RunConfig
from kagdigits.runs.persist import save_model
from kagdigits.serve.models import load_all
from kagdigits.studies import plots
from tests.helpers import TINY, run_cli

# --- item 7 and "Missing": an estimate before every training, --dry-run ------------------


@pytest.mark.real_probe  # the one CLI test whose estimate times the whole probe
def test_training_prints_one_estimate_and_one_training_line(tiny_kaggle_files, in_tmp,
                                                           capsys):
    train, test = tiny_kaggle_files
    code, out, _ = run_cli(capsys, "submission", "--train", train, "--test", test,
                           "--epochs", "1", "--device", "cpu")
    assert code == 0
    estimate = re.search(r"^Estimate: lenet5, up to 1 epoch on 200 rows: about [\d.]+ s on cpu, "
                         r".*timed after a warm-up of (\d+) steps", out, re.M)
    assert estimate and int(estimate[1]) >= 3  # the real probe's least warm-up
    assert len(re.findall(r"^Training ", out, re.M)) == 1  # was two lines (item 11)
    assert re.search(r"^Training on cpu, .*\. Threads: \d+ \(", out, re.M)
    code, out, _ = run_cli(capsys, "runs")  # "Missing": the data a run used
    assert code == 0 and out.splitlines()[1].endswith(f" {train}")


# --- item 5: an ensemble has no validation accuracy of its own --------------------------


def test_runs_show_no_validation_accuracy_for_an_ensemble(in_tmp, capsys):
    run = Path("runs/ensemble-20260101T000000Z")
    (run / "member-01" / "epoch-0002").mkdir(parents=True)  # the first member training
    (run / "member-01" / "epoch-0002" / "history.json").write_text(
        json.dumps([{"epoch": 1, "valid_acc": 0.95}, {"epoch": 2, "valid_acc": 0.9807}]))
    config = {"command": "submission", "model": "ensemble", "params": {"n_members": 1}}
    (run / "run.json").write_text(json.dumps({"config": config, "source": "demo"}))
    code, out, _ = run_cli(capsys, "runs")
    row = out.splitlines()[1].split()
    assert code == 0 and row[-2:] == ["-", "demo"] and "0.9807" not in out
    (run / "model.kd").write_bytes(b"")  # finished, with a result from before the fix
    (run / "result.json").write_text(json.dumps({"epochs": 2, "members": 1,
                                                 "valid_acc": 0.9807}))
    code, out, _ = run_cli(capsys, "runs")
    assert "finished" in out and "0.9807" not in out


def test_dry_run_estimates_and_trains_nothing(tiny_kaggle_files, in_tmp, capsys):
    train, test = tiny_kaggle_files
    code, out, _ = run_cli(capsys, "submission", "--train", train, "--test", test,
                           "--dry-run", "--out", "subs")
    assert code == 0
    assert "Estimate: lenet5, up to 30 epochs on 200 rows: about " in out
    assert out.rstrip().endswith("Dry run: no run started, nothing trained.")
    assert not (in_tmp / "runs").exists() and not (in_tmp / "subs").exists()


def test_dry_run_of_an_ensemble_prints_its_estimate(tiny_kaggle_files, in_tmp, capsys):
    train, _ = tiny_kaggle_files
    code, out, _ = run_cli(capsys, "fit", "--model", "ensemble", "--train", train,
                           "--set", "n_members=3", "--epochs", "2", "--save", "e.kd",
                           "--dry-run")
    assert code == 0 and not Path("e.kd").exists()
    assert "Ensemble: 3 members x 2 epochs on 200 rows, about " in out


def test_studies_estimate_their_fits_and_dry_run_trains_nothing(tiny_kaggle_files, in_tmp,
                                                                 capsys):
    train, _ = tiny_kaggle_files
    code, out, _ = run_cli(capsys, "compare", "--data", train, "--models", "lenet5,mlp",
                           "--seeds", "2", "--epochs", "2", "--dry-run")
    assert code == 0 and not Path("reports").exists()
    assert re.search(r"^Estimate: lenet5, 2 fits of up to 2 epochs on 160 rows: about [\d.]+ s "
                     r"each, [\d.]+ s in all one after another on cpu", out, re.M)
    assert "Estimate: mlp, 2 fits of " in out
    assert out.rstrip().endswith("Dry run: nothing trained or written.")


def test_a_bar_over_the_batches_of_each_epoch(digits, capsys, monkeypatch):
    monkeypatch.setattr(progress, "BAR_DELAY", 0)
    monkeypatch.setattr(progress, "BAR_DISABLE", False)
    X, y = digits
    LeNet5Classifier(**{**TINY, "verbose": 1}, batch_size=100).fit(X, y)
    err = capsys.readouterr().err
    # a bar over the epoch's 3 batches (it is redrawn at most every 0.1 s, so not every count)
    assert re.search(r"epoch 1: +\d+%\|.*\| [0-3]/3 \[", err) and "batch" in err


# --- item 11: noise -----------------------------------------------------------------------


def test_resume_line_lists_only_what_was_set(tiny_kaggle_files, in_tmp, capsys):
    train, test = tiny_kaggle_files
    run_dir = Path("runs/lenet5-20260101T000000Z")
    run_dir.mkdir(parents=True)
    config = {"command": "submission", "model": "lenet5", "params": {}, "epochs": 2,
              "device": "cpu", "seed": 0, "train": str(train), "test": str(test),
              "out": None, "save": None}
    (run_dir / "run.json").write_text(json.dumps({"config": config, "data": "x"}))
    code, out, err = run_cli(capsys, "submission", "--resume", "latest")
    # a run with no epoch saved is not resumable: `latest` names the unfinished ones only
    assert code == 2 and "no unfinished `kagdigits submission` run in runs/" in err
    (run_dir / "epoch-0001").mkdir()
    (run_dir / "epoch-0001" / "history.json").write_text('[{"epoch": 1}]')
    code, out, err = run_cli(capsys, "submission", "--resume", "latest")
    line = next(x for x in out.splitlines() if x.startswith("Resuming run"))
    assert "None" not in line and "params={}" not in line and "epochs=2" in line


class PressCtrlC(Callback):
    """Presses Ctrl-C (through the real handler) after the first training batch."""

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            signal.raise_signal(signal.SIGINT)


def test_ctrl_c_before_the_first_epoch_leaves_no_empty_run_folder(digits, in_tmp):
    from kagdigits.runs.checkpoints import TrainingInterrupted

    X, y = digits
    clf = LeNet5Classifier(**{**TINY, "max_epochs": 2}, batch_size=50,
                           callbacks=[("press", PressCtrlC())])
    with pytest.raises(TrainingInterrupted, match="before the first epoch ended; nothing was "
                                                  "saved, so its run folder runs/"):
        fit_in_run(RunConfig(command="fit", save="m.kd"), clf, X, y)
    assert list(Path("runs").iterdir()) == []


def test_a_resumed_fit_shows_the_epoch_table_header(digits, in_tmp, capsys):
    from kagdigits.runs.fitting import fit_run

    X, y = digits
    settings = {**TINY, "verbose": 1, "max_epochs": 2}
    fit_run(LeNet5Classifier(**{**settings, "max_epochs": 1}), X, y, "run")
    capsys.readouterr()
    fit_run(LeNet5Classifier(**settings), X, y, "run", resume=True)
    out = capsys.readouterr().out
    assert re.search(r"^\s+epoch\s+train_loss", out, re.M) and re.search(r"^\s+2\s", out, re.M)


def test_makefile_recipes_are_quiet_and_ctrl_c_is_not_an_error():
    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    recipes = re.findall(r"^(\w+):.*\n((?:\t.*\n)+)", makefile, re.M)
    for target in ("submission", "resume", "serve", "data", "submit"):
        [lines] = [body for name, body in recipes if name == target]
        assert lines.startswith("\t@"), target  # make does not echo the command
    assert "test $$rc -eq 130 && exit 0" in makefile


def test_hints_name_the_make_form_when_kagdigits_is_not_on_the_path(in_tmp, monkeypatch):
    monkeypatch.setattr(sys, "argv", [".venv/bin/kagdigits", "submission"])
    monkeypatch.setenv("PATH", "/nonexistent")
    Path("Makefile").write_text("")
    assert cli_args.shown_command("submission --resume R", "submission") == (
        'make submission ARGS="--resume R" (or: .venv/bin/kagdigits submission --resume R)')
    assert cli_args.shown_command("predict --load m.kd") == (
        ".venv/bin/kagdigits predict --load m.kd")
    monkeypatch.setattr(sys, "argv", ["pytest"])
    assert cli_args.shown_command("predict --load m.kd") == "kagdigits predict --load m.kd"


# --- item 12: parallel fits print whole tables ---------------------------------------------


def test_a_fit_in_a_parallel_worker_prints_its_table_in_one_piece(digits, monkeypatch):
    monkeypatch.setattr(progress, "in_worker", lambda: True)
    X, y = digits
    writes = []
    LeNet5Classifier(**{**TINY, "verbose": 1, "max_epochs": 3},
                     callbacks__print_log__sink=writes.append).fit(X, y)
    assert len(writes) == 1  # one write: header and the 3 epochs (it was 4 writes)
    assert len(writes[0].splitlines()) == 5


# --- items 4, 10: whole descriptions, the label column named -------------------------------


def test_models_descriptions_are_whole_sentences():
    descriptions = {row[0]: row[4] for row in model_rows()}
    assert descriptions["ensemble"].endswith("their mean probabilities.")
    assert all(d.endswith(".") and ":data:" not in d for d in descriptions.values())


def test_fit_on_a_frame_with_its_label_column_names_it(digits):
    X, y = digits
    frame = pd.DataFrame(X, columns=[f"pixel{i}" for i in range(784)])
    frame.insert(0, "label", y)
    with pytest.raises(InputError, match=r"785 values per row.*label column still in X\? "
                                         r"Drop it, e\.g\. X = train\.drop\(columns='label'\)"):
        LeNet5Classifier(**TINY).fit(frame, y)


# --- items 6, 9 and "Missing": serving the latest run --------------------------------------


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, digits):
    X, y = digits
    root = tmp_path_factory.mktemp("served")
    paths = []
    for i, name in enumerate(("lenet5-20260101T000000Z", "lenet5-20260102T000000Z")):
        path = save_model(LeNet5Classifier(**TINY, random_state=i).fit(X, y),
                          root / "runs" / name / "model.kd")
        os.utime(path, (1000 + i, 1000 + i))
        paths.append(path)
    return root, paths


def test_runs_served_together_are_named_by_their_run_ids(two_runs):
    _, paths = two_runs
    assert [m.name for m in load_all(paths, device="cpu")] == [
        "lenet5-20260101T000000Z", "lenet5-20260102T000000Z"]


def test_serve_without_load_takes_the_newest_run(two_runs, tmp_path):
    root, paths = two_runs
    assert newest_trained(tmp_path / "models", root / "runs") == paths[1]
    (tmp_path / "models").mkdir()
    older = tmp_path / "models" / "old.kd"
    older.write_bytes(paths[0].read_bytes())
    os.utime(older, (10, 10))
    assert newest_trained(tmp_path / "models", root / "runs") == paths[1]
    os.utime(older, (5000, 5000))
    assert newest_trained(tmp_path / "models", root / "runs") == older


def test_serve_estimates_the_demo_model_it_trains_when_it_has_none():
    from kagdigits.cli.serve import demo_estimate

    assert re.match(r"Estimate: lenet5, up to \d+ epochs on 4,000 rows: about [\d.]+ (s|min) on ",
                    demo_estimate("cpu"))


# --- "Missing": probabilities beside a submission ------------------------------------------


def test_proba_writes_the_class_probabilities_beside_the_submission(tiny_kaggle_files, in_tmp,
                                                                   capsys):
    train, test = tiny_kaggle_files
    code, out, _ = run_cli(capsys, "submission", "--train", train, "--test", test,
                           "--epochs", "1", "--device", "cpu", "--proba", "--out", "subs")
    assert code == 0
    submission = Path(out.strip().splitlines()[-1])
    proba_file = submission.with_name(submission.stem + ".proba.csv")
    assert f"Probabilities: {proba_file}" in out
    proba = pd.read_csv(proba_file, index_col="ImageId")
    labels = pd.read_csv(submission, index_col="ImageId")["Label"]
    assert list(proba.columns) == [str(c) for c in range(10)] and len(proba) == 100
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-4)
    assert (proba.to_numpy().argmax(axis=1) == labels.to_numpy()).all()
    from kagdigits.cli.submit import newest_submission

    os.utime(proba_file)  # the newest file: `make submit` still takes the submission
    assert newest_submission("subs") == submission


# --- item 15: plots that show the mistakes -------------------------------------------------


def test_confusion_colours_scale_over_the_mistakes(monkeypatch, tmp_path):
    figures = []
    monkeypatch.setattr(plots, "save_png", lambda fig, path: figures.append(fig) or path)
    labels = np.repeat(np.arange(10), 50)
    predicted = labels.copy()
    predicted[:3] = 7  # three 0s read as 7; the diagonal holds 47..50
    plots.plot_confusion(labels, predicted, "t", tmp_path / "c.png")
    [fig] = figures
    assert isinstance(fig, Figure)
    assert fig.axes[0].images[-1].norm.vmax == 3  # was 50: mistakes were near-white


def test_curves_say_why_train_loss_is_above_valid_loss(monkeypatch, tmp_path):
    figures = []
    monkeypatch.setattr(plots, "save_png", lambda fig, path: figures.append(fig) or path)
    history = pd.DataFrame({"model": "m", "seed": 0, "epoch": [1, 2],
                            "train_loss": [0.9, 0.5], "valid_loss": [0.6, 0.3],
                            "train_acc": [0.8, 0.9], "valid_acc": [0.9, 0.95]})
    plots.plot_curves(history, tmp_path / "c.png")
    assert "augmentation or label smoothing" in figures[0]._suptitle.get_text()
    history["valid_loss"] = [1.0, 0.8]
    plots.plot_curves(history, tmp_path / "c.png")
    assert "augmentation" not in figures[1]._suptitle.get_text()
