"""Console test fixtures: the app (Clerk-configured, files under a temporary data dir), a
browser-like client per test, and committed fleets to look at."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api_support import TenantWorld
from fleet_support import Fleet
from fleetcore.app import create_app
from fleetcore.core.db import DbContext, context_session
from fleetcore.core.orm import new_id
from fleetcore.settings import Settings
from web_support import Browser, member_token

SIGN_IN_URL = "https://accounts.fleet.test/sign-in"


@pytest.fixture(scope="session")
def console_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console-data")


@pytest.fixture(scope="session")
def console_settings(api_settings: Settings, console_data_dir: Path) -> Settings:
    return api_settings.model_copy(update={"fleetcore_data_dir": console_data_dir,
                                           "clerk_sign_in_url": SIGN_IN_URL})


@pytest.fixture(scope="session")
def console_app(console_settings: Settings, app_engine: Engine) -> FastAPI:
    return create_app(console_settings, app_engine)


@pytest.fixture
def browser(console_app: FastAPI) -> Iterator[Browser]:
    """A fresh client (no cookies) on the console app."""
    with TestClient(console_app) as client:
        yield Browser(client)


@pytest.fixture
def signed_in(browser: Browser, token: Callable[..., str]) -> Callable[..., Browser]:
    """``signed_in(world, role)``: the browser holding that member's session cookie."""

    def sign_in(world: TenantWorld, role: str = "owner") -> Browser:
        browser.sign_in(member_token(token, world, role))
        return browser

    return sign_in


@pytest.fixture(scope="session")
def make_console_fleet(make_tenant: Callable[..., TenantWorld], client: TestClient,
                       auth: Callable[..., dict[str, str]], sessions: Any) -> Callable[[], Fleet]:
    """A committed tenant with a private car make and model (as the fleet tests have)."""

    def make() -> Fleet:
        world = make_tenant()
        make_id, model_id = new_id(), new_id()
        with context_session(sessions, DbContext.for_tenant(world.id)) as session:
            session.execute(text("INSERT INTO dir_car_makes (id, tenant_id, name) "
                                 "VALUES (:id, :t, :n)"),
                            {"id": make_id, "t": world.id, "n": f"Make {make_id.hex[:6]}"})
            session.execute(text("INSERT INTO dir_car_models (id, tenant_id, make_id, name) "
                                 "VALUES (:id, :t, :m, 'Model')"),
                            {"id": model_id, "t": world.id, "m": make_id})
        return Fleet(world, client, auth, sessions, make_id, model_id)

    return make


@pytest.fixture
def fleet(make_console_fleet: Callable[[], Fleet]) -> Fleet:
    return make_console_fleet()


@pytest.fixture
def other_fleet(make_console_fleet: Callable[[], Fleet]) -> Fleet:
    return make_console_fleet()
