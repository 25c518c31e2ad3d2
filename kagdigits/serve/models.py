"""The models ``kagdigits serve`` answers with: loading and checking ``.kd`` files, finding
the newest one, and training a first LeNet-5 on the demo set when there is none."""

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from skorch.callbacks import Callback

from kagdigits.errors import InputError, KagdigitsError
from kagdigits.files.demo import demo_arrays
from kagdigits.models import LeNet5Classifier, n_parameters
from kagdigits.runs.persist import load_model, model_name, save_model
from kagdigits.runs.tensors import read_header

#: Where ``kagdigits serve`` looks for models when given none, and the one it trains there.
MODELS_DIR = Path("models")
DEMO_MODEL = "lenet5-demo.kd"
#: The image shape served models must take: one grey 28x28 digit.
INPUT_SHAPE = (1, 28, 28)


@dataclass
class ServedModel:
    """A loaded model, its name on the page and in the API, and the facts ``GET /models``
    shows. ``predict_proba`` is serialised per model (one forward pass at a time)."""

    name: str
    path: Path
    estimator: object
    classes: list
    facts: dict
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def predict_proba(self, images):
        """Probabilities (n, len(classes)) for uint8 images (n, 1, 28, 28)."""
        with self.lock:
            return self.estimator.predict_proba(images)




def _check_input(path, name, estimator):
    """The classes of ``estimator`` after checking that it reads 1x28x28 digits."""
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is not None and n_features != int(np.prod(INPUT_SHAPE)):
        raise InputError(f"{path}: the {name} model does not take 1x28x28 digits (it takes "
                         f"{n_features} features per image); serve a model trained on 28x28 "
                         "grey digits")
    try:
        proba = estimator.predict_proba(np.zeros((1, *INPUT_SHAPE), dtype=np.uint8))
    except (RuntimeError, ValueError) as exc:
        detail = " ".join(str(exc).split())[:160]
        raise InputError(f"{path}: the {name} model does not take 1x28x28 digits ({detail}); "
                         "serve a model trained on 28x28 grey digits") from None
    classes = np.asarray(estimator.classes_).tolist()
    if proba.shape[1] != len(classes):
        raise InputError(f"{path}: the {name} model gives {proba.shape[1]} probabilities but "
                         f"knows {len(classes)} classes; retrain it with this kagdigits")
    return classes


def load_served(path, name=None, device="auto", precision="fp32"):
    """A :class:`ServedModel` of the ``.kd`` file ``path`` (never unpickled), checked to read
    1x28x28 digits; ``name`` defaults to the file's stem.

    ``precision`` is set on the estimator (its members): the default ``"fp32"`` is the
    arithmetic of the ONNX export, and on one image at a time it was about twice as fast
    here as the bf16 autocast that ``"auto"`` picks for training on CPUs with native bf16.
    """
    path = Path(path)
    estimator = load_model(path, device=device)
    for member in estimator.networks():
        member.set_params(precision=precision)
    kind = model_name(estimator)
    classes = _check_input(path, kind, estimator)
    metadata = read_header(path).get("__metadata__", {})
    stat = path.stat()
    facts = {
        "model": kind, "file": str(path), "classes": classes,
        "params": json.loads(metadata.get("params", "{}")),
        "trained_on": metadata.get("trained_on"), "serving_on": estimator.hardware_summary(),
        "parameters": n_parameters(estimator), "size_bytes": stat.st_size,
        "saved_at": datetime.fromtimestamp(stat.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return ServedModel(name or path.stem, path, estimator, classes, facts)


def load_all(paths, device="auto", precision="fp32"):
    """:class:`ServedModel` s of ``paths``, named by their stems, a run's ``model.kd`` by its
    run id (``-2``, ``-3`` on a clash)."""
    served, seen = [], {}
    for path in paths:
        path = Path(path)
        stem = path.parent.name if path.name == "model.kd" and path.parent.name else path.stem
        seen[stem] = seen.get(stem, 0) + 1
        served.append(load_served(path, stem if seen[stem] == 1 else f"{stem}-{seen[stem]}",
                                  device, precision))
    return served


def newest_model(folder=MODELS_DIR):
    """The most recently written ``.kd`` file in ``folder``, or ``None``."""
    files = [p for p in Path(folder).glob("*.kd") if p.is_file()] if Path(folder).is_dir() else []
    return max(files, key=lambda p: p.stat().st_mtime, default=None)


class EpochProgress(Callback):
    """A tqdm bar advanced once per epoch, showing the validation accuracy."""

    def __init__(self, bar):
        self.bar = bar

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        self.bar.update(1)
        if "valid_acc" in row:
            self.bar.set_postfix(valid_acc=f"{row['valid_acc']:.3f}")


def train_demo_model(path, max_epochs=None, device="auto", progress=True):
    """Train a LeNet-5 with its defaults on the demo set's 4,000 digits and save it to ``path``.

    Parameters
    ----------
    path : str or Path
        The ``.kd`` file to write (its folder is created); an existing file is an error.
    max_epochs : int or None, default=None
        ``None``: the model's default (up to 30, with early stopping).
    device : str, default="auto"
    progress : bool, default=True
        Show a progress bar over the epochs (on stderr).
    """
    from tqdm.auto import tqdm

    path = Path(path)
    if path.exists():
        raise KagdigitsError(f"{path} already exists; load it or choose another name")
    X, y, _, _ = demo_arrays()
    estimator = LeNet5Classifier(device=device, verbose=0)
    if max_epochs is not None:
        estimator.set_params(max_epochs=max_epochs)
    with tqdm(total=estimator.max_epochs, unit="epoch", desc="LeNet-5 on the demo set",
              disable=not progress, dynamic_ncols=True) as bar:
        estimator.set_params(callbacks=[("progress", EpochProgress(bar))]).fit(X, y)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_model(estimator, path)
