"""The CNN of the best-known Kaggle digit-recognizer ensembles (Deotte, 2018)."""

from torch import nn


class KaggleCNN(nn.Module):
    """Conv32(3)-Conv32(3)-Conv32(5, stride 2), the same with 64, Conv128(4), dense.

    Every convolution is followed by ReLU and batch normalisation (Keras order); each
    of the two blocks ends in dropout, and so does the flattened 128-feature layer.
    The stride-2 convolutions are "same"-padded, the others unpadded, so on 28x28
    input the last map is 128x1x1; a global average pool (the identity there) lets
    the same net take 32x32 input. About 99.6% single-model on MNIST with augmentation
    (C. Deotte, "How to choose CNN Architecture MNIST", Kaggle, 2018).

    Parameters
    ----------
    num_classes : int, default=10
    in_chans : int, default=1
    dropout : float, default=0.4
    width : float, default=1.0
        Multiplies every convolution's channels (32, 64 and 128 at 1.0; 0.5 gives 16, 32
        and 64 at about a quarter of the arithmetic, for the quick tiers of the time budget).
    """

    def __init__(self, num_classes=10, in_chans=1, dropout=0.4, width=1.0):
        super().__init__()
        c1, c2, c3 = (max(1, round(c * width)) for c in (32, 64, 128))

        def conv(cin, cout, kernel, stride=1):
            padding = kernel // 2 if stride > 1 else 0
            return [nn.Conv2d(cin, cout, kernel, stride, padding), nn.ReLU(),
                    nn.BatchNorm2d(cout)]

        def block(cin, cout):
            return [*conv(cin, cout, 3), *conv(cout, cout, 3), *conv(cout, cout, 5, 2),
                    nn.Dropout(dropout)]

        self.features = nn.Sequential(*block(in_chans, c1), *block(c1, c2), *conv(c2, c3, 4),
                                      nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                        nn.Linear(c3, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))
