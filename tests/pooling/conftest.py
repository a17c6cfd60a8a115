"""Fixtures of the transaction-pooling tests: a real PgBouncer in transaction mode, an app-role
engine through it configured as ``DATABASE_POOL_MODE=transaction`` configures it, and the API
on that engine.

``client`` is overridden here, so that every API test of this directory — including the
isolation walker and resource contracts re-run by ``test_api_behind_pgbouncer.py`` — talks to
an app whose every query goes through PgBouncer. Test data is still made (and checked) on
the direct engine of ``tests/conftest.py``, so what the pooled app sees is what other clients
committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pgbouncer_support import SERVER_CONNECTIONS, PgBouncer
from sqlalchemy import Engine

from fleetcore.app import create_app
from fleetcore.core.db import check_app_role
from fleetcore.core.runtime import DatabaseRuntime
from fleetcore.settings import PoolMode, Settings

CLIENT_CONNECTIONS = 4 * SERVER_CONNECTIONS
"""The pooled app's own connections: more than PgBouncer has server connections."""


@pytest.fixture(scope="session")
def pgbouncer(test_database: Any) -> Iterator[PgBouncer]:
    """PgBouncer (transaction mode, :data:`SERVER_CONNECTIONS` server connections)."""
    bouncer = PgBouncer(test_database.app_url)
    bouncer.start()
    try:
        yield bouncer
    finally:
        bouncer.stop()


@pytest.fixture(autouse=True)
def _pgbouncer_log(pgbouncer: PgBouncer) -> Iterator[None]:
    """What PgBouncer logged during a test, printed (so shown when the test fails)."""
    before = len(pgbouncer.log())
    yield
    print(f"PgBouncer log ({pgbouncer.directory}):\n{pgbouncer.log()[before:][-4000:]}")


@pytest.fixture(scope="session")
def pooled_settings(api_settings: Settings, pgbouncer: PgBouncer) -> Settings:
    """The API's test settings with ``DATABASE_URL`` at PgBouncer, in transaction pool mode."""
    return api_settings.model_copy(update={
        "database_url": pgbouncer.url(), "database_pool_mode": PoolMode.TRANSACTION,
        "database_pool_size": CLIENT_CONNECTIONS // 2,  # as many again may overflow
    })


@pytest.fixture(scope="session")
def pooled_engine(pooled_settings: Settings) -> Iterator[Engine]:
    """The app role through PgBouncer: the engine ``fleetcore serve`` builds from the settings."""
    runtime = DatabaseRuntime.open(pooled_settings)
    assert runtime.embedded is None
    engine = runtime.app_engine(pooled_settings)
    check_app_role(engine)  # what `fleetcore serve` does first
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pooled_app(pooled_settings: Settings, pooled_engine: Engine) -> FastAPI:
    return create_app(pooled_settings, pooled_engine)


@pytest.fixture(scope="session")
def client(pooled_app: FastAPI) -> Iterator[TestClient]:
    """The API client of this directory: the app behind PgBouncer."""
    with TestClient(pooled_app) as test_client:
        yield test_client
