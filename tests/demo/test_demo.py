"""The demo data: deterministic, complete, consistent with the schema's rules, and isolated per
tenant once written under row-level security."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, Numeric, text
from sqlalchemy.orm import Session, sessionmaker
from stdnum.fr import tva
from stdnum.gb import vat as gb_vat

from fleetcore.admin.permissions import SYSTEM_ROLES, unknown_permissions
from fleetcore.catalogue import import_all_models
from fleetcore.core.db import CONTEXT_KEY, DbContext, bind_context, context_session
from fleetcore.core.orm import Base
from fleetcore.demo import (
    DemoDataset,
    DemoReport,
    demo_present,
    generate_demo,
    load_demo,
    write_demo,
)
from fleetcore.demo.dataset import (
    MAIN_SLUG,
    SECOND_SLUG,
    TENANT_TABLE_ORDER,
    CatalogueRef,
    TenantData,
    is_valid_vin,
    vin_check_digit,
)
from fleetcore.demo.imports import DEMO_REPORT_WEEKS
from fleetcore.demo.loader import MissingReferenceData
from fleetcore.documents.storage import LocalStorage
from fleetcore.reference.service import load_reference_data

SEED = 7
TODAY = date(2026, 11, 25)
FAR = datetime.max.replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def dataset() -> DemoDataset:
    return generate_demo(SEED, TODAY)


# --- generation (no database) ----------------------------------------------------------------


def test_same_seed_and_day_give_the_same_dataset(dataset: DemoDataset) -> None:
    assert generate_demo(SEED, TODAY) == dataset


def test_another_seed_gives_another_dataset(dataset: DemoDataset) -> None:
    other = generate_demo(SEED + 1, TODAY)
    assert other != dataset
    assert set(other.main.table("flt_vehicles").column("vin")).isdisjoint(
        dataset.main.table("flt_vehicles").column("vin")
    )
    assert other.main.tenant_id != dataset.main.tenant_id


def test_ids_are_uuid7_and_unique(dataset: DemoDataset) -> None:
    ids = [t.tenant_id for t in dataset.tenants]
    for tenant in dataset.tenants:
        for rows in tenant.tables:
            ids.extend(rows.column("id"))
    assert len(ids) == len(set(ids))
    assert {i.version for i in ids} == {7}


def test_main_tenant_shape(dataset: DemoDataset) -> None:
    main = dataset.main
    tenant = main.tenant.dicts()[0]
    assert (tenant["name"], tenant["country"], tenant["default_currency"], tenant["timezone"]) == (
        "Lumière VTC", "FR", "EUR", "Europe/Paris"
    )
    assert tva.is_valid(tenant["vat_number"])
    assert len(main.table("flt_vehicles")) == 40
    assert len(main.table("rid_drivers")) == 60
    emails = set(main.table("adm_members").column("email"))
    assert "owner@lumiere-vtc.example" in emails
    assert main.weeks == 12
    platforms = Counter(ref.key[0] for ref in main.table("trp_trips").column("platform_id"))
    assert set(platforms) == {"uber", "bolt"}
    assert platforms["bolt"] > 0.25 * sum(platforms.values())


def test_roles_are_the_built_in_ones_and_members_can_sign_in(dataset: DemoDataset) -> None:
    for tenant in dataset.tenants:
        roles = {r["name"]: r for r in tenant.table("adm_roles").dicts()}
        assert {name: (r["description"], r["permissions"], r["is_system"])
                for name, r in roles.items()} == {
            spec.name: (spec.description, list(spec.permissions), True) for spec in SYSTEM_ROLES
        }
        assert not unknown_permissions([p for r in roles.values() for p in r["permissions"]])
        granted = {g["member_id"]: g["role_id"] for g in tenant.table("adm_member_roles").dicts()}
        owner = next(m for m in tenant.table("adm_members").dicts()
                     if m["email"] == f"owner@{tenant.slug}.example")
        assert granted[owner["id"]] == roles["owner"]["id"]
        assert owner["status"] == "active"
        assert owner["clerk_user_id"]
        assert tenant.tenant.dicts()[0]["clerk_organization_id"]


def test_second_tenant_shape(dataset: DemoDataset) -> None:
    second = dataset.second
    tenant = second.tenant.dicts()[0]
    assert (tenant["country"], tenant["default_currency"], tenant["timezone"]) == (
        "GB", "GBP", "Europe/London"
    )
    assert gb_vat.is_valid(tenant["vat_number"])
    assert len(second.table("flt_vehicles")) == 6
    assert len(second.table("rid_drivers")) == 8
    assert "owner@thames-private-hire.example" in second.table("adm_members").column("email")
    assert {ref.key for ref in second.table("trp_trips").column("platform_id")} == {("uber",)}
    assert second.weeks == 4


@pytest.mark.parametrize("tenant_slug", [MAIN_SLUG, SECOND_SLUG])
def test_trips_cover_the_weeks_and_stay_in_the_past(dataset: DemoDataset, tenant_slug: str) -> None:
    tenant = dataset.tenant(tenant_slug)
    trips = tenant.table("trp_trips").dicts()
    requested = [t["requested_at"] for t in trips]
    assert tenant.trips_from.astimezone(UTC).weekday() in (6, 0)  # Monday 00:00 local
    assert min(requested) >= tenant.trips_from
    assert min(requested) < tenant.trips_from + timedelta(days=2)
    assert max(t["ended_at"] or t["requested_at"] for t in trips) < tenant.trips_until
    weeks = {(r - tenant.trips_from).days // 7 for r in requested}
    assert set(range(tenant.weeks)) <= weeks
    statuses = Counter(t["status"] for t in trips)
    assert statuses["completed"] > 0.85 * len(trips)
    assert {"cancelled_by_rider", "cancelled_by_driver", "no_show"} <= set(statuses)
    assert len({(t["platform_id"], t["external_trip_id"]) for t in trips}) == len(trips)


def test_trip_money_is_consistent(dataset: DemoDataset) -> None:
    trips = dataset.main.table("trp_trips").dicts()
    completed = [t for t in trips if t["status"] == "completed"]
    for t in trips:
        assert t["net_earnings"] == (
            t["fare_gross"] - t["platform_commission"] + t["tip"] + t["tolls"]
        )
    gross = sum(t["fare_gross"] for t in completed)
    commission = sum(t["platform_commission"] for t in completed)
    assert Decimal("0.20") < commission / gross < Decimal("0.26")
    cash = [t for t in trips if t["payment_method"] == "cash"]
    assert cash
    assert {t["platform_id"].key for t in cash} == {("bolt",)}
    assert all(t["cash_collected"] == t["fare_gross"] + t["tolls"] for t in cash)
    assert any(t["tip"] > 0 for t in completed)
    assert any(t["tolls"] > 0 for t in completed)
    average = gross / len(completed)
    assert Decimal("12") < average < Decimal("35")


@pytest.mark.parametrize(
    "today",
    [TODAY, date(2027, 3, 29), date(2026, 11, 1), date.today()],
    ids=["fixed", "monday-after-dst-start", "sunday-after-dst-end", "today"],
)
def test_custody_is_consistent(today: date) -> None:
    """No overlapping assignments; every trip, toll, fine and expense lies inside an
    assignment of its driver and vehicle (the rules the database enforces or relies on)."""
    data = generate_demo(SEED, today)
    for tenant in data.tenants:
        assignments = tenant.table("flt_vehicle_assignments").dicts()
        for key in ("vehicle_id", "driver_id"):
            by_key: dict[uuid.UUID, list[tuple[datetime, datetime]]] = defaultdict(list)
            for a in assignments:
                by_key[a[key]].append((a["starts_at"], a["ends_at"] or FAR))
            for periods in by_key.values():
                periods.sort()
                for (_, end), (start, _) in pairwise(periods):
                    assert end <= start
        held: dict[tuple[uuid.UUID, uuid.UUID], list[tuple[datetime, datetime]]] = defaultdict(
            list
        )
        for a in assignments:
            held[(a["vehicle_id"], a["driver_id"])].append((a["starts_at"], a["ends_at"] or FAR))

        def inside(vehicle: uuid.UUID, driver: uuid.UUID, start: datetime, end: datetime,
                   held: dict[tuple[uuid.UUID, uuid.UUID], list[tuple[datetime, datetime]]]
                   = held) -> bool:
            return any(s <= start and end <= e for s, e in held[(vehicle, driver)])

        for t in tenant.table("trp_trips").dicts():
            start = t["started_at"] or t["requested_at"]
            assert t["requested_at"] <= start
            assert inside(t["vehicle_id"], t["driver_id"], t["requested_at"],
                          t["ended_at"] or start)
        for table, at in (("fin_toll_transactions", "occurred_at"),
                          ("fin_traffic_fines", "offence_at"),
                          ("flt_vehicle_expenses", "incurred_at")):
            for row in tenant.table(table).dicts():
                if row["driver_id"] is not None:
                    assert inside(row["vehicle_id"], row["driver_id"], row[at], row[at]), table


def test_vins_plates_phones_and_emails(dataset: DemoDataset) -> None:
    assert vin_check_digit("1M8GDM9AXKP042788") == "X"  # the textbook example
    assert is_valid_vin("11111111111111111")
    assert not is_valid_vin("1M8GDM9A1KP042788")
    for tenant, plate in ((dataset.main, r"[A-HJ-NP-TV-Z]{2}-\d{3}-[A-HJ-NP-TV-Z]{2}"),
                          (dataset.second, r"L[A-Y]\d{2} [A-HJ-PR-Z]{3}")):
        vehicles = tenant.table("flt_vehicles").dicts()
        assert all(is_valid_vin(v["vin"]) for v in vehicles)
        assert len({v["vin"] for v in vehicles}) == len(vehicles)
        assert all(re.fullmatch(plate, v["licence_plate"]) for v in vehicles)
        drivers = tenant.table("rid_drivers").dicts()
        fiction = r"\+3363998\d{4}" if tenant.country == "FR" else r"\+447700900\d{3}"
        assert all(re.fullmatch(fiction, d["phone"]) for d in drivers)
        assert all(d["email"].rsplit("@", 1)[1].startswith("example.") for d in drivers)


def _values(tenant: TenantData) -> Iterator[tuple[str, str, Any]]:
    for rows in (tenant.tenant, *tenant.tables):
        for row in rows.rows:
            for column, value in zip(rows.columns, row, strict=True):
                yield rows.table, column, value


def test_no_floats_and_money_in_minor_units(dataset: DemoDataset) -> None:
    import_all_models()
    money = {
        (t.name, c.name)
        for t in Base.metadata.tables.values()
        for c in t.columns
        if isinstance(c.type, Numeric) and (c.type.precision, c.type.scale) == (18, 4)
        and c.name != "unit_price"  # unit prices keep their precision (money.md)
    }
    for tenant in dataset.tenants:
        checked = 0
        for table, column, value in _values(tenant):
            assert not isinstance(value, float), (table, column)
            if (table, column) in money and value is not None:
                assert isinstance(value, Decimal)
                exponent = value.as_tuple().exponent
                assert isinstance(exponent, int)
                assert exponent >= -2, (table, column, value)
                checked += 1
        assert checked > 10_000 if tenant.slug == MAIN_SLUG else checked > 1_000


def test_documents_expire_soon_and_some_have_expired(dataset: DemoDataset) -> None:
    documents = dataset.main.table("doc_documents").dicts()
    soon = [d for d in documents
            if d["expires_on"] and TODAY <= d["expires_on"] <= TODAY + timedelta(days=30)]
    expired = [d for d in documents if d["expires_on"] and d["expires_on"] < TODAY]
    assert len(soon) >= 3
    assert 1 <= len(expired) <= 3
    assert any(not d["verified"] for d in documents)
    kinds = Counter(d["document_type"] for d in documents)
    assert kinds["registration"] == kinds["insurance_certificate"] == 40
    assert kinds["inspection_report"] == 40
    assert kinds["driver_licence"] == kinds["professional_card"] == 60


# --- written to the database -----------------------------------------------------------------


@pytest.mark.parametrize("context", ["tenant", "system", "none"])
def test_write_demo_gives_the_caller_its_context_back(db: Session, context: str) -> None:
    ctx = {"tenant": DbContext.for_tenant(uuid.uuid4()), "system": DbContext.system(),
           "none": None}[context]
    if ctx is not None:
        bind_context(db, ctx)
    report = write_demo(db, DemoDataset(SEED, TODAY, ()))
    assert report.tenants == {}
    assert db.info.get(CONTEXT_KEY) == ctx
    tenant, mode = db.execute(text(
        "SELECT current_setting('app.tenant_id', true), current_setting('app.context', true)"
    )).one()
    expected = ctx or DbContext()
    assert tenant == (str(expected.tenant_id) if expected.tenant_id else "")
    assert mode == ("provider" if expected.provider else "tenant")


def test_write_demo_refuses_without_reference_data(system_db: Session) -> None:
    """A dataset naming a platform the catalogue lacks is refused before anything is written.
    (One reference no catalogue holds: the suite's database may have the rest loaded by
    earlier tests, so "no reference data at all" cannot be set up here.)"""
    dataset = generate_demo(SEED, TODAY)
    main = dataset.tenants[0]
    trips = main.table("trp_trips")
    platform = trips.columns.index("platform_id")
    unknown = CatalogueRef("dir_platforms", ("no-such-platform",))
    rows = ((*trips.rows[0][:platform], unknown, *trips.rows[0][platform + 1:]),
            *trips.rows[1:])
    tables = tuple(dataclasses.replace(t, rows=rows) if t is trips else t for t in main.tables)
    broken = dataclasses.replace(dataset, tenants=(dataclasses.replace(main, tables=tables),
                                                   *dataset.tenants[1:]))
    with pytest.raises(MissingReferenceData, match="load_reference_data") as refused:
        write_demo(system_db, broken)
    assert "no-such-platform" in str(refused.value)
    assert system_db.info[CONTEXT_KEY] == DbContext.system()
    assert not demo_present(system_db)



@dataclass
class Loaded:
    session: Session
    report: DemoReport
    present_before: bool
    present_after: bool
    ids: dict[str, uuid.UUID]
    storage: LocalStorage


@pytest.fixture(scope="module")
def loaded(app_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """The demo loaded once for this module through ``load_demo`` (as the CLI does, with the
    last weeks' reports imported), as the app role, inside an outer transaction that is rolled
    back: ``load_demo``'s commit only releases a savepoint."""
    with app_engine.connect() as conn:
        outer = conn.begin()
        sessions = sessionmaker(bind=conn, join_transaction_mode="create_savepoint",
                                expire_on_commit=False)
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            with context_session(sessions, DbContext.system()) as setup:
                load_reference_data(setup)
                before = demo_present(setup)
            storage = LocalStorage(tmp_path_factory.mktemp("demo-files"))
            report = load_demo(sessions, seed=SEED, today=TODAY, storage=storage)
            bind_context(session, DbContext.system())
            after = demo_present(session)
            rows = session.execute(text("SELECT slug, id FROM adm_tenants")).all()
            ids: dict[str, uuid.UUID] = {row.slug: row.id for row in rows}
            yield Loaded(session, report, before, after, ids, storage)
        finally:
            session.close()
            outer.rollback()


@pytest.fixture
def system(loaded: Loaded) -> Session:
    bind_context(loaded.session, DbContext.system())
    return loaded.session


def test_demo_present_only_after_loading(loaded: Loaded) -> None:
    assert loaded.present_before is False
    assert loaded.present_after is True


def test_every_generated_row_is_written(
    loaded: Loaded, system: Session, dataset: DemoDataset
) -> None:
    for tenant in dataset.tenants:
        assert loaded.report.tenants[tenant.slug] == tenant.counts()
        for table in TENANT_TABLE_ORDER:
            count = system.execute(
                text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"),
                {"t": tenant.tenant_id},
            ).scalar_one()
            assert count == len(tenant.table(table)), (tenant.slug, table)
    assert loaded.report.elapsed_seconds > 0
    assert loaded.report.total_rows > 35_000


def test_every_demo_document_has_its_file_in_storage(
    system: Session, loaded: Loaded, dataset: DemoDataset
) -> None:
    documents = system.execute(text(
        "SELECT storage_key, size_bytes, sha256, mime_type FROM doc_documents"
        " WHERE tenant_id = ANY(:tenants)"), {"tenants": [t.tenant_id for t in dataset.tenants]},
    ).all()
    assert len(documents) > 200
    for key, size, sha256, mime_type in documents:
        data = loaded.storage.read(key)
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha256)
        assert data.startswith(b"%PDF" if mime_type == "application/pdf" else b"\xff\xd8")


def test_promised_counts(system: Session, loaded: Loaded) -> None:
    def count(sql: str, slug: str) -> int:
        return int(system.execute(text(sql), {"t": loaded.ids[slug]}).scalar_one())

    assert count("SELECT count(*) FROM flt_vehicles WHERE tenant_id = :t", MAIN_SLUG) == 40
    assert count("SELECT count(*) FROM rid_drivers WHERE tenant_id = :t", MAIN_SLUG) == 60
    assert count("SELECT count(*) FROM flt_vehicles WHERE tenant_id = :t", SECOND_SLUG) == 6
    assert count("SELECT count(*) FROM rid_drivers WHERE tenant_id = :t", SECOND_SLUG) == 8
    for slug, platforms, weeks in ((MAIN_SLUG, 2, 12), (SECOND_SLUG, 1, 4)):
        assert count("SELECT count(DISTINCT platform_id) FROM trp_trips WHERE tenant_id = :t",
                     slug) == platforms
        # Trips in each of the `weeks` complete weeks (Monday to Monday, tenant time) before
        # the current one.
        weeks_with_trips = system.execute(
            text(
                "SELECT count(DISTINCT date_trunc('week', t.requested_at AT TIME ZONE a.timezone))"
                " FROM trp_trips t JOIN adm_tenants a ON a.id = t.tenant_id"
                " WHERE t.tenant_id = :t"
                " AND t.requested_at AT TIME ZONE a.timezone < date_trunc('week', :today)"
            ),
            {"t": loaded.ids[slug], "today": datetime(TODAY.year, TODAY.month, TODAY.day)},
        ).scalar_one()
        assert weeks_with_trips == weeks


@pytest.mark.parametrize(("mine", "theirs"), [(MAIN_SLUG, SECOND_SLUG), (SECOND_SLUG, MAIN_SLUG)])
def test_each_tenant_sees_only_its_own_rows(
    loaded: Loaded, dataset: DemoDataset, mine: str, theirs: str
) -> None:
    session = loaded.session
    bind_context(session, DbContext.for_tenant(loaded.ids[mine]))
    for table in ("flt_vehicles", "rid_drivers", "trp_trips", "doc_documents",
                  "flt_vehicle_assignments"):
        rows = session.execute(
            text(f"SELECT tenant_id, count(*) FROM {table} GROUP BY tenant_id")
        ).all()
        expected = [(loaded.ids[mine], len(dataset.tenant(mine).table(table)))]
        assert [tuple(r) for r in rows] == expected, table
    tenants = session.execute(text("SELECT slug FROM adm_tenants")).scalars().all()
    assert tenants == [mine]
    foreign_trip = dataset.tenant(theirs).table("trp_trips").rows[0][1]
    assert session.execute(
        text("SELECT count(*) FROM trp_trips WHERE id = :id"), {"id": foreign_trip}
    ).scalar_one() == 0


def test_every_trip_was_driven_in_the_car_its_driver_had(system: Session,
                                                        dataset: DemoDataset) -> None:
    # The demo's tenants only: other tests may have committed trips of their own.
    demo = {"demo": [t.tenant_id for t in dataset.tenants]}
    unassigned = system.execute(text(
        "SELECT count(*) FROM trp_trips t WHERE t.tenant_id = ANY(:demo) AND NOT EXISTS ("
        " SELECT 1 FROM flt_vehicle_assignments a"
        " WHERE a.tenant_id = t.tenant_id AND a.vehicle_id = t.vehicle_id"
        "   AND a.driver_id = t.driver_id AND a.status <> 'cancelled' AND a.deleted_at IS NULL"
        "   AND tstzrange(a.starts_at, a.ends_at, '[)') @> coalesce(t.started_at, t.requested_at)"
        "   AND tstzrange(a.starts_at, a.ends_at, '[]') @> coalesce(t.ended_at, t.requested_at))"
    ), demo).scalar_one()
    assert unassigned == 0
    total = system.execute(text("SELECT count(*) FROM trp_trips WHERE tenant_id = ANY(:demo)"),
                           demo).scalar_one()
    assert total > 30_000


def test_tolls_and_fines_land_on_the_driver_who_had_the_car(system: Session,
                                                           dataset: DemoDataset) -> None:
    demo = {"demo": [t.tenant_id for t in dataset.tenants]}
    for table, at in (("fin_toll_transactions", "occurred_at"), ("fin_traffic_fines",
                                                                 "offence_at")):
        wrong = system.execute(text(
            f"SELECT count(*) FROM {table} x WHERE x.tenant_id = ANY(:demo)"
            " AND x.vehicle_id IS NOT NULL AND NOT EXISTS ("
            " SELECT 1 FROM flt_vehicle_assignments a WHERE a.tenant_id = x.tenant_id"
            "  AND a.vehicle_id = x.vehicle_id AND a.driver_id = x.driver_id"
            f"  AND tstzrange(a.starts_at, a.ends_at, '[)') @> x.{at})"
        ), demo).scalar_one()
        assert wrong == 0, table


def test_documents_expiring_within_30_days_and_expired(system: Session, loaded: Loaded) -> None:
    soon, expired = system.execute(
        text(
            "SELECT count(*) FILTER (WHERE expires_on BETWEEN :today AND :today + 30),"
            " count(*) FILTER (WHERE expires_on < :today)"
            " FROM doc_documents WHERE tenant_id = :t AND deleted_at IS NULL"
        ),
        {"today": TODAY, "t": loaded.ids[MAIN_SLUG]},
    ).one()
    assert soon >= 3
    assert expired >= 1
    expired_driver_docs = system.execute(text(
        "SELECT count(*) FROM rid_driver_documents WHERE verification_status = 'expired'"
    )).scalar_one()
    assert expired_driver_docs >= 1


def test_stored_vins_pass_the_check_digit(system: Session) -> None:
    # Only the demo tenants' vehicles: other tests commit vehicles of their own tenants.
    vins = system.execute(
        text(
            "SELECT v.vin FROM flt_vehicles v JOIN adm_tenants t ON t.id = v.tenant_id"
            " WHERE t.slug IN ('lumiere-vtc', 'thames-private-hire')"
        )
    ).scalars().all()
    assert len(vins) == 46
    assert all(vin is not None and is_valid_vin(vin) for vin in vins)


def test_stored_money_has_at_most_two_decimals(system: Session) -> None:
    import_all_models()
    checked = 0
    for name in TENANT_TABLE_ORDER:
        table = Base.metadata.tables[name]
        columns = [c.name for c in table.columns
                   if isinstance(c.type, Numeric) and (c.type.precision, c.type.scale) == (18, 4)
                   and c.name != "unit_price"]
        if not columns:
            continue
        condition = " OR ".join(f"{c} <> round({c}, 2)" for c in columns)
        bad = system.execute(text(f"SELECT count(*) FROM {name} WHERE {condition}")).scalar_one()
        assert bad == 0, name
        checked += 1
    assert checked >= 8


def test_overdue_and_due_soon_maintenance(system: Session, loaded: Loaded) -> None:
    overdue, soon = system.execute(
        text(
            "SELECT count(*) FILTER (WHERE next_due_on < :today OR next_due_km < v.km),"
            " count(*) FILTER (WHERE next_due_on BETWEEN :today AND :today + 30"
            "   OR next_due_km - v.km BETWEEN 0 AND coalesce(s.reminder_lead_km, 0))"
            " FROM sch_maintenance_schedules s JOIN LATERAL ("
            "   SELECT max(odometer_km) AS km FROM flt_odometer_readings r"
            "   WHERE r.tenant_id = s.tenant_id AND r.vehicle_id = s.vehicle_id"
            "     AND NOT r.is_anomaly) v ON true"
            " WHERE s.tenant_id = :t"
        ),
        {"today": TODAY, "t": loaded.ids[MAIN_SLUG]},
    ).one()
    assert overdue >= 1
    assert soon >= 2


def test_no_document_or_event_lies_in_the_future(dataset: DemoDataset) -> None:
    for tenant in dataset.tenants:
        for row in tenant.table("doc_documents").dicts():
            assert row["issued_on"] <= dataset.today, row["file_name"]
        for row in tenant.table("rid_drivers").dicts():
            assert row["licence_issued_on"] <= dataset.today
            assert row["hired_on"] <= dataset.today
        for table, column in (("flt_vehicle_events", "occurred_at"),
                              ("flt_odometer_readings", "read_at"),
                              ("fin_traffic_fines", "offence_at"),
                              ("fin_toll_transactions", "occurred_at"),
                              ("flt_vehicle_expenses", "incurred_at")):
            assert max(tenant.table(table).column(column)) < tenant.trips_until + timedelta(
                hours=12), table


def test_the_last_weeks_platform_reports_are_imported_and_committed(
    system: Session, loaded: Loaded, dataset: DemoDataset
) -> None:
    """Each tenant's last complete weeks come with their platforms' reports, committed through
    the import pipeline: every row valid and matched, no trip created, and the drivers' weekly
    revenues equal to what the demo's own trips add up to (computed here from the dataset)."""
    assert loaded.report.phases["imports"] > 0
    for tenant in dataset.tenants:
        imports = system.execute(text(
            "SELECT i.file_name, i.status, i.rows_total, i.rows_valid, i.rows_invalid,"
            " i.summary FROM rev_revenue_imports i WHERE i.tenant_id = :t ORDER BY 1"),
            {"t": tenant.tenant_id}).all()
        platforms = {ref.key[0] for ref in tenant.table("trp_trips").column("platform_id")}
        assert len(imports) == min(DEMO_REPORT_WEEKS, tenant.weeks) * len(platforms), tenant.slug
        for name, status, total, valid, invalid, summary in imports:
            assert (status, invalid, valid) == ("committed", 0, total), name
            assert total > 0
            assert summary["unknown_accounts"] == 0, name
            assert summary["trips"]["created"] == 0, name

        zone = ZoneInfo(tenant.timezone)
        drivers: dict[tuple[Any, str, date], list[Decimal]] = defaultdict(
            lambda: [Decimal(0), Decimal(0)])
        imported_weeks = {row.period_start for row in system.execute(text(
            "SELECT DISTINCT period_start FROM rev_revenue_imports WHERE tenant_id = :t"),
            {"t": tenant.tenant_id})}
        for t in tenant.table("trp_trips").dicts():
            local = t["ended_at"].astimezone(zone) if t["ended_at"] else None
            if t["status"] != "completed" or local is None:
                continue
            monday = datetime.combine(local.date() - timedelta(days=local.weekday()),
                                      datetime.min.time(), zone)
            if monday not in imported_weeks:
                continue
            sums = drivers[(t["driver_id"], t["platform_id"].key[0], monday.date())]
            sums[0] += t["fare_gross"]
            sums[1] += 1
        revenues = system.execute(text(
            "SELECT d.driver_id, p.code, d.period_start, d.gross, d.trip_count"
            " FROM rev_driver_revenues d JOIN dir_platforms p ON p.id = d.platform_id"
            " WHERE d.tenant_id = :t"), {"t": tenant.tenant_id}).all()
        found = {(r.driver_id, r.code, r.period_start.astimezone(zone).date()):
                 [r.gross, r.trip_count] for r in revenues}
        assert found == dict(drivers), tenant.slug


def test_importing_the_uber_reports_gives_the_trips_ubers_earnings(
    system: Session, loaded: Loaded, dataset: DemoDataset
) -> None:
    """Uber's "Your earnings" leaves toll refunds out: the report corrects the demo trips that
    had a toll, and only those."""
    rows = system.execute(text(
        "SELECT t.external_trip_id, t.net_earnings, t.fare_gross - t.platform_commission + t.tip"
        " AS ubers, t.tolls, t.import_id IS NOT NULL AS imported"
        " FROM trp_trips t JOIN dir_platforms p ON p.id = t.platform_id"
        " WHERE p.code = 'uber' AND t.tenant_id = ANY(:demo)"),
        {"demo": [t.tenant_id for t in dataset.tenants]}).all()
    corrected = [r for r in rows if r.imported]
    assert corrected
    assert all(r.tolls > 0 and r.net_earnings == r.ubers for r in corrected)
    generated = {t["external_trip_id"]: t["net_earnings"] for tenant in dataset.tenants
                 for t in tenant.table("trp_trips").dicts()}
    assert all(r.net_earnings == generated[r.external_trip_id] for r in rows if not r.imported)


def test_fleetcore_side_plans_and_a_sales_pipeline(system: Session, loaded: Loaded) -> None:
    plans = dict(system.execute(text(
        "SELECT code, currency FROM bil_billing_plans WHERE code IN ('starter', 'fleet',"
        " 'fleet_uk') AND status = 'active'")).all())
    assert plans == {"starter": "EUR", "fleet": "EUR", "fleet_uk": "GBP"}
    leads = system.execute(text(
        "SELECT status, count(*) FROM crm_leads WHERE email LIKE '%.example'"
        " GROUP BY status")).all()
    assert dict(leads) == {"new": 1, "contacted": 1, "qualified": 4, "disqualified": 1}
    stages = system.execute(text(
        "SELECT o.stage, o.probability_pct FROM crm_opportunities o"
        " JOIN crm_leads l ON l.id = o.lead_id WHERE l.email LIKE '%.example'"
        " ORDER BY o.stage")).all()
    assert [(s, int(p)) for s, p in stages] == [
        ("negotiation", 70), ("negotiation", 70), ("proposal", 40), ("prospecting", 10)]
    contracts = system.execute(text(
        "SELECT c.status, c.contract_number, c.currency, c.tenant_id FROM crm_contracts c"
        " JOIN crm_opportunities o ON o.id = c.opportunity_id"
        " JOIN crm_leads l ON l.id = o.lead_id WHERE l.email LIKE '%.example'"
        " ORDER BY c.status")).all()
    assert [(c.status, c.currency, c.tenant_id) for c in contracts] == [
        ("draft", "EUR", None), ("sent", "EUR", None)]
    assert all(c.contract_number.startswith(f"CT-{TODAY.year}-") for c in contracts)
    # Provider rows: a fleet's member sees none of them.
    bind_context(system, DbContext.for_tenant(loaded.ids[MAIN_SLUG]))
    assert system.execute(text("SELECT count(*) FROM crm_leads")).scalar_one() == 0
