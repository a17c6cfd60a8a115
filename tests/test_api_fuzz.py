"""schemathesis over every operation of ``/openapi.json``: no server error, and every response
matches the documented schema. Requests are signed in as a tenant's owner (the broadest
tenant role), so generated data reaches the services, not only the auth layer.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api_support import TenantWorld

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 20


def test_no_server_error_and_responses_match_the_schema(
    api_app: FastAPI, make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]],
) -> None:
    world = make_tenant()
    headers = auth(world, "owner")
    schema = schemathesis.openapi.from_asgi("/openapi.json", api_app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            run()
        except BaseException as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert operations >= 20
    assert failures == [], "\n\n".join(failures)


def test_a_nul_character_is_a_422_not_a_server_error(
    client: TestClient, make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]],
) -> None:
    world = make_tenant()
    response = client.get("/v1/members", params={"email": "a\x00b"}, headers=auth(world))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_a_bad_export_filter_is_a_problem_before_the_download_starts(
    client: TestClient, make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]],
) -> None:
    world = make_tenant()
    response = client.get("/v1/drivers/export.csv", params={"q": "a\x00b"}, headers=auth(world))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
