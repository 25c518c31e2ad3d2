"""Turning a drawing or a photo of a digit into the 28x28 image a model reads, as MNIST was made.

LeCun, Cortes and Burges describe MNIST's layout: each digit's bounding box was scaled to fit
a 20x20 box keeping its aspect ratio (anti-aliasing gives grey levels), then placed in a
28x28 field so that its centre of mass lies at the centre. Drawn digits laid out otherwise
(too large, off-centre, thick black-on-white) are misread by models trained on MNIST, so the
web page's canvas and uploaded images both go through :func:`preprocess_image`.
"""

import io
import json
import math

import numpy as np
from PIL import Image, ImageOps

from kagdigits.errors import InputError

#: Size of the field and of the box the digit is scaled into (MNIST's 28 and 20).
FIELD, BOX = 28, 20
#: Largest upload, in bytes, in pixels (width x height) once decoded, and along either side
#: (a 16,000,000 x 1 PNG is small on the wire and inside the pixel limit, but slow to decode).
MAX_BYTES = 4 * 1024 * 1024
MAX_PIXELS = 4096 * 4096
MAX_SIDE = 8192
#: Pillow's modes of 16-bit (and 32-bit integer) grey images, scaled from 0..65535.
WIDE_GREY_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
#: The scales JSON pixels may be sent on: grey levels 0..255 (the default) or 0..1.
JSON_SCALES = (255, 1)
#: Longest integer literal a JSON body may hold (grey levels have at most three digits).
MAX_NUMBER_DIGITS = 20
#: Image formats accepted (Pillow's names).
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
#: Ink within this many times the border's noise level (its 95th percentile distance from
#: the background) counts as background: paper grain, JPEG noise. Clean images lose nothing.
NOISE_MARGIN = 2
#: Least contrast (0..1) between the ink and the background for an image not to be blank.
MIN_CONTRAST = 0.1
#: Fewest pixels of a JSON image that must stand out (by :data:`MIN_CONTRAST`) for it not
#: to be blank, judged on the grey levels it is read as (after scaling and rounding); the
#: thinnest MNIST "1" has about 40.
MIN_STROKE_PIXELS = 5


def decode_image(data, max_pixels=MAX_PIXELS, max_side=MAX_SIDE):
    """Grey levels (float32 0..1, shape (H, W), light = 1) of the image file ``data`` (bytes).

    The EXIF orientation of a photo is applied (a phone's portrait shot is stored sideways),
    16-bit grey images are scaled from 0..65535, and transparent pixels are shown over white
    paper. An error names what is wrong: not an image of the accepted formats, or more than
    ``max_pixels`` pixels or ``max_side`` pixels along a side (checked before the pixels are
    decoded).
    """
    if not data:
        raise InputError("the image is empty (0 bytes); send a PNG, JPEG, GIF, BMP or WebP file")
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Exception:  # Pillow raises many kinds for bad files
        raise InputError("not an image in a format read here; send a PNG, JPEG, GIF, BMP "
                         "or WebP file") from None
    width, height = image.size
    if width * height > max_pixels:
        raise InputError(f"the image has {width}x{height} pixels, more than the "
                         f"{max_pixels:,} accepted; send a smaller image")
    if max(width, height) > max_side:
        raise InputError(f"the image is {width}x{height} pixels, longer than the {max_side:,} "
                         "pixels accepted along a side; send a smaller image")
    try:
        image = ImageOps.exif_transpose(image)
        if image.mode in WIDE_GREY_MODES:
            wide = np.asarray(image, dtype=np.float32) / np.float32(65535)
            return np.clip(wide, 0, 1)
        rgba = image.convert("RGBA")
    except Exception:
        raise InputError(f"the {image.format} image is damaged or truncated; send the whole "
                         "file") from None
    paper = Image.new("RGBA", rgba.size, "white")
    grey = Image.alpha_composite(paper, rgba).convert("L")
    return np.asarray(grey, dtype=np.float32) / np.float32(255)


def to_ink(grey):
    """Ink intensity (float32 0..1, 1 = the strongest stroke) of grey levels ``grey``.

    Whether the ink is dark on light paper (a photo, the page's canvas) or light on dark
    (MNIST itself) is decided from the image's border, whose median is the background:
    a light border means dark ink, so the image is inverted. Ink no stronger than the
    border's own noise (:data:`NOISE_MARGIN`) is dropped as background.
    """
    grey = np.asarray(grey, dtype=np.float32)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    background = np.median(border)
    ink = background - grey if background > 0.5 else grey - background
    floor = NOISE_MARGIN * float(np.percentile(np.abs(border - background), 95))
    peak = float(ink.max(initial=0.0))
    if peak - floor < MIN_CONTRAST:
        raise InputError("the image is blank (no strokes stand out from the background); "
                         "draw or upload a digit")
    return np.clip((ink - floor) / (peak - floor), 0, 1).astype(np.float32)


def _fit_box(crop, box=BOX):
    """``crop`` scaled so that its longer side is ``box`` pixels, anti-aliased."""
    height, width = crop.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    scaled = Image.fromarray(crop, mode="F").resize(size, resample)
    return np.clip(np.asarray(scaled, dtype=np.float32), 0, 1)


def _offset(mass_at, length, field=FIELD):
    """Where to put an object of ``length`` pixels whose centre of mass is at ``mass_at``
    so that the centre of mass lands on the field's centre, keeping it inside the field.
    MNIST's centres of mass lie at (14, 14) in 0-based pixel indices (mean over the demo
    set's 5,000 digits: 13.99, 14.00), i.e. half a pixel past the middle of 0..27."""
    return int(np.clip(round(field / 2 - mass_at), 0, field - length))


def mnist_layout(ink, field=FIELD, box=BOX):
    """The ink image ``ink`` (0..1, any size) laid out as MNIST was: uint8 (field, field).

    The strokes' bounding box is scaled to fit ``box`` x ``box`` keeping the aspect ratio,
    then placed in the field with its centre of mass at the centre.
    """
    rows, cols = np.nonzero(ink > 0)
    if not len(rows):
        raise InputError("the image is blank (no strokes); draw or upload a digit")
    digit = _fit_box(ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1], box)
    height, width = digit.shape
    mass = digit.sum()
    if mass <= 0:
        raise InputError("the strokes are too faint to read; draw thicker or darker lines")
    y_mass = (digit.sum(axis=1) * np.arange(height)).sum() / mass
    x_mass = (digit.sum(axis=0) * np.arange(width)).sum() / mass
    top, left = _offset(y_mass, height, field), _offset(x_mass, width, field)
    out = np.zeros((field, field), dtype=np.float32)
    out[top:top + height, left:left + width] = digit
    return np.round(out * 255).astype(np.uint8)


def preprocess_image(data, max_pixels=MAX_PIXELS, max_side=MAX_SIDE):
    """The 28x28 MNIST-style digit (uint8, ink 255 on 0) in the image file ``data`` (bytes)."""
    return mnist_layout(to_ink(decode_image(data, max_pixels, max_side)))


def parse_int(text):
    """``json.loads``'s ``parse_int``: refuses integer literals longer than
    :data:`MAX_NUMBER_DIGITS` before Python converts them (a 5,000-digit literal raises a
    ``ValueError``, a 310-digit one overflows numpy)."""
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise InputError(f"the JSON holds an integer of {len(text.lstrip('-')):,} digits; send "
                         "grey levels 0..255")
    return int(text)


def _number(value):
    """``value`` (a JSON number) for an error message, short whatever its size."""
    return f"{value:g}" if isinstance(value, float) or abs(value) < 10**9 else "a huge number"


def pixels_from_json(payload):
    """The 28x28 uint8 image of a JSON body ``{"pixels": [784 grey levels 0..255]}``.

    The values are a row of Kaggle's CSVs (ink high, row by row) and are used as given,
    without :func:`mnist_layout`. ``"scale": 1`` says that they lie in 0..1 (as the ONNX
    export's input does) instead; without it, values that all lie in 0..1 are refused, since
    read as grey levels they are a blank image. Any other shape, a non-number, NaN, a
    value outside the scale, or a blank image (all values equal, or fewer than
    :data:`MIN_STROKE_PIXELS` standing out once scaled and rounded to grey levels) is an
    error naming it.
    """
    if not isinstance(payload, dict) or "pixels" not in payload:
        raise InputError('the JSON body must be an object {"pixels": [784 numbers 0..255]}')
    scale = payload.get("scale", 255)
    if isinstance(scale, bool) or scale not in JSON_SCALES:
        raise InputError(f'"scale" must be 255 (grey levels 0..255, the default) or 1 '
                         f"(values 0..1), got {json.dumps(scale)[:20]}")
    pixels = payload["pixels"]
    if not isinstance(pixels, list) or len(pixels) != FIELD * FIELD:
        count = f"{len(pixels)} values" if isinstance(pixels, list) else type(pixels).__name__
        raise InputError(f'"pixels" must be a list of {FIELD * FIELD} numbers (28x28, row by '
                         f"row), got {count}")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pixels):
        raise InputError('"pixels" must hold numbers only (grey levels 0..255)')
    if not all(isinstance(v, int) or math.isfinite(v) for v in pixels):
        raise InputError('"pixels" holds NaN or infinite values; send grey levels 0..255')
    low, high = min(pixels), max(pixels)
    if low < 0 or high > scale:
        raise InputError(f'"pixels" must lie in 0..{scale}, found {_number(low)}..'
                         f"{_number(high)}")
    if low == high:
        raise InputError(f'"pixels" are all {_number(low)}: the image is blank; send a digit')
    if scale == 255 and high <= 1:
        raise InputError('"pixels" all lie in 0..1, which on the default scale of grey levels '
                         '0..255 is a blank image; send 0..255, or add "scale": 1 to send '
                         "values 0..1")
    values = np.asarray(pixels, dtype=np.float64) * (255 / scale)
    image = np.round(values).astype(np.uint8).reshape(FIELD, FIELD)
    background = int(np.median(image))
    strokes = np.abs(image.astype(np.int16) - background) >= MIN_CONTRAST * 255
    if strokes.sum() < MIN_STROKE_PIXELS:
        raise InputError(f'"pixels" are blank once read as grey levels 0..255 (fewer than '
                         f"{MIN_STROKE_PIXELS} pixels stand out from the background by "
                         f"{MIN_CONTRAST:.0%}); send a digit")
    return image
