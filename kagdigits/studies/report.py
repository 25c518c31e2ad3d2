"""report.md and its PNG plots, built from a :class:`~kagdigits.studies.results.Study` alone."""

from pathlib import Path

import numpy as np

from kagdigits.files.atomic import atomic_write
from kagdigits.studies import plots
from kagdigits.studies.compare import best_model, representative_seed, seeds_by_model, summarise
from kagdigits.studies.grid import COLUMNS, grid_table

N_SAMPLES = 32
N_MISTAKES = 24


def markdown_table(header, rows, align):
    """A Markdown pipe table; ``align`` holds ``"l"`` or ``"r"`` per column."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header, rows, align):
    """A plain-text table for the terminal: columns two spaces apart, ``align`` as for
    :func:`markdown_table`."""
    cells = [list(map(str, header)), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if a == "l" else cell.rjust(w)
                       for cell, w, a in zip(row, widths, align, strict=True)).rstrip()
             for row in cells]
    return "\n".join(lines)


def summary_text(study, top=5):
    """The study's result table for the terminal: per model the test accuracy (mean ±
    1.96·std over seeds) for a comparison; a grid's ``top`` best settings."""
    if study.info["kind"] == "compare":
        return _compare_summary(study)
    return _grid_summary(study, top)


def _compare_summary(study):
    summary = summarise(study.tables["runs"]).sort_values("test_acc", ascending=False)
    rows = [(r.model, r.seeds, _pm(r.test_acc, r.test_acc_pm), _pm(r.train_acc, r.train_acc_pm),
             epochs_text(r), f"{r.train_seconds:.1f}") for r in summary.itertuples()]
    table = text_table(["model", "seeds", "test accuracy", "train accuracy", "epochs",
                        "train s"], rows, "lrrrrr")
    return (f"{table}\nBest: {best_model(summary)} (test accuracy, mean ± 1.96·std over "
            "seeds; ranked best first)")


def _grid_summary(study, top):
    table = grid_table(study)
    if table.empty:
        return "No results."
    columns = list(study.info["settings"][0]["columns"])
    best = table.sort_values("valid acc", ascending=False, kind="stable").head(top)
    rows = [(*(row[c] for c in columns), f"{row['epochs']:g}", f"{row['train acc']:.4f}",
             _pm(row["valid acc"], row["valid acc ±"])) for _, row in best.iterrows()]
    shown = (f"the best {len(best)} of {len(table)} settings" if len(best) < len(table)
             else f"all {len(table)} settings, best first")
    return (text_table([*columns, "epochs", "train acc", "valid acc"], rows,
                       "l" * len(columns) + "rrr")
            + f"\n{shown} by validation accuracy")


def _pm(mean, half, digits=4):
    return f"{mean:.{digits}f}" if np.isnan(half) else f"{mean:.{digits}f} ± {half:.{digits}f}"


def _about(info, devices):
    """The bullet list every report starts with; ``devices``: the device of each fit."""
    shape = "×".join(str(n) for n in info["image_shape"])
    lines = [f"- Data: {info['data']}: {info['n_train']:,} train / {info['n_test']:,} test "
             f"images of {shape}"]
    if info.get("merged"):
        lines += [f"- Merged from {len(info['merged'])} reports (device "
                  f"{', '.join(sorted(set(devices)))}; wall time {info['wall_seconds']:.0f} s "
                  "in all):",
                  *(f"  - {m['folder']}: {', '.join(m['models'])}; `{m['command']}`; "
                    f"{m['backend']}, wall time {m['wall_seconds']:.0f} s; written "
                    f"{m['created']}" for m in info["merged"])]
    else:
        lines += [f"- Backend: {info['backend']}; device {', '.join(sorted(set(devices)))}; "
                  f"wall time {info['wall_seconds']:.0f} s",
                  f"- Command: `{info['command']}`",
                  f"- Written {info['created']} by kagdigits {info['version']}"]
    if info.get("rebuilt_from"):
        lines.append(f"- Rebuilt without retraining from: {', '.join(info['rebuilt_from'])}")
    if info.get("interrupted"):
        lines.append(f"- **Interrupted**: {info['interrupted']}")
    return "\n".join(lines)


def epochs_text(row):
    """The epochs a model ran over its seeds: ``"5"`` when every seed ran as many, else
    ``"4.5 (4–5)"`` (mean, min–max)."""
    if row.epochs_min == row.epochs_max:
        return f"{row.epochs_min}"
    return f"{row.epochs_mean:.1f} ({row.epochs_min}–{row.epochs_max})"


def _seeds_text(seeds):
    """How the models were seeded, e.g. ``"Each model fitted once per seed (0, 1, 2)"``."""
    lists = {tuple(s) for s in seeds.values()}
    if len(lists) == 1:
        only = ", ".join(map(str, lists.pop()))
        return f"Each model fitted once per seed ({only})"
    return "Fitted " + "; ".join(f"{model} with seed{'s' if len(s) > 1 else ''} "
                                 f"{', '.join(map(str, s))}" for model, s in seeds.items())


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
             _pm(r.train_acc, r.train_acc_pm), epochs_text(r), f"{r.train_seconds:.1f}")
            for r in summary.itertuples()]
    parts = [
        f"# Model comparison: {', '.join(summary['model'])}", "", _about(info, runs["device"]),
        f"- {_seeds_text(seeds_by_model(runs))} on the same train/test split; the "
        "estimator's stratified validation split (for early stopping and the valid curves) "
        "is the same for every fit",
        "", f"**Best model: {best}**, test accuracy {_pm(best_row.test_acc, best_row.test_acc_pm)}"
        f" (mean ± 1.96·std over {best_row.seeds} seed{'s' if best_row.seeds > 1 else ''}).", "",
        markdown_table(["model", "parameters", "test accuracy", "train accuracy",
                        "epochs run", "train time (s)"], rows, "lrrrrr"), "",
        "± is 1.96 × the sample standard deviation over seeds. Epochs run: mean (min–max) "
        "over seeds when they differ. Train accuracy: the final "
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

