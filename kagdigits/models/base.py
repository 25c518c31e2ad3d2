"""The skorch classifier every kagdigits estimator derives from.

It adds to skorch's ``NeuralNetClassifier``: scikit-learn's contract (labels of any kind,
``n_features_in_`` and ``feature_names_in_``, parameters checked before any data are read,
``set_params`` that never discards a trained network), input conversion (Kaggle
DataFrames and arrays of any image shape, see :mod:`kagdigits.models.inputs`), ``device="auto"``, a
``random_state`` for reproducible fits, per-epoch learning-rate decay, early
stopping that restores the best weights, and speed: batches sliced from in-memory
tensors (:mod:`kagdigits.models.batching`), mixed precision and ``channels_last`` on CUDA.
"""

import inspect
import math

import numpy as np
import scipy.sparse
import torch
from sklearn.utils.validation import validate_data
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping, EpochScoring, LRScheduler
from skorch.dataset import get_len, unpack_data
from skorch.utils import TeeGenerator, is_dataset

from kagdigits.errors import InputError, choose
from kagdigits.models.augment import augmented, make_augment, tta_augment, tta_views
from kagdigits.models.averaging import WeightAverage
from kagdigits.models.batching import BatchIterator
from kagdigits.models.device import auto_channels_last, auto_precision, resolve_device
from kagdigits.models.inputs import (
    check_labels,
    encode_labels,
    label_classes,
    to_inputs,
    warn_if_unlike_training,
)
from kagdigits.models.params import non_default_params, validate_params
from kagdigits.models.progress import EpochTable, prediction_progress
from kagdigits.models.schedules import lr_schedule_callbacks
from kagdigits.models.splits import FallbackValidSplit

#: ``precision`` value -> autocast dtype (None: no autocast).
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

#: Built-in callbacks a user callback of the same kind replaces (see ``callbacks``).
REPLACEABLE = (EarlyStopping, LRScheduler)


def index_accuracy(net, X, y):
    """Accuracy of ``net`` on a validation split whose labels ``y`` are class indices (the
    ``valid_acc`` column; ``net.predict`` returns the original labels)."""
    return float(np.mean(net.predict_proba(X).argmax(axis=1) == np.asarray(y)))


def _kind_of(callback):
    """The built-in callback class ``callback`` (an instance, a class or a ``(name, callback)``
    pair) does the job of, or ``None``."""
    callback = callback[1] if isinstance(callback, tuple) else callback
    cls = callback if isinstance(callback, type) else type(callback)
    return next((kind for kind in REPLACEABLE if issubclass(cls, kind)), None)


class DigitClassifier(NeuralNetClassifier):
    """A scikit-learn classifier over a PyTorch image network (skorch).

    Parameters
    ----------
    module : type of torch.nn.Module
        The network; it takes ``num_classes`` and ``in_chans`` and returns logits.
        Set its arguments as ``module__<name>``. Unless you set them, ``num_classes``
        follows ``classes_``, ``in_chans`` the images' channels, and a network that
        takes ``in_features`` (the MLP) gets the number of features, all learnt at fit.
    criterion : default=torch.nn.CrossEntropyLoss
    optimizer : default=torch.optim.Adam
    lr : float, default=2e-3
    max_epochs : int, default=20
    batch_size : int, default=128
    train_split : callable or None, default=FallbackValidSplit(0.1, stratified=True, random_state=0)
        Held-out validation split for early stopping (stratified; on data too small for
        that, a plain random split, with a warning: :mod:`kagdigits.models.splits`);
        ``None`` trains on all rows for exactly ``max_epochs`` epochs.
    device : str, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    random_state : int or None, default=0
        Seeds torch before each fit, so the same seed gives the same predictions on CPU.
    lr_decay : float or None, default=0.98
        Multiply the learning rate by this after every epoch (``None``: constant);
        used by ``lr_schedule="exponential"``.
    lr_schedule : {"exponential", "onecycle", "plateau"} or None, default="exponential"
        Learning-rate schedule (see :mod:`kagdigits.models.schedules`): ``lr_decay`` per
        epoch, one cycle over all batches peaking at ``lr``, or halve after 2 epochs
        without a lower validation loss; ``None``: constant.
    patience : int or None, default=5
        Stop after this many epochs without a lower validation loss and restore the
        best epoch's weights (``None``, or ``train_split=None``: no early stopping).
    iterator_train, iterator_valid : callable, default=kagdigits.models.batching.BatchIterator
        Batches sliced from the whole data held as tensors on the training device
        (moved there once per ``fit``/``predict``); same batches, weights and
        predictions as skorch's default ``torch.utils.data.DataLoader``, which you
        may set here instead (it is used anyway for a custom ``Dataset``).
    iterator_train__shuffle : bool, default=True
        Shuffle the training rows every epoch (skorch's own default is False).
    iterator_valid__batch_size : int, default=1024
        Batch size for validation and prediction (no gradients, so larger batches).
    precision : {"auto", "bf16", "fp16", "fp32"}, default="auto"
        Mixed precision (``torch.autocast``) for the forward passes; weights and
        optimizer stay float32 and outputs are returned as float32. ``"auto"``, decided
        at ``initialize`` on the machine that runs it: bf16 on CUDA GPUs with native
        bf16 (compute capability 8.0 and newer) and on CPUs with native bf16 (AVX-512
        BF16 / AMX), fp16 on CUDA GPUs of compute capability 7.x, else fp32
        (:func:`kagdigits.models.device.auto_precision`). ``"fp16"`` adds loss
        scaling (``torch.amp.GradScaler``).
    channels_last : bool or "auto", default="auto"
        Store the network and its input batches in ``torch.channels_last`` memory
        format; ``"auto"``: for networks with 2-D convolutions on CUDA, and on the
        CPU under bf16 (:func:`kagdigits.models.device.auto_channels_last`).
    compile : bool, default=False
        ``torch.compile`` the network (skorch's option; ``compile__<name>`` sets its
        arguments, e.g. ``compile__mode="max-autotune"``).
    augment : "affine", class or None, default=None
        Random augmentation of the training batches on the training device, never of
        validation or prediction batches: ``"affine"`` (:class:`kagdigits.models.augment.Augment`:
        rotation, zoom, shift; optionally elastic distortion and random erasing) or
        a class like it, built with the ``augment__<name>`` parameters (e.g.
        ``augment__rotation=15``); ``None``: off. It applies to image input only
        (a network taking other features trains on them as given).
    ema : float or None, default=None
        Keep an exponential moving average of the weights with this decay per training
        step (e.g. 0.99) and validate, stop early and predict with it
        (:mod:`kagdigits.models.averaging`); ``None``: off. A resumed run restarts the
        average from the checkpoint's (averaged) weights.
    tta : int, default=0
        Test-time augmentation: ``predict_proba`` averages the probabilities of the images
        and of ``tta`` randomly augmented copies of them (0: off; validation during
        training never uses it).
    tta_params : dict or None, default=None
        The :class:`kagdigits.models.augment.Augment` parameters of those copies
        (``None``: :data:`kagdigits.models.augment.TTA_PARAMS`; for clothes, e.g.
        ``{"rotation": 0, "zoom": 0, "shift": 0.05, "flip": 0.5}``).
    callbacks : list or None, default=None
        skorch callbacks added to the built-in ones. A callback doing the job of a
        built-in one replaces it: an ``EarlyStopping`` replaces the built-in early
        stopping (``patience``), an ``LRScheduler`` the built-in schedule
        (``lr_schedule``/``lr_decay``). To turn a built-in one off instead, set
        ``patience=None`` or ``lr_schedule=None``.
    **kwargs
        Any other skorch ``NeuralNet`` parameter (``verbose``, ``warm_start``, ...).
        ``classes`` lists the labels when ``y`` may lack some (e.g. a small fold).

    Attributes
    ----------
    classes_ : ndarray
        The sorted labels seen in ``fit`` (any kind: integers, strings, ...); ``predict``
        returns them and ``predict_proba``'s columns follow their order.
    n_features_in_ : int
        Values per row seen in ``fit`` (784 for 28x28 images).
    feature_names_in_ : ndarray of str
        The column names, when ``fit`` was given a DataFrame with string column names;
        predicting on a frame whose columns differ (or come in another order) is refused.
    input_shape_ : tuple
        One row as the network reads it: (C, H, W) images or (n_features,).

    Notes
    -----
    Every parameter's values are checked (:data:`kagdigits.models.params.PARAMETERS`)
    when the estimator is initialised, at the start of ``fit``, before any data are read.
    ``set_params`` on a fitted estimator keeps its network until the next ``fit``,
    which builds a new one; with ``warm_start=True`` (or ``partial_fit``) training goes on
    from the trained weights, and a change of the network's shape is refused.
    """

    #: ``augment__<name>`` parameters are routed to the ``augment`` class.
    prefixes_ = [*NeuralNetClassifier.prefixes_, "augment"]

    def __init__(self, module, *, criterion=torch.nn.CrossEntropyLoss,
                 optimizer=torch.optim.Adam, lr=2e-3, max_epochs=20, batch_size=128,
                 train_split=FallbackValidSplit(0.1, stratified=True, random_state=0),  # noqa: B008
                 device="auto", random_state=0, lr_decay=0.98, patience=5,
                 iterator_train=BatchIterator, iterator_valid=BatchIterator,
                 iterator_train__shuffle=True, iterator_valid__batch_size=1024,
                 precision="auto", channels_last="auto",
                 compile=False, lr_schedule="exponential", augment=None, ema=None, tta=0,
                 tta_params=None, **kwargs):
        super().__init__(module, criterion=criterion, optimizer=optimizer, lr=lr,
                         max_epochs=max_epochs, batch_size=batch_size,
                         train_split=train_split, device=device,
                         iterator_train=iterator_train, iterator_valid=iterator_valid,
                         iterator_train__shuffle=iterator_train__shuffle,
                         iterator_valid__batch_size=iterator_valid__batch_size,
                         compile=compile, **kwargs)
        self.random_state = random_state
        self.lr_decay = lr_decay
        self.patience = patience
        self.precision = precision
        self.channels_last = channels_last
        self.lr_schedule = lr_schedule
        self.augment = augment
        self.ema = ema
        self.tta = tta
        self.tta_params = tta_params

    # ``device`` keeps what the user set ("auto") as the parameter, while skorch's
    # internals read the concrete device.
    @property
    def device(self):
        device = self.__dict__["device"]
        return resolve_device(device) if device == "auto" else device

    @device.setter
    def device(self, value):
        self.__dict__["device"] = value

    def get_params(self, deep=True, **kwargs):
        params = super().get_params(deep=deep, **kwargs)
        params["device"] = self.__dict__["device"]
        return params

    def __setstate__(self, state):
        requested = state["device"]
        if requested == "auto":
            state["device"] = resolve_device("auto")
        super().__setstate__(state)
        if requested == "auto":
            self.__dict__["device"] = "auto"

    @property
    def stops_early(self):
        """Whether training can end before ``max_epochs``: a ``patience`` and a validation
        split to watch."""
        return self.patience is not None and self.train_split is not None

    def get_default_callbacks(self):
        replaced = {_kind_of(callback) for callback in self.callbacks or []}
        callbacks = []
        for name, callback in super().get_default_callbacks():
            if name == "print_log":
                callback = EpochTable()
            elif name == "valid_acc":
                callback = EpochScoring(index_accuracy, name="valid_acc", lower_is_better=False)
            callbacks.append((name, callback))
        if LRScheduler not in replaced:
            callbacks.extend(lr_schedule_callbacks(self))
        if EarlyStopping not in replaced and self.stops_early:
            callbacks.append(("early_stopping", EarlyStopping(
                monitor="valid_loss", patience=self.patience, load_best=True)))
        return callbacks

    def initialize(self):
        validate_params(self)  # one clear line for a bad value, before any work
        resolve_device(self.device)  # a clear error for an unusable device, before any work
        make_augment(self)  # a clear error for a bad augmentation, before any work
        tta_augment(self.tta_params)  # and for bad test-time copies
        if self.random_state is not None:
            torch.manual_seed(self.random_state)
        super().initialize()
        self.pending_changes_ = {}
        return self

    def __repr__(self):
        def shown(value):
            return value.__name__ if isinstance(value, type) else repr(value)

        params = ", ".join(f"{k}={shown(v)}" for k, v in non_default_params(self).items())
        return f"{type(self).__name__}({params})"

    # --- scikit-learn's contract: set_params, labels, features ---------------------------

    def _get_param_names(self):
        # skorch lists private attributes (``_params_to_validate``) as parameters too
        return [name for name in super()._get_param_names() if not name.startswith("_")]

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
            if part in ("module", "compile", "criterion") or key == "optimizer":
                vars(self).setdefault("pending_changes_", {}).setdefault(part, []).append(key)
        return self

    def _apply_pending_changes(self):
        """Rebuild what ``set_params`` changed since the last fit, keeping the trained
        weights (and the optimizer's state); a network of another shape is refused."""
        pending = getattr(self, "pending_changes_", {})
        if "module" in pending or "compile" in pending:
            old, state = self.module_, self.module_.state_dict()
            self._initialize_module()
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
            self._initialize_criterion()
            optimizer, state = self.optimizer_, self.optimizer_.state_dict()
            self._initialize_optimizer()
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

    def _inferred_module_params(self):
        """The network arguments learnt from the training data, for those the user left:
        ``num_classes`` (from ``classes_``), ``in_features`` or ``in_chans`` (input shape)."""
        names, user = self._module_arguments(), super().get_params_for("module")
        inferred = {}
        classes = vars(self).get("classes_inferred_")
        if classes is not None and "num_classes" in names:
            inferred["num_classes"] = len(classes)
        shape = vars(self).get("input_shape_")
        if shape is not None and "in_features" in names:
            if not {"in_features", "in_chans", "img_size"} & set(user):
                inferred["in_features"] = math.prod(shape)
        elif shape is not None and "in_chans" in names and len(shape) == 3:
            inferred["in_chans"] = shape[0]
        return inferred

    def get_params_for(self, prefix):
        params = super().get_params_for(prefix)
        if prefix == "module":
            params = {**self._inferred_module_params(), **params}
        return params

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

    def _check_columns(self, X):
        """Refuse a DataFrame whose column names differ from those seen in ``fit``."""
        names = vars(self).get("feature_names_in_")
        if names is None or not hasattr(X, "columns"):
            return
        columns = list(X.columns)
        if not all(isinstance(c, str) for c in columns) or columns == list(names):
            return
        if sorted(columns) == sorted(names):
            raise InputError("X has the columns seen in fit but in another order; select "
                             "them in fit's order: X[estimator.feature_names_in_]")
        missing = [n for n in names if n not in set(columns)]
        unexpected = [c for c in columns if c not in set(names)]
        raise InputError(f"X's columns differ from those seen in fit (missing: {missing[:5]}, "
                         f"unexpected: {unexpected[:5]}); pass the columns of fit, in fit's "
                         "order (estimator.feature_names_in_)")

    def _checked_array(self, X, reset):
        """``X`` checked by scikit-learn (``n_features_in_``, ``feature_names_in_``, its
        messages for empty, complex, sparse or non-finite data), images kept N-D."""
        if not reset:
            self._check_columns(X)
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

    def _network_input(self, X, reset):
        """Checked ``X`` as the network reads it (:func:`kagdigits.models.inputs.to_inputs`)."""
        shape = None if reset else vars(self).get("input_shape_")
        X = to_inputs(X, features=self._takes_features(), shape=shape)
        if reset:
            self.input_shape_ = tuple(X.shape[1:])
        elif shape is not None and tuple(X.shape[1:]) != tuple(shape):
            raise InputError(f"X holds rows of shape {'x'.join(map(str, X.shape[1:]))}, but "
                             f"the estimator was fitted on {'x'.join(map(str, shape))}; pass "
                             "data shaped like the training data")
        return X

    def _training_data(self, X, y, reset, classes=None):
        """``(X, y)`` for training: checked, ``X`` as the network reads it and ``y`` as class
        indices; ``reset`` learns ``classes_``, ``n_features_in_``, ``input_shape_``..."""
        if is_dataset(X):
            return X, y
        name = type(self).__name__
        if y is None:
            raise InputError(f"{name} requires y to be passed, but the target y is None")
        X = self._checked_array(X, reset)
        y = check_labels(y, len(X))
        if reset:
            num_classes = super().get_params_for("module").get("num_classes")
            self.classes_inferred_ = label_classes(
                y, self.classes if classes is None else classes, num_classes, name)
        return self._network_input(X, reset), encode_labels(y, self.classes_)

    def _prepare_training(self, X, y, warm, classes=None):
        """Check the data, then initialise a new network, or carry on from the trained one
        (``warm``) after applying ``set_params`` changes; ``(X, y)`` to train on."""
        warm = warm and "classes_inferred_" in vars(self)
        if not warm:
            validate_params(self)  # before any data are read
        X, y = self._training_data(X, y, reset=not warm, classes=classes)
        if warm:
            self._apply_pending_changes()
        else:
            self.initialize()
        return X, y

    def fit(self, X, y=None, **fit_params):
        """Train a new network on ``X`` and labels ``y`` (any kind: ``classes_``); ``self``.

        ``X``: a DataFrame or array of images (see :func:`kagdigits.models.inputs.to_inputs`),
        or features for a network that takes them. With ``warm_start=True`` a fitted
        estimator trains on from its weights instead.
        """
        X, y = self._prepare_training(X, y, self.warm_start and self.initialized_)
        return super().partial_fit(X, y, _routing_method="fit", **fit_params)

    def _device_type(self):
        return torch.device(self.device or "cpu").type

    def resolved_precision(self):
        """``"fp32"``, ``"bf16"`` or ``"fp16"``: what ``precision`` means on this machine
        and device (``"auto"``: :func:`kagdigits.models.device.auto_precision`)."""
        if self.precision == "auto":
            return auto_precision(self.device, getattr(self, "module_", None))
        choose({"auto": None, **PRECISIONS}, self.precision, "precision")
        return self.precision

    def _autocast_dtype(self):
        """The dtype ``precision`` asks for on this device (None: no autocast)."""
        return PRECISIONS[self.resolved_precision()]

    def _uses_channels_last(self):
        if self.channels_last == "auto":
            return auto_channels_last(self.device, self.resolved_precision(), self.module_)
        return bool(self.channels_last)

    def hardware_summary(self):
        """One line naming what training uses: ``cpu, bf16 autocast, channels_last``."""
        precision = self.resolved_precision()
        parts = [str(self.device), "fp32" if precision == "fp32" else f"{precision} autocast"]
        if hasattr(self, "module_"):
            parts.append("channels_last" if self._uses_channels_last() else "contiguous")
        return ", ".join(parts)

    def initialize_module(self):
        super().initialize_module()
        if self._uses_channels_last():
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        return self

    def fit_loop(self, X, y=None, epochs=None, **kwargs):
        """skorch's training loop. ``epochs=None`` trains up to ``max_epochs`` counting the
        epochs a checkpoint callback restored (its ``resumed_epochs_``), so a resumed run
        ends where the uninterrupted one would."""
        if epochs is None:
            restored = max((getattr(cb, "resumed_epochs_", 0) for _, cb in self.callbacks_),
                           default=0)
            epochs = max(self.max_epochs - restored, 0)
        return super().fit_loop(X, y, epochs=epochs, **kwargs)

    def forward_iter(self, X, training=False, device="cpu"):
        """skorch's batch-by-batch forward pass; with ``verbose >= 2`` a prediction longer
        than a few seconds shows a progress bar (:mod:`kagdigits.models.progress`)."""
        outputs = super().forward_iter(X, training=training, device=device)
        return prediction_progress(outputs, get_len(X), 0 if training else self.verbose)

    def get_iterator(self, dataset, training=False):
        iterator = super().get_iterator(dataset, training=training)
        iterator = iterator.to(self.device) if isinstance(iterator, BatchIterator) else iterator
        images = len(vars(self).get("input_shape_", (1, 28, 28))) == 3
        return augmented(self, iterator) if training and images else iterator

    def infer(self, x, **fit_params):
        """The module's output on batch ``x``, under ``precision``'s autocast, as float32."""
        if self._uses_channels_last() and torch.is_tensor(x) and x.dim() == 4:
            x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        dtype = self._autocast_dtype()
        if dtype is None:
            return super().infer(x, **fit_params)
        with torch.autocast(self._device_type(), dtype=dtype):
            y = super().infer(x, **fit_params)
        return y.float()

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        if self.verbose:
            print(f"Training on {self.hardware_summary()}.", flush=True)
        fp16 = self._autocast_dtype() is torch.float16
        self.grad_scaler_ = torch.amp.GradScaler(self._device_type()) if fp16 else None
        self.weight_average_ = WeightAverage(self.module_, self.ema) if self.ema else None

    def on_epoch_begin(self, net, **kwargs):
        super().on_epoch_begin(net, **kwargs)
        if getattr(self, "weight_average_", None) is not None:
            self.weight_average_.swap_out(self.module_)  # train on the trained weights

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        super().on_batch_end(net, batch=batch, training=training, **kwargs)
        if training and getattr(self, "weight_average_", None) is not None:
            self.weight_average_.update(self.module_)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        if training and getattr(self, "weight_average_", None) is not None:
            self.weight_average_.swap_in(self.module_)  # validate, checkpoint with the EMA

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        self.grad_scaler_ = None
        self.weight_average_ = None  # the network keeps the averaged weights

    def train_step(self, batch, **fit_params):
        """One optimizer step; with ``precision="fp16"`` the loss is scaled (GradScaler)."""
        scaler = getattr(self, "grad_scaler_", None)
        if scaler is None:
            return super().train_step(batch, **fit_params)
        self._zero_grad_optimizer()
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        scaler.scale(loss).backward()
        optimizers = [getattr(self, name + "_") for name in self._optimizers]
        for optimizer in optimizers:
            scaler.unscale_(optimizer)  # callbacks (e.g. gradient clipping) see true gradients
        self.notify("on_grad_computed", training=True, batch=batch,
                    named_parameters=TeeGenerator(self.get_all_learnable_params()))
        for optimizer in optimizers:
            scaler.step(optimizer)
        scaler.update()
        return {"loss": loss, "y_pred": y_pred}

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train on ``X`` and labels ``y`` for ``max_epochs``, from the trained weights when
        fitted (``classes``: every label, on the first call, as in scikit-learn); ``self``."""
        X, y = self._prepare_training(X, y, self.initialized_, classes=classes)
        return super().partial_fit(X, y, **fit_params)

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits), one column per ``classes_``;
        rows sum to 1."""
        self.check_is_fitted()
        if is_dataset(X):
            return super().predict_proba(X)
        X = self._network_input(self._checked_array(X, reset=False), reset=False)
        if not self.tta or X.ndim != 4:
            return super().predict_proba(X)
        total = 0
        for view in tta_views(X, self.tta, self.tta_params, self.random_state):
            total = total + super().predict_proba(view)
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
