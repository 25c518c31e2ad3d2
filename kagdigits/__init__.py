"""kagdigits: scikit-learn classifiers for the Kaggle digit-recognizer competition."""

__version__ = "0.1.0"

#: public name -> (module, name there). Imported on first use (PEP 562), so that
#: ``kagdigits --help`` does not pay for importing torch and pandas; add new exports here.
#: The models come from ``kagdigits.models``, whose import registers them all.
_EXPORTS = {
    **{name: ("kagdigits.models", name) for name in (
        "REGISTRY", "LeNet5Classifier", "MLP3Classifier", "ResNet18Classifier",
        "SmallVGGClassifier", "AllCNNClassifier", "WideResNetClassifier",
        "KaggleCNNClassifier", "EnsembleClassifier", "get_model_class", "list_models")},
    "get_estimator_class": ("kagdigits.models", "get_model_class"),
    "read_test_csv": ("kagdigits.files.kaggle_csv", "read_test_csv"),
    "read_train_csv": ("kagdigits.files.kaggle_csv", "read_train_csv"),
    "write_submission": ("kagdigits.files.submission", "write_submission"),
    "save_model": ("kagdigits.runs.persist", "save_model"),
    "load_model": ("kagdigits.runs.persist", "load_model"),
}


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        module, attribute = _EXPORTS[name]
        return getattr(importlib.import_module(module), attribute)
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
    "get_model_class",
    "list_models",
    "load_model",
    "read_test_csv",
    "read_train_csv",
    "save_model",
    "write_submission",
    "__version__",
]
