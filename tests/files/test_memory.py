"""How much memory may be used: MemAvailable, the cgroup limit and free CUDA memory, one
answer for the CSV reader, the batcher and the stack."""

import pytest
import torch

from kagdigits.errors import InputError
from kagdigits.files import memory
from kagdigits.files.kaggle_csv import read_train_csv
from kagdigits.files.memory import available_memory
from kagdigits.models import batching, grouping

GiB = 2 ** 30


@pytest.fixture
def fake_system(tmp_path, monkeypatch):
    """Write a fake ``/proc/meminfo`` and cgroup folder; returns ``write(available, limit,
    used)`` (``None``: leave that file out; ``limit="max"``: no limit)."""
    meminfo, cgroup = tmp_path / "meminfo", tmp_path / "cgroup"
    cgroup.mkdir()
    monkeypatch.setattr(memory, "MEMINFO", meminfo)
    monkeypatch.setattr(memory, "CGROUP_ROOT", cgroup)

    def write(available=None, limit=None, used=0):
        lines = ["MemTotal:       65536000 kB", "MemFree:          100000 kB"]
        if available is not None:
            lines.append(f"MemAvailable:   {available // 1024} kB")
        meminfo.write_text("\n".join(lines) + "\n")
        if limit is not None:
            (cgroup / "memory.max").write_text(f"{limit}\n")
            (cgroup / "memory.current").write_text(f"{used}\n")

    return write


def test_the_least_of_mem_available_and_the_cgroup_room(fake_system):
    fake_system(available=8 * GiB, limit=4 * GiB, used=GiB)
    assert available_memory() == 3 * GiB  # the cgroup leaves less than MemAvailable
    fake_system(available=2 * GiB, limit=4 * GiB, used=GiB)
    assert available_memory() == 2 * GiB


def test_mem_available_not_mem_free(fake_system):
    fake_system(available=8 * GiB, limit="max")  # MemFree is about 98 MiB: not the answer
    assert available_memory() == 8 * GiB


def test_none_where_the_system_does_not_say(fake_system):
    fake_system()  # no MemAvailable line, no cgroup files
    assert available_memory() is None
    fake_system(limit=GiB, used=2 * GiB)  # over the limit: nothing left, not negative
    assert available_memory() == 0


def test_a_cuda_device_asks_for_its_free_memory(fake_system, monkeypatch):
    fake_system(available=8 * GiB)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (5 * GiB, 80 * GiB))
    assert available_memory("cuda") == available_memory(torch.device("cuda:0")) == 5 * GiB
    assert available_memory("cpu") == available_memory() == 8 * GiB


def test_the_csv_reader_the_batcher_and_the_stack_ask_it(fake_system, tmp_path, monkeypatch):
    fake_system(available=8 * GiB, limit=GiB, used=GiB // 2)
    assert grouping.free_bytes("cpu") == int(grouping.MEMORY_SHARE * GiB // 2)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (GiB, 80 * GiB))
    assert grouping.free_bytes("cuda") == int(grouping.MEMORY_SHARE * GiB)
    cuda = torch.device("cuda")
    assert batching._fits_on(cuda, GiB // 2) and not batching._fits_on(cuda, GiB // 2 + 1)
    fake_system(available=1024, limit="max")
    path = tmp_path / "train.csv"
    path.write_text("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n"
                    + "1," + ",".join(["0"] * 784) + "\n")
    with pytest.raises(InputError, match="needs about .* GiB of memory but only 0.0 GiB"):
        read_train_csv(path)
