"""`kagdigits submission` end to end on tiny CSVs and on the demo set."""

import numpy as np
import pandas as pd

from kagdigits.cli.main import main
from kagdigits.files.submission import read_labels_csv


def test_submission_on_tiny_csvs(tiny_kaggle_files, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train, test = tiny_kaggle_files
    out = tmp_path / "subs"
    argv = ["submission", "--train", str(train), "--test", str(test), "--epochs", "1",
            "--set", "batch_size=32", "--out", str(out)]
    assert main(argv) == 0
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert last_line.startswith(str(out / "lenet5-")) and last_line.endswith(".csv")
    labels = read_labels_csv(last_line, n_rows=100)
    assert set(labels) <= set(range(10))

    assert main(argv) == 0  # a second run writes a second file, the first is kept
    assert len(list(out.glob("lenet5-*.csv"))) == 2


def test_submission_on_the_demo_set(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["submission", "--epochs", "1", "--out", "subs"]) == 0
    output = capsys.readouterr().out
    assert "DEMO set" in output and "Demo test accuracy of this submission" in output
    solution = pd.read_csv(tmp_path / "data/demo/solution.csv")
    assert len(solution) == 1000 and len(pd.read_csv(tmp_path / "data/demo/train.csv")) == 4000
    written = output.strip().splitlines()[-1]
    accuracy = float(output.split("Demo test accuracy of this submission: ")[1].split()[0])
    assert accuracy == np.mean(read_labels_csv(written, 1000) == solution["Label"].to_numpy())
    assert accuracy > 0.5  # one epoch on 3,600 digits is already far above chance
