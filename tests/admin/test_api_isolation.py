"""Every ``/v1`` operation, read from ``/openapi.json`` (new endpoints are covered unedited):

* without a token it answers 401 (except the explicit public allowlist);
* signed in to tenant B, every operation with an id parameter answers 404 for tenant A's ids
  (alone, or mixed with B's own ids: a foreign reference), and tenant A's data is unchanged;
* no list answers with any of A's ids.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from api_support import TenantWorld
from fleetcore.core.db import DbContext, context_session
from fleetcore.core.orm import new_id

PUBLIC_V1: set[tuple[str, str]] = set()
"""(method, path) of /v1 operations that need no token. Keep it short and justified."""

METHODS = ("get", "post", "put", "patch", "delete")

MAY_BE_ABSENT = {"/v1/billing/subscription"}
"""Id-less GETs of a single resource the walker's fleet does not have yet (404 "no current
subscription"): still checked for the other fleet's ids in the body."""

STAFF_ONLY = ("/v1/crm/",)
"""Fleetcore's own data (the sales pipeline): a fleet's member holds no permission for it
(provider-only), so its lists answer 403, and still show nothing of the other fleet."""


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        if not path.startswith("/v1/") and path != "/v1":
            continue
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _example(spec: dict[str, Any], schema: dict[str, Any], foreign: uuid.UUID) -> Any:
    """A minimal valid value of ``schema``; ids point into the other tenant."""
    schema = _resolve(spec, schema)
    for key in ("examples",):
        if schema.get(key):
            return schema[key][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(spec, s).get("type") != "null"]
            return _example(spec, options[0], foreign) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    fmt = schema.get("format")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: _example(spec, props[name], foreign) for name in schema.get("required", [])}
    if kind == "array":
        return []
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if fmt == "uuid":
        return str(foreign)
    if fmt == "email":
        return f"walker-{uuid.uuid4().hex[:8]}@example.com"
    if fmt == "date-time":
        return datetime.now(UTC).isoformat()
    if fmt == "date":
        return datetime.now(UTC).date().isoformat()
    return "walker"


def _body(spec: dict[str, Any], operation: dict[str, Any], foreign: uuid.UUID) -> Any:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    return _example(spec, content["application/json"]["schema"], foreign)


def _ids(world: TenantWorld) -> dict[str, uuid.UUID]:
    return {"member_id": world.person("viewer").member_id,
            "role_id": world.roles["viewer"], "tenant_id": world.id}


def _path_params(path: str) -> list[str]:
    return re.findall(r"{([^}]+)}", path)


def _integer_params(operation: dict[str, Any]) -> set[str]:
    """Path parameters that are integers (queue job ids) rather than uuids."""
    return {
        p["name"] for p in operation.get("parameters", [])
        if p.get("in") == "path" and p.get("schema", {}).get("type") == "integer"
    }


def _fingerprint(read: Callable[..., list[Any]], tenant: uuid.UUID) -> dict[str, str]:
    tables = [r[0] for r in read(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND column_name = 'tenant_id' AND table_name NOT LIKE 'procrastinate%'"
        " ORDER BY table_name")]
    prints = {}
    for table in tables:
        prints[table] = read(
            f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
            " WHERE tenant_id = :t", t=tenant)[0][0]
    prints["adm_tenants"] = read("SELECT md5(t::text) FROM adm_tenants t WHERE id = :t",
                                 t=tenant)[0][0]
    return prints


def test_every_v1_operation_requires_a_token(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    checked = 0
    for method, path, operation in _operations(spec):
        if (method, path) in PUBLIC_V1:
            continue
        url = path
        for name in _path_params(path):
            url = url.replace("{" + name + "}", str(uuid.uuid4()))
        response = client.request(method.upper(), url,
                                  json=_body(spec, operation, uuid.uuid4()))
        assert response.status_code == 401, (method, path, response.status_code, response.text)
        checked += 1
    assert checked >= 15


def test_another_tenants_ids_are_404_everywhere_and_change_nothing(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld,
    auth: Callable[..., dict[str, str]], read_system: Callable[..., list[Any]],
    make_failed_job: Callable[[uuid.UUID], int],
) -> None:
    spec = client.get("/openapi.json").json()
    foreign, own = _ids(tenant_a), _ids(tenant_b)
    foreign_job, own_job = make_failed_job(tenant_a.id), make_failed_job(tenant_b.id)
    fallback_foreign = tenant_a.person("owner").member_id
    headers = auth(tenant_b, "owner")
    before = _fingerprint(read_system, tenant_a.id)
    tried = 0
    for method, path, operation in _operations(spec):
        params = _path_params(path)
        if not params:
            continue
        # Every id foreign, then each mix where at least one id is foreign.
        for choice in itertools.product((True, False), repeat=len(params)):
            if not any(choice):
                continue
            url = path
            integers = _integer_params(operation)
            for name, use_foreign in zip(params, choice, strict=True):
                value: object = (foreign if use_foreign else own).get(
                    name, fallback_foreign if use_foreign else tenant_b.person().member_id)
                if name in integers:
                    value = foreign_job if use_foreign else own_job
                url = url.replace("{" + name + "}", str(value))
            # A version is named (If-Match is required on changes): still a 404.
            response = client.request(method.upper(), url,
                                      headers={**headers, "If-Match": '"1"'},
                                      json=_body(spec, operation, tenant_a.id))
            assert response.status_code == 404, (method, url, response.status_code,
                                                 response.text)
            tried += 1
    assert tried >= 14
    assert _fingerprint(read_system, tenant_a.id) == before
    job_status = read_system("SELECT status::text FROM procrastinate_jobs WHERE id = :j",
                             j=foreign_job)
    assert job_status[0][0] == "failed"


def test_no_list_shows_another_tenants_rows(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld,
    auth: Callable[..., dict[str, str]],
) -> None:
    spec = client.get("/openapi.json").json()
    secrets = {str(tenant_a.id), *(str(p.member_id) for p in tenant_a.people.values()),
               *(str(r) for r in tenant_a.roles.values()), tenant_a.slug}
    listed = 0
    for method, path, _operation in _operations(spec):
        if method != "get" or _path_params(path):
            continue
        response = client.get(path, params={"limit": 200}, headers=auth(tenant_b, "owner"))
        expected = (404 if path in MAY_BE_ABSENT
                    else 403 if path.startswith(STAFF_ONLY) else 200)
        assert response.status_code == expected, (path, response.text)
        assert not [s for s in secrets if s in response.text], path
        listed += 1
    assert listed >= 5


def test_a_driver_member_reaches_no_other_drivers_rows_through_v1(
    client: TestClient, tenant_b: TenantWorld, auth: Callable[..., dict[str, str]],
    read_system: Callable[..., list[Any]], sessions: Any,
) -> None:
    """The walker again, signed in as a driver member of the same tenant, against another
    driver's ids: every operation refuses (403: the driver role holds only ``portal:*``; 404
    where a route reads first), nothing changes, and no list shows the other driver."""
    mine, other = new_id(), new_id()
    with context_session(sessions, DbContext.for_tenant(tenant_b.id)) as session:
        for driver, member in ((mine, tenant_b.person("driver").member_id), (other, None)):
            session.execute(text(
                "INSERT INTO rid_drivers (id, tenant_id, first_name, last_name, member_id)"
                " VALUES (:id, :t, 'Walker', 'Driver', :m)"),
                {"id": driver, "t": tenant_b.id, "m": member})
        session.execute(text(
            "INSERT INTO rid_driver_requests (id, tenant_id, driver_id, request_type, reason)"
            " VALUES (:id, :t, :d, 'other', 'not yours')"),
            {"id": new_id(), "t": tenant_b.id, "d": other})
    spec = client.get("/openapi.json").json()
    headers = auth(tenant_b, "driver")
    others = {"driver_id": other, "member_id": tenant_b.person("owner").member_id,
              "role_id": tenant_b.roles["owner"], "tenant_id": tenant_b.id}
    before = _fingerprint(read_system, tenant_b.id)
    tried = 0
    for method, path, operation in _operations(spec):
        params = _path_params(path)
        if not params:
            if method == "get":
                listed = client.get(path, params={"limit": 200}, headers=headers)
                assert listed.status_code in (200, 403), (path, listed.status_code)
                assert str(other) not in listed.text, path
            continue
        url = path
        for name in params:
            value: object = 1 if name in _integer_params(operation) else others.get(name, other)
            url = url.replace("{" + name + "}", str(value))
        response = client.request(method.upper(), url, headers={**headers, "If-Match": '"1"'},
                                  json=_body(spec, operation, other))
        assert response.status_code in (403, 404), (method, url, response.status_code,
                                                     response.text)
        tried += 1
    assert tried >= 14
    after = _fingerprint(read_system, tenant_b.id)
    assert {t for t in before if before[t] != after[t]} == set()
