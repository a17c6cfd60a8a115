"""Clerk webhooks: Svix signatures, exactly-once deliveries, and any arrival order."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from svix.webhooks import Webhook

from api_support import WEBHOOK_SECRET, TenantWorld, if_match

Read = Callable[..., list[Any]]
NOW_MS = int(datetime.now(UTC).timestamp() * 1000)


def _send(client: TestClient, event: dict[str, Any] | str, *, msg_id: str | None = None,
          secret: str = WEBHOOK_SECRET, at: datetime | None = None) -> Any:
    body = event if isinstance(event, str) else json.dumps(event)
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    when = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, when, body)
    return client.post("/webhooks/clerk", content=body, headers={
        "svix-id": msg_id, "svix-timestamp": str(int(when.timestamp())),
        "svix-signature": signature, "content-type": "application/json",
    })


def _event(kind: str, data: dict[str, Any], at: int = NOW_MS) -> dict[str, Any]:
    return {"object": "event", "type": kind, "timestamp": at, "instance_id": "ins_test",
            "data": data}


def _membership(world: TenantWorld, user_id: str, email: str, *, role: str = "org:member",
                updated_at: int, first: str = "Mina") -> dict[str, Any]:
    return {
        "id": f"orgmem_{user_id}", "object": "organization_membership", "role": role,
        "permissions": [], "public_metadata": {}, "created_at": updated_at,
        "updated_at": updated_at,
        "organization": {"id": world.org_id, "name": "Fleet", "slug": world.slug},
        "public_user_data": {"user_id": user_id, "identifier": email, "first_name": first,
                             "last_name": "Member", "image_url": ""},
    }


def _user(user_id: str, email: str, *, first: str, updated_at: int) -> dict[str, Any]:
    return {
        "id": user_id, "object": "user", "first_name": first, "last_name": "Userdata",
        "primary_email_address_id": "idn_1",
        "email_addresses": [{"id": "idn_0", "email_address": "old@example.com"},
                            {"id": "idn_1", "email_address": email}],
        "primary_phone_number_id": "idn_p",
        "phone_numbers": [{"id": "idn_p", "phone_number": "+447911123456"}],
        "created_at": updated_at, "updated_at": updated_at,
    }


def _member(read: Read, world: TenantWorld, user_id: str) -> Any:
    rows = read(
        "SELECT m.id, m.status, m.email, m.first_name, m.phone, m.metadata,"
        " array(SELECT r.name FROM adm_member_roles mr JOIN adm_roles r ON r.tenant_id ="
        " mr.tenant_id AND r.id = mr.role_id WHERE mr.tenant_id = m.tenant_id AND mr.member_id ="
        " m.id ORDER BY r.name) AS roles"
        " FROM adm_members m WHERE m.tenant_id = :t AND m.clerk_user_id = :u",
        t=world.id, u=user_id,
    )
    assert len(rows) <= 1
    return rows[0] if rows else None


def _deliveries(read: Read, msg_id: str) -> list[Any]:
    return read("SELECT status, tenant_id, event_type FROM adm_webhook_deliveries"
                " WHERE provider = 'clerk' AND delivery_id = :d", d=msg_id)


def test_bad_signature_and_stale_timestamp_are_400_and_store_nothing(
    client: TestClient, tenant_a: TenantWorld, read_system: Read
) -> None:
    event = _event("organizationMembership.created",
                   _membership(tenant_a, "user_sig", "sig@example.com", updated_at=NOW_MS))
    wrong = _send(client, event, msg_id="msg_badsig", secret="whsec_" + "b3RoZXItc2VjcmV0LWtleQ==")
    assert wrong.status_code == 400
    assert wrong.json()["type"].endswith("/invalid-webhook")
    stale = _send(client, event, msg_id="msg_stale", at=datetime.now(UTC) - timedelta(minutes=10))
    assert stale.status_code == 400
    unsigned = client.post("/webhooks/clerk", json=event)
    assert unsigned.status_code == 400
    assert _deliveries(read_system, "msg_badsig") == []
    assert _deliveries(read_system, "msg_stale") == []
    assert _member(read_system, tenant_a, "user_sig") is None


def test_a_deeply_nested_body_with_a_valid_signature_is_400_and_stores_nothing(
    client: TestClient, read_system: Read
) -> None:
    for depth in (100_000, 100):  # 100,000 levels: far past the interpreter's recursion limit
        body = '{"type": "user.created", "data": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
        msg_id = f"msg_deep_{depth}"
        refused = _send(client, body, msg_id=msg_id)
        assert refused.status_code == 400, refused.text
        assert refused.json()["type"].endswith("/invalid-webhook")
        assert "levels deep" in refused.json()["detail"]
        assert _deliveries(read_system, msg_id) == []


def test_a_body_over_the_webhook_limit_is_413_before_its_signature_is_checked(
    client: TestClient, read_system: Read
) -> None:
    from fleetcore.core.deps import MAX_WEBHOOK_BODY_BYTES

    padding = "x" * MAX_WEBHOOK_BODY_BYTES
    body = '{"type": "user.created", "data": {"pad": "' + padding + '"}}'
    refused = _send(client, body, msg_id="msg_too_large")
    assert refused.status_code == 413, refused.text
    assert refused.json()["type"].endswith("/payload-too-large")
    assert refused.json()["errors"] == [{"field": "body", "message": "larger than 1024 KB"}]
    assert _deliveries(read_system, "msg_too_large") == []
    unsigned = client.post("/webhooks/clerk", content=body.encode())
    assert unsigned.status_code == 413


def test_membership_creates_the_member_once_per_delivery(
    client: TestClient, tenant_a: TenantWorld, read_system: Read
) -> None:
    msg = f"msg_{uuid.uuid4().hex}"
    event = _event("organizationMembership.created", _membership(
        tenant_a, "user_new", "new.one@example.com", role="org:admin", updated_at=NOW_MS))
    first = _send(client, event, msg_id=msg)
    assert first.status_code == 200, first.text
    assert first.json() == {"status": "processed"}
    member = _member(read_system, tenant_a, "user_new")
    assert (member.status, member.email, member.roles) == ("active", "new.one@example.com",
                                                           ["admin"])
    audit_before = read_system("SELECT count(*) FROM adm_audit_logs WHERE tenant_id = :t"
                               " AND actor_type = 'integration'", t=tenant_a.id)
    again = _send(client, event, msg_id=msg)
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    audit_after = read_system("SELECT count(*) FROM adm_audit_logs WHERE tenant_id = :t"
                              " AND actor_type = 'integration'", t=tenant_a.id)
    assert audit_before == audit_after
    assert [tuple(d) for d in _deliveries(read_system, msg)] == [
        ("processed", tenant_a.id, "organizationMembership.created")]


def test_membership_links_an_invited_member_by_email(
    client: TestClient, tenant_a: TenantWorld, read_system: Read, auth: Callable[..., Any]
) -> None:
    invited = client.post("/v1/members", headers=auth(tenant_a), json={
        "email": "Invited.Person@example.com", "role_ids": [str(tenant_a.roles["finance"])]})
    assert invited.status_code == 201
    _send(client, _event("organizationMembership.created", _membership(
        tenant_a, "user_invited", "invited.person@example.com", updated_at=NOW_MS)))
    member = _member(read_system, tenant_a, "user_invited")
    assert str(member.id) == invited.json()["id"]
    assert member.status == "active"
    assert "finance" in member.roles


def test_unknown_event_types_are_acknowledged_and_recorded(
    client: TestClient, read_system: Read
) -> None:
    msg = f"msg_{uuid.uuid4().hex}"
    response = _send(client, _event("session.created", {"id": "sess_1"}), msg_id=msg)
    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    assert [d.status for d in _deliveries(read_system, msg)] == ["ignored"]


def test_membership_before_user_ends_with_the_users_data(
    client: TestClient, tenant_a: TenantWorld, read_system: Read
) -> None:
    _send(client, _event("user.created", _user("user_late", "late@example.com", first="Early",
                                               updated_at=NOW_MS - 5000)))
    assert _member(read_system, tenant_a, "user_late") is None  # nothing to attach to yet
    _send(client, _event("organizationMembership.created", _membership(
        tenant_a, "user_late", "late@example.com", first="FromMembership", updated_at=NOW_MS)))
    _send(client, _event("user.updated", _user("user_late", "late.new@example.com", first="Lena",
                                               updated_at=NOW_MS + 1000)))
    # An older user event delivered after the newer one changes nothing.
    _send(client, _event("user.updated", _user("user_late", "stale@example.com", first="Stale",
                                               updated_at=NOW_MS + 500)))
    member = _member(read_system, tenant_a, "user_late")
    assert (member.first_name, member.email, member.phone) == (
        "Lena", "late.new@example.com", "+447911123456")


def test_an_older_membership_update_does_not_undo_a_newer_one(
    client: TestClient, tenant_a: TenantWorld, read_system: Read
) -> None:
    def membership(role: str, at: int) -> dict[str, Any]:
        return _event("organizationMembership.updated",
                      _membership(tenant_a, "user_order", "order@example.com", role=role,
                                  updated_at=at))

    _send(client, membership("org:admin", NOW_MS + 2000))
    _send(client, membership("org:member", NOW_MS + 1000))  # older, arrives later
    assert _member(read_system, tenant_a, "user_order").roles == ["admin"]
    _send(client, membership("org:fleet_manager", NOW_MS + 3000))
    assert _member(read_system, tenant_a, "user_order").roles == ["fleet_manager"]


def test_deletion_before_creation_keeps_the_member_suspended(
    client: TestClient, tenant_a: TenantWorld, read_system: Read
) -> None:
    data = _membership(tenant_a, "user_gone", "gone@example.com", updated_at=NOW_MS)
    _send(client, _event("organizationMembership.deleted", data, at=NOW_MS + 5000))
    _send(client, _event("organizationMembership.created", data, at=NOW_MS))
    assert _member(read_system, tenant_a, "user_gone").status == "suspended"
    # Re-added later (a newer membership): active again.
    newer = _membership(tenant_a, "user_gone", "gone@example.com", updated_at=NOW_MS + 9000)
    _send(client, _event("organizationMembership.created", newer, at=NOW_MS + 9000))
    assert _member(read_system, tenant_a, "user_gone").status == "active"


def test_a_local_role_change_wins_over_clerk(
    client: TestClient, tenant_a: TenantWorld, read_system: Read, auth: Callable[..., Any]
) -> None:
    _send(client, _event("organizationMembership.created", _membership(
        tenant_a, "user_local", "local@example.com", role="org:admin", updated_at=NOW_MS)))
    member = _member(read_system, tenant_a, "user_local")
    client.put(f"/v1/members/{member.id}/roles/{tenant_a.roles['finance']}",
               headers=auth(tenant_a))
    client.delete(f"/v1/members/{member.id}/roles/{tenant_a.roles['admin']}",
                  headers=if_match(
                      client,
                      f"/v1/members/{member.id}/roles/{tenant_a.roles['admin']}",
                      auth(tenant_a)))
    _send(client, _event("organizationMembership.updated", _membership(
        tenant_a, "user_local", "local@example.com", role="org:viewer",
        updated_at=NOW_MS + 1000)))
    assert _member(read_system, tenant_a, "user_local").roles == ["finance"]


def test_user_deleted_suspends_members(
    client: TestClient, tenant_a: TenantWorld, read_system: Read, auth: Callable[..., Any]
) -> None:
    viewer = tenant_a.person("viewer")
    _send(client, _event("user.deleted", {"id": viewer.user_id, "object": "user",
                                          "deleted": True}))
    assert _member(read_system, tenant_a, viewer.user_id).status == "suspended"
    assert client.get("/v1/me", headers=auth(tenant_a, "viewer")).status_code == 403


def test_organization_events_link_and_unlink_the_tenant(
    client: TestClient, make_tenant: Callable[..., TenantWorld], read_system: Read,
    auth: Callable[..., Any], sessions: Any,
) -> None:
    from sqlalchemy import text

    from fleetcore.core.db import DbContext, context_session

    world = make_tenant()
    with context_session(sessions, DbContext.system()) as session:
        session.execute(text("UPDATE adm_tenants SET clerk_organization_id = NULL WHERE id = :t"),
                        {"t": world.id})
    new_org = f"org_{uuid.uuid4().hex[:12]}"
    org = {"id": new_org, "object": "organization", "name": "Renamed", "slug": "renamed",
           "public_metadata": {"fleetcore_tenant_id": str(world.id)}, "updated_at": NOW_MS}
    assert _send(client, _event("organization.created", org)).json() == {"status": "processed"}
    tenant = read_system("SELECT clerk_organization_id, metadata FROM adm_tenants WHERE id = :t",
                         t=world.id)[0]
    assert tenant.clerk_organization_id == new_org
    assert tenant.metadata["clerk"]["org_name"] == "Renamed"
    # Nobody can claim a tenant that is already linked.
    thief = {**org, "id": "org_thief"}
    assert _send(client, _event("organization.created", thief)).json() == {"status": "ignored"}

    world.org_id = new_org
    assert client.get("/v1/me", headers=auth(world)).status_code == 200
    _send(client, _event("organization.deleted", {"id": new_org, "object": "organization",
                                                  "deleted": True}))
    assert client.get("/v1/me", headers=auth(world)).status_code == 403
    assert read_system("SELECT status FROM adm_tenants WHERE id = :t", t=world.id)[0][0] != (
        "cancelled")
