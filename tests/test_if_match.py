"""Optimistic locking everywhere: every ``/v1`` update, delete and state transition of an
existing resource requires ``If-Match`` (``core.versioning.RequiredIfMatch``).

Both checks read ``/openapi.json``, so a route added later without ``If-Match`` fails here
unedited:

* the catalogue: every such operation declares the ``If-Match`` header ``required: true`` and
  documents its 428 — creations (``POST`` to a collection) and the few justified exceptions
  below excepted;
* the walker: signed in with every permission, each of them answers 428
  ``application/problem+json`` naming the header without ``If-Match`` (and with ``*``), before
  it reads anything — so nothing changed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_support import TenantWorld

METHODS = ("post", "put", "patch", "delete")

NOT_LOCKED: dict[tuple[str, str], str] = {
    ("PUT", "/v1/members/{member_id}/roles/{role_id}"):
        "granting a role is idempotent: the outcome does not depend on what was read",
    ("DELETE", "/v1/members/{member_id}/roles/{role_id}"):
        "revoking a role is idempotent: the outcome does not depend on what was read",
    ("POST", "/v1/jobs/{job_id}/retry"):
        "a job has no version; only a failed job is retried (409 otherwise)",
    ("POST", "/v1/drivers/{driver_id}/documents"): "creates (attaches a document)",
    ("POST", "/v1/vehicles/{vehicle_id}/odometer-readings"): "creates a reading",
    ("POST", "/v1/drivers/{driver_id}/statements/send"):
        "queues an e-mail of the statement; it changes nothing (a statement has no version)",
    ("POST", "/v1/drivers/{driver_id}/bank-accounts"):
        "creates a payout account (the previous one is closed, kept)",
    ("POST", "/v1/drivers/{driver_id}/stripe-accounts"):
        "creates a payout account (the previous one is closed, kept)",
    ("POST", "/v1/support/tickets/{ticket_id}/messages"):
        "creates a message (a reply on a ticket is added, never edited)",
    ("POST", "/v1/support/tickets/{ticket_id}/feedback"):
        "creates the ticket's feedback (once per kind: a second one is a 409)",
}
"""Non-create operations on an existing resource that take no ``If-Match``, and why. Restores
(``…/restore``) are exempt as a family: a deleted row has no readable representation (its
``GET`` is a 404), so there is no ETag to send; a restore acts only on a deleted row, under a
row lock, and a second one is a 409."""

_PARAM = re.compile(r"\{[^}]+\}")


def _locked_operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) of every operation that must require ``If-Match``."""
    for path, item in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method in METHODS:
            if method not in item:
                continue
            key = (method.upper(), path)
            # A POST to a collection (or a collection-level action: compute) creates.
            creates = method == "post" and not _PARAM.search(path)
            if creates or key in NOT_LOCKED or path.endswith("/restore"):
                continue
            yield method.upper(), path, item[method]


def _if_match(operation: dict[str, Any]) -> dict[str, Any] | None:
    for param in operation.get("parameters", []):
        if param.get("in") == "header" and param.get("name", "").lower() == "if-match":
            return param  # type: ignore[no-any-return]
    return None


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    return client.get("/openapi.json").json()  # type: ignore[no-any-return]


def test_every_update_delete_and_transition_declares_a_required_if_match(
    spec: dict[str, Any],
) -> None:
    operations = list(_locked_operations(spec))
    assert len(operations) >= 70  # the walk found the API, not an empty document
    missing = [f"{m} {p}" for m, p, op in operations
               if not (_if_match(op) or {}).get("required")]
    assert not missing, f"If-Match not required on: {missing}"
    undocumented = [f"{m} {p}" for m, p, op in operations if "428" not in op["responses"]]
    assert not undocumented, f"428 not documented on: {undocumented}"
    # Money moves through these: they are in the catalogue, not exempt by accident.
    listed = {(m, p) for m, p, _ in operations}
    for key in [("POST", "/v1/settlements/{settlement_id}/confirm"),
                ("POST", "/v1/settlements/{settlement_id}/adjustments"),
                ("POST", "/v1/revenue-imports/{import_id}/commit"),
                ("POST", "/v1/revenue-imports/{import_id}/rollback"),
                ("POST", "/v1/revenue-imports/{import_id}/validate"),
                ("DELETE", "/v1/revenue-imports/{import_id}"),
                ("PATCH", "/v1/vehicle-expenses/{expense_id}"),
                ("POST", "/v1/vehicle-assignments/{assignment_id}/end"),
                ("POST", "/v1/driver-requests/{request_id}/approve")]:
        assert key in listed, key


def test_exceptions_are_still_routes_and_creations_need_no_if_match(
    spec: dict[str, Any],
) -> None:
    for method, path in NOT_LOCKED:
        assert method.lower() in spec["paths"].get(path, {}), (method, path)
    for path, item in spec["paths"].items():
        if path.startswith("/v1/") and "post" in item and not _PARAM.search(path):
            assert _if_match(item["post"]) is None, f"POST {path} creates: no If-Match"


def _path(path: str) -> str:
    return _PARAM.sub(lambda _: str(uuid.uuid4()), path)


def _body(operation: dict[str, Any]) -> dict[str, Any] | None:
    return {} if "requestBody" in operation else None


def test_each_of_them_answers_428_without_if_match_and_changes_nothing(
    client: TestClient, spec: dict[str, Any], make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]], make_staff: Callable[..., Any],
    staff_auth: Callable[..., dict[str, str]],
) -> None:
    world = make_tenant()
    owner = auth(world, "owner")
    staff = staff_auth(make_staff(), world.slug)
    provider = staff_auth(make_staff())  # outside any tenant: Fleetcore's plans
    vehicles = client.get("/v1/vehicles", headers=owner).json()
    refused: list[str] = []
    for method, path, operation in _locked_operations(spec):
        headers = (staff if path.startswith("/v1/tenants/")
                   else provider if path.startswith("/v1/billing/plans/") else owner)
        for extra in ({}, {"If-Match": "*"}, {"If-Match": ""}):
            response = client.request(method, _path(path), json=_body(operation),
                                      headers={**headers, **extra})
            body = response.json() if response.content else {}
            if (response.status_code != 428
                    or response.headers["content-type"] != "application/problem+json"
                    or body.get("header") != "If-Match"):
                refused.append(f"{method} {path} {extra}: {response.status_code} "
                               f"{response.text[:200]}")
    assert not refused, "\n".join(refused)
    assert client.get("/v1/vehicles", headers=owner).json() == vehicles


def test_a_stale_if_match_is_still_a_412_and_the_current_one_applies(
    client: TestClient, make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]],
) -> None:
    world = make_tenant()
    owner = auth(world, "owner")
    created = client.post("/v1/car-makes", json={"name": f"Make {uuid.uuid4().hex[:6]}"},
                          headers=owner)
    assert created.status_code == 201, created.text
    url = f"/v1/car-makes/{created.json()['id']}"
    current = created.headers["etag"]
    missing = client.patch(url, json={"name": "Renamed"}, headers=owner)
    assert missing.status_code == 428, missing.text
    assert "If-Match" in missing.json()["detail"]
    changed = client.patch(url, json={"name": "Renamed"},
                           headers={**owner, "If-Match": current})
    assert changed.status_code == 200, changed.text
    stale = client.patch(url, json={"name": "Again"}, headers={**owner, "If-Match": current})
    assert stale.status_code == 412, stale.text
    assert stale.json()["current_etag"] == changed.headers["etag"]
    gone = client.delete(url, headers={**owner, "If-Match": changed.headers["etag"]})
    assert gone.status_code == 204, gone.text
