"""How much memory this process may still use: the one answer for the CSV reader, the
batcher and the stacked ensemble.

On the host: the least of the kernel's ``MemAvailable`` (free memory plus what it can
reclaim, e.g. the page cache; ``MemFree`` alone undercounts it) and what the cgroup
limit leaves (``memory.max`` minus ``memory.current``, cgroup v2, as containers and CI
jobs are limited). On a CUDA device: its free memory.
"""

from pathlib import Path

#: Where Linux says how much memory is available, and where cgroup v2 keeps its limit.
MEMINFO = Path("/proc/meminfo")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_memory(device=None):
    """Bytes of memory this process may still use, or ``None`` where the system does not say.

    Parameters
    ----------
    device : torch.device, str or None, default=None
        A CUDA device: its free memory (``torch.cuda.mem_get_info``); anything else
        (``None``, ``"cpu"``): the host's, the least of ``MemAvailable`` and what the
        cgroup's limit leaves (read from :data:`MEMINFO` and :data:`CGROUP_ROOT`).
    """
    if device is not None and str(device).startswith("cuda"):
        import torch  # only here: the CSV reader asks about the host without importing torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    limits = [_mem_available(MEMINFO), _cgroup_room(CGROUP_ROOT)]
    limits = [limit for limit in limits if limit is not None]
    return min(limits) if limits else None


def _mem_available(meminfo):
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room(cgroup):
    try:
        limit = (Path(cgroup) / "memory.max").read_text().strip()
        used = (Path(cgroup) / "memory.current").read_text().strip()
        return None if limit == "max" else max(0, int(limit) - int(used))
    except (OSError, ValueError):
        return None
