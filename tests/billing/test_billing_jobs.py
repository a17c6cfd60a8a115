"""The hourly billing job's steps: a due fleet is invoiced and its invoice numbered by the
set-based pass; fleets past due beyond the deployment's grace period are suspended first; a
suspension by staff is not lifted by a payment."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from api_support import TenantWorld
from fleetcore.billing import service
from fleetcore.billing.schemas import PlanCreate
from fleetcore.core.db import DbContext, context_session
from fleetcore.integrations.stripe.billing_jobs import bill, close_billing_periods
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
    no_stripe = api_settings.model_copy(update={"stripe_api_key": None})
    with context_session(sessions, DbContext.system()) as session:
        closed, to_send = close_billing_periods(session, now=datetime(2026, 2, 2, tzinfo=UTC),
                                                settings=no_stripe)
        assert [t for t, _ in closed.invoices].count(world.id) == 1
        assert to_send == []  # nothing goes to Stripe while it is not configured
    with context_session(sessions, DbContext.for_tenant(world.id)) as session:
        # The fleet's own job finds its period closed already.
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
        grace = service.grace_period(14)
        assert service.mark_past_due(session, other.id, at=now, reason="test", grace=grace)
        assert not service.mark_past_due(session, other.id, at=now, reason="again",
                                         grace=grace)
        assert service.suspend_overdue(session, now=now + timedelta(days=14, seconds=1),
                                       grace=grace) >= 1
        assert service.reactivate_after_payment(session, other.id, at=now + timedelta(days=20))
        status = session.execute(text(
            "SELECT (SELECT status FROM adm_tenants WHERE id = :a),"
            " (SELECT status FROM adm_tenants WHERE id = :b)"),
            {"a": world.id, "b": other.id}).one()
    assert tuple(status) == ("suspended", "active")


def test_the_grace_period_is_the_deployments_setting(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
    api_settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLEETCORE_BILLING_GRACE_DAYS", "3")
    assert Settings().fleetcore_billing_grace_days == 3
    assert Settings.model_fields["fleetcore_billing_grace_days"].default == 14
    three_days = api_settings.model_copy(update={"fleetcore_billing_grace_days": 3,
                                                 "stripe_api_key": None})
    # Later than the cut-offs other tests suspend at (the dunning step is global).
    failed = datetime(2026, 11, 1, tzinfo=UTC)
    early, late = make_tenant(trial_days=0), make_tenant(trial_days=0)
    with context_session(sessions, DbContext.system()) as session:
        assert service.mark_past_due(session, early.id, at=failed, reason="card declined",
                                     grace=service.grace_period(3))
        assert service.mark_past_due(session, late.id, at=failed + timedelta(days=2),
                                     reason="card declined", grace=service.grace_period(3))
        grace_until = session.scalar(text(
            "SELECT metadata ->> 'grace_until' FROM adm_tenant_lifecycle_events"
            " WHERE tenant_id = :t AND event_type = 'past_due'"), {"t": early.id})
        assert grace_until == (failed + timedelta(days=3)).isoformat()
    with context_session(sessions, DbContext.system()) as session:
        # Four days after the first failure: 3 days of grace are over for it, not for the
        # fleet that failed two days later (the default 14 days would suspend neither).
        close_billing_periods(session, now=failed + timedelta(days=4), settings=three_days)
        status = dict(session.execute(text(
            "SELECT id, status FROM adm_tenants WHERE id IN (:a, :b)"),
            {"a": early.id, "b": late.id}).all())
    assert status == {early.id: "suspended", late.id: "past_due"}


def test_the_hourly_pass_names_the_fleets_with_something_for_stripe(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
    api_settings: Settings,
) -> None:
    with_customer, without = make_tenant(trial_days=0), make_tenant(trial_days=0)
    code = f"j{uuid.uuid4().hex[:12]}"
    stripe = api_settings.model_copy(update={"stripe_api_key": "sk_test_unused"})
    with context_session(sessions, DbContext.system()) as session:
        service.create_plan(session, None, PlanCreate.model_validate({
            "code": code, "name": code, "monthly_fee": {"amount": "30.00", "currency": "EUR"}}))
        for world in (with_customer, without):
            service.subscribe(session, None, world.id, code,
                              now=datetime(2026, 1, 1, tzinfo=UTC))
        session.execute(text("UPDATE adm_tenants SET stripe_customer_id = :c WHERE id = :t"),
                        {"c": f"cus_{code}", "t": with_customer.id})
        # Nothing is sent here: the pass only says which fleets' jobs will send.
        _, to_send = close_billing_periods(session, now=datetime(2026, 2, 2, tzinfo=UTC),
                                           settings=stripe)
    assert with_customer.id in to_send
    assert without.id not in to_send  # no Stripe customer: its usage and invoice wait
