"""The estimators (thin skorch subclasses holding defaults) and the registry of names."""

from kagdigits.base import DigitClassifier
from kagdigits.nets import LeNet5


class LeNet5Classifier(DigitClassifier):
    """LeNet-5 as a scikit-learn classifier.

    Defaults from the seed study that reached 99.4% on MNIST: Adam, lr 2e-3,
    batch 128, learning rate x0.98 per epoch, up to 20 epochs with early stopping.
    Network options are ``module__activation``, ``module__pooling``, ``module__init``,
    ``module__dropout``, ``module__batchnorm`` (see :class:`kagdigits.nets.LeNet5`).
    See :class:`kagdigits.base.DigitClassifier` for the other parameters.
    """

    def __init__(self, module=LeNet5, **kwargs):
        super().__init__(module, **kwargs)


#: CLI name -> estimator class.
REGISTRY = {
    "lenet5": LeNet5Classifier,
}


def get_estimator_class(name):
    """The estimator class registered as ``name``; ``ValueError`` lists the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; known models: {', '.join(sorted(REGISTRY))}") from None
