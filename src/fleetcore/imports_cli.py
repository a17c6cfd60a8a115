"""``fleetcore import FILE --tenant SLUG``: validate (and with ``--commit``, commit) a platform
report from the command line, through the same service as ``POST /v1/revenue-imports``."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import Select, select

from fleetcore.admin.models import Tenant
from fleetcore.core.auth import ALL_PERMISSIONS, Actor
from fleetcore.core.db import ActorType, DbContext, context_session, session_factory
from fleetcore.core.errors import Problem
from fleetcore.core.runtime import DatabaseRuntime
from fleetcore.settings import get_settings

console = Console(stderr=True)

CLI_ACTOR_ID = uuid.UUID(int=0)
"""The command line acts as the system (audited as such), with every tenant permission."""


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
    """Validate a platform report (and commit it with --commit); prints the summary."""
    from fleetcore.app import storage_for
    from fleetcore.revenue import service
    from fleetcore.revenue.schemas import ImportOut

    try:
        day = date.fromisoformat(period_start) if period_start else None
    except ValueError as exc:
        raise typer.BadParameter("use YYYY-MM-DD", param_hint="--period-start") from exc
    settings = get_settings()
    storage = storage_for(settings)
    runtime = DatabaseRuntime.open(settings)
    engine = runtime.app_engine(settings)
    try:
        sessions = session_factory(engine)
        with context_session(sessions, DbContext.system()) as session:
            found = session.execute(select(Tenant.id, Tenant.status)
                                    .where(Tenant.slug == tenant)).one_or_none()
        if found is None:
            console.print(f"[red]No tenant with slug {tenant!r}.[/]")
            raise typer.Exit(code=1)
        actor = Actor(type=ActorType.SYSTEM, id=CLI_ACTOR_ID, clerk_user_id="fleetcore-cli",
                      tenant_id=found.id, tenant_status=found.status,
                      permissions=frozenset({ALL_PERMISSIONS}))
        try:
            with file.open("rb") as handle:
                data = service.read_upload(handle)  # no further than the upload limit
        except Problem as problem:
            console.print(f"[bold red]{problem.detail}[/]")
            raise typer.Exit(code=1) from problem
        upload = service.ImportUpload(
            file_name=file.name, data=data,
            platform=platform.lower() if platform else None, report_type=report_type,
            currency=currency.upper() if currency else None, period_start=day,
            decimal_mark=decimal_mark)
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.completed:,.0f}"), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True,
                      disable=not console.is_terminal) as progress:
            reading = progress.add_task(f"Reading {file.name}", total=100)
            staging = progress.add_task("Checking rows", total=None, visible=False)

            def advance(phase: str, amount: int) -> None:
                if phase == "read":
                    progress.update(reading, completed=amount)
                else:
                    progress.update(staging, advance=amount, visible=True)

            try:
                with context_session(sessions, DbContext.for_tenant(
                        found.id, actor_type=ActorType.SYSTEM)) as session:
                    imports = service.upload_import(session, actor, storage, upload=upload,
                                                    commit=commit, progress=advance)
                    codes: dict[uuid.UUID, str] = {
                        row[0]: row[1] for row in session.execute(_platform_codes())}
                    results = [ImportOut.of(i, codes.get(i.platform_id) if i.platform_id
                                            else None) for i in imports]
            except Problem as problem:
                body = problem.body()
                if as_json:
                    typer.echo(json.dumps(body, indent=2, default=str))
                console.print(f"[bold red]{problem.detail}[/]")
                raise typer.Exit(code=1) from problem
    finally:
        engine.dispose()
        runtime.close()
    if as_json:
        documents = [r.model_dump(mode="json") for r in results]
        typer.echo(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2))
    else:
        for r in results:
            _print_summary(r)
    sys.stdout.flush()


def _platform_codes() -> Select[uuid.UUID, str]:
    """Platform id → code (a dozen rows)."""
    from fleetcore.reference.models import Platform

    return select(Platform.id, Platform.code)


def _print_summary(result: object) -> None:
    from fleetcore.revenue.schemas import ImportOut

    assert isinstance(result, ImportOut)
    console.print(
        f"[bold]{result.file_name}[/]: {result.platform} {result.report_type}, "
        f"{result.status} — {result.rows_total} rows, {result.rows_valid} valid, "
        f"{result.rows_rejected} rejected ({result.rows_duplicate} duplicates)")
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
