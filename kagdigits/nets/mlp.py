"""A multilayer perceptron matched to LeNet-5's size (784-80-20-10: 64,630 parameters)."""

from torch import nn

from kagdigits.nets.common import ACTIVATIONS, choose

#: Input side by channel count when ``img_size`` is not given: MNIST and CIFAR-10.
DEFAULT_SIDE = {1: 28, 3: 32}


class MLP(nn.Module):
    """Flatten - [linear - activation - dropout] per hidden layer - linear.

    A fully connected net needs the input size up front: ``img_size=None`` means
    28 with one channel (MNIST) and 32 with three (CIFAR-10).

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
    """

    def __init__(self, num_classes=10, in_chans=1, img_size=None, hidden_sizes=(80, 20),
                 activation="relu", dropout=0.0):
        super().__init__()
        act = choose("activation", activation, ACTIVATIONS)
        if img_size is None:
            img_size = choose("in_chans (set img_size for other counts)", in_chans, DEFAULT_SIDE)
        self.input_shape = (in_chans, img_size, img_size)
        sizes = [in_chans * img_size * img_size, *hidden_sizes]
        layers = [nn.Flatten()]
        for n_in, n_out in zip(sizes, sizes[1:], strict=False):
            layers += [nn.Linear(n_in, n_out), act(), nn.Dropout(dropout)]
        self.layers = nn.Sequential(*layers, nn.Linear(sizes[-1], num_classes))

    def forward(self, x):
        if tuple(x.shape[1:]) != self.input_shape:
            c, s, _ = self.input_shape
            raise ValueError(
                f"this MLP takes {c}x{s}x{s} images, got {'x'.join(map(str, x.shape[1:]))}; "
                "set module__in_chans and module__img_size to match the data")
        return self.layers(x)
