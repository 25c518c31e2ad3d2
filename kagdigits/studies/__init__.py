"""Studies: fits over models x seeds (``compare``) or over a parameter grid (``grid``),
run on joblib backends (Dask included), saved as CSV/JSON and reported as Markdown + PNGs.

``options`` holds the command-line arguments and imports nothing heavy; the other
modules import torch, pandas or matplotlib.
"""
