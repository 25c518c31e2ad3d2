"""Exporting fitted estimators to ONNX, checked with onnxruntime before the file is written.

The graph takes one input, ``pixels``: float32 images of shape (batch, C, H, W) with any
batch size, scaled as the estimators scale integer pixels (grey levels 0..255 divided by
255, so 0..1; ink high, as in Kaggle's CSVs). It gives ``probabilities`` (batch, n_classes),
the columns in the order of the estimator's ``classes_``, and, for integer classes,
``label`` (batch,): the class with the highest probability. The model's metadata
(``metadata_props``) hold ``classes`` (JSON), ``kagdigits_model`` (the registry name),
``input`` (the scaling above), ``trained_on`` and ``kagdigits_version``.

The graph computes in float32 whatever ``precision`` the estimator predicts with, so it is
compared with the same networks run in float32 by PyTorch. An ensemble is one graph: the
mean of its members' softmax outputs. Needs the ``serve`` extra (``onnx``, ``onnxruntime``,
``onnxscript``).
"""

import contextlib
import copy
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kagdigits import __version__
from kagdigits.errors import InputError, KagdigitsError, Param
from kagdigits.files.atomic import atomic_write, check_target
from kagdigits.files.demo import demo_arrays
from kagdigits.models.inputs import to_images
from kagdigits.runs.persist import is_fitted, model_name

#: Images the export is checked on (at most), and how close its probabilities must be.
N_CHECK = 256
ATOL = 1e-4
INPUT_DOC = ("pixels: float32 (batch, C, H, W); grey levels 0..255 divided by 255 (0..1, "
             "ink high, as in Kaggle's CSVs), as the kagdigits estimators scale integer pixels")


@dataclass
class OnnxCheck:
    """What :func:`export_onnx` wrote and how it compared with PyTorch."""

    path: Path
    n_images: int
    max_difference: float
    outputs: tuple


class ProbabilityGraph(torch.nn.Module):
    """The networks' mean softmax, and the label of the top class (for integer classes)."""

    def __init__(self, networks, classes=None):
        super().__init__()
        self.networks = torch.nn.ModuleList(networks)
        self.register_buffer("classes", None if classes is None else torch.as_tensor(classes))

    def forward(self, pixels):
        probabilities = torch.stack(
            [net(pixels).softmax(dim=-1) for net in self.networks]).mean(dim=0)
        if self.classes is None:
            return probabilities
        return probabilities, self.classes[probabilities.argmax(dim=-1)]


def _requires(names):
    try:
        for name in names:
            __import__(name)
    except ImportError as exc:
        raise KagdigitsError(f"ONNX export needs {exc.name}; install the serve extra: "
                             "pip install -e \".[serve]\"") from None


def _networks(estimator, name):
    """float32 CPU copies of the estimator's networks, in eval mode; refuses what the graph
    cannot reproduce."""
    if getattr(estimator, "tta", 0):
        raise KagdigitsError(f"cannot export the {name} model to ONNX with tta={estimator.tta}: "
                             "test-time augmentation is random; set tta=0 to export the "
                             "network(s) without it")
    networks = []
    for member in estimator.networks():
        softmax = (member.predict_nonlinearity == "auto"
                   and isinstance(member.criterion_, torch.nn.CrossEntropyLoss))
        if not softmax:
            raise KagdigitsError(
                f"cannot export the {name} model to ONNX: its predict_proba is not the softmax "
                "of the network's logits (export needs criterion=CrossEntropyLoss and "
                "predict_nonlinearity='auto')")
        module = getattr(member.module_, "_orig_mod", member.module_)  # torch.compile'd
        networks.append(copy.deepcopy(module).cpu().float().eval()
                        .to(memory_format=torch.contiguous_format))
    return networks


def _check_images(images):
    """float32 (n, C, H, W) images to trace and check with: ``images`` or demo digits."""
    if images is None:
        images = demo_arrays()[2]  # the demo test digits: real MNIST
    return torch.from_numpy(to_images(images)[:N_CHECK].copy())


def _is_integer(classes):
    return classes.dtype.kind in "iu"


def _export(graph, example, outputs):
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter reports its steps
        program = torch.onnx.export(
            graph, (example,), input_names=["pixels"], output_names=list(outputs),
            dynamo=True, dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
    return program.model_proto


def _compare(proto, graph, images, name, atol):
    """The largest probability difference between onnxruntime and PyTorch on ``images``."""
    import onnxruntime

    session = onnxruntime.InferenceSession(proto.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    got = session.run(None, {"pixels": images.numpy()})[0]
    with torch.no_grad():
        want = graph(images)
    want = (want[0] if isinstance(want, tuple) else want).numpy()
    difference = float(np.abs(got - want).max())
    ordered = np.sort(want, axis=1)
    clear = ordered[:, -1] - ordered[:, -2] > atol  # labels of near-ties may differ
    same = (got.argmax(axis=1) == want.argmax(axis=1)) | ~clear
    if difference > atol or not same.all():
        raise KagdigitsError(
            f"the ONNX export of the {name} model failed its check on {len(images)} images: "
            f"{int((~same).sum())} labels differ and probabilities differ by up to "
            f"{difference:.2g} (allowed {atol:g}); the file was not written")
    return difference


def export_onnx(estimator, path, images=None, overwrite=False, atol=ATOL):
    """Export a fitted estimator to the ONNX file ``path``, checked with onnxruntime.

    Parameters
    ----------
    estimator : DigitClassifier or EnsembleClassifier
        A fitted estimator of a registered model (e.g. from
        :func:`kagdigits.runs.persist.load_model`).
    path : str or Path
        Where to write; an existing file only with ``overwrite``. Checked before the export
        (not a folder, no parent a file).
    images : array-like or None, default=None
        Real images to trace and check the graph with, in any form the estimators take
        (e.g. ``(n, 784)`` uint8); the first 256 are used. ``None``: 256 MNIST digits of
        the demo set, so a model for other image shapes (3x32x32) needs them passed.
    overwrite : bool, default=False
    atol : float, default=1e-4
        Largest difference allowed between onnxruntime's and PyTorch's (float32)
        probabilities; the labels must be the same (except where PyTorch's two top
        probabilities are within ``atol`` of each other).

    Returns
    -------
    OnnxCheck
        The path written, the number of images checked, the largest probability
        difference seen and the graph's output names.
    """
    _requires(("onnx", "onnxruntime", "onnxscript"))
    check_target(path, overwrite)  # before the export, which takes seconds to minutes
    import onnx

    name = model_name(estimator)
    if not is_fitted(estimator):
        raise KagdigitsError("the model is not fitted; fit it before exporting")
    classes = np.asarray(estimator.classes_)
    graph = ProbabilityGraph(_networks(estimator, name),
                             classes if _is_integer(classes) else None).eval()
    images = _check_images(images)
    try:
        with torch.no_grad():
            graph(images[:2])
    except RuntimeError as exc:
        raise InputError(f"cannot export the {name} model: it does not take images of shape "
                         f"{tuple(images.shape[1:])} ({' '.join(str(exc).split())[:120]}); "
                         "pass ", Param("images"), " of the shape it was trained on") from None
    outputs = ("probabilities", "label") if _is_integer(classes) else ("probabilities",)
    try:
        proto = _export(graph, images[:2], outputs)
    except Exception as exc:  # the exporter fails in many ways; say which model, in one line
        detail = " ".join(str(exc).split())[:200]
        raise KagdigitsError(f"cannot export the {name} model to ONNX ({type(exc).__name__}: "
                             f"{detail})") from None
    onnx.helper.set_model_props(proto, {
        "kagdigits_model": name, "classes": json.dumps(classes.tolist()), "input": INPUT_DOC,
        "trained_on": estimator.hardware_summary(), "kagdigits_version": __version__})
    difference = _compare(proto, graph, images, name, atol)
    with atomic_write(path, "wb", overwrite=overwrite) as f:
        f.write(proto.SerializeToString())
    return OnnxCheck(Path(path), len(images), difference, outputs)
