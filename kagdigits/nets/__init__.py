"""Plain PyTorch networks: ``num_classes`` and ``in_chans`` in, logits out."""

from kagdigits.nets.allcnn import AllCNN
from kagdigits.nets.common import count_params
from kagdigits.nets.kagglecnn import KaggleCNN
from kagdigits.nets.lenet import LeNet5
from kagdigits.nets.mlp import MLP
from kagdigits.nets.resnet import ResNet18
from kagdigits.nets.vgg import SmallVGG
from kagdigits.nets.wrn import WideResNet

__all__ = ["MLP", "AllCNN", "KaggleCNN", "LeNet5", "ResNet18", "SmallVGG", "WideResNet",
           "count_params"]
