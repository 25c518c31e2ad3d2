"""Ensemble members of one architecture trained and run as one stacked network.

A stack holds M members' networks and runs them on an (M, B, ...) batch (member ``m``
on its own rows ``x[m]``), giving (M, B, classes) logits, in one of two ways:

- ``vectorize=True``: ``torch.func.vmap`` over ``functional_call`` of the members'
  parameters and buffers stacked along a new first dimension, so every layer runs once
  for all members (PyTorch batches a convolution of stacked weights as one grouped
  convolution, the arithmetic of Packed-Ensembles). BatchNorm's running statistics are
  updated per member (the stacked buffers are updated under ``vmap`` and copied back)
  and dropout draws a different mask per member (``randomness="different"``).
- ``vectorize=False``: the members' networks one after another on their rows. On the
  CPU the kernels are busy already and this is faster (measured on 2 shared vCPUs, one
  torch thread, 8 lenet5 members, batch 64, one training step of all 8, best of 3: fp32
  separate 60 ms, vmap 82 ms, hand-written grouped convolutions 99 ms; bf16 autocast 69,
  104 and 138 ms); ``"auto"`` vectorizes on CUDA only.

Why ``vmap`` and not grouped convolutions written per network: it works on any
registered network unchanged, and its convolutions are the grouped ones anyway.

Training (:func:`fit_stack`) drives the members' own skorch machinery rather than a
copy of it: each member is initialised as a lone member is (its seed, then its
network, so the same initial weights), keeps its own optimizer and learning-rate
schedule (the members' parameters stay theirs: the stack stacks them afresh for every
step, so each member's Adam is exactly a separate optimizer), its own callbacks
(checkpoints and ``--resume``, early stopping, Ctrl-C, scoring, its epoch table) and
its own history. What a lone member draws from torch's global generator, a stacked
member draws from its own generators (:class:`MemberStreams`, seeded from its
``random_state``): batch order and augmentation, so those inputs do not depend on
which or how many members share its stack. Its held-out rows come from its own
``train_split`` as before. Dropout masks come from the global generator (seeded with
the stack's first member's seed) and so depend on the stack, as does the rounding of
``vmap``: a stacked member equals a lone one statistically, not bit for bit.
"""

import copy
import math
import time

import numpy as np
import torch
from skorch.callbacks import EpochTimer
from skorch.dataset import ValidSplit
from torch.func import functional_call, vmap
from torch.utils.data import Subset

from kagdigits.files.memory import available_memory
from kagdigits.models.augment import make_augment
from kagdigits.models.batching import BatchIterator, to_device
from kagdigits.models.callbacks import restored_epochs
from kagdigits.models.inputs import scaled_batch, to_images
from kagdigits.models.progress import MemberProgress, progress

#: Share of the memory this process may use (:mod:`kagdigits.files.memory`) a stack may take.
MEMORY_SHARE = 0.5


class StackedNetwork(torch.nn.Module):
    """The networks ``modules`` (one architecture) run as one: (M, B, ...) -> (M, B, K).

    The modules stay the members' own (shared, not copied): training the stack trains
    them. See the module docstring for ``vectorize``.

    Parameters
    ----------
    modules : list of torch.nn.Module
        Networks of the same class and shapes.
    vectorize : bool
        ``vmap`` over the stacked weights (``True``) or a loop over the members.
    channels_last : bool, default=False
        Hand the members 4-D image batches in ``torch.channels_last`` format (loop only).
    """

    def __init__(self, modules, vectorize, channels_last=False):
        super().__init__()
        self.members = torch.nn.ModuleList(modules)
        self.vectorize = vectorize
        self.channels_last = channels_last
        if vectorize:
            self._skeleton = [copy.deepcopy(modules[0]).to("meta")]  # a list: not a submodule

    def _call(self, params, buffers, x):
        return functional_call(self._skeleton[0], (params, buffers), (x,))

    def forward(self, x, shared=False):
        """Logits of every member, (M, B, K), for ``x`` of shape (M, B, ...): member ``m``
        on ``x[m]``; ``shared=True``: ``x`` of shape (B, ...) for every member."""
        if not self.vectorize:
            outputs = []
            for m, module in enumerate(self.members):
                rows = x if shared else x[m]
                if self.channels_last and rows.dim() == 4:
                    rows = rows.contiguous(memory_format=torch.channels_last)
                outputs.append(module(rows))
            return torch.stack(outputs)
        self._skeleton[0].train(self.training)  # BatchNorm and dropout follow the stack's mode
        params = _stacked(self.members, "named_parameters")  # afresh, every call
        buffers = _stacked(self.members, "named_buffers")
        logits = vmap(self._call, in_dims=(0, 0, None if shared else 0),
                      randomness="different")(params, buffers, x)
        if self.training and buffers:  # BatchNorm's statistics, updated per member
            with torch.no_grad():
                for name, stacked in buffers.items():
                    own = [module.get_buffer(name) for module in self.members]
                    torch._foreach_copy_(own, list(stacked.unbind(0)))
        return logits


def _stacked(modules, named):
    """``modules``' parameters (``named="named_parameters"``) or buffers, each stacked
    along a new first dimension by ``torch.stack``: unlike ``torch.func.stack_module_state``,
    gradients flow back to the members' own parameters."""
    own = [dict(getattr(module, named)()) for module in modules]
    return {name: torch.stack([tensors[name] for tensors in own]) for name in own[0]}


class MemberStreams:
    """A stacked member's own random numbers: its batch order and its augmentation draws.

    Seeded from the member's ``random_state`` alone, so they do not depend on the other
    members of its stack. Its :meth:`state_dict` is saved with the member's checkpoints
    (a net attribute ending in ``_`` with a ``state_dict``), so a resumed run draws on
    exactly where the interrupted one stopped.

    Parameters
    ----------
    seed : int
    device : torch.device
        Where the augmentation's draws are made (the training device).
    """

    def __init__(self, seed, device):
        order_seed, augment_seed = np.random.SeedSequence(seed).generate_state(2)
        self.order = torch.Generator().manual_seed(int(order_seed))
        self.augment = torch.Generator(device).manual_seed(int(augment_seed))

    def permutation(self, n):
        """A random order of ``n`` rows (on the CPU)."""
        return torch.randperm(n, generator=self.order)

    def state_dict(self):
        return {"order": self.order.get_state().tolist(),
                "augment": self.augment.get_state().tolist()}

    def load_state_dict(self, state):
        self.order.set_state(torch.tensor(state["order"], dtype=torch.uint8))
        self.augment.set_state(torch.tensor(state["augment"], dtype=torch.uint8))


def resolve_vectorize(vectorize, device):
    """``vectorize`` (``"auto"``: on CUDA) as a bool."""
    if vectorize == "auto":
        return torch.device(device).type == "cuda"
    return bool(vectorize)


def stack_key(member):
    """What members must share to be stacked: estimator class, network and its settings,
    batch size, device, precision and memory format (``None``: this member cannot be
    stacked and trains alone; see :func:`stackable`)."""
    if not stackable(member):
        return None
    module = member.get_params_for("module")
    return (type(member), member.module, repr(sorted(module.items())), member.batch_size,
            str(member.__dict__["device"]), member.precision, member.channels_last,
            _split_size(member.train_split))


def _split_size(split):
    return None if split is None else repr(split.cv)


def stackable(member):
    """Whether ``member`` (an unfitted estimator) can train in a stack: a
    :class:`~kagdigits.models.base.DigitClassifier` with the default parts (the
    in-memory batch iterators, a cross-entropy loss, a ``ValidSplit`` or no split), no
    ``compile=True`` (``"auto"`` stacks: the stack runs its own step, eagerly), no fp16
    loss scaling, no ``warm_start`` and no test-time augmentation of its own. Others
    train alone, as before."""
    from_base = hasattr(member, "resolved_precision") and hasattr(member, "module")
    if not from_base:
        return False
    split = member.train_split
    return (member.iterator_train is BatchIterator and member.iterator_valid is BatchIterator
            and member.criterion is torch.nn.CrossEntropyLoss
            and member.get_params_for("criterion").get("weight") is None
            and (split is None or isinstance(split, ValidSplit))
            and member.compile in (False, "auto") and not member.tta
            and member.resolved_precision() != "fp16" and not member.warm_start)


def _rows(dataset, n):
    """The rows of ``dataset`` (a ``Subset`` of the training data, or all ``n``)."""
    if dataset is None:
        return None
    if isinstance(dataset, Subset):
        return torch.as_tensor(np.asarray(dataset.indices), dtype=torch.int64)
    return torch.arange(n)


def _smoothed_loss(logits, y, smoothing):
    """Each member's mean cross-entropy (with label smoothing ``smoothing``, (M,)), as
    ``torch.nn.CrossEntropyLoss`` computes it: logits (M, B, K), y (M, B) -> (M,)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    nll = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    loss = (1 - smoothing).unsqueeze(1) * nll - smoothing.unsqueeze(1) * logp.mean(-1)
    return loss.mean(1)


def _autocast(member):
    dtype = member._autocast_dtype()
    if dtype is None:
        return torch.autocast(member._device_type(), enabled=False)
    return torch.autocast(member._device_type(), dtype=dtype)


def _fill_batches(member, prefix, values, first):
    """Write the per-batch losses ``values`` (read once per epoch) into ``member``'s
    history rows ``first``, ``first + 1``, ... of the current epoch."""
    rows = member.history[-1]["batches"]
    for row, value in zip(rows[first:first + len(values)], values, strict=True):
        row[f"{prefix}_loss"] = value


def fit_stack(members, X, y, vectorize="auto", verbose=0, labels=None):
    """Train ``members`` (unfitted estimators with one :func:`stack_key`) as one stacked
    network on images ``X`` and labels ``y``; return them, fitted.

    Each member ends as a lone member's fit ends: its network, optimizer, history,
    callbacks and ``classes_``; its epochs are those of its ``max_epochs`` left after
    a checkpoint it resumed from, and early stopping ends it alone (the others go on).
    ``verbose``: a progress bar over the members finished, showing each member's epoch
    as it ends (``labels``: the members' names there).
    """
    bar = (progress(total=len(members), unit="member", desc="ensemble", leave=True)
           if verbose else None)
    watchers = [MemberProgress(label, bar)
                for label in labels or [f"seed {m.random_state}" for m in members]]
    data = None
    for member, watcher in zip(members, watchers, strict=True):
        if bar is not None:
            member.set_params(callbacks=[*(member.callbacks or []), ("progress", watcher)])
        prepared = member._prepare_training(X, y, warm=False)
        data = data or prepared  # the same arrays for every member: keep one copy
    X, y = data
    lead = members[0]
    device = torch.device(lead.device)
    splits = [member.get_split_datasets(X, y) for member in members]
    for member in members:  # an attribute with a state_dict: checkpoints save it
        member.stack_streams_ = MemberStreams(member.random_state, device)
    torch.manual_seed(lead.random_state or 0)  # dropout's draws; a resumed run restores them
    for member in members:
        member.notify("on_train_begin", X=X, y=y)  # a checkpoint restores here
    train_rows = [_rows(train, len(y)) for train, _ in splits]
    valid_rows = [_rows(valid, len(y)) for _, valid in splits]
    if len({len(rows) for rows in train_rows}) > 1:
        raise ValueError("members of a stack must hold out the same number of rows")
    X_t = torch.as_tensor(X).to(device)
    y_t = torch.as_tensor(y).to(device)
    smoothing = torch.tensor([float(m.criterion_.label_smoothing) for m in members],
                             device=device)
    augments = [make_augment(m) if X.ndim == 4 else None for m in members]
    left = {i: max(m.max_epochs - restored_epochs(m), 0) for i, m in enumerate(members)}
    active = [i for i in range(len(members)) if left[i]]
    vectorize = resolve_vectorize(vectorize, device)
    try:
        while active:
            stopped = set()
            _run_epoch([members[i] for i in active], [splits[i] for i in active],
                       [train_rows[i] for i in active], [valid_rows[i] for i in active],
                       [augments[i] for i in active], smoothing[active], X_t, y_t,
                       vectorize, stopped)
            for k, i in enumerate(list(active)):
                left[i] -= 1
                if not left[i] or k in stopped:
                    active.remove(i)
                    if bar is not None:
                        bar.update()
    except KeyboardInterrupt:  # as skorch: a second Ctrl-C (or a user's) ends training
        pass
    finally:
        for watcher in watchers:
            watcher.bar = None  # the fitted members pickle
        if bar is not None:
            bar.close()
    for member in members:
        member.notify("on_train_end", X=X, y=y)
        del member.stack_streams_
    return members


def _run_epoch(members, splits, train_rows, valid_rows, augments, smoothing, X, y,
               vectorize, stopped):
    """One epoch of the stacked ``members``: train, validate, then each member's epoch-end
    callbacks (``stopped`` gets the positions of members whose early stopping fired)."""
    lead = members[0]
    start = time.perf_counter()
    kwargs = [{"dataset_train": train, "dataset_valid": valid} for train, valid in splits]
    for member, kw in zip(members, kwargs, strict=True):
        member.notify("on_epoch_begin", **kw)
    stack = StackedNetwork([m.module_ for m in members], vectorize, lead._uses_channels_last())
    order = torch.stack([rows[m.stack_streams_.permutation(len(rows))]
                         for rows, m in zip(train_rows, members, strict=True)])
    stack.train()
    losses = []
    for batch_rows in order.to(X.device).split(lead.batch_size, dim=1):
        xb, yb = X[batch_rows], y[batch_rows]
        if augments[0] is not None:
            xb = _augmented(xb, augments, [m.stack_streams_.augment for m in members])
        for m, rows, labels in zip(members, xb, yb, strict=True):
            m.notify("on_batch_begin", batch=(rows, labels), training=True)
        loss, logits = train_step(members, stack, xb, yb, smoothing)
        for k, m in enumerate(members):
            m.history.record_batch("train_batch_size", len(yb[k]))
            m.notify("on_batch_end", batch=(xb[k], yb[k]), training=True, loss=loss[k],
                     y_pred=logits[k])
        losses.append(loss.detach())
    _record_epoch(members, "train", losses, first=0)
    if valid_rows[0] is not None:
        _validate(members, stack, torch.stack(valid_rows).to(X.device), smoothing, X, y,
                  first=len(losses))
    share = (time.perf_counter() - start) / len(members)  # each member's share of the time
    errors = []
    for k, (member, kw) in enumerate(zip(members, kwargs, strict=True)):
        for _, callback in member.callbacks_:
            if isinstance(callback, EpochTimer):
                callback.epoch_start_time_ = time.time() - share
        try:
            member.notify("on_epoch_end", **kw)
        except KeyboardInterrupt:  # skorch's early stopping ends this member
            stopped.add(k)
        except Exception as exc:  # noqa: BLE001 - re-raised below, once all have saved
            errors.append(exc)
    if errors:
        raise errors[0]


def _augmented(xb, augments, generators):
    """Member ``m``'s rows ``xb[m]`` augmented by ``augments[m]`` drawing from
    ``generators[m]``: in one call over all members when their augmentations are alike
    (the same draws, see :class:`~kagdigits.models.augment.Augment`), else one by one."""
    if all(repr(a) == repr(augments[0]) for a in augments):
        return augments[0](xb.flatten(0, 1), generators).view_as(xb)
    return torch.stack([augment(rows, generator) if augment else rows
                        for augment, rows, generator in zip(augments, xb, generators,
                                                            strict=True)])


def train_step(members, stack, xb, yb, smoothing):
    """One optimizer step of every member of ``stack`` on its rows of ``xb``, ``yb``
    ((M, B, ...), (M, B)): each member's gradient is that of its own loss, and each
    member's own optimizer steps; the (M,) losses and (M, B, K) logits, detached."""
    for member in members:
        member.optimizer_.zero_grad(set_to_none=True)
    with _autocast(members[0]):
        logits = stack(xb).float()
    loss = _smoothed_loss(logits, yb, smoothing)
    loss.sum().backward()
    for member in members:
        member.optimizer_.step()
    return loss.detach(), logits.detach()


@torch.no_grad()
def _validate(members, stack, rows, smoothing, X, y, first):
    lead = members[0]
    stack.eval()
    size = lead.get_params_for("iterator_valid").get("batch_size", lead.batch_size)
    losses = []
    for batch_rows in rows.split(size, dim=1):
        xb, yb = X[batch_rows], y[batch_rows]
        for m, x, labels in zip(members, xb, yb, strict=True):
            m.notify("on_batch_begin", batch=(x, labels), training=False)
        with _autocast(lead):
            logits = stack(xb).float()
        loss = _smoothed_loss(logits, yb, smoothing)
        for k, m in enumerate(members):
            m.history.record_batch("valid_batch_size", len(yb[k]))
            m.notify("on_batch_end", batch=(xb[k], yb[k]), training=False, loss=loss[k],
                     y_pred=logits[k])
        losses.append(loss)
    _record_epoch(members, "valid", losses, first)


def _record_epoch(members, prefix, losses, first):
    """Each member's batch losses (one host read for the epoch) and batch count."""
    values = torch.stack(losses).cpu().T.tolist()
    for member, member_losses in zip(members, values, strict=True):
        _fill_batches(member, prefix, member_losses, first)
        member.history.record(f"{prefix}_batch_count", len(member_losses))


def member_bytes(member, X):
    """A rough upper bound of the memory one more member adds to a stack while training:
    its weights, gradients, Adam's two moments and their stacked copies (6 copies of
    the parameters), and a training batch's activations (every layer's output on one
    image, times the batch size, times 3 for autograd)."""
    module = member.initialize().module_
    n_params = sum(p.numel() for p in module.parameters())
    outputs = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out.numel()))
             for m in module.modules() if not list(m.children())]
    with torch.no_grad():
        module.eval()(torch.as_tensor(to_images(X[:1])).to(member.device))
    for hook in hooks:
        hook.remove()
    return 4 * (6 * n_params + 3 * member.batch_size * sum(outputs))


def free_bytes(device):
    """Memory a stack may use on ``device``: :data:`MEMORY_SHARE` of what
    :func:`kagdigits.files.memory.available_memory` says this process may use (2 GiB where
    the system does not say)."""
    free = available_memory(torch.device(device))
    return 2 ** 31 if free is None else int(MEMORY_SHARE * free)


def stack_size_for(member, X, limit=None):
    """Members that fit in one stack: ``free_bytes // member_bytes`` (at least 1), at most
    ``limit`` (``None``: no limit)."""
    probe = copy.deepcopy(member).set_params(callbacks=None)
    fits = max(1, free_bytes(probe.device) // max(member_bytes(probe, X), 1))
    return int(fits if limit is None else min(fits, limit))


def chunks(indices, size, parts=1):
    """``indices`` cut into ``parts`` nearly equal consecutive chunks (one per worker), each
    cut again to at most ``size``."""
    per_part = math.ceil(len(indices) / max(1, min(parts, len(indices))))
    size = min(size, per_part)
    return [indices[start:start + size] for start in range(0, len(indices), size)]


def _prediction_key(member):
    """Fitted members with one key predict as one stack: network class and weight shapes,
    precision and memory format."""
    shapes = tuple((name, tuple(t.shape)) for name, t in member.module_.state_dict().items())
    return (type(member.module_), shapes, member._autocast_dtype(),
            member._uses_channels_last())


def predicts_stacked(members):
    """Whether the fitted ``members`` can predict in one pass (:func:`stacked_proba`):
    image networks of the default prediction path (softmax over a cross-entropy's
    logits, no test-time augmentation of their own) on one device."""
    return (all(hasattr(m, "_autocast_dtype") and hasattr(m, "module_") and not m.tta
                and m.criterion is torch.nn.CrossEntropyLoss
                and m.predict_nonlinearity == "auto" for m in members)
            and len({str(m.device) for m in members}) == 1
            and len(getattr(members[0], "input_shape_", ())) == 3)


@torch.no_grad()
def stacked_proba(members, X, vectorize="auto"):
    """The sum over ``members`` (fitted, :func:`predicts_stacked`) of their class
    probabilities for images ``X`` (a float32 or uint8 (n, C, H, W) array), in one pass:
    ``X`` is copied to the device once (uint8: scaled there batch by batch) and each batch
    goes through every stack of members."""
    lead = members[0]
    device = torch.device(lead.device)
    groups = {}
    for member in members:
        groups.setdefault(_prediction_key(member), []).append(member)
    stacks = [(StackedNetwork([m.module_ for m in group], resolve_vectorize(vectorize, device),
                              group[0]._uses_channels_last()).eval(), group[0])
              for group in groups.values()]
    X = to_device(torch.as_tensor(X), device)
    size = lead.get_params_for("iterator_valid").get("batch_size", lead.batch_size)
    total = []
    for batch in X.split(size):
        batch, proba = scaled_batch(batch), 0
        for stack, first in stacks:
            with _autocast(first):
                logits = stack(batch, shared=True).float()
            proba = proba + torch.softmax(logits, dim=-1).sum(0)
        total.append(proba)
    return torch.cat(total).cpu().numpy()
