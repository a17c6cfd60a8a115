"""The ``fleetcore`` command line: serve, database, demo data."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from fleetcore import __version__, imports_cli, jobs_cli
from fleetcore.core.db import DbContext, check_app_role, context_session, session_factory
from fleetcore.core.migrations import current_revision, head_revision, upgrade_to_head
from fleetcore.core.runtime import DatabaseRuntime
from fleetcore.jobs_cli import start_background_worker, start_observability
from fleetcore.settings import Settings, get_settings

app = typer.Typer(
    name="fleetcore",
    help="Fleetcore: run a ride-hailing fleet — vehicles, drivers, revenue, settlements.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database: migrations and status.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
mappings_app = typer.Typer(
    help="Platform report mappings (docs/mappings.md).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(mappings_app, name="mappings")

console = Console(stderr=True)


def _step(message: str) -> None:
    console.print(f"[bold cyan]>[/] {message}")


def _exit_on_sigterm() -> None:
    """Turn SIGTERM into a normal exit so the embedded server is stopped on the way out."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)  # a requested stop is a clean exit

    signal.signal(signal.SIGTERM, handler)


def _migrate(settings: Settings, runtime: DatabaseRuntime) -> None:
    if runtime.owner_url is None:
        engine = runtime.app_engine(settings)
        try:
            if current_revision(engine) != head_revision():
                raise typer.BadParameter(
                    "The database is not at the current schema and DATABASE_OWNER_URL is not "
                    "set: run `fleetcore db upgrade` with DATABASE_OWNER_URL first."
                )
        finally:
            engine.dispose()
        return
    upgrade_to_head(runtime.owner_url, app_role=settings.fleetcore_app_role)


def _prepare(settings: Settings, runtime: DatabaseRuntime, *, demo: bool) -> None:
    """Migrate, load reference data and, on first run, the demo tenants."""
    from fleetcore.admin.service import align_system_role_permissions
    from fleetcore.app import storage_for
    from fleetcore.demo.presence import demo_present
    from fleetcore.reference.service import load_reference_data

    _step("Applying database migrations")
    _migrate(settings, runtime)
    engine = runtime.app_engine(settings)
    try:
        check_app_role(engine)
        sessions = session_factory(engine)
        _step("Loading reference data (platforms, vehicle classes, regulations, car models)")
        with context_session(sessions, DbContext.system()) as session:
            load_reference_data(session)
            # Permissions this release adds to the built-in roles reach existing tenants.
            align_system_role_permissions(session)
        if demo:
            with context_session(sessions, DbContext.system()) as session:
                present = demo_present(session)
            if not present:
                from fleetcore.demo.loader import load_demo

                _step("Creating the demo tenants (first run)")
                load_demo(sessions, progress=console, storage=storage_for(settings))
    finally:
        engine.dispose()


def _freeze_startup_objects() -> None:
    """Leave the app's start-up objects out of garbage collection from now on.

    Routes, models, schemas and the like — ≈ 380,000 objects, none of them ever garbage — were
    walked by every full collection: 300 to 400 ms on the 2-core bench machine, during which no
    request moves (the API's p99 under load, decision 0022). Collected once, then frozen.
    """
    import gc

    gc.collect()
    gc.freeze()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool, typer.Option(help="Create the demo tenants on first run.")
    ] = True,
    workers: Annotated[int, typer.Option(help="HTTP worker processes.")] = 1,
    job_worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run a job worker in this process.")
    ] = True,
) -> None:
    """Start Fleetcore: database (embedded if no DATABASE_URL), migrations, API, job worker."""
    import uvicorn

    from fleetcore.app import create_app
    from fleetcore.core.auth import AuthNotConfigured, check_auth_configuration

    _exit_on_sigterm()
    settings = get_settings()
    start_observability(settings)
    try:
        check_auth_configuration(settings)
    except AuthNotConfigured as exc:
        console.print(f"[bold red]Refusing to start:[/] {exc}")
        raise typer.Exit(code=2) from exc
    _check_mappings(settings.fleetcore_mappings_dir)
    runtime = DatabaseRuntime.open(settings, own_embedded=True, on_step=_step)
    try:
        _prepare(settings, runtime, demo=demo and settings.fleetcore_demo)
        engine = runtime.app_engine(settings)
        check_app_role(engine)
        # The job worker starts first: it reaches the database (mostly waiting) while this
        # thread builds the app, so a warm start is ready sooner.
        background = start_background_worker(settings, engine, runtime) if job_worker else None
        try:
            application = create_app(settings, engine)
            application.state.job_worker = background  # /readyz: a worker that is not running
            url = f"http://{host}:{port}"
            console.print(
                f"\n[bold green]Fleetcore {__version__} is running[/] on {url}\n"
                f"  Console:   {url}/app\n"
                f"  API docs:  {url}/docs\n  OpenAPI:   {url}/openapi.json\n"
                f"  Health:    {url}/readyz\n"
                + (f"  Database:  embedded, {settings.embedded_pgdata}\n"
                   if runtime.embedded else "")
                + "Press Ctrl+C to stop.\n"
            )
            _freeze_startup_objects()
            uvicorn.run(application, host=host, port=port, log_level="warning", workers=1)
        finally:
            if background is not None:
                background.stop()
        engine.dispose()
    finally:
        if runtime.embedded is not None:
            _step("Stopping the embedded PostgreSQL")
        runtime.close()


def _check_mappings(extension_dir: Path | None) -> None:
    """Load every report mapping (packaged and the operator's) now, so that a broken mapping
    file refuses the start-up in one line instead of failing the first import."""
    from fleetcore.revenue.reports.mapping import MappingError, load_mappings

    try:
        load_mappings(extension_dir)
    except MappingError as exc:
        console.print(f"[bold red]Refusing to start:[/] invalid report mapping: {escape(str(exc))}",
                      soft_wrap=True)
        raise typer.Exit(code=2) from exc


@mappings_app.command("check")
def mappings_check(
    directory: Annotated[Path | None, typer.Argument(
        help="Directory of mapping files (default: FLEETCORE_MAPPINGS_DIR).")] = None,
) -> None:
    """Check the report mappings (packaged + DIR) and list what is loaded; exit 1 if invalid."""
    from fleetcore.revenue.reports.mapping import MappingError, load_mappings

    extension_dir = directory if directory is not None else get_settings().fleetcore_mappings_dir
    try:
        loaded = load_mappings(extension_dir)
    except MappingError as exc:
        _fail(f"Invalid report mapping: {exc}")
    for mapping in sorted(loaded, key=lambda m: (m.platform, m.report_type)):
        origin = mapping.source if "/" in mapping.source else f"packaged {mapping.source}"
        typer.echo(f"{mapping.platform:<10} {mapping.report_type:<17} "
                   f"{','.join(mapping.languages):<10} {origin}")
    where = f"packaged + {extension_dir}" if extension_dir is not None else "packaged only"
    console.print(f"{len(loaded)} mappings valid ({where})")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (as DATABASE_OWNER_URL, or the embedded owner)."""
    settings = get_settings()
    runtime = DatabaseRuntime.open(settings, on_step=_step)
    try:
        owner = runtime.require_owner_url()
        upgrade_to_head(owner, app_role=settings.fleetcore_app_role)
        _step(f"Database at revision {head_revision()}")
    finally:
        runtime.close()


@db_app.command("status")
def db_status() -> None:
    """Show the database, its schema revision and what is pending."""
    settings = get_settings()
    runtime = DatabaseRuntime.open(settings)
    try:
        engine = runtime.app_engine(settings)
        with engine.connect() as conn:
            server = conn.execute(text("SHOW server_version")).scalar_one()
            role = conn.execute(text("SELECT current_user")).scalar_one()
        current, head = current_revision(engine), head_revision()
        engine.dispose()
        where = (
            f"embedded ({settings.embedded_pgdata})" if runtime.embedded else "DATABASE_URL"
        )
        typer.echo(f"database:  {where}")
        typer.echo(f"server:    PostgreSQL {server}, connected as {role}")
        typer.echo(f"revision:  {current or 'none'} (head {head})")
        typer.echo("status:    " + ("up to date" if current == head else "migrations pending"))
        if current != head:
            raise typer.Exit(code=1)
    finally:
        runtime.close()


@demo_app.command("load")
def demo_load(
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 7,
) -> None:
    """Create the demo tenants (main fleet + a second, smaller one) if they are absent."""
    from fleetcore.app import storage_for
    from fleetcore.demo.loader import demo_present, load_demo

    settings = get_settings()
    runtime = DatabaseRuntime.open(settings, on_step=_step)
    try:
        _prepare(settings, runtime, demo=False)
        engine = runtime.app_engine(settings)
        sessions = session_factory(engine)
        with context_session(sessions, DbContext.system()) as session:
            if demo_present(session):
                _step("The demo tenants are already present; nothing to do")
                return
        load_demo(sessions, seed=seed, progress=console, storage=storage_for(settings))
        engine.dispose()
    finally:
        runtime.close()


def _fail(message: str) -> NoReturn:
    """Say what went wrong in one line (no traceback) and exit 1."""
    console.print(f"[bold red]{escape(message)}[/]", soft_wrap=True)
    raise typer.Exit(code=1)


def _require_migrated(engine: Engine, settings: Settings) -> None:
    """Exit with one line when the database cannot be read or is not at the current schema."""
    where = (f"in {settings.fleetcore_data_dir}" if settings.uses_embedded_database
             else "at DATABASE_URL")
    try:
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or type(exc).__name__).strip().splitlines()
        _fail(f"Cannot read the Fleetcore database {where}: {reason[0] if reason else exc}.")
    head = head_revision()
    if current != head:
        _fail(f"The Fleetcore database {where} is not migrated (revision {current or 'none'}, "
              f"expected {head}): run `fleetcore serve` (or `fleetcore db upgrade`) first.")


@app.command()
def token(
    tenant: Annotated[str, typer.Option(help="Tenant slug.")] = "lumiere-vtc",
    email: Annotated[
        str | None, typer.Option(help="Member e-mail (default: the tenant's owner).")
    ] = None,
    role: Annotated[
        str | None, typer.Option(help="Pick a member holding this role (e.g. finance).")
    ] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.", min=60, max=86400)] = 3600,
) -> None:
    """Print a development session token for a member (FLEETCORE_ENV=development, no Clerk key).

    Use it as `Authorization: Bearer <token>`; the API verifies it exactly like a Clerk token.
    """
    from datetime import timedelta

    from fleetcore.admin.service import token_subject
    from fleetcore.core.auth import (
        DEV_AUTHORIZED_PARTY,
        dev_key_path,
        ensure_dev_private_key,
        mint_session_token,
        uses_dev_key,
    )
    from fleetcore.core.errors import Problem

    settings = get_settings()
    if not uses_dev_key(settings):
        console.print(
            "[bold red]fleetcore token[/] mints development tokens only: it needs "
            "FLEETCORE_ENV=development and no CLERK_JWT_KEY/CLERK_JWKS_URL (sign in through "
            "Clerk otherwise)."
        )
        raise typer.Exit(code=2)
    if settings.uses_embedded_database and not (settings.embedded_pgdata / "PG_VERSION").exists():
        # Starting the embedded server here would create an empty database and then fail on it.
        _fail(f"No Fleetcore database in {settings.fleetcore_data_dir}: run `fleetcore serve` "
              "first (or set FLEETCORE_DATA_DIR to the directory it uses, or DATABASE_URL).")
    runtime = DatabaseRuntime.open(settings)
    try:
        engine = runtime.app_engine(settings)
        try:
            _require_migrated(engine, settings)
            with context_session(session_factory(engine), DbContext.system()) as session:
                subject = token_subject(session, tenant_slug=tenant, email=email, role=role)
        except Problem as exc:
            _fail(exc.detail)
        finally:
            engine.dispose()
    finally:
        runtime.close()
    private_key = ensure_dev_private_key(dev_key_path(settings))
    parties = settings.clerk_authorized_parties
    minted = mint_session_token(
        private_key, user_id=subject.clerk_user_id, org_id=subject.clerk_organization_id,
        org_slug=subject.tenant_slug, org_role=subject.roles[0] if subject.roles else "member",
        ttl=timedelta(seconds=ttl),
        authorized_party=parties[0] if parties else DEV_AUTHORIZED_PARTY,
    )
    console.print(
        f"Token for {subject.email} ({', '.join(subject.roles) or 'no role'}) in "
        f"{subject.tenant_slug}, valid {ttl} s:"
    )
    typer.echo(minted)


@app.command()
def version() -> None:
    """Print the Fleetcore version."""
    typer.echo(__version__)


app.command("import")(imports_cli.import_report)
app.add_typer(imports_cli.imports_app, name="imports")
app.command("worker")(jobs_cli.worker)
app.command("jobs")(jobs_cli.jobs)
app.add_typer(jobs_cli.reminders_app, name="reminders")


def main() -> None:  # pragma: no cover - console entry point
    """Entry point for ``python -m fleetcore``."""
    sys.exit(app())
