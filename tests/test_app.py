"""The HTTP application: health, readiness, OpenAPI, docs, request ids, problem details."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fleetcore.app import create_app
from fleetcore.core.db import UnsafeDatabaseRole, check_app_role
from fleetcore.core.migrations import head_revision
from fleetcore.settings import Settings


@pytest.fixture
def client(app_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(fleetcore_env="test"), app_engine)) as test_client:
        yield test_client


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "revision": head_revision()}


def test_readyz_probes_are_quiet(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    client.get("/readyz")  # the first request may warm things up
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            assert client.get("/readyz").status_code == 200
    chatter = [r for r in caplog.records if r.name.startswith("alembic")
               or (r.levelno >= logging.INFO and not r.name.startswith("httpx"))]
    assert chatter == []


def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    from fleetcore.core.db import make_engine

    engine = make_engine("postgresql+psycopg://nobody@/nowhere?host=/nonexistent-socket-dir")
    with TestClient(create_app(Settings(fleetcore_env="test"), engine)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    assert int(response.headers["retry-after"]) > 0


def test_openapi_and_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert {"/healthz", "/readyz"} <= set(spec["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    echoed = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert made.headers["x-request-id"] not in ("", "bad id with spaces")


def test_unknown_path_is_a_problem_document(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "https://fleetcore.dev/problems/not-found"
    assert body["status"] == 404
    assert body["instance"] == "/v1/nothing-here"


def test_the_app_refuses_a_role_that_owns_the_tables(owner_engine: Engine) -> None:
    with pytest.raises(UnsafeDatabaseRole, match="owns"):
        check_app_role(owner_engine)


def test_the_root_leads_to_the_console_and_there_is_a_favicon(client: TestClient) -> None:
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 307
    assert root.headers["location"] == "/app"
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in icon.content
    page = client.get("/app/sign-in")
    assert 'rel="icon" href="/app/static/favicon.svg' in page.text
