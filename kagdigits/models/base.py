"""The skorch classifier every kagdigits estimator derives from.

It adds to skorch's ``NeuralNetClassifier``: scikit-learn's contract and input conversion
(:mod:`kagdigits.models.contract`), ``device="auto"``, a ``random_state`` for reproducible
fits, learning-rate schedules, early stopping that restores the best weights, a weight
average (:mod:`kagdigits.models.callbacks`), and speed: batches sliced from in-memory
tensors (:mod:`kagdigits.models.batching`), mixed precision and ``channels_last``, fused
Adam on CUDA, and epochs without a host-device sync per batch (:meth:`run_single_epoch`).

It works through skorch's documented override points (``get_*``, ``initialize_*``,
``train_step``, ``infer``, the net's ``on_*`` methods) and callbacks. Three skorch
methods are overridden where skorch has no hook; each docstring says why: ``fit`` and
``partial_fit`` (the data must be checked, and the network's sizes learnt from them,
before skorch builds the network) and ``run_single_epoch`` (skorch's reads every batch's
loss on the host). The skorch versions this is tested with are pinned in pyproject.toml.
"""

import torch
from skorch import NeuralNetClassifier
from skorch.dataset import get_len, unpack_data
from skorch.utils import TeeGenerator, to_numpy

from kagdigits.models.augment import AUGMENTATIONS, augmented, make_augment, tta_augment
from kagdigits.models.batching import BatchIterator, to_device
from kagdigits.models.callbacks import default_callbacks, needs_batch_values
from kagdigits.models.constraints import (
    BOOLEAN,
    CALLABLE,
    CLASS,
    DICT,
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_TTA,
    NONE,
    Integer,
    Number,
    Options,
)
from kagdigits.models.contract import SklearnContract
from kagdigits.models.device import PRECISIONS, HardwareChoices, resolve_device
from kagdigits.models.estimate import estimate_line
from kagdigits.models.graphs import capture, release, wants_graphs
from kagdigits.models.inputs import scaled_batch
from kagdigits.models.params import validate_params
from kagdigits.models.progress import prediction_progress
from kagdigits.models.schedules import SCHEDULES
from kagdigits.models.splits import FallbackValidSplit
from kagdigits.models.threads import use_threads
from kagdigits.registry import registered_name

#: Optimizers that take ``fused=True`` (one kernel per step on CUDA).
FUSABLE = (torch.optim.Adam, torch.optim.AdamW)


class DigitClassifier(SklearnContract, HardwareChoices, NeuralNetClassifier):
    """A scikit-learn classifier over a PyTorch image network (skorch).

    Parameters
    ----------
    module : type of torch.nn.Module
        The network; it takes ``num_classes`` and ``in_chans`` and returns logits.
        Set its arguments as ``module__<name>``. Unless you set them, ``num_classes``
        follows ``classes_``, ``in_chans`` the images' channels, and a network that
        takes ``in_features`` (the MLP) gets the number of features, all learnt at fit.
    criterion : default=torch.nn.CrossEntropyLoss
        The loss, on the network's logits (``criterion__<name>`` sets its arguments).
    optimizer : default=torch.optim.Adam
        The optimizer's class (``optimizer__<name>`` sets its arguments).
    lr : float, default=2e-3
        The optimizer's learning rate (with ``lr_schedule="onecycle"``: the peak).
    max_epochs : int, default=20
        At most this many epochs (100,000 at most); early stopping (``patience``) can
        end sooner.
    batch_size : int, default=128
        Rows per training batch (2**20 at most; also ``iterator_*__batch_size``).
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
    compile : bool or "auto", default="auto"
        ``True``: ``torch.compile`` the network (skorch's option; ``compile__<name>`` sets
        its arguments, e.g. ``compile__mode="max-autotune"``). ``"auto"``: on a CUDA device,
        replay the network's forward and backward passes of each full training batch as
        CUDA graphs, captured at the first batch of each fit
        (:mod:`kagdigits.models.graphs`; a capture that fails warns once and trains
        eagerly); on the CPU nothing (compiling measured slower there than eager).
        ``False``: eager.
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
        and of ``tta`` randomly augmented copies of them (0: off, at most 100; validation
        during training never uses it).
    tta_params : dict or None, default=None
        The :class:`kagdigits.models.augment.Augment` parameters of those copies
        (``None``: :data:`kagdigits.models.augment.TTA_PARAMS`; for clothes, e.g.
        ``{"rotation": 0, "zoom": 0, "shift": 0.05, "flip": 0.5}``).
    n_threads : "auto", int or None, default="auto"
        CPU threads torch computes with during ``fit``: ``"auto"`` the cores this process
        may use that other jobs leave free, decided once per process
        (:mod:`kagdigits.models.threads`); a number: that many; ``None``: torch's setting.
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
    device_ : str
        The device ``device`` stands for (``"auto"``: ``"cuda"``, ``"mps"`` or ``"cpu"``).
    precision_ : {"fp32", "bf16", "fp16"}
        What ``precision`` means on ``device_`` for this network.
    channels_last_ : bool
        Whether the network and its image batches are in ``torch.channels_last`` format.

    Notes
    -----
    Every parameter's values are checked against ``_parameter_constraints`` (a registered
    classifier adds its network's options; :func:`kagdigits.models.params.validate_params`)
    at the start of ``fit``, before any data are read, once: ``initialize`` checks them
    again only if they changed since. ``device_``, ``precision_`` and ``channels_last_`` are
    decided once per fit, when the network is built; a pickled estimator decides them again
    where it is loaded, as that machine may differ.
    ``set_params`` on a fitted estimator keeps its network until the next ``fit``,
    which builds a new one; with ``warm_start=True`` (or ``partial_fit``) training goes on
    from the trained weights, and a change of the network's shape is refused.
    """

    #: ``augment__<name>`` parameters are routed to the ``augment`` class.
    prefixes_ = [*NeuralNetClassifier.prefixes_, "augment"]

    #: The values each parameter takes (:mod:`kagdigits.models.constraints`).
    _parameter_constraints = {
        "lr": [Number(0)], "max_epochs": [Integer(1, MAX_EPOCHS)],
        "batch_size": [Integer(1, MAX_BATCH)],
        "patience": [Integer(1), NONE], "lr_decay": [Number(0, open=("low",)), NONE],
        "lr_schedule": [Options(SCHEDULES), NONE], "precision": [Options(("auto", *PRECISIONS))],
        "channels_last": [BOOLEAN, Options(("auto",))], "compile": [BOOLEAN, Options(("auto",))],
        "random_state": [Integer(0, 2**32 - 1), NONE], "verbose": [Integer(0), BOOLEAN],
        "warm_start": [BOOLEAN], "train_split": [CALLABLE, NONE],
        "augment": [Options(tuple(AUGMENTATIONS)), CLASS, NONE],
        "ema": [Number(0, 1, open=("low", "high")), NONE], "tta": [Integer(0, MAX_TTA)],
        "tta_params": [DICT, NONE], "iterator_train__batch_size": [Integer(1, MAX_BATCH)],
        "iterator_valid__batch_size": [Integer(1, MAX_BATCH)], "iterator_train__shuffle": [BOOLEAN],
        "criterion__label_smoothing": [Number(0, 1)], "module__num_classes": [Integer(2)],
        "module__in_chans": [Integer(1)], "optimizer__weight_decay": [Number(0)],
        "optimizer__momentum": [Number(0)], "n_threads": [Options(("auto",)), Integer(1), NONE],
    }

    def __init__(self, module, *, criterion=torch.nn.CrossEntropyLoss,
                 optimizer=torch.optim.Adam, lr=2e-3, max_epochs=20, batch_size=128,
                 train_split=FallbackValidSplit(0.1, stratified=True, random_state=0),  # noqa: B008
                 device="auto", random_state=0, lr_decay=0.98, patience=5,
                 iterator_train=BatchIterator, iterator_valid=BatchIterator,
                 iterator_train__shuffle=True, iterator_valid__batch_size=1024,
                 precision="auto", channels_last="auto",
                 compile="auto", lr_schedule="exponential", augment=None, ema=None, tta=0,
                 tta_params=None, n_threads="auto", **kwargs):
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
        self.n_threads = n_threads

    @property
    def stops_early(self):
        """Whether training can end before ``max_epochs``: a ``patience`` and a validation
        split to watch."""
        return self.patience is not None and self.train_split is not None

    def estimated_cost(self, X, y=None, fits=1):
        """One line: how long ``fit`` on ``X`` (labels ``y``) may take on this machine
        (:func:`kagdigits.models.estimate.estimate_line`; ``fits``: that many)."""
        return estimate_line(registered_name(self) or type(self).__name__, self, X, y, fits)

    def networks(self):
        """The one-network estimators this estimator is made of: ``[self]`` (an ensemble
        answers its members; code that saves, exports or serves models loops over these)."""
        return [self]

    def get_default_callbacks(self):
        """:func:`kagdigits.models.callbacks.default_callbacks`."""
        return default_callbacks(self, super().get_default_callbacks())

    def initialize(self):
        """skorch's, after one clear line for any bad parameter value (before any work),
        deciding the device (``device_``; ``precision_`` and ``channels_last_`` follow when
        the network is built, :meth:`initialize_module`) and seeding torch with
        ``random_state``."""
        validate_params(self)  # once per fit: skipped when nothing changed since the last check
        self.device_ = resolve_device(self.__dict__["device"])  # a clear error if unusable
        make_augment(self)  # and for a bad augmentation
        tta_augment(self.tta_params)  # and for bad test-time copies
        if self.random_state is not None:
            torch.manual_seed(self.random_state)
        super().initialize()
        self.pending_changes_ = {}
        return self

    def initialize_module(self):
        """skorch's, then what ``precision`` and ``channels_last`` mean for this network on
        ``device_`` (:func:`~kagdigits.models.device.decide_hardware`, once: the batches
        read the choice), in that memory format."""
        super().initialize_module()
        self._decide_hardware(self.device_)
        if self.channels_last_:
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        return self

    def torch_compile(self, module, name):
        """skorch's ``torch.compile`` for ``compile=True``; ``compile="auto"`` leaves the
        module as it is (its CUDA graphs are captured at the first training batch)."""
        return module if self.compile == "auto" else super().torch_compile(module, name)

    def get_params_for_optimizer(self, prefix, named_parameters):
        """skorch's, with ``fused=True`` for Adam and AdamW on CUDA (one kernel per step, and
        the fp16 loss scaler's inf check stays on the device) unless ``optimizer__fused`` or
        ``optimizer__foreach`` is set."""
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if (prefix == "optimizer" and self._device_type() == "cuda"
                and self.optimizer in FUSABLE and not {"fused", "foreach"} & set(kwargs)):
            kwargs["fused"] = True
        return args, kwargs

    def fit(self, X, y=None, **fit_params):
        """Train a new network on ``X`` and labels ``y`` (any kind: ``classes_``); ``self``.

        ``X``: a DataFrame or array of images (see :func:`kagdigits.models.inputs.to_inputs`),
        or features for a network that takes them. With ``warm_start=True`` a fitted
        estimator trains on from its weights instead. Overrides skorch's ``fit``, which has
        no hook between receiving the data and building the network: here the data are
        checked and the network's sizes learnt from them first.
        """
        X, y = self._prepare_training(X, y, self.warm_start and self.initialized_)
        return super().partial_fit(X, y, _routing_method="fit", **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train on ``X`` and labels ``y`` for ``max_epochs``, from the trained weights when
        fitted (``classes``: every label, on the first call, as in scikit-learn); ``self``.
        Overrides skorch's for the reason :meth:`fit` does."""
        X, y = self._prepare_training(X, y, self.initialized_, classes=classes)
        return super().partial_fit(X, y, **fit_params)

    def forward_iter(self, X, training=False, device="cpu"):
        """skorch's batch-by-batch forward pass; with ``verbose >= 2`` a prediction longer
        than a few seconds shows a progress bar (:mod:`kagdigits.models.progress`)."""
        outputs = super().forward_iter(X, training=training, device=device)
        return prediction_progress(outputs, get_len(X), 0 if training else self.verbose)

    def get_iterator(self, dataset, training=False):
        """skorch's; a :class:`BatchIterator` moves its data to the device once, and training
        batches of images are augmented (``augment``)."""
        iterator = super().get_iterator(dataset, training=training)
        iterator = iterator.to(self.device) if isinstance(iterator, BatchIterator) else iterator
        images = len(vars(self).get("input_shape_", (1, 28, 28))) == 3
        return augmented(self, iterator) if training and images else iterator

    def forward_proba(self, X):
        """skorch's ``predict_proba`` (the prediction nonlinearity over :meth:`forward_iter`'s
        outputs) with every batch's probabilities kept on the device and read to the host
        once, at the end (skorch reads each batch back); a numpy array."""
        nonlin = self._get_predict_nonlinearity()
        probas = [nonlin(out[0] if isinstance(out, tuple) else out)
                  for out in self.forward_iter(X, training=False, device=None)]
        return to_numpy(torch.cat(probas))

    def infer(self, x, **fit_params):
        """The module's output on batch ``x``, under ``precision``'s autocast, as float32;
        a uint8 batch (prediction's integer pixels) is moved to the device and scaled
        there first (:func:`kagdigits.models.inputs.scaled_batch`)."""
        if torch.is_tensor(x) and x.dtype == torch.uint8:
            x = scaled_batch(to_device(x, self.device_))
        if self.channels_last_ and torch.is_tensor(x) and x.dim() == 4:
            x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        dtype = PRECISIONS[self.precision_]
        if (vars(self).get("graph_capture_") == "pending" and self.module_.training
                and torch.is_grad_enabled() and torch.is_tensor(x)):
            captured = capture(self.module_, to_device(x, self.device_), dtype)
            self.graph_capture_ = "captured" if captured else "failed"
        if dtype is None:
            return super().infer(x, **fit_params)
        with torch.autocast(self._device_type(), dtype=dtype):
            y = super().infer(x, **fit_params)
        return y.float()

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        threads = use_threads(self.n_threads) if self._device_type() == "cpu" else None
        if self.verbose:
            print(f"Training on {self.hardware_summary()}."
                  f"{f' Threads: {threads}.' if threads else ''}", flush=True)
        fp16 = self.precision_ == "fp16"
        self.grad_scaler_ = torch.amp.GradScaler(self._device_type()) if fp16 else None
        #: "pending" (captured at the first training batch), then "captured" or "failed";
        #: "off" without ``compile="auto"`` on CUDA.
        self.graph_capture_ = "pending" if wants_graphs(self.compile, self.device_) else "off"

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        self.grad_scaler_ = None
        release(self.module_)  # the network's own forward again: it copies and pickles

    def train_step(self, batch, **fit_params):
        """One optimizer step: skorch's, or with ``precision="fp16"`` (``grad_scaler_``) a
        scaled loss whose gradients are unscaled before ``on_grad_computed`` (so callbacks,
        e.g. gradient clipping, see true ones) and a step without a closure (the scaler takes
        none). With a fused optimizer (CUDA) the scaler's inf check stays on the device; with
        another, ``GradScaler.step`` reads it on the host."""
        scaler = getattr(self, "grad_scaler_", None)
        if scaler is None:
            return super().train_step(batch, **fit_params)
        self.optimizer_.zero_grad(set_to_none=True)
        self.module_.train()
        self.criterion_.train()
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        scaler.scale(loss).backward()
        scaler.unscale_(self.optimizer_)
        self.notify("on_grad_computed", training=True, batch=batch,
                    named_parameters=TeeGenerator(self.get_all_learnable_params()))
        scaler.step(self.optimizer_)
        scaler.update()
        return {"loss": loss, "y_pred": y_pred}

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """skorch's epoch loop without a host-device sync per batch.

        skorch's loop (which has no hook for this) reads every batch's loss with
        ``.item()``, so a GPU waits for the host after each step. Here the losses stay on
        the device and are read once, after the last batch, into the same per-batch history
        entries (``<prefix>_loss``, the same numbers; ``<prefix>_batch_size`` is read from
        the batch's shape as it comes), before ``on_epoch_end`` scores the epoch.
        ``on_batch_end`` still gets each step's ``loss`` and ``y_pred`` tensors. When a
        callback reads a batch's loss from the history during the epoch
        (:func:`kagdigits.models.callbacks.needs_batch_values`), skorch's loop runs instead.
        """
        if iterator is None or needs_batch_values(self.callbacks_):
            return super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        rows, losses = [], []
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            rows.append(self.history[-1]["batches"][-1])
            step = step_fn(batch, **fit_params)
            losses.append(step["loss"].detach())
            rows[-1][prefix + "_batch_size"] = get_len(
                batch[0] if isinstance(batch, tuple | list) else batch)
            self.notify("on_batch_end", batch=batch, training=training, **step)
        for row, loss in zip(rows, torch.stack(losses).tolist() if losses else [],
                             strict=True):
            row[prefix + "_loss"] = loss
        self.history.record(prefix + "_batch_count", len(rows))
