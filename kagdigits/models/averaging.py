"""An exponential moving average (EMA) of a network's weights, as the strongest MNIST
ensembles use (An et al., 2020, 99.87 %): after every optimizer step the average moves
towards the current weights, ``average += (1 - decay) * (weights - average)``, and
validation, early stopping, checkpoints and predictions see the average
(:class:`kagdigits.models.callbacks.WeightAveraging` does the swapping during a fit).

The decay warms up as in timm's ``ModelEmaV3``: step ``t`` uses
``min(decay, (1 + t) / (10 + t))``, so the first steps do not drag the random
initial weights along. BatchNorm's running statistics are averaged too (its counters
are copied). An update never reads a device value on the host, so it costs no GPU sync.
"""

import copy
import itertools

import torch


def _tensors(module):
    """``module``'s parameters and buffers, detached, in a fixed order."""
    return [t.detach() for t in itertools.chain(module.parameters(), module.buffers())]


class WeightAverage:
    """The EMA of ``module``'s weights, and swapping it in and out of ``module``.

    Training calls :meth:`update` after each step; :meth:`swap_in` puts the average into
    ``module`` (keeping the trained weights aside) for evaluation, :meth:`swap_out` puts
    the trained weights back before training goes on.

    Attributes
    ----------
    module : torch.nn.Module
        A copy of the network holding the average (the first update copies the weights).
    steps : int
        Updates so far (counted on the host).
    """

    def __init__(self, module, decay):
        self.decay = decay
        self.steps = 0
        self.module = copy.deepcopy(module).requires_grad_(False)
        self.trained = None

    @torch.no_grad()
    def update(self, module):
        self.steps += 1
        averaged, current = _tensors(self.module), _tensors(module)
        if self.steps == 1:
            torch._foreach_copy_(averaged, current)
            return
        floats = [i for i, t in enumerate(averaged) if t.is_floating_point()]
        others = [i for i, t in enumerate(averaged) if not t.is_floating_point()]
        step = self.steps - 1
        weight = 1 - min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_([averaged[i] for i in floats], [current[i] for i in floats], weight)
        if others:  # counters (BatchNorm's batches seen)
            torch._foreach_copy_([averaged[i] for i in others], [current[i] for i in others])

    def swap_in(self, module):
        if self.trained is None:
            self.trained = {k: v.detach().clone() for k, v in module.state_dict().items()}
            module.load_state_dict(self.module.state_dict())

    def swap_out(self, module):
        if self.trained is not None:
            module.load_state_dict(self.trained)
            self.trained = None
