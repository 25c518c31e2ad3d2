"""Fixtures of the docs tests: the docs site, built once per session."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS_TOOLS = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")


def _missing(module):
    try:
        return importlib.util.find_spec(module) is None
    except ModuleNotFoundError:  # its package is missing
        return True


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The docs site as `make docs` builds it (mkdocs, --strict), in a temporary folder."""
    missing = [name for name in DOCS_TOOLS if _missing(name)]
    if missing:
        pytest.skip(f"the docs tools are not installed ({', '.join(missing)}): make docs "
                    "installs them (pip install -e .[docs])")
    folder = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                    "--site-dir", str(folder)], cwd=ROOT, check=True,
                   env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    return folder
