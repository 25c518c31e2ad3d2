"""Small helpers shared by the networks."""

from torch import nn

from kagdigits.errors import choose as choose_from

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU}


def choose(name, value, options):
    """``options[value]``; a ``ValueError`` lists the valid choices for ``name``."""
    return choose_from(dict(sorted(options.items())), value, name)


def count_params(net):
    """Number of trainable parameters of ``net``."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
