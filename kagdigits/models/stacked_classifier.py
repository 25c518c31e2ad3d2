"""Ensemble members of one :func:`~kagdigits.models.grouping.stack_key` trained as one
network (:class:`StackedClassifier`), on skorch's own loop.

Each member keeps what makes it itself: its initial weights (built after seeding with
its ``random_state``, as alone), its held-out rows (its own ``train_split``), its batch
order and augmentation (counter-based draws keyed by its seed and the step,
:mod:`kagdigits.models.draws`), its label smoothing, its BatchNorm statistics and its
history. What one optimizer, schedule and weight average cannot tell apart is shared:
one optimizer steps the stacked weights (Adam and AdamW element by element: exactly one
per member), one schedule, one early stopping (on the members' summed validation loss;
every member then keeps the stack's best epoch), the stack's callbacks and checkpoints.
Every step has one shape: the last batch of an epoch is padded with rows of weight 0.
"""

import math

import torch
from sklearn.base import clone
from skorch.history import History

from kagdigits.models.augment import make_augment
from kagdigits.models.base import DigitClassifier
from kagdigits.models.device import PRECISIONS, decide_hardware
from kagdigits.models.draws import MemberDraws, member_keys
from kagdigits.models.stacked import StackedModule


class StackedRows:
    """Member ``m``'s rows ``rows[m]`` ((M, n) indices) of the data ``X``, ``y`` (tensors)."""

    def __init__(self, X, y, rows):
        self.X, self.y, self.rows = X, y, rows

    def __len__(self):
        return self.rows.shape[1]


class StackedBatches:
    """(M, B, ...) batches of ``data`` (:class:`StackedRows`); training: each member in its
    own order, augmented by ``augment`` with its own draws."""

    def __init__(self, data, batch_size, net, training):
        self.data, self.batch_size, self.net, self.training = data, batch_size, net, training

    def __len__(self):
        return math.ceil(len(self.data) / self.batch_size)

    def __iter__(self):
        data, size, net = self.data, self.batch_size, self.net
        rows, n, epoch = data.rows, len(data), len(net.history)
        keys = member_keys([m.random_state for m in net.members], rows.device)
        if self.training and net.iterator_train__shuffle:
            order = MemberDraws(keys, epoch * 2 ** 20).bits(n).argsort(dim=1, stable=True)
            rows = rows.gather(1, order)
        padded = len(self) * size  # rows of weight 0 (label -1) fill the last batch
        real = torch.arange(padded, device=rows.device) < n
        rows = torch.cat([rows, rows[:, :padded - n]], dim=1)
        augment = net.augment_ if self.training and data.X.dim() == 4 else None
        for step, start in enumerate(range(0, padded, size)):
            index = rows[:, start:start + size]
            X = data.X[index]
            y = torch.where(real[start:start + size], data.y[index], -1)
            if augment is not None:
                draws = MemberDraws(keys, epoch * 2 ** 20 + step + 1)
                X = augment(X.flatten(0, 1), draws).view_as(X)
            yield X, y


class StackedClassifier(DigitClassifier):
    """The unfitted ``members`` (one :func:`~kagdigits.models.grouping.stack_key`) as one
    estimator: ``fit``, then :meth:`unstack` into fitted lone members.

    Parameters
    ----------
    members : list of DigitClassifier
        The members; the first's parameters are the stack's (``**kwargs`` override them).
    stack_vectorize : bool or "auto", default="auto"
        Run the members by ``vmap`` (``"auto"``: on CUDA) or by a loop (the CPU's faster way).
    **kwargs
        :class:`~kagdigits.models.base.DigitClassifier` parameters.

    The history's ``train_loss`` and ``valid_loss`` are the members' summed losses,
    ``valid_acc`` their mean; ``members`` holds each member's own per epoch.
    """

    def __init__(self, members, stack_vectorize="auto", **kwargs):
        super().__init__(**{**members[0].get_params(deep=False), "compile": False, **kwargs})
        self.members = members
        self.stack_vectorize = stack_vectorize

    def initialize_module(self):
        """Each member's network, built after seeding with its ``random_state`` (its
        initial weights alone), stacked in a :class:`StackedModule`."""
        kwargs, nets = self.get_params_for("module"), []
        for member in self.members:
            if member.random_state is not None:
                torch.manual_seed(member.random_state)
            nets.append(self.initialized_instance(self.module, kwargs))
        chosen = decide_hardware(self.device_, self.precision, self.channels_last, nets[0])
        self.precision_, self.channels_last_ = chosen.precision, chosen.channels_last
        vectorize = self.stack_vectorize
        if vectorize == "auto":
            vectorize = torch.device(self.device_).type == "cuda"
        self.module_ = StackedModule(nets, bool(vectorize), chosen.channels_last,
                                     PRECISIONS[chosen.precision])
        self.augment_ = make_augment(self)
        self.smoothing_ = torch.tensor(
            [m.get_params_for("criterion").get("label_smoothing", 0.0) for m in self.members],
            device=self.device)
        return self

    def hardware_summary(self):
        """E.g. ``cpu, bf16, channels_last, stack of 8 (loop)``."""
        stack = getattr(self, "module_", None)
        if not isinstance(stack, StackedModule):
            return f"{self.device}, stack of {len(self.members)}"
        dtype = {v: k for k, v in PRECISIONS.items()}[stack.dtype]
        layout = "channels_last" if stack.channels_last else "contiguous"
        return (f"{self.device}, {dtype}, {layout}, stack of {len(stack)} "
                f"({'vmap' if stack.vectorize else 'loop'})")

    def get_default_callbacks(self):
        """DigitClassifier's, with the members' scores (:meth:`on_epoch_end`) in place of
        ``valid_acc``'s scoring, and the epoch table without the per-member lists."""
        callbacks = [(n, cb) for n, cb in super().get_default_callbacks() if n != "valid_acc"]
        for name, callback in callbacks:
            if name == "print_log":
                callback.keys_ignored = ["members"]
        return callbacks

    def get_split_datasets(self, X, y=None, **fit_params):
        """Each member's own split (its ``train_split``, seeded by its ``random_state``), as
        :class:`StackedRows` over ``X``, ``y`` moved to the device once."""
        splits = [member.get_split_datasets(X, y) for member in self.members]
        X, y = torch.as_tensor(X).to(self.device), torch.as_tensor(y).to(self.device)

        def rows(k):
            parts = [split[k] for split in splits]
            if parts[0] is None:
                return None
            index = [getattr(p, "indices", range(len(y))) for p in parts]
            if len({len(i) for i in index}) > 1:
                raise ValueError("members of a stack must hold out the same number of rows")
            return StackedRows(X, y, torch.as_tensor([list(i) for i in index],
                                                     device=self.device))
        data = rows(0), rows(1)
        self.scores_, self.sizes_ = {}, {}  # [loss, correct] x steps x members, per split
        for key, rows in zip(("train", "valid"), data, strict=True):
            steps = 0 if rows is None else len(self.get_iterator(rows, key == "train"))
            self.scores_[key] = torch.zeros(2, steps, len(self.members), device=self.device)
            self.sizes_[key] = 0 if rows is None else len(rows)
        return data

    def get_iterator(self, dataset, training=False):
        part = "iterator_train" if training else "iterator_valid"
        size = self.get_params_for(part).get("batch_size", self.batch_size)
        return StackedBatches(dataset, max(1, min(size, len(dataset))), self, training)

    def infer(self, x, **fit_params):
        return self.module_(x)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The members' cross-entropies (each with its label smoothing; rows of label -1
        weigh 0), summed; each member's also kept on the device for its history."""
        logp = torch.log_softmax(y_pred.float(), dim=-1)
        real = y_true >= 0
        nll = -logp.gather(-1, y_true.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        smooth = self.smoothing_.unsqueeze(1)
        rows = ((1 - smooth) * nll - smooth * logp.mean(-1)) * real
        losses = rows.sum(1) / real.sum(1).clamp(min=1)
        buffer = self.scores_["train" if training else "valid"]
        buffer[0, self.steps_[training]].copy_(losses.detach())
        buffer[1, self.steps_[training]].copy_(((logp.argmax(-1) == y_true) & real).sum(1))
        self.steps_[training] += 1
        return losses.sum()

    def on_epoch_begin(self, net, **kwargs):
        super().on_epoch_begin(net, **kwargs)
        self.steps_ = {True: 0, False: 0}

    def on_epoch_end(self, net, **kwargs):
        """Each member's epoch losses and accuracy (one read from the device), in the
        history's ``members``; the stack's ``valid_acc`` is their mean."""
        row, members = self.history[-1], {}
        for key, n in self.sizes_.items():
            if not n:
                continue
            loss, correct = self.scores_[key].cpu()
            size = min(n, self.get_params_for(f"iterator_{key}").get("batch_size",
                                                                     self.batch_size))
            weights = torch.full((len(loss),), float(size))
            weights[-1] = n - size * (len(loss) - 1)
            members[f"{key}_loss"] = ((loss * weights[:, None]).sum(0) / n).tolist()
            if key == "valid":
                members["valid_acc"] = (correct.sum(0) / n).tolist()
                row["valid_acc"] = sum(members["valid_acc"]) / len(self.members)
                previous = [r.get("valid_acc", -1) for r in self.history[:-1]]
                row["valid_acc_best"] = row["valid_acc"] > max(previous, default=-1)
        row["members"] = members
        super().on_epoch_end(net, **kwargs)

    def unstack(self):
        """The members, fitted: each a lone estimator with its trained weights and history."""
        fitted = []
        for m, (member, state) in enumerate(zip(self.members, self.module_.member_state_dicts(),
                                                strict=True)):
            member = clone(member).restore_fitted(self.classes_, self.fitted_inputs())
            member.initialize().module_.load_state_dict(state)
            member.history = History(member_history(self.history, m, len(self.members)))
            fitted.append(member)
        return fitted


def member_history(history, m, n_members):
    """Member ``m``'s history from its stack's: its own losses and accuracy (with their
    ``*_best`` marks), its share of the time, the stack's other entries."""
    rows, best = [], {}
    for row in history:
        own = {k: v for k, v in row.items()
               if k not in ("batches", "members") and not k.endswith("_best")}
        own.update({k: v[m] for k, v in row.get("members", {}).items()}, batches=[],
                   dur=row.get("dur", 0.0) / n_members)
        for key in ("train_loss", "valid_loss", "valid_acc"):
            if key in own:
                sign = -1 if key == "valid_acc" else 1
                own[f"{key}_best"] = key not in best or sign * own[key] < sign * best[key]
                best[key] = own[key] if own[f"{key}_best"] else best[key]
        rows.append(own)
    return rows
