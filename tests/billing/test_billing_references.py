"""What the hourly close writes is checked per statement (migration 0026, decision 0017): a
usage value, an invoice and a line still cannot point at a tenant, subscription or invoice
that is not there (or at an invoice in another currency), the constraint named as the foreign
key was; a line still goes with its invoice; a subscription under an invoice cannot go."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from billing_support import service_plan as _plan
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api_support import TenantWorld
from fleetcore.billing import service
from fleetcore.billing.closing import close_due_periods
from fleetcore.core.db import DbContext, context_session

JAN = datetime(2026, 1, 1, tzinfo=UTC)


def _refused(session: Session, constraints: set[str], statement: str, **params: Any) -> None:
    with pytest.raises(IntegrityError) as caught, session.begin_nested():
        session.execute(text(statement), params)
    orig = caught.value.orig
    assert orig is not None
    assert orig.sqlstate == "23503"  # type: ignore[attr-defined]
    assert orig.diag.constraint_name in constraints  # type: ignore[attr-defined]


def test_the_close_s_references_are_still_checked(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
) -> None:
    world = make_tenant(trial_days=0)
    with context_session(sessions, DbContext.system()) as session:
        plan = _plan(session, "10.00")
        service.subscribe(session, None, world.id, plan, now=JAN)
    with context_session(sessions, DbContext.system()) as session:
        closed = close_due_periods(session, now=datetime(2026, 2, 2, tzinfo=UTC))
        ((tenant, invoice),) = [m for m in closed.invoices if m[0] == world.id]
    with context_session(sessions, DbContext.system()) as session:
        nobody = uuid.uuid4()
        # An unknown tenant: the statement's audit row (its trigger runs first, by name) or
        # the set-checked reference refuses it, whichever looks first.
        _refused(session, {"fk_bil_tenant_usage_metrics_tenant_id", "fk_adm_audit_logs_tenant_id"},
                 "INSERT INTO bil_tenant_usage_metrics (tenant_id, id, metric, period_start,"
                 " period_end, value, source) VALUES (:t, gen_random_uuid(), 'trips',"
                 " '2026-01-01', '2026-02-01', 1, 'test')", t=nobody)
        _refused(session, {"fk_bil_tenant_invoices_tenant_id_subscription_id"},
                 "INSERT INTO bil_tenant_invoices (tenant_id, id, subscription_id, period_start,"
                 " period_end, subtotal, total, currency) VALUES (:t, gen_random_uuid(),"
                 " gen_random_uuid(), '2026-01-01', '2026-02-01', 0, 0, 'EUR')", t=tenant)
        # A line in another currency than its invoice's is no line of it.
        _refused(session, {"fk_bil_tenant_invoice_lines_invoice"},
                 "INSERT INTO bil_tenant_invoice_lines (tenant_id, id, invoice_id, line_type,"
                 " description, amount, currency) VALUES (:t, gen_random_uuid(), :i, 'base',"
                 " 'x', 1, 'USD')", t=tenant, i=invoice)
        _refused(session, {"fk_bil_tenant_invoices_tenant_id_subscription_id"},
                 "DELETE FROM bil_tenant_subscriptions WHERE tenant_id = :t", t=tenant)
        lines = session.scalar(text("SELECT count(*) FROM bil_tenant_invoice_lines"
                                    " WHERE tenant_id = :t AND invoice_id = :i"),
                               {"t": tenant, "i": invoice})
        assert lines == 1  # the base fee: no usage, nothing beyond it
        # The lines go with their invoice, as the cascading foreign key did.
        session.execute(text("DELETE FROM bil_tenant_invoices WHERE tenant_id = :t AND id = :i"),
                        {"t": tenant, "i": invoice})
        assert session.scalar(text("SELECT count(*) FROM bil_tenant_invoice_lines"
                                   " WHERE tenant_id = :t AND invoice_id = :i"),
                              {"t": tenant, "i": invoice}) == 0
        session.rollback()
