"""Fixtures of the drivers tests."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from drivers_support import COUNTRY, World, insert
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.core.db import ActorType, DbContext, bind_context
from fleetcore.core.orm import new_id


@pytest.fixture
def world(db: Session) -> World:
    """A tenant in Malta with its regulation; the session bound to that tenant."""
    bind_context(db, DbContext.system())
    ids = []
    for _ in range(2):
        ids.append(insert(db, "adm_tenants", name="Drivers test", slug=f"d-{uuid.uuid4().hex[:10]}",
                          country=COUNTRY, default_currency="EUR", timezone="Europe/Malta"))
    insert(db, "dir_country_regulations", country=COUNTRY, effective_from=date(2020, 1, 1),
           currency="EUR", vat_rate_pct=18, professional_card_required=True,
           professional_card_name="Tag", min_driver_age=21, min_licence_years=3,
           source="test")
    actor = Actor(type=ActorType.MEMBER, id=new_id(), clerk_user_id="user_test",
                  tenant_id=ids[0], tenant_status="active", permissions=frozenset({"*"}))
    w = World(db, ids[0], actor, ids[1])
    w.as_tenant()
    return w
