"""The small "VGG-like" convnet of the Keras guide (Simonyan & Zisserman, 2015, in miniature)."""

from torch import nn


class SmallVGG(nn.Module):
    """[conv 32@3x3]x2 - maxpool - [conv 64@3x3]x2 - maxpool - dense 256 - classes.

    The "VGG-like convnet" of the Keras Sequential-model guide (unpadded 3x3
    convolutions, ReLU, dropout after each block), which reaches about 99% on MNIST.
    On 28x28 input the last feature map is 64x4x4; an adaptive average pool to 4x4
    (the identity there) lets the same net take 32x32 input.

    Parameters
    ----------
    num_classes : int, default=10
    in_chans : int, default=1
    dropout : float, default=0.25
        Dropout after each convolution block.
    fc_dropout : float, default=0.5
        Dropout before the output layer.
    fc_features : int, default=256
    """

    def __init__(self, num_classes=10, in_chans=1, dropout=0.25, fc_dropout=0.5,
                 fc_features=256):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3), nn.ReLU(), nn.Conv2d(cout, cout, 3), nn.ReLU(),
                    nn.MaxPool2d(2), nn.Dropout(dropout)]

        self.features = nn.Sequential(*block(in_chans, 32), *block(32, 64),
                                      nn.AdaptiveAvgPool2d(4))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 4 * 4, fc_features), nn.ReLU(),
            nn.Dropout(fc_dropout), nn.Linear(fc_features, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))
