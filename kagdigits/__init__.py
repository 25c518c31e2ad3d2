"""kagdigits: scikit-learn classifiers for the Kaggle digit-recognizer competition."""

__version__ = "0.1.0"

#: public name -> the module that defines it. Imported on first use (PEP 562), so that
#: ``kagdigits --help`` does not pay for importing torch and pandas; add new exports here.
_EXPORTS = {
    "REGISTRY": "kagdigits.estimators",
    "LeNet5Classifier": "kagdigits.estimators",
    "MLP3Classifier": "kagdigits.estimators",
    "ResNet18Classifier": "kagdigits.estimators",
    "SmallVGGClassifier": "kagdigits.estimators",
    "AllCNNClassifier": "kagdigits.estimators",
    "WideResNetClassifier": "kagdigits.estimators",
    "KaggleCNNClassifier": "kagdigits.estimators",
    "EnsembleClassifier": "kagdigits.ensemble",
    "get_estimator_class": "kagdigits.estimators",
    "read_test_csv": "kagdigits.kaggle_csv",
    "read_train_csv": "kagdigits.kaggle_csv",
    "write_submission": "kagdigits.submission",
}


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'kagdigits' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "REGISTRY",
    "LeNet5Classifier",
    "MLP3Classifier",
    "ResNet18Classifier",
    "SmallVGGClassifier",
    "AllCNNClassifier",
    "WideResNetClassifier",
    "KaggleCNNClassifier",
    "EnsembleClassifier",
    "get_estimator_class",
    "read_test_csv",
    "read_train_csv",
    "write_submission",
    "__version__",
]
