"""Counter-based random numbers for a stack's members: a hash of (member key, counter, index).

What member ``m`` draws depends on its own seed and the counter (epoch, step, call) only,
not on which or how many members share its stack, and every member draws in one call:
no generator state to carry, save or restore, the same numbers on any device.
"""

import numpy as np
import torch

_M32 = 0xFFFFFFFF


def _mix(h):
    """A 32-bit integer hash (two multiply-xorshift rounds) of int64 tensors or ints ``h``
    (the multipliers are below 2**31, so no product overflows an int64)."""
    h = h & _M32
    h = ((h ^ (h >> 16)) * 0x7FEB352D) & _M32
    h = ((h ^ (h >> 15)) * 0x5BD1E995) & _M32
    return h ^ (h >> 16)


def member_keys(seeds, device):
    """Two 32-bit keys per member seed (``None``: 0), (M, 2) int64 on ``device``."""
    keys = [np.random.SeedSequence(seed or 0).generate_state(2) for seed in seeds]
    return torch.as_tensor(np.asarray(keys, dtype=np.int64), device=device)


class MemberDraws:
    """The draws of every member for one counter; each :meth:`rand` call draws anew.

    Parameters
    ----------
    keys : torch.Tensor
        :func:`member_keys` of the members, (M, 2).
    counter : int
        Distinct for every use (e.g. epoch and step).
    """

    def __init__(self, keys, counter):
        self.keys, self.counter, self.calls = keys, counter, 0

    def bits(self, count):
        """(M, count) hashes in [0, 2**32), int64."""
        self.calls += 1
        salt = _mix((self.counter * 64 + self.calls) & _M32)  # on the host: no copy
        first = _mix(self.keys[:, :1] ^ torch.arange(count, device=self.keys.device))
        return _mix(first + (self.keys[:, 1:] ^ salt))

    def rand(self, shape, device=None):
        """U(0, 1) float32 of ``shape``, its first dimension member by member in equal
        parts (as ``Augment`` draws for a batch of all members' rows)."""
        count = int(np.prod(shape)) // len(self.keys)
        return ((self.bits(count) >> 8).float() * 2.0 ** -24).view(shape)
