"""Batched random augmentation of image batches on the training device.

One ``F.affine_grid`` + ``F.grid_sample`` call warps every image of a batch by its
own random rotation, zoom and shift (the recipe of the best-known Kaggle
digit-recognizer solutions: +-10 degrees, +-10% zoom, +-10% shift), optionally adding
an elastic distortion to the same sampling grid (Simard et al., 2003); random erasing
(Zhong et al., 2020) then blanks a random rectangle per image. There is no Python
loop over images. Estimators apply it to training batches only
(:class:`AugmentedBatches`), never to validation or prediction batches.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

from kagdigits.errors import InputError, choose
from kagdigits.models.constraints import Number, Options


def _rand(shape, like, generator):
    """Draws from U(0, 1) of ``shape`` on ``like``'s device, float32. ``generator``: a
    ``torch.Generator``, ``None`` (torch's), or an object whose ``rand(shape, device)``
    draws them (a stack's counter-based draws, :class:`kagdigits.models.draws.MemberDraws`)."""
    if hasattr(generator, "rand"):
        return generator.rand(shape, like.device)
    return torch.rand(shape, device=like.device, generator=generator)


def _uniform(n, low, high, like, generator):
    """``n`` draws from U(low, high) on ``like``'s device, float32 (see :func:`_rand`)."""
    return low + (high - low) * _rand((n,), like, generator)


def _gaussian_blur(field, sigma):
    """``field`` (n, c, H, W) smoothed by a separable Gaussian of ``sigma`` pixels."""
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, device=field.device, dtype=field.dtype)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = field.shape[1]
    field = F.conv2d(field, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous(),
                     padding=(0, radius), groups=c)
    return F.conv2d(field, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1).contiguous(),
                    padding=(radius, 0), groups=c)


class Augment:
    """Random rotation, zoom and shift of each image; optionally elastic and erasing.

    Call it on a float batch of shape (n, C, H, W) to get a new batch of the same
    shape, dtype and device; every image gets its own random draw (from torch's
    global generator, or ``generator``), so a seeded fit stays reproducible.
    ``generator`` may also be a stack's :class:`~kagdigits.models.draws.MemberDraws`: each
    member's part of the batch then gets its own draws, in one pass over the batch.

    Parameters
    ----------
    rotation : float, default=10
        Largest rotation in degrees; each angle is drawn from [-rotation, rotation].
    zoom : float, default=0.1
        Largest relative zoom; each scale is drawn from [1 - zoom, 1 + zoom].
    shift : float, default=0.1
        Largest shift along each axis, as a fraction of the image's size.
    elastic : float, default=0.0
        Strength of the elastic distortion: the largest displacement in pixels
        before smoothing (Simard et al. used 34 with ``elastic_sigma=4`` on 28x28);
        0 turns it off.
    elastic_sigma : float, default=4.0
        Smoothness of the elastic displacement field (Gaussian sigma, in pixels).
    erase : float, default=0.0
        Probability that an image gets one random rectangle (2-20% of its area,
        aspect ratio 0.3-3.3) set to 0; 0 turns it off.
    flip : float, default=0.0
        Probability of a horizontal flip (for clothes such as Fashion-MNIST; it
        makes other digits of some digits, so leave it off for them).
    padding_mode : {"border", "zeros", "reflection"}, default="border"
        Value of pixels moved in from outside the image (``F.grid_sample``'s
        option). "border" repeats the edge pixels, as Keras' ``fill_mode="nearest"``
        does, and keeps the background of standardised images.
    """

    #: The values each parameter takes (checked as the estimator's ``augment__<name>``).
    _parameter_constraints = {
        "rotation": [Number(0, 180)], "zoom": [Number(0, 1, open=("high",))],
        "shift": [Number(0, 1)], "elastic": [Number(0)],
        "elastic_sigma": [Number(0, open=("low",))], "erase": [Number(0, 1)],
        "flip": [Number(0, 1)], "padding_mode": [Options(("border", "zeros", "reflection"))],
    }

    def __init__(self, rotation=10, zoom=0.1, shift=0.1, elastic=0.0, elastic_sigma=4.0,
                 erase=0.0, flip=0.0, padding_mode="border"):
        self.rotation = rotation
        self.zoom = zoom
        self.shift = shift
        self.elastic = elastic
        self.elastic_sigma = elastic_sigma
        self.erase = erase
        self.flip = flip
        self.padding_mode = padding_mode

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"

    def __call__(self, x, generator=None):
        if not torch.is_tensor(x) or x.dim() != 4 or not x.is_floating_point():
            raise InputError("augmentation needs float image batches of shape (n, C, H, W); "
                             "set augment=None for other inputs")
        warped = self.rotation or self.zoom or self.shift or self.elastic
        if warped:
            x = self._warp(x, generator)
        if self.erase:
            x = self._erase(x, generator)
        if self.flip:
            flipped = _rand((len(x),), x, generator) < self.flip
            x = torch.where(flipped.view(-1, 1, 1, 1), x.flip(-1), x)
        return x

    def _warp(self, x, generator):
        n, _, h, w = x.shape
        angle = _uniform(n, -self.rotation, self.rotation, x, generator) * (math.pi / 180)
        scale = _uniform(n, 1 - self.zoom, 1 + self.zoom, x, generator)
        shift = _uniform(2 * n, -self.shift, self.shift, x, generator).view(n, 2) * 2
        # The grid maps output to input coordinates: the inverse of "scale, rotate, shift".
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        matrix = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)
        offset = -(matrix @ shift.unsqueeze(2))
        theta = torch.cat([matrix, offset], 2)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        if self.elastic:
            noise = _rand((n, 2, h, w), x, generator) * 2 - 1
            pixels = _gaussian_blur(noise, self.elastic_sigma) * self.elastic
            scale = (2 / w, 2 / h)  # pixels -> grid units (Python numbers: no copy to a GPU)
            grid = grid + torch.stack([pixels[:, i] * scale[i] for i in (0, 1)], dim=3)
        return F.grid_sample(x, grid.to(x.dtype), mode="bilinear",
                             padding_mode=self.padding_mode, align_corners=False)

    def _erase(self, x, generator):
        n, _, h, w = x.shape
        area = _uniform(n, 0.02, 0.2, x, generator) * (h * w)
        aspect = torch.exp(_uniform(n, math.log(0.3), math.log(1 / 0.3), x, generator))
        eh = torch.sqrt(area * aspect).clamp(1, h)
        ew = torch.sqrt(area / aspect).clamp(1, w)
        top = _uniform(n, 0, 1, x, generator) * (h - eh)
        left = _uniform(n, 0, 1, x, generator) * (w - ew)
        chosen = _rand((n,), x, generator) < self.erase
        rows = torch.arange(h, device=x.device).view(1, h, 1)
        cols = torch.arange(w, device=x.device).view(1, 1, w)
        inside = ((rows >= top.view(n, 1, 1)) & (rows < (top + eh).view(n, 1, 1))
                  & (cols >= left.view(n, 1, 1)) & (cols < (left + ew).view(n, 1, 1))
                  & chosen.view(n, 1, 1))
        return x.masked_fill(inside.unsqueeze(1), 0)


class AugmentedBatches:
    """The batches of ``iterator`` with their images passed through ``augment``.

    Parameters
    ----------
    iterator : iterable of (X, y)
        Training batches (a skorch ``iterator_train``).
    augment : callable
        Maps a float image batch to an augmented one, e.g. an :class:`Augment`.
    device : str or torch.device
        Images are moved here before augmenting (a no-op when they are there already).
    """

    def __init__(self, iterator, augment, device):
        self.iterator = iterator
        self.augment = augment
        self.device = device

    def __len__(self):
        return len(self.iterator)

    def __iter__(self):
        for X, y in self.iterator:
            X = X.to(self.device, non_blocking=True) if torch.is_tensor(X) else X
            yield self.augment(X), y


#: ``augment`` names an estimator accepts -> class.
AUGMENTATIONS = {"affine": Augment}


def augmentation_class(augment):
    """The class ``augment`` names (a key of :data:`AUGMENTATIONS`, or a class itself)."""
    if not isinstance(augment, str):
        return augment
    return choose(AUGMENTATIONS, augment, "augment", also=", a class, or None")


def make_augment(net):
    """The augmentation ``net.augment`` and its ``augment__<name>`` parameters describe.

    ``net.augment`` is ``"affine"`` (:class:`Augment`), a class, or ``None`` (returns
    ``None``). Bad names and parameters raise here.
    """
    if net.augment is None:
        return None
    cls = augmentation_class(net.augment)
    try:
        return cls(**net.get_params_for("augment"))
    except TypeError as exc:
        raise InputError(f"augment {net.augment!r}: {exc}") from None


#: The copies test-time augmentation makes by default: mild warps that keep a digit a digit.
TTA_PARAMS = {"rotation": 5, "zoom": 0.05, "shift": 0.05}

#: Images augmented at once for test-time augmentation (bounds its memory).
TTA_CHUNK = 4096


def tta_augment(params=None):
    """The :class:`Augment` that ``tta_params`` describe (``None``: :data:`TTA_PARAMS`); a
    one-line error for a name it does not take (checked before training, too)."""
    try:
        return Augment(**(TTA_PARAMS if params is None else params))
    except TypeError as exc:
        raise InputError(f"tta_params: {exc}; use the names of kagdigits.models.augment."
                         "Augment (rotation, zoom, shift, flip, ...)") from None


def tta_views(X, copies, params=None, seed=0):
    """``X`` (float images, (n, C, H, W) NumPy), then ``copies`` randomly augmented copies
    of it made by ``Augment(**params)`` (``None``: :data:`TTA_PARAMS`), seeded by ``seed``
    (``None``: 0) so the same call gives the same copies."""
    yield X
    if not copies:
        return
    augment = tta_augment(params)
    generator = torch.Generator().manual_seed(seed or 0)
    for _ in range(copies):
        yield np.concatenate([
            augment(torch.from_numpy(X[start:start + TTA_CHUNK]), generator).numpy()
            for start in range(0, len(X), TTA_CHUNK)])


def augmented(net, iterator):
    """``iterator``, wrapped in :class:`AugmentedBatches` when ``net.augment`` is set."""
    augment = make_augment(net)
    return iterator if augment is None else AugmentedBatches(iterator, augment, net.device)
