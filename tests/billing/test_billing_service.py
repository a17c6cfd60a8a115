"""Subscriptions over time against committed data: an upgrade is prorated into the next
invoice, a downgrade waits for the period's end, usage comes from the fleet's own rows and is
stored once per metric and period, a period is invoiced once even by concurrent runs, and
invoice numbers are gapless under concurrent finalisation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from billing_support import race as _race
from billing_support import seed_usage as _seed_usage
from billing_support import service_plan as _plan
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from api_support import TenantWorld
from fleetcore.billing import service
from fleetcore.core.db import DbContext, context_session

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)


def _system(sessions: sessionmaker[Session]) -> Any:
    return context_session(sessions, DbContext.system())


def test_upgrade_prorates_downgrade_waits_usage_bills_overage_and_a_period_bills_once(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
) -> None:
    world = make_tenant(trial_days=0)
    with _system(sessions) as session:
        small, big = _plan(session, "100.00"), _plan(session, "200.00")
        _seed_usage(session, world.id)
        sub = service.subscribe(session, None, world.id, small, now=JAN)
        assert (sub.status, sub.current_period_start, sub.current_period_end) == (
            "active", JAN, FEB)
        up = service.change_plan(session, None, world.id, big, if_match=None,
                                 now=datetime(2026, 1, 16, tzinfo=UTC))
        # 16 of 31 days left at 100.00 more a month.
        assert up.immediate
        assert up.proration == Decimal("51.61")
        down = service.change_plan(session, None, world.id, small, if_match=None,
                                   now=datetime(2026, 1, 20, tzinfo=UTC))
        assert not down.immediate
        assert down.subscription.plan_id != service._offered(session, small).id

    with _system(sessions) as session:
        invoices = service.advance_subscription(session, world.id,
                                                now=datetime(2026, 2, 2, tzinfo=UTC))
        assert len(invoices) == 1
        invoice = invoices[0]
        lines = {(line.line_type, line.metric): line.amount
                 for line in service.invoice_lines(session, world.id, invoice.id)}
        assert lines == {
            ("base", None): Decimal("200.0000"),
            ("overage", "active_drivers"): Decimal("2.0000"),  # 3 active, 2 included
            ("overage", "trips"): Decimal("0.5000"),  # 15 in January, 10 included
            ("overage", "distance_km"): Decimal("0.8600"),  # 57.5 km * 0.015 = 0.8625
            ("proration", None): Decimal("51.6100"),
        }
        assert invoice.total == sum(lines.values()) == Decimal("254.97")
        assert service.usage_of(session, world.id, JAN) == {
            "active_vehicles": Decimal(0), "active_drivers": Decimal(3),
            "trips": Decimal(15), "distance_km": Decimal("157.5")}
        sub = service.get_subscription(session, world.id)
        # The downgrade applied at the period's end; the proration was consumed.
        assert sub.plan_id == service._offered(session, small).id
        assert (sub.current_period_start, "pending_prorations" in sub.extra) == (FEB, False)

    with _system(sessions) as session:
        # A second run changes nothing: the period is invoiced once, usage stored once.
        assert service.advance_subscription(session, world.id,
                                            now=datetime(2026, 2, 3, tzinfo=UTC)) == []
        counts = session.execute(text(
            "SELECT (SELECT count(*) FROM bil_tenant_invoices WHERE tenant_id = :t),"
            " (SELECT count(*) FROM bil_tenant_usage_metrics WHERE tenant_id = :t)"),
            {"t": world.id}).one()
        assert tuple(counts) == (1, 4)
        events = list(session.scalars(text(
            "SELECT event_type FROM adm_tenant_lifecycle_events WHERE tenant_id = :t"
            " ORDER BY created_at, id"), {"t": world.id}))
        assert events[-3:] == ["activated", "plan_changed", "plan_changed"]


def test_a_trial_activates_when_it_ends_and_cancel_at_period_end_applies_then(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
) -> None:
    world = make_tenant(trial_days=14)
    with _system(sessions) as session:
        code = _plan(session, "80.00", trial_days=14)
        service.subscribe(session, None, world.id, code, now=JAN)
        assert service.advance_subscription(session, world.id,
                                            now=datetime(2026, 1, 10, tzinfo=UTC)) == []
        assert service.get_subscription(session, world.id).status == "trialing"
        service.advance_subscription(session, world.id, now=datetime(2026, 1, 16, tzinfo=UTC))
        sub = service.get_subscription(session, world.id)
        assert (sub.status, sub.current_period_start) == (
            "active", datetime(2026, 1, 15, tzinfo=UTC))
        assert session.scalar(text("SELECT status FROM adm_tenants WHERE id = :t"),
                              {"t": world.id}) == "active"
        service.cancel(session, None, world.id, at_period_end=True, if_match=None)
        invoices = service.advance_subscription(session, world.id,
                                                now=datetime(2026, 3, 1, tzinfo=UTC))
        assert [i.total for i in invoices] == [Decimal("80.0000")]
        assert service.current_subscription(session, world.id) is None
        events = list(session.scalars(text(
            "SELECT event_type FROM adm_tenant_lifecycle_events WHERE tenant_id = :t"
            " ORDER BY created_at, id"), {"t": world.id}))
        assert events[-3:] == ["trial_started", "activated", "cancelled"]


def test_concurrent_runs_make_one_invoice_per_subscription_and_period(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
) -> None:
    world = make_tenant(trial_days=0)
    with _system(sessions) as session:
        code = _plan(session, "120.00")
        service.subscribe(session, None, world.id, code, now=JAN)

    def close_period(_: int) -> uuid.UUID:
        with _system(sessions) as session:
            invoices = service.advance_subscription(session, world.id,
                                                    now=datetime(2026, 2, 5, tzinfo=UTC))
            return invoices[0].id if invoices else None  # type: ignore[return-value]

    ids = {i for i in _race(4, close_period) if i is not None}
    assert len(ids) == 1
    with _system(sessions) as session:
        rows = session.execute(text(
            "SELECT count(DISTINCT i.id), count(l.id), sum(l.amount), min(i.total)"
            " FROM bil_tenant_invoices i JOIN bil_tenant_invoice_lines l"
            " ON l.tenant_id = i.tenant_id AND l.invoice_id = i.id WHERE i.tenant_id = :t"),
            {"t": world.id}).one()
        assert tuple(rows) == (1, 1, Decimal("120.0000"), Decimal("120.0000"))


def test_concurrent_finalisations_take_gapless_numbers(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
) -> None:
    world = make_tenant(trial_days=0)
    with _system(sessions) as session:
        code = _plan(session, "10.00")
        service.subscribe(session, None, world.id, code, now=datetime(2026, 1, 1, tzinfo=UTC))
        ids = [i.id for i in service.advance_subscription(
            session, world.id, now=datetime(2026, 7, 2, tzinfo=UTC))]
    assert len(ids) == 6

    def finalise(n: int) -> str | None:
        with _system(sessions) as session:
            return service.finalise_invoice(session, world.id, ids[n],
                                            now=datetime(2026, 7, 2, tzinfo=UTC)).invoice_number

    numbers = _race(len(ids), finalise)
    prefix = f"FC-{world.slug.upper()}-2026-"
    assert sorted(numbers) == [f"{prefix}{n:06d}" for n in range(1, 7)]
