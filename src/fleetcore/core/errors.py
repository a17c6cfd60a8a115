"""One error family for the whole API, rendered as RFC 9457 ``application/problem+json``.

Each error has a stable ``type`` URI (``https://fleetcore.dev/problems/<slug>``), a ``title``,
an HTTP ``status``, a human ``detail`` and, for validation errors, ``errors[]`` of
``{field, message}``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolCheckoutTimeout
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

PROBLEM_BASE = "https://fleetcore.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(Exception):  # noqa: N818 - it is an RFC 9457 problem, raised
    """A client-facing error; subclasses fix the status, slug and title."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, errors: list[dict[str, str]] | None = None,
                 **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The problem document."""
        doc: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            doc["instance"] = instance
        if self.errors:
            doc["errors"] = self.errors
        doc.update(self.extensions)
        return doc


class ValidationProblem(Problem):
    status, slug, title = 422, "validation-error", "The request is not valid"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(Problem):
    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(Problem):
    status, slug, title = 412, "precondition-failed", "The resource has changed"


class PreconditionRequired(Problem):
    """A state-changing request that must name the version it was made against (If-Match)."""

    status, slug, title = 428, "precondition-required", "If-Match required"


class PayloadTooLarge(Problem):
    status, slug, title = 413, "payload-too-large", "The request body is too large"


class Unauthorized(Problem):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "Not allowed"


class ServiceUnavailable(Problem):
    """A passing condition (the database is away or restarting): the client should retry
    after ``retry_after`` seconds, sent as the ``Retry-After`` header."""

    status, slug, title = 503, "service-unavailable", "Service unavailable"
    retry_after: int = 5


# --- the database went away → 503 ------------------------------------------------------------

DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OperationalError,  # connection refused/closed, server shutting down, timeouts, deadlocks
    InterfaceError,  # the driver's connection object is closed
    DisconnectionError,  # the pool's liveness check gave up on a connection
    PoolCheckoutTimeout,  # every pooled connection busy (or hanging) past pool_timeout
    psycopg.OperationalError,  # the same, raised by psycopg outside SQLAlchemy
    psycopg.InterfaceError,
    PoolTimeout,  # psycopg_pool (the job queue's connector)
)
"""Failures that say nothing about the request and pass when the database is back; integrity,
data and programming errors are not among them."""


def database_unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 problem ``exc`` is reported as when it means "the database is not there right
    now"; None for any other error (a constraint, a bad value, a bug)."""
    if isinstance(exc, DATABASE_UNAVAILABLE) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return ServiceUnavailable(
            "The database is unavailable (restarting or unreachable). Try again shortly."
        )
    return None


# --- database constraints → problems ---------------------------------------------------------

UNIQUE_VIOLATION = "23505"
EXCLUSION_VIOLATION = "23P01"
FOREIGN_KEY_VIOLATION = "23503"
CHECK_VIOLATION = "23514"
NOT_NULL_VIOLATION = "23502"


@dataclass(frozen=True, slots=True)
class ConstraintProblem:
    """How a service reports one violated constraint: the problem class, the request field it
    names and the message (the same text goes in ``detail`` and in ``errors[]``)."""

    field: str
    message: str
    problem: type[Problem] = Conflict
    extensions: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def build(self) -> Problem:
        """The problem to raise."""
        return self.problem(self.message, errors=[{"field": self.field, "message": self.message}],
                            **self.extensions)


def _constraint_of(exc: IntegrityError) -> tuple[str | None, str]:
    """The SQLSTATE and constraint name PostgreSQL reported (psycopg's diagnostics)."""
    orig = exc.orig
    state = getattr(orig, "sqlstate", None)
    name = getattr(getattr(orig, "diag", None), "constraint_name", None)
    return state, name or ""


def constraint_problem(
    exc: IntegrityError, known: Mapping[str, ConstraintProblem] | None = None
) -> Problem | None:
    """The problem a constraint violation is reported as; None for any other integrity error.

    ``known`` maps a constraint name to how the service reports it: the exact name first, then
    a key contained in the name (``"dedup_key"`` matches ``uq_sch_tasks_…_dedup_key_live``),
    then the SQLSTATE (``UNIQUE_VIOLATION``…) for a whole kind. Any other violation gets the
    default of its kind, naming the constraint: unique and exclusion → 409, foreign key,
    check and not-null → 422 (a client sent a value the schema refuses). Services check their
    rules before writing; this is the backstop for a race or a rule only the database knows,
    so that it is a clear problem, never a 500.
    """
    state, name = _constraint_of(exc)
    rules = known or {}
    rule = rules.get(name) if name else None
    if rule is None and name:
        rule = next((r for key, r in rules.items() if key and key in name), None)
    if rule is None and state is not None:
        rule = rules.get(state)
    if rule is not None:
        return rule.build()
    label = name or "of the table"
    if state == UNIQUE_VIOLATION:
        return Conflict(f"Another row already has these values ({label}).",
                        errors=[{"field": name, "message": "already in use"}])
    if state == EXCLUSION_VIOLATION:
        return Conflict(f"The period overlaps another one ({label}).",
                        errors=[{"field": name, "message": "overlaps another period"}])
    if state == FOREIGN_KEY_VIOLATION:
        return ValidationProblem("A referenced row does not exist.",
                                 errors=[{"field": name, "message": "not found"}])
    if state in (CHECK_VIOLATION, NOT_NULL_VIOLATION):
        return ValidationProblem(f"The values break the rule {label}.",
                                 errors=[{"field": name, "message": "invalid"}])
    return None


def flush_checked(session: Session, known: Mapping[str, ConstraintProblem] | None = None) -> None:
    """Flush ``session`` in a savepoint; a constraint violation becomes its problem
    (:func:`constraint_problem`) and the transaction stays usable."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        problem = constraint_problem(exc, known)
        if problem is None:
            raise
        raise problem from exc


def problem_response(problem: Problem, request: Request) -> JSONResponse:
    """Render ``problem`` for ``request``."""
    headers: dict[str, str] | None = None
    if problem.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(problem, ServiceUnavailable):
        headers = {"Retry-After": str(problem.retry_after)}
    return JSONResponse(
        problem.body(instance=request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


OUTAGE_LOG_INTERVAL = 10.0
"""Seconds between two log lines about requests answered 503 for want of a database."""


class _ThrottledLog:
    """A warning at most once per ``interval`` seconds, saying how many it left out."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._last = -interval
        self._left_out = 0
        self._lock = threading.Lock()

    def warning(self, message: str, *args: object) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self._interval:
                self._left_out += 1
                return
            left_out, self._left_out, self._last = self._left_out, 0, now
        if left_out:
            message += f" (and {left_out} more since the previous report)"
        logger.warning(message, *args)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:] or parts
    return ".".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error the API can raise as problem+json."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_path(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
            for e in exc.errors()
        ]
        fields = ", ".join(sorted({e["field"] for e in errors})) or "the request"
        problem = ValidationProblem(f"Invalid value for {fields}.", errors=errors)
        return problem_response(problem, request)

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        # Values PostgreSQL cannot hold (a NUL character, an out-of-range number) that no
        # schema rule caught: the client's input, so 422, never a 500.
        problem = ValidationProblem(
            "A value in the request cannot be stored (for example a NUL character or a number "
            "out of range)."
        )
        return problem_response(problem, request)

    @app.exception_handler(IntegrityError)
    async def _integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
        # Services turn the constraints they know into specific problems; this is the safety
        # net for any other, reported without internals (constraint names stay in the logs).
        problem = Conflict("The change conflicts with existing data.")
        return problem_response(problem, request)

    outage_log = _ThrottledLog(OUTAGE_LOG_INTERVAL)

    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # An outage is an operations event (the /readyz probe reports it), not a bug: a
        # WARNING without a traceback, at most one every OUTAGE_LOG_INTERVAL seconds.
        problem = database_unavailable(exc) or ServiceUnavailable("Service unavailable.")
        outage_log.warning("database unavailable on %s %s: %s", request.method,
                           request.url.path, f"{type(exc).__name__}: {exc}"[:300])
        return problem_response(problem, request)

    for exc_class in DATABASE_UNAVAILABLE:
        app.add_exception_handler(exc_class, _database_unavailable)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        problem = Problem(str(exc.detail))
        problem.status = exc.status_code
        slugs = {404: "not-found", 405: "method-not-allowed"}
        problem.slug = slugs.get(exc.status_code, "http-error")
        problem.title = str(exc.detail)
        return problem_response(problem, request)
