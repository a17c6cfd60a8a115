"""``fleetcore import FILE --tenant SLUG``: validate (and with ``--commit``, commit) a platform
report from the command line, and ``fleetcore imports list|show|commit|discard`` to finish a
preview — through the same service as ``/v1/revenue-imports``."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from fleetcore.admin.models import Tenant
from fleetcore.core.auth import ALL_PERMISSIONS, Actor
from fleetcore.core.db import ActorType, DbContext, context_session, session_factory
from fleetcore.core.errors import Problem
from fleetcore.core.runtime import DatabaseRuntime
from fleetcore.documents.storage import DocumentStorage
from fleetcore.settings import get_settings

console = Console(stderr=True)

CLI_ACTOR_ID = uuid.UUID(int=0)
"""The command line acts as the system (audited as such), with every tenant permission."""

imports_app = typer.Typer(
    help="Platform report imports: list them, show one, commit or discard a preview.",
    no_args_is_help=True)

TenantOption = Annotated[str, typer.Option(help="Tenant slug.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@dataclass
class _Open:
    """A tenant's transaction on the command line: its session, actor and document storage."""

    session: Session
    actor: Actor
    storage: DocumentStorage
    slug: str


@contextmanager
def _tenant_transaction(slug: str, *, as_json: bool = False) -> Iterator[_Open]:
    """One transaction in the tenant ``slug`` (committed when the block ends without error);
    a problem the service raises is printed in one line and exits 1, nothing written."""
    from fleetcore.app import storage_for

    settings = get_settings()
    storage = storage_for(settings)
    runtime = DatabaseRuntime.open(settings)
    engine = runtime.app_engine(settings)
    try:
        sessions = session_factory(engine)
        with context_session(sessions, DbContext.system()) as session:
            found = session.execute(select(Tenant.id, Tenant.status)
                                    .where(Tenant.slug == slug)).one_or_none()
        if found is None:
            console.print(f"[red]No tenant with slug {slug!r}.[/]")
            raise typer.Exit(code=1)
        actor = Actor(type=ActorType.SYSTEM, id=CLI_ACTOR_ID, clerk_user_id="fleetcore-cli",
                      tenant_id=found.id, tenant_status=found.status,
                      permissions=frozenset({ALL_PERMISSIONS}))
        try:
            with context_session(sessions, DbContext.for_tenant(
                    found.id, actor_type=ActorType.SYSTEM)) as session:
                yield _Open(session, actor, storage, slug)
        except Problem as problem:
            if as_json:
                typer.echo(json.dumps(problem.body(), indent=2, default=str))
            console.print(f"[bold red]{problem.detail}[/]")
            raise typer.Exit(code=1) from problem
    finally:
        engine.dispose()
        runtime.close()


def _progress_bar(title: str) -> tuple[Progress, Callable[[str, int], None]]:
    """A progress bar on stderr (hidden when it is not a terminal) and the service's callback."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed:,.0f}"), TimeElapsedColumn())
    progress = Progress(*columns, console=console, transient=True,
                        disable=not console.is_terminal)
    reading = progress.add_task(title, total=100)
    staging = progress.add_task("Checking rows", total=None, visible=False)

    def advance(phase: str, amount: int) -> None:
        if phase == "read":
            progress.update(reading, completed=amount)
        else:
            progress.update(staging, advance=amount, visible=True)

    return progress, advance


def import_report(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="CSV, XLSX, Bolt orders JSON, or a zip of them.")],
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
    platform: Annotated[str | None, typer.Option(help="uber or bolt (default: detected).")]
    = None,
    report_type: Annotated[str | None, typer.Option(
        "--report-type", help="payments_order, payments_driver, trip_activity, bolt_weekly, "
                              "bolt_orders (default: detected).")] = None,
    currency: Annotated[str | None, typer.Option(help="Currency of files that carry none.")]
    = None,
    period_start: Annotated[str | None, typer.Option(
        "--period-start", help="YYYY-MM-DD: a day of the week a weekly summary covers.")] = None,
    decimal_mark: Annotated[str | None, typer.Option(
        "--decimal-mark", help="'.' or ',' when the file's amounts cannot show it.")] = None,
    commit: Annotated[bool, typer.Option("--commit", help="Commit the valid rows.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the import summary as JSON.")]
    = False,
) -> None:
    """Validate a platform report (and commit it with --commit); prints the summary.

    Without --commit the import is a preview: its id is printed, and
    ``fleetcore imports commit|discard ID`` finishes it (or run this again with --commit: the
    same file replaces its preview)."""
    from fleetcore.revenue import service
    from fleetcore.revenue.reports.mapping import MappingError, mappings
    from fleetcore.revenue.schemas import ImportOut

    try:
        day = date.fromisoformat(period_start) if period_start else None
    except ValueError as exc:
        raise typer.BadParameter("use YYYY-MM-DD", param_hint="--period-start") from exc
    try:
        mappings()  # a broken FLEETCORE_MAPPINGS_DIR file: one line, before any database work
    except MappingError as exc:
        console.print(f"[bold red]Invalid report mapping:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=2) from exc
    with _tenant_transaction(tenant, as_json=as_json) as opened:
        # Read from disk in bounded batches (and refused past the upload limit).
        upload = service.ImportUpload(
            file_name=file.name, data=file,
            platform=platform.lower() if platform else None, report_type=report_type,
            currency=currency.upper() if currency else None, period_start=day,
            decimal_mark=decimal_mark)
        progress, advance = _progress_bar(f"Reading {file.name}")
        with progress:
            imports = service.upload_import(opened.session, opened.actor, opened.storage,
                                            upload=upload, commit=commit, progress=advance)
        codes = _codes(opened.session)
        results = [ImportOut.of(i, codes.get(i.platform_id) if i.platform_id else None)
                   for i in imports]
    _print_results(results, tenant, as_json)


@imports_app.command("list")
def list_imports(
    tenant: TenantOption,
    status: Annotated[str | None, typer.Option(
        help="uploaded, validated, failed, committed or rolled_back.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The tenant's imports, newest first."""
    from fleetcore.core.pagination import PageParams
    from fleetcore.revenue import service
    from fleetcore.revenue.models import ImportStatus
    from fleetcore.revenue.schemas import ImportOut

    if status is not None and status not in {s.value for s in ImportStatus}:
        raise typer.BadParameter(f"one of {', '.join(s.value for s in ImportStatus)}",
                                 param_hint="--status")
    with _tenant_transaction(tenant, as_json=as_json) as opened:
        rows, _ = service.list_imports(opened.session, opened.actor,
                                       PageParams(limit=limit, cursor=None), status=status)
        codes = _codes(opened.session)
        results = [ImportOut.of(i, codes.get(i.platform_id) if i.platform_id else None,
                                listed=True) for i in rows]
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in results], indent=2))
        return
    table = Table("id", "file", "platform", "type", "status", "rows valid/total", "period")
    for r in results:
        table.add_row(str(r.id), r.file_name, r.platform or "-",
                      r.report_type.value if r.report_type else "-", r.status.value,
                      f"{r.rows_valid}/{r.rows_total}",
                      r.period_start.date().isoformat() if r.period_start else "-")
    Console().print(table)


@imports_app.command("show")
def show_import(
    import_id: Annotated[uuid.UUID, typer.Argument(help="The import's id.")],
    tenant: TenantOption,
    as_json: JsonOption = False,
) -> None:
    """One import and its preview: counts, accounts, row errors."""
    from fleetcore.revenue import service
    from fleetcore.revenue.schemas import ImportOut

    with _tenant_transaction(tenant, as_json=as_json) as opened:
        imp = service.get_import(opened.session, opened.actor, import_id)
        codes = _codes(opened.session)
        result = ImportOut.of(imp, codes.get(imp.platform_id) if imp.platform_id else None)
    _print_results([result], tenant, as_json)


@imports_app.command("commit")
def commit_import(
    import_id: Annotated[uuid.UUID, typer.Argument(help="The preview's id.")],
    tenant: TenantOption,
    as_json: JsonOption = False,
) -> None:
    """Commit a preview: its valid rows, trips and driver revenues, in one transaction."""
    from fleetcore.revenue import service
    from fleetcore.revenue.schemas import ImportOut

    with _tenant_transaction(tenant, as_json=as_json) as opened:
        progress, advance = _progress_bar("Reading the stored file")
        with progress:
            imp = service.commit_import(opened.session, opened.actor, opened.storage,
                                        import_id, progress=advance)
        codes = _codes(opened.session)
        result = ImportOut.of(imp, codes.get(imp.platform_id) if imp.platform_id else None)
    _print_results([result], tenant, as_json)


@imports_app.command("discard")
def discard_import(
    import_id: Annotated[uuid.UUID, typer.Argument(help="The preview's id.")],
    tenant: TenantOption,
) -> None:
    """Delete a preview that will not be committed, and its stored file."""
    from fleetcore.revenue import service

    with _tenant_transaction(tenant) as opened:
        imp = service.get_import(opened.session, opened.actor, import_id)
        name = imp.file_name
        service.discard_import(opened.session, opened.actor, opened.storage, import_id)
    console.print(f"Discarded the preview {import_id} ({name}): nothing was written.")


def _codes(session: Session) -> dict[uuid.UUID, str]:
    return {row[0]: row[1] for row in session.execute(_platform_codes())}


def _print_results(results: Sequence[object], slug: str, as_json: bool) -> None:
    from fleetcore.revenue.schemas import ImportOut

    if as_json:
        documents = [r.model_dump(mode="json") for r in results if isinstance(r, ImportOut)]
        typer.echo(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2))
    else:
        for r in results:
            _print_summary(r, slug)
    sys.stdout.flush()


def _platform_codes() -> Select[uuid.UUID, str]:
    """Platform id → code (a dozen rows)."""
    from fleetcore.reference.models import Platform

    return select(Platform.id, Platform.code)


def _print_summary(result: object, slug: str) -> None:
    from fleetcore.revenue.schemas import ImportOut

    assert isinstance(result, ImportOut)
    console.print(
        f"[bold]{result.file_name}[/]: {result.platform} {result.report_type}, "
        f"{result.status} — {result.rows_total} rows, {result.rows_valid} valid, "
        f"{result.rows_rejected} rejected ({result.rows_duplicate} duplicates)")
    console.print(f"  import {result.id}", highlight=False)
    if result.currency:
        console.print(f"  currency {result.currency} ({result.currency_source})")
    if result.status == "validated":
        console.print(f"  a preview: [bold]fleetcore imports commit {result.id} --tenant {slug}"
                      f"[/] writes it, [bold]fleetcore imports discard {result.id} --tenant "
                      f"{slug}[/] drops it", highlight=False)
    for account in result.accounts:
        who = f"driver {account.driver_id}" if account.driver_id else "[yellow]not linked[/]"
        earnings = f"{account.earnings.amount} {account.earnings.currency}" \
            if account.earnings else "-"
        console.print(f"  {account.platform_account} ({account.name or '?'}): "
                      f"{account.rows} rows, earnings {earnings}, {who}")
    for error in result.errors[:20]:
        console.print(f"  [red]row {error.row}[/] {error.column or ''}: {error.reason}"
                      + (f" ({error.value!r})" if error.value else ""))
    if result.errors_total > 20:
        console.print(f"  … {result.errors_total - 20} more errors: {result.errors_csv}")
    if result.trips is not None:
        console.print(f"  trips: {result.trips.created} created, {result.trips.updated} "
                      f"updated, {result.trips.unchanged} unchanged")
