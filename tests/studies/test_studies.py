"""Studies: kagdigits compare, grid and report on tiny real digits (1 epoch, 2 seeds)."""

import json

import numpy as np
import pandas as pd
import pytest

from kagdigits.cli.args import build_grid
from kagdigits.cli.main import main
from kagdigits.errors import KagdigitsError
from kagdigits.studies import grid as grid_mod
from kagdigits.studies.compare import best_model, representative_seed, summarise
from kagdigits.studies.results import load_study, new_report_dir

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
COMPARE_PNGS = ["curves.png", "confusion.png", "samples.png", "mistakes.png"]


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory, digits):
    """A folder with a 200-row train.csv (no labelled test set: 20% are held out)."""
    from kagdigits.files.kaggle_csv import write_kaggle_csv

    folder = tmp_path_factory.mktemp("study")
    X, y = digits
    write_kaggle_csv(folder / "train.csv", X[:200], y[:200])
    return folder


def _only_report(out):
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(folders) == 1, folders
    return folders[0]


@pytest.fixture(scope="module")
def compare_dir(study_dir):
    out = study_dir / "compare-reports"
    code = main(["compare", "--models", "lenet5,mlp", "--seeds", "2", "--epochs", "1",
                 "--data", str(study_dir / "train.csv"), "--device", "cpu", "--out", str(out)])
    assert code == 0
    return _only_report(out)


@pytest.fixture(scope="module")
def grid_dir(study_dir):
    out = study_dir / "grid-reports"
    code = main(["grid", "--model", "lenet5", "--param", "module__activation=sigmoid,relu",
                 "--early-stopping", "on", "--epochs", "1", "--set", "batch_size=32",
                 "--data", str(study_dir / "train.csv"), "--device", "cpu", "--out", str(out)])
    assert code == 0
    return _only_report(out)


# --- compare ---------------------------------------------------------------------------

def test_compare_writes_results_and_report(compare_dir):
    names = {p.name for p in compare_dir.iterdir()}
    assert {"report.md", "study.json", "runs.csv", "history.csv", "predictions.csv",
            "test_images.npz", *COMPARE_PNGS} <= names
    for png in COMPARE_PNGS:
        data = (compare_dir / png).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, png
    assert not [n for n in names if n.startswith(".")], "temporary files left behind"

    runs = pd.read_csv(compare_dir / "runs.csv")
    assert sorted(zip(runs["model"], runs["seed"], strict=True)) == [
        ("lenet5", 0), ("lenet5", 1), ("mlp", 0), ("mlp", 1)]
    assert set(runs["params"]) == {61_706, 64_630}
    assert (runs["epochs"] == 1).all() and runs["test_acc"].between(0, 1).all()
    history = pd.read_csv(compare_dir / "history.csv")
    assert len(history) == 4 and history[["train_acc", "valid_acc"]].notna().all().all()
    predictions = pd.read_csv(compare_dir / "predictions.csv")
    assert len(predictions) == 4 * 40  # 20% of 200 rows held out as the test set
    for (model, seed), group in predictions.groupby(["model", "seed"]):
        row = runs[(runs["model"] == model) & (runs["seed"] == seed)].iloc[0]
        assert np.mean(group["label"] == group["predicted"]) == pytest.approx(row["test_acc"])


def test_compare_report_states_mean_and_interval_over_seeds(compare_dir):
    runs = pd.read_csv(compare_dir / "runs.csv")
    text = (compare_dir / "report.md").read_text()
    for model, group in runs.groupby("model"):
        acc = group["test_acc"].to_numpy()
        expected = f"{acc.mean():.4f} ± {1.96 * acc.std(ddof=1):.4f}"
        assert expected in text, (model, expected)
    best = runs.groupby("model")["test_acc"].mean().idxmax()
    assert f"**Best model: {best}**" in text
    for png in COMPARE_PNGS:
        assert f"({png})" in text
    info = json.loads((compare_dir / "study.json").read_text())
    assert info["kind"] == "compare" and info["n_train"] == 160 and info["n_test"] == 40
    assert info["command"].startswith("kagdigits compare --models lenet5,mlp --seeds 2")


def test_report_rebuilds_the_same_report_without_retraining(compare_dir, tmp_path):
    before = {p.name: p.read_bytes() for p in compare_dir.iterdir()}
    assert main(["report", str(compare_dir), "--out", str(tmp_path)]) == 0
    rebuilt = _only_report(tmp_path)
    assert rebuilt.name.endswith("-compare")
    assert {p.name: p.read_bytes() for p in compare_dir.iterdir()} == before  # untouched
    for name in ["runs.csv", "history.csv", "predictions.csv"]:
        pd.testing.assert_frame_equal(pd.read_csv(rebuilt / name),
                                      pd.read_csv(compare_dir / name))

    def body(path):  # the report less the lines that say when and from where
        return [line for line in path.read_text().splitlines()
                if not line.startswith(("- Written", "- Rebuilt"))]

    assert body(rebuilt / "report.md") == body(compare_dir / "report.md")
    assert f"Rebuilt without retraining from: {compare_dir}" in (rebuilt / "report.md").read_text()
    for png in COMPARE_PNGS:
        assert (rebuilt / png).read_bytes().startswith(PNG_MAGIC)


def test_report_merges_comparisons_of_the_same_test_set(compare_dir, tmp_path):
    lenet, mlp = tmp_path / "lenet", tmp_path / "mlp"
    study = load_study(compare_dir)
    for folder, model in ((lenet, "lenet5"), (mlp, "mlp")):
        from kagdigits.studies.results import Study, save_study

        folder.mkdir()
        part = {name: table[table["model"] == model] for name, table in study.tables.items()}
        save_study(folder, Study(study.info, part, study.images, study.labels))
    out = tmp_path / "out"
    assert main(["report", str(lenet), str(mlp), "--out", str(out)]) == 0
    merged = load_study(_only_report(out))
    pd.testing.assert_frame_equal(merged.tables["runs"], study.tables["runs"])

    assert main(["report", str(lenet), str(lenet), "--out", str(out)]) == 2  # same runs twice


def test_report_refuses_a_folder_without_results(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no study.json" in err


def test_compare_unknown_model_is_one_line(capsys, study_dir, tmp_path):
    code = main(["compare", "--models", "lenet5,lenet", "--data", str(study_dir / "train.csv"),
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "lenet5" in err
    assert not any(tmp_path.iterdir())


# --- grid ------------------------------------------------------------------------------

def test_grid_table_matches_sklearn_cross_validate(grid_dir, study_dir):
    from sklearn.model_selection import cross_validate

    from kagdigits.models.classifiers import LeNet5Classifier
    from kagdigits.studies.data import load_study_data

    folds = pd.read_csv(grid_dir / "folds.csv")
    assert list(folds["setting"]) == [0, 1] and (folds["epochs"] == 1).all()
    data = load_study_data(str(study_dir / "train.csv"))
    split = grid_mod.cv_splits(data.y_train, 1, 0)
    net = LeNet5Classifier(module__activation="relu", max_epochs=1, batch_size=32,
                           device="cpu", verbose=0)
    scores = cross_validate(net, data.X_train, data.y_train, cv=split,
                            scoring=["accuracy", "neg_log_loss"], return_train_score=True)
    relu = folds.iloc[1]
    assert relu["valid acc"] == pytest.approx(scores["test_accuracy"][0])
    assert relu["train acc"] == pytest.approx(scores["train_accuracy"][0])
    assert relu["valid loss"] == pytest.approx(-scores["test_neg_log_loss"][0], rel=1e-5)


def test_grid_report_has_the_technique_table(grid_dir):
    text = (grid_dir / "report.md").read_text()
    header = ("| early stopping | activation | pooling | weight decay | init | optimizer | "
              "epochs | kept epoch | train loss | train acc | valid loss | valid acc |")
    assert header in text
    rows = [line for line in text.splitlines() if line.startswith("| on (not triggered) |")]
    assert [row.split(" | ")[1] for row in rows] == ["sigmoid", "relu"]
    assert all(" | max | 0 | default | Adam | 1 | 1 | " in row for row in rows)
    assert "**Best setting**" in text and "(grid.png)" in text
    assert (grid_dir / "grid.png").read_bytes().startswith(PNG_MAGIC)


def test_grid_rebuilds_from_saved_results(grid_dir, tmp_path):
    assert main(["report", str(grid_dir), "--out", str(tmp_path)]) == 0
    rebuilt = _only_report(tmp_path)
    table = [line for line in (rebuilt / "report.md").read_text().splitlines()
             if line.startswith("|")]
    original = [line for line in (grid_dir / "report.md").read_text().splitlines()
                if line.startswith("|")]
    assert table == original and (rebuilt / "grid.png").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--param", "module__activation"], "is not NAME=VALUE"),
    (["--param", "module__activaton=relu"], "did you mean module__activation"),
    (["--param", "module__activation=relu,swish"], "unknown activation 'swish'"),
    (["--early-stopping", "maybe"], "use on, off or on,off"),
    ([], "give at least one --param"),
])
def test_grid_bad_arguments_are_one_line(argv, message, capsys, tmp_path):
    assert main(["grid", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_grid_parsing_keeps_order_and_types():
    grid = build_grid(["module__hidden_sizes=(80,20),(100,)", "lr=1e-3,0.01",
                                "module__activation=relu"], early_stopping="on,off", patience=3)
    assert grid == {"patience": [3, None], "module__hidden_sizes": [(80, 20), (100,)],
                    "lr": [0.001, 0.01], "module__activation": ["relu"]}
    settings = grid_mod.settings_of(grid)
    assert len(settings) == 8 and settings[0] == {
        "patience": 3, "module__hidden_sizes": (80, 20), "lr": 0.001, "module__activation": "relu"}
    assert settings[1]["lr"] == 0.01  # the last parameter varies fastest
    with pytest.raises(KagdigitsError, match="given twice"):
        build_grid(["patience=2,3"], early_stopping="on")


def test_technique_columns_fill_in_defaults():
    from kagdigits.models.classifiers import LeNet5Classifier, MLP3Classifier

    columns = grid_mod.technique_columns(
        LeNet5Classifier(optimizer__weight_decay=1e-3, patience=None), {"lr": 0.01})
    assert columns == {"early stopping": "off", "activation": "relu", "pooling": "max",
                       "weight decay": "0.001", "init": "default", "optimizer": "Adam",
                       "lr": "0.01"}
    mlp = grid_mod.technique_columns(MLP3Classifier(), {})
    assert "pooling" not in mlp and mlp["early stopping"] == "on"


# --- pieces ----------------------------------------------------------------------------

def test_summary_uses_mean_and_1_96_sample_std():
    runs = pd.DataFrame({
        "model": ["a", "a", "a", "b"], "seed": [0, 1, 2, 0], "params": [10, 10, 10, 20],
        "epochs": [3, 5, 4, 2], "train_seconds": [1.0, 2.0, 3.0, 4.0],
        "train_acc": [0.9, 0.95, 1.0, 0.5], "test_acc": [0.8, 0.9, 0.85, 0.95]})
    summary = summarise(runs).set_index("model")
    assert summary.loc["a", "test_acc"] == pytest.approx(0.85)
    assert summary.loc["a", "test_acc_pm"] == pytest.approx(1.96 * 0.05)
    assert np.isnan(summary.loc["b", "test_acc_pm"])  # one seed: no spread
    assert (summary.loc["a", "epochs_min"], summary.loc["a", "epochs_max"]) == (3, 5)
    assert best_model(summary.reset_index()) == "b"
    assert representative_seed(runs, "a") == 2  # 0.85 is the median


def test_new_report_dirs_never_collide(tmp_path):
    from datetime import UTC, datetime

    now = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = new_report_dir(tmp_path, "compare", now)
    (first / "report.md").write_text("kept")
    second = new_report_dir(tmp_path, "compare", now)
    assert first.name == "20240102T030405Z-compare" and second.name.endswith("-compare-2")
    assert (first / "report.md").read_text() == "kept"


def test_interrupted_study_saves_finished_fits(study_dir, tmp_path):
    from kagdigits.models.params import make_estimator
    from kagdigits.studies.compare import compare_study, run_compare
    from kagdigits.studies.data import load_study_data
    from kagdigits.studies.execute import StudyInterrupted, run_study

    data = load_study_data(str(study_dir / "train.csv"))
    estimators = {"mlp": make_estimator("mlp", {"max_epochs": 1, "verbose": 0}, device="cpu")}

    def fits():  # Ctrl-C while the second fit runs
        results = run_compare(estimators, [0, 1], data)
        yield next(results)
        raise KeyboardInterrupt

    with pytest.raises(StudyInterrupted, match="after 1 finished fits") as info:
        run_study(data, fits, lambda r, i: compare_study(r, data, i), kind="compare",
                  command="kagdigits compare --models mlp", out=tmp_path)
    assert info.value.exit_code == 130
    folder = _only_report(tmp_path)
    assert len(pd.read_csv(folder / "runs.csv")) == 1
    assert "**Interrupted**" in (folder / "report.md").read_text()


def test_an_ensemble_is_compared_like_a_net(digits):
    from kagdigits.models.ensemble import EnsembleClassifier
    from kagdigits.studies.fits import fit_and_evaluate

    X, y = digits
    ensemble = EnsembleClassifier(member="mlp", n_members=2, max_epochs=2, device="cpu",
                                  verbose=0)
    result = fit_and_evaluate("ensemble", 3, ensemble, X[:160], y[:160], X[160:200], y[160:200])
    fitted = [m.history for m in ensemble.set_params(random_state=3).fit(X[:160], y[:160])
              .members_]
    assert result["run"]["params"] == 2 * 64_630 and result["run"]["epochs"] == 2
    assert [row["valid_loss"] for row in result["history"]] == pytest.approx(
        [np.mean([h[e, "valid_loss"] for h in fitted]) for e in (0, 1)])
    assert result["run"]["test_acc"] == pytest.approx(np.mean(result["predicted"] == y[160:200]))
