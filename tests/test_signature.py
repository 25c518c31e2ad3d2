"""Reading the parameters a class or function takes (kagdigits/signature.py)."""

import inspect

import torch

from kagdigits.nets import LeNet5
from kagdigits.signature import parameters


def test_a_class_gives_its_constructors_parameters_without_self():
    names = [p.name for p in parameters(LeNet5)]
    assert "num_classes" in names and "in_chans" in names and "self" not in names
    defaults = {p.name: p.default for p in parameters(torch.optim.SGD)}
    assert defaults["momentum"] == 0


def test_keyword_catch_alls_show_and_an_unreadable_signature_is_none():
    kinds = [p.kind for p in parameters(lambda x, *args, **kwargs: x)]
    assert kinds[-1] is inspect.Parameter.VAR_KEYWORD  # "takes any name"
    assert parameters(3) is None  # nothing to read
