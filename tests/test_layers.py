"""The layer rules of ``pyproject.toml`` ([tool.importlinter], decision 0023) hold: the suite
fails as ``lint-imports`` in CI does, so a domain importing upwards or the console importing a
model is caught by ``pytest`` too."""

from __future__ import annotations

from pathlib import Path

from importlinter.cli import lint_imports

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_every_import_linter_contract_is_kept() -> None:
    assert lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True) == 0
