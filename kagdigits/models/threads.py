"""How many threads torch computes with on the CPU: the cores this process may use that
other jobs leave free.

torch's default is one thread per core. Its OpenMP threads wait for each other at the end
of every parallel loop, so when other jobs hold the cores, each step waits for the thread
that waits for a core: on a 2-core machine with other jobs running, LeNet-5's epochs took
74-112 s with torch's 2 threads and 4.1 s with one. The rule (``n_threads="auto"``):

- usable cores: those of this process's affinity mask (``os.sched_getaffinity``), at most
  the cgroup's CPU quota rounded down (``cpu.max``, or ``cpu.cfs_quota_us`` under cgroup v1);
- busy cores: the 1-minute load average (``os.getloadavg``), which counts the whole
  machine's runnable jobs, scaled to the usable share of the machine's cores;
- threads: the usable cores minus the busy ones, rounded, at least 1 and at most the
  threads torch has (so ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` lower it).

It is decided once per process, at the first fit that asks, and kept for every later
fit, so that fits in one process compute alike; :func:`decide_threads` with a number
(``kagdigits --threads N``) decides instead. The thread count can change the last bits of
a CPU result (the order of sums), so for bit-identical runs across machines pass a number.
"""

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

#: Where cgroup v2 and v1 keep the CPU quota (this process's group is read first).
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class ThreadChoice:
    """The threads chosen and why: ``threads`` torch uses, ``usable`` cores, the
    ``load`` average seen and ``reason`` (``"auto"``, ``"--threads"`` ...)."""

    threads: int
    usable: int
    load: float | None
    reason: str

    def __str__(self):
        """``1 (2 usable cores, load 1.9; --threads N or n_threads=N to change)``."""
        if self.reason != "auto":
            return f"{self.threads} ({self.reason})"
        return (f"{self.threads} ({self.usable} usable core"
                f"{'s' if self.usable != 1 else ''}, load {self.load:.1f}; --threads N or "
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


def usable_cores(root=CGROUP_ROOT):
    """The cores this process may run on: its affinity mask, capped by the cgroup quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    quota = cgroup_quota(root)  # 1.5 cores: 1 thread (2 would be throttled half the time)
    return cores if quota is None else max(1, min(cores, math.floor(quota)))


def rule(usable, load, all_cores, current):
    """The rule's thread count: ``usable`` cores less the busy share of the ``load``
    average over ``all_cores``, rounded, between 1 and ``current`` (torch's threads)."""
    busy = load * usable / max(all_cores, usable)
    return max(1, min(current, math.floor(usable - busy + 0.5)))


def auto_threads():
    """The :class:`ThreadChoice` of the rule on this machine now (not cached)."""
    usable = usable_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows: no load average
        load = 0.0
    threads = rule(usable, load, os.cpu_count() or usable, torch.get_num_threads())
    return ThreadChoice(threads, usable, load, "auto")


def decide_threads(n_threads="auto", reason=None):
    """The process's :class:`ThreadChoice`: ``"auto"`` gives the one decided before (or
    decides it now by the rule); a number decides it (``reason`` says who asked).
    torch is set to use that many threads."""
    global _decided
    if n_threads != "auto":
        _decided = ThreadChoice(int(n_threads), usable_cores(), None,
                                reason or f"n_threads={n_threads}")
    elif _decided is None:
        _decided = auto_threads()
    if torch.get_num_threads() != _decided.threads:
        torch.set_num_threads(_decided.threads)
    return _decided


def threads_for_process(n_threads):
    """``--threads N``: this process, and the worker processes it starts (studies,
    ``n_jobs``), compute with ``n_threads`` threads; the :class:`ThreadChoice`."""
    os.environ["OMP_NUM_THREADS"] = str(n_threads)  # read by torch in new processes
    return decide_threads(n_threads, reason="--threads")


def use_threads(n_threads):
    """Set torch's threads for a fit by ``n_threads`` (``"auto"``: the
    process's decision; a number: that many, for this fit and after; ``None``: leave
    torch as it is); the :class:`ThreadChoice`, or ``None`` when nothing was chosen."""
    if n_threads is None:
        return None
    if n_threads == "auto":
        return decide_threads()
    torch.set_num_threads(int(n_threads))
    return ThreadChoice(int(n_threads), usable_cores(), None, f"n_threads={n_threads}")
