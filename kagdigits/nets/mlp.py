"""A multilayer perceptron matched to LeNet-5's size (784-80-20-10: 64,630 parameters)."""

import math

from torch import nn

from kagdigits.nets.common import ACTIVATIONS, choose

#: Input side by channel count when ``img_size`` is not given: MNIST and CIFAR-10.
DEFAULT_SIDE = {1: 28, 3: 32}


class MLP(nn.Module):
    """Flatten - [linear - activation - dropout] per hidden layer - linear.

    A fully connected net needs the input size up front: ``in_features`` values per
    row (any number; an estimator sets it from the data it is fitted on), else images
    of ``in_chans`` x ``img_size`` x ``img_size``, where ``img_size=None`` means 28 with
    one channel (MNIST) and 32 with three (CIFAR-10).

    Parameters
    ----------
    num_classes : int, default=10
    in_chans : int, default=1
    img_size : int or None, default=None
        Side of the square input images (see above).
    hidden_sizes : tuple of int, default=(80, 20)
    activation : {"relu", "tanh", "sigmoid", "elu"}, default="relu"
    dropout : float, default=0.0
        Dropout after each hidden layer.
    in_features : int or None, default=None
        Values per input row (images of any shape are flattened); ``None``: from
        ``in_chans`` and ``img_size``.
    """

    def __init__(self, num_classes=10, in_chans=1, img_size=None, hidden_sizes=(80, 20),
                 activation="relu", dropout=0.0, in_features=None):
        super().__init__()
        act = choose("activation", activation, ACTIVATIONS)
        self.image_shape = None
        if in_features is None:
            if img_size is None:
                img_size = choose("in_chans (set img_size for other counts)", in_chans,
                                  DEFAULT_SIDE)
            self.image_shape = (in_chans, img_size, img_size)
            in_features = math.prod(self.image_shape)
        self.in_features = in_features
        sizes = [in_features, *hidden_sizes]
        layers = [nn.Flatten()]
        for n_in, n_out in zip(sizes, sizes[1:], strict=False):
            layers += [nn.Linear(n_in, n_out), act(), nn.Dropout(dropout)]
        self.layers = nn.Sequential(*layers, nn.Linear(sizes[-1], num_classes))

    def forward(self, x):
        if math.prod(x.shape[1:]) != self.in_features:
            got = "x".join(map(str, x.shape[1:]))
            if self.image_shape is None:
                raise ValueError(f"this MLP takes {self.in_features} values per row, got "
                                 f"{got}; set module__in_features to match the data")
            raise ValueError(
                f"this MLP takes {'x'.join(map(str, self.image_shape))} images, got {got}; "
                "set module__in_chans and module__img_size (or module__in_features) "
                "to match the data")
        return self.layers(x)
