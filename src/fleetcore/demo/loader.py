"""Write the demo dataset into the database, tenant by tenant, under row-level security.

:func:`write_demo` runs inside the caller's transaction and never commits: the tenant rows are
written in the provider (system) context, then each tenant's rows in that tenant's own context,
because RLS is forced and a row is only accepted in its tenant's context. Small tables go in with
one executemany ``INSERT`` each; trips go through ``COPY`` into a temporary staging table and one
``INSERT … SELECT``: PostgreSQL refuses ``COPY FROM`` into a table with row-level security
("COPY FROM not supported with row-level security"), and the staging table (no RLS, dropped at
commit) keeps COPY's speed while the final INSERT still passes every policy and constraint.

:func:`load_demo` is what ``fleetcore serve`` (first run) and ``fleetcore demo load`` call:
generate, write and commit in one transaction.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

import psycopg
from psycopg.types.json import Jsonb
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from fleetcore.catalogue import import_all_models
from fleetcore.core.db import CONTEXT_KEY, DbContext, bind_context, context_session
from fleetcore.core.orm import Base
from fleetcore.demo.dataset import (
    CatalogueRef,
    DemoDataset,
    TableRows,
    TenantData,
    generate_demo,
)
from fleetcore.demo.documents import store_demo_documents
from fleetcore.demo.presence import demo_present
from fleetcore.documents.storage import DocumentStorage

__all__ = [
    "DemoReport",
    "MissingReferenceData",
    "demo_present",
    "load_demo",
    "write_demo",
]

COPY_THRESHOLD = 1000
"""Tables with more rows than this are written with COPY (through a staging table); smaller
ones with one executemany INSERT. (Measured: for the row-audited tables both cost the same,
the audit trigger dominating; for trips, which are audited per statement, COPY is ~4x faster.)"""

PROGRESS_THRESHOLD = 5000
"""Tables with more rows than this get a progress bar."""

_STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("roles and members", ("adm_tenant_lifecycle_events", "adm_roles", "adm_members",
                           "adm_member_roles")),
    ("drivers and vehicles", ("rid_drivers", "flt_vehicles")),
    ("documents and cooperation terms", ("doc_documents", "rid_driver_documents",
                                         "rid_driver_cooperation_terms")),
    ("assignments, events and insurances", ("flt_vehicle_assignments", "flt_vehicle_events",
                                            "flt_vehicle_insurances")),
    ("maintenance and odometer readings", ("sch_maintenance_schedules",
                                           "flt_vehicle_maintenance", "flt_odometer_readings")),
    ("platform accounts", ("trp_platform_accounts",)),
    ("trips", ("trp_trips",)),
    ("tolls, fines and expenses", ("fin_toll_transactions", "fin_traffic_fines",
                                   "flt_vehicle_expenses")),
    ("requests and tasks", ("rid_driver_requests", "sch_tasks")),
)
"""How the write is reported: the tables of each step, in foreign-key order."""


class MissingReferenceData(RuntimeError):  # noqa: N818 - reads as the condition it reports
    """A car make, model, vehicle class or platform the demo names is not in the database."""


@dataclass(frozen=True, slots=True)
class DemoReport:
    """What a demo load wrote: rows per tenant and table, and how long each phase took."""

    seed: int
    today: date
    tenants: dict[str, dict[str, int]]
    """Tenant slug → table → rows written (``adm_tenants`` included)."""
    elapsed_seconds: float
    """Wall time of the whole call (for :func:`load_demo`: generate + write + commit)."""
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds per phase (``generate``, ``write``, ``commit``, and per table)."""

    @property
    def total_rows(self) -> int:
        """Rows written across tenants and tables."""
        return sum(sum(tables.values()) for tables in self.tenants.values())

    def summary(self) -> str:
        """One line per tenant, for the console."""
        lines = []
        for slug, tables in self.tenants.items():
            lines.append(
                f"{slug}: {tables.get('flt_vehicles', 0)} vehicles, "
                f"{tables.get('rid_drivers', 0)} drivers, {tables.get('trp_trips', 0)} trips, "
                f"{sum(tables.values())} rows"
            )
        lines.append(f"{self.total_rows} rows in {self.elapsed_seconds:.1f} s")
        return "\n".join(lines)


def load_demo(
    sessions: sessionmaker[Session],
    *,
    seed: int = 7,
    progress: Console | None = None,
    today: date | None = None,
    storage: DocumentStorage | None = None,
) -> DemoReport:
    """Generate the demo for ``seed`` and write it in one transaction, then commit.

    With ``storage`` (where documents and imported report files are kept), the demo
    documents' files are stored (:mod:`fleetcore.demo.documents`), and the last complete weeks'
    platform reports are imported and committed through the import pipeline
    (:mod:`fleetcore.demo.imports`), in the same transaction.
    """
    started = time.perf_counter()
    dataset = generate_demo(seed, today)
    if storage is not None and storage.backend != "local":
        dataset = with_storage_backend(dataset, storage.backend)
    generated = time.perf_counter()
    if progress is not None:
        progress.print(f"  generated the demo data (seed {seed}) in {generated - started:.1f} s")
    imports_seconds: dict[str, float] = {}
    with context_session(sessions, DbContext.system(request_id=f"demo-load:{seed}")) as session:
        report = write_demo(session, dataset, progress=progress)
        provider_started = time.perf_counter()
        # Imported here, like the reports below: only a first run needs the CRM services.
        from fleetcore.demo.provider import write_provider_demo

        sales = write_provider_demo(session, dataset.today)
        imports_seconds["provider"] = time.perf_counter() - provider_started
        if progress is not None:
            progress.print(f"  Fleetcore's side: {sales.plans} plans, {sales.leads} leads, "
                           f"{sales.opportunities} deals, {sales.contracts} contracts")
        if storage is not None:
            for tenant in dataset.tenants:
                documents = tenant.table("doc_documents")
                store_demo_documents(storage, (dict(zip(documents.columns, row, strict=True))
                                               for row in documents.rows))
            importing = time.perf_counter()
            # Imported here: the report writer (and polars) only matter on a first run, and
            # every warm start checks demo_present through this module.
            from fleetcore.demo.imports import import_demo_reports

            imported = import_demo_reports(session, storage, dataset)
            imports_seconds["imports"] = time.perf_counter() - importing
            if progress is not None:
                files = sum(len(v) for v in imported.values())
                rows = sum(r.rows for v in imported.values() for r in v)
                progress.print(f"  imported {files} platform reports ({rows} rows) of the last "
                               f"weeks in {imports_seconds['imports']:.1f} s")
        committing = time.perf_counter()
    finished = time.perf_counter()
    result = DemoReport(
        seed=seed,
        today=dataset.today,
        tenants=report.tenants,
        elapsed_seconds=finished - started,
        phases={
            "generate": generated - started,
            "write": report.elapsed_seconds,
            "commit": finished - committing,
            **imports_seconds,
            **report.phases,
        },
    )
    if progress is not None:
        progress.print(f"  [green]demo tenants ready[/]: {result.summary()}")
    return result


def with_storage_backend(dataset: DemoDataset, backend: str) -> DemoDataset:
    """``dataset`` with its documents recorded in ``backend`` (the generator says ``local``): a
    document names the backend its file is in, and a server only serves its own."""
    tenants = []
    for tenant in dataset.tenants:
        tables = []
        for rows in tenant.tables:
            if rows.table == "doc_documents" and rows.rows:
                at = rows.columns.index("storage_backend")
                rows = dataclasses.replace(rows, rows=tuple(
                    (*row[:at], backend, *row[at + 1:]) for row in rows.rows))
            tables.append(rows)
        tenants.append(dataclasses.replace(tenant, tables=tuple(tables)))
    return dataclasses.replace(dataset, tenants=tuple(tenants))


def write_demo(
    session: Session, dataset: DemoDataset, *, progress: Console | None = None
) -> DemoReport:
    """Write ``dataset`` in the caller's transaction (no commit); the context the caller had
    bound is restored afterwards."""
    started = time.perf_counter()
    import_all_models()
    phases: dict[str, float] = {}
    counts: dict[str, dict[str, int]] = {}
    previous = session.info.get(CONTEXT_KEY)
    request_id = f"demo-load:{dataset.seed}"
    try:
        bind_context(session, DbContext.system(request_id=request_id))
        refs = _resolve_catalogue(session, dataset)
        for tenant in dataset.tenants:
            _check_complete(tenant)
            bind_context(session, DbContext.system(request_id=request_id))
            _insert_rows(session, tenant.tenant, refs)
            bind_context(session, DbContext.for_tenant(tenant.tenant_id, request_id=request_id))
            counts[tenant.slug] = {"adm_tenants": len(tenant.tenant)}
            for step, tables in _STEPS:
                step_started = time.perf_counter()
                rows = [tenant.table(name) for name in tables]
                for table_rows in rows:
                    table_started = time.perf_counter()
                    if len(table_rows) > COPY_THRESHOLD:
                        label = f"  {tenant.name}: {table_rows.table}"
                        bar = progress if len(table_rows) > PROGRESS_THRESHOLD else None
                        with _progress_bar(bar, label, len(table_rows)) as advance:
                            _copy_rows(session, table_rows, refs, advance)
                    else:
                        _insert_rows(session, table_rows, refs)
                    counts[tenant.slug][table_rows.table] = len(table_rows)
                    key = f"{tenant.slug}:{table_rows.table}"
                    phases[key] = time.perf_counter() - table_started
                if progress is not None:
                    row_count = sum(len(r) for r in rows)
                    progress.print(
                        f"  {tenant.name}: {step}: {row_count:,} rows "
                        f"[dim]({time.perf_counter() - step_started:.2f} s)[/]"
                    )
    finally:
        _restore_context(session, previous)
    return DemoReport(
        seed=dataset.seed,
        today=dataset.today,
        tenants=counts,
        elapsed_seconds=time.perf_counter() - started,
        phases=phases,
    )


# --- internals -------------------------------------------------------------------------------


def _restore_context(session: Session, previous: DbContext | None) -> None:
    """Give the session back the context its caller had bound (none: no tenant at all)."""
    try:
        bind_context(session, previous or DbContext())
    except SQLAlchemyError:
        # The transaction was aborted by the error being raised: it will be rolled back, and
        # this one must not hide it.
        pass
    finally:
        if previous is None:
            session.info.pop(CONTEXT_KEY, None)
        else:
            session.info[CONTEXT_KEY] = previous


def _table(name: str) -> Table:
    import_all_models()
    return Base.metadata.tables[name]


def _check_complete(tenant: TenantData) -> None:
    # Every generated table belongs to a step: a table added to the generator but not here
    # would otherwise be silently skipped.
    written = {name for _, tables in _STEPS for name in tables}
    missing = [t.table for t in tenant.tables if len(t) and t.table not in written]
    if missing:
        raise RuntimeError(f"demo tables not written by any step: {missing}")


def _resolve_catalogue(session: Session, dataset: DemoDataset) -> dict[CatalogueRef, uuid.UUID]:
    """Ids of the global catalogue rows the dataset names (one query per catalogue)."""
    wanted: set[CatalogueRef] = set()
    for tenant in dataset.tenants:
        for rows in tenant.tables:
            if rows.rows:
                for index, value in enumerate(rows.rows[0]):
                    if isinstance(value, CatalogueRef):
                        wanted.update(row[index] for row in rows.rows)
    makes, models = _table("dir_car_makes"), _table("dir_car_models")
    classes, platforms = _table("dir_vehicle_classes"), _table("dir_platforms")
    found: dict[CatalogueRef, uuid.UUID] = {}
    for name, make_id in session.execute(
        select(makes.c.name, makes.c.id).where(makes.c.tenant_id.is_(None))
    ):
        found[CatalogueRef("dir_car_makes", (name,))] = make_id
    for make_name, model_name, model_id in session.execute(
        select(makes.c.name, models.c.name, models.c.id)
        .join(makes, makes.c.id == models.c.make_id)
        .where(models.c.tenant_id.is_(None))
    ):
        found[CatalogueRef("dir_car_models", (make_name, model_name))] = model_id
    for country, code, class_id in session.execute(
        select(classes.c.country, classes.c.code, classes.c.id)
    ):
        found[CatalogueRef("dir_vehicle_classes", (country, code))] = class_id
    for code, platform_id in session.execute(select(platforms.c.code, platforms.c.id)):
        found[CatalogueRef("dir_platforms", (code,))] = platform_id
    missing = sorted({f"{r.table}{r.key}" for r in wanted if r not in found})
    if missing:
        raise MissingReferenceData(
            "The demo needs reference data that is not loaded (run "
            "fleetcore.reference.service.load_reference_data first): " + ", ".join(missing)
        )
    return {ref: found[ref] for ref in wanted}


def _resolved(
    rows: TableRows, refs: Mapping[CatalogueRef, uuid.UUID], *, for_copy: bool = False
) -> Iterator[tuple[Any, ...]]:
    """The rows with catalogue references replaced by ids (and, for COPY, JSON values
    wrapped, since COPY has no column types to infer them from)."""
    if not rows.rows:
        return
    first = rows.rows[0]
    ref_columns = [i for i, v in enumerate(first) if isinstance(v, CatalogueRef)]
    json_columns = (
        [i for i, v in enumerate(first) if isinstance(v, dict | list)] if for_copy else []
    )
    if not ref_columns and not json_columns:
        yield from rows.rows
        return
    for row in rows.rows:
        values = list(row)
        for i in ref_columns:
            values[i] = refs[values[i]]
        for i in json_columns:
            values[i] = Jsonb(values[i])
        yield tuple(values)


def _insert_rows(
    session: Session, rows: TableRows, refs: Mapping[CatalogueRef, uuid.UUID]
) -> None:
    """One multi-row INSERT (executemany) for a small table."""
    if not rows.rows:
        return
    table = _table(rows.table)
    unknown = [c for c in rows.columns if c not in table.c]
    if unknown:
        raise RuntimeError(f"{rows.table} has no columns {unknown}")
    session.execute(
        insert(table), [dict(zip(rows.columns, row, strict=True)) for row in _resolved(rows, refs)]
    )


def _copy_rows(
    session: Session,
    rows: TableRows,
    refs: Mapping[CatalogueRef, uuid.UUID],
    advance: Callable[[int], None],
) -> None:
    """COPY into a temporary staging table, then one INSERT … SELECT under RLS."""
    table = _table(rows.table)
    unknown = [c for c in rows.columns if c not in table.c]
    if unknown:
        raise RuntimeError(f"{rows.table} has no columns {unknown}")
    session.flush()
    connection = cast(
        "psycopg.Connection[Any]", session.connection().connection.driver_connection
    )
    staging = f"demo_staging_{rows.table}"
    columns = ", ".join(rows.columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staging} (LIKE {rows.table} INCLUDING DEFAULTS)"
            " ON COMMIT DROP"
        )
        with cursor.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
            for n, row in enumerate(_resolved(rows, refs, for_copy=True), start=1):
                copy.write_row(row)
                if n % 2000 == 0:
                    advance(2000)
        advance(len(rows) % 2000)
        cursor.execute(f"INSERT INTO {rows.table} ({columns}) SELECT {columns} FROM {staging}")
        if cursor.rowcount != len(rows):
            raise RuntimeError(f"{rows.table}: {cursor.rowcount} of {len(rows)} rows inserted")
        cursor.execute(f"DROP TABLE {staging}")


@contextmanager
def _progress_bar(
    console: Console | None, label: str, total: int
) -> Iterator[Callable[[int], None]]:
    """A transient rich progress bar for a bulk table (a no-op without a console)."""
    if console is None:
        yield lambda n: None
        return
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    )
    task = bar.add_task(label, total=total)
    with bar:
        yield lambda n: bar.update(task, advance=n)
