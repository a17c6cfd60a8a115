"""Platform report imports over HTTP, on hand-written files shaped like real exports
(integrations.md §8): preview, row errors, unknown accounts and linking, commit (rows, trips,
driver revenues), the same file twice, rollback, atomicity, weekly summaries without dates."""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api_support import TenantWorld, if_match
from fleetcore.core.db import DbContext, context_session

D1 = "9f8e2c1a-4b3d-4e5f-8a7b-6c5d4e3f2a1b"
D2 = "2b7d0c4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"

UBER_HEADER = (
    "transaction UUID,Driver UUID,Driver first name,Driver surname,Trip UUID,Description,"
    "Organisation name,Org alias,vs reporting,Paid to you,Paid to you : Your earnings,"
    "Paid to you : Your earnings : Fare,Paid to you:Your earnings:Fare:Fare,"
    "Paid to you:Your earnings:Service fee,Paid to you:Your earnings:Tip,"
    "Paid to you:Trip balance:Refunds:Toll,"
    "Paid to you : Trip balance : Payouts : Cash collected"
)


def uber_row(tx: str, driver: str, first: str, trip: str, description: str, when: str,
             paid: str, earnings: str, fare: str, fee: str, tip: str = "0.00",
             toll: str = "0.00", cash: str = "0.00") -> str:
    return ",".join([tx, driver, first, "Martin", trip, description, "Lumiere VTC", "lumiere",
                     when, paid, earnings, fare, fare, fee, tip, toll, cash])


def uber_file(*rows: str) -> bytes:
    return ("\ufeff" + "\r\n".join([UBER_HEADER, *rows]) + "\r\n").encode("utf-8")


# Line 2: D1 card trip; 3: D1 cash trip (cash and payout negative in the file); 4: D1's late
# tip of a trip; 5: the same transaction as line 3 (duplicate); 6: unknown driver D2;
# 7: a malformed amount; 8: D2's fare adjustment of an older trip.
WEEK_FILE = uber_file(
    uber_row("5d1c0a6e-0000-4c3d-9e8f-000000000001", D1, "Karim", "trip-001",
             "trip completed order", "2026-11-17 08:15:02 CET", "15.00", "15.00", "20.00",
             "-5.00"),
    uber_row("5d1c0a6e-0000-4c3d-9e8f-000000000002", D1, "Karim", "trip-002",
             "trip completed order", "2026-11-18 21:40:00 CET", "-5.00", "15.00", "20.00",
             "-5.00", cash="-20.00"),
    uber_row("5d1c0a6e-0000-4c3d-9e8f-000000000003", D1, "Karim", "trip-001",
             "tip", "2026-11-19 10:00:00 CET", "2.50", "2.50", "0.00", "0.00", tip="2.50"),
    uber_row("5d1c0a6e-0000-4c3d-9e8f-000000000002", D1, "Karim", "trip-002",
             "trip completed order", "2026-11-18 21:40:00 CET", "-5.00", "15.00", "20.00",
             "-5.00", cash="-20.00"),
    uber_row("5d1c0a6e-0000-4c3d-9e8f-000000000004", D2, "Ana", "trip-003",
             "trip completed order", "2026-11-20 12:00:00 CET", "8.00", "8.00", "10.00",
             "-2.00"),
    uber_row("5d1c0a6e-0000-4c3d-9e8f-000000000005", D2, "Ana", "trip-004",
             "trip completed order", "2026-11-20 13:00:00 CET", "8.00", "eight", "10.00",
             "-2.00"),
    uber_row("5d1c0a6e-0000-4c3d-9e8f-000000000006", D2, "Ana", "trip-000",
             "trip fare adjust order", "2026-11-21 09:00:00 CET", "-1.50", "-1.50", "-2.00",
             "0.50"),
)


@pytest.fixture
def fleet(rclient: TestClient, make_tenant: Callable[..., TenantWorld],
          auth: Callable[..., dict[str, str]]) -> dict[str, Any]:
    """A tenant with two drivers; D1 is linked to its Uber account, D2 is not."""
    world = make_tenant()
    headers = auth(world)
    drivers = []
    for first, phone in (("Karim", "+33612345678"), ("Ana", "+33698765432")):
        created = rclient.post("/v1/drivers", headers=headers, json={
            "first_name": first, "last_name": "Martin", "phone": phone})
        assert created.status_code == 201, created.text
        drivers.append(created.json()["id"])
    linked = rclient.post("/v1/platform-accounts", headers=headers, json={
        "platform": "uber", "external_account_id": D1.upper(), "driver_id": drivers[0]})
    assert linked.status_code == 201, linked.text
    assert linked.json()["external_account_id"] == D1
    return {"world": world, "headers": headers, "drivers": drivers}


def upload(client: TestClient, headers: dict[str, str], data: bytes, name: str = "week.csv",
           **form: str) -> Any:
    return client.post("/v1/revenue-imports", headers=headers,
                       files={"file": (name, data, "text/csv")}, data=form)


def test_preview_counts_accounts_and_row_errors(rclient: TestClient,
                                                fleet: dict[str, Any]) -> None:
    response = upload(rclient, fleet["headers"], WEEK_FILE, currency="EUR")
    assert response.status_code == 201, response.text
    (imp,) = response.json()["imports"]
    assert (imp["platform"], imp["report_type"], imp["status"]) == (
        "uber", "payments_order", "validated")
    assert (imp["rows_total"], imp["rows_valid"], imp["rows_rejected"],
            imp["rows_duplicate"]) == (7, 5, 2, 1)
    errors = {(e["row"], e["column"]): e for e in imp["errors"]}
    assert set(errors) == {(5, "transaction UUID"), (7, "Paid to you : Your earnings")}
    assert errors[(5, "transaction UUID")]["reason"] == "duplicate of row 3"
    assert errors[(7, "Paid to you : Your earnings")]["value"] == "eight"
    accounts = {a["platform_account"]: a for a in imp["accounts"]}
    karim, ana = accounts[D1], accounts[D2]
    assert karim["driver_id"] == fleet["drivers"][0]
    assert ana["driver_id"] is None
    assert imp["unknown_accounts"] == 1
    assert karim["rows"] == 3
    # Earnings after the fee; cash by meaning (positive); payout as the platform signs it.
    assert karim["earnings"] == {"amount": "32.50", "currency": "EUR"}
    assert karim["cash_collected"] == {"amount": "20.00", "currency": "EUR"}
    assert karim["payout"] == {"amount": "12.50", "currency": "EUR"}
    assert ana["rows"] == 2
    assert ana["earnings"] == {"amount": "6.50", "currency": "EUR"}

    listed = rclient.get(imp["errors_csv"], headers=fleet["headers"])
    assert listed.status_code == 200
    rows = list(csv.DictReader(io.StringIO(listed.text)))
    assert [(r["row"], r["column"]) for r in rows] == [
        ("5", "transaction UUID"), ("7", "Paid to you : Your earnings")]

    # A preview writes nothing but the import itself.
    trips = rclient.get("/v1/trips", headers=fleet["headers"]).json()["items"]
    assert trips == []


def test_commit_writes_rows_trips_and_revenues_once(
    rclient: TestClient, fleet: dict[str, Any], read_system: Callable[..., list[Any]],
) -> None:
    headers = fleet["headers"]
    imp = upload(rclient, headers, WEEK_FILE, currency="EUR").json()["imports"][0]
    stale = rclient.post(f"/v1/revenue-imports/{imp['id']}/commit",
                         headers={**headers, "If-Match": '"1"'})
    assert stale.status_code == 412
    committed = rclient.post(f"/v1/revenue-imports/{imp['id']}/commit", headers=if_match(
        rclient, f"/v1/revenue-imports/{imp['id']}/commit", headers))
    assert committed.status_code == 200, committed.text
    body = committed.json()
    assert body["status"] == "committed"
    # trip-001, trip-002 (Karim), trip-003 (Ana): tips and fare adjustments make no trip.
    assert body["trips"] == {"created": 3, "updated": 0, "unchanged": 0}
    tenant = fleet["world"].id
    stored = read_system("SELECT row_number, driver_id, cash_collected, payout FROM"
                         " rev_import_rows WHERE tenant_id = :t ORDER BY row_number", t=tenant)
    assert [r.row_number for r in stored] == [2, 3, 4, 6, 8]
    assert stored[1].cash_collected == Decimal("20.0000")
    assert stored[1].payout == Decimal("-5.0000")
    trips = {t["external_trip_id"]: t for t in
             rclient.get("/v1/trips", headers=headers).json()["items"]}
    assert set(trips) == {"trip-001", "trip-002", "trip-003"}
    assert trips["trip-002"]["cash_collected"] == {"amount": "20.00", "currency": "EUR"}
    assert trips["trip-002"]["platform_commission"] == {"amount": "5.00", "currency": "EUR"}
    assert trips["trip-002"]["driver_id"] == fleet["drivers"][0]
    assert trips["trip-003"]["driver_id"] is None
    revenues = read_system(
        "SELECT driver_id, net, tips, trip_count, period_start FROM rev_driver_revenues"
        " WHERE tenant_id = :t", t=tenant)
    assert len(revenues) == 1
    assert str(revenues[0].driver_id) == fleet["drivers"][0]
    assert revenues[0].net == Decimal("32.5000")
    assert revenues[0].tips == Decimal("2.5000")
    assert revenues[0].trip_count == 2
    # The week starts on Monday 16 November 2026, 00:00 in Paris.
    assert revenues[0].period_start.isoformat() == "2026-11-15T23:00:00+00:00"

    again = rclient.post(f"/v1/revenue-imports/{imp['id']}/commit", headers=if_match(
        rclient, f"/v1/revenue-imports/{imp['id']}/commit", headers))
    assert again.status_code == 409
    twice = upload(rclient, headers, WEEK_FILE, currency="EUR")
    assert twice.status_code == 409
    assert twice.json()["existing_import_id"] == imp["id"]
    # The same rows in other bytes: every row already imported, none written twice.
    resaved = upload(rclient, headers, WEEK_FILE + b"\r\n", currency="EUR")
    assert resaved.status_code == 201, resaved.text
    preview = resaved.json()["imports"][0]
    assert preview["rows_valid"] == 0
    already = [e for e in preview["errors"] if e["reason"].startswith("already imported")]
    assert [e["row"] for e in already] == [2, 3, 4, 6, 8]
    assert {e["column"] for e in already} == {"transaction UUID"}
    assert already[0]["reason"] == f"already imported (import {imp['id']}, row 2)"


def test_driver_revenues_add_up_the_weeks_rows_and_trips_of_every_import(
    rclient: TestClient, fleet: dict[str, Any], read_system: Callable[..., list[Any]],
    sessions: Any,
) -> None:
    """A week's revenue is the sum of its rows whichever import brought them, and counts
    every trip of the week: an import alone in its weeks totals its staged rows and counts
    the trips it created; beside another import, or a trip entered otherwise, the stored rows
    and trips are read back."""
    headers = fleet["headers"]
    first = upload(rclient, headers, WEEK_FILE, currency="EUR", commit="true")
    assert first.json()["imports"][0]["status"] == "committed", first.text
    # The same week, another file: Karim's third trip.
    beside = upload(rclient, headers, uber_file(uber_row(
        "5d1c0a6e-0000-4c3d-9e8f-000000000011", D1, "Karim", "trip-011",
        "trip completed order", "2026-11-21 18:00:00 CET", "9.00", "9.00", "12.00", "-3.00")),
        name="same-week.csv", currency="EUR", commit="true")
    assert beside.json()["imports"][0]["status"] == "committed", beside.text
    # The next week: alone in it among imports, but one trip of it was entered otherwise.
    with context_session(sessions, DbContext.system()) as session:
        session.execute(text(
            "INSERT INTO trp_trips (tenant_id, id, platform_id, external_trip_id, status,"
            " driver_id, ended_at) SELECT :t, gen_random_uuid(), id, 'manual-1', 'completed',"
            " :d, '2026-11-25 10:00:00+01' FROM dir_platforms WHERE code = 'uber'"),
            {"t": fleet["world"].id, "d": fleet["drivers"][0]})
    later = upload(rclient, headers, uber_file(uber_row(
        "5d1c0a6e-0000-4c3d-9e8f-000000000012", D1, "Karim", "trip-012",
        "trip completed order", "2026-11-24 09:00:00 CET", "4.00", "4.00", "5.00", "-1.00")),
        name="next-week.csv", currency="EUR", commit="true")
    assert later.json()["imports"][0]["status"] == "committed", later.text
    revenues = read_system(
        "SELECT net, gross, platform_fees, trip_count, period_start FROM rev_driver_revenues"
        " WHERE tenant_id = :t AND driver_id = :d ORDER BY period_start",
        t=fleet["world"].id, d=fleet["drivers"][0])
    assert [(r.net, r.gross, r.platform_fees, r.trip_count) for r in revenues] == [
        (Decimal("41.5000"), Decimal("52.0000"), Decimal("13.0000"), 3),
        (Decimal("4.0000"), Decimal("5.0000"), Decimal("1.0000"), 2)]
    assert [r.period_start.isoformat() for r in revenues] == [
        "2026-11-15T23:00:00+00:00", "2026-11-22T23:00:00+00:00"]


def test_a_trip_known_from_another_week_is_updated_not_doubled(
    rclient: TestClient, fleet: dict[str, Any], read_system: Callable[..., list[Any]],
    sessions: Any,
) -> None:
    """With no trip in the import's period the trips are first inserted without an arbiter;
    one that exists with another date (here a week earlier) turns that into the upsert."""
    with context_session(sessions, DbContext.system()) as session:
        session.execute(text(
            "INSERT INTO trp_trips (tenant_id, id, platform_id, external_trip_id, status,"
            " ended_at) SELECT :t, gen_random_uuid(), id, 'trip-001', 'completed',"
            " '2026-11-10 10:00:00+01' FROM dir_platforms WHERE code = 'uber'"),
            {"t": fleet["world"].id})
    imp = upload(rclient, fleet["headers"], WEEK_FILE, currency="EUR", commit="true")
    assert imp.status_code == 201, imp.text
    assert imp.json()["imports"][0]["trips"] == {"created": 2, "updated": 1, "unchanged": 0}
    trips = read_system("SELECT external_trip_id, driver_id, fare_gross FROM trp_trips"
                        " WHERE tenant_id = :t ORDER BY external_trip_id", t=fleet["world"].id)
    assert [t.external_trip_id for t in trips] == ["trip-001", "trip-002", "trip-003"]
    assert str(trips[0].driver_id) == fleet["drivers"][0]
    assert trips[0].fare_gross == Decimal("20.0000")
    revenue = read_system("SELECT trip_count FROM rev_driver_revenues WHERE tenant_id = :t",
                          t=fleet["world"].id)
    assert [r.trip_count for r in revenue] == [2]


def test_linking_an_account_gives_waiting_rows_their_driver(
    rclient: TestClient, fleet: dict[str, Any], read_system: Callable[..., list[Any]],
) -> None:
    headers = fleet["headers"]
    imp = upload(rclient, headers, WEEK_FILE, currency="EUR", commit="true").json()["imports"][0]
    assert imp["status"] == "committed"
    pending = upload(rclient, headers, uber_file(uber_row(
        "5d1c0a6e-0000-4c3d-9e8f-000000000099", D2, "Ana", "trip-099", "trip completed order",
        "2026-11-21 12:00:00 CET", "4.00", "4.00", "5.00", "-1.00")), currency="EUR")
    waiting = pending.json()["imports"][0]
    assert waiting["unknown_accounts"] == 1

    link = rclient.post("/v1/platform-accounts", headers=headers, json={
        "platform": "uber", "external_account_id": D2, "driver_id": fleet["drivers"][1]})
    assert link.status_code == 201, link.text
    tenant = fleet["world"].id
    rows = read_system("SELECT count(*) AS n FROM rev_import_rows WHERE tenant_id = :t"
                       " AND platform_account_ref = :ref AND driver_id = :d",
                       t=tenant, ref=D2, d=fleet["drivers"][1])
    assert rows[0].n == 2
    trip = rclient.get("/v1/trips", headers=headers,
                       params={"external_trip_id": "trip-003"}).json()["items"][0]
    assert trip["driver_id"] == fleet["drivers"][1]
    revenue = read_system("SELECT net FROM rev_driver_revenues WHERE tenant_id = :t"
                          " AND driver_id = :d", t=tenant, d=fleet["drivers"][1])
    assert [r.net for r in revenue] == [Decimal("6.5000")]
    # The committed import's summary and the preview still waiting say the account is known.
    summary = rclient.get(f"/v1/revenue-imports/{imp['id']}", headers=headers).json()
    assert summary["unknown_accounts"] == 0
    refreshed = rclient.get(f"/v1/revenue-imports/{waiting['id']}", headers=headers).json()
    assert refreshed["unknown_accounts"] == 0
    assert refreshed["accounts"][0]["driver_id"] == fleet["drivers"][1]


def test_rollback_removes_what_commit_wrote_and_allows_a_retry(
    rclient: TestClient, fleet: dict[str, Any], read_system: Callable[..., list[Any]],
) -> None:
    headers = fleet["headers"]
    imp = upload(rclient, headers, WEEK_FILE, currency="EUR", commit="true").json()["imports"][0]
    rolled = rclient.post(f"/v1/revenue-imports/{imp['id']}/rollback", headers=if_match(
        rclient, f"/v1/revenue-imports/{imp['id']}/rollback", headers))
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["status"] == "rolled_back"
    tenant = fleet["world"].id
    for table in ("rev_import_rows", "trp_trips", "rev_driver_revenues"):
        assert read_system(f"SELECT count(*) AS n FROM {table} WHERE tenant_id = :t",
                           t=tenant)[0].n == 0, table
    retried = upload(rclient, headers, WEEK_FILE, currency="EUR", commit="true")
    assert retried.status_code == 201, retried.text
    assert retried.json()["imports"][0]["rows_valid"] == 5


def test_rollback_refused_once_the_period_is_settled(
    rclient: TestClient, fleet: dict[str, Any], test_database: Any,
) -> None:
    headers = fleet["headers"]
    imp = upload(rclient, headers, WEEK_FILE, currency="EUR", commit="true").json()["imports"][0]
    with psycopg.connect(test_database.owner_url.replace("+psycopg", ""), autocommit=True) as c:
        c.execute("SELECT set_config('app.tenant_id', %s, false)", (str(fleet["world"].id),))
        c.execute(
            "INSERT INTO trp_settlements (id, tenant_id, driver_id, platform_id, period_start,"
            " period_end, payout_receiver, currency, status, confirmed_at, confirmed_by)"
            " SELECT gen_random_uuid(), i.tenant_id, %s, i.platform_id, i.period_start,"
            " i.period_end, 'fleet', 'EUR', 'confirmed', now(), gen_random_uuid()"
            " FROM rev_revenue_imports i WHERE i.id = %s",
            (fleet["drivers"][0], imp["id"]))
    refused = rclient.post(f"/v1/revenue-imports/{imp['id']}/rollback", headers=if_match(
        rclient, f"/v1/revenue-imports/{imp['id']}/rollback", headers))
    assert refused.status_code == 409
    assert "settlement" in refused.json()["detail"]


def test_a_failure_mid_commit_leaves_nothing(
    rclient: TestClient, fleet: dict[str, Any], read_system: Callable[..., list[Any]],
    test_database: Any,
) -> None:
    """Rows are inserted before trips: a trip that fails to insert must take the rows with it."""
    headers = fleet["headers"]
    imp = upload(rclient, headers, WEEK_FILE, currency="EUR").json()["imports"][0]
    trigger = f"fail_{uuid.uuid4().hex[:8]}"
    owner = test_database.owner_url.replace("+psycopg", "")
    with psycopg.connect(owner, autocommit=True) as c:
        c.execute(f"CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $$"
                  " BEGIN IF NEW.external_trip_id = 'trip-003' THEN"
                  " RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$")
        c.execute(f"CREATE TRIGGER {trigger} BEFORE INSERT ON trp_trips FOR EACH ROW"
                  f" EXECUTE FUNCTION {trigger}()")
    try:
        with pytest.raises(psycopg.errors.RaiseException):
            rclient.post(f"/v1/revenue-imports/{imp['id']}/commit", headers=if_match(
                rclient, f"/v1/revenue-imports/{imp['id']}/commit", headers))
    finally:
        with psycopg.connect(owner, autocommit=True) as c:
            c.execute(f"DROP TRIGGER {trigger} ON trp_trips")
            c.execute(f"DROP FUNCTION {trigger}()")
    tenant = fleet["world"].id
    for table in ("rev_import_rows", "trp_trips", "rev_driver_revenues"):
        assert read_system(f"SELECT count(*) AS n FROM {table} WHERE tenant_id = :t",
                           t=tenant)[0].n == 0, table
    assert rclient.get(f"/v1/revenue-imports/{imp['id']}",
                       headers=headers).json()["status"] == "validated"
    done = rclient.post(f"/v1/revenue-imports/{imp['id']}/commit", headers=if_match(
        rclient, f"/v1/revenue-imports/{imp['id']}/commit", headers))
    assert done.status_code == 200, done.text


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty"),
    (b"\xff\xfe\x00garbage\x00\x00", None),
    (b"Name,Amount\r\nKarim,12.00\r\n", None),
])
def test_unreadable_files_are_refused_with_one_reason(
    rclient: TestClient, fleet: dict[str, Any], data: bytes, reason: str | None,
) -> None:
    response = upload(rclient, fleet["headers"], data)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/unreadable-report")
    assert problem["errors"][0]["field"] == "file"
    if reason:
        assert reason in problem["detail"].lower()
    listed = rclient.get("/v1/revenue-imports", headers=fleet["headers"]).json()
    assert listed["items"] == []


BOLT_WEEKLY = (
    "Driver,Driver's Phone,Email,Gross earnings (total)|€,Gross earnings (in-app payment)|€,"
    "Collected cash|€,Rider tips|€,Net earnings|€,Gross earnings per hour|€/h,"
    "Projected payout|€,\r\n"
    "Karim Martin,+33 6 12 34 56 78,karim@example.com,400.00,300.00,100.00,5.00,320.00,"
    "25.00,220.00,\r\n"
    "Ana Martin,+33698765432,ana@example.com,200.00,200.00,0.00,0.00,160.00,20.00,160.00,\r\n"
).encode()


def test_bolt_weekly_needs_its_week_and_matches_by_phone(
    rclient: TestClient, fleet: dict[str, Any], read_system: Callable[..., list[Any]],
) -> None:
    headers = fleet["headers"]
    account = rclient.post("/v1/platform-accounts", headers=headers, json={
        "platform": "bolt", "external_account_id": "06 12 34 56 78",
        "driver_id": fleet["drivers"][0], "payout_receiver": "driver"})
    assert account.status_code == 201, account.text
    assert account.json()["external_account_id"] == "+33612345678"
    assert account.json()["external_account_kind"] == "phone"

    undated = upload(rclient, headers, BOLT_WEEKLY, name="bolt.csv")
    assert undated.status_code == 422
    assert undated.json()["errors"][0]["field"] == "period_start"

    dated = upload(rclient, headers, BOLT_WEEKLY, name="bolt.csv", period_start="2026-11-18",
                   commit="true")
    assert dated.status_code == 201, dated.text
    imp = dated.json()["imports"][0]
    assert (imp["platform"], imp["report_type"]) == ("bolt", "bolt_weekly")
    assert imp["period_start"] == "2026-11-15T23:00:00Z"
    accounts = {a["platform_account"]: a for a in imp["accounts"]}
    assert accounts["+33612345678"]["driver_id"] == fleet["drivers"][0]
    assert accounts["+33612345678"]["cash_collected"] == {"amount": "100.00", "currency": "EUR"}
    assert accounts["+33612345678"]["payout"] == {"amount": "220.00", "currency": "EUR"}
    assert accounts["+33698765432"]["driver_id"] is None
    revenue = read_system("SELECT net FROM rev_driver_revenues WHERE tenant_id = :t",
                          t=fleet["world"].id)
    assert [r.net for r in revenue] == [Decimal("320.0000")]


def test_bolt_weekly_matches_an_account_registered_by_email_when_the_row_has_a_phone(
    rclient: TestClient, fleet: dict[str, Any], read_system: Callable[..., list[Any]],
) -> None:
    headers = fleet["headers"]
    karim, ana = fleet["drivers"][0], fleet["drivers"][1]
    for ref, driver in (("Ana@Example.com", ana), ("+33612345678", karim),
                        ("karim@example.com", karim)):
        created = rclient.post("/v1/platform-accounts", headers=headers, json={
            "platform": "bolt", "external_account_id": ref, "driver_id": driver})
        assert created.status_code == 201, created.text

    dated = upload(rclient, headers, BOLT_WEEKLY, name="bolt.csv", period_start="2026-11-18",
                   commit="true")
    assert dated.status_code == 201, dated.text
    imp = dated.json()["imports"][0]
    accounts = {a["platform_account"]: (a["driver_id"], a["conflict"]) for a in imp["accounts"]}
    assert accounts == {"+33612345678": (karim, None), "+33698765432": (ana, None)}
    revenue = read_system("SELECT driver_id, net FROM rev_driver_revenues WHERE tenant_id = :t",
                          t=fleet["world"].id)
    assert {(str(r.driver_id), r.net) for r in revenue} == {
        (karim, Decimal("320.0000")), (ana, Decimal("160.0000"))}


def test_bolt_weekly_rows_whose_phone_and_email_name_two_drivers_wait_unassigned(
    rclient: TestClient, fleet: dict[str, Any], read_system: Callable[..., list[Any]],
) -> None:
    headers = fleet["headers"]
    karim, ana = fleet["drivers"][0], fleet["drivers"][1]
    created = {}
    for ref, driver in (("+33612345678", karim), ("karim@example.com", ana)):
        response = rclient.post("/v1/platform-accounts", headers=headers, json={
            "platform": "bolt", "external_account_id": ref, "driver_id": driver})
        assert response.status_code == 201, response.text
        created[ref] = response.json()["id"]

    previewed = upload(rclient, headers, BOLT_WEEKLY, name="bolt.csv",
                       period_start="2026-11-18")
    assert previewed.status_code == 201, previewed.text
    imp = previewed.json()["imports"][0]
    karims = next(a for a in imp["accounts"] if a["platform_account"] == "+33612345678")
    assert karims["driver_id"] is None  # never a guess between the two
    assert "karim@example.com" in karims["conflict"]
    assert imp["rows_valid"] == 2  # the rows wait; they are not errors
    assert imp["errors"] == []

    # Put the e-mail's account right, validate again: the rows find their driver.
    fixed = rclient.delete(f"/v1/platform-accounts/{created['karim@example.com']}",
                           headers=if_match(
                               rclient,
                               f"/v1/platform-accounts/{created['karim@example.com']}",
                               headers))
    assert fixed.status_code == 204, fixed.text
    version = rclient.get(f"/v1/revenue-imports/{imp['id']}", headers=headers).headers["etag"]
    again = rclient.post(f"/v1/revenue-imports/{imp['id']}/validate",
                         headers={**headers, "If-Match": version})
    assert again.status_code == 200, again.text
    karims = next(a for a in again.json()["accounts"]
                  if a["platform_account"] == "+33612345678")
    assert (karims["driver_id"], karims["conflict"]) == (karim, None)


def test_another_tenants_account_never_matches(
    rclient: TestClient, fleet: dict[str, Any], make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]],
) -> None:
    other = make_tenant()
    other_headers = auth(other)
    driver = rclient.post("/v1/drivers", headers=other_headers, json={
        "first_name": "Zoe", "last_name": "Other", "phone": "+33611111111"}).json()["id"]
    linked = rclient.post("/v1/platform-accounts", headers=other_headers, json={
        "platform": "uber", "external_account_id": D2, "driver_id": driver})
    assert linked.status_code == 201
    imp = upload(rclient, fleet["headers"], WEEK_FILE, currency="EUR").json()["imports"][0]
    ana = next(a for a in imp["accounts"] if a["platform_account"] == D2)
    assert ana["driver_id"] is None
    assert rclient.get(f"/v1/revenue-imports/{imp['id']}", headers=other_headers
                       ).status_code == 404


ACTIVITY_HEADER = ("Trip UUID,Driver UUID,Vehicle UUID,Number plate,Service type,"
                   "Trip request time,Trip drop-off time,Pick-up address,Drop-off address,"
                   "Trip distance,Trip status")


def activity_file(plate: str, *, distance_002: str = "12.10") -> bytes:
    rows = [
        f"trip-001,{D1},,{plate},UberX,2026-11-17 08:01:00 CET,2026-11-17 08:15:02 CET,"
        "Rivoli,Gare de Lyon,7.35,completed",
        f"trip-002,{D1},,{plate.replace('-', ' ')},Comfort,2026-11-18 21:10:00 CET,"
        f"2026-11-18 21:40:00 CET,Orly,Bastille,{distance_002},completed",
        f"trip-005,{D1},,{plate},UberX,2026-11-19 23:05:10 CET,,Orly,,0,rider_cancelled",
    ]
    return ("\r\n".join([ACTIVITY_HEADER, *rows]) + "\r\n").encode("utf-8")


def test_trip_activity_fills_trips_and_a_reimport_skips_unchanged_ones(
    rclient: TestClient, fleet: dict[str, Any], auth: Callable[..., dict[str, str]],
    sessions: Any,
) -> None:
    from fleet_support import private_make, vin

    headers = fleet["headers"]
    make_id, model_id = private_make(rclient, fleet["world"].id, headers)
    plate = "GH-482-KL"
    vehicle = rclient.post("/v1/vehicles", headers=headers, json={
        "make_id": str(make_id), "model_id": str(model_id), "licence_plate": plate,
        "vin": vin(), "country": "FR", "year": 2024, "first_registration_on": "2024-03-01",
        "fuel_type": "diesel", "ownership_type": "leased"})
    assert vehicle.status_code == 201, vehicle.text

    first = upload(rclient, headers, activity_file(plate), name="activity.csv", commit="true")
    assert first.status_code == 201, first.text
    imp = first.json()["imports"][0]
    assert imp["report_type"] == "trip_activity"
    assert imp["trips"] == {"created": 3, "updated": 0, "unchanged": 0}
    trips = {t["external_trip_id"]: t for t in
             rclient.get("/v1/trips", headers=headers).json()["items"]}
    assert {t["vehicle_id"] for t in trips.values()} == {vehicle.json()["id"]}
    assert trips["trip-005"]["status"] == "cancelled_by_rider"
    assert trips["trip-002"]["distance_km"] == "12.100"
    assert trips["trip-001"]["fare_gross"] is None

    # The same export with one trip corrected: one update, the rest left alone.
    second = upload(rclient, headers, activity_file(plate, distance_002="12.60"),
                    name="activity.csv", commit="true").json()["imports"][0]
    assert second["rows_rejected"] == 0
    assert second["trips"] == {"created": 0, "updated": 1, "unchanged": 2}

    # The money report fills the amounts and keeps what the activity report said.
    money = upload(rclient, headers, WEEK_FILE, currency="EUR",
                   commit="true").json()["imports"][0]
    assert money["trips"] == {"created": 1, "updated": 2, "unchanged": 0}
    trips = {t["external_trip_id"]: t for t in
             rclient.get("/v1/trips", headers=headers).json()["items"]}
    assert trips["trip-002"]["distance_km"] == "12.600"
    assert trips["trip-002"]["service_type"] == "Comfort"
    assert trips["trip-002"]["vehicle_id"] == vehicle.json()["id"]
    assert trips["trip-002"]["fare_gross"] == {"amount": "20.00", "currency": "EUR"}
    assert trips["trip-001"]["requested_at"] == "2026-11-17T07:01:00Z"


def test_the_errors_csv_never_hands_a_formula_to_a_spreadsheet(
    rclient: TestClient, fleet: dict[str, Any],
) -> None:
    bad = uber_file(uber_row("5d1c0a6e-0000-4c3d-9e8f-000000000042", D1, "Karim", "trip-042",
                             "trip completed order", "2026-11-17 08:15:02 CET", "15.00",
                             "=HYPERLINK(\"http://evil\")", "20.00", "-5.00"))
    imp = upload(rclient, fleet["headers"], bad, currency="EUR").json()["imports"][0]
    assert imp["errors"][0]["value"].startswith("=HYPERLINK")
    rows = list(csv.DictReader(io.StringIO(
        rclient.get(imp["errors_csv"], headers=fleet["headers"]).text)))
    assert rows[0]["value"].startswith("'=HYPERLINK")


# --- no 500 from input, bounded input and output --------------------------------------------


def test_a_rollback_that_other_records_depend_on_is_a_409_saying_what_blocks_it(
    rclient: TestClient, fleet: dict[str, Any], test_database: Any,
    read_system: Callable[..., list[Any]],
) -> None:
    headers = fleet["headers"]
    imp = upload(rclient, headers, WEEK_FILE, currency="EUR", commit="true").json()["imports"][0]
    tenant = fleet["world"].id
    with psycopg.connect(test_database.owner_url.replace("+psycopg", ""), autocommit=True) as c:
        c.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant),))
        c.execute(
            "INSERT INTO fin_toll_transactions (id, tenant_id, plate, occurred_at, amount,"
            " currency, source, trip_id, external_reference)"
            " SELECT gen_random_uuid(), t.tenant_id, 'GH-482-KL', t.ended_at, 2.40, 'EUR',"
            " 'manual', t.id, 'toll-' || t.external_trip_id FROM trp_trips t"
            " WHERE t.tenant_id = %s AND t.import_id = %s", (tenant, imp["id"]))
        tolls = c.execute("SELECT count(*) FROM fin_toll_transactions WHERE tenant_id = %s",
                          (tenant,)).fetchone()
    assert tolls is not None
    assert tolls[0] >= 2
    before = {table: read_system(f"SELECT count(*) AS n FROM {table} WHERE tenant_id = :t",
                                 t=tenant)[0].n
              for table in ("rev_import_rows", "trp_trips", "rev_driver_revenues")}

    refused = rclient.post(f"/v1/revenue-imports/{imp['id']}/rollback", headers=if_match(
        rclient, f"/v1/revenue-imports/{imp['id']}/rollback", headers))
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert "fin_toll_transactions" in problem["detail"]
    assert problem["blocked_by"] == {"fin_toll_transactions": tolls[0]}
    # Nothing half-done: the import, its rows, trips and revenues are as they were.
    assert rclient.get(f"/v1/revenue-imports/{imp['id']}",
                       headers=headers).json()["status"] == "committed"
    for table, count in before.items():
        assert read_system(f"SELECT count(*) AS n FROM {table} WHERE tenant_id = :t",
                           t=tenant)[0].n == count, table


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(("name", "data", "says"), [
    ("orders.json", b"[" * 200_000 + b"]" * 200_000, "levels deep"),
    ("week.csv", WEEK_FILE.replace(b"\r\n", b"," + b"h" * 200_000 + b"\r\n", 1), "64 KB"),
    ("week.zip", _zip("week.csv", uber_file(uber_row(
        "5d1c0a6e-0000-4c3d-9e8f-000000000009", D1, "K" * (100 * 1024 * 1024), "trip-009",
        "trip completed order", "2026-11-17 08:15:02 CET", "15.00", "15.00", "20.00",
        "-5.00"))), "column 'Driver first name'"),
])
def test_files_over_the_reading_limits_are_refused_with_the_limit_named(
    rclient: TestClient, fleet: dict[str, Any], name: str, data: bytes, says: str,
) -> None:
    response = upload(rclient, fleet["headers"], data, name=name, currency="EUR")
    assert response.status_code == 422, response.text[:300]
    problem = response.json()
    assert problem["type"].endswith("/unreadable-report")
    assert says in problem["detail"]
    assert len(response.content) < 2_000
    assert rclient.get("/v1/revenue-imports", headers=fleet["headers"]).json()["items"] == []


def test_files_over_the_size_limits_are_413(
    rclient: TestClient, fleet: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fleetcore.revenue.reports import limits

    monkeypatch.setattr(limits, "MAX_UPLOAD_BYTES", len(WEEK_FILE) - 1)
    too_big = upload(rclient, fleet["headers"], WEEK_FILE, currency="EUR")
    assert too_big.status_code == 413, too_big.text
    assert too_big.json()["type"].endswith("/report-too-large")
    assert too_big.json()["errors"][0]["field"] == "file"
    monkeypatch.setattr(limits, "MAX_UPLOAD_BYTES", 512 * 1024 * 1024)
    monkeypatch.setattr(limits, "MAX_MEMBER_BYTES", len(WEEK_FILE) - 1)
    inflated = upload(rclient, fleet["headers"], _zip("week.csv", WEEK_FILE), name="week.zip",
                      currency="EUR")
    assert inflated.status_code == 413, inflated.text
    assert "week.csv: it inflates to more than" in inflated.json()["detail"]


def test_texts_from_the_file_are_bounded_in_the_summary_and_in_lists(
    rclient: TestClient, fleet: dict[str, Any], test_database: Any,
) -> None:
    headers = fleet["headers"]
    long_name = "Karim " + "K" * 3_000  # under the cell limit, far over what a list shows
    rows = [uber_row(f"5d1c0a6e-0000-4c3d-9e8f-{n:012d}", D2, long_name, f"trip-{n}",
                     "trip completed order", "2026-11-17 08:15:02 CET", "15.00",
                     "bad" + "9" * 2_000 if n < 30 else "15.00", "20.00", "-5.00")
            for n in range(35)]
    imp = upload(rclient, headers, uber_file(*rows), currency="EUR").json()["imports"][0]
    assert imp["errors_total"] == 30
    assert len(imp["errors"]) == 30  # one import shows its summary's errors
    assert all(len(e["value"]) <= 200 for e in imp["errors"])
    (account,) = imp["accounts"]
    assert account["name"].startswith("Karim KKK")
    assert len(account["name"]) == 200
    assert imp["accounts_total"] == 1
    errors_csv = rclient.get(imp["errors_csv"], headers=headers).text
    assert "bad" + "9" * 2_000 in errors_csv  # the full values stay in the CSV

    # An import recorded before texts were bounded: the list still answers in kilobytes.
    with psycopg.connect(test_database.owner_url.replace("+psycopg", ""), autocommit=True) as c:
        c.execute("SELECT set_config('app.tenant_id', %s, false)", (str(fleet["world"].id),))
        legacy_errors = [{"row": n, "column": "Paid to you : Your earnings",
                          "value": "9" * 100_000, "reason": "not a number"}
                         for n in range(2, 1_002)]
        c.execute(
            "UPDATE rev_revenue_imports SET summary = jsonb_set(jsonb_set(summary,"
            " '{accounts,0,name}', to_jsonb(repeat('A', 5000000))), '{errors}', %s::jsonb)"
            " WHERE id = %s", (json.dumps(legacy_errors), imp["id"]))
    listed = rclient.get("/v1/revenue-imports", headers=headers, params={"limit": 50})
    assert listed.status_code == 200
    assert len(listed.content) < 30_000
    (item,) = listed.json()["items"]
    assert len(item["accounts"][0]["name"]) == 200
    assert len(item["errors"]) == 20
    assert item["errors_total"] == 30
    assert all(len(e["value"]) == 200 for e in item["errors"])
    one = rclient.get(f"/v1/revenue-imports/{imp['id']}", headers=headers).json()
    assert len(one["accounts"][0]["name"]) == 200


def test_a_rollback_rebuilds_the_draft_settlements_built_from_its_rows(
    rclient: TestClient, fleet: dict[str, Any], read_system: Callable[..., list[Any]],
) -> None:
    """Drafts are derived: a rollback leaves none holding lines of rows or trips it removed
    (confirming one would post money for a report that is gone)."""
    headers = fleet["headers"]
    imp = upload(rclient, headers, WEEK_FILE, currency="EUR", commit="true").json()["imports"][0]
    computed = rclient.post("/v1/settlements/compute", headers=headers,
                            json={"week": "2026-11-18"})
    assert computed.status_code == 200, computed.text
    tenant = fleet["world"].id
    sourced = ("SELECT count(*) AS n FROM trp_settlement_lines l WHERE l.tenant_id = :t"
               " AND l.source_type IN ('import_row', 'trip')")
    assert read_system(sourced, t=tenant)[0].n > 0

    rolled = rclient.post(f"/v1/revenue-imports/{imp['id']}/rollback", headers=if_match(
        rclient, f"/v1/revenue-imports/{imp['id']}/rollback", headers))
    assert rolled.status_code == 200, rolled.text
    assert read_system(sourced, t=tenant)[0].n == 0
    dangling = read_system(
        "SELECT count(*) AS n FROM trp_settlement_lines l WHERE l.tenant_id = :t AND ("
        " (l.source_type = 'import_row' AND NOT EXISTS (SELECT 1 FROM rev_import_rows r"
        "   WHERE r.tenant_id = l.tenant_id AND r.id = l.source_id))"
        " OR (l.source_type = 'trip' AND NOT EXISTS (SELECT 1 FROM trp_trips x"
        "   WHERE x.tenant_id = l.tenant_id AND x.id = l.source_id)))", t=tenant)
    assert dangling[0].n == 0


# --- what a file does not state: its currency, its week ------------------------------------------


def test_a_file_without_a_currency_takes_the_fleets_and_says_so(
    rclient: TestClient, fleet: dict[str, Any],
) -> None:
    """Uber's CSVs carry no currency: the fleet's (EUR here) is used, and the summary says
    where it came from; one given with the upload is used as given."""
    response = upload(rclient, fleet["headers"], WEEK_FILE)
    assert response.status_code == 201, response.text
    (imp,) = response.json()["imports"]
    assert (imp["currency"], imp["currency_source"]) == ("EUR", "fleet")
    assert {a["earnings"]["currency"] for a in imp["accounts"] if a["earnings"]} == {"EUR"}
    assert imp["period_source"] == "file"
    listed = rclient.get("/v1/revenue-imports", headers=fleet["headers"]).json()["items"]
    assert listed[0]["currency_source"] == "fleet"


def test_a_currency_stated_by_the_file_wins_over_the_fleets(
    rclient: TestClient, make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]],
) -> None:
    headers = auth(make_tenant(currency="GBP"))
    response = upload(rclient, headers, BOLT_WEEKLY, name="bolt.csv", period_start="2026-11-18")
    assert response.status_code == 201, response.text
    (imp,) = response.json()["imports"]
    assert (imp["currency"], imp["currency_source"]) == ("EUR", "file")
    given = upload(rclient, headers, WEEK_FILE, currency="EUR")
    assert given.status_code == 201, given.text
    assert (given.json()["imports"][0]["currency"],
            given.json()["imports"][0]["currency_source"]) == ("EUR", "given")
    fleets = upload(rclient, headers, WEEK_FILE.replace(b"\r\n", b"\n"))
    assert fleets.status_code == 201, fleets.text
    assert (fleets.json()["imports"][0]["currency"],
            fleets.json()["imports"][0]["currency_source"]) == ("GBP", "fleet")


UBER_WEEKLY = (
    "\ufeffDriver UUID,Driver first name,Driver surname,Total earnings,Total earnings:Net fare,"
    "Total earnings:Tip,Payouts,Payouts:Cash collected\r\n"
    f"{D1},Karim,Martin,320.00,310.00,10.00,-250.00,-70.00\r\n"
).encode()


def test_a_weekly_summary_takes_its_week_from_ubers_download_name(
    rclient: TestClient, fleet: dict[str, Any],
) -> None:
    name = "20261116-20261123-payments_driver-lumiere_vtc.csv"
    response = upload(rclient, fleet["headers"], UBER_WEEKLY, name=name)
    assert response.status_code == 201, response.text
    (imp,) = response.json()["imports"]
    assert imp["report_type"] == "payments_driver"
    assert imp["period_start"] == "2026-11-15T23:00:00Z"  # Monday 16 November, Paris
    assert imp["period_end"] == "2026-11-22T23:00:00Z"
    assert imp["period_source"] == "file name"
    assert (imp["currency"], imp["currency_source"]) == ("EUR", "fleet")


@pytest.mark.parametrize(
    ("name", "period_start", "message"),
    [
        ("20261116-20261130-payments_driver-x.csv", None, "not one week"),
        ("20261116-20261123-payments_driver-x.csv", "2026-11-25",
         "period_start names the week of 2026-11-23"),
        ("payments_driver.csv", None, "give any day of the week"),
    ],
)
def test_a_weekly_summarys_week_is_refused_when_the_name_and_the_caller_cannot_agree(
    rclient: TestClient, fleet: dict[str, Any], name: str, period_start: str | None,
    message: str,
) -> None:
    form = {"period_start": period_start} if period_start else {}
    response = upload(rclient, fleet["headers"], UBER_WEEKLY, name=name, **form)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == "period_start"
    assert message in problem["detail"]
    assert rclient.get("/v1/revenue-imports", headers=fleet["headers"]).json()["items"] == []


# --- finishing a preview: discard, or upload again -----------------------------------------------


def _stored(rclient: TestClient, key: str) -> bool:
    storage = rclient.app.state.document_storage  # type: ignore[attr-defined]
    try:
        storage.read(key)
    except Exception:  # the backend's "missing" error
        return False
    return True


def test_a_preview_is_discarded_with_its_file_and_a_committed_import_is_not(
    rclient: TestClient, fleet: dict[str, Any], read_system: Callable[..., list[Any]],
    make_tenant: Callable[..., TenantWorld], auth: Callable[..., dict[str, str]],
) -> None:
    headers = fleet["headers"]
    preview = upload(rclient, headers, WEEK_FILE)
    assert preview.status_code == 201, preview.text
    imp = preview.json()["imports"][0]
    (row,) = read_system("SELECT storage_key, errors_storage_key FROM rev_revenue_imports"
                         " WHERE id = :i", i=imp["id"])
    assert _stored(rclient, row.storage_key)
    assert _stored(rclient, row.errors_storage_key)

    stale = rclient.delete(f"/v1/revenue-imports/{imp['id']}",
                           headers={**headers, "If-Match": 'W/"999"'})
    assert stale.status_code == 412, stale.text
    foreign = rclient.delete(f"/v1/revenue-imports/{imp['id']}", headers=if_match(
        rclient, f"/v1/revenue-imports/{imp['id']}", auth(make_tenant())))
    assert foreign.status_code == 404

    current = rclient.get(f"/v1/revenue-imports/{imp['id']}", headers=headers)
    gone = rclient.delete(f"/v1/revenue-imports/{imp['id']}",
                          headers={**headers, "If-Match": current.headers["ETag"]})
    assert gone.status_code == 204, gone.text
    assert rclient.get(f"/v1/revenue-imports/{imp['id']}", headers=headers).status_code == 404
    assert not _stored(rclient, row.storage_key)
    assert not _stored(rclient, row.errors_storage_key)
    audit = read_system("SELECT action FROM adm_audit_logs WHERE entity_id = :i"
                        " ORDER BY occurred_at, id", i=imp["id"])
    assert audit[-1].action == "delete"

    committed = upload(rclient, headers, WEEK_FILE, commit="true").json()["imports"][0]
    refused = rclient.delete(f"/v1/revenue-imports/{committed['id']}", headers=if_match(
        rclient, f"/v1/revenue-imports/{committed['id']}", headers))
    assert refused.status_code == 409
    assert "Roll it back instead" in refused.json()["detail"]


def test_uploading_a_file_again_replaces_its_preview(
    rclient: TestClient, fleet: dict[str, Any], read_system: Callable[..., list[Any]],
) -> None:
    headers = fleet["headers"]
    first = upload(rclient, headers, WEEK_FILE).json()["imports"][0]
    (old,) = read_system("SELECT storage_key FROM rev_revenue_imports WHERE id = :i",
                         i=first["id"])
    second = upload(rclient, headers, WEEK_FILE)
    assert second.status_code == 201, second.text
    replacing = second.json()["imports"][0]
    assert replacing["replaces"] == [first["id"]]
    assert replacing["id"] != first["id"]
    assert rclient.get(f"/v1/revenue-imports/{first['id']}", headers=headers).status_code == 404
    assert not _stored(rclient, old.storage_key)
    listed = rclient.get("/v1/revenue-imports", headers=headers).json()["items"]
    assert [i["id"] for i in listed] == [replacing["id"]]


def test_a_file_read_in_many_batches_previews_the_same(
        rclient: TestClient, fleet: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader streams a report in bounded batches; here every batch is a line or two, so
    the repeat of line 3 on line 5 lies in another batch and is found in staging: the same
    counts, errors and accounts as the file read in one batch."""
    whole = upload(rclient, fleet["headers"], WEEK_FILE, currency="EUR")
    assert whole.status_code == 201, whole.text
    (expected,) = whole.json()["imports"]

    from fleetcore.revenue import reports
    from fleetcore.revenue.reports import readers
    monkeypatch.setattr(readers, "BATCH_BYTES", 64)
    monkeypatch.setattr(reports, "BATCH_ROWS", 1)
    batched = upload(rclient, fleet["headers"], WEEK_FILE, currency="EUR")  # replaces it
    assert batched.status_code == 201, batched.text
    (imp,) = batched.json()["imports"]
    same = ("rows_total", "rows_valid", "rows_rejected", "rows_duplicate", "errors",
            "accounts", "period_start", "period_end", "unknown_columns")
    assert {k: imp[k] for k in same} == {k: expected[k] for k in same}
    assert {(e["row"], e["reason"]) for e in imp["errors"]} >= {(5, "duplicate of row 3")}
