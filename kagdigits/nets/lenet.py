"""LeNet-5 (LeCun et al., 1998) with the options the seed studies vary."""

import torch.nn.functional as F
from torch import nn

from kagdigits.nets.common import ACTIVATIONS, choose

POOLINGS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}
INITS = {"default": None, "xavier": nn.init.xavier_uniform_, "he": nn.init.kaiming_uniform_}


class LeNet5(nn.Module):
    """LeNet-5: conv 6@5x5 - pool - conv 16@5x5 - pool - 120 - 84 - classes.

    Inputs smaller than 32x32 (MNIST's 28x28) are zero-padded to 32x32, as in the
    original paper, so the net has 61,706 parameters on 1x28x28 with 10 classes.

    Parameters
    ----------
    num_classes : int, default=10
    in_chans : int, default=1
    activation : {"relu", "tanh", "sigmoid", "elu"}, default="relu"
        ``"tanh"`` with ``pooling="avg"`` is the classic 1998 form.
    pooling : {"max", "avg"}, default="max"
    init : {"default", "xavier", "he"}, default="default"
        Weight initialisation of the conv and linear layers (biases are zeroed
        for "xavier" and "he"); "default" keeps PyTorch's.
    dropout : float, default=0.0
        Dropout before each hidden fully connected layer.
    batchnorm : bool, default=False
        Batch normalisation after each convolution.
    """

    def __init__(self, num_classes=10, in_chans=1, activation="relu", pooling="max",
                 init="default", dropout=0.0, batchnorm=False):
        super().__init__()
        act = choose("activation", activation, ACTIVATIONS)
        pool = choose("pooling", pooling, POOLINGS)
        init_fn = choose("init", init, INITS)

        def conv_block(cin, cout):
            layers = [nn.Conv2d(cin, cout, 5)]
            if batchnorm:
                layers.append(nn.BatchNorm2d(cout))
            return [*layers, act(), pool(2)]

        self.features = nn.Sequential(*conv_block(in_chans, 6), *conv_block(6, 16))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout), nn.Linear(16 * 5 * 5, 120), act(),
            nn.Dropout(dropout), nn.Linear(120, 84), act(),
            nn.Linear(84, num_classes),
        )
        if init_fn is not None:
            for m in self.modules():
                if isinstance(m, nn.Conv2d | nn.Linear):
                    init_fn(m.weight)
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        pad_h, pad_w = max(32 - x.shape[-2], 0), max(32 - x.shape[-1], 0)
        if pad_h or pad_w:
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        return self.classifier(self.features(x))
