"""report.md and its PNG plots, built from a :class:`~kagdigits.studies.results.Study` alone."""

from pathlib import Path

import numpy as np

from kagdigits.files.atomic import atomic_write
from kagdigits.studies import plots
from kagdigits.studies.compare import best_model, representative_seed, summarise
from kagdigits.studies.grid import COLUMNS, grid_table

N_SAMPLES = 32
N_MISTAKES = 24


def markdown_table(header, rows, align):
    """A Markdown pipe table; ``align`` holds ``"l"`` or ``"r"`` per column."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _pm(mean, half, digits=4):
    return f"{mean:.{digits}f}" if np.isnan(half) else f"{mean:.{digits}f} ± {half:.{digits}f}"


def _about(info, devices):
    """The bullet list every report starts with; ``devices``: the device of each fit."""
    shape = "×".join(str(n) for n in info["image_shape"])
    lines = [f"- Data: {info['data']}: {info['n_train']:,} train / {info['n_test']:,} test "
             f"images of {shape}",
             f"- Backend: {info['backend']}; device {', '.join(sorted(set(devices)))}; "
             f"wall time {info['wall_seconds']:.0f} s",
             f"- Command: `{info['command']}`",
             f"- Written {info['created']} by kagdigits {info['version']}"]
    if info.get("rebuilt_from"):
        lines.append(f"- Rebuilt without retraining from: {', '.join(info['rebuilt_from'])}")
    if info.get("interrupted"):
        lines.append(f"- **Interrupted**: {info['interrupted']}")
    return "\n".join(lines)


def write_report(folder, study):
    """Write ``report.md`` and its plots into ``folder``; return the report's path."""
    folder = Path(folder)
    kind = study.info["kind"]
    text = _compare_report(folder, study) if kind == "compare" else _grid_report(folder, study)
    path = folder / "report.md"
    with atomic_write(path) as f:
        f.write(text)
    return path


def _compare_report(folder, study):
    info, runs = study.info, study.tables["runs"]
    summary = summarise(runs)
    best = best_model(summary)
    best_row = summary[summary["model"] == best].iloc[0]
    rows = [(r.model, f"{r.params:,}", _pm(r.test_acc, r.test_acc_pm),
             _pm(r.train_acc, r.train_acc_pm),
             f"{r.epochs_mean:.1f} ({r.epochs_min}–{r.epochs_max})", f"{r.train_seconds:.1f}")
            for r in summary.itertuples()]
    seeds = sorted(runs["seed"].unique())
    parts = [
        f"# Model comparison: {', '.join(summary['model'])}", "", _about(info, runs["device"]),
        f"- Each model fitted once per seed ({', '.join(map(str, seeds))}) on the same "
        "train/test split; the estimator's stratified validation split (for early "
        "stopping and the valid curves) is the same for every fit",
        "", f"**Best model: {best}**, test accuracy {_pm(best_row.test_acc, best_row.test_acc_pm)}"
        f" (mean ± 1.96·std over {best_row.seeds} seed{'s' if best_row.seeds > 1 else ''}).", "",
        markdown_table(["model", "parameters", "test accuracy", "train accuracy",
                        "epochs run (min–max)", "train time (s)"], rows, "lrrrrr"), "",
        "± is 1.96 × the sample standard deviation over seeds. Train accuracy: the final "
        "(kept) weights on all training images. Train time: mean per fit (fits run at the "
        "same time share the machine).", "",
        "## Training curves", "", f"![Training curves]({_curves(folder, study)})", "",
        *_best_model_section(folder, study, best), "",
        "## All runs", "",
        markdown_table(["model", "seed", "test accuracy", "test loss", "train accuracy",
                        "epochs run", "epoch kept", "train time (s)", "device"],
                       [(r.model, r.seed, f"{r.test_acc:.4f}", f"{r.test_loss:.4f}",
                         f"{r.train_acc:.4f}", r.epochs, r.kept_epoch,
                         f"{r.train_seconds:.1f}", r.device) for r in runs.itertuples()],
                       "lrrrrrrrl"), ""]
    return "\n".join(parts)


def _curves(folder, study):
    return plots.plot_curves(study.tables["history"], folder / "curves.png").name


def _best_model_section(folder, study, best):
    runs, predictions = study.tables["runs"], study.tables["predictions"]
    seed = representative_seed(runs, best)
    chosen = predictions[(predictions["model"] == best) & (predictions["seed"] == seed)]
    chosen = chosen.sort_values("index")
    index = chosen["index"].to_numpy()
    labels, predicted = chosen["label"].to_numpy(), chosen["predicted"].to_numpy()
    confidence = chosen["confidence"].to_numpy()
    accuracy = np.mean(labels == predicted)
    name = f"{best} (seed {seed})"
    lines = [f"## Best model: {name}", "",
             f"Seed {seed} is the one whose test accuracy ({accuracy:.4f}) is closest to "
             f"{best}'s median over seeds.", ""]
    confusion = plots.plot_confusion(
        labels, predicted, f"{name}: confusion matrix\n{len(labels):,} test images, "
        f"accuracy {accuracy:.4f}", folder / "confusion.png")
    lines += [f"![Confusion matrix]({confusion.name})", ""]
    if study.images is None:
        return [*lines, "(No test images saved: no image plots.)"]
    shown = slice(0, N_SAMPLES)
    samples = plots.plot_images(
        study.images[index[shown]],
        [f"true {t}, pred {p}" for t, p in zip(labels[shown], predicted[shown], strict=True)],
        labels[shown] != predicted[shown],
        f"{name}: the first {min(N_SAMPLES, len(index))} test images, true vs predicted "
        "label (wrong ones in red)", folder / "samples.png")
    lines += [f"![Sample predictions]({samples.name})", ""]
    wrong = np.flatnonzero(labels != predicted)
    if not len(wrong):
        return [*lines, "No mistakes on the test set."]
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:N_MISTAKES]
    mistakes = plots.plot_images(
        study.images[index[worst]],
        [f"true {labels[i]}, pred {predicted[i]}\np = {confidence[i]:.3f}" for i in worst],
        np.ones(len(worst), dtype=bool),
        f"{name}: its {len(worst)} most confident mistakes of {len(wrong)} "
        "(p: the probability it gave the wrong label)", folder / "mistakes.png")
    return [*lines, f"![Most confident mistakes]({mistakes.name})"]


def _grid_report(folder, study):
    info = study.info
    table = grid_table(study)
    if table.empty:
        return "\n".join([f"# Grid: {info['model']}", "", "No results.", ""])
    columns = list(study.info["settings"][0]["columns"])
    varying = [COLUMNS.get(name, name) for name in info["grid"]
               if COLUMNS.get(name, name) in columns]
    best = table.loc[table["valid acc"].idxmax()]
    folds = info["folds"]
    how = ("one stratified 80/20 hold-out split" if folds == 1
           else f"{folds}-fold stratified cross-validation")
    has_pm = table["valid acc ±"].notna().any()
    rows = []
    for _, row in table.iterrows():
        valid_acc = _pm(row["valid acc"], row["valid acc ±"])
        mark = "**" if row["setting"] == best["setting"] else ""
        rows.append([*(row[c] for c in columns), f"{row['epochs']:g}", f"{row['kept epoch']:g}",
                     f"{row['train loss']:.4f}", f"{row['train acc']:.4f}",
                     f"{row['valid loss']:.4f}", f"{mark}{valid_acc}{mark}"])
    best_text = ", ".join(f"{c} {best[c]}" for c in varying) or "the only setting"
    plot = plots.plot_grid(table, varying, f"{info['model']}: {len(table)} settings, "
                           f"{how} (valid = the held-out fold)", folder / "grid.png")
    grid_lines = [f"  - `{name}`: {', '.join(values)}" for name, values in info["grid"].items()]
    parts = [
        f"# Grid: {info['model']}, {len(table)} settings", "",
        _about(info, study.tables["folds"]["device"]),
        f"- Scored with scikit-learn's `cross_validate` ({how} of the {info['n_train']:,} train "
        f"images, seed {info['seed']}; the test images are not used); every fit has "
        f"random_state={info['seed']}",
        f"- Fixed: {info['fixed'] or 'the model defaults'}", "- Grid:", *grid_lines, "",
        f"**Best setting** (validation accuracy): {best_text}: "
        f"{_pm(best['valid acc'], best['valid acc ±'])}.",
        "", markdown_table([*columns, "epochs", "kept epoch", "train loss", "train acc",
                            "valid loss", "valid acc" + (" (± 1.96·std)" if has_pm else "")],
                           rows, "l" * len(columns) + "rrrrrr"), "",
        "epochs: epochs run (mean over folds); kept epoch: the epoch whose weights were "
        "kept (early stopping restores the best validation loss); train: the fold's "
        "training images (all of them, after fitting); valid: the held-out fold.", "",
        f"![Grid results]({plot.name})", ""]
    return "\n".join(parts)

