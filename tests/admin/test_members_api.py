"""Members, roles and the audit log over HTTP: validation, ETags, permissions, audit rows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_support import TenantWorld, if_match

Auth = Callable[..., dict[str, str]]


def test_invite_validates_and_names_the_field(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    bad_email = client.post("/v1/members", headers=auth(tenant_a), json={"email": "nope"})
    assert bad_email.status_code == 422
    assert [e["field"] for e in bad_email.json()["errors"]] == ["email"]
    bad_phone = client.post("/v1/members", headers=auth(tenant_a),
                            json={"email": "p@example.com", "phone": "12"})
    assert bad_phone.status_code == 422
    assert bad_phone.json()["errors"][0]["field"] == "phone"
    unknown = client.post("/v1/members", headers=auth(tenant_a),
                          json={"email": "p@example.com", "colour": "red"})
    assert unknown.status_code == 422


def test_invite_get_patch_with_etags(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    created = client.post("/v1/members", headers=auth(tenant_a, "admin"), json={
        "email": "Nadia@Example.com", "first_name": "Nadia", "phone": "+33 6 12 34 56 78",
        "role_ids": [str(tenant_a.roles["dispatcher"])],
    })
    assert created.status_code == 201, created.text
    member = created.json()
    assert member["status"] == "invited"
    assert member["phone"] == "+33612345678"
    assert [r["name"] for r in member["roles"]] == ["dispatcher"]
    assert created.headers["location"] == f"/v1/members/{member['id']}"

    duplicate = client.post("/v1/members", headers=auth(tenant_a),
                            json={"email": "nadia@example.com"})
    assert duplicate.status_code == 409

    read = client.get(f"/v1/members/{member['id']}", headers=auth(tenant_a))
    etag = read.headers["etag"]
    assert etag == '"1"'
    updated = client.patch(f"/v1/members/{member['id']}", json={"last_name": "Haddad"},
                           headers={**auth(tenant_a), "If-Match": etag})
    assert updated.status_code == 200, updated.text
    assert updated.json()["last_name"] == "Haddad"
    assert updated.headers["etag"] == '"2"'
    stale = client.patch(f"/v1/members/{member['id']}", json={"last_name": "Other"},
                         headers={**auth(tenant_a), "If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["type"].endswith("/precondition-failed")
    again = client.get(f"/v1/members/{member['id']}", headers=auth(tenant_a)).json()
    assert again["last_name"] == "Haddad"


def test_list_members_paginates_and_filters(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/members", params=params, headers=auth(tenant_a)).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == len(tenant_a.people)
    assert seen == sorted(seen)
    finance = client.get("/v1/members", params={"role_id": str(tenant_a.roles["finance"])},
                         headers=auth(tenant_a)).json()["items"]
    assert [m["id"] for m in finance] == [str(tenant_a.person("finance").member_id)]
    by_email = client.get("/v1/members", params={"email": tenant_a.person("viewer").email.upper()},
                          headers=auth(tenant_a)).json()["items"]
    assert len(by_email) == 1
    bad = client.get("/v1/members", params={"cursor": "garbage!"}, headers=auth(tenant_a))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cursor"
    assert client.get("/v1/members", params={"status": "nope"},
                      headers=auth(tenant_a)).status_code == 422


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        ("viewer", "post", "/v1/members", {"email": "x1@example.com"}),
        ("dispatcher", "post", "/v1/roles", {"name": "x"}),
        ("fleet_manager", "get", "/v1/audit-logs", None),
        ("driver", "get", "/v1/members", None),
        ("finance", "post", "/v1/members", {"email": "x2@example.com"}),
        ("viewer", "post", "/v1/tenants", {"name": "x"}),
    ],
)
def test_roles_lacking_the_permission_get_403_and_nothing_changes(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, read_system: Callable[..., list[Any]],
    role: str, method: str, path: str, body: dict[str, Any] | None,
) -> None:
    before = read_system("SELECT count(*) FROM adm_audit_logs WHERE tenant_id = :t", t=tenant_a.id)
    response = client.request(method.upper(), path, json=body, headers=auth(tenant_a, role))
    assert response.status_code == 403, response.text
    assert response.json()["type"].endswith("/permission-denied")
    after = read_system("SELECT count(*) FROM adm_audit_logs WHERE tenant_id = :t", t=tenant_a.id)
    assert before == after


def test_member_actions_on_an_unknown_id_are_404(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    unknown = uuid.uuid4()
    assert client.get(f"/v1/members/{unknown}", headers=auth(tenant_a)).status_code == 404
    assert client.post(f"/v1/members/{unknown}/suspend", headers=if_match(
        client, f"/v1/members/{unknown}/suspend", auth(tenant_a))).status_code == 404
    assert client.get("/v1/members/not-a-uuid", headers=auth(tenant_a)).status_code == 422


def test_role_grants_and_escalation(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, read_system: Callable[..., list[Any]],
) -> None:
    viewer = tenant_a.person("viewer")
    grant = client.put(f"/v1/members/{viewer.member_id}/roles/{tenant_a.roles['finance']}",
                       headers=auth(tenant_a, "admin"))
    assert grant.status_code == 200, grant.text
    assert grant.json()["granted_by"] == str(tenant_a.person("admin").member_id)
    roles = client.get(f"/v1/members/{viewer.member_id}/roles", headers=auth(tenant_a)).json()
    assert {r["name"] for r in roles} == {"viewer", "finance"}
    # The change is local from now on: Clerk's organisation role no longer overrides it.
    flag = read_system("SELECT metadata #>> '{clerk,roles_managed_locally}' FROM adm_members"
                       " WHERE tenant_id = :t AND id = :id", t=tenant_a.id, id=viewer.member_id)
    assert flag[0][0] == "true"
    # An admin cannot hand out the owner role (it holds billing:write, which admins do not).
    escalate = client.put(f"/v1/members/{viewer.member_id}/roles/{tenant_a.roles['owner']}",
                          headers=auth(tenant_a, "admin"))
    assert escalate.status_code == 403
    revoke = client.delete(f"/v1/members/{viewer.member_id}/roles/{tenant_a.roles['finance']}",
                           headers=if_match(
                               client,
                               f"/v1/members/{viewer.member_id}/roles/{tenant_a.roles['finance']}",
                               auth(tenant_a, "admin")))
    assert revoke.status_code == 204
    owner = tenant_a.person("owner")
    last_owner = client.delete(f"/v1/members/{owner.member_id}/roles/{tenant_a.roles['owner']}",
                               headers=if_match(
                                   client,
                                   f"/v1/members/{owner.member_id}/roles/{tenant_a.roles['owner']}",
                                   auth(tenant_a)))
    assert last_owner.status_code == 409
    assert client.post(f"/v1/members/{owner.member_id}/suspend",
                       headers=if_match(
                           client,
                           f"/v1/members/{owner.member_id}/suspend",
                           auth(tenant_a))).status_code == 409


def test_custom_roles_crud_and_system_roles_are_fixed(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    roles = client.get("/v1/roles", params={"limit": 200}, headers=auth(tenant_a)).json()["items"]
    assert {r["name"] for r in roles if r["is_system"]} == set(tenant_a.roles)
    unknown = client.post("/v1/roles", headers=auth(tenant_a),
                          json={"name": "Odd", "permissions": ["vehicles:fly"]})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "permissions"
    staff_only = client.post("/v1/roles", headers=auth(tenant_a),
                             json={"name": "Odd", "permissions": ["provider_tenants:write"]})
    assert staff_only.status_code == 422
    created = client.post("/v1/roles", headers=auth(tenant_a), json={
        "name": "Night desk", "permissions": ["shifts:read", "shifts:write"]})
    assert created.status_code == 201, created.text
    role = created.json()
    same_name = client.post("/v1/roles", headers=auth(tenant_a), json={"name": "night DESK"})
    assert same_name.status_code == 409
    renamed = client.patch(f"/v1/roles/{role['id']}", json={"name": "Night shift"},
                           headers={**auth(tenant_a), "If-Match": created.headers["etag"]})
    assert renamed.status_code == 200
    assert renamed.json()["version"] == 2
    system = tenant_a.roles["viewer"]
    assert client.delete(f"/v1/roles/{system}", headers=if_match(
        client, f"/v1/roles/{system}", auth(tenant_a))).status_code == 409
    assert client.patch(f"/v1/roles/{system}", json={"permissions": []},
                        headers=if_match(
                            client, f"/v1/roles/{system}", auth(tenant_a))).status_code == 409
    member = tenant_a.person("viewer").member_id
    client.put(f"/v1/members/{member}/roles/{role['id']}", headers=auth(tenant_a))
    assert client.delete(f"/v1/roles/{role['id']}", headers=if_match(
        client, f"/v1/roles/{role['id']}", auth(tenant_a))).status_code == 409
    client.delete(f"/v1/members/{member}/roles/{role['id']}", headers=if_match(
        client, f"/v1/members/{member}/roles/{role['id']}", auth(tenant_a)))
    assert client.delete(f"/v1/roles/{role['id']}", headers=if_match(
        client, f"/v1/roles/{role['id']}", auth(tenant_a))).status_code == 204
    assert client.get(f"/v1/roles/{role['id']}", headers=auth(tenant_a)).status_code == 404


def test_audit_log_records_the_request_and_filters(
    client: TestClient, tenant_a: TenantWorld, auth: Auth
) -> None:
    member = tenant_a.person("dispatcher").member_id
    changed = client.patch(f"/v1/members/{member}", json={"first_name": "Dina"},
                           headers=if_match(
                               client,
                               f"/v1/members/{member}",
                               {**auth(tenant_a, "admin"), "X-Request-Id": "req-audit-1",
                                    "User-Agent": "audit-test/1.0"}))
    assert changed.status_code == 200
    rows = client.get("/v1/audit-logs", params={"entity_id": str(member), "action": "update"},
                      headers=auth(tenant_a)).json()["items"]
    assert len(rows) == 1
    row = rows[0]
    assert row["actor_type"] == "member"
    assert row["actor_id"] == str(tenant_a.person("admin").member_id)
    assert row["entity_type"] == "adm_members"
    assert row["request_id"] == "req-audit-1"
    assert row["user_agent"] == "audit-test/1.0"
    assert row["changes"]["first_name"] == {"before": "Dispatcher", "after": "Dina"}

    everything = client.get("/v1/audit-logs", params={"limit": 2}, headers=auth(tenant_a)).json()
    assert len(everything["items"]) == 2
    assert everything["next_cursor"]
    times = [r["occurred_at"] for r in everything["items"]]
    assert times == sorted(times, reverse=True)
    later = client.get("/v1/audit-logs", params={"since": "2999-01-01T00:00:00Z"},
                       headers=auth(tenant_a)).json()
    assert later["items"] == []
    by_actor = client.get("/v1/audit-logs", params={
        "actor_id": str(tenant_a.person("admin").member_id), "entity_type": "adm_members"},
        headers=auth(tenant_a)).json()["items"]
    assert {r["entity_id"] for r in by_actor} == {str(member)}


def test_audit_rows_cannot_be_altered_by_the_app_role(
    tenant_a: TenantWorld, sessions: Any
) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from fleetcore.core.db import DbContext, context_session

    for statement in ("UPDATE adm_audit_logs SET action = 'forged' WHERE tenant_id = :t",
                      "DELETE FROM adm_audit_logs WHERE tenant_id = :t",
                      "UPDATE adm_tenant_lifecycle_events SET reason = 'x' WHERE tenant_id = :t"):
        with pytest.raises(DBAPIError), context_session(
            sessions, DbContext.for_tenant(tenant_a.id)
        ) as session:
            session.execute(text(statement), {"t": tenant_a.id})
