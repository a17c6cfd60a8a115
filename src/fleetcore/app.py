"""FastAPI application factory: routers, middleware, error rendering, health endpoints."""

from __future__ import annotations

from typing import Protocol

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from fleetcore import __version__
from fleetcore.core.auth import check_auth_configuration
from fleetcore.core.db import session_factory
from fleetcore.core.errors import ServiceUnavailable, install_error_handlers
from fleetcore.core.http_security import install_security_headers
from fleetcore.core.migrations import head_revision, read_revision
from fleetcore.core.openapi import install_openapi_documentation, operation_id
from fleetcore.core.versioning import document_required_if_match
from fleetcore.documents.storage import DocumentStorage
from fleetcore.settings import Settings


def create_app(settings: Settings, engine: Engine) -> FastAPI:
    """Build the application around an app-role ``engine``."""
    check_auth_configuration(settings)
    app = FastAPI(
        title="Fleetcore API",
        version=__version__,
        description="Multi-tenant platform for ride-hailing fleet operators.",
        openapi_url="/openapi.json",
        # /docs is served by the console from the vendored Swagger UI (no CDN: works offline).
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    install_error_handlers(app)
    _install_read_lane(app)  # first: inside the request-id, metrics and header middleware
    install_security_headers(app, settings)
    _include_routers(app)
    document_required_if_match(app)
    install_openapi_documentation(app)
    _install_observability_and_email_webhooks(app)

    _install_traccar_forwarding_lane(app)

    @app.get("/healthz", tags=["health"], summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    # The shipped migrations do not change while the process runs: read the head once.
    head = head_revision()

    @app.get("/readyz", tags=["health"], summary="The database is reachable and migrated")
    def readyz() -> JSONResponse:
        # One connection, two plain queries, no Alembic context (it logs on every build).
        try:
            with engine.connect() as conn:
                current = read_revision(conn)
        except SQLAlchemyError as exc:
            return _unready({"database": "unreachable", "detail": type(exc).__name__})
        if current != head:
            return _unready({"database": "not migrated", "revision": current, "expected": head})
        worker: JobWorkerProbe | None = getattr(app.state, "job_worker", None)
        if worker is not None and not worker.healthy:
            return _unready({"database": "ready", "worker": worker.state})
        return JSONResponse({"status": "ready", "revision": current})

    return app


class JobWorkerProbe(Protocol):
    """What ``/readyz`` asks of an in-process job worker (``fleetcore.worker``), set as
    ``app.state.job_worker`` by ``fleetcore serve``."""

    @property
    def healthy(self) -> bool: ...

    @property
    def state(self) -> str: ...


def _unready(details: dict[str, object]) -> JSONResponse:
    return JSONResponse({"status": "unavailable", **details}, status_code=503,
                        headers={"Retry-After": str(ServiceUnavailable.retry_after)})


def _include_routers(app: FastAPI) -> None:
    """The API's routers (imported here: domains import core, never the app)."""
    from fleetcore.admin.api import router as admin_router
    from fleetcore.billing.api import router as billing_router
    from fleetcore.crm.api import router as crm_router
    from fleetcore.drivers.api import router as drivers_router
    from fleetcore.finance.api import router as ledger_router
    from fleetcore.fleet.api import router as fleet_router
    from fleetcore.integrations.clerk.webhooks import router as clerk_webhooks
    from fleetcore.trips.invoice_api import router as invoices_router
    from fleetcore.trips.settlement_api import router as settlements_router
    from fleetcore.trips.statement_api import router as statements_router

    # First: routes are matched in order, and Traccar forwards every position of every device.
    _include_gps(app)
    app.include_router(admin_router)
    app.include_router(billing_router)
    app.include_router(crm_router)
    app.include_router(clerk_webhooks)
    app.include_router(fleet_router)
    app.include_router(drivers_router)
    app.include_router(settlements_router)
    app.include_router(ledger_router)
    app.include_router(statements_router)
    app.include_router(invoices_router)
    _include_documents_and_reference(app)
    _include_scheduling_and_maintenance(app)
    _include_console(app)
    _include_trips_and_revenue(app)
    _include_reconciliation_and_performance(app)
    _include_tolls_and_fines(app)
    _include_payouts(app)
    _include_support(app)


def _include_support(app: FastAPI) -> None:
    """Support tickets; the Chatwoot and FreeScout webhooks; the desk jobs push to."""
    from fleetcore.integrations.support_desk import desk_for
    from fleetcore.integrations.support_desk.webhooks import router as support_webhooks
    from fleetcore.support import desk
    from fleetcore.support.api import router as support_router

    app.include_router(support_router)
    app.include_router(support_webhooks)
    chosen = desk_for(app.state.settings)
    desk.install(lambda: chosen)


def _include_payouts(app: FastAPI) -> None:
    """Driver payout batches, SEPA files, Stripe Connect transfers and their webhooks."""
    from fleetcore.finance.payout_api import router as payouts_router
    from fleetcore.integrations.stripe.connect import transfer_sender
    from fleetcore.integrations.stripe.webhooks import router as stripe_webhooks

    app.include_router(payouts_router)
    app.include_router(stripe_webhooks)
    app.state.transfer_sender = transfer_sender(app.state.settings)


def _include_gps(app: FastAPI) -> None:
    """Traccar forwarding receivers; the forwarding token and the devices seen."""
    from fleetcore.fleet.gps_api import router as gps_router
    from fleetcore.integrations.traccar.webhooks import router as traccar_webhooks

    app.include_router(gps_router)
    app.include_router(traccar_webhooks)


def _install_read_lane(app: FastAPI) -> None:
    """Hot ``/v1`` reads in plain ASGI on an async pool, ahead of the router (decision 0022)."""
    from fleetcore.core.lane import ReadLane
    from fleetcore.fleet.lane import ROUTES as FLEET_ROUTES

    app.add_middleware(ReadLane, routes=FLEET_ROUTES)


def _install_traccar_forwarding_lane(app: FastAPI) -> None:
    """Outermost: Traccar's forwards go around the API's middleware (decision 0005)."""
    from fleetcore.integrations.traccar.webhooks import ForwardingLane

    app.add_middleware(ForwardingLane)


def _include_reconciliation_and_performance(app: FastAPI) -> None:
    """Reconciliations of platform reports with trips; driver performance recompute."""
    from fleetcore.revenue.performance_api import router as performance_router
    from fleetcore.revenue.reconciliation_api import router as reconciliation_router

    app.include_router(reconciliation_router)
    app.include_router(performance_router)


def _include_trips_and_revenue(app: FastAPI) -> None:
    """Platform accounts and trips; platform report imports."""
    from fleetcore.revenue.api import router as imports_router
    from fleetcore.trips.api import router as trips_router

    app.include_router(trips_router)
    app.include_router(imports_router)


def _include_tolls_and_fines(app: FastAPI) -> None:
    """Toll transactions (and operator statement imports) and traffic fines."""
    from fleetcore.finance.charges_api import router as charges_router

    app.include_router(charges_router)


def _include_console(app: FastAPI) -> None:
    """The web console under /app (pages and its vendored static files)."""
    from fleetcore.web import install_console

    install_console(app)


def _include_scheduling_and_maintenance(app: FastAPI) -> None:
    """Shifts, tasks, goals; odometer readings, maintenance schedules and records; the drivers'
    writes that need the fleet and scheduling (deleting a driver, driver requests)."""
    from fleetcore.fleet.maintenance_api import router as maintenance_router
    from fleetcore.scheduling.api import router as scheduling_router
    from fleetcore.scheduling.driver_decisions_api import router as driver_decisions_router

    app.include_router(maintenance_router)
    app.include_router(scheduling_router)
    app.include_router(driver_decisions_router)


def storage_for(settings: Settings) -> DocumentStorage:
    """The storage backend ``STORAGE_BACKEND`` names (documents and imported report files)."""
    from fleetcore.documents.api import local_storage_for

    backend = settings.storage_backend.strip().lower()
    if backend == "supabase":
        from fleetcore.integrations.supabase.storage import SupabaseStorage

        if not (settings.supabase_url and settings.supabase_service_key):
            raise RuntimeError(
                "STORAGE_BACKEND=supabase needs SUPABASE_URL and SUPABASE_SERVICE_KEY."
            )
        return SupabaseStorage(
            settings.supabase_url, settings.supabase_service_key,
            bucket=settings.supabase_storage_bucket,
        )
    if backend == "local":
        return local_storage_for(settings)
    raise RuntimeError(f"STORAGE_BACKEND must be 'local' or 'supabase', not {backend!r}.")


def _include_documents_and_reference(app: FastAPI) -> None:
    """Documents (with the storage backend of STORAGE_BACKEND), /files links, reference data."""
    from fleetcore.documents.api import files_router
    from fleetcore.documents.api import router as documents_router
    from fleetcore.drivers.document_decisions_api import router as document_decisions_router
    from fleetcore.reference.api import router as reference_router

    app.state.document_storage = storage_for(app.state.settings)
    app.include_router(documents_router)
    app.include_router(document_decisions_router)
    app.include_router(files_router)
    app.include_router(reference_router)


def _install_observability_and_email_webhooks(app: FastAPI) -> None:
    """Metrics, log context and ``GET /metrics``; the Resend webhook receiver."""
    from fleetcore.core.observability import install_observability
    from fleetcore.integrations.resend.webhooks import router as resend_webhooks

    install_observability(app)
    app.include_router(resend_webhooks)
