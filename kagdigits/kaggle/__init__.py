"""The official Kaggle client wrapper and the submissions ledger."""
