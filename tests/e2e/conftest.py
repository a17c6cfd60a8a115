"""Browser tests: the console served by uvicorn on a free 127.0.0.1 port (in a thread, on the
test database) and driven by Playwright in Debian's Chromium.

Chromium is not optional here: CI installs it (``.ci/run``), so a missing browser fails the
run loudly instead of skipping the console's browser tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import Engine, text

from api_support import TenantWorld
from fleet_support import Fleet
from fleetcore.app import create_app
from fleetcore.core.db import DbContext, context_session
from fleetcore.core.orm import new_id
from fleetcore.settings import Settings
from live_server import served

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def console_url(tmp_path_factory: pytest.TempPathFactory, app_engine: Engine) -> Iterator[str]:
    """The app in development mode (demo sign-in, no Clerk key) served on 127.0.0.1."""
    settings = Settings(fleetcore_env="development",
                        fleetcore_data_dir=Path(tmp_path_factory.mktemp("e2e-data")))
    with served(create_app(settings, app_engine), lifespan="on") as url:
        yield url


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright (a missing browser is a failure).

    Module-scoped on purpose: Playwright's sync API keeps an asyncio loop running in the main
    thread while it is open, and tests that run later (``asyncio.run`` in the job tests) must
    not find one."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: the browser tests need it "
                    "(apt-get install -y chromium; .ci/run installs it).", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


WAIT_MS = 20_000
"""How long a browser action or an ``expect`` waits: generous, for a loaded 2-core machine
(an assertion that holds returns as soon as it holds)."""


@pytest.fixture(autouse=True)
def patient_expect() -> Iterator[None]:
    """``expect(...)`` waits as long as actions do (Playwright's default is 5 s)."""
    expect.set_options(timeout=WAIT_MS)
    try:
        yield
    finally:
        expect.set_options(timeout=5_000)


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def e2e_fleet(make_tenant: Callable[..., TenantWorld], client: TestClient,
              auth: Callable[..., dict[str, str]], sessions: Any) -> Fleet:
    """A committed tenant with its own car make and model."""
    world = make_tenant()
    make_id, model_id = new_id(), new_id()
    with context_session(sessions, DbContext.for_tenant(world.id)) as session:
        session.execute(text("INSERT INTO dir_car_makes (id, tenant_id, name) VALUES (:id, :t,"
                             " :n)"), {"id": make_id, "t": world.id, "n": f"Dacia {world.slug}"})
        session.execute(text("INSERT INTO dir_car_models (id, tenant_id, make_id, name) VALUES"
                             " (:id, :t, :m, 'Jogger')"),
                        {"id": model_id, "t": world.id, "m": make_id})
    return Fleet(world, client, auth, sessions, make_id, model_id)
