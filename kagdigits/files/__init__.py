"""File formats and data sources: atomic writes, Kaggle CSVs, IDX files, datasets, the demo set."""
