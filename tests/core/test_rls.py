"""Row-level security and database-enforced rules, tried as the app role with plain SQL.

These are the second wall: they hold even when application code forgets a filter.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from fleetcore.core.db import DbContext, bind_context
from fleetcore.core.orm import new_id

Insert = Callable[..., uuid.UUID]


def _insert(session: Session, table: str, **values: Any) -> uuid.UUID:
    values.setdefault("id", new_id())
    columns = ", ".join(values)
    params = ", ".join(f":{c}" for c in values)
    session.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({params})"), values)
    return values["id"]  # type: ignore[no-any-return]


def _count(session: Session, table: str) -> int:
    return int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


@pytest.fixture
def two_tenants(db: Session) -> dict[str, uuid.UUID]:
    """Tenants A and B, each with a vehicle, a driver and a catalogue make of its own."""
    bind_context(db, DbContext.system())
    ids: dict[str, uuid.UUID] = {}
    ids["make"] = _insert(db, "dir_car_makes", name=f"Global make {uuid.uuid4().hex[:6]}")
    for name, country, currency in (("a", "FR", "EUR"), ("b", "GB", "GBP")):
        tenant = _insert(
            db, "adm_tenants", name=f"Tenant {name}", slug=f"t-{name}-{uuid.uuid4().hex[:8]}",
            country=country, default_currency=currency, timezone="Europe/Paris",
        )
        ids[name] = tenant
    for name in ("a", "b"):
        bind_context(db, DbContext.for_tenant(ids[name]))
        ids[f"{name}_vehicle"] = _insert(
            db, "flt_vehicles", tenant_id=ids[name], make_id=ids["make"],
            licence_plate=f"PL-{name}", country="FR", year=2022, fuel_type="hybrid",
            ownership_type="owned",
        )
        ids[f"{name}_driver"] = _insert(
            db, "rid_drivers", tenant_id=ids[name], first_name="Ana", last_name=name.upper()
        )
        ids[f"{name}_private_make"] = _insert(
            db, "dir_car_makes", tenant_id=ids[name], name=f"Private {name}"
        )
    return ids


def test_a_tenant_sees_only_its_own_rows(db: Session, two_tenants: dict[str, uuid.UUID]) -> None:
    bind_context(db, DbContext.for_tenant(two_tenants["a"]))
    vehicles = db.execute(text("SELECT id, tenant_id FROM flt_vehicles")).all()
    assert [tuple(v) for v in vehicles] == [(two_tenants["a_vehicle"], two_tenants["a"])]
    tenants = db.execute(text("SELECT id FROM adm_tenants")).scalars().all()
    assert tenants == [two_tenants["a"]]
    # Reading B's row by primary key finds nothing: not even its existence leaks.
    found = db.execute(
        text("SELECT count(*) FROM rid_drivers WHERE id = :id"), {"id": two_tenants["b_driver"]}
    ).scalar_one()
    assert found == 0


def test_catalogue_shows_global_and_own_private_rows(
    db: Session, two_tenants: dict[str, uuid.UUID]
) -> None:
    bind_context(db, DbContext.for_tenant(two_tenants["a"]))
    names = set(db.execute(text("SELECT name FROM dir_car_makes")).scalars())
    assert "Private a" in names
    assert "Private b" not in names


def test_a_tenant_cannot_write_rows_of_another(
    db: Session, two_tenants: dict[str, uuid.UUID]
) -> None:
    bind_context(db, DbContext.for_tenant(two_tenants["a"]))
    with pytest.raises(DBAPIError, match="row-level security"), db.begin_nested():
        _insert(db, "rid_drivers", tenant_id=two_tenants["b"], first_name="X", last_name="Y")
    updated = db.execute(
        text("UPDATE rid_drivers SET notes = 'hijacked' WHERE id = :id"),
        {"id": two_tenants["b_driver"]},
    )
    deleted = db.execute(
        text("DELETE FROM flt_vehicles WHERE id = :id"), {"id": two_tenants["b_vehicle"]}
    )
    assert (updated.rowcount, deleted.rowcount) == (0, 0)  # type: ignore[attr-defined]
    with pytest.raises(DBAPIError, match="row-level security"), db.begin_nested():
        db.execute(
            text("UPDATE rid_drivers SET tenant_id = :b WHERE id = :id"),
            {"b": two_tenants["b"], "id": two_tenants["a_driver"]},
        )
    bind_context(db, DbContext.for_tenant(two_tenants["b"]))
    notes = db.execute(
        text("SELECT notes FROM rid_drivers WHERE id = :id"), {"id": two_tenants["b_driver"]}
    ).scalar_one()
    assert notes is None


def test_without_a_tenant_tenant_tables_are_empty(
    db: Session, two_tenants: dict[str, uuid.UUID]
) -> None:
    bind_context(db, DbContext())  # tenant context with no tenant: a pooled connection's state
    assert _count(db, "flt_vehicles") == 0
    assert _count(db, "rid_drivers") == 0
    assert _count(db, "adm_tenants") == 0
    # A connection that once served a tenant reads back '' rather than NULL.
    db.execute(text("SELECT set_config('app.tenant_id', '', true)"))
    assert _count(db, "flt_vehicles") == 0


def test_composite_keys_refuse_references_into_another_tenant(
    db: Session, two_tenants: dict[str, uuid.UUID]
) -> None:
    bind_context(db, DbContext.for_tenant(two_tenants["a"]))
    with pytest.raises(IntegrityError, match="foreign key"), db.begin_nested():
        _insert(
            db, "flt_vehicle_assignments", tenant_id=two_tenants["a"],
            vehicle_id=two_tenants["a_vehicle"], driver_id=two_tenants["b_driver"],
            starts_at=datetime.now(UTC), assignment_type="permanent",
        )


def test_private_catalogue_rows_of_another_tenant_cannot_be_referenced(
    db: Session, two_tenants: dict[str, uuid.UUID]
) -> None:
    bind_context(db, DbContext.for_tenant(two_tenants["a"]))
    with pytest.raises(IntegrityError, match="another tenant"), db.begin_nested():
        db.execute(
            text("UPDATE flt_vehicles SET make_id = :m WHERE id = :id"),
            {"m": two_tenants["b_private_make"], "id": two_tenants["a_vehicle"]},
        )
    db.execute(
        text("UPDATE flt_vehicles SET make_id = :m WHERE id = :id"),
        {"m": two_tenants["a_private_make"], "id": two_tenants["a_vehicle"]},
    )


def test_overlapping_assignments_are_refused_by_the_database(
    db: Session, two_tenants: dict[str, uuid.UUID]
) -> None:
    tenant = two_tenants["a"]
    bind_context(db, DbContext.for_tenant(tenant))
    other_driver = _insert(db, "rid_drivers", tenant_id=tenant, first_name="B", last_name="C")
    start = datetime(2026, 11, 2, 8, tzinfo=UTC)

    def assign(driver: uuid.UUID, starts: datetime, ends: datetime | None, **kw: Any) -> uuid.UUID:
        return _insert(
            db, "flt_vehicle_assignments", tenant_id=tenant,
            vehicle_id=two_tenants["a_vehicle"], driver_id=driver, starts_at=starts,
            ends_at=ends, assignment_type="temporary", **kw,
        )

    first = assign(two_tenants["a_driver"], start, start + timedelta(days=7))
    with pytest.raises(IntegrityError, match="ex_flt_vehicle_assignments_vehicle"), \
            db.begin_nested():
        assign(other_driver, start + timedelta(days=6), None)
    # Back-to-back periods do not overlap ([start, end)).
    assign(other_driver, start + timedelta(days=7), start + timedelta(days=10))
    # A cancelled assignment no longer counts.
    db.execute(
        text("UPDATE flt_vehicle_assignments SET status = 'cancelled' WHERE id = :id"),
        {"id": first},
    )
    assign(other_driver, start, start + timedelta(days=7))


def test_updated_at_and_version_are_maintained_by_the_database(
    db: Session, two_tenants: dict[str, uuid.UUID]
) -> None:
    bind_context(db, DbContext.for_tenant(two_tenants["a"]))
    db.execute(
        text("UPDATE rid_drivers SET updated_at = '2000-01-01', version = 41 WHERE id = :id"),
        {"id": two_tenants["a_driver"]},
    )
    row = db.execute(
        text("SELECT updated_at, version FROM rid_drivers WHERE id = :id"),
        {"id": two_tenants["a_driver"]},
    ).one()
    assert row.updated_at.year > 2000
    assert row.version == 2  # bumped from 1, whatever the statement tried to write


def test_audit_and_lifecycle_rows_are_append_only(
    db: Session, two_tenants: dict[str, uuid.UUID]
) -> None:
    bind_context(db, DbContext.for_tenant(two_tenants["a"]))
    audit = _insert(
        db, "adm_audit_logs", tenant_id=two_tenants["a"], actor_type="system",
        action="create", entity_type="vehicle",
    )
    event = _insert(
        db, "adm_tenant_lifecycle_events", tenant_id=two_tenants["a"], event_type="created",
        performed_by_type="system",
    )
    for statement in (
        "UPDATE adm_audit_logs SET action = 'delete' WHERE id = :id",
        "DELETE FROM adm_audit_logs WHERE id = :id",
        "UPDATE adm_tenant_lifecycle_events SET reason = 'x' WHERE id = :id",
        "DELETE FROM adm_tenant_lifecycle_events WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="permission denied"), db.begin_nested():
            db.execute(text(statement), {"id": audit if "audit" in statement else event})
    still_there = db.execute(
        text("SELECT action FROM adm_audit_logs WHERE id = :id"), {"id": audit}
    ).scalar_one()
    assert still_there == "create"


def test_ledger_entries_balance_and_are_append_only(
    db: Session, two_tenants: dict[str, uuid.UUID]
) -> None:
    tenant = two_tenants["a"]
    bind_context(db, DbContext.for_tenant(tenant))

    def account(kind: str, currency: str = "EUR") -> uuid.UUID:
        return _insert(db, "fin_accounts", tenant_id=tenant, owner_type="tenant", kind=kind,
                       name=kind, currency=currency)

    bank, revenue, gbp_bank = account("bank"), account("revenue"), account("bank", "GBP")

    def post(debit: uuid.UUID, credit: uuid.UUID, amount: str, currency: str = "EUR",
             key: str | None = None) -> uuid.UUID:
        return _insert(
            db, "fin_transactions", tenant_id=tenant, event_id=new_id(),
            transaction_type="adjustment", debit_account_id=debit, credit_account_id=credit,
            amount=amount, currency=currency, posted_at=datetime.now(UTC),
            idempotency_key=key or uuid.uuid4().hex, payload_sha256="0" * 64,
        )

    entry = post(bank, revenue, "12.50", key="evt-1")
    for bad in (
        lambda: post(bank, revenue, "0"),  # not positive
        lambda: post(bank, bank, "1"),  # same account
        lambda: post(bank, gbp_bank, "1"),  # currencies differ
        lambda: post(bank, revenue, "1", currency="GBP"),  # entry in another currency
        lambda: post(bank, revenue, "1", key="evt-1"),  # same idempotency key
    ):
        with pytest.raises(IntegrityError), db.begin_nested():
            bad()
    with pytest.raises(DBAPIError, match="permission denied"), db.begin_nested():
        db.execute(text("UPDATE fin_transactions SET amount = 1 WHERE id = :id"), {"id": entry})
    with pytest.raises(DBAPIError, match="permission denied"), db.begin_nested():
        db.execute(text("DELETE FROM fin_transactions WHERE id = :id"), {"id": entry})


@pytest.mark.parametrize("table", ["adm_audit_logs", "adm_tenant_lifecycle_events",
                                   "fin_transactions"])
def test_even_the_owner_cannot_truncate_append_only_tables(owner_engine: Any, table: str) -> None:
    """The trigger, not only the revoked privileges, keeps these rows immutable."""
    with owner_engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text(f"TRUNCATE {table} CASCADE"))


def test_routing_functions_find_a_tenant_without_opening_it(
    db: Session, two_tenants: dict[str, uuid.UUID]
) -> None:
    bind_context(db, DbContext.system())
    db.execute(
        text("UPDATE adm_tenants SET clerk_organization_id = 'org_123' WHERE id = :id"),
        {"id": two_tenants["b"]},
    )
    bind_context(db, DbContext())  # a webhook or sign-in: no tenant yet
    assert _count(db, "adm_tenants") == 0
    found = db.execute(text("SELECT tenant_for_clerk_org('org_123')")).scalar_one()
    unknown = db.execute(text("SELECT tenant_for_clerk_org('org_unknown')")).scalar_one()
    assert (found, unknown) == (two_tenants["b"], None)
    # The lookup did not leave the provider context behind.
    assert _count(db, "adm_tenants") == 0
    assert db.execute(text("SELECT current_setting('app.context', true)")).scalar_one() == "tenant"


def test_provider_tables_are_closed_to_tenants(
    db: Session, two_tenants: dict[str, uuid.UUID]
) -> None:
    bind_context(db, DbContext.for_tenant(two_tenants["a"]))
    for table in ("adm_provider_employees", "crm_leads", "crm_opportunities",
                  "adm_webhook_deliveries"):
        assert _count(db, table) == 0
        with pytest.raises(DBAPIError, match="row-level security"), db.begin_nested():
            db.execute(text(f"INSERT INTO {table} (id) VALUES (:id)"), {"id": new_id()})
