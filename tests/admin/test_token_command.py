"""``fleetcore token`` mints a development token that the API accepts (same code path)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api_support import TenantWorld
from fleetcore.app import create_app
from fleetcore.cli import app as cli
from fleetcore.settings import Settings, get_settings


@pytest.fixture(autouse=True)
def quiet_root_logger() -> Iterator[None]:
    """No log handler left by an earlier `serve` (bound to a closed CliRunner stream) writes
    into these commands' output; the ones `serve` adds here are removed afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers[:] = []
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def dev_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, test_database: Any) -> Iterator[Path]:
    monkeypatch.setenv("FLEETCORE_ENV", "development")
    monkeypatch.setenv("FLEETCORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", test_database.app_url)
    for name in ("CLERK_JWT_KEY", "CLERK_JWKS_URL", "CLERK_AUTHORIZED_PARTIES"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_token_for_owner_email_and_role(
    dev_env: Path, make_tenant: Callable[..., TenantWorld], app_engine: Any
) -> None:
    world = make_tenant()
    runner = CliRunner()
    owner = runner.invoke(cli, ["token", "--tenant", world.slug])
    assert owner.exit_code == 0, owner.output
    token = owner.stdout.strip().splitlines()[-1]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == world.person().user_id
    assert claims["o"]["id"] == world.org_id
    assert claims["v"] == 2
    assert (dev_env / "keys" / "dev-session-key.pem").exists()

    finance = runner.invoke(cli, ["token", "--tenant", world.slug, "--role", "finance"])
    assert jwt.decode(finance.stdout.strip().splitlines()[-1],
                      options={"verify_signature": False})["sub"] == world.person("finance").user_id
    by_email = runner.invoke(cli, ["token", "--tenant", world.slug, "--email",
                                   world.person("viewer").email])
    assert by_email.exit_code == 0
    missing = runner.invoke(cli, ["token", "--tenant", world.slug, "--email", "no@example.com"])
    assert missing.exit_code == 1

    app = create_app(Settings(fleetcore_env="development", fleetcore_data_dir=dev_env), app_engine)
    with TestClient(app) as client:
        me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["tenant"]["slug"] == world.slug


def test_token_refuses_outside_development(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLEETCORE_ENV", "production")
    monkeypatch.setenv("FLEETCORE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["token"])
        assert result.exit_code == 2
        serve = CliRunner().invoke(cli, ["serve"])
        assert serve.exit_code == 2
        assert "CLERK_JWT_KEY" in serve.output
    finally:
        get_settings.cache_clear()


def _one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


def test_token_before_the_first_serve_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FLEETCORE_ENV", "development")
    monkeypatch.setenv("FLEETCORE_DATA_DIR", str(tmp_path))
    for name in ("DATABASE_URL", "DATABASE_OWNER_URL", "CLERK_JWT_KEY", "CLERK_JWKS_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["token"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    line = _one_line(result.output)
    assert f"No Fleetcore database in {tmp_path}" in line
    assert "fleetcore serve" in line
    assert not (tmp_path / "postgres").exists(), "no empty database is created"
    assert not (tmp_path / "keys").exists()


def test_token_against_an_unmigrated_database_says_what_to_do(
    dev_env: Path, monkeypatch: pytest.MonkeyPatch, test_database: Any
) -> None:
    from sqlalchemy.engine import make_url

    # The server's maintenance database: reachable by the app role, never migrated.
    bare = make_url(test_database.app_url).set(database="postgres")
    monkeypatch.setenv("DATABASE_URL", bare.render_as_string(hide_password=False))
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["token"])
    assert result.exit_code == 1, result.output
    line = _one_line(result.output)
    assert "not migrated" in line
    assert "fleetcore serve" in line
    assert "password" not in line.lower()
    assert "fleetcore-test" not in line


def test_token_for_a_missing_tenant_is_one_line(dev_env: Path) -> None:
    result = CliRunner().invoke(cli, ["token", "--tenant", "no-such-fleet"])
    assert result.exit_code == 1
    line = _one_line(result.output)
    assert "no-such-fleet" in line
    assert "fleetcore demo load" in line
