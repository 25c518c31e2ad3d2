"""kagdigits: scikit-learn classifiers for the Kaggle digit-recognizer competition."""

__version__ = "0.1.0"

from kagdigits.estimators import REGISTRY, LeNet5Classifier, get_estimator_class  # noqa: E402
from kagdigits.kaggle_csv import read_test_csv, read_train_csv  # noqa: E402
from kagdigits.submission import write_submission  # noqa: E402

__all__ = [
    "REGISTRY",
    "LeNet5Classifier",
    "get_estimator_class",
    "read_test_csv",
    "read_train_csv",
    "write_submission",
    "__version__",
]
