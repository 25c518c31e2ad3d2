"""Wide ResNet (Zagoruyko & Komodakis, 2016), WRN-depth-k with pre-activation blocks."""

from torch import nn


class WideBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3 plus a (1x1 conv) shortcut."""

    def __init__(self, cin, cout, stride, dropout):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.relu = nn.ReLU()
        self.shortcut = (None if cin == cout and stride == 1
                         else nn.Conv2d(cin, cout, 1, stride, bias=False))

    def forward(self, x):
        out = self.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.conv2(self.dropout(self.relu(self.bn2(self.conv1(out)))))
        return out + skip


class WideResNet(nn.Module):
    """WRN-``depth``-``widen_factor``: conv 16 then three groups of ``(depth - 4) / 6``
    wide blocks (16k, 32k, 64k channels; strides 1, 2, 2), BN-ReLU, global average, dense.

    Parameters
    ----------
    num_classes : int, default=10
    in_chans : int, default=1
    depth : int, default=16
        6n + 4 for n blocks per group (10, 16, 22, 28, ...).
    widen_factor : int, default=4
    dropout : float, default=0.0
        Dropout between the two convolutions of each block (the paper uses 0.3).
    """

    def __init__(self, num_classes=10, in_chans=1, depth=16, widen_factor=4, dropout=0.0):
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"Wide ResNet depth must be 6n+4 (10, 16, 22, ...), got {depth}")
        n = (depth - 4) // 6
        widths = [16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        layers = [nn.Conv2d(in_chans, 16, 3, 1, 1, bias=False)]
        cin = 16
        for i, width in enumerate(widths):
            for j in range(n):
                layers.append(WideBlock(cin, width, 2 if i and not j else 1, dropout))
                cin = width
        self.features = nn.Sequential(*layers, nn.BatchNorm2d(cin), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.fc(self.features(x))
