"""The thread rule (issue 38 item 1, issue 42): torch threads from the cores that other work
leaves free now, seen in /proc/stat; issue 43 item 5: no more threads than usable cores."""

import os
import re
import sys
import warnings

import pytest
import torch
from sklearn.base import clone

from kagdigits import LeNet5Classifier
from kagdigits.models import threads
from kagdigits.models.params import ParameterError
from tests.helpers import run_cli

# /proc/stat readings 0.1 s apart on the 2-core development machine (2026-12-08), recorded
# with ``open("/proc/stat").read()`` (the cpu lines) and this process's CPU time between
# them (os.times). BUSY: two `python -c 'while 1: pass'` jobs running (and other
# helpers' work): no idle tick.
BUSY = ("cpu  43894 1344 8790 42697 520 0 65 202 0 0\n"
        "cpu0 11123 891 3131 33197 234 0 7 114 0 0\n"
        "cpu1 32770 452 5659 9500 286 0 58 87 0 0\n",
        "cpu  43915 1344 8791 42697 520 0 65 202 0 0\n"
        "cpu0 11134 891 3131 33197 234 0 7 114 0 0\n"
        "cpu1 32780 452 5660 9500 286 0 58 87 0 0\n", 0.0)


def more_ticks(stat, core, busy=0, idle=0):
    """``stat`` (/proc/stat text) with ``busy`` ticks added to ``core``'s user time and
    ``idle`` to its idle time, in its line and the machine's."""
    lines = []
    for line in stat.splitlines():
        words = line.split()
        if words[0] in ("cpu", f"cpu{core}"):
            words[1], words[4] = str(int(words[1]) + busy), str(int(words[4]) + idle)
        lines.append(" ".join(words))
    return "\n".join(lines) + "\n"


# QUIET: the machine was never idle while this was written (other sessions kept both cores
# busy), so it is the BUSY reading moved on by 0.1 s of a nearly idle machine: per core 1
# tick of user time and 9 idle (10 % busy).
QUIET = (BUSY[0], more_ticks(more_ticks(BUSY[0], 0, busy=1, idle=9), 1, busy=1, idle=9), 0.0)


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


def seen(monkeypatch, reading):
    """The rule sees ``reading`` (before, after, own seconds) when it samples the cores."""
    before, after, own = reading
    monkeypatch.setattr(threads, "sample_busy",
                        lambda: threads.busy_share(before, after, own, {0, 1}))


def busy(monkeypatch, share):
    monkeypatch.setattr(threads, "sample_busy", lambda: share)


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


def test_two_busy_jobs_leave_one_thread(monkeypatch):
    seen(monkeypatch, BUSY)
    choice = threads.decide_threads()
    assert choice.threads == 1 and torch.get_num_threads() == 1
    assert str(choice) == ("1 (2 usable cores, 100 % busy with other work; --threads N or "
                           "n_threads=N to change)")


def test_a_quiet_machine_gets_both_cores_whatever_the_load_average(monkeypatch):
    # the 1-minute load average still counts the work this process (and others) did a
    # minute ago; it chose 1 thread where 2 ran 1.6x faster
    monkeypatch.setattr(os, "getloadavg", lambda: (1.9, 1.5, 1.0))
    seen(monkeypatch, QUIET)
    choice = threads.decide_threads()
    assert choice.threads == 2 and torch.get_num_threads() == 2
    assert re.fullmatch(r"2 \(2 usable cores, \d+ % busy with other work; .*\)", str(choice))


def test_this_process_s_own_work_is_not_counted():
    before, after, _ = QUIET
    # the same 0.1 s with this process computing on core 1 all the time (10 ticks)
    busier = more_ticks(after, 1, busy=10, idle=-10)
    alone = threads.busy_share(before, after, 0.0)
    assert threads.busy_share(before, busier, 0.0) == pytest.approx(alone + 0.5)
    assert threads.busy_share(before, busier, 0.1) == pytest.approx(alone)


def test_only_the_cores_this_process_may_use_are_watched():
    before, after, _ = QUIET
    one_busy = more_ticks(after, 1, busy=10, idle=-10)  # core 1 busy all the time
    assert threads.busy_share(before, one_busy, 0.0, {1}) == pytest.approx(1.0, abs=0.15)
    assert threads.busy_share(before, one_busy, 0.0, {0}) < 0.15
    assert threads.busy_share(before, one_busy, 0.0, {0, 1}) == pytest.approx(0.55, abs=0.1)
    # cores /proc/stat does not list: the machine's line
    assert threads.busy_share(before, one_busy, 0.0, {7}) == pytest.approx(0.55, abs=0.1)


def test_sampling_reads_proc_stat_twice_around_the_wait(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    before, after, _ = BUSY
    stat.write_text(before)
    waits = []
    monkeypatch.setattr(threads.time, "sleep", lambda s: (waits.append(s),
                                                         stat.write_text(after)))
    own = iter([1.0, 1.05])  # this process's CPU time: 0.05 s, 5 of the cores' 22 ticks
    monkeypatch.setattr(threads, "_own_seconds", lambda: next(own))
    assert threads.sample_busy(stat=stat) == pytest.approx(17 / 22)
    assert waits == [threads.SAMPLE_SECONDS]


def test_without_proc_stat_the_load_average_decides(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (2.0, 2.0, 2.0))
    assert threads.sample_busy(stat=tmp_path / "none") is None
    busy(monkeypatch, None)
    assert str(threads.decide_threads()) == ("1 (2 usable cores, load 2.0; --threads N or "
                                             "n_threads=N to change)")


def test_a_fit_on_a_busy_machine_uses_one_thread_and_says_so(digits, monkeypatch, capsys):
    seen(monkeypatch, BUSY)
    X, y = digits
    LeNet5Classifier(max_epochs=1, train_split=None, device="cpu").fit(X[:64], y[:64])
    assert torch.get_num_threads() == 1  # torch's default would be 2
    assert ("Threads: 1 (2 usable cores, 100 % busy with other work; --threads N or "
            "n_threads=N to change).") in capsys.readouterr().out


def test_decided_once_per_process(digits, monkeypatch):
    busy(monkeypatch, 0.0)
    assert threads.decide_threads().threads == 2
    busy(monkeypatch, 1.0)  # the machine got busy: later fits keep the first decision
    X, y = digits
    LeNet5Classifier(max_epochs=1, train_split=None, device="cpu", verbose=0).fit(X[:64], y[:64])
    assert threads.decide_threads().threads == 2 and torch.get_num_threads() == 2


def test_n_threads_overrides_and_is_a_parameter(digits, monkeypatch):
    busy(monkeypatch, 1.0)
    X, y = digits
    clf = LeNet5Classifier(max_epochs=1, train_split=None, device="cpu", verbose=0,
                           n_threads=2)
    assert clone(clf).get_params()["n_threads"] == 2
    clf.fit(X[:64], y[:64])
    assert torch.get_num_threads() == 2
    with pytest.raises(ParameterError, match="n_threads"):
        LeNet5Classifier(n_threads=0).initialize()


def test_threads_flag_decides_for_the_process_and_its_workers(monkeypatch):
    busy(monkeypatch, 1.0)
    choice = threads.threads_for_process(2)
    assert str(choice) == "2 (--threads)" and torch.get_num_threads() == 2
    assert os.environ["OMP_NUM_THREADS"] == "2"
    assert threads.decide_threads().threads == 2  # "auto" keeps it


def test_more_threads_than_cores_are_lowered_to_them(digits, monkeypatch):
    # issue 43 item 5: --threads 99999 crashed (failed to map segment), and 1,000 threads
    # on 2 cores ran a dry run of 300 rows for more than 40 s
    with pytest.warns(threads.ThreadsLowered, match=r"^--threads 99999: this process has 2 "
                      r"usable cores; training with 2$"):
        choice = threads.threads_for_process(99999)
    assert choice.threads == 2 and os.environ["OMP_NUM_THREADS"] == "2"
    X, y = digits
    with pytest.warns(threads.ThreadsLowered, match=r"^n_threads=1000: .* training with 2$"):
        LeNet5Classifier(max_epochs=1, train_split=None, device="cpu", verbose=0,
                         n_threads=1000).fit(X[:64], y[:64])
    assert torch.get_num_threads() == 2


def test_the_threads_option_above_the_cores_is_one_warning_line(tiny_kaggle_files, tmp_path,
                                                                monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})  # one core: quick anywhere
    train, _ = tiny_kaggle_files
    def show(message, category, filename, lineno, file=None, line=None):
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    monkeypatch.setattr(warnings, "showwarning", show)  # as the command line, not pytest
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, out, err = run_cli(capsys, "fit", "--train", train, "--threads", "99999",
                                 "--epochs", "1", "--save", "m.kd", "--dry-run")
    assert code == 0 and "Estimate: lenet5" in out
    assert ("kagdigits: warning: --threads 99999: this process has 1 usable core; training "
            "with 1\n") in err


def test_cgroup_quota_caps_the_usable_cores(tmp_path, monkeypatch):
    monkeypatch.undo()  # the real cgroup reader, on files made here
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert threads.cgroup_quota(tmp_path) == 1.5
    assert threads.usable_cores(tmp_path) <= 1
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.cgroup_quota(tmp_path) is None
