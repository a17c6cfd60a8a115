"""The hourly set-based close of billing periods (``fleetcore.billing.closing``) against
committed data: it bills what the per-tenant path bills (lines, prorations, scheduled
downgrade, usage), catches up several periods with consecutive numbers, ends trials and
cancellations, keeps a reported usage value, and under concurrent runs (with each other and
with the per-tenant path) makes one invoice per subscription and period with gapless numbers.

The pass closes every due period in the database, other tests' too: each test looks at its
own fleets only."""

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
from fleetcore.billing.closing import close_due_periods
from fleetcore.core.db import DbContext, context_session

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)


def _system(sessions: sessionmaker[Session]) -> Any:
    return context_session(sessions, DbContext.system())


def _changed_plans(session: Session, tenant: uuid.UUID, small: str, big: str) -> None:
    """Subscribed to ``small`` on Jan 1, upgraded on Jan 16 (prorated), downgrade scheduled."""
    service.subscribe(session, None, tenant, small, now=JAN)
    service.change_plan(session, None, tenant, big, if_match=None,
                        now=datetime(2026, 1, 16, tzinfo=UTC))
    service.change_plan(session, None, tenant, small, if_match=None,
                        now=datetime(2026, 1, 20, tzinfo=UTC))


def _billed(session: Session, tenant: uuid.UUID) -> dict[str, Any]:
    invoices = session.execute(text(
        "SELECT id, status, total, amount_due, due_on, period_end FROM bil_tenant_invoices"
        " WHERE tenant_id = :t ORDER BY period_start"), {"t": tenant}).all()
    lines = session.execute(text(
        "SELECT line_type, metric, quantity, unit_price, amount, description"
        " FROM bil_tenant_invoice_lines WHERE tenant_id = :t"
        " ORDER BY line_type, metric NULLS FIRST"), {"t": tenant}).all()
    sub = session.execute(text(
        "SELECT s.status, p.code, s.plan_version, s.current_period_start,"
        " s.current_period_end, s.metadata FROM bil_tenant_subscriptions s"
        " JOIN bil_billing_plans p ON p.id = s.plan_id WHERE s.tenant_id = :t"), {"t": tenant}
    ).one()
    usage = dict(session.execute(text(
        "SELECT metric, value FROM bil_tenant_usage_metrics WHERE tenant_id = :t"),
        {"t": tenant}).all())
    return {"invoices": [tuple(i)[1:] for i in invoices], "lines": [tuple(r) for r in lines],
            "subscription": tuple(sub), "usage": usage}


def test_the_pass_bills_what_the_per_tenant_path_bills(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
) -> None:
    one, other = make_tenant(trial_days=0), make_tenant(trial_days=0)
    at = datetime(2026, 2, 2, tzinfo=UTC)
    with _system(sessions) as session:
        small, big = _plan(session, "100.00"), _plan(session, "200.00")
        for world in (one, other):
            _seed_usage(session, world.id)
            _changed_plans(session, world.id, small, big)
    with _system(sessions) as session:
        for invoice in service.advance_subscription(session, one.id, now=at):
            service.finalise_invoice(session, one.id, invoice.id, now=at)
    with _system(sessions) as session:
        closed = close_due_periods(session, now=at)
        assert [t for t, _ in closed.invoices].count(other.id) == 1
    with _system(sessions) as session:
        by_tenant, by_pass = _billed(session, one.id), _billed(session, other.id)
        numbers = session.execute(text(
            "SELECT tenant_id, invoice_number FROM bil_tenant_invoices"
            " WHERE tenant_id IN (:a, :b)"), {"a": one.id, "b": other.id}).all()
    assert by_pass == by_tenant
    # The figures of test_billing_service's scenario: overage beyond what is included, the
    # upgrade's proration, the downgrade applied at the period's end, prorations consumed.
    assert {(r[0], r[1]): r[4] for r in by_pass["lines"]} == {
        ("base", None): Decimal("200.0000"), ("overage", "active_drivers"): Decimal("2.0000"),
        ("overage", "trips"): Decimal("0.5000"), ("overage", "distance_km"): Decimal("0.8600"),
        ("proration", None): Decimal("51.6100")}
    assert by_pass["invoices"][0][:2] == ("open", Decimal("254.9700"))
    assert by_pass["subscription"][1:5] == (small, 1, FEB, datetime(2026, 3, 1, tzinfo=UTC))
    assert "pending_prorations" not in by_pass["subscription"][5]
    assert by_pass["usage"] == {"active_vehicles": 0, "active_drivers": 3, "trips": 15,
                                "distance_km": Decimal("157.5")}
    slugs = {one.id: one.slug, other.id: other.slug}
    assert sorted(numbers) == sorted(
        (t, f"FC-{slugs[t].upper()}-2026-000001") for t in (one.id, other.id))


def test_the_pass_catches_up_ends_trials_and_cancellations_and_runs_once(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
) -> None:
    late, trial, leaving = (make_tenant(trial_days=0), make_tenant(trial_days=14),
                            make_tenant(trial_days=0))
    with _system(sessions) as session:
        monthly, trying = _plan(session, "10.00"), _plan(session, "80.00", trial_days=14)
        service.subscribe(session, None, late.id, monthly, now=JAN)
        service.subscribe(session, None, trial.id, trying, now=JAN)
        service.subscribe(session, None, leaving.id, monthly, now=JAN)
        service.cancel(session, None, leaving.id, at_period_end=True, if_match=None)
    with _system(sessions) as session:
        since = session.execute(text("SELECT clock_timestamp()")).scalar_one()
        closed = close_due_periods(session, now=datetime(2026, 7, 2, tzinfo=UTC))
        assert closed.activated >= 1
    with _system(sessions) as session:
        # Six months behind: six invoices, numbered in period order.
        rows = session.execute(text(
            "SELECT period_start, invoice_number, status FROM bil_tenant_invoices"
            " WHERE tenant_id = :t ORDER BY period_start"), {"t": late.id}).all()
        assert [r.period_start.month for r in rows] == [1, 2, 3, 4, 5, 6]
        assert [r.invoice_number for r in rows] == [
            f"FC-{late.slug.upper()}-2026-{n:06d}" for n in range(1, 7)]
        assert {r.status for r in rows} == {"open"}
        # Audited per round and fleet (revision 0029): one ``billing_close`` row on the
        # subscription per round, counting the rows written in every table, with the period
        # and the invoice — and no other row for what the close wrote (the tables' statement
        # triggers saw it as theirs).
        audit = session.execute(text(
            "SELECT a.action, a.entity_id, a.changes, i.invoice_number FROM adm_audit_logs a"
            " LEFT JOIN bil_tenant_invoices i ON i.tenant_id = a.tenant_id"
            " AND i.id = CAST(a.changes ->> 'invoice_id' AS uuid)"
            " WHERE a.tenant_id = :t AND a.occurred_at >= :since"
            " ORDER BY a.changes ->> 'period_start'"), {"t": late.id, "since": since}).all()
        subscription = service.get_subscription(session, late.id).id
        assert [(a.action, a.entity_id, a.changes["rows"], a.invoice_number)
                for a in audit] == [
            ("billing_close", subscription,
             {"bil_tenant_usage_metrics.insert": 4, "bil_tenant_invoices.insert": 1,
              "bil_tenant_invoice_lines.insert": 1, "bil_tenant_subscriptions.update": 1},
             f"FC-{late.slug.upper()}-2026-{n:06d}") for n in range(1, 7)]
        assert [a.changes["period_start"][:7] for a in audit] == [
            f"2026-{m:02d}" for m in range(1, 7)]
        # The trial ended on Jan 15: active since, the fleet too, with its lifecycle event;
        # its periods run from the trial's end.
        sub = service.get_subscription(session, trial.id)
        assert (sub.status, sub.current_period_start) == (
            "active", datetime(2026, 6, 15, tzinfo=UTC))
        starts = list(session.scalars(text(
            "SELECT period_start FROM bil_tenant_invoices WHERE tenant_id = :t"
            " ORDER BY period_start"), {"t": trial.id}))
        assert starts[0] == datetime(2026, 1, 15, tzinfo=UTC)
        assert len(starts) == 5
        assert session.scalar(text("SELECT status FROM adm_tenants WHERE id = :t"),
                              {"t": trial.id}) == "active"
        events = list(session.scalars(text(
            "SELECT event_type FROM adm_tenant_lifecycle_events WHERE tenant_id = :t"
            " ORDER BY created_at, id"), {"t": trial.id}))
        assert events[-2:] == ["trial_started", "activated"]
        # Cancelled at the end of its first period: one invoice, then no subscription.
        assert session.scalar(text(
            "SELECT count(*) FROM bil_tenant_invoices WHERE tenant_id = :t"),
            {"t": leaving.id}) == 1
        assert service.current_subscription(session, leaving.id) is None
    with _system(sessions) as session:
        again = close_due_periods(session, now=datetime(2026, 7, 2, tzinfo=UTC))
        assert not {t for t, _ in again.invoices} & {late.id, trial.id, leaving.id}
        assert session.scalar(text(
            "SELECT count(*) FROM bil_tenant_invoices WHERE tenant_id = ANY(:t)"),
            {"t": [late.id, trial.id, leaving.id]}) == 12


def test_a_reported_usage_value_is_final_and_a_past_due_fleet_stays_past_due(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
) -> None:
    world = make_tenant(trial_days=0)
    with _system(sessions) as session:
        code = _plan(session, "50.00")
        _seed_usage(session, world.id)
        service.subscribe(session, None, world.id, code, now=JAN)
        service.compute_usage(session, world.id, JAN, FEB)
        # Reported to Stripe before the close with 40 trips: that value stands.
        session.execute(text(
            "UPDATE bil_tenant_usage_metrics SET value = 40, reported_at = now(),"
            " stripe_meter_event_id = 'usage-' || id WHERE tenant_id = :t AND metric = 'trips'"),
            {"t": world.id})
        # (A date after the cut-offs other tests suspend at: the dunning step is global.)
        service.mark_past_due(session, world.id, at=datetime(2026, 11, 1, tzinfo=UTC),
                              reason="test", grace=service.grace_period(30))
    with _system(sessions) as session:
        close_due_periods(session, now=datetime(2026, 2, 3, tzinfo=UTC))
    with _system(sessions) as session:
        billed = _billed(session, world.id)
    assert billed["usage"]["trips"] == 40
    assert ("overage", "trips", Decimal(30), Decimal("0.1000"), Decimal("3.0000"),
            "Overage: trips") in billed["lines"]
    assert billed["subscription"][0] == "past_due"


def test_concurrent_passes_and_tenant_runs_bill_each_period_once_with_gapless_numbers(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
) -> None:
    worlds = [make_tenant(trial_days=0) for _ in range(4)]
    ids = [w.id for w in worlds]
    with _system(sessions) as session:
        code = _plan(session, "20.00")
        for world in worlds:
            service.subscribe(session, None, world.id, code, now=JAN)
    at = datetime(2026, 4, 2, tzinfo=UTC)

    def work(n: int) -> None:
        with _system(sessions) as session:
            if n % 3 == 2:  # the per-tenant path, with finalisation, as bill_tenant runs it
                for invoice in service.advance_subscription(session, ids[n % 4], now=at):
                    service.finalise_invoice(session, ids[n % 4], invoice.id, now=at)
            else:
                close_due_periods(session, now=at)

    _race(6, work)
    with _system(sessions) as session:
        rows = session.execute(text(
            "SELECT i.tenant_id, i.period_start, i.invoice_number, i.total,"
            " (SELECT sum(amount) FROM bil_tenant_invoice_lines l"
            "   WHERE l.tenant_id = i.tenant_id AND l.invoice_id = i.id) AS lines"
            " FROM bil_tenant_invoices i WHERE i.tenant_id = ANY(:t)"), {"t": ids}).all()
        periods = session.execute(text(
            "SELECT tenant_id, current_period_start FROM bil_tenant_subscriptions"
            " WHERE tenant_id = ANY(:t)"), {"t": ids}).all()
    assert len(rows) == 12  # three periods for each of four fleets, once each
    assert len({(r.tenant_id, r.period_start) for r in rows}) == 12
    assert all(r.total == r.lines == Decimal("20.0000") for r in rows)
    for world in worlds:
        numbers = sorted(r.invoice_number for r in rows if r.tenant_id == world.id)
        assert numbers == [f"FC-{world.slug.upper()}-2026-{n:06d}" for n in (1, 2, 3)]
    assert {p.current_period_start for p in periods} == {datetime(2026, 4, 1, tzinfo=UTC)}
