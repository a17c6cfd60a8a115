"""Report files of every supported type, through the real pipeline: upload and commit
(``/v1/revenue-imports``) → compute (``/v1/settlements/compute``) → confirm → ledger postings.

The commission each report yields (docs/imports.md, "Normalisation by meaning"): a file without
a commission column (Bolt's English weekly export) has it derived from the identity
``earnings = fare_gross - commission + …``, and a row whose amounts break the identity is a row
error, never settled. The property test generates files in their real shapes (encodings,
separators, decimal commas, localised headers: ``fleetcore.demo.reports``), optionally breaks
one row's identity, and checks money.md's invariants: each driver's settlement equals the hand
computation from the generated amounts to the cent, the ledger balances, nothing counts twice.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from api_support import TenantWorld
from fleetcore.core.db import DbContext, context_session
from fleetcore.demo import reports as gen

WEEK = gen.DEFAULT_WEEK  # Monday 2026-11-16, Europe/Paris
CENT = Decimal("0.01")


def _terms(sessions: Any, tenant: uuid.UUID, driver: str, pct: str) -> None:
    """Accepted revenue-share terms in force since January (what the drivers API records once
    a driver accepts them)."""
    with context_session(sessions, DbContext.for_tenant(tenant)) as session:
        session.execute(text("""
            INSERT INTO rid_driver_cooperation_terms (tenant_id, id, driver_id, terms_version,
                   status, accepted_at, effective_from, settlement_model, fleet_share_pct,
                   currency)
            VALUES (:t, gen_random_uuid(), :d, 'v1', 'active', :accepted, :start,
                    'revenue_share', :pct, 'EUR')"""),
            {"t": tenant, "d": driver, "pct": Decimal(pct),
             "accepted": datetime(2025, 12, 31, tzinfo=UTC),
             "start": datetime(2025, 12, 31, 23, tzinfo=UTC)})


def _driver(client: TestClient, headers: dict[str, str], person: gen.ReportDriver) -> str:
    # The driver's own phone (a valid number; the report files use fiction-range ones, which
    # only the platform accounts carry).
    phone = f"+3361{int(person.uuid[:8], 16) % 10**7:07d}"
    created = client.post("/v1/drivers", headers=headers, json={
        "first_name": person.first_name, "last_name": person.surname, "phone": phone})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _link(client: TestClient, headers: dict[str, str], platform: str, ref: str,
          driver: str) -> None:
    linked = client.post("/v1/platform-accounts", headers=headers, json={
        "platform": platform, "external_account_id": ref, "driver_id": driver})
    assert linked.status_code == 201, linked.text


def _upload(client: TestClient, headers: dict[str, str], data: bytes, name: str,
            **form: str) -> dict[str, Any]:
    response = client.post("/v1/revenue-imports", headers=headers,
                           files={"file": (name, data, "application/octet-stream")},
                           data={"commit": "true", **form})
    assert response.status_code == 201, response.text
    (imp,) = response.json()["imports"]
    assert imp["status"] == "committed", imp
    return dict(imp)


def _compute(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.post("/v1/settlements/compute", headers=headers,
                           json={"week": WEEK.isoformat()})
    assert response.status_code == 200, response.text
    return list(response.json()["settlements"])


def _confirm(client: TestClient, headers: dict[str, str], settlement: str) -> dict[str, Any]:
    etag = client.get(f"/v1/settlements/{settlement}", headers=headers).headers["etag"]
    confirmed = client.post(f"/v1/settlements/{settlement}/confirm",
                            headers={**headers, "If-Match": etag})
    assert confirmed.status_code == 200, confirmed.text
    return dict(confirmed.json())


# --- the Bolt example of the issue -------------------------------------------------------------

BOLT_EN_800_600 = (
    "\ufeffDriver,Driver's Phone,Email,Gross earnings (total)|€,"
    "Gross earnings (in-app payment)|€,Collected cash|€,Rider tips|€,Net earnings|€,"
    "Gross earnings per hour|€/h,Net earnings per hour|€/h,Projected payout|€,\r\n"
    "Élodie Lefèvre,+33 6 39 98 01 23,elodie@example.com,800.00,680.00,120.00,0.00,600.00,"
    "20.00,15.00,480.00,\r\n"
).encode()


def test_bolt_english_weekly_without_commission_settles_on_earnings_after_commission(
    rclient: TestClient, make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]], sessions: Any,
) -> None:
    """800 gross, 600 net, no commission column, 120 cash, 30 % to the fleet: Bolt's
    commission is 800 - 600 = 200, the fleet's share 30 % of 600 = 180, and the driver is
    credited 800 - 200 - 180 - 120 = 300.00 (not 440.00 from a share of the gross)."""
    world = make_tenant()
    headers = auth(world)
    person = gen.sample_drivers(1, seed=7)[0]
    driver = _driver(rclient, headers, person)
    _link(rclient, headers, "bolt", "+33639980123", driver)
    _terms(sessions, world.id, driver, "30")
    imp = _upload(rclient, headers, BOLT_EN_800_600, "bolt.csv", period_start=WEEK.isoformat())
    assert (imp["report_type"], imp["rows_valid"], imp["rows_rejected"]) == ("bolt_weekly", 1, 0)

    (settlement,) = [s for s in _compute(rclient, headers) if s["platform_id"] is not None]
    assert {k: settlement[k]["amount"] for k in (
        "gross", "commission", "fleet_share", "cash_collected", "net")} == {
        "gross": "800.00", "commission": "200.00", "fleet_share": "180.00",
        "cash_collected": "120.00", "net": "300.00"}
    assert _confirm(rclient, headers, settlement["id"])["net"]["amount"] == "300.00"


def test_a_row_whose_amounts_do_not_add_up_is_a_row_error_and_is_not_settled(
    rclient: TestClient, make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]], sessions: Any,
) -> None:
    """Bolt's Portuguese export has every term: 800 - 150 + 0 + 0 is not 600."""
    world = make_tenant()
    headers = auth(world)
    people = gen.sample_drivers(2, seed=8)
    drivers = [_driver(rclient, headers, p) for p in people]
    for person, driver in zip(people, drivers, strict=True):
        _link(rclient, headers, "bolt", person.phone, driver)
        _terms(sessions, world.id, driver, "30")
    data = (
        "Motorista;Telemóvel;Ganhos brutos (total)|€;Comissões|€;Gorjetas dos passageiros|€;"
        "Portagens|€;Dinheiro recebido|€;Ganhos líquidos|€\r\n"
        f"A;{people[0].phone};800,00;-150,00;0,00;0,00;120,00;600,00\r\n"
        f"B;{people[1].phone};800,00;-200,00;0,00;0,00;120,00;600,00\r\n"
    ).encode("cp1252")
    imp = _upload(rclient, headers, data, "bolt.csv", period_start=WEEK.isoformat())
    assert (imp["rows_valid"], imp["rows_rejected"]) == (1, 1)
    (error,) = imp["errors"]
    assert (error["row"], error["column"], error["value"]) == (2, "Ganhos líquidos|€", "600.00")
    assert error["reason"] == (
        "the amounts do not add up (off by -50.00): Ganhos líquidos|€ 600.00 ≠ Ganhos brutos "
        "(total)|€ 800.00 - Comissões|€ 150.00 + Gorjetas dos passageiros|€ 0.00 + "
        "Portagens|€ 0.00 = 650.00")
    settled = {s["driver_id"]: s for s in _compute(rclient, headers) if s["platform_id"]}
    assert set(settled) == {drivers[1]}
    assert settled[drivers[1]]["net"]["amount"] == "300.00"


def test_a_summary_without_fare_or_fee_columns_counts_its_tips_once(
    rclient: TestClient, make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]], sessions: Any,
) -> None:
    """Uber's weekly summary with only Total earnings (320.00, after Uber's fee) and its Tip
    (10.00): the fare after the fee is 310.00, the fleet's 25 % is taken on it, and the tip is
    credited once: 320.00 - 77.50 = 242.50 (not 330.00 - 80.00 = 250.00)."""
    world = make_tenant()
    headers = auth(world)
    person = gen.sample_drivers(1, seed=9)[0]
    driver = _driver(rclient, headers, person)
    _link(rclient, headers, "uber", person.uuid, driver)
    _terms(sessions, world.id, driver, "25")
    data = f"Driver UUID,Total earnings,Total earnings:Tip\r\n{person.uuid},320.00,10.00\r\n"
    _upload(rclient, headers, data.encode(), "summary.csv", period_start=WEEK.isoformat())
    (settlement,) = [s for s in _compute(rclient, headers) if s["platform_id"] is not None]
    assert {k: settlement[k]["amount"] for k in ("gross", "commission", "tips", "fleet_share",
                                                 "net")} == {
        "gross": "310.00", "commission": "0.00", "tips": "10.00", "fleet_share": "77.50",
        "net": "242.50"}


# --- every report type, generated ---------------------------------------------------------------

# (platform, report type, shape/language, file options): the shapes real exports come in.
NATIVE = gen.FileOptions()
EXCEL_EN = gen.excel_fr(language="en")
FILES: dict[str, tuple[str, Callable[..., gen.SampleReport], dict[str, Any], gen.FileOptions]] = {
    "uber order, native": ("uber", gen.uber_payments_order, {}, NATIVE),
    "uber order, Excel FR re-save": ("uber", gen.uber_payments_order,
                                     {"fare_aggregate": False}, EXCEL_EN),
    "uber weekly EN": ("uber", gen.uber_payments_driver, {}, NATIVE),
    "uber weekly FR Excel": ("uber", gen.uber_payments_driver, {"language": "fr"},
                             gen.excel_fr()),
    "uber paid-to-you PT": ("uber", gen.uber_payments_driver,
                            {"language": "pt", "shape": "paid_to_you"},
                            gen.excel_fr(language="pt")),
    "bolt weekly EN": ("bolt", gen.bolt_weekly, {}, replace(NATIVE, trailing_empty_column=True)),
    "bolt weekly PT Excel": ("bolt", gen.bolt_weekly, {"language": "pt", "negative_cash": True},
                             gen.excel_fr(language="pt")),
    "bolt orders JSON": ("bolt", gen.bolt_orders, {}, NATIVE),
    # Packaging and damage seen in the wild: a spreadsheet, a portal zip, accents mis-decoded.
    "uber order, XLSX": ("uber", gen.uber_payments_order, {}, NATIVE),
    "uber weekly FR, mis-decoded": ("uber", gen.uber_payments_driver, {"language": "fr"},
                                    replace(NATIVE, language="fr")),
    "bolt weekly EN, zip": ("bolt", gen.bolt_weekly, {}, replace(NATIVE, encoding="utf-8")),
}
# The cell that holds a row's earnings, per report type and shape (to break the identity).
EARNINGS_CELL = {"payments_order": "your_earnings", "bolt_weekly": "net_earnings"}

plan = st.fixed_dictionaries({
    "uber": st.sampled_from([k for k in FILES if k.startswith("uber")]),
    "bolt": st.sampled_from([k for k in FILES if k.startswith("bolt")]),
    "files": st.sampled_from(["uber", "bolt", "both"]),
    "seed": st.integers(0, 10_000),
    "drivers": st.integers(1, 3),
    "pcts": st.lists(st.decimals(min_value=0, max_value=100, places=2, allow_nan=False,
                                 allow_infinity=False), min_size=3, max_size=3),
    "break_row": st.one_of(st.none(), st.integers(0, 3)),
    "delta": st.tuples(st.sampled_from([-1, 1]), st.integers(1, 500)).map(
        lambda sc: Decimal(sc[0] * sc[1]) / 100),
})


def _write(key: str, report: gen.SampleReport) -> tuple[bytes, str]:
    """The report as its platform hands it out: JSON for the API, else the file's shape."""
    if report.report_type == "bolt_orders":
        return gen.to_json(report), "orders.json"
    options, name = FILES[key][3], report.report_type
    if key.endswith("XLSX"):
        return gen.to_xlsx(report, options), f"{name}.xlsx"
    data = gen.to_csv(report, options)
    if key.endswith("mis-decoded"):
        return gen.mis_decoded(data), f"{name}.csv"
    if key.endswith("zip"):
        return gen.to_zip({f"{name}.csv": data}), f"{name}.zip"
    return data, f"{name}.csv"


def _breakable(report: gen.SampleReport) -> bool:
    """Whether the file has every core term (earnings, fare, commission): only then can a row
    break the identity (otherwise the missing one is derived from it)."""
    ids = {c.id for c in report.columns}
    if report.report_type == "bolt_orders":
        return True
    return ids & {"commission", "service_fee", "platform_fee", "pty_service_fee"} != set()


def _break(report: gen.SampleReport, index: int, delta: Decimal) -> None:
    """Change one row's earnings by ``delta``: its amounts no longer add up."""
    row = report.rows[index]
    if report.report_type == "bolt_orders":
        row["order_price"]["net_earnings"] += delta
    else:
        cell = EARNINGS_CELL.get(report.report_type) or next(
            c for c in ("total_earnings", "pty_earnings") if c in row)
        row[cell] += delta
    report.expected[index] = {**report.expected[index], "valid": False}


def _hand_net(rows: list[dict[str, Any]], pct: Decimal) -> Decimal:
    """money.md: gross - commission + tips + tolls + promotions ± adjustments - cash - fleet
    share (pct of gross - commission), computed from the generated amounts."""
    def amount(row: dict[str, Any], name: str) -> Decimal:
        value = row.get(name)
        return Decimal(value) if value is not None else Decimal(0)

    earned = base = Decimal(0)
    for row in rows:
        gross, commission = amount(row, "fare_gross"), amount(row, "commission")
        base += gross - commission
        earned += (gross - commission + amount(row, "tip") + amount(row, "tolls")
                   + amount(row, "promotions") + amount(row, "adjustments")
                   - amount(row, "cash_collected"))
    share = (pct * base / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return earned - share


@pytest.mark.parametrize("key", list(FILES))
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=plan)
def test_generated_files_of_every_type_settle_to_the_cent_and_post_once(
    rclient: TestClient, make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]], sessions: Any, read_system: Callable[..., list[Any]],
    key: str, data: dict[str, Any],
) -> None:
    """Every file type (``key``) is tested, alone or with a file of the other platform; about
    three examples each (CI budget, no deadline)."""
    data = {**data, FILES[key][0]: key}
    chosen = {"uber": ["uber"], "bolt": ["bolt"], "both": ["uber", "bolt"]}[data["files"]]
    if FILES[key][0] not in chosen:
        chosen = [*chosen, FILES[key][0]]
    world = make_tenant()
    headers = auth(world)
    people = gen.sample_drivers(data["drivers"], seed=data["seed"])
    drivers = {p.uuid: _driver(rclient, headers, p) for p in people}
    pcts = {p.uuid: data["pcts"][n] for n, p in enumerate(people)}
    for person in people:
        _terms(sessions, world.id, drivers[person.uuid], str(pcts[person.uuid]))

    expected: dict[tuple[str, str], Decimal] = {}
    valid_rows = 0  # only valid rows are committed
    for platform in chosen:
        file_key = data[platform]
        _, make, options, _ = FILES[file_key]
        report = copy.deepcopy(make(people, WEEK, seed=data["seed"], **options))
        broken = data["break_row"]
        if broken is not None and broken < len(report.rows) and _breakable(report):
            _break(report, broken, data["delta"])
        content, name = _write(file_key, report)
        event(file_key)
        for person in people:
            ref = {"payments_order": person.uuid, "payments_driver": person.uuid,
                   "bolt_weekly": person.phone, "bolt_orders": person.bolt_uuid}
            _link(rclient, headers, platform, ref[report.report_type], drivers[person.uuid])
        form = {"period_start": WEEK.isoformat()} if report.report_type in (
            "payments_driver", "bolt_weekly") else {}
        imp = _upload(rclient, headers, content, name, **form)
        if file_key.endswith("mis-decoded"):
            assert "repaired" in imp["encoding"], imp["encoding"]
        rejected = sum(1 for row in report.expected if not row["valid"])
        assert (imp["rows_valid"], imp["rows_rejected"]) == (
            len(report.expected) - rejected, rejected), imp["errors"]
        if rejected:
            event("a row that does not add up")
            assert all(e["reason"].startswith("the amounts do not add up (off by ")
                       for e in imp["errors"])
        valid_rows += len(report.expected) - rejected
        by_ref = {p.uuid: p.uuid for p in people} | {p.phone: p.uuid for p in people} | {
            p.bolt_uuid: p.uuid for p in people}
        for person in people:
            mine = [row for row in report.expected if row["valid"]
                    and by_ref[row["platform_account_ref"]] == person.uuid]
            expected[(drivers[person.uuid], platform)] = _hand_net(mine, pcts[person.uuid])

    platforms = {r.id: r.code for r in read_system("SELECT id::text, code FROM dir_platforms")}
    settlements = [s for s in _compute(rclient, headers) if s["platform_id"] is not None]
    computed = {(s["driver_id"], platforms[s["platform_id"]]): Decimal(s["net"]["amount"])
                for s in settlements}
    event(f"{len(computed)} platform settlements")
    assert computed == {k: v for k, v in expected.items() if k in computed}
    # A driver without a settlement on a platform had nothing there to settle.
    assert all(v == 0 or k in computed for k, v in expected.items())
    for settlement in settlements:
        assert _confirm(rclient, headers, settlement["id"])["status"] == "confirmed"

    # The ledger: each transaction balances (by construction), all balances sum to zero, each
    # driver's balance is the sum of their confirmed nets; every valid row consumed once.
    tenant = world.id
    (total,) = read_system("""
        SELECT coalesce(sum(CASE WHEN t.debit_account_id = a.id THEN t.amount
                                 ELSE -t.amount END), 0) AS s
          FROM fin_transactions t JOIN fin_accounts a
            ON a.tenant_id = t.tenant_id AND a.id IN (t.debit_account_id, t.credit_account_id)
         WHERE t.tenant_id = :t""", t=tenant)
    assert total.s == 0
    balances = {r.driver: r.balance for r in read_system("""
        SELECT a.driver_id::text AS driver,
               sum(CASE WHEN t.credit_account_id = a.id THEN t.amount ELSE -t.amount END)
                 AS balance
          FROM fin_accounts a JOIN fin_transactions t
            ON t.tenant_id = a.tenant_id AND a.id IN (t.debit_account_id, t.credit_account_id)
         WHERE a.tenant_id = :t AND a.kind = 'driver_balance'
         GROUP BY a.driver_id""", t=tenant)}
    for driver in drivers.values():
        confirmed = sum((v for (d, _), v in computed.items() if d == driver), Decimal(0))
        assert balances.get(driver, Decimal(0)) == confirmed
    (lines,) = read_system("""
        SELECT count(DISTINCT l.consumed_key) AS keys, count(*) AS lines
          FROM trp_settlement_lines l
         WHERE l.tenant_id = :t AND l.confirmed AND l.source_type = 'import_row'
           AND l.line_type = 'platform_earning'""", t=tenant)
    assert lines.keys == lines.lines  # one earning line per row
    stored = {r.id for r in read_system(
        "SELECT 'import_row:' || id::text AS id FROM rev_import_rows WHERE tenant_id = :t",
        t=tenant)}
    assert len(stored) == valid_rows  # a row that does not add up is never committed
    consumed = {r.key for r in read_system(
        "SELECT DISTINCT consumed_key AS key FROM trp_settlement_lines"
        " WHERE tenant_id = :t AND confirmed AND source_type = 'import_row'", t=tenant)}
    assert consumed <= stored
    # Computing again settles nothing twice.
    again = [s for s in _compute(rclient, headers) if s["platform_id"] is not None]
    assert again == []
