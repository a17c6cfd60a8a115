"""``fleetcore token`` mints a development token that the API accepts (same code path)."""

from __future__ import annotations

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
