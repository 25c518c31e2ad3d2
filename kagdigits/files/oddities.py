"""Images that look unlike the digits models are trained on (MNIST's layout: light ink on a
black background, grey levels 0..255, upright), found before anything is predicted for them.

A model reads such images without an error and answers wrongly for nearly all of them
(white-background digits: 3 % right; binarised 0/1 pixels: every label "1"; transposed
digits: 18 %), so :func:`oddities_line` names what is odd, in how many rows, and the fix.
It judges a fixed sample of :data:`SAMPLE_ROWS` rows first and counts all rows only when
the sample shows something odd, so a large set of ordinary digits costs what the sample
costs (28,000 rows: the check went from about 100 ms to a few ms).
"""

import numpy as np

#: Least number of rows before the share of wide digits is judged (a few rows say little).
MIN_ROWS_FOR_SHAPE = 20
#: Share of rows whose ink spreads wider than tall above which the images look transposed:
#: measured on MNIST's 60,000 training digits, 10.6 % do, and 89.4 % once transposed
#: (Fashion-MNIST's test set: 34 %, so clothes are not mistaken for transposed digits).
TRANSPOSED_SHARE = 0.75
#: Rows judged before all are counted (the same rows for the same number of rows): an
#: oddity of 1 row in 500 escapes them with a chance of 1 in 3,600; a light background,
#: 0/1 pixels or transposed digits come from how a whole file was made, so all its rows share them.
SAMPLE_ROWS = 4096


def _spread(profile):
    """Standard deviation of the index along a profile's last axis, weighted by it."""
    index = np.arange(profile.shape[-1], dtype=np.float64)
    mass = np.maximum(profile.sum(axis=-1), 1e-12)
    mean = (profile * index).sum(axis=-1) / mass
    return np.sqrt((profile * (index - mean[:, None]) ** 2).sum(axis=-1) / mass)


def oddity_counts(images):
    """How many of ``images`` (n, C, H, W; integers 0..255 or floats 0..1) are blank, have a
    light background, hold integers 0..1 only, and spread wider than tall (``None`` for
    too few rows or non-square images); ``not_blank`` rows in all."""
    images = np.asarray(images)
    grey = images[:, 0] if images.shape[1] == 1 else images.mean(axis=1)
    full = 255.0 if images.dtype.kind in "biu" else 1.0
    # integer pixels sum exactly in float32 (28 x 255 < 2**24); floats in float64
    work = grey.astype(np.float32 if full == 255.0 else np.float64)
    low, high = grey.min(axis=(1, 2)), grey.max(axis=(1, 2))
    blank = high == low
    border = np.concatenate([grey[:, 0], grey[:, -1], grey[:, :, 0], grey[:, :, -1]], axis=1)
    background = np.median(border, axis=1)
    light = ~blank & (background > full / 2)
    binary = ~blank & (high <= 1) if full == 255.0 else np.zeros(len(grey), dtype=bool)
    wide = None
    if len(grey) >= MIN_ROWS_FOR_SHAPE and grey.shape[1] == grey.shape[2]:
        # the ink's profiles across and down: sums of the distance from the background
        sign = np.where(light, -1.0, 1.0)[:, None]
        side = grey.shape[1] * background[:, None]
        ones = np.ones(grey.shape[1], dtype=work.dtype)  # sums as products: BLAS, fast
        across = np.clip(sign * (ones @ work - side), 0, None)
        down = np.clip(sign * (work @ ones - side), 0, None)
        wide = int((_spread(across) > _spread(down))[~blank].sum())
    return {"rows": len(grey), "blank": int(blank.sum()), "light": int(light.sum()),
            "binary": int(binary.sum()), "wide": wide, "not_blank": int((~blank).sum())}


def sample_rows(n, size=None):
    """``size`` (``None``: :data:`SAMPLE_ROWS`) of ``n`` row positions (all when
    ``n <= size``), sorted, the same for the same ``n``: a seeded draw, so no pattern in
    the row order hides from it."""
    size = SAMPLE_ROWS if size is None else size
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size, replace=False))


def oddities_line(images, what="the images to predict"):
    """One line naming how ``images`` (see :func:`oddity_counts`) differ from the training
    digits, in how many rows, and what to do; ``None`` when they look alike. Judged on
    :func:`sample_rows` first; the rows are counted in full when the sample shows an
    oddity (so a rare odd row outside the sample goes unnamed)."""
    if len(images) > SAMPLE_ROWS and _line(oddity_counts(images[sample_rows(len(images))]),
                                           what) is None:
        return None
    return _line(oddity_counts(images), what)


def _line(counts, what):
    """The line of :func:`oddities_line` for ``counts`` (:func:`oddity_counts`)."""
    rows = counts["rows"]
    parts = []
    if counts["light"]:
        parts.append(f"{counts['light']:,} of {rows:,} rows have a light background (dark "
                     "ink on white: invert them, 255 - pixels)")
    if counts["binary"]:
        parts.append(f"{counts['binary']:,} of {rows:,} rows hold only 0 and 1 (scale them "
                     "to grey levels 0..255)")
    if counts["blank"]:
        parts.append(f"{counts['blank']:,} of {rows:,} rows are blank (one value throughout: "
                     "check how the file was made)")
    wide = counts["wide"]
    if wide is not None and wide > TRANSPOSED_SHARE * counts["not_blank"]:
        parts.append(f"{wide:,} of {rows:,} rows spread wider than tall, as transposed digits "
                     "do (MNIST: 1 in 10; transpose each image)")
    if not parts:
        return None
    return (f"{what} look unlike the digits models are trained on (light ink on black, grey "
            f"levels 0..255, upright): {'; '.join(parts)}; predictions for such rows are "
            "mostly wrong")
