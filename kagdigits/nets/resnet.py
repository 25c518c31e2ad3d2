"""ResNet-18 (He et al., 2016): torchvision's network with a stem for small images."""

from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from kagdigits.nets.common import choose

STEMS = ("cifar", "imagenet", "small")


class ResNet18(ResNet):
    """torchvision's ``resnet18`` (same layers and parameter names), adapted to
    ``in_chans`` input channels and a choice of stem.

    Parameters
    ----------
    num_classes : int, default=10
    in_chans : int, default=1
    stem : {"imagenet", "small", "cifar"}, default="imagenet"
        ``"imagenet"``: 7x7 stride-2 convolution and 3x3 stride-2 max-pool, as in
        torchvision (28x28 input reaches the residual stages at 7x7).
        ``"small"``: 3x3 stride-1 convolution, then that max-pool (stages see 14x14):
        about a quarter of ``"cifar"``'s compute.
        ``"cifar"``: 3x3 stride-1 convolution and no max-pool (stages see 28x28);
        usually more accurate on small images but about 9x more compute per image.
    """

    def __init__(self, num_classes=10, in_chans=1, stem="imagenet"):
        super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
        choose("stem", stem, dict.fromkeys(STEMS))
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_chans, 64, 7, 2, 3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_chans, 64, 3, 1, 1, bias=False)
        if stem == "cifar":
            self.maxpool = nn.Identity()
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
