"""The run folder as one object (issue 43): :class:`~kagdigits.runs.rundir.RunDir` opened
once, ``run.json`` read once, the lock held from open to close and its file kept; the
listing without torch; a damaged ``run.json`` named in one line while the others are
listed; ``runs clean`` never takes a run a resume has opened (item 1)."""

import contextlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kagdigits.cli.main import main
from kagdigits.errors import KagdigitsError
from tests.helpers import one_line, run_cli
from tests.runs.test_resume import CtrlCAfterEpoch


@pytest.fixture
def stopped_fit(tiny_kaggle_files, tmp_path, monkeypatch, capsys):
    """A ``kagdigits fit`` run stopped by Ctrl-C after epoch 1 of 2 in ``tmp_path/runs``:
    ``(run_id, train)``."""
    monkeypatch.chdir(tmp_path)
    train, _ = tiny_kaggle_files
    with contextlib.redirect_stdout(CtrlCAfterEpoch(1)):
        code = main(["fit", "--train", str(train), "--epochs", "2", "--device", "cpu",
                     "--save", "m.kd"])
    assert code == 130
    run_id = re.search(r"--resume (\S+)", capsys.readouterr().err).group(1)
    return run_id, train


def nested(depth):
    return "[" * depth + "]" * depth


# --- item 1: the lock is held from the moment a resume opens its run -------------------------

def test_clean_all_during_a_resume_reading_its_data_keeps_the_run(stopped_fit, monkeypatch,
                                                                   capsys):
    from kagdigits.cli import training

    run_id, _ = stopped_fit
    read = training.load_training_data
    cleaned = []

    def clean_while_reading(*args, **kwargs):
        cleaned.append(run_cli(capsys, "runs", "clean", "--all"))
        return read(*args, **kwargs)

    monkeypatch.setattr(training, "load_training_data", clean_while_reading)
    assert main(["fit", "--resume", "latest", "--save", "m.kd"]) == 0
    [(code, out, _)] = cleaned
    assert code == 0 and (f"Skipped 1 run being trained by another process ({run_id})"
                          in out) and "Removed 0 runs" in out
    assert Path("m.kd").is_file() and (Path("runs") / run_id / "model.kd").is_file()


def test_a_run_opened_by_one_process_cannot_be_opened_by_another(stopped_fit):
    from kagdigits.runs.rundir import RunDir

    run_id, _ = stopped_fit
    with RunDir.open(run_id, wait=0):
        code = subprocess.run(
            [sys.executable, "-m", "kagdigits.cli.main", "fit", "--resume", run_id,
             "--save", "m.kd"],
            capture_output=True, text=True, timeout=120)
    assert code.returncode == 2
    assert code.stderr.strip().endswith(f"run {run_id} is being trained by another process; "
                                        "wait for it to end, or stop it first")


# --- the lock file is kept; one policy for runs and the ledger -------------------------------

def test_a_ctrl_c_is_spent_when_its_fit_ends(stopped_fit):
    from kagdigits.runs.checkpoints import STOP

    assert not STOP.is_set()  # else a fit in a thread, later, would stop at once


def test_the_lock_file_is_kept_after_the_run_is_closed(stopped_fit):
    from kagdigits.runs.layout import LOCK
    from kagdigits.runs.rundir import RunDir

    run_id, _ = stopped_fit
    path = Path("runs") / run_id / LOCK
    with RunDir.open(run_id) as run:
        inode = path.stat().st_ino
        assert run.is_open
    assert path.stat().st_ino == inode  # never unlinked: a waiter locks the same file
    with RunDir.open(run_id):
        assert path.stat().st_ino == inode


def test_runs_and_the_ledger_lock_through_one_policy(tmp_path):
    from kagdigits.files import locks
    from kagdigits.kaggle import ledger

    assert not hasattr(ledger, "FileLock")  # it locks through kagdigits.files.locks
    path = tmp_path / "ledger.csv"
    with ledger.editing(path) as rows:
        rows.append({"file": "a.csv"})
        lock_file = ledger.lock_path(path)
        with pytest.raises(KagdigitsError) as info:
            with locks.hold(lock_file, wait=0, busy="the ledger is being written"):
                pass
        assert one_line(info) == "the ledger is being written"
    assert lock_file.exists()  # kept after release, as a run's


# --- one read of run.json per resume; the CLI's calls into the run folder ------------------

@pytest.fixture
def run_json_reads(monkeypatch):
    """The paths of every run.json read from now on, in order."""
    reads = []
    text = Path.read_text

    def counting(self, *args, **kwargs):
        if self.name == "run.json":
            reads.append(self)
        return text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    return reads


def test_a_resume_reads_run_json_once(stopped_fit, run_json_reads):
    run_id, _ = stopped_fit
    assert main(["fit", "--resume", run_id, "--save", "n.kd"]) == 0
    assert len(run_json_reads) == 1


def test_resume_latest_reads_each_candidate_once(stopped_fit, run_json_reads):
    assert main(["fit", "--resume", "latest", "--save", "n.kd"]) == 0
    assert len(run_json_reads) == len(set(run_json_reads)) == 1


# --- listing: from run.json, without torch; the states -------------------------------------

def test_kagdigits_runs_lists_without_importing_torch(stopped_fit):
    run_id, _ = stopped_fit
    code = ("import sys; from kagdigits.cli.main import main; code = main(['runs']); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert run_id in done.stdout and "unfinished" in done.stdout


def test_the_states_are_one_small_set(stopped_fit):
    from kagdigits.runs.layout import RunState
    from kagdigits.runs.listing import list_runs

    assert {s.value for s in RunState} >= {"finished", "unfinished", "training",
                                          "no epoch saved", "link", "damaged"}
    assert RunState.UNFINISHED.resumable and not RunState.FINISHED.resumable
    [run] = list_runs(Path("runs"))
    assert run.state is RunState.UNFINISHED and run.state == "unfinished"


def test_the_kind_recorded_in_run_json_decides_an_ensemble(tmp_path):
    from kagdigits.runs.listing import list_runs

    root = tmp_path / "runs"
    for name, info in {"a": {"config": {"command": "fit", "model": "mine"}, "kind": "ensemble"},
                       "b": {"config": {"command": "fit", "model": "ensemble"}},
                       "c": {"config": {"command": "fit", "model": "lenet5"}}}.items():
        (root / name).mkdir(parents=True)
        (root / name / "run.json").write_text(json.dumps(info))
    assert {r.path.name: r.is_ensemble for r in list_runs(root)} == {
        "a": True, "b": True, "c": False}


# --- item 6: a run.json nested 100,000 deep ------------------------------------------------

def test_a_deeply_nested_run_json_is_one_line_and_the_others_are_listed(stopped_fit, capsys):
    run_id, _ = stopped_fit
    bad = Path("runs") / "lenet5-bad"
    (bad / "epoch-0001").mkdir(parents=True)
    (bad / "run.json").write_text('{"config": ' + nested(100_000) + "}")
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0 and run_id in out
    assert re.search(r"lenet5-bad\s+\?\s.*damaged", out)

    code, _, err = run_cli(capsys, "fit", "--resume", "lenet5-bad", "--save", "x.kd")
    assert code == 2 and err.count("\n") == 1
    assert f"{bad / 'run.json'}: cannot be read" in err
    assert main(["fit", "--resume", "latest", "--save", "x.kd"]) == 0  # the good one
    assert f"Resuming run runs/{run_id} " in capsys.readouterr().out


@pytest.mark.parametrize("content", [nested(100_000), '{"config": {"command": 5}}',
                                     "[1, 2]", '{"config": {"command": "fit", "epochs": 1e999}}',
                                     '{"config": {"command": "fit", "nope": 1}, "data": "x"}'])
def test_crafted_run_json_is_one_line_on_resume(stopped_fit, capsys, content):
    run_id, _ = stopped_fit
    path = Path("runs") / run_id / "run.json"
    path.write_text(content)
    code, _, err = run_cli(capsys, "fit", "--resume", run_id, "--save", "x.kd")
    assert code == 2 and err.count("\n") == 1
    assert f"{path}: cannot be read" in err and "start a new one" in err


def test_a_run_json_that_is_a_fifo_or_a_device_does_not_hang_the_listing(stopped_fit, capsys):
    import os

    run_id, _ = stopped_fit
    for name, make in (("lenet5-fifo", lambda p: os.mkfifo(p)),
                       ("lenet5-zero", lambda p: p.symlink_to("/dev/zero"))):
        (Path("runs") / name / "epoch-0001").mkdir(parents=True)
        make(Path("runs") / name / "run.json")
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0 and run_id in out and out.count("not a regular file") == 2
    code, _, err = run_cli(capsys, "fit", "--resume", "lenet5-fifo", "--save", "x.kd")
    assert code == 2 and "run.json: cannot be read (not a regular file)" in err


@pytest.mark.parametrize("params", [{"lr": 1e39}, {"module": "os.system"}, {"tta": 10**9}])
def test_a_refused_parameter_in_run_json_names_the_file(stopped_fit, capsys, params):
    run_id, _ = stopped_fit
    path = Path("runs") / run_id / "run.json"
    info = json.loads(path.read_text())
    path.write_text(json.dumps({**info, "config": {**info["config"], "params": params}}))
    code, _, err = run_cli(capsys, "fit", "--resume", run_id, "--save", "x.kd")
    assert code == 2 and err.count("\n") == 1
    assert f"{path}: --set" in err and "this run cannot be resumed with it" in err


# --- item 10: a symbolic link in runs/ as a resume id ---------------------------------------

def test_a_symlink_used_as_a_resume_id_says_what_it_is(stopped_fit, tmp_path, capsys):
    run_id, _ = stopped_fit
    (Path("runs") / "x").symlink_to(tmp_path / "runs" / run_id, target_is_directory=True)
    code, _, err = run_cli(capsys, "fit", "--resume", "x", "--save", "x.kd")
    assert code == 2 and err.count("\n") == 1
    assert "runs/x is a symbolic link" in err and f"--resume {run_id}" in err
    assert "did you mean" not in err


def test_clean_older_than_an_absurd_age_is_a_clear_line(tmp_path, capsys):
    code, _, err = run_cli(capsys, "runs", "clean", "--older-than", "99999999999999999999w",
                           "--dir", tmp_path)
    assert code == 2 and err.count("\n") == 1
    assert "'99999999999999999999w' is longer than" in err


def test_age_parsing_lives_in_the_cli():
    from kagdigits.cli import runs as cli_runs
    from kagdigits.runs import listing

    assert cli_runs.parse_age("1.5d") == 1.5 * 86400
    assert not hasattr(listing, "parse_age")
