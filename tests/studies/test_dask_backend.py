"""Studies on real Dask worker processes (a LocalCluster on loopback) give the local numbers."""

import pandas as pd
import pytest

from kagdigits.cli.main import main

#: What must be equal between backends (timings and nothing else may differ).
SCORES = ["setting", "fold", "epochs", "kept epoch", "train loss", "train acc", "valid loss",
          "valid acc"]


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes on 127.0.0.1."""
    import logging

    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def train_csv(tmp_path_factory, digits):
    from kagdigits.files.kaggle_csv import write_kaggle_csv

    path = tmp_path_factory.mktemp("dask") / "train.csv"
    X, y = digits
    write_kaggle_csv(path, X[:200], y[:200])
    return path


def _run(command, train_csv, out, *backend):
    argv = [command, "--epochs", "1", "--data", str(train_csv), "--device", "cpu",
            "--out", str(out), *backend]
    if command == "grid":
        argv += ["--model", "lenet5", "--param", "module__activation=sigmoid,relu",
                 "--param", "optimizer__weight_decay=0,1e-3"]
    else:
        argv += ["--models", "lenet5,mlp", "--seeds", "2"]
    assert main(argv) == 0
    (folder,) = out.iterdir()
    return folder


@pytest.mark.slow
def test_grid_on_dask_workers_gives_the_local_table(cluster, train_csv, tmp_path, capsys):
    from distributed import Client, get_task_stream

    local = _run("grid", train_csv, tmp_path / "local")
    with Client(cluster) as client, get_task_stream(client) as stream:
        dask = _run("grid", train_csv, tmp_path / "dask", "--backend", "dask", "--scheduler",
                    cluster.scheduler_address)
    assert "Running on Dask: the Dask scheduler at tcp://127.0.0.1:" in capsys.readouterr().out
    fits = [task for task in stream.data if "score_setting" in str(task["key"])]
    assert fits and {task["worker"] for task in fits} <= set(cluster.scheduler_info["workers"])
    expected = pd.read_csv(local / "folds.csv")[SCORES]
    assert len(expected) == 4
    pd.testing.assert_frame_equal(pd.read_csv(dask / "folds.csv")[SCORES], expected)
    table = [line for line in (dask / "report.md").read_text().splitlines() if line.startswith("|")]
    assert table == [line for line in (local / "report.md").read_text().splitlines()
                     if line.startswith("|")]


@pytest.mark.slow
def test_compare_on_dask_workers_gives_the_local_runs(cluster, train_csv, tmp_path):
    columns = ["model", "seed", "params", "epochs", "train_acc", "test_acc", "test_loss"]
    local = _run("compare", train_csv, tmp_path / "local")
    dask = _run("compare", train_csv, tmp_path / "dask", "--scheduler", cluster.scheduler_address)
    pd.testing.assert_frame_equal(pd.read_csv(dask / "runs.csv")[columns],
                                  pd.read_csv(local / "runs.csv")[columns])
    pd.testing.assert_frame_equal(pd.read_csv(dask / "predictions.csv"),
                                  pd.read_csv(local / "predictions.csv"))


def test_unreachable_scheduler_is_one_line(train_csv, tmp_path, capsys):
    import socket

    import dask

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(["grid", "--param", "module__activation=relu", "--data", str(train_csv),
                     "--out", str(tmp_path), "--scheduler", f"tcp://127.0.0.1:{port}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "cannot reach" in err, err


def test_ensemble_members_train_in_parallel_on_dask_as_in_sequence(cluster, digits, tmp_path):
    """n_jobs trains members side by side (joblib); on a Dask cluster too; same members,
    saved by the client as they come back, so resuming skips them."""
    import joblib
    import numpy as np
    from distributed import Client

    from kagdigits import EnsembleClassifier
    from kagdigits.runs.checkpoints import MemberCheckpoints

    X, y = digits[0][:150], digits[1][:150]
    settings = dict(member="lenet5", n_members=2, max_epochs=1, device="cpu", verbose=0,
                    member_params={"batch_size": 32})
    sequential = EnsembleClassifier(**settings).fit(X, y)
    local = EnsembleClassifier(n_jobs=2, **settings).fit(X, y)
    client_dir = tmp_path / "client-run"
    with Client(cluster), joblib.parallel_config(backend="dask"):
        on_dask = EnsembleClassifier(n_jobs=-1, member_callbacks=MemberCheckpoints(client_dir),
                                     **settings).fit(X, y)
    expected = sequential.predict_proba(X)
    for parallel in (local, on_dask):
        assert [m.random_state for m in parallel.members_] == [0, 1]
        assert np.allclose(parallel.predict_proba(X), expected, atol=1e-5)
    # the members trained on the workers came back and were saved by this process
    resumed = EnsembleClassifier(member_callbacks=MemberCheckpoints(client_dir, resume=True),
                                 **settings).fit(X, y)
    assert np.allclose(resumed.predict_proba(X), expected, atol=1e-5)
