"""schemathesis over the ``/v1/crm`` operations signed in as Fleetcore staff (the repository's
fuzz test signs in as a fleet's owner, who is refused before any CRM service runs): generated
data reaches the CRM services, and nothing answers a server error or off its schema."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api_support import Staff

pytestmark = pytest.mark.slow


def test_crm_as_staff_no_server_error_and_responses_match_the_schema(
    api_app: FastAPI, make_staff: Callable[..., Staff],
    staff_auth: Callable[..., dict[str, str]],
) -> None:
    headers = staff_auth(make_staff())
    schema = schemathesis.openapi.from_asgi("/openapi.json", api_app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/v1/crm/"):
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, response_schema_conformance])

        try:
            run()
        except BaseException as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert operations >= 19
    assert failures == [], "\n\n".join(failures)
