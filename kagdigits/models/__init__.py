"""The estimators: the skorch base class, the registered classifiers, the ensemble, and
what training needs (inputs, augmentation, schedules, batching, devices).

Importing this package registers every model (:mod:`kagdigits.registry`).
"""

from kagdigits import registry
from kagdigits.models.classifiers import (
    AllCNNClassifier,
    KaggleCNNClassifier,
    LeNet5Classifier,
    MLP3Classifier,
    ResNet18Classifier,
    SmallVGGClassifier,
    WideResNetClassifier,
)
from kagdigits.models.ensemble import EnsembleClassifier, n_parameters
from kagdigits.registry import REGISTRY

__all__ = [
    "REGISTRY", "AllCNNClassifier", "EnsembleClassifier", "KaggleCNNClassifier",
    "LeNet5Classifier", "MLP3Classifier", "ResNet18Classifier", "SmallVGGClassifier",
    "WideResNetClassifier", "get_model_class", "list_models", "n_parameters",
]


def get_model_class(name):
    """The estimator class registered as ``name``; an error lists the known names. Defined
    here, not re-exported from :mod:`kagdigits.registry`, so that a function calling it,
    pickled for joblib or Dask workers, imports this package there and so every model."""
    return registry.get_model_class(name)


def list_models():
    """The registered names, sorted (defined here for the reason :func:`get_model_class` is)."""
    return registry.list_models()
