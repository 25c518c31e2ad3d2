"""The report's PNG plots, drawn with matplotlib's Agg renderer (no display needed)."""

import io

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from kagdigits.files.atomic import atomic_write

DPI = 110
METRICS = (("loss", "Loss (cross-entropy)", "loss"), ("acc", "Accuracy", "accuracy"))


def save_png(fig, path):
    """Write ``fig`` to a new PNG file at ``path`` (atomically)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    with atomic_write(path, "wb") as f:
        f.write(buffer.getvalue())
    return path


def integer_epochs(ax, epochs, most=12):
    """Whole-number epoch ticks on ``ax``'s x axis: every epoch when there are at most
    ``most`` (one epoch gets one tick, not 0.95 ... 1.05), else a few whole numbers."""
    if 0 < len(epochs) <= most:
        ax.set_xticks(epochs)
        ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


#: Said under the curves when a model's train loss ends above its validation loss.
TRAIN_ABOVE_VALID = ("\ntrain loss above valid loss is expected with augmentation or label "
                     "smoothing: train is scored on distorted images and smoothed targets, "
                     "valid on plain ones")


def train_above_valid(history):
    """Whether some model's mean train loss is above its valid loss at its last epoch."""
    if not {"train_loss", "valid_loss"} <= set(history.columns):
        return False
    last = history.groupby(["model", "epoch"])[["train_loss", "valid_loss"]].mean().dropna()
    last = last.groupby(level="model").tail(1)
    return bool((last["train_loss"] > last["valid_loss"]).any())


def plot_curves(history, path):
    """Per-epoch train/valid loss and accuracy of every model: mean over seeds, min–max band.

    ``history`` has columns model, seed, epoch, train_loss, train_acc, valid_loss, valid_acc.
    """
    fig = Figure(figsize=(13, 5), layout="constrained")
    axes = fig.subplots(1, 2)
    for i, (model, group) in enumerate(history.groupby("model", sort=False)):
        by_epoch = group.groupby("epoch")
        for split, style in (("train", "--"), ("valid", "-")):
            for ax, (metric, _, _) in zip(axes, METRICS, strict=True):
                stats = by_epoch[f"{split}_{metric}"].agg(["mean", "min", "max"]).dropna()
                if stats.empty:
                    continue
                label = f"{model} {split}"
                if len(stats) == 1:  # a band over one epoch has no width: a min–max bar,
                    shift = 0.05 * (i + 0.5) * (1 if split == "valid" else -1)  # side by side
                    spread = [stats["mean"] - stats["min"], stats["max"] - stats["mean"]]
                    ax.errorbar(stats.index + shift, stats["mean"], yerr=spread, capsize=4,
                                fmt="o" if split == "valid" else "s", color=f"C{i}",
                                mfc="none" if split == "train" else None, label=label)
                    continue
                ax.plot(stats.index, stats["mean"], style, color=f"C{i}", marker=".",
                        label=label)
                ax.fill_between(stats.index, stats["min"], stats["max"], color=f"C{i}",
                                alpha=0.15, linewidth=0)
    epochs = sorted(history["epoch"].unique())
    for ax, (_, title, ylabel) in zip(axes, METRICS, strict=True):
        ax.set(title=title, xlabel="epoch", ylabel=ylabel)
        integer_epochs(ax, epochs)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    n_seeds = history.groupby("model")["seed"].nunique()
    seeds = (f"{n_seeds.max()} seed{'s' if n_seeds.max() > 1 else ''}"
             if n_seeds.min() == n_seeds.max()
             else f"each model's seeds ({n_seeds.min()}–{n_seeds.max()})")
    fig.suptitle(f"Training curves: mean over {seeds}, "
                 f"{'bars' if len(epochs) == 1 else 'band'}: min–max over seeds\n"
                 "(train: the training batches during the epoch; valid: the validation split)"
                 f"{TRAIN_ABOVE_VALID if train_above_valid(history) else ''}", fontsize=11)
    return save_png(fig, path)


def plot_confusion(labels, predicted, title, path, n_classes=10):
    """Confusion matrix (counts) of ``predicted`` against the true ``labels``. The colours
    scale over the mistakes (off the diagonal), so that they stand out; the diagonal's
    correct counts are written on a grey background."""
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(labels, predicted, labels=np.arange(n_classes))
    mistakes = np.where(np.eye(n_classes, dtype=bool), np.nan, matrix)
    top = max(np.nanmax(mistakes), 1) if n_classes > 1 else 1
    fig = Figure(figsize=(7.5, 6.5), layout="constrained")
    ax = fig.subplots()
    ax.imshow(np.where(np.isnan(mistakes), 1.0, np.nan), cmap="Greys", vmin=0, vmax=5)
    image = ax.imshow(mistakes, cmap="Reds", vmin=0, vmax=top)
    for (row, column), count in np.ndenumerate(matrix):
        mistake = row != column
        color = ("white" if mistake and count > top / 2 else
                 "0.6" if count == 0 else "black")
        ax.text(column, row, count, ha="center", va="center", fontsize=9, color=color,
                fontweight="normal" if mistake else "bold")
    ax.set(xticks=range(n_classes), yticks=range(n_classes), xlabel="predicted label",
           ylabel="true label", title=title)
    fig.colorbar(image, ax=ax, label="mistakes (off the diagonal; the diagonal: correct)")
    return save_png(fig, path)


def _as_picture(image):
    """(C, H, W) uint8 -> what ``imshow`` shows: (H, W) for 1 channel, (H, W, 3) for 3."""
    return image[0] if image.shape[0] == 1 else np.transpose(image, (1, 2, 0))


def plot_images(images, titles, wrong, title, path, columns=8):
    """A grid of images, each titled; titles of ``wrong`` ones in red."""
    rows = max(1, -(-len(images) // columns))
    fig = Figure(figsize=(columns * 1.5, rows * 1.75 + 0.5), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, text, bad in zip(axes.flat, images, titles, wrong, strict=False):
        ax.imshow(_as_picture(image), cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(text, fontsize=9, color="tab:red" if bad else "black")
    fig.suptitle(title, fontsize=12)
    return save_png(fig, path)


def plot_grid(table, label_columns, title, path):
    """Train and valid accuracy and loss per setting of a grid (one row of ``table`` each)."""
    labels = [", ".join(f"{c} {row[c]}" for c in label_columns) or f"setting {i + 1}"
              for i, (_, row) in enumerate(table.iterrows())]
    y = np.arange(len(table))
    fig = Figure(figsize=(13, 1.4 + 0.42 * len(table)), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (metric, name, xlabel) in zip(axes, METRICS[::-1], strict=True):
        valid = table[f"valid {metric}"]
        ax.plot(table[f"train {metric}"], y, "s", mfc="none", color="C0", label="train")
        error = table["valid acc ±"] if metric == "acc" else None
        if error is not None and error.notna().any():
            ax.errorbar(valid, y, xerr=error, fmt="o", color="C1", capsize=3,
                        label="valid (± 1.96·std over folds)")
        else:
            ax.plot(valid, y, "o", color="C1", label="valid")
        for value, row in zip(valid, y, strict=True):
            ax.annotate(f"{value:.4f}" if metric == "acc" else f"{value:.3f}", (value, row),
                        xytext=(0, 6), textcoords="offset points", ha="center", fontsize=8,
                        color="C1")
        ax.set(title=name, xlabel=xlabel)
        ax.xaxis.set_major_locator(MaxNLocator(6))
        ax.margins(x=0.1)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1))
    axes[0].set_yticks(y, labels, fontsize=9)
    axes[0].set_ylim(len(table) - 0.4, -0.8)  # first setting on top, room for the labels
    fig.suptitle(title, fontsize=12)
    return save_png(fig, path)
