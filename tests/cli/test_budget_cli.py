"""`kagdigits submission --budget` and `make submission BUDGET=...`."""

import shutil
import subprocess
from pathlib import Path

import pytest

from kagdigits.cli.main import main
from kagdigits.files.submission import read_labels_csv

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(("extra", "says"), [
    (["--budget", "soon"], "budget 'soon' is not a duration; write e.g. 30s, 5m, 1h or 1h30m"),
    (["--budget", "5m", "--model", "lenet5"], "--budget chooses the model and its epochs; "
                                              "drop --model, or --budget"),
    (["--budget", "5m", "--epochs", "3"], "drop --epochs, or --budget"),
    (["--budget", "5m", "--on", "kaggle"], "with --on kaggle pass --model")])
def test_budget_errors_are_one_line(extra, says, tiny_kaggle_files, tmp_path, capsys,
                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    train, test = tiny_kaggle_files
    assert main(["submission", "--train", str(train), "--test", str(test), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err
    assert not (tmp_path / "runs").exists()  # refused before any run started


def test_a_budget_chooses_says_and_trains_a_tier(tiny_kaggle_files, tmp_path, capsys,
                                                 monkeypatch):
    from kagdigits.models import budget

    monkeypatch.chdir(tmp_path)
    # a very slow machine (5 s per row; the probe itself is tested in tests/models): an hour
    # buys only the quick tier's one epoch of these 200 rows
    monkeypatch.setattr(budget, "probe_step", lambda *a, **k: 5.0)
    train, test = tiny_kaggle_files
    argv = ["submission", "--train", str(train), "--test", str(test), "--budget", "1h",
            "--out", "subs", "--threads", "1", "--set", "batch_size=64"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    budget = [line for line in out.splitlines() if line.startswith("Budget 1h: ")]
    assert len(budget) == 1 and "expected held-out accuracy" in budget[0]
    assert "kagglecnn, 1 epoch, " in budget[0] and "(tier 30s" in budget[0]
    written = out.strip().splitlines()[-1]
    assert Path(written).name.startswith("kagglecnn-")  # the run is named by its model
    assert len(read_labels_csv(written, n_rows=100)) == 100


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_submission_passes_the_budget():
    command = subprocess.run(["make", "-n", "-C", str(ROOT), "submission", "BUDGET=5m"],
                             capture_output=True, text=True, check=True).stdout
    assert "--budget 5m" in command and "--model" not in command
    plain = subprocess.run(["make", "-n", "-C", str(ROOT), "submission", "MODEL=mlp"],
                           capture_output=True, text=True, check=True).stdout
    assert "--model mlp" in plain and "--budget" not in plain
