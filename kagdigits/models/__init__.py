"""The estimators: the skorch base class, the registered classifiers, the ensemble, and
what training needs (inputs, augmentation, schedules, batching, devices).

Importing this package registers every model (:mod:`kagdigits.registry`).
"""

from kagdigits.models.classifiers import (
    AllCNNClassifier,
    KaggleCNNClassifier,
    LeNet5Classifier,
    MLP3Classifier,
    ResNet18Classifier,
    SmallVGGClassifier,
    WideResNetClassifier,
)
from kagdigits.models.ensemble import (
    EnsembleClassifier,
    is_ensemble,
    n_parameters,
    single_networks,
)
from kagdigits.registry import REGISTRY, get_model_class, list_models

__all__ = [
    "REGISTRY", "AllCNNClassifier", "EnsembleClassifier", "KaggleCNNClassifier",
    "LeNet5Classifier", "MLP3Classifier", "ResNet18Classifier", "SmallVGGClassifier",
    "WideResNetClassifier", "get_model_class", "is_ensemble", "list_models", "n_parameters",
    "single_networks",
]
