"""All-CNN-C (Springenberg et al., 2015): only convolutions, strided instead of pooling."""

from torch import nn


class AllCNN(nn.Module):
    """All-CNN-C: [conv 96@3x3]x2 - conv 96@3x3/2 - [conv 192@3x3]x2 - conv 192@3x3/2 -
    conv 192@3x3 (unpadded) - conv 192@1x1 - conv classes@1x1 - global average.

    As in the paper: dropout on the input and after each strided convolution, ReLU
    after every convolution, 1,369,738 parameters on 3x32x32; except that the last
    convolution gives the logits, without a ReLU. On 28x28 input the final map is
    5x5 instead of 6x6.

    Parameters
    ----------
    num_classes : int, default=10
    in_chans : int, default=1
    input_dropout : float, default=0.2
    dropout : float, default=0.5
        Dropout after each stride-2 convolution.
    batchnorm : bool, default=False
        Batch normalisation after every convolution but the last (not in the paper;
        the net then trains in far fewer epochs).
    """

    def __init__(self, num_classes=10, in_chans=1, input_dropout=0.2, dropout=0.5,
                 batchnorm=False):
        super().__init__()

        def conv(cin, cout, kernel=3, stride=1, padding=1):
            if batchnorm:
                return [nn.Conv2d(cin, cout, kernel, stride, padding, bias=False),
                        nn.BatchNorm2d(cout), nn.ReLU()]
            return [nn.Conv2d(cin, cout, kernel, stride, padding), nn.ReLU()]

        self.layers = nn.Sequential(
            nn.Dropout(input_dropout),
            *conv(in_chans, 96), *conv(96, 96), *conv(96, 96, stride=2), nn.Dropout(dropout),
            *conv(96, 192), *conv(192, 192), *conv(192, 192, stride=2), nn.Dropout(dropout),
            *conv(192, 192, padding=0), *conv(192, 192, kernel=1, padding=0),
            nn.Conv2d(192, num_classes, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x):
        return self.layers(x)
