"""The demo fleet's compliance summary is realistic: most vehicles pass, a few rules fail."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from fleetcore.core.auth import Actor
from fleetcore.core.db import ActorType, DbContext, bind_context, context_session
from fleetcore.core.orm import new_id
from fleetcore.demo.dataset import MAIN_SLUG
from fleetcore.demo.loader import load_demo
from fleetcore.fleet import service
from fleetcore.fleet.schemas import ComplianceSummaryOut
from fleetcore.reference.service import load_reference_data

TODAY = date(2026, 11, 25)


@pytest.fixture(scope="module")
def demo_summary(app_engine: Engine) -> Iterator[ComplianceSummaryOut]:
    """The main demo tenant's summary, the demo loaded in a transaction rolled back after."""
    with app_engine.connect() as conn:
        outer = conn.begin()
        sessions = sessionmaker(bind=conn, join_transaction_mode="create_savepoint",
                                expire_on_commit=False)
        try:
            with context_session(sessions, DbContext.system()) as setup:
                load_reference_data(setup)
            load_demo(sessions, seed=7, today=TODAY)
            session = Session(bind=conn, join_transaction_mode="create_savepoint")
            bind_context(session, DbContext.system())
            tenant_id = session.execute(text("SELECT id FROM adm_tenants WHERE slug = :s"),
                                        {"s": MAIN_SLUG}).scalar_one()
            bind_context(session, DbContext.for_tenant(tenant_id))
            actor = Actor(type=ActorType.MEMBER, id=new_id(), clerk_user_id="u",
                          tenant_id=tenant_id, tenant_status="active",
                          permissions=frozenset({"vehicles:read", "drivers:read"}))
            at = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
            yield service.compliance_summary(session, actor, at)
            session.close()
        finally:
            outer.rollback()


def test_the_demo_summary_has_a_few_failing_rules(demo_summary: ComplianceSummaryOut) -> None:
    vehicles = demo_summary.vehicles
    assert vehicles.subjects > 20
    assert 0 < vehicles.non_compliant < vehicles.subjects // 2
    failing = {c.rule for c in vehicles.rules if c.failed}
    assert failing
    assert demo_summary.drivers is not None
    assert demo_summary.drivers.subjects > 0
