"""`make`'s editable installs are quiet (issue 44, item 5): setuptools' multi-line
"Editable installation" warning, which pip shows despite --quiet, is filtered, and only it."""

import os
import re
import subprocess
import sys
from pathlib import Path

MAKEFILE = Path(__file__).parents[1] / "Makefile"
#: What setuptools' editable_wheel warns (setuptools 80, seen under pip 26.3), shortened.
SETUPTOOLS_WARNING = ("Editable installation.\n!!\n\n        ****\n        Please be careful "
                      "with folders in your working directory with the same\n        name as "
                      "your package as they may take precedence during imports.\n")


def warn(message, pythonwarnings):
    code = f"import warnings; warnings.warn({message!r}, UserWarning)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": pythonwarnings}).stderr


def test_every_editable_install_filters_only_the_editable_installation_warning():
    text = MAKEFILE.read_text()
    [setting] = re.findall(r'^PIP_E := PYTHONWARNINGS="([^"]+)" \S+ -m pip install --quiet -e$',
                           text, re.M)
    recipes = re.findall(r"^\t@?(.*)$", text, re.M)
    assert not [line for line in recipes if "pip install" in line and " -e " in line]
    assert [line for line in recipes if line.startswith("$(PIP_E) ")] == [
        '$(PIP_E) ".[dev,serve]"', '$(PIP_E) ".[docs]"']
    assert "Editable installation" in warn(SETUPTOOLS_WARNING, "")
    assert warn(SETUPTOOLS_WARNING, setting) == ""
    assert "another warning" in warn("another warning", setting)
