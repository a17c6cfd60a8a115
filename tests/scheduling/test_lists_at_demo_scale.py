"""The drivers lists (documents included) and the scheduling lists are index-backed at demo
scale, by the planner's own choice.

The demo is loaded (two tenants, ~39,000 rows, mostly trips), then the demo fleet is grown to
the scale of its trips on the tables behind these lists: 2,000 drivers with their documents,
terms, requests, blacklist entries, trainings and performance figures; 10,000 shifts, 500
series, 2,000 tasks and 1,000 goals — one big tenant among small ones, the worst case for a
list that has no index matching its filter and order. Statistics are refreshed (ANALYZE), and
every query a list endpoint runs (captured from the service call itself, page 1 and page 2) is
EXPLAINed as planned — no ``enable_seqscan`` trick. No tenant table may be read with a
sequential scan, unless it is a few pages small (:data:`SMALL_TABLE_PAGES`).

Everything happens in one transaction of the owner role (only the owner may ANALYZE, and
its ANALYZE sees its own uncommitted rows); row-level security is forced on the owner too, so
the plans are those of the API's queries under a tenant context. The transaction is rolled
back: nothing stays in the shared test database.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from fleetcore.catalogue import import_all_models
from fleetcore.core.auth import Actor
from fleetcore.core.db import ActorType, DbContext, bind_context
from fleetcore.core.orm import Base, new_id
from fleetcore.core.pagination import PageParams
from fleetcore.demo.dataset import MAIN_SLUG, generate_demo
from fleetcore.demo.loader import write_demo
from fleetcore.documents import service as documents
from fleetcore.documents.filters import DocumentFilter, DocumentSort
from fleetcore.drivers import service as drivers
from fleetcore.drivers.filters import (
    BlacklistFilter,
    DriverFilter,
    DriverSort,
    PerformanceFilter,
    RequestFilter,
    TermsFilter,
    TrainingFilter,
)
from fleetcore.reference.service import load_reference_data
from fleetcore.scheduling import service as scheduling
from fleetcore.scheduling.filters import GoalFilter, SeriesFilter, ShiftFilter, TaskFilter

TODAY = date(2026, 11, 25)

SCALE_SQL = [
    # 2,000 drivers, created over the past weeks; a few deleted, a mix of statuses.
    """INSERT INTO rid_drivers (tenant_id, id, first_name, last_name, email, phone, status,
                                created_at, deleted_at)
       SELECT :t, gen_random_uuid(), 'First' || g, 'Name' || (g % 500),
              'scale' || g || '@example.com', '+99' || lpad(g::text, 9, '0'),
              (ARRAY['active', 'active', 'active', 'onboarding', 'inactive'])[g % 5 + 1],
              now() - make_interval(mins => g * 17),
              CASE WHEN g % 50 = 0 THEN now() END
       FROM generate_series(1, 2000) AS g""",
    """CREATE TEMP TABLE scale_drivers ON COMMIT DROP AS
       SELECT id, row_number() OVER (ORDER BY id) AS n FROM rid_drivers
       WHERE tenant_id = :t AND email LIKE 'scale%'""",
    """INSERT INTO doc_documents (tenant_id, id, entity_type, entity_id, document_type,
                                  file_name, storage_backend, storage_key, mime_type,
                                  size_bytes, sha256, expires_on)
       SELECT :t, gen_random_uuid(), 'driver', d.id, 'driver_licence', 'licence.pdf', 'local',
              'scale/' || d.id, 'application/pdf', 1000, repeat('a', 64),
              DATE '2027-01-01' + (d.n % 700)::int
       FROM scale_drivers d""",
    """INSERT INTO rid_driver_documents (tenant_id, id, driver_id, document_id, requirement)
       SELECT :t, gen_random_uuid(), entity_id, id, 'required' FROM doc_documents
       WHERE tenant_id = :t AND storage_key LIKE 'scale/%'""",
    """INSERT INTO rid_driver_cooperation_terms (tenant_id, id, driver_id, terms_version, status,
              accepted_at, effective_from, settlement_model, fleet_share_pct, currency)
       SELECT :t, gen_random_uuid(), d.id, 'v1',
              CASE WHEN d.n % 2 = 0 THEN 'active' ELSE 'pending' END,
              CASE WHEN d.n % 2 = 0 THEN now() END, now() - interval '30 days',
              'revenue_share', 25, 'EUR'
       FROM scale_drivers d""",
    """INSERT INTO rid_driver_requests (tenant_id, id, driver_id, request_type, status, details)
       SELECT :t, gen_random_uuid(), d.id, 'other',
              (ARRAY['pending', 'under_review', 'cancelled'])[(d.n + k) % 3 + 1], '{}'
       FROM scale_drivers d, generate_series(1, 2) AS k""",
    """INSERT INTO rid_driver_blacklists (tenant_id, id, driver_id, reason, category, starts_at,
                                          status, lifted_at, lift_reason)
       SELECT :t, gen_random_uuid(), d.id, 'Late payments', 'payment',
              now() - interval '90 days',
              CASE WHEN d.n % 8 = 0 THEN 'lifted' ELSE 'active' END,
              CASE WHEN d.n % 8 = 0 THEN now() END, CASE WHEN d.n % 8 = 0 THEN 'Paid' END
       FROM scale_drivers d WHERE d.n % 4 = 0""",
    """INSERT INTO rid_driver_training (tenant_id, id, driver_id, training_name, training_type,
                                        status, completed_on, expires_on)
       SELECT :t, gen_random_uuid(), d.id, 'Safe driving', 'mandatory', 'completed',
              DATE '2026-01-01', DATE '2027-01-01' + (d.n % 365)::int
       FROM scale_drivers d""",
    """INSERT INTO rid_driver_performances (tenant_id, id, driver_id, period_start, period_end,
                                            trips_completed, currency)
       SELECT :t, gen_random_uuid(), d.id,
              date_trunc('week', now()) - make_interval(weeks => k),
              date_trunc('week', now()) - make_interval(weeks => k - 1), 40 + k, 'EUR'
       FROM scale_drivers d, generate_series(1, 2) AS k""",
    """CREATE TEMP TABLE scale_vehicles ON COMMIT DROP AS
       SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM flt_vehicles
       WHERE tenant_id = :t AND deleted_at IS NULL""",
    """INSERT INTO sch_shifts (tenant_id, id, driver_id, vehicle_id, starts_at, ends_at, status)
       SELECT :t, gen_random_uuid(), d.id, v.id,
              date_trunc('day', now()) + make_interval(days => k, hours => 6 + (d.n % 8)::int),
              date_trunc('day', now()) + make_interval(days => k, hours => 14 + (d.n % 8)::int),
              CASE WHEN k < 0 THEN 'completed' ELSE 'scheduled' END
       FROM scale_drivers d
       JOIN scale_vehicles v ON v.n = d.n % (SELECT count(*) FROM scale_vehicles),
       generate_series(-2, 2) AS k""",
    """INSERT INTO sch_shift_series (tenant_id, id, driver_id, rrule, dtstart, duration_s,
                                     timezone)
       SELECT :t, gen_random_uuid(), d.id, 'FREQ=WEEKLY;BYDAY=SU', now() + interval '30 days',
              3600, 'Europe/Paris'
       FROM scale_drivers d WHERE d.n % 4 = 0""",
    """INSERT INTO sch_tasks (tenant_id, id, title, task_type, status, priority, assignee_id,
                              source, due_at)
       SELECT :t, gen_random_uuid(), 'Check ' || g, 'other',
              (ARRAY['open', 'in_progress', 'blocked', 'cancelled'])[g % 4 + 1], 'normal',
              (SELECT id FROM adm_members WHERE tenant_id = :t ORDER BY id
               OFFSET g % 5 LIMIT 1), 'manual', now() + make_interval(days => g % 30)
       FROM generate_series(1, 2000) AS g""",
    """INSERT INTO sch_goals (tenant_id, id, name, scope, scope_id, metric, target,
                              period_start, period_end)
       SELECT :t, gen_random_uuid(), 'Trips ' || d.n, 'driver', d.id, 'trips', 200,
              date_trunc('month', now()), date_trunc('month', now()) + interval '1 month'
       FROM scale_drivers d WHERE d.n % 2 = 0""",
]
ANALYZED = ("rid_drivers", "doc_documents", "rid_driver_documents",
            "rid_driver_cooperation_terms", "rid_driver_requests", "rid_driver_blacklists",
            "rid_driver_training", "rid_driver_performances", "sch_shifts", "sch_shift_series",
            "sch_tasks", "sch_goals", "adm_members", "trp_trips", "flt_vehicles",
            "flt_vehicle_assignments")


@dataclass
class Scaled:
    session: Session
    actor: Actor
    tenant_id: uuid.UUID
    driver_id: uuid.UUID
    vehicle_id: uuid.UUID
    member_id: uuid.UUID
    now: datetime


@pytest.fixture(scope="module")
def scaled(owner_engine: Engine) -> Iterator[Scaled]:
    with owner_engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            bind_context(session, DbContext.system())
            load_reference_data(session)
            write_demo(session, generate_demo(7, TODAY))
            bind_context(session, DbContext.system())
            tenant_id = session.execute(text("SELECT id FROM adm_tenants WHERE slug = :s"),
                                        {"s": MAIN_SLUG}).scalar_one()
            bind_context(session, DbContext.for_tenant(tenant_id))
            for sql in SCALE_SQL:
                session.execute(text(sql), {"t": tenant_id})
            conn.exec_driver_sql("ANALYZE " + ", ".join(ANALYZED))
            one = session.execute(text(
                # A live driver with every kind of row (blacklisted, goal, series: n % 4 = 0).
                "SELECT (SELECT d.id FROM scale_drivers d JOIN rid_drivers r ON r.id = d.id"
                "        WHERE d.n % 4 = 0 AND r.deleted_at IS NULL ORDER BY d.n LIMIT 1),"
                " (SELECT id FROM flt_vehicles WHERE tenant_id = :t ORDER BY id LIMIT 1),"
                " (SELECT id FROM adm_members WHERE tenant_id = :t ORDER BY id LIMIT 1)"),
                {"t": tenant_id}).one()
            actor = Actor(type=ActorType.MEMBER, id=new_id(), clerk_user_id="user_scale",
                          tenant_id=tenant_id, tenant_status="active",
                          permissions=frozenset({"*"}))
            now = session.execute(text("SELECT now()")).scalar_one()
            yield Scaled(session, actor, tenant_id, one[0], one[1], one[2], now)
        finally:
            session.close()
            outer.rollback()


def _tenant_tables() -> set[str]:
    import_all_models()
    return {name for name, table in Base.metadata.tables.items() if "tenant_id" in table.c}


@contextmanager
def _captured(session: Session) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []
    bind = session.connection()

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((statement, parameters))

    event.listen(bind, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(bind, "before_cursor_execute", before)


SMALL_TABLE_PAGES = 8
"""A table of at most this many 8 kB pages (after ANALYZE) is read faster whole than through an
index, and the planner rightly does so (the demo's 40 vehicles, counted for a fleet-wide
utilisation goal, fit in one page). Every table behind the lists is far larger than this at
the scale built here (checked below), so the exemption cannot hide a list."""

Call = Callable[[Scaled, PageParams], Any]
"""A list as the API calls it, for the scaled tenant and a page."""
PAGE = PageParams(limit=50)


def _seq_scans(scaled: Scaled, call: Call, *, page_two: bool = False) -> list[str]:
    """Run a list call as the API does (page 1, or page 2 after page 1's cursor), then
    EXPLAIN each SELECT it ran; the plans that read a tenant table sequentially."""
    session = scaled.session
    params = PAGE
    if page_two:
        _, cursor = call(scaled, PAGE)
        assert cursor is not None, "one page only: page 2 cannot be planned"
        params = PageParams(limit=PAGE.limit, cursor=cursor)
    with _captured(session) as statements:
        result = call(scaled, params)
    assert statements, "the call ran no query"
    rows = result[0] if isinstance(result, tuple) else result
    assert rows, "the list is empty: its plan would not be representative"
    tenant_tables = _tenant_tables()
    found = []
    for statement, parameters in statements:
        plan = "\n".join(row[0] for row in session.connection().exec_driver_sql(
            "EXPLAIN " + statement, parameters))
        for table in re.findall(r"Seq Scan on (\w+)", plan):
            if table in tenant_tables and _pages(session, table) > SMALL_TABLE_PAGES:
                found.append(f"{table}:\n{statement}\n{plan}")
    return found


def _pages(session: Session, table: str) -> int:
    pages: int = session.execute(text("SELECT relpages FROM pg_class WHERE relname = :t"),
                                 {"t": table}).scalar_one()
    return pages


CASES: dict[str, Call] = {
    "drivers by name": lambda s, p: drivers.list_drivers(
        s.session, s.actor, p, DriverFilter(sort=DriverSort.NAME)),
    "drivers by name, descending": lambda s, p: drivers.list_drivers(
        s.session, s.actor, p, DriverFilter(sort=DriverSort.NAME_DESC)),
    "active drivers by name": lambda s, p: drivers.list_drivers(
        s.session, s.actor, p, DriverFilter(status="active", sort=DriverSort.NAME)),
    "a driver's documents": lambda s, p: drivers.driver_documents(
        s.session, s.actor, s.driver_id),
    "documents, newest first": lambda s, p: documents.list_documents(
        s.session, s.actor, p, DocumentFilter(sort=DocumentSort.NEWEST)),
    "documents about a driver": lambda s, p: documents.list_documents(
        s.session, s.actor, p, DocumentFilter(entity_type="driver", entity_id=s.driver_id)),
    "cooperation terms": lambda s, p: drivers.list_cooperation_terms(
        s.session, s.actor, p, TermsFilter()),
    "a driver's cooperation terms": lambda s, p: drivers.list_cooperation_terms(
        s.session, s.actor, p, TermsFilter(driver_id=s.driver_id)),
    "active cooperation terms": lambda s, p: drivers.list_cooperation_terms(
        s.session, s.actor, p, TermsFilter(status="active")),
    "driver requests": lambda s, p: drivers.list_driver_requests(
        s.session, s.actor, p, RequestFilter()),
    "a driver's requests": lambda s, p: drivers.list_driver_requests(
        s.session, s.actor, p, RequestFilter(driver_id=s.driver_id)),
    "pending requests": lambda s, p: drivers.list_driver_requests(
        s.session, s.actor, p, RequestFilter(status="pending")),
    "blacklist entries": lambda s, p: drivers.list_blacklists(
        s.session, s.actor, p, BlacklistFilter()),
    "a driver's blacklist entries": lambda s, p: drivers.list_blacklists(
        s.session, s.actor, p, BlacklistFilter(driver_id=s.driver_id)),
    "trainings": lambda s, p: drivers.list_training(s.session, s.actor, p, TrainingFilter()),
    "a driver's trainings": lambda s, p: drivers.list_training(
        s.session, s.actor, p, TrainingFilter(driver_id=s.driver_id)),
    "trainings expiring soon": lambda s, p: drivers.list_training(
        s.session, s.actor, p, TrainingFilter(expiring_before=date(2027, 1, 15))),
    "performances": lambda s, p: drivers.list_performances(
        s.session, s.actor, p, PerformanceFilter()),
    "a driver's performances": lambda s, p: drivers.list_performances(
        s.session, s.actor, p, PerformanceFilter(driver_id=s.driver_id)),
    "shifts": lambda s, p: scheduling.list_shifts(s.session, s.actor, p, ShiftFilter()),
    "a driver's shifts this week": lambda s, p: scheduling.list_shifts(
        s.session, s.actor, p, ShiftFilter(driver_id=s.driver_id, starts_from=s.now,
                                           starts_to=s.now + timedelta(days=7))),
    "shifts of a day": lambda s, p: scheduling.list_shifts(
        s.session, s.actor, p, ShiftFilter(starts_from=s.now,
                                           starts_to=s.now + timedelta(days=1))),
    "a vehicle's shifts": lambda s, p: scheduling.list_shifts(
        s.session, s.actor, p, ShiftFilter(vehicle_id=s.vehicle_id)),
    "shift series": lambda s, p: scheduling.list_series(s.session, s.actor, p, SeriesFilter()),
    "tasks": lambda s, p: scheduling.list_tasks(s.session, s.actor, p, TaskFilter()),
    "a member's open tasks": lambda s, p: scheduling.list_tasks(
        s.session, s.actor, p, TaskFilter(assignee_id=s.member_id, status="open")),
    "goals with their progress": lambda s, p: scheduling.list_goals(
        s.session, s.actor, p, GoalFilter()),
    "a driver's goals with their progress": lambda s, p: scheduling.list_goals(
        s.session, s.actor, p, GoalFilter(scope="driver", scope_id=s.driver_id)),
}
PAGED = ("drivers by name", "documents, newest first", "cooperation terms", "driver requests",
         "blacklist entries", "trainings", "performances", "shifts", "shift series", "tasks",
         "goals with their progress")
"""Lists long enough to have a page 2 at this scale (its keyset predicate is planned too)."""


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_list_reads_no_tenant_table_sequentially(scaled: Scaled, case: str) -> None:
    assert _seq_scans(scaled, CASES[case]) == []


@pytest.mark.parametrize("case", PAGED)
def test_page_two_reads_no_tenant_table_sequentially(scaled: Scaled, case: str) -> None:
    assert _seq_scans(scaled, CASES[case], page_two=True) == []


@pytest.mark.parametrize("sort", [DriverSort.CREATED, DriverSort.NEWEST])
def test_the_drivers_in_creation_order_read_no_table_sequentially(
    scaled: Scaled, sort: DriverSort
) -> None:
    assert _seq_scans(scaled, lambda s, p: drivers.list_drivers(
        s.session, s.actor, p, DriverFilter(sort=sort))) == []


def test_the_scaled_tenant_is_demo_scale(scaled: Scaled) -> None:
    counts: dict[str, int] = dict(scaled.session.execute(text(
        "SELECT 'drivers', count(*) FROM rid_drivers WHERE tenant_id = :t"
        " UNION ALL SELECT 'shifts', count(*) FROM sch_shifts WHERE tenant_id = :t"
        " UNION ALL SELECT 'trips', count(*) FROM trp_trips WHERE tenant_id = :t"),
        {"t": scaled.tenant_id}).all())
    assert counts["drivers"] > 2000
    assert counts["shifts"] == 10_000
    assert counts["trips"] > 30_000
    small = {table: _pages(scaled.session, table) for table in ANALYZED
             if table not in ("adm_members", "flt_vehicles")}
    assert min(small.values()) > SMALL_TABLE_PAGES, small
