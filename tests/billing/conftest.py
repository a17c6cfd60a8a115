"""Billing tests look at the console through a browser-like client (as ``tests/web`` does)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api_support import TenantWorld
from fleetcore.app import create_app
from fleetcore.settings import Settings
from web_support import Browser, member_token


@pytest.fixture(scope="session")
def billing_console_app(api_settings: Settings, app_engine: Engine,
                        tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    settings = api_settings.model_copy(update={
        "fleetcore_data_dir": tmp_path_factory.mktemp("billing-console"),
        "clerk_sign_in_url": "https://accounts.fleet.test/sign-in"})
    return create_app(settings, app_engine)


@pytest.fixture
def signed_in(billing_console_app: FastAPI,
              token: Callable[..., str]) -> Iterator[Callable[..., Browser]]:
    """``signed_in(world, role)``: a console browser holding that member's session cookie."""
    with TestClient(billing_console_app) as client:
        browser = Browser(client)

        def sign_in(world: TenantWorld, role: str = "owner") -> Browser:
            browser.sign_in(member_token(token, world, role))
            return browser

        yield sign_in
