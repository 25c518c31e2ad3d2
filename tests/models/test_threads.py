"""The thread rule (issue 38 item 1): torch threads from the cores free for this process."""

import os

import pytest
import torch
from sklearn.base import clone

from kagdigits import LeNet5Classifier
from kagdigits.models import threads
from kagdigits.models.params import ParameterError


@pytest.fixture(autouse=True)
def fresh_decision(monkeypatch):
    """Each test decides anew, on a machine of 2 cores that torch would use both of."""
    monkeypatch.setattr(threads, "_decided", None)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads, "cgroup_quota", lambda root=None: None)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def busy(monkeypatch, load):
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))


@pytest.mark.parametrize(("usable", "load", "all_cores", "current", "expected"), [
    (2, 2.0, 2, 2, 1),    # two other jobs hold both cores: one thread, not two waiting
    (2, 1.0, 2, 2, 1),    # one core busy
    (2, 0.3, 2, 2, 2),    # quiet
    (2, 0.0, 2, 1, 1),    # never more than torch has (OMP_NUM_THREADS=1)
    (4, 16.0, 64, 4, 3),  # the load of a big machine, scaled to this process's 4 cores
    (1, 5.0, 1, 1, 1),    # at least one
])
def test_rule(usable, load, all_cores, current, expected):
    assert threads.rule(usable, load, all_cores, current) == expected


def test_a_fit_on_a_busy_machine_uses_one_thread_and_says_so(digits, monkeypatch, capsys):
    busy(monkeypatch, 2.0)  # e.g. two `yes > /dev/null` jobs
    X, y = digits
    LeNet5Classifier(max_epochs=1, train_split=None, device="cpu").fit(X[:64], y[:64])
    assert torch.get_num_threads() == 1  # torch's default would be 2
    assert "Threads: 1 (2 usable cores, load 2.0; --threads N or n_threads=N to change)." \
        in capsys.readouterr().out


def test_decided_once_per_process(digits, monkeypatch):
    busy(monkeypatch, 0.0)
    assert threads.decide_threads().threads == 2
    busy(monkeypatch, 2.0)  # the machine got busy: later fits keep the first decision
    X, y = digits
    LeNet5Classifier(max_epochs=1, train_split=None, device="cpu", verbose=0).fit(X[:64], y[:64])
    assert threads.decide_threads().threads == 2 and torch.get_num_threads() == 2


def test_n_threads_overrides_and_is_a_parameter(digits, monkeypatch):
    busy(monkeypatch, 2.0)
    X, y = digits
    clf = LeNet5Classifier(max_epochs=1, train_split=None, device="cpu", verbose=0,
                           n_threads=2)
    assert clone(clf).get_params()["n_threads"] == 2
    clf.fit(X[:64], y[:64])
    assert torch.get_num_threads() == 2
    with pytest.raises(ParameterError, match="n_threads"):
        LeNet5Classifier(n_threads=0).initialize()


def test_threads_flag_decides_for_the_process_and_its_workers(monkeypatch):
    busy(monkeypatch, 2.0)
    choice = threads.threads_for_process(2)
    assert str(choice) == "2 (--threads)" and torch.get_num_threads() == 2
    assert os.environ["OMP_NUM_THREADS"] == "2"
    assert threads.decide_threads().threads == 2  # "auto" keeps it


def test_cgroup_quota_caps_the_usable_cores(tmp_path, monkeypatch):
    monkeypatch.undo()  # the real cgroup reader, on files made here
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert threads.cgroup_quota(tmp_path) == 1.5
    assert threads.usable_cores(tmp_path) <= 1
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.cgroup_quota(tmp_path) is None
