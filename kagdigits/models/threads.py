"""How many threads torch computes with on the CPU: the cores this process may use that
other jobs leave free now.

torch's default is one thread per core. Its OpenMP threads wait for each other at the end
of every parallel loop, so when other jobs hold the cores, each step waits for the thread
that waits for a core: on a 2-core machine with other jobs running, LeNet-5's epochs took
74-112 s with torch's 2 threads and 4.1 s with one. The rule (``n_threads="auto"``):

- usable cores: those of this process's affinity mask (``os.sched_getaffinity``), at most
  the cgroup's CPU quota rounded down (``cpu.max``, or ``cpu.cfs_quota_us`` under cgroup v1);
- busy cores: what the cores of the affinity mask do now, over :data:`SAMPLE_SECONDS`
  (two readings of ``/proc/stat``: the share of their time not idle, less this process's
  own CPU time in between), scaled to the usable cores; where there is no ``/proc/stat``
  (macOS), the 1-minute load average (``os.getloadavg``) scaled the same way. (The load
  average alone lags by about a minute in both directions: right after a run of this very
  process it still counts that run, and it counts a job started seconds ago hardly at all.)
- threads: the usable cores minus the busy ones, rounded, at least 1 and at most the
  threads torch has (so ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` lower it).

It is decided once per process, at the first fit that asks, and kept for every later
fit, so that fits in one process compute alike; :func:`decide_threads` with a number
(``kagdigits --threads N``) decides instead; a number above the usable cores is lowered to
them, with a warning (a thousand OpenMP threads on 2 cores ran 300 rows for minutes; a
hundred thousand could not be started). The thread count can change the last bits of a
CPU result (the order of sums), so for bit-identical runs across machines pass a number.
"""

import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

#: Where cgroup v2 and v1 keep the CPU quota (this process's group is read first).
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Where Linux counts each core's time by kind (user, system, idle ...) since boot.
PROC_STAT = Path("/proc/stat")
#: How long the rule watches the cores before deciding (seconds).
SAMPLE_SECONDS = 0.1
#: ``/proc/stat`` counts in these units per second (``USER_HZ``, 100 on Linux).
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: The columns of a ``/proc/stat`` cpu line that are idle time (``idle``, ``iowait``); the
#: others up to ``steal`` are busy (the guest columns are counted in ``user`` already).
IDLE_COLUMNS, COLUMNS = (3, 4), 8


class ThreadsLowered(UserWarning):
    """Warned when more threads are asked for than this process has usable cores."""


@dataclass(frozen=True)
class ThreadChoice:
    """The threads chosen and why: ``threads`` torch uses, ``usable`` cores, the share of
    them other work kept ``busy`` (0-1, from ``/proc/stat``) or the ``load`` average seen
    where there is none, and ``reason`` (``"auto"``, ``"--threads"`` ...)."""

    threads: int
    usable: int
    load: float | None
    reason: str
    busy: float | None = None

    def __str__(self):
        """``2 (2 usable cores, 8 % busy with other work; --threads N or n_threads=N to
        change)``."""
        if self.reason != "auto":
            return f"{self.threads} ({self.reason})"
        seen = (f"{self.busy:.0%} busy with other work".replace("%", " %")
                if self.busy is not None else f"load {self.load:.1f}")
        return (f"{self.threads} ({self.usable} usable core"
                f"{'s' if self.usable != 1 else ''}, {seen}; --threads N or "
                "n_threads=N to change)")


#: The process's decision (a :class:`ThreadChoice`), made once.
_decided = None


def _read(path):
    try:
        return Path(path).read_text().split()
    except OSError:
        return None


def _own_cgroup():
    """This process's cgroup v2 path (``/`` when unknown)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return "/"
    return next((line[3:] for line in lines if line.startswith("0::")), "/") or "/"


def cgroup_quota(root=CGROUP_ROOT):
    """The CPU quota of this process's cgroup in cores (``2.5``: 250 ms per 100 ms), or
    ``None`` when unlimited or unknown."""
    root = Path(root)
    quotas = []
    for folder in {root / _own_cgroup().lstrip("/"), root}:
        words = _read(folder / "cpu.max")
        if words and len(words) == 2 and words[0] != "max":
            quotas.append(int(words[0]) / int(words[1]))
    quota, period = _read(root / "cpu" / "cpu.cfs_quota_us"), _read(root / "cpu" /
                                                                       "cpu.cfs_period_us")
    if quota and period and int(quota[0]) > 0:
        quotas.append(int(quota[0]) / int(period[0]))
    return min(quotas) if quotas else None


def _affinity():
    """The cores this process may run on (``None`` where the system does not say)."""
    try:
        return os.sched_getaffinity(0)
    except AttributeError:  # macOS, Windows
        return None


def usable_cores(root=CGROUP_ROOT):
    """The cores this process may run on: its affinity mask, capped by the cgroup quota."""
    cores = _affinity()
    cores = len(cores) if cores else os.cpu_count() or 1
    quota = cgroup_quota(root)  # 1.5 cores: 1 thread (2 would be throttled half the time)
    return cores if quota is None else max(1, min(cores, math.floor(quota)))


def cpu_ticks(stat, cores=None):
    """``(busy, total)`` ticks of the ``cores`` (core numbers; ``None``: all) counted in
    ``stat``, the text of ``/proc/stat``; the machine's ``cpu`` line where the per-core
    lines do not name those cores. ``None`` if ``stat`` holds no cpu line."""
    lines = {}
    for line in stat.splitlines():
        words = line.split()
        if words and words[0].startswith("cpu"):
            lines[words[0][3:]] = [int(word) for word in words[1:COLUMNS + 1]]
    chosen = [lines.get(str(core)) for core in sorted(cores)] if cores else []
    rows = chosen if chosen and all(chosen) else [lines.get("")]
    if rows == [None]:
        return None
    total = sum(map(sum, rows))
    return total - sum(row[i] for row in rows for i in IDLE_COLUMNS if i < len(row)), total


def busy_share(before, after, own_seconds, cores=None):
    """The share (0-1) of the ``cores``' time that other work kept busy between two
    readings of ``/proc/stat`` (``before``, ``after``: its text), ``own_seconds`` of this
    process's CPU time in between not counted; ``None`` if they tell nothing."""
    start, end = cpu_ticks(before, cores), cpu_ticks(after, cores)
    if start is None or end is None or end[1] <= start[1]:
        return None
    busy = end[0] - start[0] - own_seconds * TICKS
    return min(1.0, max(0.0, busy / (end[1] - start[1])))


def _own_seconds():
    times = os.times()
    return times.user + times.system


def sample_busy(seconds=SAMPLE_SECONDS, stat=PROC_STAT):
    """:func:`busy_share` of this process's cores over ``seconds`` from now (``None`` where
    there is no ``/proc/stat``)."""
    try:
        own, before = _own_seconds(), Path(stat).read_text()
        time.sleep(seconds)
        after, own = Path(stat).read_text(), _own_seconds() - own
    except OSError:
        return None
    return busy_share(before, after, own, _affinity())


def rule(usable, load, all_cores, current):
    """The rule's thread count: ``usable`` cores less the busy share of the ``load``
    (busy cores, e.g. the load average) over ``all_cores``, rounded, between 1 and
    ``current`` (torch's threads)."""
    busy = load * usable / max(all_cores, usable)
    return max(1, min(current, math.floor(usable - busy + 0.5)))


def auto_threads(busy=None):
    """The :class:`ThreadChoice` of the rule on this machine now (not cached): with
    ``busy`` (the share of the cores busy with other work, 0-1) given, from it; else from
    :func:`sample_busy`, or the load average where that tells nothing."""
    usable = usable_cores()
    busy = sample_busy() if busy is None else busy
    if busy is not None:
        threads = rule(usable, busy * usable, usable, torch.get_num_threads())
        return ThreadChoice(threads, usable, None, "auto", busy)
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows: no load average
        load = 0.0
    threads = rule(usable, load, os.cpu_count() or usable, torch.get_num_threads())
    return ThreadChoice(threads, usable, load, "auto")


def capped(n_threads, asked):
    """``n_threads``, at most the usable cores; when it lowers them, it warns
    (:class:`ThreadsLowered`) naming what was ``asked`` (``"--threads 99999"``)."""
    usable = usable_cores()
    if int(n_threads) <= usable:
        return int(n_threads)
    warnings.warn(f"{asked}: this process has {usable} usable core{'s' if usable != 1 else ''}"
                  f"; training with {usable}", ThreadsLowered, stacklevel=3)
    return usable


def decide_threads(n_threads="auto", reason=None):
    """The process's :class:`ThreadChoice`: ``"auto"`` gives the one decided before (or
    decides it now by the rule); a number decides it (``reason``: the option that asked,
    e.g. ``"--threads"``; above the usable cores it is lowered to them, with a warning).
    torch is set to use that many threads."""
    global _decided
    if n_threads != "auto":
        asked = f"{reason} {n_threads}" if reason else f"n_threads={n_threads}"
        _decided = ThreadChoice(capped(n_threads, asked), usable_cores(), None,
                                reason or asked)
    elif _decided is None:
        _decided = auto_threads()
    if torch.get_num_threads() != _decided.threads:
        torch.set_num_threads(_decided.threads)
    return _decided


def threads_for_process(n_threads):
    """``--threads N``: this process, and the worker processes it starts (studies,
    ``n_jobs``), compute with ``n_threads`` threads (at most the usable cores); the
    :class:`ThreadChoice`."""
    choice = decide_threads(n_threads, reason="--threads")
    os.environ["OMP_NUM_THREADS"] = str(choice.threads)  # read by torch in new processes
    return choice


def use_threads(n_threads):
    """Set torch's threads for a fit by ``n_threads`` (``"auto"``: the
    process's decision; a number: that many, at most the usable cores, for this fit and
    after; ``None``: leave torch as it is); the :class:`ThreadChoice`, or ``None`` when
    nothing was chosen."""
    if n_threads is None:
        return None
    if n_threads == "auto":
        return decide_threads()
    threads = capped(n_threads, f"n_threads={n_threads}")
    torch.set_num_threads(threads)
    return ThreadChoice(threads, usable_cores(), None, f"n_threads={n_threads}")
