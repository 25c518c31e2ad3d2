"""What :class:`kagdigits.models.base.DigitClassifier` adds to skorch for scikit-learn's
contract: labels of any kind (``classes_``), ``n_features_in_``/``feature_names_in_``/
``input_shape_`` learnt at fit, inputs checked and converted before the network is built
(its sizes follow them), and ``set_params`` that never discards a trained network.
"""

import inspect
import math

import numpy as np
import scipy.sparse
from sklearn.utils.validation import validate_data
from skorch.utils import is_dataset

from kagdigits.errors import InputError
from kagdigits.models.augment import tta_views
from kagdigits.models.inputs import (
    check_labels,
    encode_labels,
    label_classes,
    to_inputs,
    warn_if_unlike_training,
)
from kagdigits.models.params import non_default_params, validate_params

#: Parameter prefixes whose change, on a fitted estimator, rebuilds that part at the next fit.
REBUILT = ("module", "compile", "criterion")


def _column_error(names, columns):
    """The error for DataFrame ``columns`` other than the ``names`` seen in fit (None: same)."""
    if not all(isinstance(c, str) for c in columns) or columns == list(names):
        return None
    if sorted(columns) == sorted(names):
        return InputError("X has the columns seen in fit but in another order; select "
                          "them in fit's order: X[estimator.feature_names_in_]")
    missing = [n for n in names if n not in set(columns)]
    unexpected = [c for c in columns if c not in set(names)]
    return InputError(f"X's columns differ from those seen in fit (missing: {missing[:5]}, "
                      f"unexpected: {unexpected[:5]}); pass the columns of fit, in fit's "
                      "order (estimator.feature_names_in_)")


class SklearnContract:
    """Mixin for a skorch ``NeuralNetClassifier`` (see the module's docstring)."""

    def _get_param_names(self):
        # skorch lists private attributes (``_params_to_validate``) as parameters too
        return [name for name in super()._get_param_names() if not name.startswith("_")]

    def __repr__(self):
        def shown(value):
            return value.__name__ if isinstance(value, type) else repr(value)

        params = ", ".join(f"{k}={shown(v)}" for k, v in non_default_params(self).items())
        return f"{type(self).__name__}({params})"

    def set_params(self, **kwargs):
        """Set parameters. On a fitted estimator the network is kept as it is until the
        next ``fit`` builds a new one (skorch would rebuild it now, discarding its weights);
        ``warm_start``/``partial_fit`` then carry the weights over (see :meth:`fit`)."""
        if not self.initialized_:
            return super().set_params(**kwargs)
        self.initialized_ = False  # skorch then only records the values
        try:
            super().set_params(**kwargs)
        finally:
            self.initialized_ = True
        for key in kwargs:
            part = key.split("__", 1)[0]
            if part in REBUILT or key == "optimizer":
                vars(self).setdefault("pending_changes_", {}).setdefault(part, []).append(key)
        return self

    def _apply_pending_changes(self):
        """Rebuild what ``set_params`` changed since the last fit (skorch's public
        ``initialize_*``), keeping the trained weights and the optimizer's state; a network
        of another shape is refused."""
        pending = getattr(self, "pending_changes_", {})
        if "module" in pending or "compile" in pending:
            old, state = self.module_, self.module_.state_dict()
            self.module_ = self.torch_compile(self.initialize_module().module_.to(self.device),
                                              name="module")
            try:
                self.module_.load_state_dict(state)
            except RuntimeError:
                self.module_ = old
                changed = ", ".join(pending.get("module", []) + pending.get("compile", []))
                raise InputError(
                    f"{changed} changes the network's shape, so warm_start/partial_fit cannot "
                    "keep the trained weights; set warm_start=False and fit to train a new "
                    "network") from None
        if pending:
            self.criterion_ = self.initialize_criterion().criterion_.to(self.device)
            optimizer, state = self.optimizer_, self.optimizer_.state_dict()
            self.initialize_optimizer()
            if type(self.optimizer_) is type(optimizer):
                self.optimizer_.load_state_dict(state)
        self.pending_changes_ = {}

    @property
    def classes_(self):
        """The sorted class labels learnt in ``fit`` (or given as ``classes``)."""
        if "classes_inferred_" in vars(self):
            return self.classes_inferred_
        if self.classes is not None and len(self.classes):
            return np.unique(np.asarray(self.classes))
        return super().classes_

    def check_data(self, X, y):
        """skorch's check; labels from ``fit`` are checked and encoded already, so only a
        ``Dataset`` without ``y`` tells its classes here."""
        if y is None:
            super().check_data(X, y)

    def _module_arguments(self):
        """The argument names of the network's class (none for an instance)."""
        if not isinstance(self.module, type):
            return set()
        try:
            return set(inspect.signature(self.module).parameters)
        except (TypeError, ValueError):
            return set()

    def _takes_features(self):
        """Whether the network takes flat rows of any width (its class has ``in_features``)."""
        return "in_features" in self._module_arguments()

    def get_params_for(self, prefix):
        """skorch's; for ``"module"`` also the network arguments learnt from the training
        data that the user left: ``num_classes`` (from ``classes_``), ``in_features`` or
        ``in_chans`` (the input shape)."""
        params = super().get_params_for(prefix)
        if prefix != "module":
            return params
        names, inferred = self._module_arguments(), {}
        classes, shape = vars(self).get("classes_inferred_"), vars(self).get("input_shape_")
        if classes is not None and "num_classes" in names:
            inferred["num_classes"] = len(classes)
        if shape is not None and "in_features" in names:
            if not {"in_features", "in_chans", "img_size"} & set(params):
                inferred["in_features"] = math.prod(shape)
        elif shape is not None and "in_chans" in names and len(shape) == 3:
            inferred["in_chans"] = shape[0]
        return {**inferred, **params}

    def fitted_inputs(self):
        """What ``fit`` learnt of its input, as plain values (for model files):
        ``n_features_in``, ``feature_names_in`` (if any) and ``input_shape``."""
        names = {"n_features_in": "n_features_in_", "feature_names_in": "feature_names_in_",
                 "input_shape": "input_shape_"}
        return {key: np.asarray(vars(self)[attr]).tolist() for key, attr in names.items()
                if attr in vars(self)}

    def restore_fitted(self, classes, inputs):
        """Set ``classes_`` and the :meth:`fitted_inputs` of a saved model, before
        ``initialize`` builds its network (whose sizes follow them)."""
        self.classes_inferred_ = np.asarray(classes)
        if "n_features_in" in inputs:
            self.n_features_in_ = int(inputs["n_features_in"])
        if "feature_names_in" in inputs:
            self.feature_names_in_ = np.asarray(inputs["feature_names_in"], dtype=object)
        if "input_shape" in inputs:
            self.input_shape_ = tuple(int(n) for n in inputs["input_shape"])
        return self

    def _checked_array(self, X, reset):
        """``X`` checked by scikit-learn (``n_features_in_``, ``feature_names_in_``, its
        messages for empty, complex, sparse or non-finite data), images kept N-D; a
        DataFrame whose columns differ from fit's is refused."""
        names = vars(self).get("feature_names_in_")
        if not reset and names is not None and hasattr(X, "columns"):
            error = _column_error(names, list(X.columns))
            if error is not None:
                raise error
        if not (hasattr(X, "columns") or scipy.sparse.issparse(X)):
            X = np.asarray(X)
        shape = X.shape[1:] if getattr(X, "ndim", 2) > 2 else None
        if shape is not None:
            X = X.reshape(len(X), -1)
        try:
            X = validate_data(self, X, reset=reset, dtype="numeric", ensure_min_samples=1)
        except ValueError as exc:
            raise InputError(" ".join(str(exc).split())) from None  # sklearn's words, one line
        return X if shape is None else X.reshape(len(X), *shape)

    def _network_input(self, X, reset, integers=False):
        """``X`` (checked) as the network reads it (:func:`kagdigits.models.inputs.to_inputs`;
        ``integers``: integer pixels kept as uint8, scaled batch by batch)."""
        shape = None if reset else vars(self).get("input_shape_")
        X = to_inputs(X, features=self._takes_features(), shape=shape, integers=integers)
        if reset:
            self.input_shape_ = tuple(X.shape[1:])
        elif shape is not None and tuple(X.shape[1:]) != tuple(shape):
            raise InputError(f"X holds rows of shape {'x'.join(map(str, X.shape[1:]))}, but "
                             f"the estimator was fitted on {'x'.join(map(str, shape))}; pass "
                             "data shaped like the training data")
        return X

    def _prepare_training(self, X, y, warm, classes=None):
        """Check the data, then initialise a new network, or carry on from the trained one
        (``warm``) after applying ``set_params`` changes; ``(X, y)`` to train on: ``X`` as
        the network reads it, ``y`` as class indices. A new network learns ``classes_``,
        ``n_features_in_``, ``input_shape_``... first."""
        warm = warm and "classes_inferred_" in vars(self)
        if not warm:
            validate_params(self)  # before any data are read
        if not is_dataset(X):
            if y is None:
                raise InputError(f"{type(self).__name__} requires y to be passed, but the "
                                 "target y is None")
            X = self._checked_array(X, reset=not warm)
            y = check_labels(y, len(X))
            if not warm:
                num_classes = super().get_params_for("module").get("num_classes")
                self.classes_inferred_ = label_classes(
                    y, self.classes if classes is None else classes, num_classes,
                    type(self).__name__)
            X, y = self._network_input(X, reset=not warm), encode_labels(y, self.classes_)
        if warm:
            self._apply_pending_changes()
        else:
            self.initialize()
        return X, y

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits), one column per ``classes_``;
        rows sum to 1. Integer pixels go to the device as uint8 and are scaled there, and
        the probabilities are read back once (``forward_proba``)."""
        self.check_is_fitted()
        if is_dataset(X):
            return self.forward_proba(X)
        X = self._network_input(self._checked_array(X, reset=False), reset=False,
                                integers=not self.tta)
        if not self.tta or X.ndim != 4:
            return self.forward_proba(X)
        total = 0
        for view in tta_views(X, self.tta, self.tta_params, self.random_state):
            total = total + self.forward_proba(view)
        return total / (1 + self.tta)

    def predict(self, X):
        """The most probable label of each row, a member of ``classes_``; warns when the
        images look unlike training digits (see
        :func:`~kagdigits.models.inputs.warn_if_unlike_training`)."""
        warn_if_unlike_training(X)
        index = self.predict_proba(X).argmax(axis=1)
        try:
            return self.classes_[index]
        except AttributeError:  # a network initialised but never fitted: class indices
            return index
