"""M networks of one architecture as one module, their weights stacked leaf parameters.

The weights are stacked once (``torch.func.stack_module_state``): member ``m`` is row
``m`` of every parameter and buffer, so one optimizer steps all members, and an
element-wise one (Adam, AdamW) steps each exactly as its own would. The members run by
``vmap(functional_call)`` (``vectorize=True``: every layer once for all, a convolution of
stacked weights as one grouped convolution; dropout draws a mask per member) or by a loop
over the members (faster on the CPU). BatchNorm keeps each member's statistics.

``dtype`` (bf16 or fp16) runs the convolutions and linear layers in that precision on
both paths, their weights cast once per step (CPU autocast does not reach a convolution
under ``vmap``); BatchNorm takes fp32 input (its ``vmap`` rule refuses bf16 input with
fp32 statistics); the logits come back as float32.
"""

import copy

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

LOW_PRECISION = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _attr(name):
    return name.replace(".", "__")


class StackedModule(nn.Module):
    """``modules`` (one class and shapes) as one network: (M, B, ...) -> (M, B, K) logits.

    Parameters
    ----------
    modules : list of torch.nn.Module
        The members' networks; their weights are copied into the stack.
    vectorize : bool, default=False
        ``vmap`` over the members, else a loop.
    channels_last : bool, default=False
        Loop: each member's 4-D input in ``torch.channels_last`` (under ``vmap`` the
        batching rule picks the layout).
    dtype : torch.dtype or None, default=None
        The convolutions' and linear layers' precision (``None``: float32).
    """

    def __init__(self, modules, vectorize=False, channels_last=False, dtype=None):
        super().__init__()
        params, buffers = stack_module_state(list(modules))
        for name, value in params.items():
            self.register_parameter(_attr(name), nn.Parameter(value))
        for name, value in buffers.items():
            self.register_buffer(_attr(name), value)
        self.names = (list(params), list(buffers))
        self.vectorize, self.channels_last, self.dtype = vectorize, channels_last, dtype
        skeleton = copy.deepcopy(modules[0]).to("meta")
        self.cast = set()
        for prefix, layer in skeleton.named_modules():
            if dtype is not None and isinstance(layer, LOW_PRECISION):
                layer.register_forward_pre_hook(lambda _, args: (args[0].to(dtype),))
                self.cast |= {f"{prefix}.{n}".lstrip(".") for n, _ in layer.named_parameters()}
            elif dtype is not None and isinstance(layer, NORMS):
                layer.register_forward_pre_hook(lambda _, args: (args[0].float(),))
        self.skeleton = [skeleton]  # a list: not a submodule (no weights of its own)

    def __len__(self):
        return len(self.get_parameter(_attr(self.names[0][0])))

    def stacked(self):
        """The members' parameters (cast to ``dtype`` where it applies) and buffers, as
        dicts of (M, ...) tensors by the members' own names."""
        params = {n: self.get_parameter(_attr(n)) for n in self.names[0]}
        params = {n: p.to(self.dtype) if n in self.cast else p for n, p in params.items()}
        return params, {n: self.get_buffer(_attr(n)) for n in self.names[1]}

    def member_state_dicts(self):
        """Each member's ``state_dict`` (views of the stack)."""
        tensors = {n: t.detach() for n, t in zip([*self.names[0], *self.names[1]],
                                                 [*self.parameters(), *self.buffers()],
                                                 strict=True)}
        return [{n: t[m] for n, t in tensors.items()} for m in range(len(self))]

    def forward(self, x, shared=False):
        """Member ``m`` on ``x[m]`` ((M, B, ...)); ``shared``: all on ``x`` ((B, ...))."""
        skeleton = self.skeleton[0].train(self.training)
        params, buffers = self.stacked()
        if self.vectorize:
            def call(p, b, rows):
                return functional_call(skeleton, (p, b), (rows,))
            out = vmap(call, in_dims=(0, 0, None if shared else 0),
                       randomness="different")(params, buffers, x)
            return out.float()
        params = {n: p.unbind(0) for n, p in params.items()}
        buffers = {n: b.unbind(0) for n, b in buffers.items()}
        outputs = []
        for m in range(len(self)):
            rows = x if shared else x[m]
            if self.channels_last and rows.dim() == 4:
                rows = rows.contiguous(memory_format=torch.channels_last)
            outputs.append(functional_call(skeleton, ({n: p[m] for n, p in params.items()},
                                                      {n: b[m] for n, b in buffers.items()}),
                                           (rows,)))
        return torch.stack(outputs).float()
