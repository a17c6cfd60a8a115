"""Driver performance recomputed from trips and imports: exact figures on a hand-made week,
idempotence, removal, conflicts, currencies, and the HTTP route."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from drivers_support import World, insert
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api_support import TenantWorld
from fleetcore.core.db import DbContext, bind_context, context_session
from fleetcore.core.errors import Conflict, ValidationProblem
from fleetcore.revenue.performance_service import recompute_performances

# The week of Wednesday 2026-11-18 in Europe/Malta (the drivers tests' tenant): Monday 00:00
# CET is 23:00 UTC the day before.
WEEK = date(2026, 11, 18)
START = datetime(2026, 11, 15, 23, 0, tzinfo=UTC)
END = START + timedelta(days=7)
AT = START + timedelta(days=2, hours=10)

FIGURES = ("trips_completed", "trips_cancelled", "cancellation_rate_pct", "hours_on_trip",
           "distance_km", "gross_revenue", "net_revenue", "currency")


def platform(session: Session, tenant_id: uuid.UUID) -> uuid.UUID:
    bind_context(session, DbContext.system())
    platform_id = insert(session, "dir_platforms", code=f"p{uuid.uuid4().hex[:10]}", name="P")
    bind_context(session, DbContext.for_tenant(tenant_id))
    return platform_id


def trip(session: Session, tenant_id: uuid.UUID, platform_id: uuid.UUID,
         driver_id: uuid.UUID | None, *, at: datetime = AT, status: str = "completed",
         distance: str | None = None, duration: int | None = None, fare: str | None = None,
         net: str | None = None, currency: str | None = "EUR", **values: Any) -> uuid.UUID:
    return insert(session, "trp_trips", tenant_id=tenant_id, platform_id=platform_id,
                  external_trip_id=uuid.uuid4().hex, driver_id=driver_id, status=status,
                  requested_at=at - timedelta(minutes=30), started_at=at - timedelta(minutes=20),
                  ended_at=at, distance_km=Decimal(distance) if distance else None,
                  duration_s=duration, fare_gross=Decimal(fare) if fare else None,
                  net_earnings=Decimal(net) if net else None,
                  currency=currency if fare or net else None, **values)


def report(session: Session, tenant_id: uuid.UUID, platform_id: uuid.UUID,
           report_type: str = "payments_order", status: str = "committed") -> uuid.UUID:
    return insert(session, "rev_revenue_imports", tenant_id=tenant_id, platform_id=platform_id,
                  report_type=report_type, period_start=START, period_end=END,
                  file_name="r.csv", sha256=uuid.uuid4().hex * 2, size_bytes=1, storage_key="k",
                  status=status,
                  committed_at=datetime(2026, 11, 23, tzinfo=UTC) if status == "committed"
                  else None)


def row(session: Session, tenant_id: uuid.UUID, import_id: uuid.UUID, platform_id: uuid.UUID,
        driver_id: uuid.UUID, fare: str, earnings: str, *, at: datetime | None = AT,
        currency: str = "EUR") -> uuid.UUID:
    number = int(session.execute(text(
        "SELECT count(*) + 2 FROM rev_import_rows WHERE import_id = :i"), {"i": import_id})
        .scalar_one())
    return insert(session, "rev_import_rows", tenant_id=tenant_id, import_id=import_id,
                  row_number=number, platform_id=platform_id, driver_id=driver_id,
                  external_trip_id=uuid.uuid4().hex if at else None, occurred_at=at,
                  fare_gross=Decimal(fare), earnings=Decimal(earnings), currency=currency)


def figures(session: Session) -> dict[tuple[uuid.UUID, uuid.UUID], dict[str, Any]]:
    rows = session.execute(text(
        f"SELECT driver_id, platform_id, period_start, period_end, {', '.join(FIGURES)}"
        " FROM rid_driver_performances")).mappings().all()
    return {(r["driver_id"], r["platform_id"]): dict(r) for r in rows}


def week_of(world: World) -> dict[str, Any]:
    """A hand-made week: what each (driver, platform) must get is in ``expected``."""
    s, t = world.session, world.tenant_id
    p1, p2 = platform(s, t), platform(s, t)
    a, b, c = world.driver(), world.driver(first_name="Bea"), world.driver(first_name="Cy")
    # A on P1: 3 completed trips (one without duration: its start-end time counts), one
    # cancelled by A, one by the rider (its distance and time are not "on trip"); a deleted
    # trip and one of last week do not count.
    trip(s, t, p1, a, distance="5.000", duration=600, fare="10.00")
    trip(s, t, p1, a, distance="7.250", duration=900, fare="12.00")
    trip(s, t, p1, a, distance="10.125", fare="15.00")  # 20 minutes from start to end
    trip(s, t, p1, a, status="cancelled_by_driver")
    trip(s, t, p1, a, status="cancelled_by_rider", distance="0.500")
    trip(s, t, p1, a, distance="99.000", fare="99.00", deleted_at=AT)
    trip(s, t, p1, a, distance="99.000", fare="99.00", at=START - timedelta(seconds=1))
    payments = report(s, t, p1)
    for fare, earnings in (("10.00", "7.50"), ("12.00", "9.00"), ("15.00", "11.25")):
        row(s, t, payments, p1, a, fare, earnings)
    # The weekly summary of the same week is coarser: never added to the per-trip rows.
    summary = report(s, t, p1, "payments_driver")
    row(s, t, summary, p1, a, "999.00", "999.00", at=None)
    # Rows of an import that is not committed do not count.
    row(s, t, report(s, t, p1, status="validated"), p1, a, "500.00", "500.00")
    # B on P1: trips with money but no report rows: the trips' own amounts.
    trip(s, t, p1, b, distance="3.000", duration=360, fare="8.40", net="6.30")
    trip(s, t, p1, b, distance="4.000", duration=540, fare="9.60", net="7.20")
    # B on P2: only a weekly summary (no dates: the import's week).
    row(s, t, report(s, t, p2, "payments_driver"), p2, b, "250.00", "190.00", at=None)
    # C: only last week; a trip without a driver.
    trip(s, t, p1, c, fare="20.00", at=START - timedelta(days=1))
    trip(s, t, p1, None, fare="20.00")
    expected = {
        (a, p1): {"trips_completed": 3, "trips_cancelled": 2,
                  "cancellation_rate_pct": Decimal("20.0000"), "hours_on_trip": Decimal("0.75"),
                  "distance_km": Decimal("22.38"), "gross_revenue": Decimal("37.0000"),
                  "net_revenue": Decimal("27.7500"), "currency": "EUR"},
        (b, p1): {"trips_completed": 2, "trips_cancelled": 0,
                  "cancellation_rate_pct": Decimal("0.0000"), "hours_on_trip": Decimal("0.25"),
                  "distance_km": Decimal("7.00"), "gross_revenue": Decimal("18.0000"),
                  "net_revenue": Decimal("13.5000"), "currency": "EUR"},
        (b, p2): {"trips_completed": 0, "trips_cancelled": 0, "cancellation_rate_pct": None,
                  "hours_on_trip": None, "distance_km": None,
                  "gross_revenue": Decimal("250.0000"), "net_revenue": Decimal("190.0000"),
                  "currency": "EUR"},
    }
    return {"p1": p1, "p2": p2, "a": a, "b": b, "expected": expected}


def test_a_hand_made_week_gives_exact_figures(world: World) -> None:
    made = week_of(world)

    result = recompute_performances(world.session, world.actor, week=WEEK)

    assert (result.period_start, result.period_end) == (START, END)
    assert (result.created, result.updated, result.unchanged, result.removed) == (3, 0, 0, 0)
    found = figures(world.session)
    assert set(found) == set(made["expected"])
    for key, want in made["expected"].items():
        assert {k: found[key][k] for k in FIGURES} == want, key
        assert (found[key]["period_start"], found[key]["period_end"]) == (START, END)


def test_recomputing_is_idempotent_and_follows_changes(world: World) -> None:
    made = week_of(world)
    s = world.session
    recompute_performances(s, world.actor, week=WEEK)
    stamps = dict(s.execute(text(
        "SELECT driver_id::text || platform_id::text, computed_at FROM rid_driver_performances"
    )).all())
    audits = s.execute(text("SELECT count(*) FROM adm_audit_logs"
                            " WHERE entity_type = 'rid_driver_performances'")).scalar_one()

    again = recompute_performances(s, world.actor, period_start=START, period_end=END)

    assert (again.created, again.updated, again.unchanged, again.removed) == (0, 0, 3, 0)
    assert dict(s.execute(text(
        "SELECT driver_id::text || platform_id::text, computed_at FROM rid_driver_performances"
    )).all()) == stamps
    assert s.execute(text("SELECT count(*) FROM adm_audit_logs"
                          " WHERE entity_type = 'rid_driver_performances'")).scalar_one() == audits

    # One more completed trip for A, and B's summary rolled back: one update, one removal.
    trip(s, world.tenant_id, made["p1"], made["a"], distance="1.000", duration=300, fare="5.00")
    s.execute(text("UPDATE rev_revenue_imports SET status = 'rolled_back',"
                   " rolled_back_at = now() WHERE platform_id = :p"), {"p": made["p2"]})
    changed = recompute_performances(s, world.actor, week=WEEK)

    assert (changed.created, changed.updated, changed.unchanged, changed.removed) == (0, 1, 1, 1)
    found = figures(s)
    assert set(found) == {(made["a"], made["p1"]), (made["b"], made["p1"])}
    assert found[(made["a"], made["p1"])]["trips_completed"] == 4
    # The report rows stay the revenue source for A: the new trip has no row yet.
    assert found[(made["a"], made["p1"])]["gross_revenue"] == Decimal("37.0000")


def test_a_differently_bounded_overlapping_period_is_a_conflict(world: World) -> None:
    made = week_of(world)
    insert(world.session, "rid_driver_performances", tenant_id=world.tenant_id,
           driver_id=made["a"], platform_id=made["p1"], period_start=START + timedelta(days=1),
           period_end=END + timedelta(days=1), currency="EUR")
    with pytest.raises(Conflict, match="overlapping"):
        recompute_performances(world.session, world.actor, week=WEEK)


def test_amounts_in_two_currencies_are_refused(world: World) -> None:
    s, t = world.session, world.tenant_id
    p1 = platform(s, t)
    driver = world.driver()
    trip(s, t, p1, driver, fare="10.00")
    trip(s, t, p1, driver, fare="10.00", currency="USD")
    with pytest.raises(ValidationProblem, match="several currencies"):
        recompute_performances(s, world.actor, week=WEEK)
    assert figures(s) == {}


@pytest.mark.parametrize(("arguments", "field"), [
    ({}, "period_start"),
    ({"week": WEEK, "period_start": START}, "week"),
    ({"period_start": START, "period_end": START}, "period_end"),
    ({"period_start": START, "period_end": START + timedelta(days=400)}, "period_end"),
    ({"period_start": START.replace(tzinfo=None), "period_end": END}, "period_start"),
    ({"week": date(9999, 12, 31)}, "week"),
])
def test_the_period_must_be_given_once_and_make_sense(
    world: World, arguments: dict[str, Any], field: str,
) -> None:
    with pytest.raises(ValidationProblem) as caught:
        recompute_performances(world.session, world.actor, **arguments)
    assert caught.value.errors[0]["field"] == field


def test_recompute_over_http(
    client: TestClient, make_tenant: Callable[..., TenantWorld], sessions: Any,
    auth: Callable[..., dict[str, str]],
) -> None:
    tenant, other = make_tenant(), make_tenant()
    with context_session(sessions, DbContext.system()) as session:
        p1 = insert(session, "dir_platforms", code=f"p{uuid.uuid4().hex[:10]}", name="P")
    with context_session(sessions, DbContext.for_tenant(tenant.id)) as session:
        driver = insert(session, "rid_drivers", tenant_id=tenant.id, first_name="Ana",
                        last_name="Borg", status="active")
        # The test tenants are in Europe/Paris: the same week bounds as Malta's.
        trip(session, tenant.id, p1, driver, distance="12.500", duration=1800, fare="30.00",
             net="22.50")

    url = "/v1/driver-performances/recompute"
    assert client.post(url, json={"week": "2026-11-18"}).status_code == 401
    assert client.post(url, json={"week": "2026-11-18"},
                       headers=auth(tenant, "finance")).status_code == 403
    response = client.post(url, json={"week": "2026-11-18"}, headers=auth(tenant, "fleet_manager"))

    assert response.status_code == 200, response.text
    assert response.json() == {"period_start": "2026-11-15T23:00:00Z",
                               "period_end": "2026-11-22T23:00:00Z", "created": 1,
                               "updated": 0, "unchanged": 0, "removed": 0}
    listed = client.get("/v1/driver-performances", headers=auth(tenant, "viewer")).json()["items"]
    assert len(listed) == 1
    assert (listed[0]["driver_id"], listed[0]["trips_completed"], listed[0]["hours_on_trip"],
            listed[0]["gross_revenue"]) == (str(driver), 1, "0.50",
                                            {"amount": "30.00", "currency": "EUR"})
    # Another tenant's recompute sees none of it.
    theirs = client.post(url, json={"week": "2026-11-18"}, headers=auth(other))
    assert theirs.json()["created"] == 0
    assert client.get("/v1/driver-performances", headers=auth(other)).json()["items"] == []
    both = client.post(url, json={"week": "2026-11-18", "period_start": START.isoformat()},
                       headers=auth(tenant))
    assert both.status_code == 422
    assert both.json()["errors"][0]["field"] == "week"
