"""Set-checked references (decision 0008, migration 0016): the references of the bulk tables
that are checked once per statement by triggers keep every promise of the foreign keys they
replace — same SQLSTATE, same constraint name, both sides, under row-level security."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from fleetcore.core.db import DbContext, bind_context
from fleetcore.core.orm import new_id


def _insert(session: Session, table: str, **values: Any) -> uuid.UUID:
    values.setdefault("id", new_id())
    columns = ", ".join(values)
    params = ", ".join(f":{c}" for c in values)
    session.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({params})"), values)
    return values["id"]  # type: ignore[no-any-return]


@pytest.fixture
def fleet(db: Session) -> dict[str, uuid.UUID]:
    """Tenants A and B; in A a driver with an Uber account, and a trip of that driver."""
    bind_context(db, DbContext.system())
    ids: dict[str, uuid.UUID] = {}
    for name in ("a", "b"):
        ids[name] = _insert(db, "adm_tenants", name=f"Tenant {name}",
                            slug=f"t-{name}-{uuid.uuid4().hex[:8]}", country="FR",
                            default_currency="EUR", timezone="Europe/Paris")
    ids["uber"] = _insert(db, "dir_platforms", code=f"p_{uuid.uuid4().hex[:10]}", name="P")
    for name in ("b", "a"):
        bind_context(db, DbContext.for_tenant(ids[name]))
        ids[f"{name}_driver"] = _insert(db, "rid_drivers", tenant_id=ids[name],
                                        first_name="Ana", last_name=name.upper())
    ids["a_account"] = _insert(db, "trp_platform_accounts", tenant_id=ids["a"],
                               platform_id=ids["uber"], driver_id=ids["a_driver"],
                               external_account_id=f"acc-{uuid.uuid4().hex}",
                               external_account_kind="other")
    ids["trip"] = _insert(db, "trp_trips", tenant_id=ids["a"], platform_id=ids["uber"],
                          external_trip_id="t-1", driver_id=ids["a_driver"],
                          platform_account_id=ids["a_account"])
    return ids


def _refused(db: Session, constraint: str, statement: str, **params: Any) -> str:
    with pytest.raises(IntegrityError) as caught, db.begin_nested():
        db.execute(text(statement), params)
    orig = caught.value.orig
    assert getattr(orig, "sqlstate", None) == "23503"
    assert orig.diag.constraint_name == constraint  # type: ignore[union-attr]
    return str(orig)


def test_a_trip_naming_a_missing_or_foreign_driver_is_refused(
        db: Session, fleet: dict[str, uuid.UUID]) -> None:
    insert = ("INSERT INTO trp_trips (tenant_id, id, platform_id, external_trip_id, driver_id)"
              " VALUES (:t, :id, :p, :x, :d)")
    for driver in (uuid.uuid4(), fleet["b_driver"]):  # unknown; another tenant's
        message = _refused(db, "fk_trp_trips_tenant_id_driver_id", insert, t=fleet["a"],
                           id=new_id(), p=fleet["uber"], x=f"t-{driver}", d=driver)
        assert str(driver) in message
    # Several rows in one statement, one of them wrong: the whole statement is refused.
    _refused(db, "fk_trp_trips_tenant_id_platform_account_id",
             "INSERT INTO trp_trips (tenant_id, id, platform_id, external_trip_id,"
             " platform_account_id) SELECT :t, gen_random_uuid(), :p, 'm-' || n,"
             " CASE WHEN n = 3 THEN gen_random_uuid() ELSE CAST(:acc AS uuid) END"
             " FROM generate_series(1, 5) n",
             t=fleet["a"], p=fleet["uber"], acc=fleet["a_account"])
    _refused(db, "fk_trp_trips_tenant_id_import_id", insert.replace("driver_id", "import_id"),
             t=fleet["a"], id=new_id(), p=fleet["uber"], x="t-imp", d=uuid.uuid4())
    # A NULL reference is not checked (MATCH SIMPLE, like the key it replaces).
    _insert(db, "trp_trips", tenant_id=fleet["a"], platform_id=fleet["uber"],
            external_trip_id="t-null", driver_id=None)


def test_an_update_is_checked_only_for_the_keys_it_changes(
        db: Session, fleet: dict[str, uuid.UUID]) -> None:
    _refused(db, "fk_trp_trips_tenant_id_driver_id",
             "UPDATE trp_trips SET driver_id = :d WHERE id = :id", d=uuid.uuid4(),
             id=fleet["trip"])
    db.execute(text("UPDATE trp_trips SET fare_gross = 1, currency = 'EUR' WHERE id = :id"),
               {"id": fleet["trip"]})


def test_a_referenced_driver_or_account_cannot_be_deleted(
        db: Session, fleet: dict[str, uuid.UUID]) -> None:
    message = _refused(db, "fk_trp_trips_tenant_id_platform_account_id",
                       "DELETE FROM trp_platform_accounts WHERE id = :id", id=fleet["a_account"])
    assert "is still referenced from table \"trp_trips\"" in message
    db.execute(text("UPDATE trp_trips SET platform_account_id = NULL WHERE id = :id"),
               {"id": fleet["trip"]})
    db.execute(text("DELETE FROM trp_platform_accounts WHERE id = :id"),
               {"id": fleet["a_account"]})
    _refused(db, "fk_trp_trips_tenant_id_driver_id",
             "DELETE FROM rid_drivers WHERE id = :id", id=fleet["a_driver"])
    db.execute(text("DELETE FROM trp_trips WHERE id = :id"), {"id": fleet["trip"]})
    db.execute(text("DELETE FROM rid_drivers WHERE id = :id"), {"id": fleet["a_driver"]})


def test_a_report_row_naming_a_missing_driver_is_refused(
        db: Session, fleet: dict[str, uuid.UUID]) -> None:
    imp = _insert(db, "rev_revenue_imports", tenant_id=fleet["a"], platform_id=fleet["uber"],
                  report_type="payments_order", file_name="r.csv", sha256="0" * 64,
                  size_bytes=1, storage_key="k", status="validated")
    row = ("INSERT INTO rev_import_rows (tenant_id, id, import_id, row_number, platform_id,"
           " driver_id, currency) VALUES (:t, :id, :i, :n, :p, :d, 'EUR')")
    _refused(db, "fk_rev_import_rows_tenant_id_driver_id", row, t=fleet["a"], id=new_id(),
             i=imp, n=2, p=fleet["uber"], d=fleet["b_driver"])
    db.execute(text(row), {"t": fleet["a"], "id": new_id(), "i": imp, "n": 2,
                           "p": fleet["uber"], "d": fleet["a_driver"]})
    _refused(db, "fk_rev_import_rows_tenant_id_driver_id",
             "UPDATE rev_import_rows SET driver_id = :d WHERE import_id = :i",
             d=uuid.uuid4(), i=imp)
    db.execute(text("DELETE FROM trp_trips WHERE id = :id"), {"id": fleet["trip"]})
    db.execute(text("DELETE FROM trp_platform_accounts WHERE id = :id"),
               {"id": fleet["a_account"]})
    _refused(db, "fk_rev_import_rows_tenant_id_driver_id",
             "DELETE FROM rid_drivers WHERE id = :id", id=fleet["a_driver"])


def test_removing_referenced_rows_outside_read_committed_is_refused(
        app_engine: Engine) -> None:
    """A snapshot kept for the whole transaction could miss a reference committed meanwhile:
    removing keys that may be referenced needs READ COMMITTED (the application's level)."""
    with app_engine.connect() as conn:
        outer = conn.begin()
        try:
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            session = Session(bind=conn, join_transaction_mode="create_savepoint")
            bind_context(session, DbContext.system())
            tenant = _insert(session, "adm_tenants", name="RR", slug=f"rr-{uuid.uuid4().hex[:8]}",
                             country="FR", default_currency="EUR", timezone="Europe/Paris")
            bind_context(session, DbContext.for_tenant(tenant))
            driver = _insert(session, "rid_drivers", tenant_id=tenant, first_name="A",
                             last_name="B")
            with pytest.raises(DBAPIError) as caught, session.begin_nested():
                session.execute(text("DELETE FROM rid_drivers WHERE id = :id"), {"id": driver})
            assert getattr(caught.value.orig, "sqlstate", None) == "40001"
        finally:
            outer.rollback()


def _committed_fleet(app_engine: Engine) -> dict[str, uuid.UUID]:
    """A tenant with a platform and a driver, committed (the races below need two sessions)."""
    with Session(bind=app_engine) as session, session.begin():
        bind_context(session, DbContext.system())
        ids = {"tenant": _insert(session, "adm_tenants", name="Race",
                                 slug=f"race-{uuid.uuid4().hex[:8]}", country="FR",
                                 default_currency="EUR", timezone="Europe/Paris"),
               "platform": _insert(session, "dir_platforms", code=f"p_{uuid.uuid4().hex[:10]}",
                                   name="P")}
        bind_context(session, DbContext.for_tenant(ids["tenant"]))
        ids["driver"] = _insert(session, "rid_drivers", tenant_id=ids["tenant"],
                                first_name="Ana", last_name="Race")
    return ids


def _blocked(app_engine: Engine, statement: str) -> bool:
    """Whether a session is waiting on a lock while running ``statement`` (its first words)."""
    with app_engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND starts_with(query, :q)"), {"q": statement.split(" (")[0].split(" WHERE")[0]})
            .scalar_one())


def _in_thread(app_engine: Engine, tenant: uuid.UUID, statement: str,
               params: dict[str, Any]) -> tuple[threading.Thread, list[BaseException]]:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with Session(bind=app_engine) as session, session.begin():
                bind_context(session, DbContext.for_tenant(tenant))
                session.execute(text("SET LOCAL lock_timeout = '20s'"))
                session.execute(text(statement), params)
        except BaseException as exc:  # handed to the test
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, failures


def _wait_until_blocked(app_engine: Engine, statement: str) -> None:
    deadline = time.monotonic() + 20
    while not _blocked(app_engine, statement):
        assert time.monotonic() < deadline, "the second session never waited for the first"
        time.sleep(0.05)


DELETE_DRIVER = "DELETE FROM rid_drivers WHERE id = :d"
INSERT_TRIP = ("INSERT INTO trp_trips (tenant_id, id, platform_id, external_trip_id, driver_id)"
               " VALUES (:t, :id, :p, :x, :d)")


def test_a_driver_deleted_while_a_trip_naming_it_commits_is_refused(app_engine: Engine) -> None:
    """The trip's check locks the driver: the delete waits, then sees the committed trip."""
    ids = _committed_fleet(app_engine)
    with Session(bind=app_engine) as writer:
        writer.begin()
        bind_context(writer, DbContext.for_tenant(ids["tenant"]))
        writer.execute(text(INSERT_TRIP), {"t": ids["tenant"], "id": new_id(),
                                           "p": ids["platform"], "x": "race-1",
                                           "d": ids["driver"]})
        thread, failures = _in_thread(app_engine, ids["tenant"], DELETE_DRIVER,
                                      {"d": ids["driver"]})
        _wait_until_blocked(app_engine, DELETE_DRIVER)
        writer.commit()
    thread.join(30)
    assert len(failures) == 1
    orig = getattr(failures[0], "orig", None)
    assert getattr(orig, "sqlstate", None) == "23503"
    assert orig.diag.constraint_name == "fk_trp_trips_tenant_id_driver_id"  # type: ignore[union-attr]


def test_a_trip_naming_a_driver_deleted_meanwhile_is_refused(app_engine: Engine) -> None:
    """The delete holds the driver's row: the trip's lock waits, then finds it gone."""
    ids = _committed_fleet(app_engine)
    with Session(bind=app_engine) as deleter:
        deleter.begin()
        bind_context(deleter, DbContext.for_tenant(ids["tenant"]))
        deleter.execute(text(DELETE_DRIVER), {"d": ids["driver"]})
        thread, failures = _in_thread(app_engine, ids["tenant"], INSERT_TRIP, {
            "t": ids["tenant"], "id": new_id(), "p": ids["platform"], "x": "race-2",
            "d": ids["driver"]})
        _wait_until_blocked(app_engine, INSERT_TRIP)
        deleter.commit()
    thread.join(30)
    assert len(failures) == 1
    orig = getattr(failures[0], "orig", None)
    assert getattr(orig, "sqlstate", None) == "23503"
    assert orig.diag.constraint_name == "fk_trp_trips_tenant_id_driver_id"  # type: ignore[union-attr]


# Decision 0012 (migration 0025): the last per-row keys of the import's bulk writes.


def test_a_trip_naming_a_missing_platform_vehicle_or_invoice_is_refused(
        db: Session, fleet: dict[str, uuid.UUID]) -> None:
    insert = ("INSERT INTO trp_trips (tenant_id, id, platform_id, external_trip_id, {column})"
              " VALUES (:t, :id, :p, :x, :v)")
    _refused(db, "fk_trp_trips_platform_id",
             "INSERT INTO trp_trips (tenant_id, id, platform_id, external_trip_id)"
             " VALUES (:t, :id, :p, 'no-platform')", t=fleet["a"], id=new_id(), p=uuid.uuid4())
    for column, constraint in (("vehicle_id", "fk_trp_trips_tenant_id_vehicle_id"),
                               ("client_invoice_id", "fk_trp_trips_tenant_id_client_invoice_id")):
        _refused(db, constraint, insert.format(column=column), t=fleet["a"], id=new_id(),
                 p=fleet["uber"], x=f"no-{column}", v=uuid.uuid4())
    # The platform is locked for key share by a tenant's session (the policy that allows it
    # writes nothing): the trip is written, and the platform cannot be removed under it.
    bind_context(db, DbContext.system())
    platform = _insert(db, "dir_platforms", code=f"p_{uuid.uuid4().hex[:10]}", name="Only trips")
    bind_context(db, DbContext.for_tenant(fleet["a"]))
    _insert(db, "trp_trips", tenant_id=fleet["a"], platform_id=platform,
            external_trip_id="with-platform")
    bind_context(db, DbContext.system())
    _refused(db, "fk_trp_trips_platform_id", "DELETE FROM dir_platforms WHERE id = :id",
             id=platform)


def test_a_tenant_cannot_change_a_platform_it_may_lock(
        db: Session, fleet: dict[str, uuid.UUID]) -> None:
    with pytest.raises(DBAPIError) as caught, db.begin_nested():
        db.execute(text("UPDATE dir_platforms SET name = 'Mine' WHERE id = :id"),
                   {"id": fleet["uber"]})
    assert getattr(caught.value.orig, "sqlstate", None) == "42501"  # row-level security


def test_report_rows_go_with_their_import_and_need_it(
        db: Session, fleet: dict[str, uuid.UUID]) -> None:
    imp = _insert(db, "rev_revenue_imports", tenant_id=fleet["a"], platform_id=fleet["uber"],
                  report_type="payments_order", file_name="r.csv", sha256="1" * 64,
                  size_bytes=1, storage_key="k", status="validated")
    row = ("INSERT INTO rev_import_rows (tenant_id, id, import_id, row_number, platform_id,"
           " currency) VALUES (:t, :id, :i, :n, :p, 'EUR')")
    # The row's platform must be its import's: the key is (tenant, import, platform).
    bind_context(db, DbContext.system())
    other = _insert(db, "dir_platforms", code=f"p_{uuid.uuid4().hex[:10]}", name="Q")
    bind_context(db, DbContext.for_tenant(fleet["a"]))
    _refused(db, "fk_rev_import_rows_tenant_id_import_id_platform_id", row, t=fleet["a"],
             id=new_id(), i=imp, n=2, p=other)
    _refused(db, "fk_rev_import_rows_tenant_id_import_id_platform_id", row, t=fleet["a"],
             id=new_id(), i=uuid.uuid4(), n=2, p=fleet["uber"])
    for n in (2, 3):
        db.execute(text(row), {"t": fleet["a"], "id": new_id(), "i": imp, "n": n,
                               "p": fleet["uber"]})
    db.execute(text("UPDATE rev_import_rows SET driver_id = :d WHERE row_number = 3"
                    " AND import_id = :i"), {"d": fleet["a_driver"], "i": imp})
    # Deleted by a session whose driver scope hides both rows: they go all the same, as with
    # a foreign key's cascade, and the scope is the session's again afterwards.
    scope = str(uuid.uuid4())
    db.execute(text("SELECT set_config('app.driver_id', :d, true)"), {"d": scope})
    assert db.scalar(text("SELECT count(*) FROM rev_import_rows WHERE import_id = :i"),
                     {"i": imp}) == 0
    db.execute(text("DELETE FROM rev_revenue_imports WHERE id = :id"), {"id": imp})
    assert db.scalar(text("SELECT current_setting('app.driver_id')")) == scope
    db.execute(text("SELECT set_config('app.driver_id', '', true)"))
    left = db.scalar(text("SELECT count(*) FROM rev_import_rows WHERE import_id = :i"),
                     {"i": imp})
    assert left == 0
