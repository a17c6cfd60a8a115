"""Which database errors are "the database is away" (503 + Retry-After) and which are not."""

from __future__ import annotations

import psycopg
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolCheckoutTimeout

from fleetcore.core.errors import (
    PROBLEM_MEDIA_TYPE,
    ServiceUnavailable,
    database_unavailable,
    install_error_handlers,
)


def _wrapped(cls: type[Exception], orig: Exception) -> Exception:
    return cls("SELECT 1", {}, orig)


def test_connection_failures_are_503_and_constraint_errors_are_not() -> None:
    refused = psycopg.OperationalError("connection refused")
    assert isinstance(database_unavailable(_wrapped(OperationalError, refused)),
                      ServiceUnavailable)
    assert isinstance(database_unavailable(refused), ServiceUnavailable)
    assert isinstance(database_unavailable(PoolCheckoutTimeout("pool")), ServiceUnavailable)
    for other in (IntegrityError, DataError, ProgrammingError):
        assert database_unavailable(_wrapped(other, psycopg.Error("no"))) is None
    assert database_unavailable(ValueError("bug")) is None


def test_a_route_that_loses_the_database_answers_503_with_retry_after() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise _wrapped(OperationalError, psycopg.OperationalError("server closed the connection"))

    response = TestClient(app).get("/boom")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["retry-after"] == "5"
    assert response.json()["type"].endswith("/service-unavailable")
