"""Installs that stay green: every dependency is bounded below its next major version, so a
library's breaking release cannot break ``pip install -e ".[dev]"`` the day it is published."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _requirements(*, build: bool = True) -> list[Requirement]:
    with PYPROJECT.open("rb") as handle:
        data = tomllib.load(handle)
    specs = [*(data["build-system"]["requires"] if build else []),
             *data["project"]["dependencies"]]
    for extra in data["project"]["optional-dependencies"].values():
        specs += extra
    return [Requirement(spec) for spec in specs]


def test_every_dependency_has_an_upper_bound_below_a_major_version() -> None:
    unbounded = [str(r) for r in _requirements()
                 if not any(s.operator in ("<", "<=", "==", "~=") for s in r.specifier)]
    assert unbounded == []


def test_every_bound_admits_the_installed_version() -> None:
    """The bounds describe what the suite runs on: the installed versions satisfy them."""
    from importlib.metadata import PackageNotFoundError, version

    outside = []
    for requirement in _requirements(build=False):  # the build ran in its own environment
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            outside.append(f"{requirement}: not installed")
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            outside.append(f"{requirement}: {installed}")
    assert outside == []


def test_every_file_the_package_reads_is_in_its_package_data() -> None:
    """A wheel holds the Python modules and the files ``package-data`` names: a template,
    script or mapping added without its pattern works in an editable install and is missing
    from a real one."""
    from fnmatch import fnmatch

    with PYPROJECT.open("rb") as handle:
        patterns = tomllib.load(handle)["tool"]["setuptools"]["package-data"]["fleetcore"]
    package = PYPROJECT.parent / "src" / "fleetcore"
    missing = [
        str(path.relative_to(package)) for path in package.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
        and not any(fnmatch(str(path.relative_to(package)), p) for p in patterns)
    ]
    assert missing == []
