"""The hourly billing job's steps: a due fleet is invoiced and its invoice numbered; fleets
past due beyond the grace period are suspended first; a suspension by staff is not lifted by
a payment."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from api_support import TenantWorld
from fleetcore.billing import service
from fleetcore.billing.schemas import PlanCreate
from fleetcore.core.db import DbContext, context_session
from fleetcore.integrations.stripe.billing_jobs import bill, tenants_to_bill
from fleetcore.settings import Settings


def test_the_job_invoices_numbers_and_lists_fleets_to_bill(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
    api_settings: Settings,
) -> None:
    world = make_tenant(trial_days=0)
    code = f"j{uuid.uuid4().hex[:12]}"
    with context_session(sessions, DbContext.system()) as session:
        service.create_plan(session, None, PlanCreate.model_validate({
            "code": code, "name": code, "monthly_fee": {"amount": "30.00", "currency": "EUR"}}))
        service.subscribe(session, None, world.id, code, now=datetime(2026, 1, 1, tzinfo=UTC))
        assert world.id in tenants_to_bill(session, now=datetime(2026, 2, 2, tzinfo=UTC))
    no_stripe = api_settings.model_copy(update={"stripe_api_key": None})
    with context_session(sessions, DbContext.for_tenant(world.id)) as session:
        assert bill(session, world.id, now=datetime(2026, 2, 2, tzinfo=UTC),
                    settings=no_stripe) == (1, 0)
    with context_session(sessions, DbContext.for_tenant(world.id)) as session:
        assert bill(session, world.id, now=datetime(2026, 2, 2, tzinfo=UTC),
                    settings=no_stripe) == (0, 0)
        numbers = list(session.scalars(text(
            "SELECT invoice_number FROM bil_tenant_invoices WHERE tenant_id = :t"),
            {"t": world.id}))
    assert numbers == [f"FC-{world.slug.upper()}-2026-000001"]


def test_a_payment_does_not_lift_a_suspension_by_staff(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
) -> None:
    world = make_tenant(trial_days=0, status="suspended")
    with context_session(sessions, DbContext.system()) as session:
        now = datetime(2026, 3, 1, tzinfo=UTC)
        assert not service.reactivate_after_payment(session, world.id, at=now)
        # A fleet dunning moved is suspended after the grace period, and lifted by payment.
        other = make_tenant(trial_days=0)
        assert service.mark_past_due(session, other.id, at=now, reason="test")
        assert not service.mark_past_due(session, other.id, at=now, reason="again")
        assert service.suspend_overdue(session, now=now + timedelta(days=14, seconds=1)) >= 1
        assert service.reactivate_after_payment(session, other.id, at=now + timedelta(days=20))
        status = session.execute(text(
            "SELECT (SELECT status FROM adm_tenants WHERE id = :a),"
            " (SELECT status FROM adm_tenants WHERE id = :b)"),
            {"a": world.id, "b": other.id}).one()
    assert tuple(status) == ("suspended", "active")
