"""Observability: structured JSON logs, Prometheus metrics and Sentry, with PII scrubbed.

One request or job sets its context once (:func:`bind_log_context`): the request id, tenant
and actor then appear on every log line it writes and as tags on its Sentry events. Personal
data (e-mail addresses, IBANs, bearer tokens and JWTs, phone numbers) is removed from log
messages and from everything a Sentry event carries before it leaves the process.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sentry_sdk
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as _generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# -- metrics -------------------------------------------------------------------------------

REGISTRY = CollectorRegistry(auto_describe=True)
"""Fleetcore's own registry (not the global default), so tests and reloads never collide."""

HTTP_REQUEST_SECONDS = Histogram(
    "fleetcore_http_request_duration_seconds",
    "HTTP request latency by route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
JOBS_TOTAL = Counter(
    "fleetcore_jobs_total",
    "Background jobs run, by task and outcome (succeeded, failed, retry).",
    ["task", "outcome"],
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "fleetcore_job_duration_seconds", "Background job duration by task.", ["task"],
    registry=REGISTRY,
)
IMPORT_ROWS_TOTAL = Counter(
    "fleetcore_import_rows_total",
    "Platform report rows imported, by platform and outcome (accepted, rejected).",
    ["platform", "outcome"],
    registry=REGISTRY,
)
EMAILS_TOTAL = Counter(
    "fleetcore_emails_total",
    "E-mails handed to the provider, by outcome (sent, suppressed, rate_limited, failed).",
    ["outcome"],
    registry=REGISTRY,
)


def metrics_text() -> bytes:
    """The registry in the Prometheus text exposition format."""
    return _generate_latest(REGISTRY)


# -- context -------------------------------------------------------------------------------

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_tenant_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("tenant_id", default=None)
_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("actor", default=None)


def bind_log_context(
    *, request_id: str | None = None, tenant_id: object | None = None, actor: str | None = None
) -> None:
    """Attach request id, tenant and actor to this request's or job's logs and Sentry events.

    Only the values given are changed (the auth dependency adds tenant and actor after the
    middleware set the request id).
    """
    scope = sentry_sdk.get_isolation_scope()
    if request_id is not None:
        _request_id.set(request_id)
        scope.set_tag("request_id", request_id)
    if tenant_id is not None:
        _tenant_id.set(str(tenant_id))
        scope.set_tag("tenant_id", str(tenant_id))
    if actor is not None:
        _actor.set(actor)
        scope.set_tag("actor", actor)


@contextmanager
def log_context(
    *, request_id: str | None = None, tenant_id: object | None = None, actor: str | None = None
) -> Iterator[None]:
    """:func:`bind_log_context` for a block, restored afterwards (jobs on a worker thread)."""
    tokens = (_request_id.set(_request_id.get()), _tenant_id.set(_tenant_id.get()),
              _actor.set(_actor.get()))
    with sentry_sdk.isolation_scope():
        bind_log_context(request_id=request_id, tenant_id=tenant_id, actor=actor)
        try:
            yield
        finally:
            _request_id.reset(tokens[0])
            _tenant_id.reset(tokens[1])
            _actor.reset(tokens[2])


# -- scrubbing -----------------------------------------------------------------------------

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_IBAN = re.compile(r"\b[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_API_KEY = re.compile(r"\b(?:re|sk|pk|rk|whsec)_[A-Za-z0-9_]{8,}")
# International numbers (+33 6 12 34 56 78, +447700900123) and French/UK national forms.
_PHONE = re.compile(
    r"(?<![\w+])\+[1-9][0-9 ().-]{6,18}[0-9]"
    r"|(?<![\w.])0[1-9](?:[ .-]?[0-9]{2}){4}(?![\w.])"
    r"|(?<![\w.])07[0-9]{3}[ ]?[0-9]{6}(?![\w.])"
)
_SENSITIVE_KEYS = frozenset(
    {"authorization", "cookie", "cookies", "set-cookie", "x-api-key", "password", "secret",
     "token", "iban", "email", "phone"}
)
FILTERED = "[Filtered]"


def scrub_text(value: str) -> str:
    """``value`` with e-mail addresses, IBANs, tokens and phone numbers replaced."""
    value = _BEARER.sub("Bearer " + FILTERED, value)
    value = _JWT.sub(FILTERED, value)
    value = _API_KEY.sub(FILTERED, value)
    value = _EMAIL.sub(FILTERED, value)
    value = _IBAN.sub(FILTERED, value)
    return _PHONE.sub(FILTERED, value)


def scrub(value: Any) -> Any:
    """A deep copy of ``value`` with every string scrubbed and sensitive keys filtered."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {
            k: (FILTERED if isinstance(k, str) and k.lower() in _SENSITIVE_KEYS and v else scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


# Keys of a Sentry event that hold no user data and must keep their exact values.
_EVENT_KEYS_KEPT = frozenset(
    {"event_id", "timestamp", "start_timestamp", "level", "platform", "release", "environment",
     "sdk", "modules", "server_name", "transaction_info", "type"}
)


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    """Sentry ``before_send``: scrub messages, exception values, request data, breadcrumbs."""
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {k: v for k, v in user.items() if k in ("id",)}
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                k: (FILTERED if k.lower() in _SENSITIVE_KEYS else v) for k, v in headers.items()
            }
    return {k: (v if k in _EVENT_KEYS_KEPT else scrub(v)) for k, v in event.items()}


def init_sentry(
    dsn: str | None,
    *,
    environment: str,
    release: str,
    transport: Any = None,
    traces_sample_rate: float = 0.0,
) -> bool:
    """Start Sentry when a DSN (or a test transport) is given; returns whether it is on."""
    if not dsn and transport is None:
        return False
    from sentry_sdk.integrations.fastapi import FastApiIntegration
    from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration
    from sentry_sdk.integrations.starlette import StarletteIntegration

    sentry_sdk.init(
        dsn=dsn,
        transport=transport,
        environment=environment,
        release=release,
        traces_sample_rate=traces_sample_rate,
        before_send=before_send,  # type: ignore[arg-type]
        before_breadcrumb=lambda crumb, _hint: scrub(crumb),
        # sentry-sdk 3 names a transaction by its route template ("/v1/vehicles/{id}"): no ids
        # or other personal values reach the transaction name.
        integrations=[StarletteIntegration(), FastApiIntegration(), SqlalchemyIntegration()],
    )
    return True


# -- logs ----------------------------------------------------------------------------------

_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message",
                                                                                  "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, tenant, actor, extras."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub_text(record.getMessage()),
        }
        for key, var in (("request_id", _request_id), ("tenant_id", _tenant_id),
                         ("actor", _actor)):
            value = var.get()
            if value is not None:
                doc[key] = value
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_") and key not in doc:
                doc[key] = scrub(value) if isinstance(value, str | dict | list) else value
        if record.exc_info:
            doc["exception"] = scrub_text(self.formatException(record.exc_info))
        return json.dumps(doc, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    """Send every log record to stderr as one JSON line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # procrastinate logs every job start and end at INFO: keep that for DEBUG.
    if root.level > logging.DEBUG:
        logging.getLogger("procrastinate").setLevel(max(root.level, logging.WARNING))


# -- HTTP ----------------------------------------------------------------------------------


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestObserver:
    """Per request: its id (the caller's ``X-Request-Id`` when well formed, else a new one),
    echoed in the response and set on ``request.state`` and the log context; and its latency
    by method, route template and status in :data:`HTTP_REQUEST_SECONDS`.

    Pure ASGI: no task, body stream or Request object per request, as Starlette's
    ``@app.middleware("http")`` would cost (issue: reads at a fraction of bare Starlette).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        bind_log_context(request_id=rid)
        header = (b"x-request-id", rid.encode())
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", None)
            # Unmatched paths are one label value: raw paths would explode the series count.
            HTTP_REQUEST_SECONDS.labels(
                scope["method"], str(route) if route else "<unmatched>", str(status)
            ).observe(time.perf_counter() - started)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def install_observability(app: FastAPI) -> None:
    """Request ids, metrics and log context (:class:`RequestObserver`), and ``GET /metrics``."""
    app.add_middleware(RequestObserver)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics (no tenant data)",
             include_in_schema=False)
    def metrics() -> Response:
        return Response(metrics_text(), media_type=CONTENT_TYPE_LATEST)
