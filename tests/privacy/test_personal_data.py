"""Personal data on request: export a driver's (or member's) file as one zip, erase it once the
retention rule allows — and prove that nothing personal is left anywhere, the audit trail
included, while the money records stay."""

from __future__ import annotations

import hashlib
import io
import json
import random
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from api_support import TenantWorld, if_match
from fleetcore.core.db import DbContext, context_session
from fleetcore.core.orm import new_id
from fleetcore.documents.storage import StorageError
from fleetcore.privacy.service import delete_files

Auth = Callable[..., dict[str, str]]
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
LONG_AGO = datetime(2021, 3, 1, 9, 0, tzinfo=UTC)


def _insert(sessions: Any, tenant_id: uuid.UUID, table: str, **values: Any) -> uuid.UUID:
    values.setdefault("id", new_id())
    columns = ", ".join(values)
    params = ", ".join(f"CAST(:{c} AS jsonb)" if isinstance(values[c], dict) else f":{c}"
                       for c in values)
    bound = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in values.items()}
    with context_session(sessions, DbContext.for_tenant(tenant_id)) as session:
        session.execute(text(f"INSERT INTO {table} (tenant_id, {columns})"
                             f" VALUES (:tenant_id, {params})"), {**bound, "tenant_id": tenant_id})
    return values["id"]  # type: ignore[no-any-return]


def _sql(sessions: Any, tenant_id: uuid.UUID, sql: str, **params: Any) -> list[Any]:
    with context_session(sessions, DbContext.for_tenant(tenant_id)) as session:
        result = session.execute(text(sql), params)
        return list(result.all()) if result.returns_rows else []


def _digits(n: int) -> str:
    return "".join(random.choice("123456789") for _ in range(n))


@dataclass
class Person:
    """A driver with a distinctive value in every personal field, and their records."""

    driver_id: str
    member_id: uuid.UUID
    values: list[str]
    tenant_scoped_values: list[str]
    document_ids: list[str] = field(default_factory=list)
    trip_id: uuid.UUID | None = None
    settlement_id: uuid.UUID | None = None
    transaction_ids: list[uuid.UUID] = field(default_factory=list)


def _seed(client: TestClient, world: TenantWorld, auth: Auth, sessions: Any,
          *, recent_trip: bool = False) -> Person:
    tag = uuid.uuid4().hex[:10]
    first, last = f"Quorlina{tag}", f"Vexbridge{tag}"
    email, new_email = f"q.{tag}@example.com", f"q2.{tag}@example.com"
    phone = f"+33612{_digits(6)}"
    licence, card = f"LIC{tag}", f"VTC{tag}"
    notes = f"Prefers nights {tag}"
    body = {"first_name": first, "last_name": last, "email": email, "phone": phone,
            "date_of_birth": "1958-02-19", "licence_number": licence, "licence_country": "FR",
            "licence_issued_on": "2010-06-01", "licence_expires_on": "2033-06-01",
            "professional_card_type": "vtc", "professional_card_number": card,
            "professional_card_expires_on": "2029-03-31", "status": "active", "notes": notes}
    created = client.post("/v1/drivers", headers=auth(world), json=body)
    assert created.status_code == 201, created.text
    driver_id = created.json()["id"]
    # Audit history from edits: the old e-mail and notes are in the trail's "before" values.
    edited = client.patch(f"/v1/drivers/{driver_id}", headers=if_match(
        client, f"/v1/drivers/{driver_id}", auth(world)),
                          json={"email": new_email, "notes": f"{notes} (updated)"})
    assert edited.status_code == 200, edited.text

    document_ids = []
    for n, document_type in enumerate(("driver_licence", "professional_card")):
        uploaded = client.post(
            "/v1/documents", headers=auth(world),
            data={"entity_type": "driver", "entity_id": driver_id,
                  "document_type": document_type, "document_number": f"DOC{n}{tag}",
                  "notes": f"Scan note {n} {tag}"},
            files={"file": (f"scan-{n}-{tag}.pdf", PDF, "application/pdf")})
        assert uploaded.status_code == 201, uploaded.text
        document_id = uploaded.json()["id"]
        document_ids.append(document_id)
        attached = client.post(f"/v1/drivers/{driver_id}/documents", headers=auth(world),
                               json={"document_id": document_id})
        assert attached.status_code == 201, attached.text

    bolt_email, bolt_phone = f"bolt.{tag}@example.com", f"+33612{_digits(6)}"
    for platform, external in (("bolt", bolt_email), ("uber", bolt_phone)):
        account = client.post("/v1/platform-accounts", headers=auth(world), json={
            "platform": platform, "external_account_id": external, "driver_id": driver_id,
            "display_name": f"Disp {first}"})
        assert account.status_code == 201, account.text

    tenant = world.id
    driver = uuid.UUID(driver_id)
    member_email, member_phone = f"portal.{tag}@example.com", f"+33612{_digits(6)}"
    member_id = _insert(sessions, tenant, "adm_members", email=member_email,
                        first_name=f"Memb{tag}", last_name=last, phone=member_phone,
                        clerk_user_id=f"user_{tag}", status="active")
    _sql(sessions, tenant, "UPDATE rid_drivers SET member_id = :m, status = 'terminated'"
         " WHERE id = :d", m=member_id, d=driver)
    user_agent = f"Mozilla/5.0 {tag}"
    _insert(sessions, tenant, "rid_driver_cooperation_terms", driver_id=driver,
            terms_version="v1", status="expired", accepted_at=LONG_AGO,
            accepted_ip="203.0.113.77", accepted_user_agent=user_agent,
            effective_from=LONG_AGO, effective_to=LONG_AGO + timedelta(days=90),
            settlement_model="revenue_share", fleet_share_pct=25, currency="EUR")
    _insert(sessions, tenant, "rid_driver_requests", driver_id=driver, request_type="other",
            status="completed", details={"message": f"Please call {first}"},
            reason=f"Reason {tag}", resolution_notes=f"Called {tag}")
    _insert(sessions, tenant, "rid_driver_blacklists", driver_id=driver,
            reason=f"Blacklisted {tag}", category="conduct", starts_at=LONG_AGO,
            status="lifted", lifted_at=LONG_AGO + timedelta(days=1),
            lift_reason=f"Lifted {tag}")
    _insert(sessions, tenant, "adm_notifications", entity_type="driver", entity_id=driver,
            reason="document_expiry", channel="email", recipient_type="driver",
            recipient_id=driver, recipient_email=email, idempotency_key=f"n-{tag}")
    _insert(sessions, tenant, "sch_tasks", title=f"Call {first} {last}",
            description=f"Ask {first} {last} for the scan", task_type="other",
            related_entity_type="driver", related_entity_id=driver)
    _insert(sessions, tenant, "adm_email_suppressions", email=email, reason="bounce")

    make = _sql(sessions, tenant, "SELECT id FROM dir_car_makes LIMIT 1")[0][0]
    vehicle = _insert(sessions, tenant, "flt_vehicles", make_id=make,
                      licence_plate=f"PL-{_digits(6)}", country="FR", year=2020,
                      fuel_type="hybrid", ownership_type="owned")
    _insert(sessions, tenant, "flt_vehicle_assignments", vehicle_id=vehicle, driver_id=driver,
            starts_at=LONG_AGO, ends_at=LONG_AGO + timedelta(days=30),
            assignment_type="permanent", status="ended", notes=f"Assignment note {tag}")
    _insert(sessions, tenant, "sch_shifts", driver_id=driver, starts_at=LONG_AGO,
            ends_at=LONG_AGO + timedelta(hours=8), notes=f"Shift note {tag}")
    ticket = _insert(sessions, tenant, "sup_tickets", reporter_type="driver", reporter_id=driver,
                     subject=f"Ticket {tag}", description=f"My name is {first}")
    _insert(sessions, tenant, "sup_ticket_messages", ticket_id=ticket, sender_type="driver",
            sender_id=driver, body=f"Message {tag}")
    _insert(sessions, tenant, "sup_customer_feedback", submitted_by_type="driver",
            submitted_by_id=driver, rating=4, comment=f"Feedback {tag}")

    platform = _sql(sessions, tenant, "SELECT id FROM dir_platforms WHERE code = 'uber'")[0][0]
    # A report row the import could not match, naming the driver by phone and by name.
    report = _insert(sessions, tenant, "rev_revenue_imports", platform_id=platform,
                     file_name="weekly.csv", sha256=hashlib.sha256(tag.encode()).hexdigest(),
                     size_bytes=10, storage_key=f"{tenant}/{new_id()}")
    _insert(sessions, tenant, "rev_import_rows", import_id=report, row_number=1,
            platform_id=platform, currency="EUR", platform_account_ref=bolt_phone,
            extra_columns={"Driver name": f"{first} {last}"})
    account = _sql(sessions, tenant, "SELECT id FROM trp_platform_accounts WHERE driver_id = :d"
                   " AND platform_id = :p", d=driver, p=platform)[0][0]
    started = datetime.now(UTC) - timedelta(days=1) if recent_trip else LONG_AGO
    trip_id = _insert(sessions, tenant, "trp_trips", platform_id=platform,
                      external_trip_id=f"trip-{tag}", platform_account_id=account,
                      driver_id=driver, started_at=started, ended_at=started + timedelta(hours=1),
                      pickup_lat=35.9, pickup_lon=14.5, fare_gross=42.5, net_earnings=30,
                      currency="EUR")
    settlement_id = _insert(sessions, tenant, "trp_settlements", driver_id=driver,
                            platform_id=platform, payout_receiver="fleet",
                            period_start=LONG_AGO, period_end=LONG_AGO + timedelta(days=7),
                            trip_count=1, gross=42.5, commission=12.5, fleet_share=30, net=0,
                            currency="EUR", status="confirmed",
                            confirmed_at=LONG_AGO + timedelta(days=8),
                            confirmed_by=world.person().member_id)
    iban = f"FR76{_digits(23)}"
    bank = _insert(sessions, tenant, "fin_accounts", owner_type="driver", driver_id=driver,
                   kind="bank", name=f"Bank of {first} {last}", currency="EUR", iban=iban,
                   bic="BNPAFRPPXXX")
    cash = _insert(sessions, tenant, "fin_accounts", owner_type="tenant", kind="cash",
                   name=f"Cash {tag}", currency="EUR", allow_negative=True)
    transactions = []
    for n, (debit, credit) in enumerate(((bank, cash), (cash, bank))):
        transactions.append(_insert(
            sessions, tenant, "fin_transactions", event_id=new_id(),
            transaction_type="adjustment", debit_account_id=debit, credit_account_id=credit,
            amount=100, currency="EUR", posted_at=LONG_AGO + timedelta(days=n),
            idempotency_key=f"tx-{tag}-{n}",
            payload_sha256=hashlib.sha256(f"{tag}{n}".encode()).hexdigest()))

    values = [first, last, email, new_email, phone, licence, card, notes, iban, bolt_email,
              bolt_phone, member_email, f"Memb{tag}", user_agent, f"Reason {tag}",
              f"Called {tag}", f"Blacklisted {tag}", f"Lifted {tag}", f"scan-0-{tag}",
              f"DOC0{tag}", f"Scan note 0 {tag}", f"user_{tag}", member_phone,
              f"Assignment note {tag}", f"Shift note {tag}", f"Ticket {tag}",
              f"Message {tag}", f"Feedback {tag}"]
    return Person(driver_id, member_id, values, ["1958-02-19", "203.0.113.77"], document_ids,
                  trip_id, settlement_id, transactions)


def _leftovers(owner_engine: Engine, tenant: uuid.UUID, person: Person) -> list[str]:
    """Every (table, value) where a distinctive value is still found, in any column of any
    table (rows read as text, as the owner in the provider context: RLS hides nothing)."""
    found = []
    with owner_engine.connect() as conn, conn.begin():
        conn.execute(text("SELECT set_config('app.context', 'provider', true)"))
        tables = [r[0] for r in conn.execute(text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1"))]
        with_tenant = {r[0] for r in conn.execute(text(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND column_name = 'tenant_id'"))}
        assert len(tables) > 60
        values = [v.lower() for v in person.values]
        for table in tables:
            # One pass over the table, each row read as text once.
            found += [f"{table}: {v}" for v in conn.execute(text(
                f"SELECT DISTINCT v FROM {table} x CROSS JOIN LATERAL"
                " (SELECT lower(x::text) AS body) b, unnest(CAST(:vs AS text[])) v"
                " WHERE strpos(b.body, v) > 0"), {"vs": values}).scalars()]
            if table in with_tenant:
                found += [f"{table}: {v}" for v in conn.execute(text(
                    f"SELECT DISTINCT v FROM {table} x CROSS JOIN LATERAL"
                    " (SELECT x::text AS body) b, unnest(CAST(:vs AS text[])) v"
                    " WHERE x.tenant_id = :t AND strpos(b.body, v) > 0"),
                    {"vs": person.tenant_scoped_values, "t": tenant}).scalars()]
    return found


def test_erasure_leaves_nothing_personal_anywhere_and_keeps_the_money(
    privacy_client: TestClient, tenant_a: TenantWorld, auth: Auth, sessions: Any,
    owner_engine: Engine, privacy_data_dir: Path, read_system: Callable[..., list[Any]],
) -> None:
    person = _seed(privacy_client, tenant_a, auth, sessions)
    driver = person.driver_id
    files = [privacy_data_dir / "documents" / str(tenant_a.id) / d for d in person.document_ids]
    assert all(f.exists() for f in files)
    before = _leftovers(owner_engine, tenant_a.id, person)
    # The seed really put every value somewhere, the audit trail included.
    assert {v.split(": ", 1)[1] for v in before} == {
        *(v.lower() for v in person.values), *person.tenant_scoped_values}
    assert any(v.startswith("adm_audit_logs: ") for v in before)

    erased = privacy_client.post(f"/v1/drivers/{driver}/erase", headers=if_match(
        privacy_client, f"/v1/drivers/{driver}/erase", auth(tenant_a)),
                                 json={"reason": "Request by e-mail, ticket 4711"})
    assert erased.status_code == 200, erased.text
    result = erased.json()
    assert result["documents_deleted"] == 2
    assert result["audit_entries_scrubbed"] > 5

    leftovers = _leftovers(owner_engine, tenant_a.id, person)
    assert leftovers == [], "\n".join(leftovers)
    assert not any(f.exists() for f in files)

    # Money kept, pointing at the same (pseudonymous) driver row.
    trip = read_system("SELECT driver_id, fare_gross, net_earnings, pickup_lat FROM trp_trips"
                       " WHERE id = :t", t=person.trip_id)[0]
    assert (str(trip[0]), float(trip[1]), float(trip[2]), trip[3]) == (driver, 42.5, 30.0, None)
    settlement = read_system("SELECT driver_id, gross, status FROM trp_settlements WHERE id = :s",
                             s=person.settlement_id)[0]
    assert (str(settlement[0]), float(settlement[1]), settlement[2]) == (
        driver, 42.5, "confirmed")
    amounts = read_system("SELECT amount FROM fin_transactions WHERE id = ANY (:ids)",
                          ids=person.transaction_ids)
    assert sorted(float(a[0]) for a in amounts) == [100.0, 100.0]
    row = read_system("SELECT first_name, last_name, email, anonymised_at IS NOT NULL,"
                      " member_id FROM rid_drivers WHERE id = :d", d=driver)[0]
    assert row[0] == "Erased"
    assert row[1].startswith("driver ")
    assert row[2] is None
    assert row[3]
    assert row[4] is None
    member = read_system("SELECT anonymised_at IS NOT NULL, deleted_at IS NOT NULL"
                         " FROM adm_members WHERE id = :m", m=person.member_id)[0]
    assert tuple(member) == (True, True)

    # One audited event for the erasure itself, with its reason and no personal value.
    audit = read_system("SELECT changes FROM adm_audit_logs WHERE action = 'erase'"
                        " AND entity_id = :d", d=driver)
    assert len(audit) == 1
    assert audit[0][0]["reason"] == "Request by e-mail, ticket 4711"
    assert audit[0][0]["documents_deleted"] == 2
    assert sorted(audit[0][0]["storage_keys"]) == sorted(
        f"{tenant_a.id}/{d}" for d in person.document_ids)
    # Erased once: a second request says so.
    again = privacy_client.post(f"/v1/drivers/{driver}/erase", headers=if_match(
        privacy_client, f"/v1/drivers/{driver}/erase", auth(tenant_a)),
                                json={"reason": "Twice"})
    assert again.status_code == 409
    # Nothing personal can be written back through an edit.
    edit = privacy_client.patch(f"/v1/drivers/{driver}", headers=if_match(
        privacy_client, f"/v1/drivers/{driver}", auth(tenant_a)),
                                json={"first_name": "Restored"})
    assert edit.status_code == 409, edit.text
    assert "erased" in edit.json()["detail"]
    assert _leftovers(owner_engine, tenant_a.id, person) == []


def test_erasure_is_refused_with_reasons_while_retention_applies(
    privacy_client: TestClient, tenant_a: TenantWorld, auth: Auth, sessions: Any,
    read_system: Callable[..., list[Any]],
) -> None:
    person = _seed(privacy_client, tenant_a, auth, sessions, recent_trip=True)
    url = f"/v1/drivers/{person.driver_id}/erase"
    refused = privacy_client.post(url, headers=if_match(
        privacy_client, url, auth(tenant_a)), json={"reason": "Asked"})
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert "retention period of 1095 days" in problem["detail"]
    assert [e["field"] for e in problem["errors"]] == ["retention"]

    _sql(sessions, tenant_a.id, "UPDATE rid_drivers SET status = 'active' WHERE id = :d",
         d=uuid.UUID(person.driver_id))
    _insert(sessions, tenant_a.id, "trp_settlements", driver_id=uuid.UUID(person.driver_id),
            period_start=datetime(2026, 11, 2, tzinfo=UTC),
            period_end=datetime(2026, 11, 9, tzinfo=UTC), currency="EUR", status="draft")
    refused = privacy_client.post(url, headers=if_match(
        privacy_client, url, auth(tenant_a)), json={"reason": "Asked"})
    assert refused.status_code == 409
    messages = " | ".join(e["message"] for e in refused.json()["errors"])
    assert "the driver is active" in messages
    assert "1 settlement(s) are draft or confirmed but unpaid" in messages
    assert "retention period" in messages
    # Nothing changed, nothing was deleted.
    row = read_system("SELECT first_name, anonymised_at FROM rid_drivers WHERE id = :d",
                      d=person.driver_id)[0]
    assert row[0] == person.values[0]
    assert row[1] is None
    docs = read_system("SELECT count(*) FROM doc_documents WHERE entity_id = :d",
                       d=person.driver_id)
    assert docs[0][0] == 2
    # Without the permission: 403 (fleet managers manage drivers, not their erasure).
    denied = privacy_client.post(url, headers=auth(tenant_a, "fleet_manager"),
                                 json={"reason": "Asked"})
    assert denied.status_code == 403

    # The fleet's own retention period: 0 days, and the recent trip no longer blocks.
    _sql(sessions, tenant_a.id, "UPDATE rid_drivers SET status = 'inactive' WHERE id = :d",
         d=uuid.UUID(person.driver_id))
    _sql(sessions, tenant_a.id, "DELETE FROM trp_settlements WHERE driver_id = :d"
         " AND status = 'draft'", d=uuid.UUID(person.driver_id))
    _sql(sessions, tenant_a.id, "UPDATE adm_tenants SET settings = settings"
         " || '{\"personal_data_retention_days\": 0}'::jsonb WHERE id = :t", t=tenant_a.id)
    allowed = privacy_client.post(url, headers=if_match(
        privacy_client, url, auth(tenant_a)), json={"reason": "Asked"})
    assert allowed.status_code == 200, allowed.text


def test_export_holds_every_row_and_the_document_files(
    privacy_client: TestClient, tenant_a: TenantWorld, auth: Auth, sessions: Any,
) -> None:
    person = _seed(privacy_client, tenant_a, auth, sessions)
    response = privacy_client.get(f"/v1/drivers/{person.driver_id}/export",
                                  headers=auth(tenant_a))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    assert "driver.json" in names
    manifest = json.loads(archive.read("driver.json"))
    tables = manifest["tables"]
    assert tables["rid_drivers"][0]["first_name"] == person.values[0]
    assert tables["rid_drivers"][0]["licence_number"] == person.values[5]
    assert len(tables["doc_documents"]) == 2
    assert len(tables["rid_driver_documents"]) == 2
    assert len(tables["trp_platform_accounts"]) == 2
    assert len(tables["rid_driver_cooperation_terms"]) == 1
    assert len(tables["trp_settlements"]) == 1
    assert len(tables["fin_accounts"]) == 1
    assert len(tables["fin_transactions"]) == 2
    assert tables["adm_members"][0]["email"].startswith("portal.")
    assert tables["adm_notifications"][0]["recipient_email"] == person.values[2]
    assert manifest["trips_by_month"][0]["trips"] == 1
    assert {e["action"] for e in tables["adm_audit_logs"]} >= {"create", "update"}
    for document_id in person.document_ids:
        [name] = [n for n in names if n.startswith(f"documents/{document_id}-")]
        assert archive.read(name) == PDF
    assert manifest["documents_missing_from_storage"] == []
    # A member's export too (the driver's portal account).
    member = privacy_client.get(f"/v1/members/{person.member_id}/export",
                                headers=auth(tenant_a))
    assert member.status_code == 200
    member_manifest = json.loads(zipfile.ZipFile(io.BytesIO(member.content)).read("member.json"))
    assert member_manifest["tables"]["adm_members"][0]["id"] == str(person.member_id)
    assert privacy_client.get(f"/v1/drivers/{person.driver_id}/export",
                              headers=auth(tenant_a, "viewer")).status_code == 403


def test_another_tenant_can_neither_export_nor_erase(
    privacy_client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth,
    sessions: Any, read_system: Callable[..., list[Any]],
) -> None:
    person = _seed(privacy_client, tenant_a, auth, sessions)
    for method, url, body in (
        ("GET", f"/v1/drivers/{person.driver_id}/export", None),
        ("POST", f"/v1/drivers/{person.driver_id}/erase", {"reason": "Not mine"}),
        ("GET", f"/v1/members/{person.member_id}/export", None),
        ("POST", f"/v1/members/{person.member_id}/erase", {"reason": "Not mine"}),
    ):
        response = privacy_client.request(method, url, json=body,
                                          headers={**auth(tenant_b), "If-Match": '"1"'})
        assert response.status_code == 404, (url, response.text)
    row = read_system("SELECT first_name, anonymised_at FROM rid_drivers WHERE id = :d",
                      d=person.driver_id)[0]
    assert row[0] == person.values[0]
    assert row[1] is None


def test_a_member_is_erased_once_suspended_and_past_retention(
    privacy_client: TestClient, tenant_a: TenantWorld, auth: Auth, sessions: Any,
    owner_engine: Engine,
) -> None:
    tag = uuid.uuid4().hex[:10]
    email, name = f"former.{tag}@example.com", f"Former{tag}"
    member_id = _insert(sessions, tenant_a.id, "adm_members", email=email, first_name=name,
                        status="active", clerk_user_id=f"user_{tag}",
                        last_login_at=datetime.now(UTC) - timedelta(days=2))
    url = f"/v1/members/{member_id}/erase"
    refused = privacy_client.post(url, headers=if_match(
        privacy_client, url, auth(tenant_a)), json={"reason": "Left us"})
    assert refused.status_code == 409
    assert {e["message"].split(":")[0] for e in refused.json()["errors"]} >= {
        "the member is active"}
    _sql(sessions, tenant_a.id, "UPDATE adm_members SET status = 'suspended',"
         " last_login_at = :t, invited_at = NULL WHERE id = :m",
         t=datetime.now(UTC) - timedelta(days=4000), m=member_id)
    erased = privacy_client.post(url, headers=if_match(
        privacy_client, url, auth(tenant_a)), json={"reason": "Left us"})
    assert erased.status_code == 200, erased.text
    person = Person("", member_id, [email, name, f"user_{tag}"], [])
    assert _leftovers(owner_engine, tenant_a.id, person) == []
    # An erased member is no longer listed (404) and, if reached, not edited (409).
    edit = privacy_client.patch(f"/v1/members/{member_id}", headers={
        **auth(tenant_a), "If-Match": 'W/"1"'}, json={"first_name": name})
    assert edit.status_code in (404, 409), edit.text
    assert _leftovers(owner_engine, tenant_a.id, person) == []
    # The owner cannot erase themselves.
    me = privacy_client.post(f"/v1/members/{tenant_a.person().member_id}/erase",
                             headers=if_match(
                                 privacy_client,
                                 f"/v1/members/{tenant_a.person().member_id}/erase",
                                 auth(tenant_a)), json={"reason": "Myself"})
    assert me.status_code == 409
    assert date.today().year > 2000


def test_the_audit_trail_stays_append_only_but_for_an_erased_person(
    privacy_client: TestClient, tenant_a: TenantWorld, auth: Auth, sessions: Any,
    owner_engine: Engine,
) -> None:
    person = _seed(privacy_client, tenant_a, auth, sessions)
    driver = uuid.UUID(person.driver_id)
    flag = text("SELECT set_config('fleetcore.erasing', 'on', true)")
    # Not for someone still on file, whoever asks.
    with context_session(sessions, DbContext.for_tenant(tenant_a.id)) as session:
        with pytest.raises(DBAPIError, match="is not anonymised"), session.begin_nested():
            session.execute(text(
                "SELECT fc_erase_audit_values('driver', :d, 'rid_drivers', ARRAY[:d],"
                " ARRAY['first_name'])"), {"d": driver})
        # The app role cannot update audit rows, flag or not.
        session.execute(flag)
        with pytest.raises(DBAPIError, match="permission denied"), session.begin_nested():
            session.execute(text("UPDATE adm_audit_logs SET changes = '{}'"
                                 " WHERE entity_id = :d"), {"d": driver})
    # Nor the owner without the flag (no policy opens a row), nor with it for anything but
    # the values (the guard trigger), nor a DELETE ever.
    for flagged, statement in (
        (False, "UPDATE adm_audit_logs SET changes = '{}' WHERE entity_id = :d"),
        (True, "UPDATE adm_audit_logs SET action = 'x' WHERE entity_id = :d"),
        (True, "DELETE FROM adm_audit_logs WHERE entity_id = :d"),
    ):
        with owner_engine.connect() as conn, conn.begin():
            conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"),
                         {"t": str(tenant_a.id)})
            if flagged:
                conn.execute(flag)
            assert _changed_nothing(conn, statement, driver), statement
    with owner_engine.connect() as conn, conn.begin():
        conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"),
                     {"t": str(tenant_a.id)})
        actions = conn.execute(text("SELECT DISTINCT action FROM adm_audit_logs"
                                    " WHERE entity_id = :d"), {"d": driver}).scalars().all()
    assert set(actions) == {"create", "update"}


def _changed_nothing(conn: Any, statement: str, driver: uuid.UUID) -> bool:
    try:
        with conn.begin_nested():
            return bool(conn.execute(text(statement), {"d": driver}).rowcount == 0)
    except DBAPIError as exc:
        return "append-only" in str(exc)


class _FailingStorage:
    """A storage whose deletes fail for one key."""

    backend = "local"

    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete(self, key: str) -> None:
        if key.endswith("1"):
            raise StorageError("bucket unreachable")
        self.deleted.append(key)


def test_files_that_cannot_be_deleted_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    storage = _FailingStorage()
    keys = [f"{uuid.uuid4()}/{uuid.uuid4().hex[:-1]}{n}" for n in (0, 1)]
    failed = delete_files(storage, keys)  # type: ignore[arg-type]
    assert failed == [keys[1]]
    assert storage.deleted == [keys[0]]
    assert keys[1] in caplog.text
