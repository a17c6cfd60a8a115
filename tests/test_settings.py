"""Settings read from the environment in the forms the README documents."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from fleetcore.cli import app as cli
from fleetcore.settings import Settings, get_settings

LOCAL = "http://127.0.0.1:8000"
APP = "https://app.example.com"


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    """`serve` sends logs to the CliRunner's stderr, closed after the test: undo that."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


FORMS = [
    (LOCAL, [LOCAL]),
    (f"{LOCAL}/", [LOCAL]),
    (f"{LOCAL},{APP}", [LOCAL, APP]),
    (f" {LOCAL} , {APP} ,", [LOCAL, APP]),
    (f'["{LOCAL}", "{APP}"]', [LOCAL, APP]),
    (f'  ["{LOCAL}"]', [LOCAL]),
    ("", []),
    ("[]", []),
]


def test_authorized_parties_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    read = {}
    for raw, _ in FORMS:
        monkeypatch.setenv("CLERK_AUTHORIZED_PARTIES", raw)
        try:
            read[raw] = Settings().clerk_authorized_parties
        except Exception as exc:  # the form that crashes is the finding
            read[raw] = [f"{type(exc).__name__}"]
    assert read == dict(FORMS)


@pytest.mark.parametrize("raw", ['["http://a", 3]', '{"a": 1}', "[not json"])
def test_a_malformed_list_of_authorized_parties_says_so(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("CLERK_AUTHORIZED_PARTIES", raw)
    with pytest.raises(ValidationError, match="CLERK_AUTHORIZED_PARTIES"):
        Settings()


def test_serve_reads_the_readme_form_of_authorized_parties(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Production without a key stops right after the settings are read: the settings path of
    # `fleetcore serve`, without starting a database.
    monkeypatch.setenv("FLEETCORE_ENV", "production")
    monkeypatch.setenv("FLEETCORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CLERK_AUTHORIZED_PARTIES", LOCAL)
    for name in ("CLERK_JWT_KEY", "CLERK_JWKS_URL", "SENTRY_DSN"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["serve"])
        assert get_settings().clerk_authorized_parties == [LOCAL]
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert "CLERK_JWT_KEY" in result.output
