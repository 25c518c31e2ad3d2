"""The skorch classifier every kagdigits estimator derives from.

It adds to skorch's ``NeuralNetClassifier``: input conversion (Kaggle DataFrames and
arrays of any image shape, see :mod:`kagdigits.models.inputs`), ``device="auto"``, a
``random_state`` for reproducible fits, per-epoch learning-rate decay, early
stopping that restores the best weights, and speed: batches sliced from in-memory
tensors (:mod:`kagdigits.models.batching`), mixed precision and ``channels_last`` on CUDA.
"""

import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping
from skorch.dataset import get_len, unpack_data
from skorch.utils import TeeGenerator

from kagdigits.errors import choose
from kagdigits.models.augment import augmented, make_augment
from kagdigits.models.batching import BatchIterator
from kagdigits.models.device import auto_channels_last, auto_precision, resolve_device
from kagdigits.models.inputs import to_images, to_labels
from kagdigits.models.progress import EpochTable, prediction_progress
from kagdigits.models.schedules import lr_schedule_callbacks
from kagdigits.models.splits import FallbackValidSplit

#: ``precision`` value -> autocast dtype (None: no autocast).
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class DigitClassifier(NeuralNetClassifier):
    """A scikit-learn classifier over a PyTorch image network (skorch).

    Parameters
    ----------
    module : type of torch.nn.Module
        The network; it takes ``num_classes`` and ``in_chans`` and returns logits.
        Set its arguments as ``module__<name>``.
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
        ``augment__rotation=15``); ``None``: off.
    **kwargs
        Any other skorch ``NeuralNet`` parameter (``callbacks``, ``verbose``, ...).
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
                 compile=False, lr_schedule="exponential", augment=None, **kwargs):
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

    def get_default_callbacks(self):
        callbacks = [(name, EpochTable() if name == "print_log" else callback)
                     for name, callback in super().get_default_callbacks()]
        callbacks.extend(lr_schedule_callbacks(self))
        if self.patience is not None and self.train_split is not None:
            callbacks.append(("early_stopping", EarlyStopping(
                monitor="valid_loss", patience=self.patience, load_best=True)))
        return callbacks

    def initialize(self):
        resolve_device(self.device)  # a clear error for an unusable device, before any work
        make_augment(self)  # a clear error for a bad augmentation, before any work
        if self.random_state is not None:
            torch.manual_seed(self.random_state)
        return super().initialize()

    def _device_type(self):
        return torch.device(self.device or "cpu").type

    def resolved_precision(self):
        """``"fp32"``, ``"bf16"`` or ``"fp16"``: what ``precision`` means on this machine
        and device (``"auto"``: :func:`kagdigits.models.device.auto_precision`)."""
        if self.precision == "auto":
            return auto_precision(self.device)
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
        return augmented(self, iterator) if training else iterator

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

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        self.grad_scaler_ = None

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
        """Train on images ``X`` (see :func:`kagdigits.models.inputs.to_images`) and labels.

        ``fit`` calls this after (re)initialising the network.
        """
        if not isinstance(X, torch.utils.data.Dataset):
            X = to_images(X)
        if y is not None:
            y = to_labels(y, self.get_params_for("module").get("num_classes", 10))
        return super().partial_fit(X, y, classes=classes, **fit_params)

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits); rows sum to 1."""
        self.check_is_fitted()
        if not isinstance(X, torch.utils.data.Dataset):
            X = to_images(X)
        return super().predict_proba(X)
