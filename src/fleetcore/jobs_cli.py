"""Command-line operations of the job queue: ``fleetcore worker``, ``fleetcore jobs`` and
``fleetcore reminders run`` (registered on the main app in ``cli.py``)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text

from fleetcore import __version__
from fleetcore.core.db import DbContext, check_app_role, context_session, session_factory
from fleetcore.core.errors import Problem
from fleetcore.core.observability import configure_logging, init_sentry
from fleetcore.core.runtime import DatabaseRuntime
from fleetcore.settings import Settings, get_settings
from fleetcore.worker import BackgroundWorker, EmailNotConfigured, outbox_dir

console = Console(stderr=True)
reminders_app = typer.Typer(help="Reminders: documents, insurance, maintenance, training…",
                            no_args_is_help=True)


def start_observability(settings: Settings) -> None:
    """JSON logs on stderr, and Sentry when SENTRY_DSN is set."""
    configure_logging(settings.fleetcore_log_level)
    init_sentry(settings.sentry_dsn, environment=settings.fleetcore_env.value,
                release=__version__)


def start_background_worker(
    settings: Settings, engine: Engine, runtime: DatabaseRuntime
) -> BackgroundWorker:
    """The in-process worker of ``fleetcore serve``."""
    background = BackgroundWorker(settings, engine, runtime.app_url)
    try:
        background.start()
    except EmailNotConfigured as exc:
        console.print(f"[bold red]Refusing to start:[/] {exc}")
        raise typer.Exit(code=2) from exc
    if not settings.resend_api_key:
        console.print(f"  E-mail:    written to {outbox_dir(settings)} (no RESEND_API_KEY)")
    return background


def worker(
    concurrency: Annotated[int, typer.Option(help="Jobs run at once.", min=1, max=64)] = 2,
) -> None:
    """Run a job worker (e-mails, reminders…) until Ctrl+C or SIGTERM."""
    from fleetcore import worker as workers

    settings = get_settings()
    start_observability(settings)
    runtime = DatabaseRuntime.open(settings)
    engine = runtime.app_engine(settings)
    try:
        check_app_role(engine)
        if not settings.resend_api_key:
            console.print(f"E-mail is written to {outbox_dir(settings)} (no RESEND_API_KEY).")
        console.print(f"Fleetcore worker {__version__}: waiting for jobs. Ctrl+C to stop.")
        asyncio.run(workers.run(settings, engine, runtime.app_url, concurrency=concurrency))
    finally:
        engine.dispose()
        runtime.close()


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def jobs(
    failed: Annotated[bool, typer.Option("--failed", help="Only failed jobs.")] = False,
    retry: Annotated[
        int | None, typer.Option("--retry", metavar="ID", help="Queue a failed job again.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many jobs to list.")] = 50,
) -> None:
    """List queued, running and failed jobs (finished ones leave the queue), or retry one."""
    from fleetcore.core.jobs import job_counts, list_jobs, retry_failed_job

    settings = get_settings()
    runtime = DatabaseRuntime.open(settings)
    engine = runtime.app_engine(settings)
    try:
        sessions = session_factory(engine)
        with sessions() as session, session.begin():
            if retry is not None:
                try:
                    retry_failed_job(session, retry)
                except Problem as problem:
                    console.print(f"[red]{problem.detail}[/]")
                    raise typer.Exit(code=1) from problem
                console.print(f"Job {retry} queued again.")
                return
            counts = job_counts(session)
            rows = list_jobs(session, failed_only=failed, limit=limit)
        table = Table("id", "task", "status", "attempts", "tenant", "queue", "scheduled",
                      "last event")
        for job in rows:
            table.add_row(str(job.id), job.task, job.status, str(job.attempts),
                          job.tenant_id or "", job.queue, _when(job.scheduled_at),
                          _when(job.last_event_at))
        Console().print(table)
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "empty"
        console.print(f"queue: {summary}")
    finally:
        engine.dispose()
        runtime.close()


@reminders_app.command("run")
def reminders_run(
    tenant: Annotated[
        str | None, typer.Option(help="Tenant slug (default: every active tenant).")
    ] = None,
    today: Annotated[
        str | None, typer.Option(help="Pretend today is YYYY-MM-DD (default: each tenant's "
                                      "local date).")
    ] = None,
) -> None:
    """Create due reminders now (exactly once per item and threshold; e-mails are queued)."""
    from fleetcore.admin.jobs import run_reminders

    day = date.fromisoformat(today) if today else None
    settings = get_settings()
    runtime = DatabaseRuntime.open(settings)
    engine = runtime.app_engine(settings)
    try:
        sessions = session_factory(engine)
        with context_session(sessions, DbContext.system()) as session:
            if tenant:
                found = session.execute(
                    text("SELECT tenant_for_slug(:slug)"), {"slug": tenant}
                ).scalar_one_or_none()
                if found is None:
                    console.print(f"[red]No tenant with slug {tenant!r}.[/]")
                    raise typer.Exit(code=1)
                tenants: list[tuple[uuid.UUID, str]] = [(found, tenant)]
            else:
                tenants = [
                    (r[0], r[1]) for r in session.execute(text(
                        "SELECT id, slug FROM adm_tenants WHERE deleted_at IS NULL"
                        " AND status IN ('trialing', 'active', 'past_due') ORDER BY slug"))
                ]
        for tenant_id, slug in tenants:
            with context_session(sessions, DbContext.for_tenant(tenant_id)) as session:
                report = run_reminders(session, tenant_id, today=day)
            details = ", ".join(f"{k} {v}" for k, v in report.notifications.items() if v)
            typer.echo(
                f"{slug} ({report.today}): {report.total_notifications} notifications, "
                f"{report.total_tasks} tasks" + (f" — {details}" if details else "")
            )
    finally:
        engine.dispose()
        runtime.close()
