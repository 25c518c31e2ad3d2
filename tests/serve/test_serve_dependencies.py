"""The serve extra's dependency floors leave out the versions with known defects, and the
versions installed here meet them (issue 37, item 12)."""

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"

#: package -> versions the floors must refuse, and why.
KNOWN_BAD = {
    "starlette": (["0.39.2", "0.40.0", "0.49.0"],
                  "no Request.form(max_part_size=) below 0.40; Range-header DoS below 0.49.1"),
    "fastapi": (["0.110.0", "0.115.14", "0.120.0"], "allows only starlette < 0.49.1"),
    "python-multipart": (["0.0.9", "0.0.17"], "CVE-2024-53981"),
    "h11": (["0.14.0", "0.15.0"], "CVE-2025-43859"),
}


def serve_requirements():
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    return {(r := Requirement(text)).name: r for text in extras["serve"]}


@pytest.mark.parametrize("name", KNOWN_BAD)
def test_floors_refuse_versions_with_known_defects(name):
    requirement = serve_requirements()[name]
    bad, why = KNOWN_BAD[name]
    admitted = [v for v in bad if requirement.specifier.contains(v)]
    assert not admitted, f"{requirement} admits {admitted} ({why})"


def test_the_installed_versions_meet_the_floors():
    pytest.importorskip("fastapi")
    for name, requirement in serve_requirements().items():
        try:
            installed = version(name)
        except Exception:  # not installed here (e.g. selenium): nothing to compare
            continue
        assert requirement.specifier.contains(installed, prereleases=True), (name, installed)
