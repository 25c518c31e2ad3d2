"""The batched in-memory data path: whole tensors in, index batches out.

skorch's default iterator (a ``DataLoader`` over ``skorch.dataset.Dataset``) fetches
one sample at a time and collates; on 28x28 images that costs as much as the
network (skorch docs/user/performance.rst, issues #433, #1100). :class:`BatchIterator`
takes the arrays out of the dataset once, moves them to the training device once
and slices each batch from them with one indexing operation. It draws its random
numbers exactly as ``DataLoader`` does, so a seeded fit gives the same batches, the
same weights and the same predictions as skorch's default path.
"""

import numpy as np
import torch
from skorch.dataset import Dataset
from torch.utils.data import DataLoader, Subset

from kagdigits.files.memory import available_memory


def _draw_seed():
    """One int64 from torch's global generator, drawn as ``DataLoader`` draws its seeds."""
    return int(torch.empty((), dtype=torch.int64).random_().item())


def _arrays_of(dataset):
    """``(X, y, index)`` as CPU tensors when ``dataset`` is plain in-memory arrays.

    ``dataset`` qualifies when it is a ``skorch.dataset.Dataset`` (not a subclass
    with its own ``transform``) over a numpy array or tensor, or a ``Subset`` of one
    (skorch's ``ValidSplit`` returns those); ``index`` selects the subset's rows
    (``None``: all rows). Anything else gives ``None``.
    """
    index = None
    while isinstance(dataset, Subset):
        rows = torch.as_tensor(dataset.indices, dtype=torch.int64)
        index = rows if index is None else rows[index]
        dataset = dataset.dataset
    if type(dataset) is not Dataset:
        return None
    X, y = dataset.X, dataset.y
    if X is None or not all(v is None or torch.is_tensor(v) or isinstance(v, np.ndarray)
                            for v in (X, y)):
        return None
    try:
        X, y = _as_tensor(X), None if y is None else _as_tensor(y)
    except TypeError:  # e.g. an object array
        return None
    return X, y, index


def _as_tensor(values):
    """``values`` as a tensor sharing its memory; a read-only array (pandas 3 hands those
    out, copy-on-write) is copied first, as torch cannot share memory it may not write."""
    if isinstance(values, np.ndarray) and not values.flags.writeable:
        values = values.copy()
    return torch.as_tensor(values)


def to_device(tensor, device):
    """``tensor`` on ``device``: to a GPU through pinned memory, without blocking (the copy
    overlaps the work queued after it); on the CPU as it is."""
    device = torch.device(device)
    if device.type == "cpu" or tensor.device == device:
        return tensor
    if tensor.is_cpu and device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


def _fits_on(device, nbytes):
    """Whether ``nbytes`` of data may be put on ``device`` (at most half of a GPU's free memory)."""
    if device.type != "cuda":
        return True
    return nbytes <= available_memory(device) // 2


class BatchIterator:
    """Mini-batches sliced from in-memory tensors; a drop-in for skorch's ``DataLoader``.

    Used as ``iterator_train`` / ``iterator_valid`` of a skorch net. When the dataset
    is not plain in-memory arrays (see below) or a ``DataLoader`` option other than
    ``batch_size``, ``shuffle`` and ``drop_last`` is given, it iterates a
    ``DataLoader(dataset, ...)`` instead, so nothing is lost by using it everywhere.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Fast path: a ``skorch.dataset.Dataset`` over an array or tensor ``X`` (and
        ``y``), or a ``Subset`` of one, as skorch's ``get_dataset`` and ``ValidSplit``
        make them.
    batch_size : int, default=1
    shuffle : bool, default=False
        A new random order every epoch, drawn from torch's global generator exactly
        as ``DataLoader``'s ``RandomSampler`` draws it.
    drop_last : bool, default=False
    **loader_kwargs
        Other ``DataLoader`` options; giving any selects the ``DataLoader`` path.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, **loader_kwargs):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.loader_kwargs = loader_kwargs
        arrays = None if loader_kwargs else _arrays_of(dataset)
        self.fast = arrays is not None
        self._X, self._y, self._index = arrays or (None, None, None)
        self._device = None

    def to(self, device):
        """Move the data to ``device`` once (when it fits; else each batch is moved); ``self``."""
        if not self.fast or device is None:
            return self
        device = torch.device(device)
        if device.type == "cpu":
            return self
        self._device = device  # batches kept on the host are moved here one by one
        tensors = [self._X] if self._y is None else [self._X, self._y]
        if self._index is not None:  # gather the subset once, before moving it
            tensors = [t[self._index] for t in tensors]
            self._index = None
        if _fits_on(device, sum(t.nbytes for t in tensors)):
            tensors = [to_device(t, device) for t in tensors]
        self._X, self._y = tensors if len(tensors) == 2 else (tensors[0], None)
        return self

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        if not self.fast:
            yield from DataLoader(self.dataset, batch_size=self.batch_size, shuffle=self.shuffle,
                                  drop_last=self.drop_last, **self.loader_kwargs)
            return
        n = len(self.dataset)
        _draw_seed()  # DataLoader draws a worker base seed on every pass
        order = self._index  # None: the rows in order, sliced as views
        if self.shuffle:
            generator = torch.Generator().manual_seed(_draw_seed())
            order = torch.randperm(n, generator=generator)
            order = order if self._index is None else self._index[order]
        if order is not None and self._X.is_cuda:  # pinned: a copy that does not sync
            order = to_device(order, self._X.device)
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            rows = (slice(start, min(start + self.batch_size, n)) if order is None
                    else order[start:start + self.batch_size])
            yield self._take(self._X, rows), self._take(self._y, rows)

    def _take(self, tensor, rows):
        if tensor is None:
            return None
        batch = tensor[rows]
        if self._device is not None and batch.is_cpu:  # kept on the host
            batch = to_device(batch, self._device)
        return batch
