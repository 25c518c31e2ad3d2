"""Plain PyTorch networks: ``num_classes`` and ``in_chans`` in, logits out."""

from kagdigits.nets.lenet import LeNet5

__all__ = ["LeNet5"]
