"""The networks of the zoo: shapes, gradients, parameter counts and options."""

import pytest
import torch

from kagdigits.models import REGISTRY
from kagdigits.nets import MLP, AllCNN, LeNet5, ResNet18, WideResNet, count_params

NETS = {name: cls().module for name, cls in REGISTRY.items() if name != "ensemble"}
INPUTS = {"1x28x28": (1, 28), "3x32x32": (3, 32)}


@pytest.mark.parametrize("shape", INPUTS)
@pytest.mark.parametrize("name", NETS)
def test_forward_and_backward(name, shape):
    chans, side = INPUTS[shape]
    net = NETS[name](num_classes=10, in_chans=chans)
    x = torch.rand(3, chans, side, side)
    logits = net(x)
    assert logits.shape == (3, 10)
    assert torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2])).backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", NETS)
def test_num_classes_sets_the_output_width(name):
    assert NETS[name](num_classes=3).eval()(torch.rand(2, 1, 28, 28)).shape == (2, 3)


def test_published_parameter_counts():
    assert count_params(LeNet5()) == 61_706
    assert count_params(MLP()) == 64_630
    assert count_params(ResNet18(in_chans=3)) == 11_181_642  # torchvision's resnet18, 10 classes
    assert count_params(WideResNet(in_chans=3)) == 2_748_890  # WRN-16-4, ~2.7M in the paper
    assert count_params(AllCNN(in_chans=3)) == 1_369_738  # All-CNN-C, as in the paper


def test_allcnn_batchnorm_swaps_conv_biases_for_norm_layers():
    net = AllCNN(batchnorm=True)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 8 and net(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    # 8 convolutions lose their biases (1,248 values) and gain a scale and a shift each
    assert count_params(net) == count_params(AllCNN()) + 1_248


@pytest.mark.parametrize("options", [
    {"activation": "tanh", "pooling": "avg"},  # the 1998 form
    {"activation": "sigmoid", "init": "xavier"},
    {"activation": "elu", "init": "he", "dropout": 0.5, "batchnorm": True},
])
def test_lenet_options_keep_the_shape(options):
    net = LeNet5(**options)
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert count_params(net) == 61_706 + (2 * (6 + 16) if options.get("batchnorm") else 0)


@pytest.mark.parametrize("make", [
    lambda: LeNet5(activation="swish"), lambda: LeNet5(pooling="l2"),
    lambda: ResNet18(stem="tiny"), lambda: WideResNet(depth=15), lambda: MLP(in_chans=2),
])
def test_bad_options_raise_value_error(make):
    with pytest.raises(ValueError, match="choose one of|6n\\+4"):
        make()


def test_mlp_hidden_sizes_and_image_size():
    net = MLP(hidden_sizes=(32,), in_chans=2, img_size=10)
    assert count_params(net) == 200 * 32 + 32 + 32 * 10 + 10
    assert net(torch.rand(4, 2, 10, 10)).shape == (4, 10)


def test_mlp_names_the_fix_for_a_wrong_input_size():
    with pytest.raises(ValueError, match="1x28x28 images, got 3x32x32.*module__img_size"):
        MLP()(torch.rand(2, 3, 32, 32))


def test_resnet_stems():
    cifar, imagenet = ResNet18(stem="cifar"), ResNet18(stem="imagenet")
    assert cifar.conv1.kernel_size == (3, 3) and cifar.conv1.stride == (1, 1)
    assert isinstance(cifar.maxpool, torch.nn.Identity)
    assert imagenet.conv1.kernel_size == (7, 7) and imagenet.conv1.stride == (2, 2)
    assert isinstance(imagenet.maxpool, torch.nn.MaxPool2d)
    small = ResNet18(stem="small")
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, torch.nn.MaxPool2d)
    stage_input = {}
    small.layer1.register_forward_hook(lambda m, args, out: stage_input.update(shape=out.shape))
    assert small(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert stage_input["shape"][-2:] == (14, 14)  # the residual stages see 14x14


def test_wide_resnet_depth_and_width():
    small = WideResNet(depth=10, widen_factor=1)
    assert len([m for m in small.modules() if m.__class__.__name__ == "WideBlock"]) == 3
    assert small.fc.in_features == 64
    assert WideResNet(depth=22, widen_factor=2).fc.in_features == 128
