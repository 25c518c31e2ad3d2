"""Which ensemble members train together as one stack, and how many fit in memory."""

import inspect
import math

import numpy as np
import torch
from sklearn.base import clone
from skorch.dataset import ValidSplit

from kagdigits.files.memory import available_memory
from kagdigits.models.base import DigitClassifier
from kagdigits.models.batching import BatchIterator
from kagdigits.models.inputs import to_inputs

#: Share of the memory this process may use (:mod:`kagdigits.files.memory`) a stack may take.
MEMORY_SHARE = 0.5
#: What members of one stack may differ in (everything else one optimizer, one schedule
#: and one loop could not tell apart).
OWN = ("random_state", "train_split", "criterion__label_smoothing", "verbose", "callbacks")


def stackable(member):
    """Whether ``member`` (unfitted) can train in a stack: a DigitClassifier of a network
    class with the default parts (in-memory batches, cross-entropy without class weights,
    a ``ValidSplit`` or no split), no ``compile=True``, fp16, ``warm_start`` or ``tta`` (a
    stack is not compiled)."""
    if not isinstance(member, DigitClassifier) or not isinstance(member.module, type):
        return False
    split = member.train_split
    return (member.iterator_train is BatchIterator and member.iterator_valid is BatchIterator
            and member.criterion is torch.nn.CrossEntropyLoss
            and member.get_params_for("criterion").get("weight") is None
            and (split is None or isinstance(split, ValidSplit))
            and member.compile in (False, "auto") and not member.tta and not member.warm_start
            and member.resolved_precision() != "fp16")


def stack_key(member):
    """Members with one key may stack (``None``: ``member`` trains alone): its class and
    every parameter but :data:`OWN`; of those, the split's size and its callbacks' kinds."""
    if not stackable(member):
        return None
    params = {k: v for k, v in member.get_params(deep=False).items() if k not in OWN}
    split = member.train_split
    callbacks = [(c[0], type(c[1])) if isinstance(c, tuple) else type(c)
                 for c in member.callbacks or []]
    return (type(member), repr(sorted((k, repr(v)) for k, v in params.items())),
            None if split is None else (split.cv, split.stratified), repr(callbacks))


def free_bytes(device):
    """Memory a stack may use on ``device``: :data:`MEMORY_SHARE` of what
    :func:`kagdigits.files.memory.available_memory` says (2 GiB where the system does not)."""
    free = available_memory(torch.device(device))
    return 2 ** 31 if free is None else int(MEMORY_SHARE * free)


def member_bytes(member, X):
    """About what one more member adds to a stack while training: 6 copies of its weights
    (weights, gradients, Adam's moments, a weight average) and a batch's activations x 3."""
    features = "in_features" in inspect.signature(member.module).parameters
    x = torch.as_tensor(to_inputs(X[:1], features=features))
    member.restore_fitted(np.arange(10), {"input_shape": tuple(x.shape[1:])})
    module = member.initialize().module_.cpu().eval()
    sizes = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(out.numel()))
             for m in module.modules() if not list(m.children())]
    with torch.no_grad():
        module(x)
    for hook in hooks:
        hook.remove()
    return 4 * (6 * sum(p.numel() for p in module.parameters())
                + 3 * member.batch_size * sum(sizes))


def stack_size(member, X, limit=None):
    """Members that fit in one stack (at least 1), at most ``limit`` (``None``: no limit)."""
    probe = clone(member).set_params(callbacks=None)
    fits = max(1, free_bytes(probe.device) // max(member_bytes(probe, X), 1))
    return int(fits if limit is None else min(fits, limit))


def chunks(indices, size, parts=1):
    """``indices`` cut into ``parts`` nearly equal consecutive chunks, each cut again to at
    most ``size``."""
    per_part = math.ceil(len(indices) / max(1, min(parts, len(indices))))
    size = min(size, per_part)
    return [indices[start:start + size] for start in range(0, len(indices), size)]
