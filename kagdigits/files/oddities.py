"""Images that look unlike the digits models are trained on (MNIST's layout: light ink on a
black background, grey levels 0..255, upright), found before anything is predicted for them.

A model reads such images without an error and answers wrongly for nearly all of them
(white-background digits: 3 % right; binarised 0/1 pixels: every label "1"; transposed
digits: 18 %), so :func:`oddities_line` names what is odd, in how many rows, and the fix.
"""

import numpy as np

#: Least number of rows before the share of wide digits is judged (a few rows say little).
MIN_ROWS_FOR_SHAPE = 20
#: Share of rows whose ink spreads wider than tall above which the images look transposed:
#: measured on MNIST's 60,000 training digits, 10.6 % do, and 89.4 % once transposed
#: (Fashion-MNIST's test set: 34 %, so clothes are not mistaken for transposed digits).
TRANSPOSED_SHARE = 0.75


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
        across = np.clip(sign * (grey.sum(axis=1, dtype=np.float64) - side), 0, None)
        down = np.clip(sign * (grey.sum(axis=2, dtype=np.float64) - side), 0, None)
        wide = int((_spread(across) > _spread(down))[~blank].sum())
    return {"rows": len(grey), "blank": int(blank.sum()), "light": int(light.sum()),
            "binary": int(binary.sum()), "wide": wide, "not_blank": int((~blank).sum())}


def oddities_line(images, what="the images to predict"):
    """One line naming how ``images`` (see :func:`oddity_counts`) differ from the training
    digits, in how many rows, and what to do; ``None`` when they look alike."""
    counts = oddity_counts(images)
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
