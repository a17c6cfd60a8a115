"""Signing a contract provisions exactly one working tenant, in one transaction: retried or
raced signs find the first tenant; its owner gets the invitation e-mail (through Resend's wire
format), accepts it in Clerk and signs in."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import resend
from crm_support import Headers, etag_of, made
from fastapi.testclient import TestClient
from svix.webhooks import Webhook

from api_support import WEBHOOK_SECRET, TenantWorld
from fleetcore.admin.notifications import deliver_notification
from fleetcore.core.db import ActorType, DbContext, context_session
from fleetcore.integrations.resend.client import ResendEmailSender
from json_http_fake import JsonHandler, serving

Read = Callable[..., list[Any]]


def _sign(client: TestClient, staff: Headers, contract: dict[str, Any],
          **body: Any) -> Any:
    url = f"/v1/crm/contracts/{contract['id']}"
    return client.post(f"{url}/sign", headers={**staff, "If-Match": f'"{contract["version"]}"'},
                       json=body or None)


def _tenants_of(read: Read, contract_id: str) -> list[Any]:
    return read("SELECT t.id, t.slug, t.status, t.country, t.default_currency, t.timezone,"
                " t.legal_name, t.vat_number FROM adm_tenants t"
                " WHERE t.metadata -> 'crm' ->> 'contract_id' = :c", c=contract_id)


def test_signing_provisions_one_tenant_with_everything(
    client: TestClient, staff: Headers, deal: Callable[..., dict[str, Any]], read_system: Read,
    plan: dict[str, Any],
) -> None:
    contract = deal()
    signed = made(_sign(client, staff, contract))
    assert signed["already_signed"] is False
    [tenant] = _tenants_of(read_system, contract["id"])
    assert str(tenant.id) == signed["tenant_id"]
    assert (tenant.status, tenant.country, tenant.default_currency, tenant.timezone,
            tenant.vat_number) == ("trialing", "FR", "EUR", "Europe/Paris", "FR40123456824")
    assert tenant.legal_name.startswith("Lumière VTC")
    assert tenant.slug == signed["tenant_slug"]
    assert tenant.slug.startswith("lumiere-vtc-")

    roles = read_system("SELECT name FROM adm_roles WHERE tenant_id = :t ORDER BY name",
                        t=tenant.id)
    assert {r.name for r in roles} >= {"owner", "admin", "viewer", "driver"}
    [owner] = read_system(
        "SELECT m.id, m.email, m.status, m.first_name, m.last_name, r.name AS role"
        " FROM adm_members m JOIN adm_member_roles mr ON mr.tenant_id = m.tenant_id"
        " AND mr.member_id = m.id JOIN adm_roles r ON r.tenant_id = mr.tenant_id"
        " AND r.id = mr.role_id WHERE m.tenant_id = :t", t=tenant.id)
    assert (owner.status, owner.role, owner.first_name, owner.last_name) == (
        "invited", "owner", "Inès", "Martin")
    assert str(owner.id) == signed["owner_member_id"]
    [sub] = read_system("SELECT id, status, plan_id, trial_ends_at - trial_starts_at AS trial"
                        " FROM bil_tenant_subscriptions WHERE tenant_id = :t", t=tenant.id)
    assert (sub.status, str(sub.plan_id), sub.trial.days) == ("trialing", plan["id"], 30)
    assert str(sub.id) == signed["subscription_id"]
    events = read_system("SELECT event_type, performed_by_type FROM adm_tenant_lifecycle_events"
                         " WHERE tenant_id = :t ORDER BY created_at, event_type", t=tenant.id)
    assert [tuple(e) for e in events] == [("created", "provider_employee"),
                                          ("trial_started", "provider_employee")]
    [invitation] = read_system(
        "SELECT id, reason, recipient_email, status FROM adm_notifications WHERE tenant_id = :t",
        t=tenant.id)
    assert (invitation.reason, invitation.recipient_email, invitation.status) == (
        "member_invitation", owner.email, "pending")
    jobs = read_system("SELECT task_name, args FROM procrastinate_jobs"
                       " WHERE args ->> 'notification_id' = :n", n=str(invitation.id))
    assert [(j.task_name, j.args["tenant_id"]) for j in jobs] == [
        ("fleetcore.send_notification", str(tenant.id))]

    after = made(client.get(f"/v1/crm/contracts/{contract['id']}", headers=staff), 200)
    assert (after["status"], after["tenant_id"]) == ("signed", signed["tenant_id"])
    assert after["signed_at"] is not None
    opportunity = made(client.get(f"/v1/crm/opportunities/{contract['opportunity_id']}",
                                  headers=staff), 200)
    assert (opportunity["stage"], opportunity["probability_pct"]) == ("closed_won", "100.0000")
    lead = made(client.get(f"/v1/crm/leads/{opportunity['lead_id']}", headers=staff), 200)
    assert lead["status"] == "converted"
    assert lead["converted_at"] is not None


def test_a_retried_sign_answers_the_same_tenant(
    client: TestClient, staff: Headers, deal: Callable[..., dict[str, Any]], read_system: Read,
) -> None:
    contract = deal()
    first = made(_sign(client, staff, contract))
    # The same request again (its response was lost): the stale If-Match does not matter.
    again = made(_sign(client, staff, contract), 200)
    assert again["already_signed"] is True
    assert {k: v for k, v in again.items() if k != "already_signed"} == {
        k: v for k, v in first.items() if k != "already_signed"}
    assert len(_tenants_of(read_system, contract["id"])) == 1
    assert read_system("SELECT count(*) FROM adm_notifications WHERE tenant_id = :t",
                       t=first["tenant_id"])[0][0] == 1


def test_two_simultaneous_signs_make_one_tenant(
    client: TestClient, staff: Headers, deal: Callable[..., dict[str, Any]], read_system: Read,
) -> None:
    contract = deal()
    barrier = threading.Barrier(2)
    answers: list[Any] = []

    def sign() -> None:
        barrier.wait()
        answers.append(_sign(client, staff, contract))

    threads = [threading.Thread(target=sign) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
    assert len({a.json()["tenant_id"] for a in answers}) == 1
    assert len(_tenants_of(read_system, contract["id"])) == 1
    assert read_system("SELECT count(*) FROM bil_tenant_subscriptions WHERE tenant_id = :t",
                       t=answers[0].json()["tenant_id"])[0][0] == 1


def test_signing_refuses_what_it_cannot_provision_and_makes_nothing(
    client: TestClient, staff: Headers, deal: Callable[..., dict[str, Any]], read_system: Read,
) -> None:
    contract = deal()
    stale = client.post(f"/v1/crm/contracts/{contract['id']}/sign",
                        headers={**staff, "If-Match": '"99"'})
    assert stale.status_code == 412, stale.text
    # A country with several time zones needs one named.
    many = made(client.patch(f"/v1/crm/leads/{_lead_of(client, staff, contract)}",
                             headers={**staff, **etag_of(client.get(
                                 f"/v1/crm/leads/{_lead_of(client, staff, contract)}",
                                 headers=staff))}, json={"country": "US"}), 200)
    assert many["country"] == "US"
    refused = _sign(client, staff, contract)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "timezone"
    assert _tenants_of(read_system, contract["id"]) == []
    # A slug already taken is a 409 naming it, and nothing is left half-made.
    taken = read_system("SELECT slug FROM adm_tenants LIMIT 1")[0][0]
    clash = _sign(client, staff, contract, timezone="America/New_York", slug=taken)
    assert clash.status_code == 409, clash.text
    assert _tenants_of(read_system, contract["id"]) == []
    assert made(client.get(f"/v1/crm/contracts/{contract['id']}", headers=staff),
                200)["status"] == "draft"
    ok = made(_sign(client, staff, contract, timezone="America/New_York"))
    assert read_system("SELECT timezone FROM adm_tenants WHERE id = :t",
                       t=ok["tenant_id"])[0][0] == "America/New_York"


def _lead_of(client: TestClient, staff: Headers, contract: dict[str, Any]) -> str:
    return str(client.get(f"/v1/crm/opportunities/{contract['opportunity_id']}",
                          headers=staff).json()["lead_id"])


# --- the owner's way in --------------------------------------------------------------------


class _Resend(JsonHandler):
    sent: list[tuple[str | None, dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).sent.append((self.headers.get("idempotency-key"), body))
        self._answer(200, {"id": f"msg-{len(type(self).sent)}"})


@pytest.fixture
def resend_url() -> Iterator[str]:
    saved = (resend.api_key, resend.api_url)
    _Resend.sent = []
    with serving(_Resend) as url:
        yield url
    resend.api_key, resend.api_url = saved


def _clerk(client: TestClient, kind: str, data: dict[str, Any]) -> Any:
    body = json.dumps({"object": "event", "type": kind, "data": data,
                       "timestamp": 1_800_000_000_000, "instance_id": "ins_test"})
    msg_id = f"msg_{uuid.uuid4().hex}"
    from datetime import UTC, datetime

    when = datetime.now(UTC)
    return client.post("/webhooks/clerk", content=body, headers={
        "svix-id": msg_id, "svix-timestamp": str(int(when.timestamp())),
        "svix-signature": Webhook(WEBHOOK_SECRET).sign(msg_id, when, body),
        "content-type": "application/json"})


def test_the_owner_is_emailed_accepts_and_signs_in(
    client: TestClient, staff: Headers, deal: Callable[..., dict[str, Any]], read_system: Read,
    sessions: Any, resend_url: str, token: Callable[..., str],
) -> None:
    signed = made(_sign(client, staff, deal()))
    tenant_id = uuid.UUID(signed["tenant_id"])
    [invitation] = read_system("SELECT id, recipient_email FROM adm_notifications"
                               " WHERE tenant_id = :t", t=tenant_id)
    # The queued job's work, as the worker runs it: in the tenant's context, through Resend.
    sender = ResendEmailSender("re_test_key_123456", api_url=resend_url)
    context = DbContext.for_tenant(tenant_id, actor_type=ActorType.SYSTEM)
    with context_session(sessions, context) as session:
        outcome = deliver_notification(session, sender, invitation.id,
                                       email_from="Fleetcore <hello@fleetcore.test>")
    assert outcome.status == "sent"
    [(key, email)] = _Resend.sent
    assert email["to"] == [invitation.recipient_email]
    # A French fleet: its owner is invited in French.
    assert email["subject"].startswith("Invitation à gérer Lumière VTC ")
    assert "en tant que propriétaire" in email["text"]
    assert invitation.recipient_email in email["text"]
    assert key is not None
    assert key.startswith("ntf_")

    # The owner accepts in Clerk: the organisation is linked, the membership links the member.
    org_id, user_id = f"org_{uuid.uuid4().hex[:12]}", f"user_{uuid.uuid4().hex[:12]}"
    linked = _clerk(client, "organization.created", {
        "id": org_id, "object": "organization", "name": signed["tenant_slug"],
        "slug": signed["tenant_slug"], "updated_at": 1_800_000_000_000,
        "public_metadata": {"fleetcore_tenant_id": str(tenant_id)}})
    assert linked.json() == {"status": "processed"}, linked.text
    joined = _clerk(client, "organizationMembership.created", {
        "id": f"orgmem_{user_id}", "object": "organization_membership", "role": "org:admin",
        "permissions": [], "public_metadata": {}, "created_at": 1_800_000_000_000,
        "updated_at": 1_800_000_000_000,
        "organization": {"id": org_id, "name": "Fleet", "slug": signed["tenant_slug"]},
        "public_user_data": {"user_id": user_id, "identifier": invitation.recipient_email,
                             "first_name": "Inès", "last_name": "Martin", "image_url": ""}})
    assert joined.json() == {"status": "processed"}, joined.text
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {token(user_id, org_id)}"})
    assert me.status_code == 200, me.text
    assert me.json()["tenant"]["id"] == str(tenant_id)
    assert "owner" in [r["name"] for r in me.json()["roles"]]
    assert "billing:write" in me.json()["permissions"]
    # The fleet works: its owner reads its subscription.
    subscription = client.get("/v1/billing/subscription",
                              headers={"Authorization": f"Bearer {token(user_id, org_id)}"})
    assert subscription.status_code == 200, subscription.text
    assert subscription.json()["status"] == "trialing"
    # Accepted: a late delivery of the invitation would be cancelled, not sent.
    assert read_system("SELECT status FROM adm_members WHERE tenant_id = :t",
                       t=tenant_id)[0][0] == "active"


def test_a_fleet_sees_nothing_of_the_crm(
    client: TestClient, staff: Headers, deal: Callable[..., dict[str, Any]],
    tenant_a: TenantWorld, auth: Callable[..., Headers], make_staff: Callable[..., Any],
    staff_auth: Callable[..., Headers],
) -> None:
    contract = deal()
    owner = auth(tenant_a)
    for path in ("/v1/crm/leads", "/v1/crm/opportunities", "/v1/crm/contracts",
                 "/v1/crm/forecast", "/v1/crm/leads/export.csv"):
        assert client.get(path, headers=owner).status_code == 403, path
    assert client.post("/v1/crm/leads", headers=owner,
                       json={"company_name": "Mine"}).status_code == 403
    for path in (f"/v1/crm/contracts/{contract['id']}",
                 f"/v1/crm/opportunities/{contract['opportunity_id']}"):
        assert client.get(path, headers=owner).status_code == 404, path
    signed = made(_sign(client, staff, contract))
    # A staff member without crm:* is refused; with a fleet open, staff still read but not sign.
    sales_less = staff_auth(make_staff(["plans:read"]))
    assert client.get("/v1/crm/leads", headers=sales_less).status_code == 403
    assert client.get(f"/v1/crm/contracts/{contract['id']}",
                      headers=sales_less).status_code == 403
    opened = staff_auth(make_staff(), tenant_a.slug)
    assert client.get("/v1/crm/contracts", headers=opened).status_code == 200
    other = deal()
    assert _sign(client, opened, other).status_code == 403
    assert signed["tenant_id"]
