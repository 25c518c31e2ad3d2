"""An exponential moving average (EMA) of a network's weights, as the strongest MNIST
ensembles use (An et al., 2020, 99.87 %): after every optimizer step the average moves
towards the current weights, ``average += (1 - decay) * (weights - average)``, and
validation, early stopping, checkpoints and predictions see the average.

The decay warms up as in timm's ``ModelEmaV3``: step ``t`` uses
``min(decay, (1 + t) / (10 + t))``, so the first steps do not drag the random
initial weights along. BatchNorm's running statistics are averaged too.
"""

import torch
from torch.optim.swa_utils import AveragedModel


class WeightAverage:
    """The EMA of ``module``'s weights, and swapping it in and out of ``module``.

    Training calls :meth:`update` after each step; :meth:`swap_in` puts the average into
    ``module`` (keeping the trained weights aside) for evaluation, :meth:`swap_out` puts
    the trained weights back before training goes on.
    """

    def __init__(self, module, decay):
        self.decay = decay
        self.steps = 0  # counted here: reading AveragedModel's count would sync a GPU per step
        self.average = AveragedModel(module, multi_avg_fn=self._move, use_buffers=True)
        self.trained = None

    @torch.no_grad()
    def _move(self, averaged, current, num_averaged):
        """``AveragedModel``'s ``multi_avg_fn``: one EMA step with warm-up."""
        if not averaged[0].is_floating_point():  # counters (BatchNorm's batches seen)
            torch._foreach_copy_(averaged, current)
            return
        step = self.steps - 1  # AveragedModel copies the weights at the first update
        torch._foreach_lerp_(averaged, current, 1 - min(self.decay, (1 + step) / (10 + step)))

    def update(self, module):
        self.steps += 1
        self.average.update_parameters(module)

    def swap_in(self, module):
        if self.trained is None:
            self.trained = {k: v.detach().clone() for k, v in module.state_dict().items()}
            module.load_state_dict(self.average.module.state_dict())

    def swap_out(self, module):
        if self.trained is not None:
            module.load_state_dict(self.trained)
            self.trained = None
