"""Signing in over HTTP: every failure answers 401/403 problem+json and never data."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi.testclient import TestClient

from api_support import AZP, PROVIDER_ORG, Staff, TenantWorld, if_match
from fleetcore.core.auth import mint_session_token

PROBLEMS = "https://fleetcore.dev/problems/"


def _problem(response: Any, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == PROBLEMS + slug, body
    assert "items" not in body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_missing_token_is_401(client: TestClient) -> None:
    response = client.get("/v1/me")
    _problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer", "Basic abc", "Bearer not.a.jwt", "Bearer x"])
def test_malformed_token_is_401(client: TestClient, header: str) -> None:
    response = client.get("/v1/members", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["type"].startswith(PROBLEMS)


def test_token_failures_are_401(
    client: TestClient, tenant_a: TenantWorld, token: Callable[..., str], other_key: str,
    signing_key: str,
) -> None:
    owner = tenant_a.person()
    expired = token(owner.user_id, tenant_a.org_id,
                    now=datetime.now(UTC) - timedelta(hours=3))
    _problem(client.get("/v1/me", headers=_bearer(expired)), 401, "token-expired")

    now = int(datetime.now(UTC).timestamp())
    future = jwt.encode({"sub": owner.user_id, "azp": AZP, "nbf": now + 300, "iat": now,
                         "exp": now + 900, "v": 2, "o": {"id": tenant_a.org_id, "rol": "admin"}},
                        signing_key, algorithm="RS256")
    _problem(client.get("/v1/me", headers=_bearer(future)), 401, "invalid-token")

    wrong_key = token(owner.user_id, tenant_a.org_id, key=other_key)
    _problem(client.get("/v1/me", headers=_bearer(wrong_key)), 401, "invalid-token")

    wrong_azp = token(owner.user_id, tenant_a.org_id, azp="https://evil.example")
    _problem(client.get("/v1/me", headers=_bearer(wrong_azp)), 401, "invalid-token")

    pending = token(owner.user_id, tenant_a.org_id, extra={"sts": "pending"})
    _problem(client.get("/v1/me", headers=_bearer(pending)), 401, "invalid-token")

    for absurd in ({"exp": 10**20}, {"exp": 1e300}, {"nbf": float("inf")}, {"iat": "x"}):
        claims = {"sub": owner.user_id, "azp": AZP, "nbf": now, "iat": now, "exp": now + 900,
                  "v": 2, "o": {"id": tenant_a.org_id, "rol": "admin"}, **absurd}
        _problem(client.get("/v1/me", headers=_bearer(
            jwt.encode(claims, signing_key, algorithm="RS256"))), 401, "invalid-token")

    # A lone surrogate in the subject or the organisation: not text PostgreSQL can take.
    for field in ("sub", "org"):
        claims = {"sub": owner.user_id, "azp": AZP, "nbf": now, "iat": now, "exp": now + 900,
                  "v": 2, "o": {"id": tenant_a.org_id, "rol": "admin"}}
        if field == "sub":
            claims["sub"] = "BAD"
        else:
            claims["o"] = {"id": "BAD", "rol": "admin"}
        payload = json.dumps(claims).replace('"BAD"', '"x\\ud800"').encode()
        header = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').rstrip(b"=")
        body = base64.urlsafe_b64encode(payload).rstrip(b"=")
        key = serialization.load_pem_private_key(signing_key.encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        signature = key.sign(header + b"." + body, padding.PKCS1v15(), hashes.SHA256())
        forged = b".".join([header, body, base64.urlsafe_b64encode(signature).rstrip(b"=")])
        _problem(client.get("/v1/me", headers=_bearer(forged.decode())), 401, "invalid-token")

    good = token(owner.user_id, tenant_a.org_id)
    head, _, sig = good.split(".")
    other_payload = token(tenant_a.person("viewer").user_id, tenant_a.org_id).split(".")[1]
    _problem(client.get("/v1/me", headers=_bearer(f"{head}.{other_payload}.{sig}")), 401,
             "invalid-token")


def test_v2_and_v1_tokens_sign_in(
    client: TestClient, tenant_a: TenantWorld, token: Callable[..., str], signing_key: str
) -> None:
    owner = tenant_a.person()
    me = client.get("/v1/me", headers=_bearer(token(owner.user_id, tenant_a.org_id)))
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["id"] == str(owner.member_id)
    assert body["tenant"]["slug"] == tenant_a.slug
    assert "members:write" in body["permissions"]
    assert [r["name"] for r in body["roles"]] == ["owner"]

    now = int(datetime.now(UTC).timestamp())
    v1 = jwt.encode({"sub": owner.user_id, "azp": AZP, "iat": now, "nbf": now, "exp": now + 60,
                     "sid": "sess_v1", "org_id": tenant_a.org_id, "org_role": "org:admin",
                     "org_slug": tenant_a.slug, "org_permissions": []},
                    signing_key, algorithm="RS256")
    assert client.get("/v1/me", headers=_bearer(v1)).json()["id"] == str(owner.member_id)


def test_identity_without_membership_is_403(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, token: Callable[..., str]
) -> None:
    stranger = token("user_nobody", tenant_a.org_id)
    _problem(client.get("/v1/me", headers=_bearer(stranger)), 403, "not-a-member")
    unknown_org = token(tenant_a.person().user_id, "org_unknown")
    _problem(client.get("/v1/me", headers=_bearer(unknown_org)), 403, "not-a-member")
    # B's owner presenting A's organisation is not a member of A.
    crossed = token(tenant_b.person().user_id, tenant_a.org_id)
    _problem(client.get("/v1/me", headers=_bearer(crossed)), 403, "not-a-member")
    no_org = token(tenant_a.person().user_id, None)
    _problem(client.get("/v1/me", headers=_bearer(no_org)), 403, "not-a-member")


def test_suspended_member_is_403(
    client: TestClient, tenant_a: TenantWorld, auth: Callable[..., dict[str, str]]
) -> None:
    viewer = tenant_a.person("viewer")
    suspended = client.post(f"/v1/members/{viewer.member_id}/suspend", headers=if_match(
        client, f"/v1/members/{viewer.member_id}/suspend", auth(tenant_a)))
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"
    _problem(client.get("/v1/me", headers=auth(tenant_a, "viewer")), 403, "member-suspended")
    client.post(f"/v1/members/{viewer.member_id}/reactivate", headers=if_match(
        client, f"/v1/members/{viewer.member_id}/reactivate", auth(tenant_a)))
    assert client.get("/v1/me", headers=auth(tenant_a, "viewer")).status_code == 200


def test_suspended_tenant_reads_but_cannot_write(
    client: TestClient, make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]], read_system: Callable[..., list[Any]],
) -> None:
    world = make_tenant(status="suspended")
    assert client.get("/v1/members", headers=auth(world)).status_code == 200
    response = client.post("/v1/members", headers=auth(world),
                           json={"email": "new@example.com"})
    _problem(response, 403, "tenant-suspended")
    rows = read_system("SELECT count(*) FROM adm_members WHERE tenant_id = :t AND email = :e",
                       t=world.id, e="new@example.com")
    assert rows[0][0] == 0


def test_cancelled_tenant_cannot_sign_in(
    client: TestClient, make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]],
) -> None:
    world = make_tenant(status="cancelled")
    _problem(client.get("/v1/me", headers=auth(world)), 403, "tenant-cancelled")


def test_invited_member_becomes_active_on_first_sign_in(
    client: TestClient, tenant_a: TenantWorld, auth: Callable[..., dict[str, str]],
    token: Callable[..., str], sessions: Any,
) -> None:
    from sqlalchemy import text

    from fleetcore.core.db import DbContext, context_session

    invited = client.post("/v1/members", headers=auth(tenant_a),
                          json={"email": "invitee@example.com"}).json()
    assert invited["status"] == "invited"
    with context_session(sessions, DbContext.system()) as session:
        session.execute(text("UPDATE adm_members SET clerk_user_id = 'user_invitee'"
                             " WHERE tenant_id = :t AND id = :id"),
                        {"t": tenant_a.id, "id": invited["id"]})
    me = client.get("/v1/me", headers=_bearer(token("user_invitee", tenant_a.org_id)))
    assert me.status_code == 200
    member = client.get(f"/v1/members/{invited['id']}", headers=auth(tenant_a)).json()
    assert member["status"] == "active"


def test_authentication_is_not_configured_outside_development(app_engine: Any) -> None:
    from fleetcore.app import create_app
    from fleetcore.settings import Settings

    app = create_app(Settings(fleetcore_env="test"), app_engine)
    with TestClient(app) as bare:
        token = mint_session_token(
            "irrelevant" if False else _throwaway_key(), user_id="u", org_id="o")
        response = bare.get("/v1/me", headers=_bearer(token))
    _problem(response, 401, "unauthorized")


def _throwaway_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


# --- provider staff ---------------------------------------------------------------------------


def test_staff_list_tenants_and_must_open_one_for_tenant_data(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld,
    make_staff: Callable[..., Staff], staff_auth: Callable[..., dict[str, str]],
    read_system: Callable[..., list[Any]],
) -> None:
    staff = make_staff()
    listed = client.get("/v1/tenants", params={"limit": 200}, headers=staff_auth(staff))
    assert listed.status_code == 200
    slugs: set[str] = set()
    page = listed.json()
    while True:
        slugs |= {t["slug"] for t in page["items"]}
        if not page["next_cursor"]:
            break
        page = client.get("/v1/tenants", params={"limit": 200, "cursor": page["next_cursor"]},
                          headers=staff_auth(staff)).json()
    assert {tenant_a.slug, tenant_b.slug} <= slugs

    _problem(client.get("/v1/members", headers=staff_auth(staff)), 403, "tenant-required")

    opened = client.get("/v1/members", headers=staff_auth(staff, tenant_a.slug))
    assert opened.status_code == 200
    assert {m["email"] for m in opened.json()["items"]} == {
        p.email for p in tenant_a.people.values()}

    # A change made by staff is audited with the employee as actor; the opening as well.
    viewer = tenant_a.person("viewer")
    # (The version read directly: a read by staff would be one more audited opening.)
    version = read_system("SELECT version FROM adm_members WHERE id = :m",
                          m=viewer.member_id)[0][0]
    changed = client.patch(f"/v1/members/{viewer.member_id}", json={"last_name": "Changed"},
                           headers={**staff_auth(staff, str(tenant_a.id)),
                                    "If-Match": f'"{version}"'})
    assert changed.status_code == 200, changed.text
    rows = read_system(
        "SELECT action, actor_type, entity_type FROM adm_audit_logs"
        " WHERE tenant_id = :t AND actor_id = :a ORDER BY occurred_at",
        t=tenant_a.id, a=staff.id,
    )
    actions = [(r.action, r.actor_type, r.entity_type) for r in rows]
    assert actions.count(("impersonate", "provider_employee", "adm_tenants")) == 2
    assert ("update", "provider_employee", "adm_members") in actions

    _problem(client.get("/v1/members", headers=staff_auth(staff, "no-such-tenant")), 404,
             "not-found")


def test_inactive_staff_and_unknown_staff_are_refused(
    client: TestClient, make_staff: Callable[..., Staff], staff_auth: Callable[..., dict[str, str]],
    token: Callable[..., str],
) -> None:
    _problem(client.get("/v1/tenants", headers=staff_auth(make_staff(status="suspended"))), 403,
             "member-suspended")
    stranger = {"Authorization": f"Bearer {token('user_not_staff', PROVIDER_ORG)}"}
    _problem(client.get("/v1/tenants", headers=stranger), 403, "not-a-member")


def test_staff_without_the_permission_is_403(
    client: TestClient, make_staff: Callable[..., Staff], staff_auth: Callable[..., dict[str, str]],
) -> None:
    reader = make_staff(["tenants:read", "provider_tenants:read"])
    assert client.get("/v1/tenants", headers=staff_auth(reader)).status_code == 200
    response = client.post("/v1/tenants", headers=staff_auth(reader), json={
        "name": "X", "slug": "x-never", "country": "FR", "default_currency": "EUR",
        "timezone": "Europe/Paris", "owner": {"email": "o@example.com"}})
    _problem(response, 403, "permission-denied")
