"""Finance tests build their books with the settlement builders of ``tests/trips``, and look at
the console through a browser-like client (as ``tests/web`` does); toll and fine tests keep
their books through the API (``finance_support.Books``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from finance_support import Books
from sqlalchemy import Engine

from api_support import TenantWorld
from fleetcore.app import create_app
from fleetcore.settings import Settings
from web_support import Browser, member_token

_TRIPS = str(Path(__file__).resolve().parents[1] / "trips")
if _TRIPS not in sys.path:  # what pytest's prepend import mode does for that folder's tests
    sys.path.insert(0, _TRIPS)


@pytest.fixture(scope="session")
def ledger_console_app(api_settings: Settings, app_engine: Engine,
                       tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    settings = api_settings.model_copy(update={
        "fleetcore_data_dir": tmp_path_factory.mktemp("ledger-console"),
        "clerk_sign_in_url": "https://accounts.fleet.test/sign-in"})
    return create_app(settings, app_engine)


@pytest.fixture
def signed_in(ledger_console_app: FastAPI,
              token: Callable[..., str]) -> Iterator[Callable[..., Browser]]:
    """``signed_in(world, role)``: a console browser holding that member's session cookie."""
    with TestClient(ledger_console_app) as client:
        browser = Browser(client)

        def sign_in(world: TenantWorld, role: str = "owner") -> Browser:
            browser.sign_in(member_token(token, world, role))
            return browser

        yield sign_in


@pytest.fixture
def books(tenant_a: TenantWorld, client: TestClient, auth: Callable[..., dict[str, str]],
          sessions: Any) -> Books:
    return Books(tenant_a, client, auth, sessions)


@pytest.fixture
def other_books(tenant_b: TenantWorld, client: TestClient,
                auth: Callable[..., dict[str, str]], sessions: Any) -> Books:
    return Books(tenant_b, client, auth, sessions)
