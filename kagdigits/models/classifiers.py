"""The registered estimators: thin skorch subclasses holding each model's defaults.

Each estimator's defaults train it on the demo set (4,000 digits) within 10 minutes
on 2 CPU cores; pass ``max_epochs`` (``--epochs``) for longer runs on a GPU. The
parameters not listed in a docstring are those of
:class:`kagdigits.models.base.DigitClassifier`; network options are ``module__<name>``.
"""

from kagdigits.models.base import DigitClassifier
from kagdigits.models.constraints import PROBABILITY, Number
from kagdigits.nets import MLP, AllCNN, KaggleCNN, LeNet5, ResNet18, SmallVGG, WideResNet
from kagdigits.registry import register_model

AUGMENTED = {"augment": "affine", "augment__rotation": 0, "augment__zoom": 0.05,
             "augment__shift": 0.05, "criterion__label_smoothing": 0.1}
"""The defaults every registered network adds to :class:`~kagdigits.models.base.DigitClassifier`'s,
where they were measured to help (docs/benchmarks/accuracy.md): light augmentation of the
training batches (``augment="affine"``: zoom and shift up to 5%, no rotation) and label
smoothing 0.1. Each can be set like any other parameter (``augment=None``: off)."""


@register_model("lenet5")
class LeNet5Classifier(DigitClassifier):
    """LeNet-5 (LeCun et al., 1998): two conv + pool layers, three dense layers.

    Defaults from the seed study that reached 99.4% on MNIST: Adam, lr 2e-3,
    batch 128, learning rate x0.98 per epoch, early stopping; plus light
    augmentation (zoom and shift up to 5%, no rotation) and label smoothing 0.1 for
    up to 30 epochs, which lifted demo-set test accuracy from 0.963 to 0.978 (mean
    of 5 seeds) and Fashion-MNIST's from 0.901 to 0.912 (docs/benchmarks/accuracy.md).
    Network options are ``module__activation``, ``module__pooling``, ``module__init``,
    ``module__dropout``, ``module__batchnorm`` (see :class:`kagdigits.nets.LeNet5`).

    Parameters
    ----------
    max_epochs : int, default=30
        At most 30 epochs; early stopping (``patience``) can end sooner.
    augment : str, default="affine"
        With ``augment__rotation=0``, ``augment__zoom=0.05``, ``augment__shift=0.05`` and
        ``criterion__label_smoothing=0.1``: the :data:`AUGMENTED` defaults.
    """

    _parameter_constraints = {"module__dropout": [PROBABILITY]}

    def __init__(self, module=LeNet5, *, max_epochs=30, **kwargs):
        super().__init__(module, max_epochs=max_epochs, **{**AUGMENTED, **kwargs})


@register_model("mlp")
class MLP3Classifier(DigitClassifier):
    """Perceptron 784-80-20-10, sized like LeNet-5 (64,630 parameters).

    Named so that it does not shadow ``sklearn.neural_network.MLPClassifier``. It takes
    any number of features: its input size is learnt at fit (``module__in_features``),
    so it can follow a ``PCA`` or take other tabular data; rows of 784, 1,024 or 3,072
    values and N-D arrays are read as images (and augmented), other rows as given.
    Network options: ``module__hidden_sizes``, ``module__activation``,
    ``module__dropout``, ``module__img_size`` (see :class:`kagdigits.nets.MLP`).
    Light augmentation and label smoothing lifted its demo-set test accuracy from
    0.915 to 0.954 (mean of 3 seeds; docs/benchmarks/accuracy.md).

    Parameters
    ----------
    max_epochs : int, default=40
        At most 40 epochs; early stopping (``patience``) can end sooner.
    augment : str, default="affine"
        With ``augment__rotation=0``, ``augment__zoom=0.05``, ``augment__shift=0.05`` and
        ``criterion__label_smoothing=0.1``: the :data:`AUGMENTED` defaults.
    """

    _parameter_constraints = {"module__dropout": [PROBABILITY]}

    def __init__(self, module=MLP, *, max_epochs=40, **kwargs):
        super().__init__(module, max_epochs=max_epochs, **{**AUGMENTED, **kwargs})


@register_model("resnet18")
class ResNet18Classifier(DigitClassifier):
    """ResNet-18 (He et al., 2016) from torchvision, with a stem for 28x28 digits.

    The default ``module__stem="small"`` (3x3 stride-1 convolution + max-pool, so the
    residual stages see 14x14 instead of the ImageNet stem's 7x7) with light
    augmentation and label smoothing lifted its demo-set test accuracy from 0.952
    (ImageNet stem, no augmentation) to 0.985 in 222 CPU-seconds (bf16, 15 epochs;
    docs/benchmarks/accuracy.md); at Fashion-MNIST's scale (60,000 images) they reach 0.9372 in
    77 CPU-minutes. ``module__stem="imagenet"`` is torchvision's form (about 1.8x
    cheaper), ``"cifar"`` keeps 28x28 (about 2.3x dearer; see
    :class:`kagdigits.nets.ResNet18`).

    Parameters
    ----------
    lr : float, default=1e-3
        The optimizer's learning rate.
    max_epochs : int, default=15
        At most 15 epochs; early stopping (``patience``) can end sooner.
    module__stem : str, default="small"
        The network's first layers (see :class:`kagdigits.nets.ResNet18`).
    augment : str, default="affine"
        With ``augment__rotation=0``, ``augment__zoom=0.05``, ``augment__shift=0.05`` and
        ``criterion__label_smoothing=0.1``: the :data:`AUGMENTED` defaults.
    """

    def __init__(self, module=ResNet18, *, lr=1e-3, max_epochs=15, **kwargs):
        super().__init__(module, lr=lr, max_epochs=max_epochs,
                         **{"module__stem": "small", **AUGMENTED, **kwargs})


@register_model("vgg")
class SmallVGGClassifier(DigitClassifier):
    """The small VGG-like convnet of the Keras guide (after Simonyan & Zisserman, 2015).

    Light augmentation and label smoothing lifted its demo-set 5-fold CV accuracy from
    0.9726 to 0.9806 (bf16, 20 epochs, 225 CPU-seconds for 5 fits; 30 epochs gave the
    same 0.9806; docs/benchmarks/accuracy.md); on Fashion-MNIST they cost a little (0.9210 against
    0.9238, one seed). Network options: ``module__dropout``,
    ``module__fc_dropout``, ``module__fc_features`` (see :class:`kagdigits.nets.SmallVGG`).

    Parameters
    ----------
    lr : float, default=1e-3
        The optimizer's learning rate.
    augment : str, default="affine"
        With ``augment__rotation=0``, ``augment__zoom=0.05``, ``augment__shift=0.05`` and
        ``criterion__label_smoothing=0.1``: the :data:`AUGMENTED` defaults.
    """

    _parameter_constraints = {"module__dropout": [PROBABILITY], "module__fc_dropout": [PROBABILITY]}

    def __init__(self, module=SmallVGG, *, lr=1e-3, **kwargs):
        super().__init__(module, lr=lr, **{**AUGMENTED, **kwargs})


@register_model("allcnn")
class AllCNNClassifier(DigitClassifier):
    """All-CNN-C (Springenberg et al., 2015): strided convolutions instead of pooling.

    Defaults: batch normalisation after every convolution but the last
    (``module__batchnorm=True``, no input dropout) with light augmentation and label
    smoothing for 10 epochs, which lifted its demo-set 5-fold CV accuracy from 0.9568
    (the paper's form, no augmentation, 15 epochs) to 0.9846 in 180 CPU-seconds per
    fit (bf16; docs/benchmarks/accuracy.md); 0.9187 on Fashion-MNIST (60,000 images,
    47 CPU-minutes).
    ``module__batchnorm=False, module__input_dropout=0.2`` is the paper's network.
    Network options: ``module__input_dropout``, ``module__dropout``,
    ``module__batchnorm`` (see :class:`kagdigits.nets.AllCNN`).

    Parameters
    ----------
    lr : float, default=1e-3
        The optimizer's learning rate.
    max_epochs : int, default=10
        At most 10 epochs; early stopping (``patience``) can end sooner.
    module__batchnorm : bool, default=True
        Batch normalization after each convolution.
    module__input_dropout : float, default=0
        Dropout on the input pixels.
    augment : str, default="affine"
        With ``augment__rotation=0``, ``augment__zoom=0.05``, ``augment__shift=0.05`` and
        ``criterion__label_smoothing=0.1``: the :data:`AUGMENTED` defaults.
    """

    _parameter_constraints = {"module__dropout": [PROBABILITY],
                              "module__input_dropout": [PROBABILITY]}

    def __init__(self, module=AllCNN, *, lr=1e-3, max_epochs=10, **kwargs):
        super().__init__(module, lr=lr, max_epochs=max_epochs,
                         **{"module__batchnorm": True, "module__input_dropout": 0,
                            **AUGMENTED, **kwargs})


@register_model("wrn")
class WideResNetClassifier(DigitClassifier):
    """Wide ResNet (Zagoruyko & Komodakis, 2016), WRN-16-4 by default.

    Light augmentation and label smoothing lifted its demo-set 5-fold CV accuracy from
    0.9736 to 0.9800 (8 epochs, 189 CPU-seconds per fit in bf16; docs/benchmarks/accuracy.md); on
    Fashion-MNIST they cost a little (0.9297 against 0.9310, one seed).
    Network options: ``module__depth``, ``module__widen_factor``, ``module__dropout``
    (see :class:`kagdigits.nets.WideResNet`).

    Parameters
    ----------
    lr : float, default=1e-3
        The optimizer's learning rate.
    max_epochs : int, default=8
        At most 8 epochs; early stopping (``patience``) can end sooner.
    augment : str, default="affine"
        With ``augment__rotation=0``, ``augment__zoom=0.05``, ``augment__shift=0.05`` and
        ``criterion__label_smoothing=0.1``: the :data:`AUGMENTED` defaults.
    """

    _parameter_constraints = {"module__dropout": [PROBABILITY]}

    def __init__(self, module=WideResNet, *, lr=1e-3, max_epochs=8, **kwargs):
        super().__init__(module, lr=lr, max_epochs=max_epochs, **{**AUGMENTED, **kwargs})


@register_model("kagglecnn")
class KaggleCNNClassifier(DigitClassifier):
    """The CNN of the best-known Kaggle digit-recognizer ensembles (Deotte, 2018).

    Trained with one cycle of the learning rate (peak 3e-3) over a fixed 60 epochs, batch 64,
    rotation up to 10 degrees, zoom and shift up to 5%, label smoothing 0.1 and an average of
    the weights (``ema=0.99``); with no early stopping (it would cut the cycle short), so the
    10% validation split only reports. What that rests on, demo set, 5-fold CV, bf16
    (docs/benchmarks/accuracy.md): 0.9924 +- 0.0037 against 0.9902 +- 0.0025 for the earlier
    defaults
    (Deotte's lr 1e-3 x0.95 per epoch, 40 epochs with early stopping), which beat 0.9872 for
    fewer epochs without rotation or EMA; Deotte's stronger augmentation (+-10% zoom and
    shift) gave 0.9872, test-time augmentation 0.9868, an elastic distortion
    (``augment__elastic=34``) 0.9876, training on every row (``train_split=None``) 0.9902.
    The same schedule is the best single model found for Fashion-MNIST. About 290
    CPU-seconds per demo fit. The ensemble trains its members with Deotte's own recipe
    instead (:data:`kagdigits.models.ensemble.RECIPE`).
    Network options: ``module__dropout``, ``module__width`` (see :class:`kagdigits.nets.KaggleCNN`).

    Parameters
    ----------
    lr : float, default=3e-3
        The one cycle's peak.
    lr_schedule : str, default="onecycle"
        One cycle over all the batches, peaking at ``lr``.
    patience : int or None, default=None
        No early stopping: every epoch of the cycle is trained.
    batch_size : int, default=64
        Rows per training batch.
    max_epochs : int, default=60
        Exactly 60 epochs (no early stopping).
    ema : float, default=0.99
        Predict with an average of the weights (see ``ema`` in the base class).
    augment : str, default="affine"
        With ``augment__rotation=10``, ``augment__zoom=0.05``, ``augment__shift=0.05`` and
        ``criterion__label_smoothing=0.1``: the :data:`AUGMENTED` defaults, with rotation.
    """

    _parameter_constraints = {"module__dropout": [PROBABILITY],
                              "module__width": [Number(0, open=("low",))]}

    def __init__(self, module=KaggleCNN, *, lr=3e-3, lr_schedule="onecycle", patience=None,
                 batch_size=64, max_epochs=60, ema=0.99, **kwargs):
        super().__init__(module, lr=lr, lr_schedule=lr_schedule, patience=patience,
                         batch_size=batch_size, max_epochs=max_epochs, ema=ema,
                         **{**AUGMENTED, "augment__rotation": 10, **kwargs})
