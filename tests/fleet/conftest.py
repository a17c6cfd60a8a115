"""Fixtures of the fleet API tests: committed tenants with a private car catalogue, drivers,
documents and vehicles, created the way the API would see them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api_support import TenantWorld
from fleet_support import Fleet
from fleetcore.core.db import DbContext, context_session
from fleetcore.core.orm import new_id


@pytest.fixture(scope="session")
def make_fleet(make_tenant: Callable[..., TenantWorld], client: TestClient,
               auth: Callable[..., dict[str, str]], sessions: Any) -> Callable[[], Fleet]:
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
def api_fleet(make_fleet: Callable[[], Fleet]) -> Fleet:
    return make_fleet()


@pytest.fixture
def other_api_fleet(make_fleet: Callable[[], Fleet]) -> Fleet:
    return make_fleet()
