"""What the command line prints and writes, as a demanding user reads it (issue 17):
summaries, result tables, the ledger, run folders, colours, progress bars, wording."""

import json
import os
import re
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import kagdigits
from kagdigits.cli.main import main
from kagdigits.files import sources
from kagdigits.files import submission as submission_module
from kagdigits.files.submission import read_labels_csv
from kagdigits.kaggle.ledger import read_ledger
from kagdigits.models import EnsembleClassifier, LeNet5Classifier, progress
from kagdigits.studies.plots import integer_epochs
from tests.helpers import run_cli

ANSI = "\x1b["


@pytest.fixture
def bars(monkeypatch):
    """Progress bars at once and also when stderr is no terminal (as under pytest)."""
    monkeypatch.setattr(progress, "BAR_DELAY", 0)
    monkeypatch.setattr(progress, "BAR_DISABLE", False)


# --- item 11: --version, a fast `models` ------------------------------------------------


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"kagdigits {kagdigits.__version__}"


def test_models_table_is_computed_once_then_read_from_the_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    code, out, err = run_cli(capsys, "models")
    assert code == 0 and "Counting the models' parameters" in err
    assert re.search(r"lenet5 +LeNet5Classifier +61,706 +62,006", out)
    assert re.search(r"resnet18 +ResNet18Classifier +11,", out)
    assert out.strip().splitlines()[-1].startswith("ensemble ")  # ensembles last
    cache = tmp_path / "kagdigits" / "models.json"
    saved = json.loads(cache.read_text())
    [lenet5] = [row for row in saved["rows"] if row[0] == "lenet5"]
    lenet5[2] = 12_345  # proves the second call reads the cache
    cache.write_text(json.dumps(saved))
    code, out, err = run_cli(capsys, "models")
    assert code == 0 and err == "" and re.search(r"lenet5 +LeNet5Classifier +12,345", out)
    cache.write_text(json.dumps({**saved, "key": "another source"}))  # stale: counted again
    code, out, err = run_cli(capsys, "models")
    assert "Counting" in err and "61,706" in out


# --- items 6, 9, 10: studies end in their table; truthful merges; wording -------------------


def test_compare_ends_with_its_table_then_the_report_path(tiny_kaggle_files, tmp_path, capsys,
                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    train, _ = tiny_kaggle_files
    code, out, _ = run_cli(capsys, "compare", "--models", "mlp", "--seeds", "1", "--epochs", "1",
                           "--data", train, "--set", "batch_size=32")
    assert code == 0
    assert "1 model x 1 seed = 1 fit." in out
    lines = out.strip().splitlines()
    assert lines[-1].endswith("-compare/report.md")
    assert lines[-2].startswith("Results and report: ")
    assert lines[-3].startswith("Best: mlp")
    assert re.match(r"model +seeds +test accuracy +train accuracy +epochs +train s", lines[-5])
    assert re.match(r"mlp +1 +0\.\d{4} +0\.\d{4} +1 ", lines[-4])
    report = open(lines[-1]).read()
    assert "| 1 |" in report and "(1–1)" not in report and "1.0 (" not in report


def test_grid_ends_with_its_best_settings(tiny_kaggle_files, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train, _ = tiny_kaggle_files
    code, out, _ = run_cli(capsys, "grid", "--model", "mlp", "--param",
                           "module__activation=relu,tanh", "--epochs", "1", "--data", train)
    assert code == 0 and "2 settings x 1 split = 2 fits." in out
    lines = out.strip().splitlines()
    assert lines[-1].endswith("-grid/report.md")
    assert lines[-3] == "all 2 settings, best first by validation accuracy"
    assert "activation" in lines[-6] and "valid acc" in lines[-6]
    accuracies = [float(line.split()[-1]) for line in lines[-5:-3]]
    assert accuracies == sorted(accuracies, reverse=True)


@pytest.mark.slow
def test_a_merged_report_names_every_part_and_each_models_seeds(tiny_kaggle_files, tmp_path,
                                                                capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train, _ = tiny_kaggle_files
    common = ["--epochs", "1", "--data", train, "--set", "batch_size=32"]
    folders = []
    for models, seeds in (("mlp", "2"), ("lenet5", "1")):
        code, out, _ = run_cli(capsys, "compare", "--models", models, "--seeds", seeds, *common)
        assert code == 0
        folders.append(out.strip().splitlines()[-1].rsplit("/", 1)[0])
    code, out, _ = run_cli(capsys, "report", *folders)
    assert code == 0 and out.strip().splitlines()[-1].endswith("report.md")
    assert re.search(r"^mlp +2 ", out, re.M) and re.search(r"^lenet5 +1 ", out, re.M)
    report = open(out.strip().splitlines()[-1]).read()
    assert "Merged from 2 reports" in report
    assert f"{folders[0]}: mlp; `kagdigits compare --models mlp --seeds 2" in report
    assert f"{folders[1]}: lenet5; `kagdigits compare --models lenet5 --seeds 1" in report
    assert "Fitted mlp with seeds 0, 1; lenet5 with seed 0 on the same" in report
    assert "once per seed" not in report


@pytest.mark.parametrize(("epochs", "ticks"), [([1], [1]), ([1, 2, 3], [1, 2, 3])])
def test_epoch_ticks_are_whole_numbers(epochs, ticks):
    ax = Figure().subplots()
    ax.plot(epochs, np.ones(len(epochs)))
    integer_epochs(ax, epochs)
    assert list(ax.get_xticks()) == ticks


def test_many_epochs_get_a_few_whole_ticks():
    ax = Figure().subplots()
    ax.plot(range(1, 41), np.ones(40))
    integer_epochs(ax, list(range(1, 41)))
    ax.figure.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_xticks()) and len(ax.get_xticks()) < 12


# --- items 1, 2, 8: fit/predict summaries, the ledger, run folders ---------------------------


def test_fit_then_predict_writes_a_ledger_row_on_the_demo_set(tiny_kaggle_files, tmp_path,
                                                               capsys, monkeypatch, bars):
    monkeypatch.chdir(tmp_path)
    train, _ = tiny_kaggle_files
    code, out, _ = run_cli(capsys, "fit", "--train", train, "--epochs", "1", "--set",
                           "batch_size=32", "--save", "m.kd")
    assert code == 0
    assert re.search(r"^Summary: epochs run: 1; best validation accuracy: 0\.\d{4}; "
                     r"train time: [\d.]+ s$", out, re.M)
    [run] = (tmp_path / "runs").iterdir()
    assert sorted(p.name for p in run.iterdir()) == [".lock", "model.kd", "result.json", "run.json"]
    assert f"Model: runs/{run.name}/model.kd (use with: kagdigits predict --load" in out

    for model in ("m.kd", f"runs/{run.name}/model.kd"):  # both load
        code, out, err = run_cli(capsys, "predict", "--load", model, "--out", "subs")
        assert code == 0 and "predicting the DEMO set" in out and "predict:" in err
        accuracy = float(out.split("Demo test accuracy of this submission: ")[1].split()[0])
        solution = pd.read_csv("data/demo/solution.csv")["Label"].to_numpy()
        written = out.strip().splitlines()[-1]
        assert accuracy == np.mean(read_labels_csv(written, 1000) == solution)
    rows = read_ledger("subs/ledger.csv")
    assert len(rows) == 2 and all(r["data"] == "demo" and r["model"] == "lenet5" for r in rows)
    assert json.loads(rows[0]["params"]) == {"batch_size": 32, "max_epochs": 1}
    assert rows[0]["train_seconds"] == "" and rows[0]["device"].startswith("cpu")

    code, _, err = run_cli(capsys, "submission", "--resume", run.name)
    assert code == 2 and f"run {run.name} has finished; its model is runs/{run.name}/model.kd" \
        in err


def test_submission_ledger_params_hold_only_what_the_user_set(tiny_kaggle_files, tmp_path,
                                                              capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train, test = tiny_kaggle_files
    code, out, _ = run_cli(capsys, "submission", "--train", train, "--test", test, "--epochs",
                           "1", "--seed", "3", "--out", "subs")
    assert code == 0
    [row] = read_ledger("subs/ledger.csv")
    assert json.loads(row["params"]) == {"max_epochs": 1, "random_state": 3}
    assert "Estimate: lenet5, up to 1 epoch on 200 rows: about " in out


def write_unfinished_run(root, name, epochs, age_days):
    """A run folder as an interrupted run leaves it, started ``age_days`` ago."""
    run = root / name
    (run / f"epoch-{epochs:04d}").mkdir(parents=True)
    history = [{"epoch": i + 1, "valid_acc": 0.5 + i / 10} for i in range(epochs)]
    (run / f"epoch-{epochs:04d}" / "history.json").write_text(json.dumps(history))
    (run / "run.json").write_text(json.dumps({"config": {"command": "fit", "model": "mlp"}}))
    then = time.time() - age_days * 86400
    os.utime(run / "run.json", (then, then))
    return run


def test_runs_lists_and_cleans_run_folders(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0 and out.strip() == "No runs in runs/."
    old = write_unfinished_run(tmp_path / "runs", "mlp-20240101T000000Z", 3, age_days=10)
    new = write_unfinished_run(tmp_path / "runs", "mlp-20240109T000000Z", 1, age_days=0)
    code, out, _ = run_cli(capsys, "runs")
    header, first, second, total = out.strip().splitlines()
    assert header.split() == ["run", "model", "started", "(UTC)", "epochs", "state", "size",
                              "valid_acc", "data"]
    assert first.split()[:2] == [old.name, "mlp"] and first.split()[4:6] == ["3", "unfinished"]
    assert first.split()[-2:] == ["0.7000", "-"] and second.split()[0] == new.name
    assert total.startswith("2 runs, ")

    code, _, err = run_cli(capsys, "runs", "clean")
    assert code == 2 and "say which runs to remove" in err
    code, _, err = run_cli(capsys, "runs", "clean", "nope")
    assert code == 2 and "no run 'nope' in runs/" in err
    code, out, _ = run_cli(capsys, "runs", "clean", "--older-than", "7d", "--dry-run")
    assert code == 0 and "Would remove 1 run," in out and old.is_dir()
    code, _, err = run_cli(capsys, "runs", "clean", "--older-than", "7 days")
    assert code == 2 and "age '7 days' is not a number with a unit" in err
    code, out, _ = run_cli(capsys, "runs", "clean", "--older-than", "7d")
    assert code == 0 and out.startswith("Removed 1 run (") and not old.exists() and new.is_dir()
    code, out, _ = run_cli(capsys, "runs", "clean", "--all")
    assert code == 0 and not new.exists()


# --- item 3: swapped and wrong files -----------------------------------------------------


def test_a_test_file_given_as_train_file_is_named_as_such(tiny_kaggle_files, tmp_path, capsys):
    _, test = tiny_kaggle_files
    code, _, err = run_cli(capsys, "fit", "--train", test, "--save", tmp_path / "m.kd")
    assert code == 2 and "has no label column" in err and "is this the test file?" in err


def test_a_wrong_file_to_score_gives_a_short_line(tiny_kaggle_files, tmp_path, capsys):
    train, _ = tiny_kaggle_files
    solution = tmp_path / "solution.csv"
    solution.write_text("ImageId,Label\n1,3\n")
    code, _, err = run_cli(capsys, "score", train, "--solution", solution)
    assert code == 2 and err.count("\n") == 1 and len(err) < 300
    assert "header is 'label,pixel0,pixel1," in err and "(785 columns)" in err


# --- item 13: Kaggle Notebooks -----------------------------------------------------------


def test_in_a_kaggle_notebook_it_reads_the_input_and_writes_working_submission(
        tiny_kaggle_files, tmp_path, capsys, monkeypatch):
    kaggle = tmp_path / "kaggle"
    competition = kaggle / "input" / "digit-recognizer"
    competition.mkdir(parents=True)
    (kaggle / "working").mkdir()
    for path in tiny_kaggle_files:
        (competition / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(sources, "KAGGLE_ROOT", kaggle)
    monkeypatch.setattr(submission_module, "KAGGLE_TEST_ROWS", 100)  # the test file's rows
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code, out, _ = run_cli(capsys, "submission", "--epochs", "1", "--set", "batch_size=32")
    assert code == 0 and f"Train: {competition / 'train.csv'} (200 rows)" in out
    copy = kaggle / "working" / "submission.csv"
    assert f"Kaggle Notebook: also written as {copy} (the file this notebook submits)" in out
    written = out.strip().splitlines()[-1]
    assert copy.read_bytes() == open(written, "rb").read()

    (work / "data").mkdir()  # Kaggle files in data/ come first
    (work / "data" / "test.csv").write_bytes(tiny_kaggle_files[1].read_bytes())
    assert sources.kaggle_folder() == sources.KAGGLE_DIR


def test_demo_submissions_are_not_copied_for_the_notebook(tmp_path, monkeypatch):
    from kagdigits.cli.outcome import notebook_line

    (tmp_path / "working").mkdir()
    monkeypatch.setattr(sources, "KAGGLE_ROOT", tmp_path)
    monkeypatch.setattr(submission_module, "KAGGLE_TEST_ROWS", 1)
    submission = tmp_path / "s.csv"
    submission.write_text("ImageId,Label\n1,3\n")
    assert notebook_line(submission, is_demo=True) is None
    assert not (tmp_path / "working" / "submission.csv").exists()
    assert notebook_line(submission, is_demo=False).endswith("(the file this notebook submits)")


# --- items 4, 5, 12: warnings, colours, progress bars -------------------------------------


def test_pandas_inputs_fit_without_warnings(digits):
    X, y = digits
    frame = pd.DataFrame(X[:100], columns=[f"pixel{i}" for i in range(784)])
    labels = pd.Series(y[:100], name="label")
    assert not labels.to_numpy().flags.writeable  # pandas 3 copy-on-write: read-only arrays
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LeNet5Classifier(max_epochs=1, train_split=None, verbose=0).fit(frame, labels)


def test_the_float_scale_warning_points_at_the_callers_line(digits):
    X, y = digits
    clf = LeNet5Classifier(max_epochs=1, train_split=None, verbose=0).fit(X[:64], y[:64])
    with pytest.warns(UserWarning, match="float pixels look like 0..255") as record:
        clf.predict(X[:64].astype(np.float32))
    assert record[0].filename == __file__


def fit_printing(digits, **params):
    X, y = digits
    return LeNet5Classifier(max_epochs=2, batch_size=32, **params).fit(X[:200], y[:200])


def test_epoch_tables_have_colour_only_where_shown(digits, capsys, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    fit_printing(digits)
    out = capsys.readouterr().out
    assert "valid_loss" in out and ANSI not in out  # captured stdout is no terminal
    monkeypatch.setenv("FORCE_COLOR", "1")
    fit_printing(digits)
    assert ANSI in capsys.readouterr().out
    monkeypatch.setenv("NO_COLOR", "1")
    fit_printing(digits)
    assert ANSI not in capsys.readouterr().out


def test_long_predictions_show_a_bar_only_with_verbose_2(digits, capsys, bars):
    clf = fit_printing(digits, verbose=0)
    clf.predict(digits[0])
    assert capsys.readouterr().err == ""
    clf.set_params(verbose=2).predict(digits[0])
    assert re.search(r"predict: .*/300 ", capsys.readouterr().err)


# --- item 7: the ensemble's output ------------------------------------------------------


def test_the_ensemble_shows_member_progress_and_its_own_history(digits, capsys, bars):
    X, y = digits
    ensemble = EnsembleClassifier(member="lenet5", n_members=2, max_epochs=1,
                                  member_params={"batch_size": 64}).fit(X[:200], y[:200])
    captured = capsys.readouterr()
    assert re.search(r"^Ensemble member 2/2 \(LeNet5Classifier, seed 1\): 1 epoch, best "
                     r"valid_acc 0\.\d{4}, [\d.]+ s$", captured.out, re.M)
    assert "epoch    train_loss" not in captured.out  # no member tables at verbose=1
    assert "members 1, 2/2: epoch 1/1, valid_acc" in captured.err  # the stack of both
    assert re.search(r"ensemble: 100%.*2/2", captured.err)
    assert ensemble.history_[-1, "member"] == 1 and len(ensemble.history_) == 2
    ensemble.set_params(verbose=2).predict(X[:50])
    assert re.search(r"ensemble predict: .*/2 ", capsys.readouterr().err)


def test_a_resumed_and_a_fresh_run_get_the_same_ledger_params(digits, tmp_path):
    from kagdigits.kaggle.ledger import record_submission
    from kagdigits.runs.checkpoints import RunCheckpoint

    X, y = digits
    fresh = LeNet5Classifier(max_epochs=1, lr=1e-3, verbose=0).fit(X[:200], y[:200])
    resumed = LeNet5Classifier(max_epochs=1, lr=1e-3, verbose=0, callbacks=[
        ("run_checkpoint", RunCheckpoint(tmp_path / "run", resume=True))]).fit(X[:200], y[:200])
    for name, estimator in (("a.csv", fresh), ("b.csv", resumed)):
        record_submission(tmp_path / name, estimator, model="lenet5", train_seconds=1.0,
                          data="demo")
    rows = read_ledger(tmp_path / "ledger.csv")
    assert rows[0]["params"] == rows[1]["params"] == '{"lr": 0.001, "max_epochs": 1, "verbose": 0}'
