"""The skorch classifier every kagdigits estimator derives from.

It adds to skorch's ``NeuralNetClassifier``: input conversion (Kaggle DataFrames and
arrays of any image shape, see :mod:`kagdigits.inputs`), ``device="auto"``, a
``random_state`` for reproducible fits, per-epoch learning-rate decay and early
stopping that restores the best weights.
"""

import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping, LRScheduler
from skorch.dataset import ValidSplit
from torch.optim.lr_scheduler import ExponentialLR

from kagdigits.device import resolve_device
from kagdigits.inputs import to_images, to_labels


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
    train_split : callable or None, default=ValidSplit(0.1, stratified=True, random_state=0)
        Held-out validation split for early stopping; ``None`` trains on all rows
        for exactly ``max_epochs`` epochs.
    device : str, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    random_state : int or None, default=0
        Seeds torch before each fit, so the same seed gives the same predictions on CPU.
    lr_decay : float or None, default=0.98
        Multiply the learning rate by this after every epoch (``None``: constant).
    patience : int or None, default=5
        Stop after this many epochs without a lower validation loss and restore the
        best epoch's weights (``None``, or ``train_split=None``: no early stopping).
    **kwargs
        Any other skorch ``NeuralNet`` parameter (``callbacks``, ``verbose``, ...).
    """

    def __init__(self, module, *, criterion=torch.nn.CrossEntropyLoss,
                 optimizer=torch.optim.Adam, lr=2e-3, max_epochs=20, batch_size=128,
                 train_split=ValidSplit(0.1, stratified=True, random_state=0),  # noqa: B008
                 device="auto", random_state=0, lr_decay=0.98, patience=5, **kwargs):
        super().__init__(module, criterion=criterion, optimizer=optimizer, lr=lr,
                         max_epochs=max_epochs, batch_size=batch_size,
                         train_split=train_split, device=device, **kwargs)
        self.random_state = random_state
        self.lr_decay = lr_decay
        self.patience = patience

    # ``device`` keeps what the user set ("auto") as the parameter, while skorch's
    # internals read the concrete device.
    @property
    def device(self):
        return resolve_device(self.__dict__["device"])

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
        callbacks = list(super().get_default_callbacks())
        if self.lr_decay is not None:
            callbacks.append(("lr_decay", LRScheduler(ExponentialLR, gamma=self.lr_decay)))
        if self.patience is not None and self.train_split is not None:
            callbacks.append(("early_stopping", EarlyStopping(
                monitor="valid_loss", patience=self.patience, load_best=True)))
        return callbacks

    def initialize(self):
        if self.random_state is not None:
            torch.manual_seed(self.random_state)
        return super().initialize()

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train on images ``X`` (see :func:`kagdigits.inputs.to_images`) and labels.

        ``fit`` calls this after (re)initialising the network.
        """
        if not isinstance(X, torch.utils.data.Dataset):
            X = to_images(X)
        if y is not None:
            y = to_labels(y, self.get_params_for("module").get("num_classes", 10))
        return super().partial_fit(X, y, classes=classes, **fit_params)

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits); rows sum to 1."""
        if not isinstance(X, torch.utils.data.Dataset):
            X = to_images(X)
        return super().predict_proba(X)
