"""Fixtures of the command-line tests."""

import pytest


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """The test's own temporary folder as the working directory (where runs/ and
    submissions/ are written); its path."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
