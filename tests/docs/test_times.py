"""One source of truth for the training times (issue 44, item 7): the README's and the
Models page's tables quote the figures of docs/benchmarks/index.md's "Kaggle-size training
times", cell for cell. Changing a figure: change it there (with its measurement), then here
the test names each cell to copy."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "docs" / "benchmarks" / "index.md"


def table(text, header):
    """The rows (lists of stripped cells) of the markdown table whose header row starts
    with ``header``."""
    lines = text[text.index(header):].splitlines()[2:]  # past the header and the rule
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def model_of(cell):
    return re.search(r"`(\w+)`", cell)[1]


def times(path, header, model_column, cpu_column, gpu_column):
    return {model_of(row[model_column]): (row[cpu_column], row[gpu_column])
            for row in table(path.read_text(encoding="utf-8"), header)}


def test_the_readme_and_the_models_page_quote_the_benchmark_times():
    source = times(SOURCE, "| model | CPU, 1 thread |", 0, 1, 2)
    assert {"lenet5", "kagglecnn", "ensemble"} <= set(source)
    quoted = {"README.md": times(ROOT / "README.md", "| `MODEL=` |", 0, 2, 3),
              "docs/models.md": times(ROOT / "docs" / "models.md", "| budget | model |", 1, 2, 3)}
    wrong = [f"{page}: {model} says {cells}, docs/benchmarks/index.md {source.get(model)}"
             for page, rows in quoted.items() for model, cells in rows.items()
             if source.get(model) != cells]
    assert not wrong, "copy the benchmark figures: " + "; ".join(wrong)
    for page, rows in quoted.items():
        assert set(rows) == set(source), page
